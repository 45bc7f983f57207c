//! `tenancy keys create|list|revoke` as the real binary: the secret is printed once and only
//! its hash is stored.

mod support;

use support::Sandbox;

/// clap's exit code for a usage error.
const USAGE: i32 = 2;

#[test]
fn a_created_key_is_printed_once_with_its_prefix_and_scopes() {
    let sandbox = Sandbox::new();
    let created = sandbox.json(&["keys", "create", "--scope", "admin", "--name", "ops"]);

    let secret = created["secret"].as_str().expect("the secret is printed");
    let id = created["key"]["id"].as_str().expect("the key has an id");
    assert!(secret.starts_with(&format!("atk_{id}_")), "{secret}");
    assert_eq!(created["key"]["scopes"], serde_json::json!(["admin"]));
    assert_eq!(created["key"]["name"], "ops");

    let listed = sandbox.json(&["keys", "list"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    assert!(!listed.to_string().contains(&secret[id.len() + 5..]));
}

#[test]
fn the_catalog_keeps_only_the_hash_of_a_key() {
    let sandbox = Sandbox::new();
    let created = sandbox.json(&["keys", "create", "--scope", "tenants:read"]);
    let secret = created["secret"].as_str().unwrap();

    let catalog = std::fs::read(sandbox.catalog_file()).unwrap();
    let wal =
        std::fs::read(sandbox.catalog_file().with_extension("sqlite-wal")).unwrap_or_default();
    for bytes in [catalog, wal] {
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(&secret[21..]),
            "the secret is stored in clear"
        );
    }
}

#[test]
fn a_key_with_an_expiry_shows_it_and_text_output_warns_it_is_shown_once() {
    let sandbox = Sandbox::new();
    let created = sandbox
        .run(&[
            "keys",
            "create",
            "--scope",
            "tenants:write",
            "--expires-in-days",
            "7",
        ])
        .succeeded();
    assert!(created.stdout.contains("atk_"), "{created:#?}");
    assert!(created.stdout.contains("only time"), "{created:#?}");

    let listed = sandbox.json(&["keys", "list"]);
    assert!(listed[0]["expires_at"].is_string(), "{listed}");
}

#[test]
fn revoking_a_key_marks_it_and_an_unknown_key_is_an_error() {
    let sandbox = Sandbox::new();
    let created = sandbox.json(&["keys", "create", "--scope", "admin"]);
    let id = created["key"]["id"].as_str().unwrap();

    let revoked = sandbox.json(&["keys", "revoke", id]);
    assert!(revoked["revoked_at"].is_string(), "{revoked}");
    let listed = sandbox.json(&["keys", "list"]);
    assert!(listed[0]["revoked_at"].is_string(), "{listed}");

    let missing = sandbox
        .run(&["keys", "revoke", "0000000000000000"])
        .failed();
    missing.error_line(&["API key '0000000000000000' not found"]);
}

#[test]
fn a_key_needs_a_known_scope() {
    let sandbox = Sandbox::new();
    let none = sandbox.run(&["keys", "create"]).exited_with(USAGE);
    none.stderr_mentions(&["--scope"]);
    let unknown = sandbox
        .run(&["keys", "create", "--scope", "tenants:delete"])
        .exited_with(USAGE);
    unknown.stderr_mentions(&["unknown scope 'tenants:delete'"]);
}

#[test]
fn key_changes_are_in_the_change_log_without_secrets() {
    let sandbox = Sandbox::new();
    let created = sandbox.json(&["keys", "create", "--scope", "admin"]);
    let id = created["key"]["id"].as_str().unwrap();
    sandbox.json(&["keys", "revoke", id]);

    let logged = support::query_i64(
        &sandbox.catalog_file(),
        "SELECT COUNT(*) FROM changes WHERE action IN ('api_key.created', 'api_key.revoked') \
         AND actor = 'cli' AND detail NOT LIKE '%sha256%'",
    );
    assert_eq!(logged, 2);
}

#[test]
fn rotating_a_key_prints_a_new_one_with_the_same_scopes() {
    let sandbox = Sandbox::new();
    let created = sandbox.json(&["keys", "create", "--scope", "tenants:read", "--name", "ci"]);
    let id = created["key"]["id"].as_str().unwrap();

    let rotated = sandbox.json(&["keys", "rotate", id, "--grace-secs", "0"]);
    assert_ne!(rotated["key"]["id"], id);
    assert_eq!(rotated["key"]["name"], "ci");
    assert_eq!(
        rotated["key"]["scopes"],
        serde_json::json!(["tenants:read"])
    );
    assert!(rotated["secret"].as_str().unwrap().starts_with("atk_"));

    let listed = sandbox.json(&["keys", "list"]);
    let old = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|key| key["id"] == id)
        .unwrap();
    assert!(
        old["expires_at"].is_string(),
        "the old key got an end: {old}"
    );
    let again = sandbox.run(&["keys", "rotate", id]).failed();
    again.error_line(&["revoked or expired"]);
}

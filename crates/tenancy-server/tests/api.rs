//! The admin API on a real socket, through the real binary: keys and scopes, bodies,
//! every route, the audit log, and that tenant hosts never reach it.

mod support;

use std::collections::BTreeSet;

use serde_json::{Value, json};
use support::{Response, Sandbox, Server};

/// Every route of the API: method, path (with the sample tenant `acme`, domain
/// `shop.acme.example` and key `K`), the scope it needs, and whether it takes a body.
const ROUTES: &[(&str, &str, &str, bool)] = &[
    ("GET", "/api/v1/tenants", "tenants:read", false),
    ("POST", "/api/v1/tenants", "tenants:write", true),
    ("GET", "/api/v1/tenants/acme", "tenants:read", false),
    ("PATCH", "/api/v1/tenants/acme", "tenants:write", true),
    ("DELETE", "/api/v1/tenants/acme", "tenants:write", false),
    (
        "POST",
        "/api/v1/tenants/acme/suspend",
        "tenants:write",
        true,
    ),
    (
        "POST",
        "/api/v1/tenants/acme/activate",
        "tenants:write",
        false,
    ),
    (
        "PUT",
        "/api/v1/tenants/acme/maintenance",
        "tenants:write",
        true,
    ),
    (
        "DELETE",
        "/api/v1/tenants/acme/maintenance",
        "tenants:write",
        false,
    ),
    ("GET", "/api/v1/tenants/acme/domains", "tenants:read", false),
    (
        "POST",
        "/api/v1/tenants/acme/domains",
        "tenants:write",
        true,
    ),
    (
        "DELETE",
        "/api/v1/tenants/acme/domains/shop.acme.example",
        "tenants:write",
        false,
    ),
    (
        "PUT",
        "/api/v1/tenants/acme/domains/shop.acme.example/primary",
        "tenants:write",
        false,
    ),
    ("GET", "/api/v1/keys", "keys:admin", false),
    ("POST", "/api/v1/keys", "keys:admin", true),
    ("DELETE", "/api/v1/keys/K", "keys:admin", false),
    ("POST", "/api/v1/keys/K/rotate", "keys:admin", true),
    ("GET", "/api/v1/audit", "audit:read", false),
    (
        "DELETE",
        "/api/v1/tenants/acme/cache",
        "tenants:write",
        false,
    ),
    ("DELETE", "/api/v1/cache", "tenants:write", false),
    ("GET", "/api/v1/traffic", "tenants:read", false),
    ("GET", "/api/v1/tenants/acme/traffic", "tenants:read", false),
    ("PUT", "/api/v1/tenants/acme/traffic", "tenants:write", true),
    (
        "DELETE",
        "/api/v1/tenants/acme/traffic",
        "tenants:write",
        false,
    ),
    ("GET", "/api/v1/plans/pro/traffic", "tenants:read", false),
    ("PUT", "/api/v1/plans/pro/traffic", "tenants:write", true),
    (
        "DELETE",
        "/api/v1/plans/pro/traffic",
        "tenants:write",
        false,
    ),
    ("POST", "/api/v1/tenants/acme/reset", "admin", true),
    (
        "POST",
        "/api/v1/tenants/acme/migrate",
        "tenants:write",
        true,
    ),
    ("POST", "/api/v1/seed", "tenants:write", true),
    ("POST", "/api/v1/sql", "admin", true),
    ("GET", "/api/v1/migrations", "tenants:read", false),
    ("POST", "/api/v1/migrations", "tenants:write", true),
    ("GET", "/api/v1/migrations/status", "tenants:read", false),
    ("GET", "/api/v1/migrations/7", "tenants:read", false),
    (
        "POST",
        "/api/v1/migrations/7/resume",
        "tenants:write",
        false,
    ),
    ("GET", "/api/v1/doctor", "tenants:read", false),
    ("POST", "/api/v1/doctor/repair", "tenants:write", true),
    ("GET", "/api/v1/stats", "metrics:read", false),
    ("GET", "/api/v1/tenants/acme/stats", "metrics:read", false),
];

/// Routes in the document that need no key: probes.
const PUBLIC_ROUTES: &[(&str, &str)] = &[("GET", "/api/v1/health"), ("GET", "/api/v1/ready")];

/// A served sandbox with tenant `acme` (domain `shop.acme.example`) and one key per scope.
struct Api {
    sandbox: Sandbox,
    server: Server,
    admin: String,
    admin_id: String,
}

impl Api {
    fn start() -> Api {
        let sandbox = Sandbox::new();
        sandbox
            .run(&["tenants", "create", "acme", "--domain", "shop.acme.example"])
            .succeeded();
        let (admin, admin_id) = key(&sandbox, &["admin"]);
        let server = sandbox.serve(&[]);
        Api {
            sandbox,
            server,
            admin,
            admin_id,
        }
    }

    fn call(&self, method: &str, path: &str, key: Option<&str>, body: Option<&str>) -> Response {
        self.call_on("localhost", method, path, key, body)
    }

    fn call_on(
        &self,
        host: &str,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<&str>,
    ) -> Response {
        let bearer = key.map(|key| format!("Bearer {key}"));
        let headers: Vec<(&str, &str)> = bearer
            .iter()
            .map(|value| ("Authorization", value.as_str()))
            .collect();
        let body = body.map(str::as_bytes);
        support::http_with(self.server.port, method, host, path, body, &headers)
    }

    fn admin(&self, method: &str, path: &str, body: Option<Value>) -> Response {
        let body = body.map(|value| value.to_string());
        self.call(method, path, Some(&self.admin), body.as_deref())
    }

    /// Waits for a tenant answered 202 to a delete to be gone.
    fn wait_until_gone(&self, id: &str) {
        let path = format!("/api/v1/tenants/{id}");
        let gone = support::eventually(support::PATIENCE, || {
            (self.admin("GET", &path, None).status == 404).then_some(())
        });
        assert!(gone.is_some(), "{id} is still there");
    }

    fn audit(&self, query: &str) -> Vec<Value> {
        let answer = self.admin("GET", &format!("/api/v1/audit?{query}"), None);
        assert_eq!(answer.status, 200, "{answer:#?}");
        answer.json()["items"].as_array().unwrap().clone()
    }
}

/// Creates a key with the CLI: (secret, id).
fn key(sandbox: &Sandbox, scopes: &[&str]) -> (String, String) {
    let mut args = vec!["keys", "create"];
    for scope in scopes {
        args.extend(["--scope", scope]);
    }
    let created = sandbox.json(&args);
    (
        created["secret"].as_str().unwrap().to_owned(),
        created["key"]["id"].as_str().unwrap().to_owned(),
    )
}

/// A scope that does not grant `needed`.
fn other_scope(needed: &str) -> &'static str {
    match needed {
        "keys:admin" => "tenants:write",
        _ => "keys:admin",
    }
}

// Keys and scopes

#[test]
fn every_route_refuses_a_request_without_a_key() {
    let api = Api::start();
    for (method, path, _, _) in ROUTES {
        let answer = api.call(method, path, None, None);
        answer.assert_problem(401, "unauthorized");
        assert_eq!(
            answer.header("www-authenticate"),
            Some("Bearer"),
            "{method} {path}"
        );
    }
}

#[test]
fn a_malformed_or_unknown_key_is_refused_like_a_missing_one() {
    let api = Api::start();
    let forged = format!("{}x", api.admin);
    let unknown = "atk_0123456789abcdef_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0";
    for presented in ["garbage", unknown, forged.as_str()] {
        let answer = api.call("GET", "/api/v1/tenants", Some(presented), None);
        answer.assert_problem(401, "unauthorized");
        assert_eq!(
            answer.json()["detail"],
            "send a valid API key as `Authorization: Bearer <key>`",
            "nothing about the key is revealed"
        );
    }
}

#[test]
fn every_route_refuses_a_key_without_its_scope() {
    let api = Api::start();
    for (method, path, needed, _) in ROUTES {
        let (secret, _) = key(&api.sandbox, &[other_scope(needed)]);
        let answer = api.call(method, path, Some(&secret), Some("{}"));
        answer.assert_problem(403, "forbidden");
        assert!(answer.body.contains(needed), "{method} {path}: {answer:#?}");
    }
}

#[test]
fn a_write_key_reads_and_a_read_key_does_not_write() {
    let api = Api::start();
    let (write, _) = key(&api.sandbox, &["tenants:write"]);
    let (read, _) = key(&api.sandbox, &["tenants:read"]);
    assert_eq!(
        api.call("GET", "/api/v1/tenants", Some(&write), None)
            .status,
        200
    );
    let answer = api.call("POST", "/api/v1/tenants/acme/suspend", Some(&read), None);
    answer.assert_problem(403, "forbidden");
    assert_eq!(api.sandbox.status_of("acme"), "active");
}

#[test]
fn a_key_revoked_by_another_process_is_refused_at_once() {
    let api = Api::start();
    let (secret, id) = key(&api.sandbox, &["tenants:read"]);
    assert_eq!(
        api.call("GET", "/api/v1/tenants", Some(&secret), None)
            .status,
        200
    );

    api.sandbox.run(&["keys", "revoke", &id]).succeeded();
    let answer = api.call("GET", "/api/v1/tenants", Some(&secret), None);
    answer.assert_problem(401, "unauthorized");
}

#[test]
fn a_key_revoked_through_the_api_is_refused_at_once() {
    let api = Api::start();
    let (secret, id) = key(&api.sandbox, &["tenants:read"]);
    let revoked = api.admin("DELETE", &format!("/api/v1/keys/{id}"), None);
    assert_eq!(revoked.status, 200, "{revoked:#?}");
    assert!(revoked.json()["revoked_at"].is_string());
    let answer = api.call("GET", "/api/v1/tenants", Some(&secret), None);
    answer.assert_problem(401, "unauthorized");
}

#[test]
fn an_expired_key_is_refused() {
    let api = Api::start();
    let (secret, id) = key(&api.sandbox, &["tenants:read"]);
    let past = "2020-01-01T00:00:00+00:00";
    support::execute_sql(
        &api.sandbox.catalog_file(),
        &format!("UPDATE api_keys SET expires_at = '{past}' WHERE id = '{id}'"),
    );
    let answer = api.call("GET", "/api/v1/tenants", Some(&secret), None);
    answer.assert_problem(401, "unauthorized");
}

#[test]
fn a_used_key_has_a_last_used_time() {
    let api = Api::start();
    api.admin("GET", "/api/v1/tenants", None);
    let keys = api.admin("GET", "/api/v1/keys", None).json();
    let mine = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|key| key["id"] == api.admin_id.as_str())
        .expect("the admin key is listed");
    assert!(mine["last_used_at"].is_string(), "{mine}");
    assert!(
        !keys.to_string().contains(&api.admin[21..]),
        "no secret is listed"
    );
}

#[test]
fn a_key_made_through_the_api_works_and_its_secret_is_answered_once() {
    let api = Api::start();
    let body = json!({ "name": "ci", "scopes": ["tenants:read"] });
    let created = api.admin("POST", "/api/v1/keys", Some(body));
    assert_eq!(created.status, 201, "{created:#?}");
    let secret = created.json()["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("atk_"));
    assert_eq!(
        api.call("GET", "/api/v1/tenants", Some(&secret), None)
            .status,
        200
    );
    let listed = api.admin("GET", "/api/v1/keys", None);
    assert!(!listed.body.contains(&secret[21..]));
}

#[test]
fn a_key_admin_cannot_mint_a_key_with_more_than_it_holds() {
    let api = Api::start();
    let (keys_admin, _) = key(&api.sandbox, &["keys:admin"]);
    let body = json!({ "scopes": ["admin"] }).to_string();
    let answer = api.call("POST", "/api/v1/keys", Some(&keys_admin), Some(&body));
    answer.assert_problem(403, "forbidden");
    assert!(answer.body.contains("'admin'"), "{answer:#?}");
    let body = json!({ "scopes": ["keys:admin"] }).to_string();
    let answer = api.call("POST", "/api/v1/keys", Some(&keys_admin), Some(&body));
    assert_eq!(answer.status, 201, "{answer:#?}");
}

#[test]
fn a_rotated_key_works_through_its_grace_and_is_refused_after() {
    let api = Api::start();
    let (old, old_id) = key(&api.sandbox, &["tenants:read", "audit:read"]);
    let path = format!("/api/v1/keys/{old_id}/rotate");
    let rotated = api.admin("POST", &path, Some(json!({ "grace_secs": 2 })));
    assert_eq!(rotated.status, 201, "{rotated:#?}");
    let rotated = rotated.json();
    let new = rotated["secret"].as_str().unwrap();
    assert_eq!(
        rotated["key"]["scopes"],
        json!(["tenants:read", "audit:read"])
    );
    assert_ne!(rotated["key"]["id"], old_id.as_str());

    assert_eq!(
        api.call("GET", "/api/v1/tenants", Some(new), None).status,
        200
    );
    assert_eq!(
        api.call("GET", "/api/v1/tenants", Some(&old), None).status,
        200,
        "in its grace"
    );
    let refused = support::eventually(std::time::Duration::from_secs(10), || {
        let answer = api.call("GET", "/api/v1/tenants", Some(&old), None);
        (answer.status == 401).then_some(answer)
    });
    refused.expect("the old key is refused after its grace");
    assert_eq!(
        api.call("GET", "/api/v1/tenants", Some(new), None).status,
        200
    );

    let entry = &api.audit("action=api_key.rotated")[0];
    assert_eq!(entry["summary"]["key_id"], old_id.as_str());
    assert_eq!(entry["summary"]["new_key_id"], rotated["key"]["id"]);
}

#[test]
fn a_rotation_without_grace_ends_the_old_key_at_once() {
    let api = Api::start();
    let (old, old_id) = key(&api.sandbox, &["tenants:read"]);
    let path = format!("/api/v1/keys/{old_id}/rotate");
    let rotated = api.admin("POST", &path, Some(json!({ "grace_secs": 0 })));
    assert_eq!(rotated.status, 201, "{rotated:#?}");
    api.call("GET", "/api/v1/tenants", Some(&old), None)
        .assert_problem(401, "unauthorized");
}

#[test]
fn a_revoked_unknown_or_stronger_key_is_not_rotated() {
    let api = Api::start();
    let (_, revoked) = key(&api.sandbox, &["tenants:read"]);
    api.sandbox.run(&["keys", "revoke", &revoked]).succeeded();
    api.admin("POST", &format!("/api/v1/keys/{revoked}/rotate"), None)
        .assert_problem(409, "api_key_unusable");
    api.admin("POST", "/api/v1/keys/0000000000000000/rotate", None)
        .assert_problem(404, "api_key_not_found");
    api.admin(
        "POST",
        &format!("/api/v1/keys/{}/rotate", api.admin_id),
        Some(json!({ "grace_secs": 2_592_001 })),
    )
    .assert_problem(422, "validation_failed");

    let (keys_admin, _) = key(&api.sandbox, &["keys:admin"]);
    let path = format!("/api/v1/keys/{}/rotate", api.admin_id);
    api.call("POST", &path, Some(&keys_admin), None)
        .assert_problem(403, "forbidden");
    assert_eq!(
        api.call("GET", "/api/v1/tenants", Some(&api.admin), None)
            .status,
        200
    );
}

// Bodies

#[test]
fn every_body_route_refuses_an_unknown_field_and_names_it() {
    let api = Api::start();
    for (method, path, _, _) in ROUTES.iter().filter(|route| route.3) {
        let answer = api.call(method, path, Some(&api.admin), Some(r#"{"colour": 1}"#));
        answer.assert_problem(422, "validation_failed");
        assert_eq!(
            answer.json()["field"],
            "colour",
            "{method} {path}: {answer:#?}"
        );
    }
}

#[test]
fn a_bad_value_is_refused_with_the_field_it_is_in() {
    let api = Api::start();
    let cases = [
        (
            "POST",
            "/api/v1/tenants",
            json!({ "id": "Acme" }),
            "id",
            "invalid_tenant_id",
        ),
        (
            "POST",
            "/api/v1/tenants",
            json!({ "id": "beta", "name": 5 }),
            "name",
            "validation_failed",
        ),
        (
            "POST",
            "/api/v1/tenants",
            json!({ "id": "beta", "data": [1] }),
            "data",
            "validation_failed",
        ),
        (
            "POST",
            "/api/v1/tenants",
            json!({ "id": "beta", "domains": ["ok.example", "bad host"] }),
            "domains[1]",
            "invalid_host",
        ),
        (
            "POST",
            "/api/v1/tenants",
            json!({ "id": "beta", "domains": ["localhost"] }),
            "domains[0]",
            "invalid_input",
        ),
        (
            "POST",
            "/api/v1/tenants",
            json!({ "id": "beta", "server": "pg9" }),
            "server",
            "unknown_server",
        ),
        (
            "PATCH",
            "/api/v1/tenants/acme",
            json!({ "plan": "p".repeat(65) }),
            "plan",
            "validation_failed",
        ),
        (
            "PATCH",
            "/api/v1/tenants/acme",
            json!({}),
            "body",
            "validation_failed",
        ),
        (
            "PUT",
            "/api/v1/tenants/acme/maintenance",
            json!({ "retry_after_secs": 0 }),
            "retry_after_secs",
            "validation_failed",
        ),
        (
            "PUT",
            "/api/v1/tenants/acme/maintenance",
            json!({ "retry_after_secs": -5 }),
            "retry_after_secs",
            "validation_failed",
        ),
        (
            "POST",
            "/api/v1/tenants/acme/suspend",
            json!({ "reason": "" }),
            "reason",
            "validation_failed",
        ),
        (
            "POST",
            "/api/v1/tenants/acme/domains",
            json!({ "host": "bad host" }),
            "host",
            "invalid_host",
        ),
        (
            "POST",
            "/api/v1/keys",
            json!({ "scopes": ["tenants:delete"] }),
            "scopes[0]",
            "invalid_input",
        ),
        (
            "POST",
            "/api/v1/keys",
            json!({ "scopes": [] }),
            "scopes",
            "invalid_input",
        ),
        (
            "POST",
            "/api/v1/keys",
            json!({ "scopes": ["admin"], "expires_at": "soon" }),
            "expires_at",
            "validation_failed",
        ),
    ];
    for (method, path, body, field, code) in cases {
        let answer = api.admin(method, path, Some(body.clone()));
        answer.assert_problem(422, code);
        assert_eq!(
            answer.json()["field"],
            field,
            "{method} {path} {body}: {answer:#?}"
        );
    }
    assert_eq!(api.sandbox.status_of("acme"), "active", "nothing changed");
}

#[test]
fn a_bad_query_parameter_is_refused_with_its_name() {
    let api = Api::start();
    let cases = [
        ("/api/v1/tenants?status=paused", "status"),
        ("/api/v1/tenants?limit=0", "limit"),
        ("/api/v1/tenants?sort=plan", "sort"),
        ("/api/v1/audit?since=yesterday", "since"),
        ("/api/v1/audit?cursor=abc", "cursor"),
    ];
    for (path, field) in cases {
        let answer = api.admin("GET", path, None);
        answer.assert_problem(422, "validation_failed");
        assert_eq!(answer.json()["field"], field, "{path}");
    }
}

#[test]
fn broken_json_a_wrong_content_type_and_a_huge_body_are_refused() {
    let api = Api::start();
    let broken = api.call(
        "POST",
        "/api/v1/tenants",
        Some(&api.admin),
        Some("{\"id\":"),
    );
    broken.assert_problem(400, "invalid_json");

    let bearer = format!("Bearer {}", api.admin);
    let raw = format!(
        "POST /api/v1/tenants HTTP/1.1\r\nHost: localhost\r\nAuthorization: {bearer}\r\n\
         Content-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
    );
    raw_request(api.server.port, &raw).assert_problem(415, "unsupported_media_type");

    let huge = json!({ "id": "big", "data": { "blob": "x".repeat(70 * 1024) } }).to_string();
    let answer = api.call("POST", "/api/v1/tenants", Some(&api.admin), Some(&huge));
    answer.assert_problem(413, "payload_too_large");
}

fn raw_request(port: u16, raw: &str) -> Response {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.write_all(raw.as_bytes()).unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Response {
        status,
        headers,
        body: body.to_owned(),
    }
}

// Routes

#[test]
fn a_tenant_goes_through_its_whole_life_over_the_api() {
    let api = Api::start();
    let body =
        json!({ "id": "beta", "name": "Beta Ltd", "plan": "pro", "domains": ["beta.example"] });
    let created = api.admin("POST", "/api/v1/tenants", Some(body));
    assert_eq!(created.status, 201, "{created:#?}");
    assert_eq!(created.header("location"), Some("/api/v1/tenants/beta"));
    assert_eq!(created.json()["tenant"]["status"], "active");
    assert_eq!(created.json()["domains"][0]["host"], "beta.example");
    let again = api.admin("POST", "/api/v1/tenants", Some(json!({ "id": "beta" })));
    again.assert_problem(409, "tenant_exists");

    let updated = api.admin(
        "PATCH",
        "/api/v1/tenants/beta",
        Some(json!({ "plan": null, "name": "B" })),
    );
    assert_eq!(updated.status, 200, "{updated:#?}");
    assert_eq!(updated.json()["plan"], Value::Null);
    assert_eq!(updated.json()["name"], "B");

    let suspended = api.admin(
        "POST",
        "/api/v1/tenants/beta/suspend",
        Some(json!({ "reason": "unpaid" })),
    );
    assert_eq!(suspended.json()["status"], "suspended");
    assert_eq!(suspended.json()["reason"], "unpaid");
    let activated = api.admin("POST", "/api/v1/tenants/beta/activate", None);
    assert_eq!(activated.json()["status"], "active");
    let paused = api.admin(
        "PUT",
        "/api/v1/tenants/beta/maintenance",
        Some(json!({ "retry_after_secs": 120 })),
    );
    assert_eq!(paused.json()["status"], "maintenance");
    assert_eq!(paused.json()["retry_after_secs"], 120);
    let resumed = api.admin("DELETE", "/api/v1/tenants/beta/maintenance", None);
    assert_eq!(resumed.json()["status"], "active");
    let not_paused = api.admin("DELETE", "/api/v1/tenants/beta/maintenance", None);
    not_paused.assert_problem(409, "invalid_state");

    let deleted = api.admin("DELETE", "/api/v1/tenants/beta", None);
    assert_eq!(deleted.status, 202, "{deleted:#?}");
    assert_eq!(deleted.json()["status"], "deleting");
    api.wait_until_gone("beta");
    api.admin("GET", "/api/v1/tenants/NoSuch", None)
        .assert_problem(404, "tenant_not_found");
}

#[test]
fn the_status_a_tenant_gets_over_the_api_is_what_its_host_answers() {
    let api = Api::start();
    api.admin("POST", "/api/v1/tenants/acme/suspend", None);
    let answer = api.call_on("acme.localhost", "GET", "/notes", None, None);
    answer.assert_problem(403, "tenant_suspended");
    api.admin(
        "PUT",
        "/api/v1/tenants/acme/maintenance",
        Some(json!({ "retry_after_secs": 7 })),
    );
    let answer = api.call_on("acme.localhost", "GET", "/notes", None, None);
    assert_eq!(answer.status, 503);
    assert_eq!(answer.header("retry-after"), Some("7"));
}

#[test]
fn tenants_are_listed_by_filter_a_page_at_a_time() {
    let api = Api::start();
    for id in ["t1", "t2", "t3", "t4"] {
        let body = json!({ "id": id, "plan": if id == "t4" { "pro" } else { "free" } });
        assert_eq!(api.admin("POST", "/api/v1/tenants", Some(body)).status, 201);
    }
    api.admin("POST", "/api/v1/tenants/t2/suspend", None);

    let ids = |answer: &Response| -> Vec<String> {
        let page = answer.json();
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let first = api.admin("GET", "/api/v1/tenants?limit=2", None);
    assert_eq!(ids(&first), ["acme", "t1"]);
    let cursor = first.json()["next_cursor"].as_str().unwrap().to_owned();
    let second = api.admin(
        "GET",
        &format!("/api/v1/tenants?limit=2&cursor={cursor}"),
        None,
    );
    assert_eq!(ids(&second), ["t2", "t3"]);
    let cursor = second.json()["next_cursor"].as_str().unwrap().to_owned();
    let last = api.admin(
        "GET",
        &format!("/api/v1/tenants?limit=2&cursor={cursor}"),
        None,
    );
    assert_eq!(ids(&last), ["t4"]);
    assert_eq!(last.json()["next_cursor"], Value::Null);

    let suspended = api.admin("GET", "/api/v1/tenants?status=suspended", None);
    assert_eq!(ids(&suspended), ["t2"]);
    let pro = api.admin("GET", "/api/v1/tenants?plan=pro", None);
    assert_eq!(ids(&pro), ["t4"]);
    let local = api.admin(
        "GET",
        "/api/v1/tenants?server=local&plan=free&status=active",
        None,
    );
    assert_eq!(ids(&local), ["t1", "t3"]);
    let elsewhere = api.admin("GET", "/api/v1/tenants?server=pg1", None);
    assert!(ids(&elsewhere).is_empty());
}

#[test]
fn domains_are_added_made_primary_and_removed_under_their_tenant_only() {
    let api = Api::start();
    let added = api.admin(
        "POST",
        "/api/v1/tenants/acme/domains",
        Some(json!({ "host": "ACME.example." })),
    );
    assert_eq!(added.status, 201, "{added:#?}");
    let primary = api.admin(
        "PUT",
        "/api/v1/tenants/acme/domains/acme.example/primary",
        None,
    );
    assert_eq!(primary.status, 200, "{primary:#?}");
    assert_eq!(
        primary.json()[0],
        json!({ "host": "acme.example", "primary": true })
    );

    api.admin("POST", "/api/v1/tenants", Some(json!({ "id": "beta" })));
    api.admin(
        "POST",
        "/api/v1/tenants/beta/domains",
        Some(json!({ "host": "acme.example" })),
    )
    .assert_problem(409, "domain_taken");
    api.admin("DELETE", "/api/v1/tenants/beta/domains/acme.example", None)
        .assert_problem(404, "domain_not_found");

    let removed = api.admin("DELETE", "/api/v1/tenants/acme/domains/acme.example", None);
    assert_eq!(removed.status, 204, "{removed:#?}");
    let listed = api
        .admin("GET", "/api/v1/tenants/acme/domains", None)
        .json();
    assert_eq!(
        listed,
        json!([{ "host": "shop.acme.example", "primary": true }])
    );
    api.admin("GET", "/api/v1/tenants/nobody/domains", None)
        .assert_problem(404, "tenant_not_found");
}

#[test]
fn the_api_is_not_served_on_a_tenant_host() {
    let api = Api::start();
    for (method, path, _, _) in ROUTES {
        let answer = api.call_on("acme.localhost", method, path, Some(&api.admin), Some("{}"));
        assert_eq!(answer.status, 404, "{method} {path}: {answer:#?}");
        assert_ne!(answer.json()["code"], "unauthorized");
    }
    let document = api.call_on("acme.localhost", "GET", "/api/v1/openapi.json", None, None);
    assert_eq!(document.status, 404);
    assert_eq!(api.sandbox.status_of("acme"), "active");
}

#[test]
fn an_unknown_route_and_a_wrong_method_are_problems() {
    let api = Api::start();
    api.admin("GET", "/api/v1/nothing", None)
        .assert_problem(404, "not_found");
    api.admin("PATCH", "/api/v1/keys", None)
        .assert_problem(405, "method_not_allowed");
}

// Audit

#[test]
fn every_mutating_route_writes_an_audit_entry_with_key_and_address() {
    let api = Api::start();
    let calls: [(&str, &str, Option<Value>); 18] = [
        ("POST", "/api/v1/tenants", Some(json!({ "id": "beta" }))),
        (
            "PATCH",
            "/api/v1/tenants/beta",
            Some(json!({ "name": "Beta" })),
        ),
        (
            "POST",
            "/api/v1/tenants/beta/suspend",
            Some(json!({ "reason": "audit" })),
        ),
        ("POST", "/api/v1/tenants/beta/activate", None),
        ("PUT", "/api/v1/tenants/beta/maintenance", None),
        ("DELETE", "/api/v1/tenants/beta/maintenance", None),
        (
            "POST",
            "/api/v1/tenants/beta/domains",
            Some(json!({ "host": "beta.example" })),
        ),
        (
            "POST",
            "/api/v1/tenants/beta/domains",
            Some(json!({ "host": "www.beta.example" })),
        ),
        (
            "PUT",
            "/api/v1/tenants/beta/domains/www.beta.example/primary",
            None,
        ),
        ("DELETE", "/api/v1/tenants/beta/domains/beta.example", None),
        (
            "PUT",
            "/api/v1/tenants/beta/traffic",
            Some(json!({ "rate": "unlimited" })),
        ),
        ("DELETE", "/api/v1/tenants/beta/traffic", None),
        (
            "PUT",
            "/api/v1/plans/pro/traffic",
            Some(json!({ "block": ["10.0.0.0/8"] })),
        ),
        ("DELETE", "/api/v1/plans/pro/traffic", None),
        ("DELETE", "/api/v1/tenants/beta/cache", None),
        ("DELETE", "/api/v1/cache", None),
        ("DELETE", "/api/v1/tenants/beta", None),
        (
            "POST",
            "/api/v1/keys",
            Some(json!({ "scopes": ["audit:read"] })),
        ),
    ];
    for (method, path, body) in calls {
        let answer = api.admin(method, path, body);
        assert!(answer.status < 300, "{method} {path}: {answer:#?}");
    }
    api.wait_until_gone("beta");
    let new_key = api.audit("action=api_key.created&limit=1")[0]["summary"]["key_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let rotated = api.admin("POST", &format!("/api/v1/keys/{new_key}/rotate"), None);
    let rotated_id = rotated.json()["key"]["id"].as_str().unwrap().to_owned();
    api.admin("DELETE", &format!("/api/v1/keys/{rotated_id}"), None);

    let entries = api.audit(&format!("key_id={}&limit=100", api.admin_id));
    let actions: BTreeSet<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    let expected = [
        "tenant.created",
        "tenant.provisioned",
        "tenant.updated",
        "tenant.suspended",
        "tenant.activated",
        "tenant.maintenance_on",
        "tenant.maintenance_off",
        "domain.added",
        "domain.primary_set",
        "domain.removed",
        "tenant.deleting",
        "tenant.deleted",
        "cache.cleared",
        "cache.cleared_all",
        "traffic.rules_set",
        "traffic.rules_removed",
        "api_key.created",
        "api_key.rotated",
        "api_key.revoked",
    ];
    assert_eq!(actions, expected.into_iter().collect());
    for entry in &entries {
        assert_eq!(entry["key_id"], api.admin_id.as_str(), "{entry}");
        assert_eq!(entry["actor"], format!("api:{}", api.admin_id), "{entry}");
        assert_eq!(entry["client_addr"], "127.0.0.1", "{entry}");
        assert!(entry["at"].is_string(), "{entry}");
    }
    let suspended = entries
        .iter()
        .find(|e| e["action"] == "tenant.suspended")
        .unwrap();
    assert_eq!(suspended["tenant_id"], "beta");
    assert_eq!(suspended["summary"]["reason"], "audit");
}

#[test]
fn a_refused_call_writes_no_audit_entry() {
    let api = Api::start();
    let before = api.audit("limit=500").len();
    api.admin("POST", "/api/v1/tenants", Some(json!({ "id": "Bad" })));
    let (read, _) = key(&api.sandbox, &["tenants:read"]);
    api.call("POST", "/api/v1/tenants/acme/suspend", Some(&read), None);
    api.call("DELETE", "/api/v1/tenants/acme", None, None);
    // The CLI's key creation above is one entry, by `cli`.
    let after = api.audit("limit=500");
    assert_eq!(after.len(), before + 1);
    assert_eq!(after[0]["actor"], "cli");
}

#[test]
fn the_audit_log_filters_by_tenant_action_actor_and_time_and_pages() {
    let api = Api::start();
    api.admin("POST", "/api/v1/tenants/acme/suspend", None);
    api.admin("POST", "/api/v1/tenants/acme/activate", None);
    api.admin("POST", "/api/v1/tenants", Some(json!({ "id": "beta" })));

    let acme = api.audit("tenant=acme");
    assert!(acme.iter().all(|e| e["tenant_id"] == "acme"));
    let actions: Vec<&str> = acme.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        &actions[..2],
        ["tenant.activated", "tenant.suspended"],
        "newest first"
    );
    let cli = api.audit("actor=cli");
    assert!(
        cli.iter()
            .any(|e| e["action"] == "tenant.created" && e["tenant_id"] == "acme")
    );
    assert!(
        cli.iter()
            .all(|e| e["actor"] == "cli" && e["key_id"].is_null())
    );
    let family = api.audit("action=tenant.");
    assert!(
        family
            .iter()
            .all(|e| e["action"].as_str().unwrap().starts_with("tenant."))
    );
    assert!(api.audit("until=2000-01-01T00:00:00Z").is_empty());
    assert_eq!(
        api.audit("since=2000-01-01T00:00:00Z&limit=500").len(),
        api.audit("limit=500").len()
    );
    assert!(api.audit("since=2999-01-01T00:00:00Z").is_empty());

    let first = api.admin("GET", "/api/v1/audit?limit=2", None).json();
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = api.audit(&format!("limit=2&cursor={cursor}"));
    let first_last = first["items"][1]["seq"].as_i64().unwrap();
    assert!(second[0]["seq"].as_i64().unwrap() < first_last);
}

// Caches

#[test]
fn clearing_a_tenants_cache_makes_a_hand_made_catalog_change_hold() {
    let api = Api::start();
    let notes = |api: &Api| {
        api.call_on("acme.localhost", "GET", "/notes", None, None)
            .status
    };
    assert_eq!(notes(&api), 200, "acme is cached as active");
    let suspend = "UPDATE tenants SET status = 'suspended' WHERE id = 'acme'";
    support::execute_sql(&api.sandbox.catalog_file(), suspend);
    assert_eq!(
        notes(&api),
        200,
        "a change outside the change log is not seen"
    );

    let cleared = api.admin("DELETE", "/api/v1/tenants/acme/cache", None);
    assert_eq!(cleared.status, 204, "{cleared:#?}");
    assert_eq!(notes(&api), 403);
    let entry = &api.audit("action=cache.cleared")[0];
    assert_eq!(entry["tenant_id"], "acme");
    api.admin("DELETE", "/api/v1/tenants/nobody/cache", None)
        .assert_problem(404, "tenant_not_found");
}

#[test]
fn clearing_every_cache_forgets_every_tenant() {
    let api = Api::start();
    let notes = |api: &Api| {
        api.call_on("acme.localhost", "GET", "/notes", None, None)
            .status
    };
    assert_eq!(notes(&api), 200);
    let pause = "UPDATE tenants SET status = 'maintenance', retry_after_secs = 5 WHERE id = 'acme'";
    support::execute_sql(&api.sandbox.catalog_file(), pause);
    assert_eq!(notes(&api), 200);

    let cleared = api.admin("DELETE", "/api/v1/cache", None);
    assert_eq!(cleared.status, 204, "{cleared:#?}");
    assert_eq!(notes(&api), 503);
}

// Traffic rules

#[test]
fn a_tenant_rate_limit_set_over_the_api_holds_on_its_host_and_clears() {
    let api = Api::start();
    let rules = json!({ "rate": { "per_second": 1, "burst": 1 } });
    let set = api.admin("PUT", "/api/v1/tenants/acme/traffic", Some(rules.clone()));
    assert_eq!(set.status, 200, "{set:#?}");
    assert_eq!(
        set.json(),
        json!({ "scope": "tenant:acme", "rules": rules })
    );

    let limited = support::eventually(std::time::Duration::from_secs(5), || {
        let answer = api.call_on("acme.localhost", "GET", "/notes", None, None);
        (answer.status == 429).then_some(answer)
    });
    limited
        .expect("the second request in a second is refused")
        .assert_problem(429, "rate_limited");

    let cleared = api.admin("DELETE", "/api/v1/tenants/acme/traffic", None);
    assert_eq!(cleared.status, 204, "{cleared:#?}");
    let shown = api
        .admin("GET", "/api/v1/tenants/acme/traffic", None)
        .json();
    assert_eq!(shown["own"], Value::Null);
    assert_eq!(shown["effective"], json!({ "allow": [], "block": [] }));
    for _ in 0..3 {
        let answer = api.call_on("acme.localhost", "GET", "/notes", None, None);
        assert_eq!(answer.status, 200, "{answer:#?}");
    }
}

#[test]
fn a_plan_block_list_reaches_its_tenants_and_shows_as_in_force() {
    let api = Api::start();
    let set = api.admin(
        "PUT",
        "/api/v1/plans/pro/traffic",
        Some(json!({ "block": ["127.0.0.1"] })),
    );
    assert_eq!(set.status, 200, "{set:#?}");
    api.admin(
        "PATCH",
        "/api/v1/tenants/acme",
        Some(json!({ "plan": "pro" })),
    );

    let answer = api.call_on("acme.localhost", "GET", "/notes", None, None);
    answer.assert_problem(403, "ip_blocked");
    let shown = api
        .admin("GET", "/api/v1/tenants/acme/traffic", None)
        .json();
    assert_eq!(shown["plan"], "pro");
    assert_eq!(shown["effective"]["block"], json!(["127.0.0.1/32"]));
    let all = api.admin("GET", "/api/v1/traffic", None).json();
    assert_eq!(
        all,
        json!([{ "scope": "plan:pro", "rules": { "block": ["127.0.0.1/32"] } }])
    );
    let plan = api.admin("GET", "/api/v1/plans/pro/traffic", None).json();
    assert_eq!(plan["rules"]["block"], json!(["127.0.0.1/32"]));

    api.admin("DELETE", "/api/v1/plans/pro/traffic", None);
    let answer = api.call_on("acme.localhost", "GET", "/notes", None, None);
    assert_eq!(answer.status, 200, "{answer:#?}");
}

#[test]
fn bad_traffic_rules_are_refused_with_their_field() {
    let api = Api::start();
    let cases = [
        (
            json!({ "rate": { "per_second": 0, "burst": 1 } }),
            "rate.per_second",
        ),
        (json!({ "rate": "fast" }), "rate"),
        (json!({ "allow": ["10.0.0.0/8", "nope"] }), "allow[1]"),
        (json!({ "block": "10.0.0.0/8" }), "block"),
        (json!({}), "body"),
    ];
    for (body, field) in cases {
        let answer = api.admin("PUT", "/api/v1/tenants/acme/traffic", Some(body.clone()));
        assert_eq!(answer.status, 422, "{body}: {answer:#?}");
        assert_eq!(answer.json()["field"], field, "{body}: {answer:#?}");
    }
    let answer = api.admin(
        "PUT",
        "/api/v1/plans/Bad%20Plan/traffic",
        Some(json!({ "rate": "unlimited" })),
    );
    assert_eq!(answer.status, 422, "{answer:#?}");
    api.admin(
        "PUT",
        "/api/v1/tenants/nobody/traffic",
        Some(json!({ "rate": "unlimited" })),
    )
    .assert_problem(404, "tenant_not_found");
}

// serve --demo

#[test]
fn serve_demo_prints_a_working_admin_key_once() {
    let sandbox = Sandbox::new();
    let server = sandbox.serve(&["--demo"]);
    let announced = server.next_stdout_line().expect("the API is announced");
    assert!(
        announced.starts_with("admin API: http://127.0.0.1:"),
        "{announced}"
    );
    let line = server.next_stdout_line().expect("the key is printed");
    let secret = line
        .strip_prefix("admin key (shown once): ")
        .unwrap_or_else(|| panic!("no key line: {line}"));
    let bearer = format!("Bearer {secret}");
    let headers = [("Authorization", bearer.as_str())];
    let answer = support::http_with(
        server.port,
        "GET",
        "localhost",
        "/api/v1/tenants",
        None,
        &headers,
    );
    assert_eq!(answer.status, 200, "{answer:#?}");
    assert_eq!(answer.json()["items"].as_array().map(Vec::len), Some(3));
    drop(server);

    let again = sandbox.serve(&["--demo"]);
    let line = again.next_stdout_line().expect("the API is announced");
    assert!(
        line.contains("made earlier") && !line.contains(secret),
        "{line}"
    );
    assert_eq!(
        sandbox.json(&["keys", "list"]).as_array().map(Vec::len),
        Some(1)
    );
}

// OpenAPI

#[test]
fn the_openapi_document_lists_every_route_and_nothing_else() {
    let api = Api::start();
    let answer = api.call("GET", "/api/v1/openapi.json", None, None);
    assert_eq!(answer.status, 200, "{answer:#?}");
    let document = answer.json();
    assert_eq!(document["openapi"], "3.1.0");

    let mut documented = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            documented.insert((method.to_uppercase(), path.clone()));
            let public = PUBLIC_ROUTES.contains(&(method.to_uppercase().as_str(), path.as_str()));
            let security = &operation["security"][0]["bearer"];
            assert_eq!(
                security.is_array(),
                !public,
                "{method} {path} names its scope"
            );
        }
    }
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(method, path, _, _)| (method.to_string(), template(path)))
        .chain(
            PUBLIC_ROUTES
                .iter()
                .map(|(m, p)| (m.to_string(), p.to_string())),
        )
        .collect();
    assert_eq!(documented, served);
    for (method, path, scope, _) in ROUTES {
        let operation = &document["paths"][template(path)][method.to_lowercase()];
        assert_eq!(
            operation["security"][0]["bearer"][0], *scope,
            "{method} {path}"
        );
    }
}

#[test]
fn every_schema_the_document_refers_to_is_in_it() {
    let api = Api::start();
    let document = api.call("GET", "/api/v1/openapi.json", None, None).json();
    let schemas = document["components"]["schemas"]
        .as_object()
        .expect("schemas");
    let mut refs = Vec::new();
    collect_refs(&document, &mut refs);
    assert!(!refs.is_empty());
    for reference in refs {
        let name = reference
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected $ref {reference}"));
        assert!(
            schemas.contains_key(name),
            "{reference} is not in the document"
        );
    }
    let scheme = &document["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["scheme"], "bearer", "{scheme}");
}

fn collect_refs(value: &Value, refs: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("$ref", Value::String(target)) => refs.push(target.clone()),
                    _ => collect_refs(inner, refs),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_refs(item, refs)),
        _ => {}
    }
}

/// The answers' fields are exactly the ones their schema in the document names.
#[test]
fn answers_carry_the_fields_their_schemas_name() {
    let api = Api::start();
    let document = api.call("GET", "/api/v1/openapi.json", None, None).json();
    let fields_of = |schema: &str| -> BTreeSet<String> {
        let properties = &document["components"]["schemas"][schema]["properties"];
        properties
            .as_object()
            .unwrap_or_else(|| panic!("{schema} has properties"))
            .keys()
            .cloned()
            .collect()
    };
    let keys = |value: &Value| -> BTreeSet<String> {
        value.as_object().unwrap().keys().cloned().collect()
    };

    let detail = api.admin("GET", "/api/v1/tenants/acme", None).json();
    assert_eq!(keys(&detail), fields_of("TenantDetail"));
    assert_eq!(keys(&detail["tenant"]), fields_of("TenantView"));
    assert_eq!(keys(&detail["domains"][0]), fields_of("DomainView"));
    let page = api.admin("GET", "/api/v1/tenants", None).json();
    assert_eq!(keys(&page), fields_of("TenantPage"));
    let issued = api
        .admin(
            "POST",
            "/api/v1/keys",
            Some(json!({ "scopes": ["audit:read"] })),
        )
        .json();
    assert_eq!(keys(&issued), fields_of("IssuedKeyView"));
    assert_eq!(keys(&issued["key"]), fields_of("KeyView"));
    let audit = api.admin("GET", "/api/v1/audit", None).json();
    assert_eq!(keys(&audit), fields_of("AuditPage"));
    assert_eq!(keys(&audit["items"][0]), fields_of("AuditEntry"));
    let problem = api
        .admin("PATCH", "/api/v1/tenants/acme", Some(json!({})))
        .json();
    assert_eq!(keys(&problem), fields_of("ProblemBody"));
}

#[test]
fn the_docs_show_every_route() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/api.md"))
        .expect("docs/api.md is readable");
    for (method, path, _, _) in ROUTES {
        let route = format!("{method} {}", &template(path)["/api/v1".len()..]);
        assert!(docs.contains(&route), "docs/api.md lacks `{route}`");
    }
}

/// The OpenAPI path template of a sample path.
fn template(path: &str) -> String {
    path.replace("/tenants/acme", "/tenants/{id}")
        .replace("/domains/shop.acme.example", "/domains/{host}")
        .replace("/keys/K", "/keys/{id}")
        .replace("/plans/pro", "/plans/{plan}")
        .replace("/migrations/7", "/migrations/{run}")
}

// Parity with the CLI

/// Each CLI command and the route that does the same over HTTP.
const CLI_ROUTES: &[(&str, &str)] = &[
    ("tenants create", "POST /api/v1/tenants"),
    ("tenants list", "GET /api/v1/tenants"),
    ("tenants show", "GET /api/v1/tenants/{id}"),
    ("tenants update", "PATCH /api/v1/tenants/{id}"),
    ("tenants suspend", "POST /api/v1/tenants/{id}/suspend"),
    ("tenants activate", "POST /api/v1/tenants/{id}/activate"),
    (
        "tenants maintenance",
        "PUT /api/v1/tenants/{id}/maintenance",
    ),
    ("tenants delete", "DELETE /api/v1/tenants/{id}"),
    ("domains add", "POST /api/v1/tenants/{id}/domains"),
    (
        "domains remove",
        "DELETE /api/v1/tenants/{id}/domains/{host}",
    ),
    (
        "domains primary",
        "PUT /api/v1/tenants/{id}/domains/{host}/primary",
    ),
    ("domains list", "GET /api/v1/tenants/{id}/domains"),
    ("keys create", "POST /api/v1/keys"),
    ("keys list", "GET /api/v1/keys"),
    ("keys revoke", "DELETE /api/v1/keys/{id}"),
    ("keys rotate", "POST /api/v1/keys/{id}/rotate"),
    ("traffic show", "GET /api/v1/tenants/{id}/traffic"),
    ("traffic set", "PUT /api/v1/tenants/{id}/traffic"),
    ("traffic clear", "DELETE /api/v1/tenants/{id}/traffic"),
    ("doctor", "GET /api/v1/doctor"),
    ("migrate", "POST /api/v1/migrations"),
    ("migrate status", "GET /api/v1/migrations/status"),
    ("migrate rollback", "POST /api/v1/migrations"),
    ("seed", "POST /api/v1/seed"),
    ("run", "POST /api/v1/sql"),
];

/// Commands that only make sense on the machine itself.
const CLI_ONLY: &[&str] = &["serve", "init"];

#[test]
fn every_cli_command_has_its_route() {
    use clap::CommandFactory;

    let mut commands = Vec::new();
    leaf_commands(&tenancy_server::cli::Cli::command(), "", &mut commands);
    let document = serde_json::to_value(tenancy_server::api::openapi()).unwrap();
    for command in &commands {
        let groups = ["tenants", "domains", "keys", "traffic"];
        let known = CLI_ONLY.contains(&command.as_str()) || groups.contains(&command.as_str());
        let route = CLI_ROUTES.iter().find(|(cli, _)| cli == command);
        assert!(known || route.is_some(), "`tenancy {command}` has no route");
        if let Some((_, route)) = route {
            let (method, path) = route.split_once(' ').unwrap();
            let operation = &document["paths"][path][method.to_lowercase()];
            assert!(
                operation.is_object(),
                "{route} (for `tenancy {command}`) is not in the API"
            );
        }
    }
    for (cli, _) in CLI_ROUTES {
        assert!(
            commands.iter().any(|command| command == cli),
            "no command `tenancy {cli}`"
        );
    }
}

fn leaf_commands(command: &clap::Command, prefix: &str, out: &mut Vec<String>) {
    for sub in command
        .get_subcommands()
        .filter(|sub| sub.get_name() != "help")
    {
        let name = format!("{prefix}{}", sub.get_name());
        out.push(name.clone());
        leaf_commands(sub, &format!("{name} "), out);
    }
}

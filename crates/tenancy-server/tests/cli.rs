//! Every `tenancy` command once, run as the real binary, with its error paths.

mod support;

use serde_json::Value;
use support::Sandbox;

/// clap's exit code for a usage error.
const USAGE: i32 = 2;

/// The binary's exit code for a configuration error (`EX_CONFIG`).
const CONFIG: i32 = 78;

fn sandbox_with(ids: &[&str]) -> Sandbox {
    let sandbox = Sandbox::new();
    for id in ids {
        sandbox.run(&["tenants", "create", id]).succeeded();
    }
    sandbox
}

fn hosts(domains: &Value) -> Vec<(String, bool)> {
    domains
        .as_array()
        .expect("domains are an array")
        .iter()
        .map(|domain| {
            let host = domain["host"].as_str().expect("a domain has a host");
            (host.to_owned(), domain["primary"] == true)
        })
        .collect()
}

// init

#[test]
fn init_writes_a_config_file_that_parses_back() {
    let sandbox = Sandbox::new();
    let written = sandbox.json(&["init", "--path", "my.toml"]);
    assert_eq!(written["written"], "my.toml");

    let text = std::fs::read_to_string(sandbox.path().join("my.toml")).unwrap();
    assert!(text.contains("max_connections"), "{text}");
    let listed = sandbox.json(&["--config", "my.toml", "tenants", "list"]);
    assert_eq!(listed, serde_json::json!([]));
}

#[test]
fn init_refuses_to_overwrite_without_force() {
    let sandbox = Sandbox::new();
    sandbox.run(&["init"]).succeeded();
    let path = sandbox.path().join("tenancy.toml");
    std::fs::write(&path, "# mine\n").unwrap();

    let refused = sandbox.run(&["init"]).failed();
    refused.error_line(&["tenancy.toml", "--force"]);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "# mine\n");

    sandbox.run(&["init", "--force"]).succeeded();
    assert_ne!(std::fs::read_to_string(&path).unwrap(), "# mine\n");
}

// tenants create

#[test]
fn create_takes_name_domain_plan_data_and_seed() {
    let sandbox = Sandbox::new();
    let created = sandbox.json(&[
        "tenants",
        "create",
        "alpha",
        "--name",
        "Alpha Corp",
        "--domain",
        "Alpha.Example.test",
        "--domain",
        "alpha.example.org",
        "--plan",
        "pro",
        "--data",
        r#"{"seats": 5}"#,
        "--seed",
    ]);
    assert_eq!(created["id"], "alpha");
    assert_eq!(created["status"], "active");
    assert_eq!(created["name"], "Alpha Corp");
    assert_eq!(created["plan"], "pro");
    assert_eq!(created["data"]["seats"], 5);

    let file = sandbox.tenant_file("alpha");
    assert!(file.exists(), "no database file at {}", file.display());
    let notes = support::query_i64(
        &file,
        "SELECT count(*) FROM notes WHERE title LIKE 'alpha: %'",
    );
    assert_eq!(notes, 5, "the demo seeder writes five notes");

    let shown = sandbox.json(&["tenants", "show", "alpha"]);
    let domains = hosts(&shown["domains"]);
    assert!(
        domains.contains(&("alpha.example.test".to_owned(), true)),
        "{domains:?}"
    );
    assert!(
        domains.contains(&("alpha.example.org".to_owned(), false)),
        "{domains:?}"
    );
}

#[test]
fn create_without_seed_leaves_the_database_empty() {
    let sandbox = sandbox_with(&["alpha"]);
    let notes = support::query_i64(&sandbox.tenant_file("alpha"), "SELECT count(*) FROM notes");
    assert_eq!(notes, 0);
}

#[test]
fn invalid_tenant_ids_are_usage_errors_naming_the_rule() {
    let sandbox = Sandbox::new();
    let too_long = format!("a{}", "b".repeat(63));
    let cases = [
        ("Acme", "lowercase"),
        ("www", "reserved"),
        (too_long.as_str(), "63"),
        ("acme-", "must not end with '-'"),
        ("9lives", "start with a lowercase letter"),
    ];
    for (id, rule) in cases {
        let refused = sandbox.run(&["tenants", "create", id]).exited_with(USAGE);
        refused.stderr_mentions(&[rule]);
    }
    assert!(
        !sandbox.data_dir().join("tenants").exists(),
        "no storage work happens for an invalid id"
    );
}

#[test]
fn creating_an_existing_tenant_is_an_error() {
    let sandbox = sandbox_with(&["alpha"]);
    let refused = sandbox.run(&["tenants", "create", "alpha"]).failed();
    refused.error_line(&["alpha", "already exists"]);
    assert_eq!(sandbox.status_of("alpha"), "active");
}

#[test]
fn a_domain_taken_by_another_tenant_is_refused_whatever_its_case() {
    let sandbox = Sandbox::new();
    let create = [
        "tenants",
        "create",
        "alpha",
        "--domain",
        "Alpha.Example.test",
    ];
    sandbox.run(&create).succeeded();

    let refused = sandbox
        .run(&[
            "tenants",
            "create",
            "beta",
            "--domain",
            "alpha.example.test",
        ])
        .failed();
    refused.error_line(&["alpha.example.test", "alpha"]);
    sandbox.run(&["tenants", "show", "beta"]).failed();

    sandbox.run(&["tenants", "create", "beta"]).succeeded();
    let refused = sandbox
        .run(&["domains", "add", "beta", "ALPHA.EXAMPLE.TEST"])
        .failed();
    refused.error_line(&["alpha.example.test", "alpha"]);
    let owners = sandbox.json(&["domains", "list"]);
    assert_eq!(hosts(&owners), [("alpha.example.test".to_owned(), true)]);
}

#[test]
fn a_central_host_cannot_be_a_tenant_domain() {
    let sandbox = Sandbox::new();
    for host in ["localhost", "LOCALHOST.", "127.0.0.1", "www.localhost"] {
        let create = ["tenants", "create", "alpha", "--domain", host];
        let refused = sandbox.run(&create).failed();
        refused.error_line(&["central"]);
    }
    sandbox.run(&["tenants", "show", "alpha"]).failed();
}

#[test]
fn bad_data_json_is_a_usage_error() {
    let sandbox = Sandbox::new();
    let cases = [("{oops", "not valid JSON"), ("[1, 2]", "JSON object")];
    for (data, why) in cases {
        let refused = sandbox
            .run(&["tenants", "create", "alpha", "--data", data])
            .exited_with(USAGE);
        refused.stderr_mentions(&["--data", why]);
    }
    sandbox.run(&["tenants", "show", "alpha"]).failed();
}

// list, show

#[test]
fn list_filters_by_status_and_prints_json_arrays() {
    let sandbox = sandbox_with(&["alpha", "beta", "gamma"]);
    sandbox.run(&["tenants", "suspend", "beta"]).succeeded();

    let all = sandbox.json(&["tenants", "list"]);
    assert_eq!(all.as_array().map(Vec::len), Some(3), "{all}");
    let suspended = sandbox.json(&["tenants", "list", "--status", "suspended"]);
    let ids: Vec<&Value> = suspended
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["id"])
        .collect();
    assert_eq!(ids, ["beta"]);

    let table = sandbox
        .run(&["tenants", "list", "--status", "active"])
        .succeeded();
    assert!(table.stdout.contains("alpha") && table.stdout.contains("gamma"));
    assert!(!table.stdout.contains("beta"), "{}", table.stdout);

    let refused = sandbox
        .run(&["tenants", "list", "--status", "sleepy"])
        .exited_with(USAGE);
    refused.stderr_mentions(&["sleepy"]);
}

#[test]
fn show_prints_a_tenant_and_refuses_an_unknown_id() {
    let sandbox = sandbox_with(&["alpha"]);
    let text = sandbox.run(&["tenants", "show", "alpha"]).succeeded();
    assert!(
        text.stdout.contains("status:      active"),
        "{}",
        text.stdout
    );
    let shown = sandbox.json(&["tenants", "show", "alpha"]);
    assert_eq!(shown["tenant"]["id"], "alpha");
    assert_eq!(shown["domains"], serde_json::json!([]));

    let refused = sandbox.run(&["tenants", "show", "nobody"]).failed();
    refused.error_line(&["nobody", "not found"]);
}

// update, suspend, activate, maintenance

#[test]
fn update_changes_fields_and_needs_at_least_one() {
    let sandbox = sandbox_with(&["alpha"]);
    let refused = sandbox.run(&["tenants", "update", "alpha"]).failed();
    refused.error_line(&["nothing to update"]);

    let update = [
        "tenants",
        "update",
        "alpha",
        "--name",
        "Alpha 2",
        "--plan",
        "gold",
        "--data",
        r#"{"tier": 2}"#,
    ];
    let updated = sandbox.json(&update);
    assert_eq!(updated["name"], "Alpha 2");
    assert_eq!(updated["plan"], "gold");
    assert_eq!(updated["data"], serde_json::json!({ "tier": 2 }));

    let cleared = sandbox.json(&["tenants", "update", "alpha", "--clear-plan"]);
    assert_eq!(cleared["plan"], Value::Null);
    assert_eq!(cleared["name"], "Alpha 2", "other fields stay");

    let both = ["tenants", "update", "alpha", "--plan", "x", "--clear-plan"];
    sandbox.run(&both).exited_with(USAGE);
    let unknown = ["tenants", "update", "nobody", "--name", "x"];
    sandbox.run(&unknown).failed().error_line(&["nobody"]);
}

#[test]
fn suspend_keeps_the_reason_and_activate_restores() {
    let sandbox = sandbox_with(&["alpha"]);
    let suspended = sandbox.json(&["tenants", "suspend", "alpha", "--reason", "unpaid"]);
    assert_eq!(suspended["status"], "suspended");
    assert_eq!(suspended["reason"], "unpaid");

    let activated = sandbox.json(&["tenants", "activate", "alpha"]);
    assert_eq!(activated["status"], "active");

    let unknown = sandbox.run(&["tenants", "suspend", "nobody"]).failed();
    unknown.error_line(&["nobody"]);
}

#[test]
fn maintenance_switches_on_with_retry_after_and_off() {
    let sandbox = sandbox_with(&["alpha"]);
    let on = [
        "tenants",
        "maintenance",
        "alpha",
        "--on",
        "--retry-after",
        "120",
    ];
    let during = sandbox.json(&on);
    assert_eq!(during["status"], "maintenance");
    assert_eq!(during["retry_after_secs"], 120);

    let after = sandbox.json(&["tenants", "maintenance", "alpha", "--off"]);
    assert_eq!(after["status"], "active");

    let neither = sandbox
        .run(&["tenants", "maintenance", "alpha"])
        .exited_with(USAGE);
    neither.stderr_mentions(&["--on", "--off"]);
    let both = ["tenants", "maintenance", "alpha", "--on", "--off"];
    sandbox.run(&both).exited_with(USAGE);
    let retry_when_off = [
        "tenants",
        "maintenance",
        "alpha",
        "--off",
        "--retry-after",
        "5",
    ];
    sandbox.run(&retry_when_off).exited_with(USAGE);
    assert_eq!(sandbox.status_of("alpha"), "active");
}

// delete

#[test]
fn delete_without_yes_and_no_terminal_deletes_nothing() {
    let sandbox = sandbox_with(&["alpha"]);
    let refused = sandbox.run(&["tenants", "delete", "alpha"]).failed();
    refused.error_line(&["alpha", "--yes"]);

    assert_eq!(sandbox.status_of("alpha"), "active");
    assert!(sandbox.tenant_file("alpha").exists());
}

#[test]
fn delete_with_yes_removes_the_tenant_and_its_file() {
    let sandbox = Sandbox::new();
    let create = [
        "tenants",
        "create",
        "alpha",
        "--domain",
        "alpha.example.test",
    ];
    sandbox.run(&create).succeeded();

    let deleted = sandbox.json(&["tenants", "delete", "alpha", "--yes"]);
    assert_eq!(deleted["deleted"], "alpha");
    sandbox.run(&["tenants", "show", "alpha"]).failed();
    assert!(!sandbox.tenant_file("alpha").exists());
    assert_eq!(sandbox.json(&["domains", "list"]), serde_json::json!([]));

    // The id, and its domain, can be used again.
    sandbox.run(&create).succeeded();
    assert_eq!(sandbox.status_of("alpha"), "active");
}

#[test]
fn deleting_an_unknown_tenant_is_an_error() {
    let sandbox = Sandbox::new();
    let refused = sandbox
        .run(&["tenants", "delete", "nobody", "--yes"])
        .failed();
    refused.error_line(&["nobody", "not found"]);
}

// domains

#[test]
fn domains_add_primary_list_and_remove() {
    let sandbox = sandbox_with(&["alpha", "beta"]);
    let added = sandbox.json(&["domains", "add", "alpha", "Shop.Example.com"]);
    assert_eq!(added["host"], "shop.example.com");
    sandbox.json(&["domains", "add", "alpha", "alpha.example.com", "--primary"]);
    sandbox.json(&["domains", "add", "beta", "beta.example.com"]);

    let alpha = sandbox.json(&["domains", "list", "--tenant", "alpha"]);
    assert_eq!(
        hosts(&alpha),
        [
            ("alpha.example.com".to_owned(), true),
            ("shop.example.com".to_owned(), false)
        ]
    );
    let primary = sandbox.json(&["domains", "primary", "shop.example.com"]);
    assert_eq!(primary["primary"], "shop.example.com");
    let alpha = sandbox.json(&["domains", "list", "--tenant", "alpha"]);
    assert_eq!(
        hosts(&alpha),
        [
            ("shop.example.com".to_owned(), true),
            ("alpha.example.com".to_owned(), false)
        ]
    );

    let removed = sandbox.json(&["domains", "remove", "SHOP.example.com"]);
    assert_eq!(removed["removed"], "shop.example.com");
    let all = sandbox.json(&["domains", "list"]);
    assert_eq!(all.as_array().map(Vec::len), Some(2), "{all}");
}

#[test]
fn domain_commands_refuse_unknown_tenants_and_domains() {
    let sandbox = sandbox_with(&["alpha"]);
    let cases: [&[&str]; 5] = [
        &["domains", "add", "nobody", "x.example.com"],
        &["domains", "remove", "nowhere.example.com"],
        &["domains", "primary", "nowhere.example.com"],
        &["domains", "list", "--tenant", "nobody"],
        &["domains", "add", "alpha", "bad host!"],
    ];
    for args in cases {
        sandbox.run(args).failed().error_line(&[]);
    }
}

// tenant selection: migrate, migrate status, rollback, seed, run

/// Every command that takes `--tenant` and `--server`, with a selection appended.
fn selecting_commands(selection: &[&'static str]) -> Vec<Vec<&'static str>> {
    let commands: [&[&str]; 5] = [
        &["migrate"],
        &["migrate", "status"],
        &["migrate", "rollback"],
        &["seed"],
        &["run"],
    ];
    commands
        .iter()
        .map(|command| {
            let mut args = command.to_vec();
            args.extend_from_slice(selection);
            if command == &["run"] {
                args.extend_from_slice(&["--", "select 1"]);
            }
            args
        })
        .collect()
}

#[test]
fn an_unknown_server_is_an_error_naming_it_not_an_empty_selection() {
    let sandbox = sandbox_with(&["alpha"]);
    for args in selecting_commands(&["--server", "nope"]) {
        let refused = sandbox.run(&args).failed();
        refused.error_line(&["server 'nope' is not configured"]);
        assert_eq!(
            refused.stdout, "",
            "{args:?} printed a result: {refused:#?}"
        );
    }
    let runs = support::query_i64(
        &sandbox.catalog_file(),
        "SELECT count(*) FROM migration_runs",
    );
    assert_eq!(runs, 0, "a refused selection records no migration run");
}

#[test]
fn an_unknown_tenant_is_an_error_naming_it() {
    let sandbox = sandbox_with(&["alpha"]);
    for args in selecting_commands(&["--tenant", "alpha", "--tenant", "ghost"]) {
        let refused = sandbox.run(&args).failed();
        refused.error_line(&["tenant 'ghost' not found"]);
    }
}

#[test]
fn a_tenant_on_another_server_than_the_one_named_is_an_error() {
    let sandbox = sandbox_with(&["alpha"]);
    // Nothing is placed on it: the selection is refused before any server is asked.
    let postgres = std::env::var("TENANCY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let config = format!(
        "[servers.second]\nkind = \"postgres\"\nurl = \"{postgres}\"\nprefix = \"clisel_\"\n"
    );
    std::fs::write(sandbox.path().join("tenancy.toml"), config).unwrap();
    let refused = sandbox
        .run(&["seed", "--tenant", "alpha", "--server", "second"])
        .failed();
    refused.error_line(&["tenant 'alpha' is on server 'local', not 'second'"]);
}

#[test]
fn a_configured_server_selects_only_its_tenants() {
    let sandbox = sandbox_with(&["alpha", "beta"]);
    let ran = sandbox.json(&["run", "--server", "local", "--", "select 1 AS one"]);
    let ids: Vec<&Value> = ran
        .as_array()
        .expect("run prints an array")
        .iter()
        .map(|entry| &entry["tenant_id"])
        .collect();
    assert_eq!(ids, ["alpha", "beta"], "{ran}");
}

// doctor

#[test]
fn doctor_is_happy_with_a_consistent_catalog() {
    let sandbox = sandbox_with(&["alpha", "beta"]);
    let report = sandbox.json(&["doctor"]);
    assert_eq!(report["report"]["orphans"], serde_json::json!([]));
    assert_eq!(report["repair"], Value::Null);
    let text = sandbox.run(&["doctor"]).succeeded();
    assert!(text.stdout.contains("nothing to repair"), "{}", text.stdout);
}

#[test]
fn doctor_lists_a_database_no_tenant_owns() {
    let sandbox = sandbox_with(&["alpha"]);
    std::fs::write(sandbox.tenant_file("ghost"), b"").unwrap();

    let text = sandbox.run(&["doctor"]).failed();
    assert!(text.stdout.contains("ghost"), "{}", text.stdout);
    let json = sandbox.run(&["--json", "doctor"]).failed().json();
    let orphans = json["report"]["orphans"].as_array().unwrap();
    assert_eq!(orphans.len(), 1, "{json}");
    assert_eq!(orphans[0]["database"], "ghost");
    assert!(
        sandbox.tenant_file("ghost").exists(),
        "doctor changes nothing"
    );
}

#[test]
fn doctor_lists_an_active_tenant_whose_database_is_missing() {
    let sandbox = sandbox_with(&["alpha", "beta"]);
    std::fs::remove_file(sandbox.tenant_file("alpha")).unwrap();

    let text = sandbox.run(&["doctor"]).failed();
    assert!(text.stdout.contains("missing"), "{}", text.stdout);
    let json = sandbox.run(&["--json", "doctor"]).failed().json();
    let missing = json["report"]["missing"].as_array().unwrap();
    let ids: Vec<&Value> = missing.iter().map(|t| &t["id"]).collect();
    assert_eq!(ids, ["alpha"]);
}

/// A PostgreSQL URL on a port nothing listens on: bound once, then let go.
fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("postgres://postgres@127.0.0.1:{port}/postgres")
}

#[test]
fn doctor_reports_a_server_it_cannot_reach_and_still_checks_the_others() {
    let sandbox = sandbox_with(&["alpha"]);
    let config = format!(
        "[servers.down]\nkind = \"postgres\"\nurl = \"{}\"\n",
        closed_port_url()
    );
    std::fs::write(sandbox.path().join("tenancy.toml"), config).unwrap();
    std::fs::write(sandbox.tenant_file("ghost"), b"").unwrap();
    // A tenant on the server that is down: whether its database exists is unknown.
    support::execute_sql(
        &sandbox.catalog_file(),
        "INSERT INTO tenants (id, name, status, plan, data, server, database_name,
                              retry_after_secs, reason, created_at, updated_at)
         SELECT 'far', name, status, plan, data, 'down', 'far', retry_after_secs, reason,
                created_at, updated_at
         FROM tenants WHERE id = 'alpha'",
    );

    let text = sandbox.run(&["doctor"]).exited_with(1);
    assert_eq!(text.stderr, "", "a finding, not a failure: {text:#?}");
    assert!(text.stdout.contains("could not be checked"), "{text:#?}");
    assert!(text.stdout.contains("down"), "{text:#?}");
    assert!(text.stdout.contains("ghost"), "{text:#?}");

    let json = sandbox.run(&["--json", "doctor"]).exited_with(1).json();
    let report = &json["report"];
    let unreachable = report["unreachable"].as_array().expect("a list");
    assert_eq!(unreachable.len(), 1, "{json}");
    assert_eq!(unreachable[0]["server"], "down", "{json}");
    let error = unreachable[0]["error"].as_str().unwrap();
    assert!(error.to_lowercase().contains("refused"), "{json}");
    let orphans: Vec<&Value> = report["orphans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|orphan| &orphan["database"])
        .collect();
    assert_eq!(
        orphans,
        ["ghost"],
        "the reachable server is checked: {json}"
    );
    assert_eq!(report["missing"], serde_json::json!([]), "{json}");
}

// output

/// Whether a child ended the way a command whose reader went away should: no panic, no
/// backtrace, and not Rust's panic exit code.
#[track_caller]
fn assert_ended_quietly(status: std::process::ExitStatus, stderr: &str) {
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("backtrace"), "{stderr}");
    assert_ne!(status.code(), Some(101), "{stderr}");
    assert!(
        matches!(status.code(), Some(0 | 141)),
        "{status:?}: {stderr}"
    );
}

#[test]
fn a_reader_that_closes_the_pipe_early_ends_the_command_quietly() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;

    let sandbox = sandbox_with(&["alpha"]);
    // Far more than a pipe holds (64 KiB), so the binary is still writing when the pipe
    // closes; copies of alpha's catalog row, since listing never opens their databases.
    support::execute_sql(
        &sandbox.catalog_file(),
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
         INSERT INTO tenants (id, name, status, plan, data, server, database_name,
                              retry_after_secs, reason, created_at, updated_at)
         SELECT printf('t%04d', i), name, status, plan, data, server, printf('t%04d', i),
                retry_after_secs, reason, created_at, updated_at
         FROM n, tenants WHERE tenants.id = 'alpha'",
    );

    for args in [&["tenants", "list"][..], &["--json", "tenants", "list"]] {
        let mut command = sandbox.command(args);
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = support::KillOnDrop(command.spawn().expect("the binary starts"));
        let stdout = child.0.stdout.take().expect("stdout is piped");
        let mut first = String::new();
        BufReader::new(stdout).read_line(&mut first).unwrap();
        assert!(!first.is_empty(), "{args:?} printed nothing");

        let status = support::wait_bounded(&mut child.0).expect("the binary exits");
        let mut stderr = String::new();
        let mut pipe = child.0.stderr.take().expect("stderr is piped");
        pipe.read_to_string(&mut stderr).unwrap();
        assert_ended_quietly(status, &stderr);
    }
}

// configuration

#[test]
fn an_unknown_key_in_the_config_file_exits_78_naming_it() {
    let sandbox = Sandbox::new();
    std::fs::write(
        sandbox.path().join("bad.toml"),
        "[pool]\nmax_conections = 3\n",
    )
    .unwrap();
    let refused = sandbox
        .run(&["--config", "bad.toml", "tenants", "list"])
        .exited_with(CONFIG);
    refused.error_line(&["max_conections"]);
}

#[test]
fn a_bad_environment_value_exits_78_naming_the_key() {
    let sandbox = Sandbox::new();
    let env = [("TENANCY_POOL_MAX_CONNECTIONS", "lots")];
    let refused = sandbox
        .run_with_env(&["tenants", "list"], &env)
        .exited_with(CONFIG);
    refused.error_line(&["max_connections"]);
}

#[test]
fn a_missing_explicit_config_file_exits_78_naming_it() {
    let sandbox = Sandbox::new();
    let refused = sandbox
        .run(&["--config", "absent.toml", "tenants", "list"])
        .exited_with(CONFIG);
    refused.error_line(&["absent.toml"]);
}

#[test]
fn a_tenancy_toml_in_the_working_directory_is_read() {
    let sandbox = Sandbox::new();
    std::fs::write(
        sandbox.path().join("tenancy.toml"),
        "[pool]\nmax_connections = 0\n",
    )
    .unwrap();
    let refused = sandbox.run(&["tenants", "list"]).exited_with(CONFIG);
    refused.error_line(&["pool.max_connections"]);
}

#[test]
fn every_command_has_help() {
    let sandbox = Sandbox::new();
    let commands: [&[&str]; 6] = [
        &["--help"],
        &["serve", "--help"],
        &["tenants", "create", "--help"],
        &["tenants", "maintenance", "--help"],
        &["domains", "add", "--help"],
        &["doctor", "--help"],
    ];
    for args in commands {
        let help = sandbox.run(args).succeeded();
        assert!(help.stdout.contains("Usage:"), "{}", help.stdout);
    }
}

// traffic

#[test]
fn traffic_rules_are_set_shown_and_cleared_per_plan_and_tenant() {
    let sandbox = sandbox_with(&["alpha"]);
    sandbox
        .run(&["tenants", "update", "alpha", "--plan", "pro"])
        .succeeded();
    let plan = [
        "traffic", "set", "--plan", "pro", "--rate", "5", "--burst", "10",
    ];
    sandbox.run(&plan).succeeded();
    let own = [
        "traffic",
        "set",
        "--tenant",
        "alpha",
        "--block",
        "192.0.2.0/24",
    ];
    sandbox.run(&own).succeeded();

    let shown = sandbox.json(&["traffic", "show", "--tenant", "alpha"]);
    assert_eq!(shown["effective"]["rate"]["per_second"], 5, "{shown}");
    assert_eq!(shown["effective"]["block"][0], "192.0.2.0/24", "{shown}");
    assert_eq!(shown["own"]["rate"], Value::Null, "{shown}");
    let all = sandbox.json(&["traffic", "show"]);
    assert_eq!(all.as_array().map(Vec::len), Some(2), "{all}");

    sandbox
        .run(&["traffic", "clear", "--plan", "pro"])
        .succeeded();
    let shown = sandbox.json(&["traffic", "show", "--tenant", "alpha"]);
    assert_eq!(shown["effective"]["rate"], Value::Null, "{shown}");
}

#[test]
fn traffic_commands_refuse_bad_input_naming_it() {
    let sandbox = sandbox_with(&["alpha"]);
    let cases: [(&[&str], &str); 5] = [
        (&["traffic", "set", "--tenant", "alpha"], "nothing to set"),
        (
            &[
                "traffic", "set", "--plan", "pro", "--rate", "0", "--burst", "1",
            ],
            "per_second",
        ),
        (
            &["traffic", "set", "--tenant", "nobody", "--unlimited"],
            "nobody",
        ),
        (&["traffic", "clear", "--plan", "pro"], "plan:pro"),
        (&["traffic", "show", "--plan", "has space"], "plan"),
    ];
    for (args, needle) in cases {
        sandbox.run(args).failed().error_line(&[needle]);
    }
    let usage = sandbox.run(&["traffic", "set", "--plan", "pro", "--allow", "nonsense"]);
    assert_eq!(usage.code, Some(2), "{usage:#?}");
    assert!(usage.stderr.contains("nonsense"), "{usage:#?}");
}

#[test]
fn a_delete_warns_about_nothing_when_all_went_well() {
    let sandbox = Sandbox::new();
    for round in 0..5 {
        sandbox.run(&["tenants", "create", "alpha"]).succeeded();
        let deleted = sandbox
            .run(&["tenants", "delete", "alpha", "--yes"])
            .succeeded();
        assert!(
            !deleted.stderr.contains("WARN"),
            "round {round}: {}",
            deleted.stderr
        );
    }
}

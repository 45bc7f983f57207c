//! `tenancy serve --demo` on a real socket: the notes workload, central routes, request
//! logs, changes made by another process, and graceful shutdown.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{PATIENCE, Response, Sandbox, Server};

const DEMO_TENANTS: [&str; 3] = ["acme", "globex", "initech"];

fn demo() -> (Sandbox, Server) {
    let sandbox = Sandbox::new();
    let server = sandbox.serve(&["--demo"]);
    (sandbox, server)
}

fn titles(answer: &Response) -> Vec<String> {
    let notes = answer.json();
    let notes = notes.as_array().expect("a listing is an array");
    notes
        .iter()
        .map(|note| {
            note["title"]
                .as_str()
                .expect("a note has a title")
                .to_owned()
        })
        .collect()
}

fn post_note(server: &Server, host: &str, title: &str) -> Value {
    let body = json!({ "title": title, "body": "text" }).to_string();
    let answer = server.request_json("POST", host, "/notes", body.as_bytes());
    assert_eq!(answer.status, 201, "{answer:#?}");
    answer.json()
}

fn note_count(server: &Server, host: &str) -> usize {
    let answer = server.request("GET", host, "/notes?limit=100");
    assert_eq!(answer.status, 200, "{answer:#?}");
    titles(&answer).len()
}

/// Polls until `host` answers `/notes` with `status`. The promise is one second; the
/// deadline is wider so that a loaded machine does not fail the test.
fn wait_for_status(server: &Server, host: &str, status: u16) -> Response {
    let seen = support::eventually(Duration::from_secs(10), || {
        let answer = server.request("GET", host, "/notes");
        (answer.status == status).then_some(answer)
    });
    seen.unwrap_or_else(|| panic!("{host} never answered {status}"))
}

#[test]
fn demo_tenants_answer_with_their_own_notes() {
    let (_sandbox, server) = demo();
    for id in DEMO_TENANTS {
        let answer = server.request("GET", &format!("{id}.localhost"), "/notes");
        assert_eq!(answer.status, 200, "{answer:#?}");
        let expected: Vec<String> = (1..=5).rev().map(|n| format!("{id}: note {n}")).collect();
        assert_eq!(titles(&answer), expected, "newest first, only {id}'s notes");
    }
}

#[test]
fn a_listing_defaults_to_ten_notes_and_refuses_bad_limits() {
    let (_sandbox, server) = demo();
    for n in 6..=12 {
        post_note(&server, "acme.localhost", &format!("acme: note {n}"));
    }

    let default = server.request("GET", "acme.localhost", "/notes");
    let titles = titles(&default);
    assert_eq!(titles.len(), 10);
    assert_eq!(titles[0], "acme: note 12");
    let three = server.request("GET", "acme.localhost", "/notes?limit=3");
    assert_eq!(self::titles(&three).len(), 3);
    assert_eq!(note_count(&server, "acme.localhost"), 12);

    for limit in ["0", "101", "abc", "-1", ""] {
        let path = format!("/notes?limit={limit}");
        let answer = server.request("GET", "acme.localhost", &path);
        answer.assert_problem(400, "invalid_limit");
    }
}

#[test]
fn posting_a_note_creates_it_and_bad_bodies_write_nothing() {
    let (_sandbox, server) = demo();
    let created = post_note(&server, "globex.localhost", "globex: hello");
    assert_eq!(created["title"], "globex: hello");
    assert_eq!(created["body"], "text");
    assert!(created["id"].is_i64(), "{created}");
    let created_at = created["created_at"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(created_at).is_ok(),
        "created_at is RFC 3339: {created_at}"
    );

    let host = "globex.localhost";
    let oversized = json!({ "title": "big", "body": "x".repeat(65 * 1024) }).to_string();
    let cases: [(&[u8], u16, &str); 5] = [
        (b"{\"title\": ", 400, "malformed_json"),
        (b"{\"title\": \"only a title\"}", 422, "invalid_note"),
        (b"{\"title\": \"\", \"body\": \"x\"}", 422, "invalid_note"),
        (
            b"{\"title\": \"t\", \"body\": \"   \"}",
            422,
            "invalid_note",
        ),
        (oversized.as_bytes(), 413, "body_too_large"),
    ];
    for (body, status, code) in cases {
        let answer = server.request_json("POST", host, "/notes", body);
        answer.assert_problem(status, code);
    }
    assert_eq!(
        note_count(&server, host),
        6,
        "only the valid note was written"
    );
}

#[test]
fn a_note_is_read_by_id_and_deleted_once() {
    let (_sandbox, server) = demo();
    let host = "initech.localhost";
    let id = post_note(&server, host, "initech: to delete")["id"].clone();
    let path = format!("/notes/{id}");

    let shown = server.request("GET", host, &path);
    assert_eq!(shown.status, 200, "{shown:#?}");
    assert_eq!(shown.json()["title"], "initech: to delete");
    server
        .request("GET", host, "/notes/999999")
        .assert_problem(404, "note_not_found");
    server
        .request("GET", host, "/notes/abc")
        .assert_problem(404, "note_not_found");

    let deleted = server.request("DELETE", host, &path);
    assert_eq!(deleted.status, 204, "{deleted:#?}");
    server
        .request("DELETE", host, &path)
        .assert_problem(404, "note_not_found");
    server
        .request("GET", host, &path)
        .assert_problem(404, "note_not_found");
}

#[test]
fn a_note_of_one_tenant_is_not_found_through_another() {
    let (_sandbox, server) = demo();
    // Each tenant numbers its own notes: acme's sixth note has no twin in globex's five.
    let id = post_note(&server, "acme.localhost", "acme: private")["id"].clone();
    let answer = server.request("GET", "globex.localhost", &format!("/notes/{id}"));
    answer.assert_problem(404, "note_not_found");
}

#[test]
fn central_hosts_answer_health_checks_and_unknown_hosts_get_404() {
    let (_sandbox, server) = demo();
    for host in ["localhost", "127.0.0.1", "LOCALHOST:8080"] {
        let health = server.request("GET", host, "/healthz");
        assert_eq!(health.status, 200, "{health:#?}");
        let ready = server.request("GET", host, "/readyz");
        assert_eq!(ready.status, 200, "{ready:#?}");
        assert_eq!(ready.json()["tenants"], 3);
    }
    server
        .request("GET", "localhost", "/notes")
        .assert_problem(404, "not_found");
    server
        .request("GET", "nobody.localhost", "/notes")
        .assert_problem(404, "tenant_not_found");
    server
        .request("GET", "shop.example.com", "/notes")
        .assert_problem(404, "tenant_not_found");
}

#[test]
fn a_change_made_by_the_cli_reaches_the_running_server() {
    let (sandbox, server) = demo();
    wait_for_status(&server, "acme.localhost", 200);

    sandbox
        .run(&["tenants", "suspend", "acme", "--reason", "unpaid"])
        .succeeded();
    wait_for_status(&server, "acme.localhost", 403).assert_problem(403, "tenant_suspended");
    let other = server.request("GET", "globex.localhost", "/notes");
    assert_eq!(other.status, 200, "other tenants are untouched: {other:#?}");

    let on = [
        "tenants",
        "maintenance",
        "globex",
        "--on",
        "--retry-after",
        "120",
    ];
    sandbox.run(&on).succeeded();
    let down = wait_for_status(&server, "globex.localhost", 503);
    down.assert_problem(503, "tenant_maintenance");
    assert_eq!(down.header("retry-after"), Some("120"));

    sandbox.run(&["tenants", "activate", "acme"]).succeeded();
    wait_for_status(&server, "acme.localhost", 200);

    sandbox
        .run(&["domains", "add", "acme", "notes.acme.test"])
        .succeeded();
    let by_domain = wait_for_status(&server, "notes.acme.test", 200);
    assert!(
        titles(&by_domain)
            .iter()
            .all(|title| title.starts_with("acme: "))
    );
}

#[test]
fn sigterm_shuts_the_server_down_with_exit_code_zero() {
    let (_sandbox, mut server) = demo();
    assert_eq!(
        server.request("GET", "acme.localhost", "/notes").status,
        200
    );
    assert_eq!(server.terminate(), Some(0));
}

fn wait_for_log_line(server: &Server, matches: impl Fn(&str) -> bool) -> String {
    let line = support::eventually(PATIENCE, || {
        server.stderr_lines().into_iter().find(|line| matches(line))
    });
    line.unwrap_or_else(|| panic!("no such log line in {:#?}", server.stderr_lines()))
}

#[test]
fn each_request_is_logged_with_tenant_method_path_status_and_latency() {
    let (_sandbox, server) = demo();
    server.request("GET", "acme.localhost", "/notes/424242");

    let line = wait_for_log_line(&server, |line| line.contains("/notes/424242"));
    for field in [
        "tenant_id=\"acme\"",
        "method=GET",
        "status=404",
        "latency_ms=",
    ] {
        assert!(line.contains(field), "'{field}' missing from: {line}");
    }
    assert!(
        !line.contains('\u{1b}'),
        "no colour codes in a log that is not a terminal"
    );
}

#[test]
fn json_logs_are_one_object_per_line() {
    let sandbox = Sandbox::new();
    let server = sandbox.serve(&["--demo", "--log-format", "json"]);
    server.request("POST", "globex.localhost", "/notes");

    let line = wait_for_log_line(&server, |line| line.contains("\"tenancy::request\""));
    for line in server.stderr_lines() {
        let parsed: Result<Value, _> = serde_json::from_str(&line);
        assert!(parsed.is_ok(), "not a JSON object: {line}");
    }
    let event: Value = serde_json::from_str(&line).unwrap();
    let fields = &event["fields"];
    assert_eq!(fields["tenant_id"], "globex", "{event}");
    assert_eq!(fields["method"], "POST", "{event}");
    assert_eq!(fields["path"], "/notes", "{event}");
    assert!(fields["status"].is_u64(), "{event}");
    assert!(fields["latency_ms"].is_number(), "{event}");
}

#[test]
fn serve_without_demo_creates_no_tenants() {
    let sandbox = Sandbox::new();
    let server = sandbox.serve(&[]);
    let ready = server.request("GET", "localhost", "/readyz");
    assert_eq!(ready.json()["tenants"], 0, "{ready:#?}");
    server
        .request("GET", "acme.localhost", "/notes")
        .assert_problem(404, "tenant_not_found");
}

#[test]
fn traffic_rules_set_by_the_cli_reach_the_running_server() {
    let sandbox = Sandbox::new();
    let server = sandbox.serve_with_env(&["--demo"], &[("TENANCY_TRUSTED_PROXIES", "127.0.0.1")]);
    wait_for_status(&server, "acme.localhost", 200);

    let limit = [
        "traffic", "set", "--tenant", "acme", "--rate", "1", "--burst", "2",
    ];
    sandbox.run(&limit).succeeded();
    let limited = wait_for_status(&server, "acme.localhost", 429);
    limited.assert_problem(429, "rate_limited");
    assert!(limited.header("retry-after").is_some(), "{limited:#?}");
    assert!(limited.header("ratelimit-policy").is_some(), "{limited:#?}");
    let other = server.request("GET", "initech.localhost", "/notes");
    assert_eq!(other.status, 200, "other tenants keep their own allowance");

    let allow = [
        "traffic",
        "set",
        "--tenant",
        "globex",
        "--allow",
        "10.0.0.0/8",
    ];
    sandbox.run(&allow).succeeded();
    wait_for_status(&server, "globex.localhost", 403).assert_problem(403, "ip_not_allowed");
    // The test connects from 127.0.0.1, a trusted proxy: the header names the client.
    let forwarded = [("X-Forwarded-For", "10.1.2.3")];
    let proxied = server.get_with("globex.localhost", "/notes", &forwarded);
    assert_eq!(proxied.status, 200, "{proxied:#?}");

    sandbox
        .run(&["traffic", "clear", "--tenant", "globex"])
        .succeeded();
    wait_for_status(&server, "globex.localhost", 200);
}

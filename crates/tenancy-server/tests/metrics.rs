//! `GET /metrics` on a real socket: Prometheus text of the pools and requests, behind the
//! `metrics:read` scope unless the configuration makes it public, never on a tenant host.

mod support;

use support::{Response, Sandbox, Server};

/// Creates a key with the CLI and returns its secret.
fn key(sandbox: &Sandbox, scope: &str) -> String {
    let created = sandbox.json(&["keys", "create", "--scope", scope]);
    created["secret"].as_str().unwrap().to_owned()
}

fn scrape(server: &Server, secret: Option<&str>) -> Response {
    let bearer = secret.map(|secret| format!("Bearer {secret}"));
    let headers: Vec<(&str, &str)> = bearer
        .iter()
        .map(|value| ("Authorization", value.as_str()))
        .collect();
    server.get_with("localhost", "/metrics", &headers)
}

/// The value of the sample line `series` (name and labels exactly as exposed).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.trim().parse().expect("a sample value is a number"))
}

#[test]
fn metrics_need_the_metrics_scope_and_show_pools_and_requests() {
    let sandbox = Sandbox::new();
    let server = sandbox.serve(&["--demo"]);
    let reader = key(&sandbox, "metrics:read");
    let other = key(&sandbox, "tenants:read");

    scrape(&server, None).assert_problem(401, "unauthorized");
    scrape(&server, Some(&other)).assert_problem(403, "forbidden");

    for _ in 0..3 {
        assert_eq!(
            server.request("GET", "acme.localhost", "/notes").status,
            200
        );
    }
    let answer = scrape(&server, Some(&reader));
    assert_eq!(answer.status, 200, "{answer:#?}");
    assert!(
        answer
            .header("content-type")
            .unwrap_or("")
            .starts_with("text/plain"),
        "{answer:#?}"
    );
    let text = &answer.body;
    let served = r#"tenancy_http_requests_total{kind="tenant",status="2xx"}"#;
    assert_eq!(sample(text, served), Some(3.0), "{text}");
    assert_eq!(
        sample(text, r#"tenancy_pool_budget{server="local"}"#),
        Some(32.0)
    );
    let opened = sample(text, r#"tenancy_pool_connections_open{server="local"}"#);
    assert!(opened.is_some_and(|open| open >= 1.0), "{text}");
    let misses = sample(text, r#"tenancy_pool_checkouts_miss_total{server="local"}"#);
    assert!(misses.is_some_and(|misses| misses >= 1.0), "{text}");
}

#[test]
fn public_metrics_answer_without_a_key_but_never_on_a_tenant_host() {
    let sandbox = Sandbox::new();
    let server = sandbox.serve_with_env(&["--demo"], &[("TENANCY_METRICS_PUBLIC", "true")]);

    let answer = scrape(&server, None);
    assert_eq!(answer.status, 200, "{answer:#?}");
    assert!(answer.body.contains("tenancy_pool_budget"), "{answer:#?}");

    let on_tenant = server.request("GET", "acme.localhost", "/metrics");
    assert_eq!(on_tenant.status, 404, "{on_tenant:#?}");
    assert!(!on_tenant.body.contains("tenancy_pool"), "{on_tenant:#?}");
}

#[test]
fn a_bad_metrics_switch_is_a_configuration_error_naming_the_key() {
    let sandbox = Sandbox::new();
    let outcome = sandbox
        .run_with_env(&["tenants", "list"], &[("TENANCY_METRICS_PUBLIC", "maybe")])
        .exited_with(78);
    outcome.stderr_mentions(&["metrics.public"]);
}

//! `tenancy tenants maintenance`: the Retry-After range is the API's, and nothing changes
//! when a value is refused.

mod support;

use support::Sandbox;

#[test]
fn retry_after_outside_one_to_a_day_is_refused_and_changes_nothing() {
    let sandbox = Sandbox::new();
    sandbox.run(&["tenants", "create", "globex"]).succeeded();
    for bad in ["0", "86401", "soon"] {
        let args = [
            "tenants",
            "maintenance",
            "globex",
            "--on",
            "--retry-after",
            bad,
        ];
        let outcome = sandbox.run(&args).exited_with(2);
        outcome.stderr_mentions(&["--retry-after"]);
        assert_eq!(
            sandbox.status_of("globex"),
            "active",
            "after --retry-after {bad}"
        );
    }
    let args = [
        "tenants",
        "maintenance",
        "globex",
        "--on",
        "--retry-after",
        "86400",
    ];
    sandbox.run(&args).succeeded();
    assert_eq!(sandbox.status_of("globex"), "maintenance");
}

#[test]
fn ending_maintenance_forgets_its_retry_after() {
    let sandbox = Sandbox::new();
    sandbox.run(&["tenants", "create", "globex"]).succeeded();
    for end in ["--off", "activate"] {
        let args = [
            "tenants",
            "maintenance",
            "globex",
            "--on",
            "--retry-after",
            "300",
        ];
        sandbox.run(&args).succeeded();
        let shown = sandbox.json(&["tenants", "show", "globex"]);
        assert_eq!(shown["tenant"]["retry_after_secs"], 300);

        match end {
            "--off" => sandbox.run(&["tenants", "maintenance", "globex", "--off"]),
            _ => sandbox.run(&["tenants", "activate", "globex"]),
        }
        .succeeded();
        let shown = sandbox.json(&["tenants", "show", "globex"]);
        assert_eq!(shown["tenant"]["status"], "active");
        assert_eq!(
            shown["tenant"]["retry_after_secs"],
            serde_json::Value::Null,
            "{end}"
        );
    }
}

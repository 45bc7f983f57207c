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

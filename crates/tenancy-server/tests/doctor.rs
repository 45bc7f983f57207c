//! A process killed between two provisioning steps, and `tenancy doctor --repair` after it.

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use support::{KillOnDrop, PATIENCE, Sandbox};

/// A tenant migration that keeps SQLite busy for far longer than the test needs (about a
/// minute of CPU on the machine it was written on; the test kills it within seconds).
const SLOW_MIGRATION: &str = "CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT, body TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000000)
SELECT count(*) FROM c;
";

const QUICK_MIGRATION: &str =
    "CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT, body TEXT);\n";

fn migrations_dir(sandbox: &Sandbox, name: &str, sql: &str) -> PathBuf {
    let dir = sandbox.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("0001_notes.sql"), sql).unwrap();
    dir
}

fn env_for(dir: &Path) -> [(&'static str, &str); 1] {
    [(
        "TENANCY_TENANT_MIGRATIONS_DIR",
        dir.to_str().expect("the temporary path is UTF-8"),
    )]
}

fn partial_file(sandbox: &Sandbox, id: &str) -> PathBuf {
    let mut path = sandbox.tenant_file(id).into_os_string();
    path.push(".partial");
    PathBuf::from(path)
}

/// Starts `tenants create slow` with a slow migration and kills it once the catalog says
/// `provisioning` and the partial database exists, that is, between two steps.
fn kill_during_provisioning(sandbox: &Sandbox) {
    // The catalog exists before two processes use it at once: two first opens racing each
    // other's schema migration is a separate problem, not the one under test here.
    sandbox.run(&["tenants", "list"]).succeeded();
    let slow = migrations_dir(sandbox, "slow-migrations", SLOW_MIGRATION);
    let mut command = sandbox.command(&["tenants", "create", "slow"]);
    command
        .envs(env_for(&slow))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut creating = KillOnDrop(command.spawn().expect("tenants create starts"));

    let partial = partial_file(sandbox, "slow");
    let mut last = None;
    let reached = support::eventually(PATIENCE, || {
        let shown = sandbox.run(&["--json", "tenants", "show", "slow"]);
        let provisioning = shown.code == Some(0)
            && shown.json()["tenant"]["status"] == "provisioning"
            && partial.exists();
        last = Some(shown);
        provisioning.then_some(())
    });
    assert!(
        reached.is_some(),
        "never saw 'slow' provisioning with {}; last: {last:#?}",
        partial.display()
    );
    assert!(
        creating.0.try_wait().unwrap().is_none(),
        "the creation ended before it could be killed; is the slow migration slow enough?"
    );

    creating.0.kill().expect("SIGKILL is delivered");
    creating.0.wait().unwrap();
}

#[test]
fn a_tenant_killed_while_provisioning_is_never_served_and_repair_fails_it_cleanly() {
    let sandbox = Sandbox::new();
    kill_during_provisioning(&sandbox);

    assert_eq!(sandbox.status_of("slow"), "provisioning");
    {
        let server = sandbox.serve(&[]);
        let answer = server.request("GET", "slow.localhost", "/notes");
        answer.assert_problem(503, "tenant_provisioning");
        assert!(answer.header("retry-after").is_some(), "{answer:#?}");
    }

    let doctor = sandbox.run(&["doctor"]).failed();
    assert!(doctor.stdout.contains("stuck"), "{}", doctor.stdout);
    let report = sandbox.run(&["--json", "doctor"]).failed().json();
    assert_eq!(report["report"]["stuck"][0]["id"], "slow", "{report}");

    let repair = ["--json", "doctor", "--repair", "--stale-after", "0"];
    let repaired = sandbox.run(&repair).succeeded().json();
    assert_eq!(
        repaired["repair"]["tenants"][0]["outcome"], "failed",
        "{repaired}"
    );
    assert_eq!(sandbox.status_of("slow"), "failed");
    assert!(
        !partial_file(&sandbox, "slow").exists(),
        "the partial database is removed"
    );
    assert!(!sandbox.tenant_file("slow").exists());
    sandbox.run(&["doctor"]).succeeded();

    let quick = migrations_dir(&sandbox, "quick-migrations", QUICK_MIGRATION);
    let create = ["tenants", "create", "slow"];
    sandbox.run_with_env(&create, &env_for(&quick)).succeeded();
    assert_eq!(sandbox.status_of("slow"), "active");
    assert!(sandbox.tenant_file("slow").exists());
}

#[test]
fn repair_leaves_a_recent_provisioning_tenant_alone() {
    let sandbox = Sandbox::new();
    kill_during_provisioning(&sandbox);

    let repaired = sandbox
        .run(&["--json", "doctor", "--repair"])
        .failed()
        .json();
    let outcome = repaired["repair"]["tenants"][0]["outcome"]
        .as_str()
        .unwrap();
    assert!(outcome.starts_with("skipped"), "{repaired}");
    assert_eq!(sandbox.status_of("slow"), "provisioning");
    assert!(partial_file(&sandbox, "slow").exists());
}

#[test]
fn a_completed_database_with_a_provisioning_row_is_repaired_to_active() {
    let sandbox = Sandbox::new();
    sandbox
        .run(&["tenants", "create", "done", "--seed"])
        .succeeded();
    // The state a crash right after the rename, before marking the tenant active, leaves.
    support::execute_sql(
        &sandbox.catalog_file(),
        "UPDATE tenants SET status = 'provisioning' WHERE id = 'done'",
    );
    assert_eq!(sandbox.status_of("done"), "provisioning");
    sandbox.run(&["doctor"]).failed();

    let repair = ["--json", "doctor", "--repair", "--stale-after", "0"];
    let repaired = sandbox.run(&repair).succeeded().json();
    assert_eq!(
        repaired["repair"]["tenants"][0]["outcome"], "active",
        "{repaired}"
    );
    assert_eq!(sandbox.status_of("done"), "active");

    let server = sandbox.serve(&[]);
    let notes = server.request("GET", "done.localhost", "/notes");
    assert_eq!(notes.status, 200, "{notes:#?}");
    assert_eq!(notes.json().as_array().map(Vec::len), Some(5));
}

#[test]
fn a_half_built_database_nobody_is_building_is_removed_by_repair() {
    let sandbox = Sandbox::new();
    sandbox.run(&["tenants", "create", "alpha"]).succeeded();
    let stray = partial_file(&sandbox, "ghost");
    std::fs::write(&stray, b"").unwrap();
    sandbox.run(&["doctor"]).failed();

    sandbox.run(&["doctor", "--repair"]).succeeded();
    assert!(!stray.exists());
}

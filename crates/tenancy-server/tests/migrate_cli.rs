//! `tenancy migrate` end to end: exit codes, and a run killed midway that `--resume`
//! finishes with only the tenants it had not finished.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use tempfile::TempDir;

const NOTES: &str = "CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT, body TEXT);";

/// Slow on purpose, so a run can be killed while it is under way.
const SLOW_V2: &str = "CREATE TABLE counted AS
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 400000)
SELECT count(*) AS n FROM c;";

fn tenancy(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tenancy"));
    for (key, _) in std::env::vars().filter(|(key, _)| key.starts_with("TENANCY_")) {
        command.env_remove(key);
    }
    command
        .current_dir(dir)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .env("TENANCY_TENANT_MIGRATIONS_DIR", dir.join("migrations"));
    command
}

fn run(dir: &Path, args: &[&str]) -> Output {
    tenancy(dir).args(args).output().expect("the binary runs")
}

fn write_migrations(dir: &Path, files: &[(&str, &str)]) {
    let folder = dir.join("migrations");
    std::fs::create_dir_all(&folder).unwrap();
    for (name, sql) in files {
        std::fs::write(folder.join(name), sql).unwrap();
    }
}

fn create_tenants(dir: &Path, count: usize) -> Vec<String> {
    let ids: Vec<String> = (1..=count).map(|n| format!("t{n:02}")).collect();
    for id in &ids {
        let output = run(dir, &["tenants", "create", id]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    ids
}

fn summary(output: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    // JSON Lines: one object per tenant as it finishes, then the summary.
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("every line of --json is one JSON object"))
        .collect();
    let (last, progress) = lines.split_last().expect("at least the summary");
    assert!(
        progress.iter().all(|line| line["event"] == "tenant"),
        "{stdout}"
    );
    assert_eq!(last["event"], "summary");
    last.clone()
}

fn tenants_with(summary: &serde_json::Value, status: Option<&str>) -> BTreeSet<String> {
    let results = summary["report"]["results"].as_array().expect("results");
    results
        .iter()
        .filter(|r| status.is_none_or(|s| r["status"] == s))
        .map(|r| r["tenant_id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_failing_tenant_makes_the_exit_code_non_zero_and_a_rerun_finishes_it() {
    let dir = TempDir::new().unwrap();
    write_migrations(dir.path(), &[("0001_notes.sql", NOTES)]);
    let ids = create_tenants(dir.path(), 3);
    let insert = "INSERT INTO notes (title) VALUES (NULL)";
    assert!(
        run(dir.path(), &["run", "--tenant", "t02", "--", insert])
            .status
            .success()
    );

    let strict = "CREATE TABLE n2 (id INTEGER PRIMARY KEY, title TEXT NOT NULL);
INSERT INTO n2 SELECT id, title FROM notes; DROP TABLE notes; ALTER TABLE n2 RENAME TO notes;";
    write_migrations(dir.path(), &[("0002_strict.sql", strict)]);
    let first = run(dir.path(), &["--json", "migrate"]);
    assert!(!first.status.success(), "a failed tenant fails the command");
    let report = summary(&first);
    assert_eq!(
        tenants_with(&report, Some("failed")),
        BTreeSet::from(["t02".to_owned()])
    );
    assert_eq!(tenants_with(&report, Some("migrated")).len(), ids.len() - 1);

    let fix = "UPDATE notes SET title = 'fixed' WHERE title IS NULL";
    assert!(
        run(dir.path(), &["run", "--tenant", "t02", "--", fix])
            .status
            .success()
    );
    let second = run(dir.path(), &["--json", "migrate"]);
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let migrated = tenants_with(&summary(&second), Some("migrated"));
    assert_eq!(migrated, BTreeSet::from(["t02".to_owned()]));

    let status = run(dir.path(), &["--json", "migrate", "status", "--pending"]);
    assert!(status.status.success());
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(
        status["tenants"].as_array().unwrap().len(),
        0,
        "nothing pending: {status}"
    );
}

#[test]
fn a_run_killed_midway_is_resumed_with_only_the_unfinished_tenants() {
    let dir = TempDir::new().unwrap();
    write_migrations(dir.path(), &[("0001_notes.sql", NOTES)]);
    let ids = create_tenants(dir.path(), 10);
    write_migrations(dir.path(), &[("0002_slow.sql", SLOW_V2)]);

    let mut child = tenancy(dir.path())
        .args(["--json", "migrate", "--parallel", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("migrate starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut finished = BTreeSet::new();
    while finished.len() < 3 {
        let line = lines
            .next()
            .expect("a progress line before the end")
            .unwrap();
        let event: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            event["event"], "tenant",
            "the run ended before it could be killed"
        );
        finished.insert(event["result"]["tenant_id"].as_str().unwrap().to_owned());
    }
    child.kill().expect("the run is killed");
    child.wait().unwrap();

    let resumed = run(dir.path(), &["--json", "migrate", "--resume"]);
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let handled = tenants_with(&summary(&resumed), None);
    let expected: BTreeSet<String> = ids
        .iter()
        .filter(|id| !finished.contains(*id))
        .cloned()
        .collect();
    assert_eq!(handled, expected);

    let again = run(dir.path(), &["migrate", "--resume"]);
    assert!(!again.status.success(), "nothing is left to resume");
    assert!(String::from_utf8_lossy(&again.stderr).contains("no interrupted migration run"));
}

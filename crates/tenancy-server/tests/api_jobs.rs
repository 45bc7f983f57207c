//! The admin API's lifecycle and database jobs on a real socket, through the real binary:
//! background creation and deletion, reset, migrating one tenant, migration runs with their
//! progress (and a run whose server was killed, resumed), seed, SQL, doctor; their bodies,
//! scopes and audit entries. Keys, scopes and unknown fields of every route are checked
//! route by route in `api.rs`.

mod support;

use std::collections::BTreeSet;

use serde_json::{Value, json};
use support::network::{PgObjects, drop_postgres, postgres_url};
use support::{Response, Sandbox, Server};

/// A first migration every backend takes.
const NOTES: &str = "CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT NOT NULL);";
/// A second one.
const TAGS: &str = "CREATE TABLE tags (id INTEGER PRIMARY KEY, name TEXT NOT NULL);";
/// Slow on SQLite on purpose, so that a run is still under way when its server is killed.
const SLOW: &str = "CREATE TABLE counted AS
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 400000)
SELECT count(*) AS n FROM c;";

/// A sandbox with its own tenant migrations (or the demo's), an admin key, and a server
/// started once the tenants it needs beforehand are made.
struct Jobs {
    sandbox: Sandbox,
    server: Option<Server>,
    admin: String,
    admin_id: String,
}

impl Jobs {
    /// A sandbox whose tenants get `migrations`; the demo's (with its seeder) when empty.
    fn new(migrations: &[(&str, &str)]) -> Jobs {
        Jobs::with_config(migrations, "")
    }

    /// [`Jobs::new`] with more configuration in `tenancy.toml`.
    fn with_config(migrations: &[(&str, &str)], config: &str) -> Jobs {
        let sandbox = Sandbox::new();
        let mut toml = String::new();
        if !migrations.is_empty() {
            let folder = sandbox.path().join("migrations");
            toml.push_str(&format!("tenant_migrations_dir = {:?}\n", folder));
        }
        toml.push_str(config);
        std::fs::write(sandbox.path().join("tenancy.toml"), toml).unwrap();
        let jobs = Jobs {
            admin: String::new(),
            admin_id: String::new(),
            sandbox,
            server: None,
        };
        for (name, sql) in migrations {
            jobs.add_migration(name, sql);
        }
        let (admin, admin_id) = jobs.key("admin");
        Jobs {
            admin,
            admin_id,
            ..jobs
        }
    }

    fn add_migration(&self, name: &str, sql: &str) {
        let folder = self.sandbox.path().join("migrations");
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join(name), sql).unwrap();
    }

    /// Creates tenants with the CLI, before the server starts.
    fn create(&self, ids: &[&str], extra: &[&str]) {
        for id in ids {
            let mut args = vec!["tenants", "create", id];
            args.extend_from_slice(extra);
            self.sandbox.run(&args).succeeded();
        }
    }

    /// A key with one scope, made with the CLI: (secret, id).
    fn key(&self, scope: &str) -> (String, String) {
        let created = self.sandbox.json(&["keys", "create", "--scope", scope]);
        (
            created["secret"].as_str().unwrap().to_owned(),
            created["key"]["id"].as_str().unwrap().to_owned(),
        )
    }

    fn serve(mut self) -> Jobs {
        self.server = Some(self.sandbox.serve(&[]));
        self
    }

    fn port(&self) -> u16 {
        self.server.as_ref().expect("the server is started").port
    }

    fn call(&self, key: Option<&str>, method: &str, path: &str, body: Option<Value>) -> Response {
        call_api(self.port(), key, method, path, body)
    }

    fn admin(&self, method: &str, path: &str, body: Option<Value>) -> Response {
        self.call(Some(&self.admin), method, path, body)
    }

    /// GETs `path` until `done` holds for the answer, which it returns.
    fn poll(&self, path: &str, done: impl Fn(&Value) -> bool) -> Value {
        let mut last = Value::Null;
        let found = support::eventually(support::PATIENCE, || {
            let answer = self.admin("GET", path, None);
            assert_eq!(answer.status, 200, "{path}: {answer:#?}");
            last = answer.json();
            done(&last).then(|| last.clone())
        });
        found.unwrap_or_else(|| panic!("{path} never got there: {last:#}"))
    }

    /// Runs SQL on one tenant over the API and answers its result.
    fn sql(&self, tenant: &str, sql: &str) -> Value {
        let body = json!({ "sql": sql, "tenants": [tenant] });
        let answer = self.admin("POST", "/api/v1/sql", Some(body));
        assert_eq!(answer.status, 200, "{sql}: {answer:#?}");
        let result = answer.json()["results"][0].clone();
        assert_eq!(result["ok"], true, "{sql}: {result:#}");
        result
    }

    /// The actions of the audit entries made with the admin key.
    fn admin_actions(&self) -> BTreeSet<String> {
        let path = format!("/api/v1/audit?key_id={}&limit=500", self.admin_id);
        let answer = self.admin("GET", &path, None);
        answer.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| entry["action"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// An admin API request to the server on `port`, which threads can make without the
/// [`Jobs`] (whose server is not `Sync`).
fn call_api(
    port: u16,
    key: Option<&str>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Response {
    let bearer = key.map(|key| format!("Bearer {key}"));
    let headers: Vec<(&str, &str)> = bearer
        .iter()
        .map(|value| ("Authorization", value.as_str()))
        .collect();
    let body = body.map(|value| value.to_string());
    let body = body.as_deref().map(str::as_bytes);
    support::http_with(port, method, "localhost", path, body, &headers)
}

fn run_path(answer: &Response) -> String {
    assert_eq!(answer.status, 202, "{answer:#?}");
    let location = answer.header("location").expect("a run has a Location");
    let id = answer.json()["run"]["id"].as_i64().unwrap();
    assert_eq!(location, format!("/api/v1/migrations/{id}"));
    location.to_owned()
}

fn outcome<'a>(run: &'a Value, tenant: &str) -> &'a Value {
    let tenants = run["tenants"].as_array().expect("a run lists its tenants");
    let line = tenants.iter().find(|line| line["tenant_id"] == tenant);
    line.unwrap_or_else(|| panic!("{tenant} is not in {run:#}"))
}

// Creation and deletion

#[test]
fn a_background_creation_answers_202_and_is_polled_to_active() {
    let jobs = Jobs::new(&[("0001_notes.sql", NOTES)]).serve();
    let body = json!({ "id": "beta", "domains": ["beta.example"] });
    let answer = jobs.admin("POST", "/api/v1/tenants?background=true", Some(body));
    assert_eq!(answer.status, 202, "{answer:#?}");
    assert_eq!(answer.header("location"), Some("/api/v1/tenants/beta"));
    let status = answer.json()["tenant"]["status"].clone();
    assert!(status == "provisioning" || status == "active", "{status}");

    let shown = jobs.poll("/api/v1/tenants/beta", |t| {
        t["tenant"]["status"] != "provisioning"
    });
    assert_eq!(shown["tenant"]["status"], "active", "{shown:#}");
    assert_eq!(shown["domains"][0]["host"], "beta.example");
    let counted = jobs.sql("beta", "SELECT count(*) AS n FROM notes");
    assert_eq!(counted["rows"], json!([[0]]), "migrated: {counted:#}");
}

#[test]
fn a_background_creation_that_fails_ends_failed_with_the_reason() {
    let broken = "CREATE TABLE notes (id INTEGER PRIMARY KEY";
    let jobs = Jobs::new(&[("0001_notes.sql", broken)]).serve();
    let answer = jobs.admin(
        "POST",
        "/api/v1/tenants?background=true",
        Some(json!({ "id": "beta" })),
    );
    assert_eq!(answer.status, 202, "{answer:#?}");

    let shown = jobs.poll("/api/v1/tenants/beta", |t| {
        t["tenant"]["status"] != "provisioning"
    });
    assert_eq!(shown["tenant"]["status"], "failed", "{shown:#}");
    let reason = shown["tenant"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("migration 1"), "{reason}");
    assert!(
        reason.contains("incomplete input"),
        "the database's own words: {reason}"
    );
    assert!(!jobs.sandbox.tenant_file("beta").exists());
    let doctor = jobs.admin("GET", "/api/v1/doctor", None).json();
    assert_eq!(
        doctor["healthy"], true,
        "nothing half-built is left: {doctor:#}"
    );
}

#[test]
fn a_background_flag_that_is_not_a_boolean_is_refused() {
    let jobs = Jobs::new(&[]).serve();
    let answer = jobs.admin(
        "POST",
        "/api/v1/tenants?background=soon",
        Some(json!({ "id": "beta" })),
    );
    answer.assert_problem(422, "validation_failed");
    assert_eq!(answer.json()["field"], "background");
    jobs.admin("GET", "/api/v1/tenants/beta", None)
        .assert_problem(404, "tenant_not_found");
}

#[test]
fn a_delete_answers_202_while_the_storage_goes_then_the_tenant_is_gone() {
    let jobs = Jobs::new(&[]);
    jobs.create(&["acme"], &[]);
    let jobs = jobs.serve();
    let answer = jobs.admin("DELETE", "/api/v1/tenants/acme", None);
    assert_eq!(answer.status, 202, "{answer:#?}");
    assert_eq!(answer.header("location"), Some("/api/v1/tenants/acme"));
    assert_eq!(answer.json()["status"], "deleting");
    let host = support::http(jobs.port(), "GET", "acme.localhost", "/notes", None);
    assert_eq!(
        host.status, 404,
        "a deleting tenant is not served: {host:#?}"
    );

    let gone = support::eventually(support::PATIENCE, || {
        let answer = jobs.admin("GET", "/api/v1/tenants/acme", None);
        (answer.status == 404).then_some(answer)
    });
    gone.expect("the tenant is gone")
        .assert_problem(404, "tenant_not_found");
    assert!(!jobs.sandbox.tenant_file("acme").exists());
    jobs.admin("DELETE", "/api/v1/tenants/acme", None)
        .assert_problem(404, "tenant_not_found");
}

#[test]
fn creating_an_id_again_while_its_delete_runs_says_so_and_works_once_it_is_gone() {
    let jobs = Jobs::new(&[]);
    jobs.create(&["foxtrot"], &[]);
    let jobs = jobs.serve();
    let deleting = jobs.admin("DELETE", "/api/v1/tenants/foxtrot", None);
    assert_eq!(deleting.status, 202, "{deleting:#?}");

    let body = json!({ "id": "foxtrot" });
    for path in ["/api/v1/tenants", "/api/v1/tenants?background=true"] {
        let early = jobs.admin("POST", path, Some(body.clone()));
        early.assert_problem(409, "invalid_state");
        let detail = early.json()["detail"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(detail.contains("is deleting"), "{path}: {detail}");
    }

    let created = support::eventually(support::PATIENCE, || {
        let answer = jobs.admin("POST", "/api/v1/tenants", Some(body.clone()));
        (answer.status != 409).then_some(answer)
    });
    let created = created.expect("the id can be created once the delete is done");
    assert_eq!(created.status, 201, "{created:#?}");
    assert_eq!(created.json()["tenant"]["status"], "active");
}

// Reset

#[test]
fn a_reset_refuses_without_confirmation_and_wipes_the_data_with_it() {
    let jobs = Jobs::new(&[("0001_notes.sql", NOTES), ("0002_tags.sql", TAGS)]);
    jobs.create(&["acme", "globex"], &[]);
    let jobs = jobs.serve();
    jobs.sql("acme", "INSERT INTO notes (title) VALUES ('a'), ('b')");
    jobs.sql("globex", "INSERT INTO notes (title) VALUES ('kept')");

    let path = "/api/v1/tenants/acme/reset";
    for body in [None, Some(json!({})), Some(json!({ "confirm": "globex" }))] {
        let answer = jobs.admin("POST", path, body.clone());
        answer.assert_problem(422, "validation_failed");
        assert_eq!(answer.json()["field"], "confirm", "{body:?}");
    }
    let (write, _) = jobs.key("tenants:write");
    let answer = jobs.call(
        Some(&write),
        "POST",
        path,
        Some(json!({ "confirm": "acme" })),
    );
    answer.assert_problem(403, "forbidden");
    assert!(answer.body.contains("'admin'"), "{answer:#?}");
    let counted = jobs.sql("acme", "SELECT count(*) AS n FROM notes");
    assert_eq!(counted["rows"], json!([[2]]), "nothing was reset yet");

    let reset = jobs.admin("POST", path, Some(json!({ "confirm": "acme" })));
    assert_eq!(reset.status, 200, "{reset:#?}");
    assert_eq!(reset.json()["status"], "active");
    let counted = jobs.sql("acme", "SELECT count(*) AS n FROM notes");
    assert_eq!(counted["rows"], json!([[0]]), "the rows are gone");
    let versions = jobs.sql(
        "acme",
        "SELECT version FROM _sqlx_migrations ORDER BY version",
    );
    assert_eq!(versions["rows"], json!([[1], [2]]), "the schema is back");
    let other = jobs.sql("globex", "SELECT count(*) AS n FROM notes");
    assert_eq!(other["rows"], json!([[1]]), "other tenants keep theirs");
}

#[test]
fn a_suspended_tenant_is_reset_and_stays_suspended() {
    let jobs = Jobs::new(&[("0001_notes.sql", NOTES)]);
    jobs.create(&["acme"], &[]);
    jobs.sandbox
        .run(&["tenants", "suspend", "acme"])
        .succeeded();
    let jobs = jobs.serve();
    let body = json!({ "confirm": "acme" });
    let reset = jobs.admin("POST", "/api/v1/tenants/acme/reset", Some(body.clone()));
    assert_eq!(reset.status, 200, "{reset:#?}");
    assert_eq!(reset.json()["status"], "suspended");
    jobs.admin("POST", "/api/v1/tenants/nosuch/reset", Some(body))
        .assert_problem(404, "tenant_not_found");
}

#[test]
fn two_resets_at_once_never_serve_the_tenant_while_its_database_is_rebuilt() {
    let jobs = Jobs::new(&[("0001_notes.sql", NOTES)]);
    jobs.create(&["acme"], &[]);
    let jobs = jobs.serve();
    jobs.sql("acme", "INSERT INTO notes (title) VALUES ('a')");
    let file = jobs.sandbox.tenant_file("acme");
    let (port, admin) = (jobs.port(), Some(jobs.admin.as_str()));
    let resetting = std::sync::atomic::AtomicBool::new(true);

    let (answers, served_without_storage) = std::thread::scope(|scope| {
        let watcher = scope.spawn(|| {
            let mut seen = Vec::new();
            while resetting.load(std::sync::atomic::Ordering::SeqCst) {
                let answer = call_api(port, admin, "GET", "/api/v1/tenants/acme", None);
                let status = answer.json()["status"].clone();
                if status == "active" && !file.exists() {
                    seen.push(status);
                }
            }
            seen
        });
        let resets: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let body = json!({ "confirm": "acme" });
                    call_api(
                        port,
                        admin,
                        "POST",
                        "/api/v1/tenants/acme/reset",
                        Some(body),
                    )
                })
            })
            .collect();
        let answers: Vec<Response> = resets.into_iter().map(|r| r.join().unwrap()).collect();
        resetting.store(false, std::sync::atomic::Ordering::SeqCst);
        (answers, watcher.join().unwrap())
    });

    assert!(
        served_without_storage.is_empty(),
        "the tenant was active without its database {} times",
        served_without_storage.len()
    );
    for answer in &answers {
        match answer.status {
            200 => assert_eq!(answer.json()["status"], "active", "{answer:#?}"),
            _ => answer.assert_problem(409, "still_in_use"),
        }
    }
    assert!(answers.iter().any(|answer| answer.status == 200));
    assert_eq!(jobs.sandbox.status_of("acme"), "active");
    let counted = jobs.sql("acme", "SELECT count(*) AS n FROM notes");
    assert_eq!(counted["rows"], json!([[0]]));
}

#[test]
fn a_delete_while_a_reset_rebuilds_the_database_is_refused_and_the_reset_finishes() {
    let jobs = Jobs::new(&[("0001_notes.sql", NOTES), ("0002_slow.sql", SLOW)]);
    jobs.create(&["acme"], &[]);
    let jobs = jobs.serve();
    let (port, admin) = (jobs.port(), Some(jobs.admin.as_str()));

    let reset = std::thread::scope(|scope| {
        let reset = scope.spawn(|| {
            let body = json!({ "confirm": "acme" });
            call_api(
                port,
                admin,
                "POST",
                "/api/v1/tenants/acme/reset",
                Some(body),
            )
        });
        // The reset holds the tenant for at least the second it waits before the drop.
        support::eventually(support::PATIENCE, || {
            let shown = jobs.admin("GET", "/api/v1/tenants/acme", None).json();
            (shown["tenant"]["status"] == "maintenance").then_some(())
        })
        .expect("the reset puts the tenant in maintenance");
        let delete = jobs.admin("DELETE", "/api/v1/tenants/acme", None);
        delete.assert_problem(409, "still_in_use");
        reset.join().unwrap()
    });

    assert_eq!(reset.status, 200, "{reset:#?}");
    assert_eq!(reset.json()["status"], "active");
    let delete = jobs.admin("DELETE", "/api/v1/tenants/acme", None);
    assert_eq!(delete.status, 202, "once the reset is done: {delete:#?}");
}

// PostgreSQL

const PG_SCHEMAS: &str = "apijobs_sc_";

#[test]
fn a_postgres_tenant_is_migrated_and_reset_over_the_api() {
    drop_postgres(PgObjects::Schemas, PG_SCHEMAS);
    let config = format!(
        "[servers.pg]\nkind = \"postgres\"\nurl = \"{}\"\nisolation = \"schema\"\n\
         prefix = \"{PG_SCHEMAS}\"\n",
        postgres_url()
    );
    let jobs = Jobs::with_config(&[("0001_notes.sql", NOTES)], &config);
    jobs.create(&["pga"], &["--server", "pg"]);
    jobs.add_migration("0002_tags.sql", TAGS);
    let jobs = jobs.serve();

    let migrated = jobs.admin("POST", "/api/v1/tenants/pga/migrate", None);
    assert_eq!(migrated.status, 200, "{migrated:#?}");
    assert_eq!(migrated.json()["status"], "migrated", "{}", migrated.body);
    assert_eq!(migrated.json()["versions"], json!([2]));
    let again = jobs.admin("POST", "/api/v1/tenants/pga/migrate", None);
    assert_eq!(again.json()["status"], "up_to_date", "{}", again.body);

    jobs.sql(
        "pga",
        "INSERT INTO notes (id, title) VALUES (1, 'a'), (2, 'b')",
    );
    let body = json!({ "confirm": "pga" });
    let reset = jobs.admin("POST", "/api/v1/tenants/pga/reset", Some(body));
    assert_eq!(reset.status, 200, "{reset:#?}");
    let counted = jobs.sql("pga", "SELECT count(*)::bigint AS n FROM notes");
    assert_eq!(counted["rows"], json!([[0]]), "{counted:#}");
    let versions = jobs.sql(
        "pga",
        "SELECT version FROM _sqlx_migrations ORDER BY version",
    );
    assert_eq!(versions["rows"], json!([[1], [2]]), "{versions:#}");
    drop(jobs);
    drop_postgres(PgObjects::Schemas, PG_SCHEMAS);
}

// Migration runs

#[test]
fn a_run_over_several_tenants_reports_each_tenants_outcome() {
    let jobs = Jobs::new(&[("0001_notes.sql", NOTES)]);
    jobs.create(&["t1", "t2", "t3"], &[]);
    // t2 already has the table the next migration makes: the migration fails there.
    let taken = [
        "run",
        "--tenant",
        "t2",
        "--",
        "CREATE TABLE tags (id INTEGER)",
    ];
    jobs.sandbox.run(&taken).succeeded();
    jobs.add_migration("0002_tags.sql", TAGS);
    let jobs = jobs.serve();

    let started = jobs.admin("POST", "/api/v1/migrations", Some(json!({ "parallel": 2 })));
    let path = run_path(&started);
    assert_eq!(started.json()["progress"]["total"], 3, "{}", started.body);
    let run = jobs.poll(&path, |run| run["run"]["status"] == "completed");

    assert_eq!(outcome(&run, "t1")["status"], "migrated", "{run:#}");
    assert_eq!(outcome(&run, "t1")["versions"], json!([2]));
    assert_eq!(outcome(&run, "t3")["status"], "migrated", "{run:#}");
    let failed = outcome(&run, "t2");
    assert_eq!(failed["status"], "failed", "{run:#}");
    let detail = failed["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("0002_tags.sql"), "{detail}");
    let progress = &run["progress"];
    assert_eq!(
        (&progress["done"], &progress["pending"], &progress["failed"]),
        (&json!(3), &json!(0), &json!(1)),
        "{progress:#}"
    );
    assert_eq!(run["run"]["actor"], format!("api:{}", jobs.admin_id));

    let listed = jobs.admin("GET", "/api/v1/migrations", None).json();
    assert_eq!(listed["items"][0]["id"], run["run"]["id"], "{listed:#}");
    let status = jobs.admin("GET", "/api/v1/migrations/status", None).json();
    assert_eq!(status["latest"], 2, "{status:#}");
    assert_eq!(
        status["per_version"],
        json!({ "1": 1, "2": 2 }),
        "{status:#}"
    );
    let pending = jobs
        .admin("GET", "/api/v1/migrations/status?pending=true", None)
        .json();
    let ids: Vec<&Value> = pending["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["tenant_id"])
        .collect();
    assert_eq!(ids, [&json!("t2")], "{pending:#}");
    assert_eq!(pending["tenants"][0]["pending"], json!([2]));

    jobs.admin("POST", &format!("{path}/resume"), None)
        .assert_problem(409, "run_not_resumable");
    jobs.admin("GET", "/api/v1/migrations/999", None)
        .assert_problem(404, "run_not_found");
    jobs.admin("GET", "/api/v1/migrations/abc", None)
        .assert_problem(404, "run_not_found");
}

#[test]
fn a_rollback_run_reverts_the_newest_reversible_migration() {
    let jobs = Jobs::new(&[
        ("0001_notes.sql", NOTES),
        ("0002_tags.up.sql", TAGS),
        ("0002_tags.down.sql", "DROP TABLE tags;"),
    ]);
    jobs.create(&["t1", "t2"], &[]);
    let jobs = jobs.serve();

    let body = json!({ "kind": "rollback", "steps": 1, "tenants": ["t1"] });
    let started = jobs.admin("POST", "/api/v1/migrations", Some(body));
    let path = run_path(&started);
    let run = jobs.poll(&path, |run| run["run"]["status"] == "completed");
    assert_eq!(run["run"]["kind"], "rollback");
    assert_eq!(outcome(&run, "t1")["status"], "rolled_back", "{run:#}");
    assert_eq!(run["progress"]["total"], 1, "only the tenant asked for");

    let status = jobs.admin("GET", "/api/v1/migrations/status", None).json();
    assert_eq!(
        status["per_version"],
        json!({ "1": 1, "2": 1 }),
        "{status:#}"
    );
    let body = json!({ "kind": "rollback", "steps": 5 });
    let answer = jobs.admin("POST", "/api/v1/migrations", Some(body));
    answer.assert_problem(422, "validation_failed");
    assert_eq!(answer.json()["field"], "steps");
}

#[test]
fn a_run_whose_server_was_killed_reads_interrupted_and_resumes() {
    let jobs = Jobs::new(&[("0001_notes.sql", NOTES)]);
    let ids = ["t1", "t2", "t3", "t4", "t5", "t6"];
    jobs.create(&ids, &[]);
    jobs.add_migration("0002_slow.sql", SLOW);
    let mut jobs = jobs.serve();

    let started = jobs.admin("POST", "/api/v1/migrations", Some(json!({ "parallel": 1 })));
    let path = run_path(&started);
    // Dropping the server kills it (SIGKILL): nothing gets to finish the run.
    jobs.server = None;
    let jobs = jobs.serve();

    let run = jobs.admin("GET", &path, None).json();
    assert_eq!(run["run"]["status"], "interrupted", "{run:#}");
    assert!(run["progress"]["pending"].as_u64().unwrap() > 0, "{run:#}");
    let resumed = jobs.admin("POST", &format!("{path}/resume"), None);
    assert_eq!(run_path(&resumed), path);
    let run = jobs.poll(&path, |run| run["run"]["status"] == "completed");
    for id in ids {
        assert_eq!(outcome(&run, id)["status"], "migrated", "{run:#}");
    }
    let actions = jobs.admin_actions();
    assert!(actions.contains("migration.started"), "{actions:?}");
    assert!(actions.contains("migration.resumed"), "{actions:?}");
}

// Seed, SQL, doctor

#[test]
fn seed_and_sql_answer_each_tenants_outcome() {
    let jobs = Jobs::new(&[]);
    jobs.create(&["acme", "globex"], &[]);
    let jobs = jobs.serve();

    let seeded = jobs.admin("POST", "/api/v1/seed", Some(json!({ "tenants": ["acme"] })));
    assert_eq!(seeded.status, 200, "{seeded:#?}");
    assert_eq!(
        seeded.json()["results"],
        json!([{ "tenant_id": "acme", "ok": true, "error": null }])
    );
    let body = json!({ "sql": "SELECT count(*) AS n FROM notes" });
    let counted = jobs.admin("POST", "/api/v1/sql", Some(body)).json();
    let results = counted["results"].as_array().unwrap();
    assert_eq!(
        results.len(),
        2,
        "every active tenant by default: {counted:#}"
    );
    assert_eq!(results[0]["tenant_id"], "acme");
    assert_ne!(
        results[0]["rows"],
        json!([[0]]),
        "acme was seeded: {counted:#}"
    );
    assert_eq!(
        results[1]["rows"],
        json!([[0]]),
        "globex was not: {counted:#}"
    );
    assert_eq!(results[0]["columns"], json!(["n"]));

    let body = json!({ "sql": "SELECT * FROM nowhere", "tenants": ["globex"] });
    let failed = jobs.admin("POST", "/api/v1/sql", Some(body)).json();
    assert_eq!(failed["results"][0]["ok"], false, "{failed:#}");
    let error = failed["results"][0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("nowhere"), "{error}");
}

#[test]
fn sql_and_seed_do_not_run_on_a_tenant_being_deleted() {
    let jobs = Jobs::new(&[("0001_notes.sql", NOTES)]);
    jobs.create(&["acme"], &[]);
    let jobs = jobs.serve();
    // A statement whose running leaves a file behind, whatever the tenant's database.
    let witness = jobs.sandbox.path().join("witness.sqlite");
    let sql = format!("VACUUM INTO '{}'", witness.display());

    let deleting = jobs.admin("DELETE", "/api/v1/tenants/acme", None);
    assert_eq!(deleting.status, 202, "{deleting:#?}");
    let body = json!({ "sql": sql, "tenants": ["acme"] });
    let ran = jobs.admin("POST", "/api/v1/sql", Some(body)).json();
    let body = json!({ "tenants": ["acme"] });
    let seeded = jobs.admin("POST", "/api/v1/seed", Some(body)).json();

    assert!(!witness.exists(), "the statement did not run: {ran:#}");
    for answer in [&ran, &seeded] {
        assert_eq!(answer["results"][0]["ok"], false, "{answer:#}");
        let error = answer["results"][0]["error"].as_str().unwrap_or_default();
        assert!(error.contains("is deleting"), "{error}");
    }
}

#[test]
fn the_doctor_reports_and_repairs_a_stuck_tenant() {
    let jobs = Jobs::new(&[]);
    jobs.create(&["acme", "stuck"], &[]);
    let catalog = jobs.sandbox.catalog_file();
    support::execute_sql(
        &catalog,
        "UPDATE tenants SET status = 'provisioning' WHERE id = 'stuck'",
    );
    let jobs = jobs.serve();

    let report = jobs.admin("GET", "/api/v1/doctor", None).json();
    assert_eq!(report["healthy"], false, "{report:#}");
    assert_eq!(report["stuck"][0]["id"], "stuck", "{report:#}");
    let body = json!({ "stale_after_secs": 0 });
    let repaired = jobs.admin("POST", "/api/v1/doctor/repair", Some(body));
    assert_eq!(repaired.status, 200, "{repaired:#?}");
    let repaired = repaired.json();
    assert_eq!(repaired["tenants"][0]["id"], "stuck", "{repaired:#}");
    assert_eq!(repaired["tenants"][0]["outcome"], "active", "{repaired:#}");
    assert_eq!(repaired["report"]["healthy"], true, "{repaired:#}");
}

// Bodies, audit

#[test]
fn a_query_parameter_a_job_route_does_not_take_is_refused_before_anything_runs() {
    let jobs = Jobs::new(&[("0001_notes.sql", NOTES)]);
    jobs.create(&["acme"], &[]);
    jobs.add_migration("0002_tags.sql", TAGS);
    let jobs = jobs.serve();
    let cases = [
        ("POST", "/api/v1/migrations?dry_run=true", None, "dry_run"),
        (
            "POST",
            "/api/v1/tenants/acme/migrate?dry_run=1",
            None,
            "dry_run",
        ),
        (
            "POST",
            "/api/v1/sql?tenant=acme",
            Some(json!({ "sql": "SELECT 1" })),
            "tenant",
        ),
        ("POST", "/api/v1/seed?tenants=acme", None, "tenants"),
        (
            "POST",
            "/api/v1/tenants/acme/reset?seed=true",
            Some(json!({ "confirm": "acme" })),
            "seed",
        ),
        (
            "POST",
            "/api/v1/doctor/repair?stale_after_secs=0",
            None,
            "stale_after_secs",
        ),
        ("GET", "/api/v1/doctor?verbose=true", None, "verbose"),
        ("GET", "/api/v1/migrations/1?tenant=acme", None, "tenant"),
        (
            "DELETE",
            "/api/v1/tenants/acme?background=false",
            None,
            "background",
        ),
    ];
    for (method, path, body, field) in cases {
        let answer = jobs.admin(method, path, body);
        answer.assert_problem(422, "validation_failed");
        assert_eq!(
            answer.json()["field"],
            field,
            "{method} {path}: {answer:#?}"
        );
    }

    let runs = jobs.admin("GET", "/api/v1/migrations", None).json();
    assert_eq!(runs["items"], json!([]), "no run was started: {runs:#}");
    let versions = jobs.sql("acme", "SELECT version FROM _sqlx_migrations");
    assert_eq!(versions["rows"], json!([[1]]), "acme was not migrated");
    assert_eq!(jobs.sandbox.status_of("acme"), "active", "nor deleted");
}

#[test]
fn a_bad_job_body_is_refused_with_the_field_it_is_in() {
    let jobs = Jobs::new(&[]);
    jobs.create(&["acme"], &[]);
    let jobs = jobs.serve();
    let cases = [
        (
            "/api/v1/sql",
            json!({ "sql": "  " }),
            422,
            "validation_failed",
            "sql",
        ),
        (
            "/api/v1/sql",
            json!({ "tenants": ["acme"] }),
            422,
            "validation_failed",
            "sql",
        ),
        (
            "/api/v1/sql",
            json!({ "sql": "SELECT 1", "tenants": ["acme", "nosuch"] }),
            404,
            "tenant_not_found",
            "tenants[1]",
        ),
        (
            "/api/v1/sql",
            json!({ "sql": "SELECT 1", "tenants": ["acme", "acme"] }),
            422,
            "validation_failed",
            "tenants[1]",
        ),
        (
            "/api/v1/seed",
            json!({ "tenants": ["acme", "acme"] }),
            422,
            "validation_failed",
            "tenants[1]",
        ),
        (
            "/api/v1/migrations",
            json!({ "tenants": ["acme", "acme"] }),
            422,
            "validation_failed",
            "tenants[1]",
        ),
        (
            "/api/v1/seed",
            json!({ "tenants": ["Acme"] }),
            422,
            "invalid_tenant_id",
            "tenants[0]",
        ),
        (
            "/api/v1/seed",
            json!({ "server": "pg9" }),
            422,
            "unknown_server",
            "server",
        ),
        (
            "/api/v1/migrations",
            json!({ "parallel": 0 }),
            422,
            "validation_failed",
            "parallel",
        ),
        (
            "/api/v1/migrations",
            json!({ "kind": "sideways" }),
            422,
            "validation_failed",
            "kind",
        ),
        (
            "/api/v1/migrations",
            json!({ "steps": 2 }),
            422,
            "validation_failed",
            "steps",
        ),
        (
            "/api/v1/migrations",
            json!({ "lock_wait_secs": 99999 }),
            422,
            "validation_failed",
            "lock_wait_secs",
        ),
        (
            "/api/v1/tenants/acme/migrate",
            json!({ "dry_run": "yes" }),
            422,
            "validation_failed",
            "dry_run",
        ),
        (
            "/api/v1/doctor/repair",
            json!({ "stale_after_secs": -1 }),
            422,
            "validation_failed",
            "stale_after_secs",
        ),
    ];
    for (path, body, status, code, field) in cases {
        let answer = jobs.admin("POST", path, Some(body.clone()));
        answer.assert_problem(status, code);
        assert_eq!(answer.json()["field"], field, "{path} {body}: {answer:#?}");
    }
    let runs = jobs.admin("GET", "/api/v1/migrations", None).json();
    assert_eq!(runs["items"], json!([]), "no run was started");
    let status = jobs.admin("GET", "/api/v1/migrations/status?tenant=Nope", None);
    status.assert_problem(422, "invalid_tenant_id");
    assert_eq!(status.json()["field"], "tenant");
}

#[test]
fn every_job_route_that_changes_something_writes_an_audit_entry() {
    let jobs = Jobs::new(&[]);
    jobs.create(&["acme", "stuck"], &[]);
    let catalog = jobs.sandbox.catalog_file();
    support::execute_sql(
        &catalog,
        "UPDATE tenants SET status = 'provisioning' WHERE id = 'stuck'",
    );
    let jobs = jobs.serve();

    let created = jobs.admin(
        "POST",
        "/api/v1/tenants?background=true",
        Some(json!({ "id": "beta" })),
    );
    assert_eq!(created.status, 202, "{created:#?}");
    jobs.poll("/api/v1/tenants/beta", |t| {
        t["tenant"]["status"] == "active"
    });
    let calls = [
        ("POST", "/api/v1/tenants/beta/migrate", None),
        ("POST", "/api/v1/seed", Some(json!({ "tenants": ["beta"] }))),
        (
            "POST",
            "/api/v1/sql",
            Some(json!({ "sql": "DELETE FROM notes", "tenants": ["beta"] })),
        ),
        (
            "POST",
            "/api/v1/tenants/beta/reset",
            Some(json!({ "confirm": "beta" })),
        ),
        (
            "POST",
            "/api/v1/migrations",
            Some(json!({ "tenants": ["acme"] })),
        ),
        (
            "POST",
            "/api/v1/doctor/repair",
            Some(json!({ "stale_after_secs": 0 })),
        ),
        ("DELETE", "/api/v1/tenants/beta", None),
    ];
    for (method, path, body) in calls {
        let answer = jobs.admin(method, path, body);
        assert!(answer.status < 300, "{method} {path}: {answer:#?}");
    }
    let gone = support::eventually(support::PATIENCE, || {
        (jobs.admin("GET", "/api/v1/tenants/beta", None).status == 404).then_some(())
    });
    assert!(gone.is_some(), "beta is deleted");

    let expected = [
        "tenant.created",
        "tenant.provisioned",
        "migration.started",
        "tenant.seeded",
        "tenant.sql_run",
        "tenant.maintenance_on",
        "tenant.reset",
        "tenant.maintenance_off",
        "tenant.deleting",
        "tenant.deleted",
    ];
    let actions = jobs.admin_actions();
    for action in expected {
        assert!(
            actions.contains(action),
            "{action} missing from {actions:?}"
        );
    }
    let path = format!(
        "/api/v1/audit?key_id={}&action=tenant.sql_run",
        jobs.admin_id
    );
    let entry = jobs.admin("GET", &path, None).json()["items"][0].clone();
    assert_eq!(entry["tenant_id"], "beta");
    assert_eq!(entry["summary"]["sql"], "DELETE FROM notes", "{entry:#}");
    assert_eq!(entry["client_addr"], "127.0.0.1");
    let path = format!("/api/v1/audit?key_id={}&tenant=stuck", jobs.admin_id);
    let repaired = jobs.admin("GET", &path, None).json();
    assert_eq!(
        repaired["items"][0]["action"], "tenant.provisioned",
        "{repaired:#}"
    );
}

// OpenAPI

/// The job routes' answers carry exactly the fields their schemas in the document name.
#[test]
fn job_answers_carry_the_fields_their_schemas_name() {
    let jobs = Jobs::new(&[]);
    jobs.create(&["acme"], &[]);
    let jobs = jobs.serve();
    let document = jobs.call(None, "GET", "/api/v1/openapi.json", None).json();
    let fields_of = |schema: &str| -> BTreeSet<String> {
        let properties = &document["components"]["schemas"][schema]["properties"];
        let properties = properties.as_object();
        let properties = properties.unwrap_or_else(|| panic!("{schema} has properties"));
        properties.keys().cloned().collect()
    };
    let keys = |value: &Value| -> BTreeSet<String> {
        let object = value.as_object();
        object
            .unwrap_or_else(|| panic!("{value} is an object"))
            .keys()
            .cloned()
            .collect()
    };

    let started = jobs.admin("POST", "/api/v1/migrations", None);
    let run = jobs.poll(&run_path(&started), |run| {
        run["run"]["status"] == "completed"
    });
    assert_eq!(keys(&run), fields_of("RunDetail"));
    assert_eq!(keys(&run["run"]), fields_of("RunView"));
    assert_eq!(keys(&run["progress"]), fields_of("RunProgress"));
    assert_eq!(keys(&run["tenants"][0]), fields_of("RunTenantView"));
    let page = jobs.admin("GET", "/api/v1/migrations", None).json();
    assert_eq!(keys(&page), fields_of("RunPage"));
    let status = jobs.admin("GET", "/api/v1/migrations/status", None).json();
    assert_eq!(keys(&status), fields_of("MigrationStatus"));
    assert_eq!(
        keys(&status["tenants"][0]),
        fields_of("TenantMigrationState")
    );
    let one = jobs
        .admin("POST", "/api/v1/tenants/acme/migrate", None)
        .json();
    assert_eq!(keys(&one), fields_of("TenantMigration"));

    let seeded = jobs.admin("POST", "/api/v1/seed", None).json();
    assert_eq!(keys(&seeded), fields_of("SeedReport"));
    assert_eq!(keys(&seeded["results"][0]), fields_of("SeedResult"));
    let body = json!({ "sql": "SELECT 1 AS one" });
    let ran = jobs.admin("POST", "/api/v1/sql", Some(body)).json();
    assert_eq!(keys(&ran), fields_of("SqlReport"));
    assert_eq!(keys(&ran["results"][0]), fields_of("SqlResult"));

    let report = jobs.admin("GET", "/api/v1/doctor", None).json();
    assert_eq!(keys(&report), fields_of("DoctorView"));
    let repaired = jobs.admin("POST", "/api/v1/doctor/repair", None).json();
    assert_eq!(keys(&repaired), fields_of("RepairView"));
}

//! The notes demo runs unchanged on every kind of server: `tenancy tenants create --seed`
//! places a tenant on SQLite, PostgreSQL (database and schema mode) and MariaDB, and
//! `tenancy serve` answers the whole workload for each, then suspends and deletes it.
//!
//! The servers come from `TENANCY_TEST_POSTGRES_URL` and `TENANCY_TEST_MYSQL_URL` (default:
//! the local ones); a server that cannot be reached fails the test.

mod support;

use serde_json::{Value, json};
use support::network::{PgObjects, drop_mysql_databases, drop_postgres, mysql_url, postgres_url};
use support::{Sandbox, Server};

const PG_DATABASES: &str = "demo_db_";
const PG_SCHEMAS: &str = "demo_sc_";
const MY_DATABASES: &str = "demo_my_";

/// (tenant id, server name) for each kind.
const PLACEMENTS: [(&str, &str); 4] = [
    ("lite", "local"),
    ("pgdb", "pgd"),
    ("pgsc", "pgs"),
    ("mari", "my"),
];

fn config() -> String {
    format!(
        "[servers.pgd]\nkind = \"postgres\"\nurl = \"{pg}\"\nisolation = \"database\"\n\
         prefix = \"{PG_DATABASES}\"\n\n\
         [servers.pgs]\nkind = \"postgres\"\nurl = \"{pg}\"\nisolation = \"schema\"\n\
         prefix = \"{PG_SCHEMAS}\"\n\n\
         [servers.my]\nkind = \"mysql\"\nurl = \"{my}\"\nprefix = \"{MY_DATABASES}\"\n",
        pg = postgres_url(),
        my = mysql_url(),
    )
}

/// Drops what an interrupted run of this test left on the servers.
fn clear_leftovers() {
    drop_postgres(PgObjects::Databases, PG_DATABASES);
    drop_postgres(PgObjects::Schemas, PG_SCHEMAS);
    drop_mysql_databases(MY_DATABASES);
}

fn titles(listing: &Value) -> Vec<&str> {
    let notes = listing.as_array().expect("a listing is an array");
    notes
        .iter()
        .map(|note| note["title"].as_str().expect("a note has a title"))
        .collect()
}

/// RFC 3339 in UTC with milliseconds, as SQLite's column default writes it.
fn is_rfc3339_utc(text: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(text).is_ok() && text.ends_with('Z')
}

/// The whole workload for one tenant: list, create, read, delete, and the error answers.
fn notes_workload_answers(server: &Server, id: &str) {
    let host = format!("{id}.localhost");
    let listing = server.request("GET", &host, "/notes?limit=100");
    assert_eq!(listing.status, 200, "{id}: {listing:#?}");
    let seeded = listing.json();
    let seeded_titles = titles(&seeded);
    assert_eq!(
        seeded_titles.len(),
        5,
        "{id}: the demo seeder writes 5 notes"
    );
    assert!(
        seeded_titles
            .iter()
            .all(|t| t.starts_with(&format!("{id}: ")))
    );
    let ids: Vec<i64> = seeded
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_i64().unwrap())
        .collect();
    assert!(
        ids.windows(2).all(|w| w[0] > w[1]),
        "{id}: newest first: {ids:?}"
    );

    let body = json!({ "title": format!("{id}: posted"), "body": "from the test" }).to_string();
    let created = server.request_json("POST", &host, "/notes", body.as_bytes());
    assert_eq!(created.status, 201, "{id}: {created:#?}");
    let note = created.json();
    assert_eq!(note["title"], format!("{id}: posted"));
    let created_at = note["created_at"].as_str().unwrap();
    assert!(is_rfc3339_utc(created_at), "{id}: created_at {created_at}");
    let note_id = note["id"].as_i64().unwrap();
    assert!(note_id > ids[0], "{id}: a new note gets a larger id");

    let path = format!("/notes/{note_id}");
    let shown = server.request("GET", &host, &path);
    assert_eq!(shown.status, 200, "{id}: {shown:#?}");
    assert_eq!(
        shown.json(),
        note,
        "{id}: a note reads back as it was answered"
    );
    let newest = server.request("GET", &host, "/notes?limit=1").json();
    assert_eq!(titles(&newest), [format!("{id}: posted").as_str()]);

    let empty = json!({ "title": "", "body": "x" }).to_string();
    let refused = server.request_json("POST", &host, "/notes", empty.as_bytes());
    refused.assert_problem(422, "invalid_note");

    assert_eq!(server.request("DELETE", &host, &path).status, 204);
    server
        .request("DELETE", &host, &path)
        .assert_problem(404, "note_not_found");
    server
        .request("GET", &host, &path)
        .assert_problem(404, "note_not_found");
}

#[test]
fn the_demo_serves_suspends_and_deletes_tenants_on_every_kind_of_server() {
    clear_leftovers();
    let sandbox = Sandbox::new();
    std::fs::write(sandbox.path().join("tenancy.toml"), config()).unwrap();
    for (id, server) in PLACEMENTS {
        sandbox
            .run(&["tenants", "create", id, "--server", server, "--seed"])
            .succeeded();
        let shown = sandbox.json(&["tenants", "show", id]);
        assert_eq!(shown["tenant"]["server"], server, "{id}");
        assert_eq!(shown["tenant"]["status"], "active", "{id}");
    }

    let server = sandbox.serve(&[]);
    for (id, _) in PLACEMENTS {
        notes_workload_answers(&server, id);
    }

    for (id, _) in PLACEMENTS {
        sandbox.run(&["tenants", "suspend", id]).succeeded();
        let host = format!("{id}.localhost");
        let refused = support::eventually(std::time::Duration::from_secs(10), || {
            let answer = server.request("GET", &host, "/notes");
            (answer.status == 403).then_some(answer)
        });
        refused
            .unwrap_or_else(|| panic!("{id} was never answered 403 after suspension"))
            .assert_problem(403, "tenant_suspended");
    }

    for (id, _) in PLACEMENTS {
        sandbox.run(&["tenants", "delete", id, "--yes"]).succeeded();
    }
    let doctor = sandbox.json(&["doctor"]);
    let report = &doctor["report"];
    assert_eq!(
        report["orphans"],
        json!([]),
        "deleting left storage behind: {doctor}"
    );
    assert_eq!(report["missing"], json!([]), "{doctor}");
    assert_eq!(sandbox.json(&["tenants", "list"]), json!([]));
}

//! `tenancy migrate status` with the demo's own migrations on every kind of server: each
//! tenant is checked against its backend's SQL, so a tenant on PostgreSQL or MariaDB is up
//! to date, not "edited since".
//!
//! The servers come from `TENANCY_TEST_POSTGRES_URL` and `TENANCY_TEST_MYSQL_URL` (default:
//! the local ones); a server that cannot be reached fails the test.

mod support;

use serde_json::{Value, json};
use support::Sandbox;
use support::network::{PgObjects, drop_mysql_databases, drop_postgres, mysql_url, postgres_url};

const PG_SCHEMAS: &str = "mstat_sc_";
const MY_DATABASES: &str = "mstat_my_";

fn config() -> String {
    format!(
        "[servers.pgs]\nkind = \"postgres\"\nurl = \"{pg}\"\nisolation = \"schema\"\n\
         prefix = \"{PG_SCHEMAS}\"\n\n\
         [servers.my]\nkind = \"mysql\"\nurl = \"{my}\"\nprefix = \"{MY_DATABASES}\"\n",
        pg = postgres_url(),
        my = mysql_url(),
    )
}

/// Drops the schemas and databases an interrupted run of this test left behind.
fn clear_leftovers() {
    drop_postgres(PgObjects::Schemas, PG_SCHEMAS);
    drop_mysql_databases(MY_DATABASES);
}

fn state_of<'a>(status: &'a Value, id: &str) -> &'a Value {
    let tenants = status["tenants"].as_array().expect("status lists tenants");
    let row = tenants.iter().find(|row| row["tenant_id"] == id);
    &row.unwrap_or_else(|| panic!("{id} missing from {status}"))["state"]
}

#[test]
fn status_checks_each_tenant_against_its_own_backends_migrations() {
    clear_leftovers();
    let sandbox = Sandbox::new();
    std::fs::write(sandbox.path().join("tenancy.toml"), config()).unwrap();
    let placements = [("lite", "local"), ("pgsc", "pgs"), ("mari", "my")];
    for (id, server) in placements {
        sandbox
            .run(&["tenants", "create", id, "--server", server])
            .succeeded();
    }

    let status = sandbox.json(&["migrate", "status"]);
    assert_eq!(status["latest"], 1, "{status}");
    for (id, _) in placements {
        let state = state_of(&status, id);
        assert_eq!(state["applied"], json!([1]), "{id}: {status}");
        assert_eq!(state["pending"], json!([]), "{id}: {status}");
        assert_eq!(state["problem"], Value::Null, "{id}: {status}");
    }
    assert_eq!(status["per_version"], json!({ "1": 3 }), "{status}");

    let text = sandbox.run(&["migrate", "status", "--pending"]).succeeded();
    assert!(
        text.stdout.starts_with("no tenant has pending migrations"),
        "{text:#?}"
    );
    assert!(
        text.stdout.contains("tenants per version: version 1: 3"),
        "{text:#?}"
    );
    sandbox.run(&["migrate"]).succeeded();

    for (id, _) in placements {
        sandbox.run(&["tenants", "delete", id, "--yes"]).succeeded();
    }
}

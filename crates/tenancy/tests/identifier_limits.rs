//! Names too long for the backend (case C13): tenant ids are at most 63 characters, but
//! with a long prefix the derived database or schema name can pass PostgreSQL's 63 bytes or
//! MySQL's 64 characters, where the server itself would truncate it silently into another
//! tenant's name. Such ids are refused before any DDL (nothing appears on the server, no
//! tenant row is written), names at the limit are created whole, and no two tenants ever
//! share a name.
//!
//! The servers come from `TENANCY_TEST_POSTGRES_URL` and `TENANCY_TEST_MYSQL_URL`; an
//! unreachable server fails the test.

mod support;

use support::network::{
    drop_mysql_databases, drop_postgres_databases, drop_postgres_schemas, mysql_names, mysql_url,
    postgres_names, postgres_url,
};
use tenancy::{Error, Isolation, NewTenant, Server, ServerOptions, Tenancy, TenantId};

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    PostgresDatabase,
    PostgresSchema,
    MySql,
}

impl Kind {
    fn server(self, prefix: &str) -> Server {
        match self {
            Kind::PostgresDatabase => {
                Server::postgres("net", &postgres_url(), Isolation::Database, prefix)
            }
            Kind::PostgresSchema => {
                Server::postgres("net", &postgres_url(), Isolation::Schema, prefix)
            }
            Kind::MySql => Server::mysql("net", &mysql_url(), prefix),
        }
        .expect("a valid test URL")
    }

    async fn names(self, prefix: &str) -> Vec<String> {
        match self {
            Kind::PostgresDatabase => postgres_names(prefix, false).await,
            Kind::PostgresSchema => postgres_names(prefix, true).await,
            Kind::MySql => mysql_names(prefix).await,
        }
    }

    async fn clear(self, prefix: &str) {
        match self {
            Kind::PostgresDatabase => drop_postgres_databases(prefix).await,
            Kind::PostgresSchema => drop_postgres_schemas(prefix).await,
            Kind::MySql => drop_mysql_databases(prefix).await,
        }
    }

    /// How the backend measures a name, and its limit.
    fn length(self, name: &str) -> (usize, usize) {
        match self {
            Kind::MySql => (name.chars().count(), 64),
            _ => (name.len(), 63),
        }
    }
}

fn id(raw: &str) -> TenantId {
    TenantId::parse(raw).expect("a valid tenant id")
}

async fn create(tenancy: &Tenancy, raw: &str) -> Result<tenancy::Tenant, Error> {
    tenancy.create_tenant(NewTenant::new(id(raw))).await
}

/// `base` grown with `fill` until its name with `prefix` is `extra` units past the limit.
fn id_past_the_limit(kind: Kind, prefix: &str, base: &str, extra: isize) -> String {
    let (prefix_length, limit) = kind.length(prefix);
    let length = (limit - prefix_length) as isize + extra;
    let mut raw = base.to_owned();
    while (raw.len() as isize) < length {
        raw.push('x');
    }
    raw
}

async fn names_past_the_limit_are_refused_before_any_ddl(kind: Kind, prefix: &str) {
    kind.clear(prefix).await;
    let dir = tempfile::tempdir().unwrap();
    let tenancy = Tenancy::builder(dir.path())
        .local_server(None)
        .server(kind.server(prefix), ServerOptions::default())
        .build()
        .await
        .unwrap();

    // Two ids one unit past the limit that share everything the server would keep.
    let over_a = format!("{}a", id_past_the_limit(kind, prefix, "long", 0));
    let over_b = format!("{}b", id_past_the_limit(kind, prefix, "long", 0));
    for raw in [&over_a, &over_b] {
        let error = create(&tenancy, raw).await.unwrap_err();
        assert!(matches!(error, Error::InvalidInput { .. }), "{error:?}");
        let (_, limit) = kind.length(prefix);
        assert!(error.to_string().contains(&limit.to_string()), "{error}");
        assert!(tenancy.catalog().tenant(&id(raw)).await.unwrap().is_none());
    }
    assert!(kind.names(prefix).await.is_empty(), "nothing was created");

    // At the limit, two ids differing only in their last character, and one that differs
    // from the first only by a hyphen where the other has none, are all created whole and
    // apart.
    let at_a = format!("{}a", id_past_the_limit(kind, prefix, "edge", -1));
    let at_b = format!("{}b", id_past_the_limit(kind, prefix, "edge", -1));
    let hyphen = format!("{}-a", id_past_the_limit(kind, prefix, "edge", -2));
    let mut expected = Vec::new();
    for raw in [&at_a, &at_b, &hyphen] {
        let tenant = create(&tenancy, raw).await.unwrap();
        assert_eq!(kind.length(&tenant.database).0, kind.length(prefix).1);
        expected.push(tenant.database);
    }
    expected.sort();
    expected.dedup();
    assert_eq!(
        expected.len(),
        3,
        "three tenants, three names: {expected:?}"
    );
    let mut stored = kind.names(prefix).await;
    stored.sort();
    assert_eq!(stored, expected, "stored whole, not truncated");

    for raw in [&at_a, &at_b, &hyphen] {
        tenancy.delete_tenant(&id(raw)).await.unwrap();
    }
    tenancy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_database_names_over_63_bytes_are_refused_before_any_ddl() {
    let prefix = format!("idl_pgd_{}_", "p".repeat(20));
    names_past_the_limit_are_refused_before_any_ddl(Kind::PostgresDatabase, &prefix).await;
}

/// A prefix with a two-byte character: PostgreSQL's limit is in bytes, not characters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_schema_names_over_63_bytes_are_refused_before_any_ddl() {
    let prefix = format!("idl_pgs_ü_{}_", "p".repeat(20));
    names_past_the_limit_are_refused_before_any_ddl(Kind::PostgresSchema, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_database_names_over_64_characters_are_refused_before_any_ddl() {
    let prefix = format!("idl_my_{}_", "p".repeat(20));
    names_past_the_limit_are_refused_before_any_ddl(Kind::MySql, &prefix).await;
}

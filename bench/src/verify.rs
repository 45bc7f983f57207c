//! After a run: every tenant database holds only rows titled with its own tenant id.

use serde::Serialize;
use tenancy::catalog::TenantFilter;
use tenancy::sqlx::{self, MySqlPool, PgPool, SqlitePool};
use tenancy::{Connection, Tenancy};

/// What the isolation check found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IsolationReport {
    /// Tenant databases read.
    pub tenants: u64,
    /// Rows read.
    pub rows: u64,
    /// Rows whose title does not start with the database's tenant id.
    pub foreign_rows: u64,
    /// The tenants holding foreign rows (at most 20 listed).
    pub offenders: Vec<String>,
}

/// Reads every tenant's `notes` through the library's own connections.
pub async fn tenants(tenancy: &Tenancy) -> anyhow::Result<IsolationReport> {
    let mut report = IsolationReport::default();
    for tenant in tenancy.catalog().tenants(&TenantFilter::default()).await? {
        if !tenant.status.has_storage() {
            continue;
        }
        let mut conn = tenancy.connect(&tenant).await?;
        let prefix = format!("{}:", tenant.id);
        let (rows, foreign) = count(&mut conn, &prefix).await?;
        report.tenants += 1;
        report.rows += rows;
        report.foreign_rows += foreign;
        if foreign > 0 && report.offenders.len() < 20 {
            report.offenders.push(tenant.id.to_string());
        }
    }
    Ok(report)
}

/// Reads the baseline database, whose rows all belong to `tenant`.
pub async fn baseline(pool: &SqlitePool, tenant: &str) -> anyhow::Result<IsolationReport> {
    let mut conn = pool.acquire().await?;
    Ok(one_database(
        count_sqlite(&mut conn, &format!("{tenant}:")).await?,
    ))
}

/// Reads the PostgreSQL baseline's schema, whose rows all belong to `tenant`.
pub async fn baseline_postgres(pool: &PgPool, tenant: &str) -> anyhow::Result<IsolationReport> {
    let mut conn = pool.acquire().await?;
    Ok(one_database(
        count_postgres(&mut conn, &format!("{tenant}:")).await?,
    ))
}

/// Reads the MySQL baseline's database, whose rows all belong to `tenant`.
pub async fn baseline_mysql(pool: &MySqlPool, tenant: &str) -> anyhow::Result<IsolationReport> {
    let mut conn = pool.acquire().await?;
    Ok(one_database(
        count_mysql(&mut conn, &format!("{tenant}:")).await?,
    ))
}

/// The report on a single database holding `(rows, foreign_rows)`.
fn one_database((rows, foreign_rows): (u64, u64)) -> IsolationReport {
    IsolationReport {
        tenants: 1,
        rows,
        foreign_rows,
        offenders: Vec::new(),
    }
}

/// Rows, and rows not starting with `prefix`, in one tenant's `notes`.
async fn count(conn: &mut Connection, prefix: &str) -> anyhow::Result<(u64, u64)> {
    match conn {
        Connection::Sqlite(conn) => count_sqlite(conn, prefix).await,
        Connection::Postgres(conn) => count_postgres(conn, prefix).await,
        Connection::MySql(conn) => count_mysql(conn, prefix).await,
        other => anyhow::bail!("no isolation check for {:?}", other.backend()),
    }
}

async fn count_mysql(conn: &mut sqlx::MySqlConnection, prefix: &str) -> anyhow::Result<(u64, u64)> {
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM notes")
        .fetch_one(&mut *conn)
        .await?;
    let foreign: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM notes WHERE substr(title, 1, ?) <> ?")
            .bind(prefix.len() as i64)
            .bind(prefix)
            .fetch_one(&mut *conn)
            .await?;
    Ok((rows as u64, foreign as u64))
}

async fn count_postgres(conn: &mut sqlx::PgConnection, prefix: &str) -> anyhow::Result<(u64, u64)> {
    let (rows, foreign): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(*) FILTER (WHERE substr(title, 1, $1) <> $2) FROM notes",
    )
    .bind(prefix.len() as i32)
    .bind(prefix)
    .fetch_one(&mut *conn)
    .await?;
    Ok((rows as u64, foreign as u64))
}

async fn count_sqlite(
    conn: &mut sqlx::SqliteConnection,
    prefix: &str,
) -> anyhow::Result<(u64, u64)> {
    let (rows, foreign): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(*) FILTER (WHERE substr(title, 1, ?) <> ?) FROM notes",
    )
    .bind(prefix.len() as i64)
    .bind(prefix)
    .fetch_one(&mut *conn)
    .await?;
    Ok((rows as u64, foreign as u64))
}

//! Per-tenant operations run across many tenants: migration status, seeding, ad-hoc SQL.

use futures_util::TryStreamExt;
use serde::Serialize;
use sqlx::{Column, Row, TypeInfo, ValueRef};

use super::MigrationState;
use crate::catalog::Mutation;
use crate::error::Error;
use crate::server::Connection;
use crate::tenancy::Tenancy;
use crate::tenant::Tenant;

/// What one statement returned for one tenant.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SqlOutcome {
    /// Column names of the rows, if the statement returned rows.
    pub columns: Vec<String>,
    /// The rows, each value as JSON (integers, reals, text, null; blobs as byte counts).
    pub rows: Vec<Vec<serde_json::Value>>,
    /// Rows changed, for statements that change rows.
    pub rows_affected: u64,
}

impl Tenancy {
    /// Where one tenant's database stands against the migration set.
    pub async fn migration_status(&self, tenant: &Tenant) -> Result<MigrationState, Error> {
        let mut conn = self.connect(tenant).await?;
        self.migrations()
            .state(&mut conn)
            .await
            .map_err(|source| Error::Migration {
                tenant_id: tenant.id.clone(),
                source,
            })
    }

    /// Runs the application's seeder on one tenant's database, and records it in the change
    /// log (`tenant.seeded`).
    ///
    /// A tenant that is not (or no longer) in a status with storage is refused first.
    pub async fn seed_tenant(&self, tenant: &Tenant) -> Result<(), Error> {
        self.require_storage(tenant).await?;
        self.run_seeder(tenant).await?;
        let id = tenant.id.clone();
        self.apply(Mutation::RecordSeed { id }).await.map(drop)
    }

    async fn run_seeder(&self, tenant: &Tenant) -> Result<(), Error> {
        let Some(seeder) = self.inner.seeder.clone() else {
            return Err(Error::InvalidInput {
                field: "seeder",
                reason: "this application has no seeder".to_owned(),
            });
        };
        let mut conn = self.connect(tenant).await?;
        seeder
            .seed(tenant, &mut conn)
            .await
            .map_err(|source| Error::Seed {
                tenant_id: tenant.id.clone(),
                source,
            })
    }

    /// Runs one SQL statement on one tenant's database and returns what it gave back.
    ///
    /// The change log records the statement and whether it failed (`tenant.sql_run`), since
    /// even a failed statement may have changed something (MySQL commits DDL as it goes).
    ///
    /// A tenant that is not (or no longer) in a status with storage is refused first, and
    /// nothing is recorded.
    pub async fn run_sql(&self, tenant: &Tenant, sql: &str) -> Result<SqlOutcome, Error> {
        self.require_storage(tenant).await?;
        let outcome = self.execute_sql(tenant, sql).await;
        let record = Mutation::RecordSql {
            id: tenant.id.clone(),
            sql: sql.to_owned(),
            error: outcome
                .as_ref()
                .err()
                .map(|error| crate::error_chain(error)),
        };
        self.apply(record).await?;
        outcome
    }

    /// Refuses a tenant whose current status has no database to work on: one being built
    /// (`provisioning`), dropped (`deleting`) or without one (`failed`). The catalog refuses
    /// to record the work afterwards anyway; checked only then, the work would already have
    /// run on a database half-built or about to go.
    async fn require_storage(&self, tenant: &Tenant) -> Result<(), Error> {
        let current = self.catalog().require_tenant(&tenant.id).await?;
        match current.status.has_storage() {
            true => Ok(()),
            false => Err(Error::InvalidState {
                tenant_id: tenant.id.clone(),
                status: current.status,
                operation: "change its database",
            }),
        }
    }

    async fn execute_sql(&self, tenant: &Tenant, sql: &str) -> Result<SqlOutcome, Error> {
        let mut conn = self.connect(tenant).await?;
        let mut outcome = SqlOutcome::default();
        match &mut *conn {
            Connection::Sqlite(c) => collect(&mut outcome, sql, c).await?,
            Connection::Postgres(c) => collect(&mut outcome, sql, c).await?,
            Connection::MySql(c) => collect(&mut outcome, sql, c).await?,
        }
        Ok(outcome)
    }
}

/// Runs `sql` as plain text (several statements allowed) and gathers rows and counts.
async fn collect<'c, C, DB>(
    outcome: &mut SqlOutcome,
    sql: &str,
    conn: &'c mut C,
) -> Result<(), Error>
where
    DB: sqlx::Database,
    &'c mut C: sqlx::Executor<'c, Database = DB>,
    DB::Row: JsonRow,
    DB::QueryResult: RowsAffected,
{
    let statement = sqlx::AssertSqlSafe(sql.to_owned());
    let mut results = sqlx::raw_sql(statement).fetch_many(conn);
    while let Some(item) = results.try_next().await.map_err(Error::Database)? {
        match item {
            sqlx::Either::Left(done) => outcome.rows_affected += done.count(),
            sqlx::Either::Right(row) => {
                if outcome.columns.is_empty() {
                    outcome.columns = row.columns().iter().map(|c| c.name().to_owned()).collect();
                }
                outcome
                    .rows
                    .push((0..row.columns().len()).map(|i| row.json(i)).collect());
            }
        }
    }
    Ok(())
}

/// The rows-affected count of each backend's query result.
trait RowsAffected {
    fn count(&self) -> u64;
}

/// A row whose values can be shown as JSON.
trait JsonRow: Row {
    fn json(&self, index: usize) -> serde_json::Value;
}

macro_rules! backend_results {
    ($($result:ty),*) => {$(
        impl RowsAffected for $result {
            fn count(&self) -> u64 {
                self.rows_affected()
            }
        }
    )*};
}

backend_results!(
    sqlx::sqlite::SqliteQueryResult,
    sqlx::postgres::PgQueryResult,
    sqlx::mysql::MySqlQueryResult
);

/// Tries the common types in turn: each backend's decoder refuses a mismatched type, so the
/// first that decodes is the column's.
macro_rules! json_rows {
    ($($row:ty),*) => {$(
        impl JsonRow for $row {
            fn json(&self, index: usize) -> serde_json::Value {
                use serde_json::Value;
                match self.try_get_raw(index) {
                    Ok(raw) if raw.is_null() => return Value::Null,
                    Err(_) => return Value::Null,
                    Ok(_) => {}
                }
                if let Ok(v) = self.try_get::<i64, _>(index) { return Value::from(v); }
                if let Ok(v) = self.try_get::<i32, _>(index) { return Value::from(v); }
                if let Ok(v) = self.try_get::<f64, _>(index) { return Value::from(v); }
                if let Ok(v) = self.try_get::<bool, _>(index) { return Value::from(v); }
                if let Ok(v) = self.try_get::<String, _>(index) { return Value::from(v); }
                if let Ok(v) = self.try_get::<chrono::DateTime<chrono::Utc>, _>(index) {
                    return Value::from(v.to_rfc3339());
                }
                if let Ok(v) = self.try_get::<chrono::NaiveDateTime, _>(index) {
                    return Value::from(v.to_string());
                }
                if let Ok(v) = self.try_get::<Vec<u8>, _>(index) {
                    return Value::from(format!("<{} bytes>", v.len()));
                }
                let name = self.column(index).type_info().name().to_owned();
                Value::from(format!("<{name}>"))
            }
        }
    )*};
}

json_rows!(
    sqlx::sqlite::SqliteRow,
    sqlx::postgres::PgRow,
    sqlx::mysql::MySqlRow
);

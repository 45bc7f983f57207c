//! Per-tenant operations run across many tenants: migration status, seeding, ad-hoc SQL.

use futures_util::TryStreamExt;
use serde::Serialize;
use sqlx::sqlite::SqliteRow;
use sqlx::{Column, Row, TypeInfo, ValueRef};

use super::MigrationState;
use crate::error::Error;
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
        let sqlite = conn.as_sqlite().expect("sqlite is the only backend so far");
        self.migrations()
            .state(sqlite)
            .await
            .map_err(|source| Error::Migration {
                tenant_id: tenant.id.clone(),
                source,
            })
    }

    /// Runs the application's seeder on one tenant's database.
    pub async fn seed_tenant(&self, tenant: &Tenant) -> Result<(), Error> {
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
    pub async fn run_sql(&self, tenant: &Tenant, sql: &str) -> Result<SqlOutcome, Error> {
        let mut conn = self.connect(tenant).await?;
        let sqlite = conn.as_sqlite().expect("sqlite is the only backend so far");
        let statement = sqlx::AssertSqlSafe(sql.to_owned());
        let mut outcome = SqlOutcome::default();

        let mut results = sqlx::raw_sql(statement).fetch_many(sqlite);
        while let Some(item) = results.try_next().await.map_err(Error::Database)? {
            match item {
                sqlx::Either::Left(done) => outcome.rows_affected += done.rows_affected(),
                sqlx::Either::Right(row) => push_row(&mut outcome, &row),
            }
        }
        Ok(outcome)
    }
}

fn push_row(outcome: &mut SqlOutcome, row: &SqliteRow) {
    if outcome.columns.is_empty() {
        outcome.columns = row.columns().iter().map(|c| c.name().to_owned()).collect();
    }
    let values = (0..row.columns().len())
        .map(|index| json_value(row, index))
        .collect();
    outcome.rows.push(values);
}

fn json_value(row: &SqliteRow, index: usize) -> serde_json::Value {
    let Ok(raw) = row.try_get_raw(index) else {
        return serde_json::Value::Null;
    };
    if raw.is_null() {
        return serde_json::Value::Null;
    }
    let value = match raw.type_info().name() {
        "INTEGER" => row.try_get::<i64, _>(index).map(serde_json::Value::from),
        "REAL" => row.try_get::<f64, _>(index).map(serde_json::Value::from),
        "BLOB" => row
            .try_get::<Vec<u8>, _>(index)
            .map(|bytes| serde_json::Value::from(format!("<{} bytes>", bytes.len()))),
        _ => row.try_get::<String, _>(index).map(serde_json::Value::from),
    };
    value.unwrap_or(serde_json::Value::Null)
}

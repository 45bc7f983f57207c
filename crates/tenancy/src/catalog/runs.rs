//! The journal of migration runs across tenants.
//!
//! A run and its per-tenant rows are bookkeeping of a job, not changes to tenants, so they
//! are written directly; a result that changes a tenant's database (migrated, rolled back)
//! is recorded through [`super::Mutation::RecordMigration`] so it also enters the change log.

use super::Catalog;
use super::backend::{CatalogRow, Conn, query};
use crate::error::Error;
use crate::tenant_id::TenantId;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A migration run as recorded.
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    /// The run's id.
    pub id: i64,
    /// `migrate` or `rollback`.
    pub kind: String,
    /// For a rollback, the version it goes back to.
    pub target: Option<i64>,
    /// The options it was started with.
    pub options: serde_json::Value,
    /// `running`, `interrupted` or `completed`.
    pub status: String,
    /// Who started it.
    pub actor: Option<String>,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it finished, if it did.
    pub finished_at: Option<DateTime<Utc>>,
}

/// One tenant's line in a run.
#[derive(Debug, Clone, Serialize)]
pub struct RunTenant {
    /// The tenant.
    pub tenant_id: TenantId,
    /// `pending` until done, then the outcome (`migrated`, `up_to_date`, `failed`, …).
    pub status: String,
    /// The error or other detail.
    pub detail: Option<String>,
    /// Versions applied or reverted.
    pub versions: Vec<i64>,
    /// When the tenant was done.
    pub finished_at: Option<DateTime<Utc>>,
}

fn run_from_row(row: &CatalogRow) -> Result<RunRecord, Error> {
    let options: String = row.get("options")?;
    Ok(RunRecord {
        id: row.get("id")?,
        kind: row.get("kind")?,
        target: row.get("target")?,
        options: serde_json::from_str(&options).unwrap_or(serde_json::Value::Null),
        status: row.get("status")?,
        actor: row.get("actor")?,
        started_at: row.get("started_at")?,
        finished_at: row.get("finished_at")?,
    })
}

fn run_tenant_from_row(row: &CatalogRow) -> Result<RunTenant, Error> {
    let id: String = row.get("tenant_id")?;
    let versions: Option<String> = row.get("versions")?;
    Ok(RunTenant {
        tenant_id: TenantId::parse(&id)?,
        status: row.get("status")?,
        detail: row.get("detail")?,
        versions: versions
            .and_then(|v| serde_json::from_str(&v).ok())
            .unwrap_or_default(),
        finished_at: row.get("finished_at")?,
    })
}

const RUN_COLUMNS: &str = "id, kind, target, options, status, actor, started_at, finished_at";

impl Catalog {
    /// Records a new run with every tenant `pending`; returns its id.
    pub async fn create_run(
        &self,
        kind: &str,
        target: Option<i64>,
        options: &serde_json::Value,
        tenants: &[TenantId],
        actor: Option<&str>,
    ) -> Result<i64, Error> {
        let mut tx = self.pool.begin_write().await?;
        let mut conn = tx.conn();
        let insert = query(
            "INSERT INTO migration_runs (kind, target, options, status, actor, started_at) \
             VALUES (?, ?, ?, 'running', ?, ?)",
        )
        .bind(kind)
        .bind(target)
        .bind(options.to_string())
        .bind(actor)
        .bind(Utc::now());
        let id = conn.insert_returning_id(insert).await?;

        for tenant in tenants {
            query(
                "INSERT INTO migration_run_tenants (run_id, tenant_id, status) \
                 VALUES (?, ?, 'pending')",
            )
            .bind(id)
            .bind(tenant.as_str())
            .execute(&mut conn)
            .await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    /// A run by id.
    pub async fn run(&self, id: i64) -> Result<Option<RunRecord>, Error> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM migration_runs WHERE id = ?");
        let row = self.pool.fetch_optional(query(sql).bind(id)).await?;
        row.as_ref().map(run_from_row).transpose()
    }

    /// The newest runs first, at most `limit`.
    pub async fn runs(&self, limit: i64) -> Result<Vec<RunRecord>, Error> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM migration_runs ORDER BY id DESC LIMIT ?");
        let rows = self.pool.fetch_all(query(sql).bind(limit)).await?;
        rows.iter().map(run_from_row).collect()
    }

    /// The newest run that did not complete (interrupted, or still marked running).
    pub async fn latest_unfinished_run(&self) -> Result<Option<RunRecord>, Error> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM migration_runs \
             WHERE status IN ('running', 'interrupted') ORDER BY id DESC LIMIT 1"
        );
        let row = self.pool.fetch_optional(query(sql)).await?;
        row.as_ref().map(run_from_row).transpose()
    }

    /// The tenants of a run, in id order.
    pub async fn run_tenants(&self, run_id: i64) -> Result<Vec<RunTenant>, Error> {
        let select = query(
            "SELECT tenant_id, status, detail, versions, finished_at FROM migration_run_tenants \
             WHERE run_id = ? ORDER BY tenant_id",
        )
        .bind(run_id);
        let rows = self.pool.fetch_all(select).await?;
        rows.iter().map(run_tenant_from_row).collect()
    }

    /// Records a tenant's outcome that changed nothing in its database.
    pub async fn record_run_tenant(
        &self,
        run_id: i64,
        tenant_id: &TenantId,
        status: &str,
        detail: Option<&str>,
    ) -> Result<(), Error> {
        let mut pooled = self.pool.acquire().await?;
        let mut conn = pooled.conn();
        set_run_tenant(&mut conn, run_id, tenant_id, status, detail, &[]).await
    }

    /// Marks a run finished (`completed`) or stopped early (`interrupted`).
    pub async fn finish_run(&self, run_id: i64, status: &str) -> Result<(), Error> {
        let update = query("UPDATE migration_runs SET status = ?, finished_at = ? WHERE id = ?")
            .bind(status)
            .bind(Utc::now())
            .bind(run_id);
        self.pool.execute(update).await?;
        Ok(())
    }

    /// Marks a run `running` again, for a resume.
    pub async fn reopen_run(&self, run_id: i64) -> Result<(), Error> {
        let update =
            query("UPDATE migration_runs SET status = 'running', finished_at = NULL WHERE id = ?")
                .bind(run_id);
        self.pool.execute(update).await?;
        Ok(())
    }
}

pub(super) async fn set_run_tenant(
    conn: &mut Conn<'_>,
    run_id: i64,
    tenant_id: &TenantId,
    status: &str,
    detail: Option<&str>,
    versions: &[i64],
) -> Result<(), Error> {
    let versions = serde_json::to_string(versions).expect("a list of integers serialises");
    query(
        "UPDATE migration_run_tenants SET status = ?, detail = ?, versions = ?, finished_at = ? \
         WHERE run_id = ? AND tenant_id = ?",
    )
    .bind(status)
    .bind(detail)
    .bind(versions)
    .bind(Utc::now())
    .bind(run_id)
    .bind(tenant_id.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

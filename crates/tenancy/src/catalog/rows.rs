//! Reading catalog rows into the model types.

use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection, SqlitePool};

use super::{
    AuditFilter, Change, Mutation, Origin, SortValue, TenantFilter, TenantSort, TenantSortKey,
};
use crate::error::Error;
use crate::keys::{ApiKey, StoredKey, parse_scopes};
use crate::tenant::{Domain, Tenant, TenantStatus};
use crate::tenant_id::TenantId;

const TENANT_COLUMNS: &str = "id, name, status, plan, data, server, database_name, \
                              retry_after_secs, reason, created_at, updated_at";

pub(super) fn parse_status(text: &str) -> Result<TenantStatus, Error> {
    text.parse().map_err(|error: crate::tenant::UnknownStatus| {
        Error::Catalog(sqlx::Error::Decode(Box::new(error)))
    })
}

fn decode_error(error: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Catalog(sqlx::Error::Decode(Box::new(error)))
}

fn tenant_from_row(row: &SqliteRow) -> Result<Tenant, Error> {
    let get = |error: sqlx::Error| Error::Catalog(error);
    let id: String = row.try_get("id").map_err(get)?;
    let data: String = row.try_get("data").map_err(get)?;
    let retry_after: Option<i64> = row.try_get("retry_after_secs").map_err(get)?;

    Ok(Tenant {
        id: TenantId::parse(&id).map_err(decode_error)?,
        name: row.try_get("name").map_err(get)?,
        status: parse_status(&row.try_get::<String, _>("status").map_err(get)?)?,
        plan: row.try_get("plan").map_err(get)?,
        data: serde_json::from_str(&data).map_err(decode_error)?,
        server: row.try_get("server").map_err(get)?,
        database: row.try_get("database_name").map_err(get)?,
        retry_after_secs: retry_after.and_then(|secs| u32::try_from(secs).ok()),
        reason: row.try_get("reason").map_err(get)?,
        created_at: row.try_get("created_at").map_err(get)?,
        updated_at: row.try_get("updated_at").map_err(get)?,
    })
}

pub(super) async fn tenant(pool: &SqlitePool, id: &TenantId) -> Result<Option<Tenant>, Error> {
    let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = ?");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.as_str())
        .fetch_optional(pool)
        .await
        .map_err(Error::Catalog)?;
    row.as_ref().map(tenant_from_row).transpose()
}

pub(super) async fn tenants(
    pool: &SqlitePool,
    filter: &TenantFilter,
) -> Result<Vec<Tenant>, Error> {
    let (column, direction) = sort_sql(filter.sort);
    // Keyset paging: the next page starts after the last row's (sort value, id), so rows
    // added or removed meanwhile shift nothing.
    let after = match filter.after {
        Some(_) if filter.sort.descending => {
            format!("({column} < ? OR ({column} = ? AND id < ?))")
        }
        Some(_) => format!("({column} > ? OR ({column} = ? AND id > ?))"),
        None => "1".to_owned(),
    };
    let sql = format!(
        "SELECT {TENANT_COLUMNS} FROM tenants \
         WHERE (? IS NULL OR status = ?) AND (? IS NULL OR server = ?) \
         AND (? IS NULL OR plan = ?) \
         AND (? IS NULL OR instr(lower(id), ?) > 0 OR instr(lower(name), ?) > 0 \
              OR EXISTS (SELECT 1 FROM domains d WHERE d.tenant_id = tenants.id \
                         AND instr(d.host, ?) > 0)) \
         AND {after} \
         ORDER BY {column} {direction}, id {direction} LIMIT ?"
    );
    let status = filter.status.map(TenantStatus::as_str);
    let search = filter.search.as_deref().map(str::to_ascii_lowercase);
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(status)
        .bind(status)
        .bind(filter.server.as_deref())
        .bind(filter.server.as_deref())
        .bind(filter.plan.as_deref())
        .bind(filter.plan.as_deref());
    for _ in 0..4 {
        query = query.bind(search.clone());
    }
    if let Some(position) = &filter.after {
        for _ in 0..2 {
            query = match &position.value {
                SortValue::Text(text) => query.bind(text.clone()),
                SortValue::Time(at) => query.bind(*at),
            };
        }
        query = query.bind(position.id.as_str().to_owned());
    }
    let rows = query
        // SQLite reads a negative limit as no limit.
        .bind(filter.limit.unwrap_or(-1))
        .fetch_all(pool)
        .await
        .map_err(Error::Catalog)?;
    rows.iter().map(tenant_from_row).collect()
}

/// The column expression and direction of a sort. Times are stored as RFC 3339 text with
/// 0, 3, 6 or 9 fraction digits, which sorts as the times do.
fn sort_sql(sort: TenantSort) -> (&'static str, &'static str) {
    let column = match sort.key {
        TenantSortKey::Id => "id",
        TenantSortKey::Name => "name COLLATE NOCASE",
        TenantSortKey::CreatedAt => "created_at",
        TenantSortKey::UpdatedAt => "updated_at",
    };
    (column, if sort.descending { "DESC" } else { "ASC" })
}

pub(super) async fn tenant_for_domain(
    pool: &SqlitePool,
    host: &str,
) -> Result<Option<TenantId>, Error> {
    let owner: Option<String> = sqlx::query_scalar("SELECT tenant_id FROM domains WHERE host = ?")
        .bind(host)
        .fetch_optional(pool)
        .await
        .map_err(Error::Catalog)?;
    owner
        .map(|id| TenantId::parse(&id).map_err(decode_error))
        .transpose()
}

pub(super) async fn domains(
    pool: &SqlitePool,
    tenant_id: Option<&TenantId>,
) -> Result<Vec<Domain>, Error> {
    let rows = sqlx::query(
        "SELECT host, tenant_id, is_primary FROM domains \
         WHERE (? IS NULL OR tenant_id = ?) ORDER BY tenant_id, is_primary DESC, host",
    )
    .bind(tenant_id.map(TenantId::as_str))
    .bind(tenant_id.map(TenantId::as_str))
    .fetch_all(pool)
    .await
    .map_err(Error::Catalog)?;

    rows.iter()
        .map(|row| {
            let tenant: String = row.try_get("tenant_id").map_err(Error::Catalog)?;
            Ok(Domain {
                host: row.try_get("host").map_err(Error::Catalog)?,
                tenant_id: TenantId::parse(&tenant).map_err(decode_error)?,
                primary: row
                    .try_get::<i64, _>("is_primary")
                    .map_err(Error::Catalog)?
                    != 0,
            })
        })
        .collect()
}

fn change_from_row(row: &SqliteRow) -> Result<Change, Error> {
    let tenant: Option<String> = row.try_get("tenant_id").map_err(Error::Catalog)?;
    let detail: String = row.try_get("detail").map_err(Error::Catalog)?;
    Ok(Change {
        seq: row.try_get("seq").map_err(Error::Catalog)?,
        tenant_id: tenant
            .map(|id| TenantId::parse(&id).map_err(decode_error))
            .transpose()?,
        action: row.try_get("action").map_err(Error::Catalog)?,
        detail: serde_json::from_str(&detail).map_err(decode_error)?,
        actor: row.try_get("actor").map_err(Error::Catalog)?,
        client_addr: row.try_get("client_addr").map_err(Error::Catalog)?,
        at: row.try_get("at").map_err(Error::Catalog)?,
    })
}

pub(super) async fn changes_since(
    pool: &SqlitePool,
    seq: i64,
    limit: i64,
) -> Result<Vec<Change>, Error> {
    let rows = sqlx::query(
        "SELECT seq, tenant_id, action, detail, actor, client_addr, at FROM changes \
         WHERE seq > ? ORDER BY seq LIMIT ?",
    )
    .bind(seq)
    .bind(limit)
    .fetch_all(pool)
    .await
    .map_err(Error::Catalog)?;
    rows.iter().map(change_from_row).collect()
}

pub(super) async fn placement(
    conn: &mut SqliteConnection,
    id: &TenantId,
) -> Result<Option<(String, String)>, Error> {
    sqlx::query_as("SELECT server, database_name FROM tenants WHERE id = ?")
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(Error::Catalog)
}

pub(super) async fn append_change(
    conn: &mut SqliteConnection,
    mutation: &Mutation,
    tenant_id: Option<TenantId>,
    placement: Option<(String, String)>,
    origin: Origin<'_>,
    at: DateTime<Utc>,
) -> Result<Change, Error> {
    let mut detail = mutation.detail();
    if let (Some((server, database)), Some(object)) = (placement, detail.as_object_mut()) {
        let placement = serde_json::json!({ "server": server, "database": database });
        object.insert("placement".to_owned(), placement);
    }
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO changes (tenant_id, action, detail, actor, client_addr, at) \
         VALUES (?, ?, ?, ?, ?, ?) RETURNING seq",
    )
    .bind(tenant_id.as_ref().map(TenantId::as_str))
    .bind(mutation.action())
    .bind(detail.to_string())
    .bind(origin.actor)
    .bind(origin.client_addr)
    .bind(at)
    .fetch_one(&mut *conn)
    .await
    .map_err(Error::Catalog)?;

    Ok(Change {
        seq,
        tenant_id,
        action: mutation.action().to_owned(),
        detail,
        actor: origin.actor.map(str::to_owned),
        client_addr: origin.client_addr.map(str::to_owned),
        at,
    })
}

pub(super) async fn audit(pool: &SqlitePool, filter: &AuditFilter) -> Result<Vec<Change>, Error> {
    // An action ending in '.' names a family (`tenant.`); otherwise it must match exactly.
    let family = filter
        .action
        .as_ref()
        .filter(|action| action.ends_with('.'));
    let exact = filter
        .action
        .as_ref()
        .filter(|action| !action.ends_with('.'));
    let rows = sqlx::query(
        "SELECT seq, tenant_id, action, detail, actor, client_addr, at FROM changes \
         WHERE (? IS NULL OR actor = ?) AND (? IS NULL OR tenant_id = ?) \
         AND (? IS NULL OR action = ?) AND (? IS NULL OR substr(action, 1, length(?)) = ?) \
         AND (? IS NULL OR at >= ?) AND (? IS NULL OR at < ?) AND (? IS NULL OR seq < ?) \
         ORDER BY seq DESC LIMIT ?",
    )
    .bind(filter.actor.as_deref())
    .bind(filter.actor.as_deref())
    .bind(filter.tenant_id.as_ref().map(TenantId::as_str))
    .bind(filter.tenant_id.as_ref().map(TenantId::as_str))
    .bind(exact)
    .bind(exact)
    .bind(family)
    .bind(family)
    .bind(family)
    .bind(filter.since)
    .bind(filter.since)
    .bind(filter.until)
    .bind(filter.until)
    .bind(filter.before_seq)
    .bind(filter.before_seq)
    .bind(filter.limit)
    .fetch_all(pool)
    .await
    .map_err(Error::Catalog)?;
    rows.iter().map(change_from_row).collect()
}

const KEY_COLUMNS: &str =
    "id, name, scopes, secret_sha256, created_at, expires_at, last_used_at, revoked_at";

fn key_from_row(row: &SqliteRow) -> Result<StoredKey, Error> {
    let get = |error: sqlx::Error| Error::Catalog(error);
    let scopes: String = row.try_get("scopes").map_err(get)?;
    let key = ApiKey {
        id: row.try_get("id").map_err(get)?,
        name: row.try_get("name").map_err(get)?,
        scopes: parse_scopes(&scopes).map_err(decode_error)?,
        created_at: row.try_get("created_at").map_err(get)?,
        expires_at: row.try_get("expires_at").map_err(get)?,
        last_used_at: row.try_get("last_used_at").map_err(get)?,
        revoked_at: row.try_get("revoked_at").map_err(get)?,
    };
    Ok(StoredKey {
        key,
        secret_sha256: row.try_get("secret_sha256").map_err(get)?,
    })
}

pub(super) async fn api_key(pool: &SqlitePool, id: &str) -> Result<Option<StoredKey>, Error> {
    let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(Error::Catalog)?;
    row.as_ref().map(key_from_row).transpose()
}

pub(super) async fn api_keys(pool: &SqlitePool) -> Result<Vec<ApiKey>, Error> {
    let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at, id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(pool)
        .await
        .map_err(Error::Catalog)?;
    rows.iter()
        .map(|row| key_from_row(row).map(|stored| stored.key))
        .collect()
}

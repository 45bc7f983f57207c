//! Reading catalog rows into the model types.

use chrono::{DateTime, Utc};

use super::backend::{CatalogPool, CatalogRow, Conn, query};
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

fn tenant_from_row(row: &CatalogRow) -> Result<Tenant, Error> {
    let id: String = row.get("id")?;
    let data: String = row.get("data")?;
    let retry_after: Option<i64> = row.get("retry_after_secs")?;

    Ok(Tenant {
        id: TenantId::parse(&id).map_err(decode_error)?,
        name: row.get("name")?,
        status: parse_status(&row.get::<String>("status")?)?,
        plan: row.get("plan")?,
        data: serde_json::from_str(&data).map_err(decode_error)?,
        server: row.get("server")?,
        database: row.get("database_name")?,
        retry_after_secs: retry_after.and_then(|secs| u32::try_from(secs).ok()),
        reason: row.get("reason")?,
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
    })
}

pub(super) async fn tenant(pool: &CatalogPool, id: &TenantId) -> Result<Option<Tenant>, Error> {
    let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = ?");
    let row = pool.fetch_optional(query(sql).bind(id.as_str())).await?;
    row.as_ref().map(tenant_from_row).transpose()
}

pub(super) async fn tenants(
    pool: &CatalogPool,
    filter: &TenantFilter,
) -> Result<Vec<Tenant>, Error> {
    let (column, value, direction) = sort_sql(filter.sort);
    // Keyset paging: the next page starts after the last row's (sort value, id), so rows
    // added or removed meanwhile shift nothing.
    let after = match filter.after {
        Some(_) if filter.sort.descending => {
            format!("({column} < {value} OR ({column} = {value} AND id < ?))")
        }
        Some(_) => format!("({column} > {value} OR ({column} = {value} AND id > ?))"),
        None => "1 = 1".to_owned(),
    };
    // The search is a LIKE pattern on every backend (SQLite and MySQL have `instr`, PostgreSQL
    // does not), over values folded to lower case, with `!` escaping the pattern's own
    // wildcards.
    let sql = format!(
        "SELECT {TENANT_COLUMNS} FROM tenants \
         WHERE (? IS NULL OR status = ?) AND (? IS NULL OR server = ?) \
         AND (? IS NULL OR plan = ?) \
         AND (? IS NULL OR lower(id) LIKE ? ESCAPE '!' OR lower(name) LIKE ? ESCAPE '!' \
              OR EXISTS (SELECT 1 FROM domains d WHERE d.tenant_id = tenants.id \
                         AND d.host LIKE ? ESCAPE '!')) \
         AND {after} \
         ORDER BY {column} {direction}, id {direction} LIMIT ?"
    );
    let status = filter.status.map(TenantStatus::as_str);
    let pattern = filter.search.as_deref().map(like_pattern);
    let mut select = query(sql)
        .bind(status)
        .bind(status)
        .bind(filter.server.as_deref())
        .bind(filter.server.as_deref())
        .bind(filter.plan.as_deref())
        .bind(filter.plan.as_deref());
    for _ in 0..4 {
        select = select.bind(pattern.as_deref());
    }
    if let Some(position) = &filter.after {
        for _ in 0..2 {
            select = match &position.value {
                SortValue::Text(text) => select.bind(text.as_str()),
                SortValue::Time(at) => select.bind(*at),
            };
        }
        select = select.bind(position.id.as_str());
    }
    // No backend shares a spelling of "no limit"; every one accepts the largest.
    let select = select.bind(filter.limit.unwrap_or(i64::MAX));
    let rows = pool.fetch_all(select).await?;
    rows.iter().map(tenant_from_row).collect()
}

/// `%search%` in lower case (ASCII), with the LIKE wildcards and the escape character `!`
/// escaped, so the search matches its text literally.
fn like_pattern(search: &str) -> String {
    let mut pattern = String::with_capacity(search.len() + 2);
    pattern.push('%');
    for c in search.chars().map(|c| c.to_ascii_lowercase()) {
        if matches!(c, '%' | '_' | '!') {
            pattern.push('!');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The column expression of a sort, the placeholder expression a position's value is
/// compared through, and the direction. Names compare folded to lower case on both sides;
/// times compare as the backend's time type (RFC 3339 text on SQLite, which sorts as the
/// times do).
fn sort_sql(sort: TenantSort) -> (&'static str, &'static str, &'static str) {
    let (column, value) = match sort.key {
        TenantSortKey::Id => ("id", "?"),
        TenantSortKey::Name => ("lower(name)", "lower(?)"),
        TenantSortKey::CreatedAt => ("created_at", "?"),
        TenantSortKey::UpdatedAt => ("updated_at", "?"),
    };
    (column, value, if sort.descending { "DESC" } else { "ASC" })
}

pub(super) async fn tenant_for_domain(
    pool: &CatalogPool,
    host: &str,
) -> Result<Option<TenantId>, Error> {
    let select = query("SELECT tenant_id FROM domains WHERE host = ?").bind(host);
    let owner: Option<String> = pool.acquire().await?.conn().scalar_optional(select).await?;
    owner
        .map(|id| TenantId::parse(&id).map_err(decode_error))
        .transpose()
}

pub(super) async fn domains(
    pool: &CatalogPool,
    tenant_id: Option<&TenantId>,
) -> Result<Vec<Domain>, Error> {
    let select = query(
        "SELECT host, tenant_id, is_primary FROM domains \
         WHERE (? IS NULL OR tenant_id = ?) ORDER BY tenant_id, is_primary DESC, host",
    )
    .bind(tenant_id.map(TenantId::as_str))
    .bind(tenant_id.map(TenantId::as_str));
    let rows = pool.fetch_all(select).await?;

    rows.iter()
        .map(|row| {
            let tenant: String = row.get("tenant_id")?;
            Ok(Domain {
                host: row.get("host")?,
                tenant_id: TenantId::parse(&tenant).map_err(decode_error)?,
                primary: row.get::<i64>("is_primary")? != 0,
            })
        })
        .collect()
}

fn change_from_row(row: &CatalogRow) -> Result<Change, Error> {
    let tenant: Option<String> = row.get("tenant_id")?;
    let detail: String = row.get("detail")?;
    Ok(Change {
        seq: row.get("seq")?,
        tenant_id: tenant
            .map(|id| TenantId::parse(&id).map_err(decode_error))
            .transpose()?,
        action: row.get("action")?,
        detail: serde_json::from_str(&detail).map_err(decode_error)?,
        actor: row.get("actor")?,
        client_addr: row.get("client_addr")?,
        at: row.get("at")?,
    })
}

pub(super) async fn changes_since(
    pool: &CatalogPool,
    seq: i64,
    limit: i64,
) -> Result<Vec<Change>, Error> {
    let select = query(
        "SELECT seq, tenant_id, action, detail, actor, client_addr, at FROM changes \
         WHERE seq > ? ORDER BY seq LIMIT ?",
    )
    .bind(seq)
    .bind(limit);
    let rows = pool.fetch_all(select).await?;
    rows.iter().map(change_from_row).collect()
}

pub(super) async fn placement(
    conn: &mut Conn<'_>,
    id: &TenantId,
) -> Result<Option<(String, String)>, Error> {
    let select = query("SELECT server, database_name FROM tenants WHERE id = ?").bind(id.as_str());
    let row = conn.fetch_optional(select).await?;
    row.map(|row| Ok((row.get("server")?, row.get("database_name")?)))
        .transpose()
}

pub(super) async fn append_change(
    conn: &mut Conn<'_>,
    seq: i64,
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
    let insert = query(
        "INSERT INTO changes (seq, tenant_id, action, detail, actor, client_addr, at) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(seq)
    .bind(tenant_id.as_ref().map(TenantId::as_str))
    .bind(mutation.action())
    .bind(detail.to_string())
    .bind(origin.actor)
    .bind(origin.client_addr)
    .bind(at);
    conn.execute(insert).await?;

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

pub(super) async fn audit(pool: &CatalogPool, filter: &AuditFilter) -> Result<Vec<Change>, Error> {
    // An action ending in '.' names a family (`tenant.`); otherwise it must match exactly.
    let family = filter
        .action
        .as_ref()
        .filter(|action| action.ends_with('.'));
    let exact = filter
        .action
        .as_ref()
        .filter(|action| !action.ends_with('.'));
    let select = query(
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
    .bind(filter.limit);
    let rows = pool.fetch_all(select).await?;
    rows.iter().map(change_from_row).collect()
}

const KEY_COLUMNS: &str =
    "id, name, scopes, secret_sha256, created_at, expires_at, last_used_at, revoked_at";

fn key_from_row(row: &CatalogRow) -> Result<StoredKey, Error> {
    let scopes: String = row.get("scopes")?;
    let key = ApiKey {
        id: row.get("id")?,
        name: row.get("name")?,
        scopes: parse_scopes(&scopes).map_err(decode_error)?,
        created_at: row.get("created_at")?,
        expires_at: row.get("expires_at")?,
        last_used_at: row.get("last_used_at")?,
        revoked_at: row.get("revoked_at")?,
    };
    Ok(StoredKey {
        key,
        secret_sha256: row.get("secret_sha256")?,
    })
}

pub(super) async fn api_key(pool: &CatalogPool, id: &str) -> Result<Option<StoredKey>, Error> {
    let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?");
    let row = pool.fetch_optional(query(sql).bind(id)).await?;
    row.as_ref().map(key_from_row).transpose()
}

pub(super) async fn api_keys(pool: &CatalogPool) -> Result<Vec<ApiKey>, Error> {
    let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at, id");
    let rows = pool.fetch_all(query(sql)).await?;
    rows.iter()
        .map(|row| key_from_row(row).map(|stored| stored.key))
        .collect()
}

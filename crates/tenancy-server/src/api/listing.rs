//! The order of tenant listings and the cursors that resume them.
//!
//! A cursor is the last tenant's sort value and id, with the sort it was made for, as
//! base64url JSON: opaque to clients, and refused with another sort, since resuming one
//! order at a position of another would skip or repeat tenants.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use tenancy::catalog::{SortValue, TenantPosition, TenantSort, TenantSortKey};
use tenancy::{Tenant, TenantId};

use super::problem::ApiError;
use super::query::Params;

/// The sort `sort` and `order` ask for: `name`, `-name`, `name` with `order=desc`.
pub fn sort(params: &Params) -> Result<TenantSort, ApiError> {
    let raw = params.text("sort").unwrap_or_else(|| "id".to_owned());
    let (name, minus) = match raw.strip_prefix('-') {
        Some(name) => (name, true),
        None => (raw.as_str(), false),
    };
    let key = TenantSortKey::parse(name).ok_or_else(|| {
        ApiError::invalid(
            "sort",
            "expected id, name, created_at or updated_at, with an optional leading '-'",
        )
    })?;
    let descending = match params.text("order").as_deref() {
        None | Some("asc") => minus,
        Some("desc") if !minus => true,
        Some("desc") => {
            let detail = "give a leading '-' or order=desc, not both";
            return Err(ApiError::invalid("order", detail));
        }
        Some(_) => return Err(ApiError::invalid("order", "expected asc or desc")),
    };
    Ok(TenantSort { key, descending })
}

/// The canonical name of a sort, as cursors carry it: `name` or `-name`.
fn sort_name(sort: TenantSort) -> String {
    let sign = if sort.descending { "-" } else { "" };
    format!("{sign}{}", sort.key.as_str())
}

/// The cursor resuming a listing in `sort` after `tenant`.
pub fn cursor(sort: TenantSort, tenant: &Tenant) -> String {
    let value = match sort.key.value_of(tenant) {
        SortValue::Text(text) => text,
        SortValue::Time(at) => at.to_rfc3339(),
    };
    let parts = serde_json::json!([sort_name(sort), value, tenant.id.as_str()]);
    URL_SAFE_NO_PAD.encode(parts.to_string())
}

/// The position a `cursor` parameter names, checked against the listing's `sort`.
pub fn position(params: &Params, sort: TenantSort) -> Result<Option<TenantPosition>, ApiError> {
    let Some(raw) = params.text("cursor") else {
        return Ok(None);
    };
    let (made_for, value, id) = decode(&raw)
        .ok_or_else(|| ApiError::invalid("cursor", "not a cursor this API gave out"))?;
    if made_for != sort_name(sort) {
        let detail = format!("this cursor resumes sort={made_for}; pass the same sort");
        return Err(ApiError::invalid("cursor", detail));
    }
    let value = match sort.key {
        TenantSortKey::Id | TenantSortKey::Name => SortValue::Text(value),
        TenantSortKey::CreatedAt | TenantSortKey::UpdatedAt => {
            let at = DateTime::parse_from_rfc3339(&value)
                .map_err(|_| ApiError::invalid("cursor", "not a cursor this API gave out"))?;
            SortValue::Time(at.with_timezone(&Utc))
        }
    };
    let id = TenantId::parse(&id)
        .map_err(|_| ApiError::invalid("cursor", "not a cursor this API gave out"))?;
    Ok(Some(TenantPosition { value, id }))
}

fn decode(raw: &str) -> Option<(String, String, String)> {
    let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenancy::TenantStatus;

    fn tenant(name: &str) -> Tenant {
        let now = Utc::now();
        Tenant {
            id: TenantId::parse("acme").unwrap(),
            name: name.into(),
            status: TenantStatus::Active,
            plan: None,
            data: serde_json::json!({}),
            server: "local".into(),
            database: "acme".into(),
            retry_after_secs: None,
            reason: None,
            created_at: now,
            updated_at: now,
        }
    }

    fn params(query: &[(&str, &str)]) -> Params {
        Params::from_pairs(query.iter().map(|(k, v)| ((*k).into(), (*v).into())))
    }

    #[test]
    fn a_cursor_resumes_its_own_sort_at_its_tenant() {
        let sort = TenantSort {
            key: TenantSortKey::Name,
            descending: true,
        };
        let tenant = tenant("Ä \"quoted\"\nname");
        let raw = cursor(sort, &tenant);
        let position = position(&params(&[("cursor", &raw)]), sort)
            .unwrap()
            .unwrap();
        assert_eq!(position.value, SortValue::Text(tenant.name.clone()));
        assert_eq!(position.id, tenant.id);

        let other = TenantSort::default();
        let refused = position_error(&raw, other);
        assert!(refused.contains("sort=-name"), "{refused}");
    }

    #[test]
    fn a_time_cursor_keeps_the_time_exactly() {
        let sort = TenantSort {
            key: TenantSortKey::CreatedAt,
            descending: false,
        };
        let tenant = tenant("x");
        let raw = cursor(sort, &tenant);
        let position = position(&params(&[("cursor", &raw)]), sort)
            .unwrap()
            .unwrap();
        assert_eq!(position.value, SortValue::Time(tenant.created_at));
    }

    fn position_error(raw: &str, sort: TenantSort) -> String {
        let error = position(&params(&[("cursor", raw)]), sort).unwrap_err();
        error.0.detail().unwrap_or_default().to_owned()
    }

    #[test]
    fn sorts_are_read_from_sort_and_order() {
        let read = |query: &[(&str, &str)]| sort(&params(query)).map(sort_name);
        assert_eq!(read(&[]).unwrap(), "id");
        assert_eq!(read(&[("sort", "-name")]).unwrap(), "-name");
        assert_eq!(
            read(&[("sort", "created_at"), ("order", "desc")]).unwrap(),
            "-created_at"
        );
        assert!(read(&[("sort", "plan")]).is_err());
        assert!(read(&[("sort", "-name"), ("order", "desc")]).is_err());
        assert!(read(&[("order", "up")]).is_err());
    }
}

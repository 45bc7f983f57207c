//! Per-tenant traffic rules: a rate limit and IP allow and block lists, set per plan with
//! per-tenant overrides.
//!
//! Rules live in the catalog and change through [`crate::Catalog::apply`] like everything
//! else, so a change reaches every process through the change log. This module only holds
//! and resolves them; the HTTP layer enforces them.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::{Arc, RwLock};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::tenant::Tenant;
use crate::tenant_id::TenantId;

/// Whom a set of rules applies to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RuleScope {
    /// Every tenant on this plan that has no rule of its own for a field.
    Plan(String),
    /// One tenant; its fields win over its plan's.
    Tenant(TenantId),
}

impl RuleScope {
    /// The plan scope, checking the plan name (1 to 64 printable characters, no spaces).
    pub fn plan(name: &str) -> Result<Self, Error> {
        let valid =
            !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_graphic());
        if !valid {
            return Err(Error::InvalidInput {
                field: "plan",
                reason: format!(
                    "'{name}' is not a plan name: 1 to 64 visible ASCII characters, no spaces"
                ),
            });
        }
        Ok(RuleScope::Plan(name.to_owned()))
    }

    /// The tenant concerned, for a tenant scope.
    pub fn tenant_id(&self) -> Option<&TenantId> {
        match self {
            RuleScope::Tenant(id) => Some(id),
            RuleScope::Plan(_) => None,
        }
    }
}

impl fmt::Display for RuleScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleScope::Plan(plan) => write!(f, "plan:{plan}"),
            RuleScope::Tenant(id) => write!(f, "tenant:{id}"),
        }
    }
}

impl FromStr for RuleScope {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        match text.split_once(':') {
            Some(("plan", plan)) => RuleScope::plan(plan),
            Some(("tenant", id)) => Ok(RuleScope::Tenant(TenantId::parse(id)?)),
            _ => Err(Error::InvalidInput {
                field: "scope",
                reason: format!("'{text}' is neither plan:<name> nor tenant:<id>"),
            }),
        }
    }
}

/// A rate limit: a steady rate with a burst allowance (a token bucket).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Requests per second, sustained. At least 1.
    pub per_second: u32,
    /// Requests that may arrive at once after a quiet spell. At least 1.
    pub burst: u32,
}

impl RateLimit {
    /// A checked rate limit.
    pub fn new(per_second: u32, burst: u32) -> Result<Self, Error> {
        let limit = RateLimit { per_second, burst };
        limit.validate()?;
        Ok(limit)
    }

    fn validate(&self) -> Result<(), Error> {
        let fail = |field, reason: &str| {
            Err(Error::InvalidInput {
                field,
                reason: reason.to_owned(),
            })
        };
        match (self.per_second, self.burst) {
            (0, _) => fail("per_second", "must be at least 1"),
            (_, 0) => fail("burst", "must be at least 1"),
            (p, _) if p > 1_000_000 => fail("per_second", "must be at most 1000000"),
            (_, b) if b > 1_000_000 => fail("burst", "must be at most 1000000"),
            _ => Ok(()),
        }
    }
}

/// A rate rule: a limit, or an explicit "no limit" that overrides a plan's limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RateRule {
    /// No rate limit.
    Unlimited,
    /// This limit.
    Limit(RateLimit),
}

/// The rules of one scope. A field left out is inherited: a tenant's from its plan, a
/// plan's from nothing (no rule).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficRules {
    /// Rate limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<RateRule>,
    /// When set and not empty, only these networks may reach the tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow: Option<Vec<IpNet>>,
    /// These networks may not reach the tenant (checked before `allow`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block: Option<Vec<IpNet>>,
}

impl TrafficRules {
    /// Checks every value; the error names the field.
    pub fn validate(&self) -> Result<(), Error> {
        if let Some(RateRule::Limit(limit)) = &self.rate {
            limit.validate()?;
        }
        for (field, list) in [("allow", &self.allow), ("block", &self.block)] {
            if list.as_ref().is_some_and(|l| l.len() > 1000) {
                return Err(Error::InvalidInput {
                    field,
                    reason: "at most 1000 networks".into(),
                });
            }
        }
        Ok(())
    }

    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        self.rate.is_none() && self.allow.is_none() && self.block.is_none()
    }

    /// These rules with every unset field taken from `fallback`.
    fn over(&self, fallback: Option<&TrafficRules>) -> TrafficRules {
        let Some(fallback) = fallback else {
            return self.clone();
        };
        TrafficRules {
            rate: self.rate.or(fallback.rate),
            allow: self.allow.clone().or_else(|| fallback.allow.clone()),
            block: self.block.clone().or_else(|| fallback.block.clone()),
        }
    }
}

/// Parses a network for an allow or block list: `10.0.0.0/8`, `2001:db8::/32`, or a single
/// address (`192.0.2.7`, taken as `/32` or `/128`).
pub fn parse_network(text: &str) -> Result<IpNet, Error> {
    let text = text.trim();
    if let Ok(net) = text.parse::<IpNet>() {
        return Ok(net.trunc());
    }
    text.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| Error::InvalidInput {
            field: "network",
            reason: format!("'{text}' is not an IP address or a CIDR network"),
        })
}

/// What a request's client address may do, by the effective rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpVerdict {
    /// Let through.
    Allowed,
    /// On the block list.
    Blocked,
    /// Not on a non-empty allow list (or no address is known to check it against).
    NotAllowed,
}

/// The rules a tenant's requests are held to, plans and overrides resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EffectiveRules {
    /// The rate limit, if any.
    pub rate: Option<RateLimit>,
    /// Networks allowed (empty: all).
    pub allow: Vec<IpNet>,
    /// Networks blocked.
    pub block: Vec<IpNet>,
}

impl EffectiveRules {
    /// Judges a client address. An unknown address passes a tenant without an allow list
    /// and fails one with.
    pub fn check_ip(&self, client: Option<IpAddr>) -> IpVerdict {
        let Some(ip) = client.map(canonical) else {
            return match self.allow.is_empty() {
                true => IpVerdict::Allowed,
                false => IpVerdict::NotAllowed,
            };
        };
        if self.block.iter().any(|net| net.contains(&ip)) {
            return IpVerdict::Blocked;
        }
        if !self.allow.is_empty() && !self.allow.iter().any(|net| net.contains(&ip)) {
            return IpVerdict::NotAllowed;
        }
        IpVerdict::Allowed
    }
}

/// An IPv4 address reached over IPv6 (`::ffff:192.0.2.7`) is judged as the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// Every scope's rules, held in memory and replaced whole when the catalog's rules change.
#[derive(Debug, Clone, Default)]
pub struct TrafficTable {
    rules: Arc<RwLock<Arc<HashMap<RuleScope, TrafficRules>>>>,
}

impl TrafficTable {
    /// Replaces every rule.
    pub(crate) fn replace(&self, rules: HashMap<RuleScope, TrafficRules>) {
        *self.rules.write().expect("traffic rules poisoned") = Arc::new(rules);
    }

    fn snapshot(&self) -> Arc<HashMap<RuleScope, TrafficRules>> {
        self.rules.read().expect("traffic rules poisoned").clone()
    }

    /// The rules stored for one scope, if any.
    pub fn get(&self, scope: &RuleScope) -> Option<TrafficRules> {
        self.snapshot().get(scope).cloned()
    }

    /// Every scope with rules, sorted.
    pub fn all(&self) -> Vec<(RuleScope, TrafficRules)> {
        let mut all: Vec<_> = self
            .snapshot()
            .iter()
            .map(|(scope, rules)| (scope.clone(), rules.clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// The rules a tenant's requests are held to: its own fields, else its plan's.
    pub fn effective(&self, tenant: &Tenant) -> EffectiveRules {
        let table = self.snapshot();
        if table.is_empty() {
            return EffectiveRules::default();
        }
        let own = table.get(&RuleScope::Tenant(tenant.id.clone()));
        let plan = tenant
            .plan
            .as_ref()
            .and_then(|plan| table.get(&RuleScope::Plan(plan.clone())));
        let merged = match own {
            Some(own) => own.over(plan),
            None => plan.cloned().unwrap_or_default(),
        };
        EffectiveRules {
            rate: match merged.rate {
                Some(RateRule::Limit(limit)) => Some(limit),
                Some(RateRule::Unlimited) | None => None,
            },
            allow: merged.allow.unwrap_or_default(),
            block: merged.block.unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| parse_network(n).unwrap()).collect()
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn block_wins_over_allow_and_an_allow_list_excludes_the_rest() {
        let rules = EffectiveRules {
            rate: None,
            allow: nets(&["10.0.0.0/8", "2001:db8::/32"]),
            block: nets(&["10.0.0.66"]),
        };
        assert_eq!(rules.check_ip(ip("10.1.2.3")), IpVerdict::Allowed);
        assert_eq!(rules.check_ip(ip("10.0.0.66")), IpVerdict::Blocked);
        assert_eq!(rules.check_ip(ip("192.0.2.1")), IpVerdict::NotAllowed);
        assert_eq!(rules.check_ip(ip("2001:db8::1")), IpVerdict::Allowed);
        assert_eq!(rules.check_ip(ip("::ffff:10.9.9.9")), IpVerdict::Allowed);
        assert_eq!(rules.check_ip(None), IpVerdict::NotAllowed);
        assert_eq!(EffectiveRules::default().check_ip(None), IpVerdict::Allowed);
    }

    #[test]
    fn networks_parse_with_or_without_a_prefix_and_garbage_is_named() {
        assert_eq!(
            parse_network("192.0.2.7").unwrap().to_string(),
            "192.0.2.7/32"
        );
        assert_eq!(
            parse_network("10.1.2.3/8").unwrap().to_string(),
            "10.0.0.0/8"
        );
        let error = parse_network("10.0.0.0/33").unwrap_err().to_string();
        assert!(error.contains("10.0.0.0/33"), "{error}");
        assert!(parse_network("localhost").is_err());
    }

    #[test]
    fn scopes_round_trip_and_refuse_bad_names() {
        for text in ["plan:pro", "tenant:alpha"] {
            assert_eq!(text.parse::<RuleScope>().unwrap().to_string(), text);
        }
        assert!("plan:".parse::<RuleScope>().is_err());
        assert!("plan:has space".parse::<RuleScope>().is_err());
        assert!("tenant:Bad_Id".parse::<RuleScope>().is_err());
        assert!("alpha".parse::<RuleScope>().is_err());
    }

    #[test]
    fn rate_limits_must_be_positive() {
        assert!(RateLimit::new(0, 5).is_err());
        assert!(RateLimit::new(5, 0).is_err());
        assert!(RateLimit::new(5, 10).is_ok());
        let json = r#"{"rate":{"limit":{"per_second":1,"burst":2}},"colour":"red"}"#;
        assert!(serde_json::from_str::<TrafficRules>(json).is_err());
    }
}

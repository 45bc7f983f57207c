//! Enforcing a tenant's traffic rules: its client address against the IP lists, then its
//! rate limit.
//!
//! Limiters are keyed by the resolved tenant, never by anything the client chose (host,
//! header), and live in a bounded cache: a flood of distinct hosts cannot grow them.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, StatusCode};
use ipnet::IpNet;
use tenancy::TenantId;
use tenancy::traffic::{EffectiveRules, IpVerdict, RateLimit};

use crate::problem::Problem;

/// Tenants whose limiter state is kept at once; the least recently seen go first. A
/// tenant whose limiter was dropped starts again with a full burst.
const MAX_LIMITERS: u64 = 100_000;

/// A limiter unused this long is dropped.
const LIMITER_IDLE: Duration = Duration::from_secs(600);

/// The `X-Forwarded-For` header, read only from trusted proxies.
const FORWARDED_FOR: &str = "x-forwarded-for";

type Limiter = RateLimiter<NotKeyed, InMemoryState, DefaultClock, StateInformationMiddleware>;

struct TenantLimiter {
    limit: RateLimit,
    limiter: Limiter,
}

/// The traffic side of the layer: trusted proxies and the per-tenant limiters.
pub(crate) struct Traffic {
    trusted_proxies: Vec<IpNet>,
    limiters: moka::sync::Cache<TenantId, Arc<TenantLimiter>>,
    clock: DefaultClock,
}

impl std::fmt::Debug for Traffic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Traffic")
            .field("trusted_proxies", &self.trusted_proxies)
            .field("limiters", &self.limiters.entry_count())
            .finish()
    }
}

/// What the rate limit said of a request that may go on: headers to put on its answer.
pub(crate) struct Allowance {
    headers: Option<(HeaderValue, HeaderValue)>,
}

impl Allowance {
    /// Adds the `RateLimit-Policy` and `RateLimit` headers, when a limit applies.
    pub(crate) fn apply(self, headers: &mut HeaderMap) {
        if let Some((policy, state)) = self.headers {
            headers.insert("ratelimit-policy", policy);
            headers.insert("ratelimit", state);
        }
    }
}

impl Traffic {
    pub(crate) fn new(trusted_proxies: Vec<IpNet>) -> Self {
        Traffic {
            trusted_proxies,
            limiters: moka::sync::Cache::builder()
                .max_capacity(MAX_LIMITERS)
                .time_to_idle(LIMITER_IDLE)
                .build(),
            clock: DefaultClock::default(),
        }
    }

    /// Applies `rules` to a request of `tenant`: `Err` is the refusal to send.
    pub(crate) fn check(
        &self,
        tenant: &TenantId,
        rules: &EffectiveRules,
        request: &Parts,
    ) -> Result<Allowance, Problem> {
        if !rules.allow.is_empty() || !rules.block.is_empty() {
            let client = self.client_ip(request);
            match rules.check_ip(client) {
                IpVerdict::Allowed => {}
                IpVerdict::Blocked => {
                    return Err(Problem::new(
                        StatusCode::FORBIDDEN,
                        "ip_blocked",
                        format!("requests from this address may not reach tenant '{tenant}'"),
                    ));
                }
                IpVerdict::NotAllowed => {
                    return Err(Problem::new(
                        StatusCode::FORBIDDEN,
                        "ip_not_allowed",
                        format!("tenant '{tenant}' accepts requests from listed addresses only"),
                    ));
                }
            }
        }
        match rules.rate {
            Some(limit) => self.take(tenant, limit),
            None => Ok(Allowance { headers: None }),
        }
    }

    fn take(&self, tenant: &TenantId, limit: RateLimit) -> Result<Allowance, Problem> {
        let limiter = self.limiter(tenant, limit);
        let policy = policy_header(limit);
        match limiter.limiter.check() {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let used = limit.burst.saturating_sub(remaining);
                let reset = used.div_ceil(limit.per_second);
                Ok(Allowance {
                    headers: Some((policy, state_header(remaining, reset))),
                })
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                let secs = u32::try_from(wait.as_millis().div_ceil(1000))
                    .unwrap_or(u32::MAX)
                    .max(1);
                let mut problem = Problem::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    format!(
                        "tenant '{tenant}' is over its limit of {} requests per second",
                        limit.per_second
                    ),
                )
                .retry_after(secs);
                problem.add_header("ratelimit-policy", policy);
                problem.add_header("ratelimit", state_header(0, secs));
                Err(problem)
            }
        }
    }

    /// The tenant's limiter, made anew when its limit changed.
    fn limiter(&self, tenant: &TenantId, limit: RateLimit) -> Arc<TenantLimiter> {
        if let Some(found) = self.limiters.get(tenant)
            && found.limit == limit
        {
            return found;
        }
        let quota = Quota::per_second(NonZeroU32::new(limit.per_second).unwrap_or(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(limit.burst).unwrap_or(NonZeroU32::MIN));
        let fresh = Arc::new(TenantLimiter {
            limit,
            limiter: RateLimiter::direct(quota).with_middleware::<StateInformationMiddleware>(),
        });
        self.limiters.insert(tenant.clone(), fresh.clone());
        fresh
    }

    /// The client's address: the socket's peer, or, when the peer is a trusted proxy, the
    /// nearest address in `X-Forwarded-For` that is not a trusted proxy itself.
    pub(crate) fn client_ip(&self, request: &Parts) -> Option<IpAddr> {
        let peer = request
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(address)| address.ip())?;
        if !self.is_trusted(peer) {
            return Some(peer);
        }
        let mut hops: Vec<IpAddr> = Vec::new();
        for value in request.headers.get_all(FORWARDED_FOR) {
            for part in value.to_str().ok()?.split(',') {
                // An unreadable hop means the chain cannot be trusted: no address at all.
                hops.push(part.trim().parse().ok()?);
            }
        }
        let nearest_untrusted = hops.iter().rev().find(|ip| !self.is_trusted(**ip));
        Some(nearest_untrusted.or(hops.first()).copied().unwrap_or(peer))
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        self.trusted_proxies.iter().any(|net| net.contains(&ip))
    }
}

/// `RateLimit-Policy` (IETF draft `httpapi-ratelimit-headers`): the quota per one-second
/// window.
fn policy_header(limit: RateLimit) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "\"tenant\";q={};w=1;burst={}",
        limit.per_second, limit.burst
    ))
    .expect("digits and quotes make a valid header")
}

/// `RateLimit`: requests left now, and seconds until the allowance is whole again.
fn state_header(remaining: u32, reset_secs: u32) -> HeaderValue {
    HeaderValue::from_str(&format!("\"tenant\";r={remaining};t={reset_secs}"))
        .expect("digits and quotes make a valid header")
}

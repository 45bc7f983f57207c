//! Per-tenant request figures for the admin API's stats: counts by outcome and a latency
//! histogram, kept for the tenants that were served lately.
//!
//! Memory stays bounded however many tenants there are: at most [`MAX_TRACKED_TENANTS`]
//! are kept at once (about 10 KiB each), the least recently served going first, and one
//! not served for [`TRACKED_IDLE`] is dropped. A dropped tenant starts counting again from
//! zero, and its figures say since when. The figures are this process's: each `tenancy
//! serve` node counts its own requests.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use hdrhistogram::Histogram;
use tenancy::TenantId;

/// Tenants whose figures are kept at once.
pub const MAX_TRACKED_TENANTS: u64 = 1000;

/// Figures of a tenant not served this long are dropped.
pub const TRACKED_IDLE: Duration = Duration::from_secs(3600);

/// The slowest latency told apart, in microseconds (a minute); slower ones count as it.
const MAX_LATENCY_US: u64 = 60_000_000;

/// One tenant's requests since `since`.
struct Counts {
    since: DateTime<Utc>,
    requests: u64,
    client_errors: u64,
    server_errors: u64,
    /// Microseconds, to two significant digits. Counts are 32 bits and saturate: a tenant
    /// would need four billion requests in one process before percentiles drift.
    latency_us: Histogram<u32>,
}

/// A copy of one tenant's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantRequests {
    /// When counting began for this tenant in this process.
    pub since: DateTime<Utc>,
    /// Answered requests.
    pub requests: u64,
    /// Of which 4xx.
    pub client_errors: u64,
    /// Of which 5xx.
    pub server_errors: u64,
    /// Latency percentiles 50, 90, 99 and the maximum, in milliseconds; `None` before the
    /// first request.
    pub latency_ms: Option<[f64; 4]>,
}

/// The per-tenant figures of one application. Cheap to clone.
#[derive(Clone)]
pub struct RequestStats {
    tenants: moka::sync::Cache<TenantId, Arc<Mutex<Counts>>>,
    started: Instant,
}

impl std::fmt::Debug for RequestStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestStats")
            .field("tenants", &self.tenants.entry_count())
            .finish_non_exhaustive()
    }
}

impl Default for RequestStats {
    fn default() -> Self {
        Self::new()
    }
}

impl RequestStats {
    /// Empty figures; the process's uptime counts from here.
    pub fn new() -> Self {
        RequestStats {
            tenants: moka::sync::Cache::builder()
                .max_capacity(MAX_TRACKED_TENANTS)
                .time_to_idle(TRACKED_IDLE)
                .build(),
            started: Instant::now(),
        }
    }

    /// Counts one answered request of `tenant_id`.
    pub fn record(&self, tenant_id: &TenantId, status: u16, elapsed: Duration) {
        let counts = self
            .tenants
            .get_with_by_ref(tenant_id, || Arc::new(Mutex::new(Counts::new())));
        let mut counts = counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        counts.requests += 1;
        match status {
            400..=499 => counts.client_errors += 1,
            500.. => counts.server_errors += 1,
            _ => {}
        }
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        counts.latency_us.saturating_record(micros.max(1));
    }

    /// The figures of `tenant_id`, or `None` when it was not served lately.
    pub fn tenant(&self, tenant_id: &TenantId) -> Option<TenantRequests> {
        let counts = self.tenants.get(tenant_id)?;
        let counts = counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Some(counts.snapshot())
    }

    /// How many tenants have figures now.
    pub fn tracked(&self) -> u64 {
        self.tenants.run_pending_tasks();
        self.tenants.entry_count()
    }

    /// How long since these figures were made, which is the process's uptime in `serve`.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }
}

impl Counts {
    fn new() -> Self {
        Counts {
            since: Utc::now(),
            requests: 0,
            client_errors: 0,
            server_errors: 0,
            latency_us: Histogram::new_with_bounds(1, MAX_LATENCY_US, 2)
                .expect("1 µs to a minute at two digits is a valid histogram"),
        }
    }

    fn snapshot(&self) -> TenantRequests {
        let histogram = &self.latency_us;
        let ms = |micros: u64| micros as f64 / 1000.0;
        let latency_ms = (!histogram.is_empty()).then(|| {
            [
                ms(histogram.value_at_quantile(0.50)),
                ms(histogram.value_at_quantile(0.90)),
                ms(histogram.value_at_quantile(0.99)),
                ms(histogram.max()),
            ]
        });
        TenantRequests {
            since: self.since,
            requests: self.requests,
            client_errors: self.client_errors,
            server_errors: self.server_errors,
            latency_ms,
        }
    }
}

/// The resident memory of this process in bytes, where the system tells it (Linux).
pub fn resident_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(raw: &str) -> TenantId {
        TenantId::parse(raw).unwrap()
    }

    #[test]
    fn requests_are_counted_by_outcome_with_their_latency() {
        let stats = RequestStats::new();
        for millis in 1..=100 {
            stats.record(&id("acme"), 200, Duration::from_millis(millis));
        }
        stats.record(&id("acme"), 404, Duration::from_millis(1));
        stats.record(&id("acme"), 503, Duration::from_secs(120));

        let acme = stats.tenant(&id("acme")).unwrap();
        assert_eq!(
            (acme.requests, acme.client_errors, acme.server_errors),
            (102, 1, 1)
        );
        let [p50, p90, p99, max] = acme.latency_ms.unwrap();
        assert!((49.0..=52.0).contains(&p50), "{p50}");
        assert!((88.0..=92.0).contains(&p90), "{p90}");
        assert!((98.0..=101.0).contains(&p99), "{p99}");
        assert!(
            (59_000.0..=61_000.0).contains(&max),
            "clamped to a minute: {max}"
        );
        assert_eq!(stats.tenant(&id("globex")), None);
    }

    #[test]
    fn no_more_tenants_are_kept_than_the_bound() {
        let stats = RequestStats::new();
        for n in 0..MAX_TRACKED_TENANTS + 200 {
            stats.record(&id(&format!("t{n}")), 200, Duration::from_millis(1));
        }
        assert!(
            stats.tracked() <= MAX_TRACKED_TENANTS,
            "{}",
            stats.tracked()
        );
    }

    #[test]
    fn resident_memory_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(resident_memory_bytes().unwrap() > 1024 * 1024);
        }
    }
}

//! Prometheus metrics: the connection manager's counters per server and one count and
//! latency histogram of HTTP requests.
//!
//! The recorder is local to the application rather than installed globally, so that
//! several applications in one process (tests, an embedding binary) do not fight over the
//! one global slot. Pool figures are read from [`tenancy::PoolStats`] when scraped; they
//! are already counted by the pool manager, so nothing is recorded twice.
//!
//! Requests carry no tenant label: with thousands of tenants a label per tenant would
//! make every scrape as large as the tenant list.

use std::sync::Arc;
use std::time::Duration;

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};
use tenancy::{PoolStats, Tenancy};

/// Buckets of `tenancy_http_request_duration_seconds`, from 100 µs to 10 s.
const LATENCY_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5, 10.0,
];

/// The application's metrics. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    recorder: Arc<PrometheusRecorder>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// An empty set of metrics.
    ///
    /// # Panics
    ///
    /// If the fixed latency buckets were refused, which would be a programming mistake.
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full(
                    "tenancy_http_request_duration_seconds".to_owned(),
                ),
                &LATENCY_BUCKETS,
            )
            .expect("the latency buckets are not empty")
            .build_recorder();
        Metrics {
            recorder: Arc::new(recorder),
        }
    }

    /// Counts one answered request: its kind (`tenant` or `central`), its status and how
    /// long it took.
    pub fn record_request(&self, kind: &'static str, status: u16, elapsed: Duration) {
        let class = status_class(status);
        metrics::with_local_recorder(&*self.recorder, || {
            counter!("tenancy_http_requests_total", "kind" => kind, "status" => class).increment(1);
            histogram!("tenancy_http_request_duration_seconds", "kind" => kind)
                .record(elapsed.as_secs_f64());
        });
    }

    /// The text exposition of every metric, with the pools read now.
    pub fn render(&self, tenancy: &Tenancy) -> String {
        let pools = tenancy.pools().stats();
        metrics::with_local_recorder(&*self.recorder, || {
            for stats in &pools {
                record_pool(stats);
            }
        });
        self.recorder.handle().render()
    }
}

fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// Publishes one server's pool figures. Counters are set to the pool's own totals.
fn record_pool(stats: &PoolStats) {
    let server = stats.server.clone();
    let gauges = [
        ("tenancy_pool_budget", stats.budget),
        ("tenancy_pool_connections_open", stats.connections_open),
        ("tenancy_pool_connections_idle", stats.connections_idle),
        ("tenancy_pool_connections_in_use", stats.connections_in_use),
        ("tenancy_pool_databases_open", stats.pools_open),
    ];
    for (name, value) in gauges {
        gauge!(name, "server" => server.clone()).set(value as f64);
    }

    let counters = [
        ("tenancy_pool_checkouts_hit_total", stats.hits),
        ("tenancy_pool_checkouts_miss_total", stats.misses),
        ("tenancy_pool_evictions_total", stats.evictions),
        ("tenancy_pool_waits_total", stats.waits),
        ("tenancy_pool_timeouts_total", stats.timeouts),
        ("tenancy_pool_idle_closed_total", stats.idle_closed),
        ("tenancy_pool_switches_total", stats.switches),
        ("tenancy_pool_wait_microseconds_total", stats.wait_time_us),
    ];
    for (name, value) in counters {
        counter!(name, "server" => server.clone()).absolute(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_grouped_by_class() {
        assert_eq!(status_class(200), "2xx");
        assert_eq!(status_class(404), "4xx");
        assert_eq!(status_class(503), "5xx");
    }

    #[test]
    fn a_recorded_request_shows_in_the_exposition() {
        let metrics = Metrics::new();
        metrics.record_request("tenant", 201, Duration::from_millis(3));
        metrics.record_request("tenant", 503, Duration::from_millis(40));
        let text = metrics.recorder.handle().render();
        assert!(
            text.contains(r#"tenancy_http_requests_total{kind="tenant",status="2xx"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"tenancy_http_requests_total{kind="tenant",status="5xx"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"tenancy_http_request_duration_seconds_bucket{kind="tenant",le="0.005"} 1"#
            ),
            "{text}"
        );
    }
}

//! The notes workload over real HTTP: many connections, tenants picked per request, every
//! response checked for status and for rows that belong to another tenant.
//!
//! Each connection is one task that owns one HTTP/1.1 keep-alive connection and sends its
//! requests one after another, so `connections` is both the concurrency and the number of
//! sockets the server sees. Requests started during the warm-up are checked but not timed.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Zipf};
use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;

/// How tenants are picked for each request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Popularity {
    /// Every tenant equally likely.
    Uniform,
    /// Tenant `t{k}` with probability proportional to `1 / k^s`.
    Zipf(f64),
}

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The server's address (loopback).
    pub target: SocketAddr,
    /// The `Host` header, with `{n}` standing for the tenant number.
    pub host_pattern: String,
    /// Tenants `t1 … tN`.
    pub tenants: usize,
    /// Concurrent connections, each sending one request at a time.
    pub connections: usize,
    /// Timed part of the run.
    pub duration: Duration,
    /// Untimed part before it.
    pub warmup: Duration,
    /// Share of requests that are writes (`POST /notes`), 0 to 100.
    pub write_percent: u32,
    /// How tenants are picked.
    pub popularity: Popularity,
    /// The `limit` of each listing.
    pub limit: u32,
    /// Seed of the per-connection random generators, for repeatable tenant sequences.
    pub seed: u64,
}

impl LoadOptions {
    /// The workload's defaults (64 connections, 20 s after 5 s, 10 % writes, uniform) against
    /// `target` with `tenants` tenants.
    pub fn new(target: SocketAddr, tenants: usize) -> Self {
        LoadOptions {
            target,
            host_pattern: "t{n}.localhost".into(),
            tenants,
            connections: 64,
            duration: Duration::from_secs(20),
            warmup: Duration::from_secs(5),
            write_percent: 10,
            popularity: Popularity::Uniform,
            limit: 10,
            seed: 1,
        }
    }
}

/// What a run measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LoadReport {
    /// Requests completed in the timed part.
    pub requests: u64,
    /// Length of the timed part, in seconds.
    pub seconds: f64,
    /// `requests / seconds`.
    pub requests_per_second: f64,
    /// Latency percentiles of the timed part, in microseconds.
    pub p50_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// Slowest request.
    pub max_us: u64,
    /// Reads and writes in the timed part.
    pub reads: u64,
    /// Writes in the timed part.
    pub writes: u64,
    /// Requests of the whole run (warm-up included) that failed: unexpected status, a
    /// transport error, or a body that is not the expected JSON.
    pub errors: u64,
    /// Unexpected statuses over the whole run, by code.
    pub error_statuses: BTreeMap<u16, u64>,
    /// Transport errors (connect, send, read) over the whole run.
    pub transport_errors: u64,
    /// Rows checked over the whole run.
    pub rows_checked: u64,
    /// Rows whose title does not start with the requested tenant's id: any is a failed run.
    pub foreign_rows: u64,
}

/// One tenant's request data, built once: its `Host` header and the title prefix.
struct Target {
    host: String,
    prefix: String,
}

struct Plan {
    options: LoadOptions,
    targets: Vec<Target>,
    zipf: Option<Zipf<f64>>,
    measure_from: Instant,
    end: Instant,
}

impl Plan {
    fn pick(&self, rng: &mut SmallRng) -> usize {
        match &self.zipf {
            // Zipf samples are whole numbers in [1, N].
            Some(zipf) => (zipf.sample(rng) as usize).clamp(1, self.targets.len()) - 1,
            None => rng.random_range(0..self.targets.len()),
        }
    }
}

/// A response title, the one field the checks read.
#[derive(Deserialize)]
struct Titled {
    title: String,
}

/// Runs the load and returns what it measured; fails only when it cannot start.
pub async fn run(options: LoadOptions) -> anyhow::Result<LoadReport> {
    anyhow::ensure!(options.tenants > 0, "at least one tenant is needed");
    anyhow::ensure!(options.connections > 0, "at least one connection is needed");
    let zipf = match options.popularity {
        Popularity::Uniform => None,
        Popularity::Zipf(s) => Some(Zipf::new(options.tenants as f64, s).context("zipf")?),
    };
    let targets = (1..=options.tenants)
        .map(|n| Target {
            host: options.host_pattern.replace("{n}", &n.to_string()),
            prefix: format!("t{n}:"),
        })
        .collect();

    let measure_from = Instant::now() + options.warmup;
    let end = measure_from + options.duration;
    let plan = Arc::new(Plan {
        options,
        targets,
        zipf,
        measure_from,
        end,
    });
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..plan.options.connections {
        workers.spawn(Worker::new(plan.clone(), worker).run());
    }

    let mut total = Tally::new();
    while let Some(tally) = workers.join_next().await {
        total.merge(tally.context("a connection task panicked")?);
    }
    Ok(total.report(plan.options.duration))
}

/// What one connection saw.
struct Tally {
    latency_us: Histogram<u64>,
    report: LoadReport,
}

impl Tally {
    fn new() -> Self {
        Tally {
            // Up to a minute, three significant digits.
            latency_us: Histogram::new_with_bounds(1, 60_000_000, 3)
                .expect("the bounds and precision are valid"),
            report: LoadReport::default(),
        }
    }

    fn merge(&mut self, other: Tally) {
        self.latency_us
            .add(&other.latency_us)
            .expect("histograms of the same precision merge");
        let (mine, theirs) = (&mut self.report, other.report);
        mine.reads += theirs.reads;
        mine.writes += theirs.writes;
        mine.errors += theirs.errors;
        mine.transport_errors += theirs.transport_errors;
        mine.rows_checked += theirs.rows_checked;
        mine.foreign_rows += theirs.foreign_rows;
        for (status, count) in theirs.error_statuses {
            *mine.error_statuses.entry(status).or_default() += count;
        }
    }

    fn report(mut self, duration: Duration) -> LoadReport {
        let report = &mut self.report;
        report.requests = self.latency_us.len();
        report.seconds = duration.as_secs_f64();
        report.requests_per_second = report.requests as f64 / report.seconds;
        report.p50_us = self.latency_us.value_at_quantile(0.50);
        report.p99_us = self.latency_us.value_at_quantile(0.99);
        report.max_us = self.latency_us.max();
        self.report
    }
}

/// What one request turned out to be.
enum Outcome {
    Ok { rows: u64, foreign: u64 },
    Status(StatusCode),
    BadBody,
}

struct Worker {
    plan: Arc<Plan>,
    id: usize,
    rng: SmallRng,
    sender: Option<SendRequest<Full<Bytes>>>,
    sent: u64,
    tally: Tally,
}

impl Worker {
    fn new(plan: Arc<Plan>, id: usize) -> Self {
        let rng = SmallRng::seed_from_u64(plan.options.seed.wrapping_add(id as u64));
        Worker {
            plan,
            id,
            rng,
            sender: None,
            sent: 0,
            tally: Tally::new(),
        }
    }

    async fn run(mut self) -> Tally {
        while Instant::now() < self.plan.end {
            let target = self.plan.pick(&mut self.rng);
            let write = self.rng.random_range(0..100) < self.plan.options.write_percent;
            let request = self.request(target, write);

            let started = Instant::now();
            let outcome = self.send(request, target, write).await;
            let elapsed = started.elapsed();
            self.record(outcome, started, elapsed, write);
        }
        self.tally
    }

    fn request(&mut self, target: usize, write: bool) -> Request<Full<Bytes>> {
        let target = &self.plan.targets[target];
        let builder = Request::builder().header(hyper::header::HOST, &target.host);
        let request = if write {
            self.sent += 1;
            let note = serde_json::json!({
                "title": format!("{} bench {}-{}", target.prefix, self.id, self.sent),
                "body": "written by the load generator",
            });
            builder
                .method(Method::POST)
                .uri("/notes")
                .header(hyper::header::CONTENT_TYPE, "application/json")
                .body(Full::new(Bytes::from(note.to_string())))
        } else {
            builder
                .method(Method::GET)
                .uri(format!("/notes?limit={}", self.plan.options.limit))
                .body(Full::new(Bytes::new()))
        };
        request.expect("the request is built from valid parts")
    }

    /// Sends one request, connecting first when needed; `None` is a transport error (the
    /// connection is dropped and the next request opens a new one).
    async fn send(
        &mut self,
        request: Request<Full<Bytes>>,
        target: usize,
        write: bool,
    ) -> Option<Outcome> {
        if self.sender.is_none() {
            match connect(self.plan.options.target).await {
                Ok(sender) => self.sender = Some(sender),
                Err(_) => {
                    // A server that is not there yet (or any more) is not hammered.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    return None;
                }
            }
        }
        let sender = self.sender.as_mut()?;
        let response = match sender.send_request(request).await {
            Ok(response) => response,
            Err(_) => {
                self.sender = None;
                return None;
            }
        };
        let status = response.status();
        let Ok(body) = response.into_body().collect().await else {
            self.sender = None;
            return None;
        };
        let expected = if write {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        if status != expected {
            return Some(Outcome::Status(status));
        }
        Some(check(
            &body.to_bytes(),
            &self.plan.targets[target].prefix,
            write,
        ))
    }

    fn record(
        &mut self,
        outcome: Option<Outcome>,
        started: Instant,
        elapsed: Duration,
        write: bool,
    ) {
        let report = &mut self.tally.report;
        match outcome {
            Some(Outcome::Ok { rows, foreign }) => {
                report.rows_checked += rows;
                report.foreign_rows += foreign;
            }
            Some(Outcome::Status(status)) => {
                report.errors += 1;
                *report.error_statuses.entry(status.as_u16()).or_default() += 1;
            }
            Some(Outcome::BadBody) => report.errors += 1,
            None => {
                report.errors += 1;
                report.transport_errors += 1;
            }
        }
        if started < self.plan.measure_from || started >= self.plan.end {
            return;
        }
        let micros = elapsed.as_micros().max(1) as u64;
        self.tally.latency_us.saturating_record(micros);
        match write {
            true => report.writes += 1,
            false => report.reads += 1,
        }
    }
}

/// Checks a successful body: a listing whose every title starts with `prefix`, or the
/// created note, whose title does.
fn check(body: &[u8], prefix: &str, write: bool) -> Outcome {
    let titles = if write {
        serde_json::from_slice::<Titled>(body).map(|note| vec![note])
    } else {
        serde_json::from_slice::<Vec<Titled>>(body)
    };
    let Ok(titles) = titles else {
        return Outcome::BadBody;
    };
    let foreign = titles
        .iter()
        .filter(|note| !note.title.starts_with(prefix))
        .count();
    Outcome::Ok {
        rows: titles.len() as u64,
        foreign: foreign as u64,
    }
}

async fn connect(target: SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(target).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    // The connection task ends when the sender is dropped or the server closes the socket.
    tokio::spawn(connection);
    Ok(sender)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_with_another_tenants_title_counts_one_foreign_row() {
        let body = br#"[{"title":"t1: note 2"},{"title":"t12: note 1"},{"title":"t1: x"}]"#;
        match check(body, "t1:", false) {
            Outcome::Ok { rows, foreign } => assert_eq!((rows, foreign), (3, 1)),
            _ => panic!("a valid listing is checked"),
        }
    }

    #[test]
    fn a_created_note_is_checked_by_its_title() {
        match check(br#"{"id":1,"title":"t2: bench 0-1"}"#, "t2:", true) {
            Outcome::Ok { rows, foreign } => assert_eq!((rows, foreign), (1, 0)),
            _ => panic!("a valid note is checked"),
        }
    }

    #[test]
    fn a_body_that_is_not_notes_is_an_error() {
        assert!(matches!(check(b"<html>", "t1:", false), Outcome::BadBody));
    }

    #[test]
    fn zipf_picks_stay_within_the_tenants() {
        let plan = Plan {
            options: LoadOptions::new(SocketAddr::from(([127, 0, 0, 1], 1)), 3),
            targets: (0..3)
                .map(|_| Target {
                    host: String::new(),
                    prefix: String::new(),
                })
                .collect(),
            zipf: Some(Zipf::new(3.0, 1.1).unwrap()),
            measure_from: Instant::now(),
            end: Instant::now(),
        };
        let mut rng = SmallRng::seed_from_u64(7);
        let mut seen = [0u32; 3];
        for _ in 0..10_000 {
            seen[plan.pick(&mut rng)] += 1;
        }
        assert!(
            seen[0] > seen[1] && seen[1] > seen[2] && seen[2] > 0,
            "{seen:?}"
        );
    }
}

//! The real binary with its catalog on PostgreSQL and MariaDB (`TENANCY_CATALOG_URL`): a
//! running `serve` and CLI processes share it, and a change made by the CLI reaches the
//! server within the one-second freshness bound. A bad `catalog.url` is refused up front.

mod support;
// The layer tests' proxy, in front of the shared server, so a test can stop "the catalog".
#[path = "../../tenancy-axum/tests/network/proxy.rs"]
#[allow(dead_code)]
mod proxy;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::network::{CatalogDatabase, CatalogServer};
use support::{PATIENCE, Sandbox, Server};
use tenancy::catalog::Catalog;

/// The freshness promise is one second; a loaded 2-core test machine gets some slack.
const FRESH: Duration = Duration::from_millis(1500);

#[test]
fn with_the_catalog_on_postgres_a_cli_suspension_reaches_serve_within_a_second() {
    a_cli_suspension_reaches_serve_within_a_second(CatalogServer::Postgres);
}

#[test]
fn with_the_catalog_on_mariadb_a_cli_suspension_reaches_serve_within_a_second() {
    a_cli_suspension_reaches_serve_within_a_second(CatalogServer::MySql);
}

fn a_cli_suspension_reaches_serve_within_a_second(server: CatalogServer) {
    let catalog = CatalogDatabase::create(server);
    let sandbox = Sandbox::new().with_env("TENANCY_CATALOG_URL", &catalog.url);
    let serve = sandbox.serve(&["--demo"]);
    assert_eq!(serve.request("GET", "acme.localhost", "/notes").status, 200);
    assert!(
        !sandbox.catalog_file().exists(),
        "no SQLite catalog besides the one configured"
    );

    sandbox
        .run(&["tenants", "suspend", "acme", "--reason", "unpaid"])
        .succeeded();
    let changed = Instant::now();
    let suspended = first_answer(&serve, "acme.localhost", 403);
    suspended.assert_problem(403, "tenant_suspended");
    let took = changed.elapsed();
    assert!(took < FRESH, "the server saw the suspension after {took:?}");
    assert_eq!(sandbox.status_of("acme"), "suspended");

    // The rest of the catalog's users on the same database: keys, the audit log, doctor.
    let key = sandbox.json(&["keys", "create", "--scope", "audit:read"]);
    let secret = key["secret"].as_str().expect("the secret is printed");
    let bearer = format!("Bearer {secret}");
    let path = "/api/v1/audit?action=tenant.suspended";
    let audit = support::http_with(
        serve.port,
        "GET",
        "localhost",
        path,
        None,
        &[("Authorization", &bearer)],
    );
    assert_eq!(audit.status, 200, "{audit:#?}");
    let items = audit.json()["items"].clone();
    assert_eq!(items[0]["tenant_id"], "acme", "{items:#?}");
    assert_eq!(items[0]["actor"], "cli", "{items:#?}");
    sandbox.run(&["doctor"]).succeeded();
}

/// Requests every 20 ms until the answer has `status`; fails after [`PATIENCE`].
fn first_answer(serve: &Server, host: &str, status: u16) -> support::Response {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let answer = serve.request("GET", host, "/notes");
        if answer.status == status {
            return answer;
        }
        assert!(Instant::now() < deadline, "{host} never answered {status}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn cli_processes_writing_at_once_on_postgres_all_succeed_and_a_poller_sees_each_change_once() {
    writers_in_processes_all_succeed(CatalogServer::Postgres);
}

#[test]
fn cli_processes_writing_at_once_on_mariadb_all_succeed_and_a_poller_sees_each_change_once() {
    writers_in_processes_all_succeed(CatalogServer::MySql);
}

/// Several `tenancy tenants create` processes at once, each making two changes (created,
/// provisioned), while a poller in this process reads the log by position as a server's
/// does: every process succeeds, and the poller sees every change once, in order.
fn writers_in_processes_all_succeed(server: CatalogServer) {
    const WRITERS: usize = 4;
    const CREATES: usize = 4;
    let catalog = CatalogDatabase::create(server);
    let sandbox = Sandbox::new().with_env("TENANCY_CATALOG_URL", &catalog.url);
    sandbox.run(&["tenants", "list"]).succeeded();
    let poller = Poller::start(&catalog.url);

    std::thread::scope(|scope| {
        for writer in 0..WRITERS {
            let sandbox = &sandbox;
            scope.spawn(move || {
                for n in 0..CREATES {
                    let id = format!("w{writer}-{n}");
                    sandbox.run(&["tenants", "create", &id]).succeeded();
                }
            });
        }
    });

    let total = (WRITERS * CREATES * 2) as i64;
    let seen = poller.wait_for(total);
    assert_eq!(seen, (1..=total).collect::<Vec<_>>(), "once each, in order");
    let listed = sandbox.json(&["tenants", "list"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(WRITERS * CREATES));
}

/// The catalog's change poller, the one every `Tenancy` runs, alone on a runtime of its own,
/// recording the positions it passes to the hooks.
struct Poller {
    seen: Arc<Mutex<Vec<i64>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Poller {
    fn start(url: &str) -> Poller {
        let (seen, url) = (Arc::new(Mutex::new(Vec::new())), url.to_owned());
        let (started, ready) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let record = seen.clone();
        let thread = std::thread::spawn(move || {
            support::block_on(async move {
                let catalog = Catalog::open(&url).await.expect("the catalog opens");
                catalog.watch(move |change| record.lock().unwrap().push(change.seq));
                let task = catalog
                    .spawn_change_poller(Duration::from_millis(10))
                    .await
                    .expect("the poller starts");
                started.send(()).expect("the test waits for the poller");
                let _ = stopped.await;
                task.abort();
                catalog.close().await;
            })
        });
        ready.recv().expect("the poller started");
        Poller {
            seen,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// What it saw once it saw `count` changes, or after [`PATIENCE`].
    fn wait_for(mut self, count: i64) -> Vec<i64> {
        let deadline = Instant::now() + PATIENCE;
        while (self.seen.lock().unwrap().len() as i64) < count && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop.take().map(|stop| stop.send(()));
        self.thread.take().map(|thread| thread.join());
        self.seen.lock().unwrap().clone()
    }
}

#[test]
fn with_the_postgres_catalog_cut_off_the_admin_api_answers_503_and_recovers() {
    let catalog = CatalogDatabase::create(CatalogServer::Postgres);
    let runtime = tokio::runtime::Runtime::new().expect("a Tokio runtime starts");
    let proxy = runtime.block_on(proxy::Proxy::start(proxy::url_addr(&catalog.url)));
    let url = proxy::url_via(&catalog.url, proxy.addr());
    let sandbox = Sandbox::new().with_env("TENANCY_CATALOG_URL", &url);
    let serve = sandbox.serve(&["--demo"]);
    let key = sandbox.json(&["keys", "create", "--scope", "tenants:read"]);
    let bearer = format!("Bearer {}", key["secret"].as_str().unwrap());
    let list = || {
        let auth = [("Authorization", bearer.as_str())];
        support::http_with(
            serve.port,
            "GET",
            "localhost",
            "/api/v1/tenants",
            None,
            &auth,
        )
    };
    assert_eq!(list().status, 200);
    assert_eq!(serve.request("GET", "acme.localhost", "/notes").status, 200);

    runtime.block_on(proxy.cut());
    let cut = list();
    cut.assert_problem(503, "catalog_unavailable");
    let warm = serve.request("GET", "acme.localhost", "/notes");
    assert_eq!(warm.status, 200, "a tenant in the cache is still served");

    runtime.block_on(proxy.restore());
    let back = support::eventually(PATIENCE, || (list().status == 200).then_some(()));
    back.expect("the API answers again once the catalog is back");
}

#[test]
fn a_catalog_url_of_unknown_scheme_is_one_line_naming_the_key() {
    let sandbox = Sandbox::new().with_env("TENANCY_CATALOG_URL", "redis://127.0.0.1:6379/0");
    let refused = sandbox.run(&["tenants", "list"]).exited_with(78);
    refused.error_line(&[
        "configuration",
        "catalog.url",
        "'redis'",
        "postgres",
        "mysql",
    ]);
    assert!(!sandbox.data_dir().exists(), "nothing was made");
}

#[test]
fn a_catalog_url_in_the_file_is_checked_too() {
    let sandbox = Sandbox::new();
    let file = sandbox.path().join("tenancy.toml");
    std::fs::write(&file, "[catalog]\nurl = \"mysql://root:hunter2@db:3306\"\n").unwrap();
    let refused = sandbox.run(&["tenants", "list"]).exited_with(78);
    let line = refused.error_line(&["catalog.url", "database"]);
    assert!(
        !line.contains("hunter2"),
        "the password is not shown: {line}"
    );
}

#[test]
fn a_catalog_url_naming_no_database_or_no_file_is_refused_naming_the_key() {
    // Port 1: were one accepted, nothing would be made on a shared server.
    let cases = [
        (
            "postgres://postgres@127.0.0.1:1",
            "PostgreSQL catalog URL must name its database",
        ),
        (
            "postgresql://postgres@127.0.0.1:1/",
            "PostgreSQL catalog URL must name its database",
        ),
        ("sqlite:", "SQLite catalog URL must name its file"),
        ("sqlite://", "SQLite catalog URL must name its file"),
    ];
    for (url, reason) in cases {
        let sandbox = Sandbox::new().with_env("TENANCY_CATALOG_URL", url);
        let refused = sandbox.run(&["tenants", "list"]).exited_with(78);
        refused.error_line(&["configuration", "catalog.url", reason]);
        assert!(!sandbox.data_dir().exists(), "{url}: nothing was made");
    }
}

#[test]
fn a_catalog_server_that_cannot_be_reached_is_one_line_saying_where() {
    let url = "postgres://postgres:hunter2@127.0.0.1:1/tenancy";
    let sandbox = Sandbox::new().with_env("TENANCY_CATALOG_URL", url);
    let started = Instant::now();
    let refused = sandbox.run(&["tenants", "list"]).failed();
    let line = refused.error_line(&["cannot connect to the catalog at 127.0.0.1:1/tenancy"]);
    assert!(
        !line.contains("hunter2"),
        "the password is not shown: {line}"
    );
    assert!(started.elapsed() < PATIENCE, "it did not hang");
}

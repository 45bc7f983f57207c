//! Start-up with a large catalog opens no tenant database.

mod support;

use std::path::{Path, PathBuf};

use support::Sandbox;

const TENANTS: usize = 10_000;

/// Writes `count` active tenant rows straight into the catalog, in one transaction.
fn insert_tenants(catalog: &Path, count: usize) {
    support::block_on(async {
        let mut conn = support::open_sqlite(catalog).await;
        let mut tx = sqlx::Connection::begin(&mut conn).await.unwrap();
        let now = chrono::Utc::now();
        for n in 1..=count {
            let id = format!("t{n}");
            sqlx::query(
                "INSERT INTO tenants (id, name, status, data, server, database_name, \
                 created_at, updated_at) VALUES (?, ?, 'active', '{}', 'local', ?, ?, ?)",
            )
            .bind(&id)
            .bind(&id)
            .bind(&id)
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
        sqlx::Connection::close(conn).await.ok();
    });
}

/// The files under `dir` that the process holds open.
fn open_files_under(pid: u32, dir: &Path) -> Vec<PathBuf> {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).expect("/proc lists the process");
    fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter(|target| target.starts_with(dir))
        .collect()
}

#[test]
#[cfg(target_os = "linux")]
fn starting_with_ten_thousand_tenants_opens_no_tenant_database() {
    let sandbox = Sandbox::new();
    sandbox.run(&["tenants", "list"]).succeeded();
    insert_tenants(&sandbox.catalog_file(), TENANTS);
    let listed = sandbox.json(&["tenants", "list", "--status", "active"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(TENANTS));

    // One tenant with a real database, to show that the check below sees open files.
    sandbox.run(&["tenants", "create", "real"]).succeeded();
    let tenants_dir = sandbox.data_dir().join("tenants").canonicalize().unwrap();
    let server = sandbox.serve(&[]);

    let ready = server.request("GET", "localhost", "/readyz");
    assert_eq!(ready.status, 200, "{ready:#?}");
    assert_eq!(ready.json()["tenants"], TENANTS + 1);
    let open = open_files_under(server.pid(), &tenants_dir);
    assert!(
        open.is_empty(),
        "tenant databases open at start-up: {open:?}"
    );

    let notes = server.request("GET", "real.localhost", "/notes");
    assert_eq!(notes.status, 200, "{notes:#?}");
    let open = open_files_under(server.pid(), &tenants_dir);
    assert!(
        open.iter().any(|path| path.ends_with("real.sqlite")),
        "a served tenant's database is open: {open:?}"
    );
}

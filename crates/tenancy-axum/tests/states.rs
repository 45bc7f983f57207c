//! Every tenant state answered through the real layer, and suspension reaching every way
//! in, including a keep-alive connection opened before it. Each runs with the catalog on
//! SQLite, PostgreSQL and MariaDB.

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use support::{Reply, TestApp, get_from, http_client, send, serve, tenant_id};
use tenancy::catalog::Mutation;
use tenancy::identify::IdentifyOptions;
use tenancy::{Backend, TenantId, TenantStatus};

on_every_catalog!(
    active_tenant_is_served_its_own_notes,
    suspended_tenant_gets_403,
    tenant_in_maintenance_gets_503_with_its_retry_after,
    provisioning_tenant_gets_503_with_retry_after,
    failed_tenant_is_404,
    tenant_left_deleting_is_404_until_its_delete_finishes,
    suspension_applies_to_every_way_of_reaching_the_tenant,
    suspension_reaches_a_keep_alive_connection_opened_before_it,
    suspended_tenant_stays_suspended_for_a_new_handle,
);

/// A tenant row in `provisioning`, as a creation in progress leaves it.
fn create_row(id: &TenantId) -> Mutation {
    Mutation::Create {
        id: id.clone(),
        name: id.to_string(),
        plan: None,
        data: serde_json::json!({}),
        server: tenancy::LOCAL_SERVER.into(),
        database: id.to_string(),
        domains: Vec::new(),
    }
}

async fn notes(test: &TestApp, id: &str) -> Reply {
    get_from(&test.router(), &format!("{id}.localhost"), "/notes").await
}

fn assert_problem(reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!(reply.status, status, "{reply:?}");
    assert_eq!(reply.code(), code, "{reply:?}");
    assert_eq!(reply.content_type(), "application/problem+json");
}

async fn active_tenant_is_served_its_own_notes(catalog: Backend) {
    let test = TestApp::on(catalog, Default::default(), Default::default()).await;
    test.create("alpha", &[]).await;

    let reply = notes(&test, "alpha").await;
    assert_eq!(reply.status, StatusCode::OK);
    let expected = ["alpha: note 3", "alpha: note 2", "alpha: note 1"];
    assert_eq!(reply.body, serde_json::json!(expected));
}

async fn suspended_tenant_gets_403(catalog: Backend) {
    let test = TestApp::on(catalog, Default::default(), Default::default()).await;
    let alpha = test.create("alpha", &[]).await;
    test.tenancy.suspend_tenant(&alpha.id, None).await.unwrap();

    let reply = notes(&test, "alpha").await;
    assert_problem(&reply, StatusCode::FORBIDDEN, "tenant_suspended");
    assert_eq!(reply.header("retry-after"), "");
}

async fn tenant_in_maintenance_gets_503_with_its_retry_after(catalog: Backend) {
    let test = TestApp::on(catalog, Default::default(), Default::default()).await;
    let alpha = test.create("alpha", &[]).await;
    test.tenancy
        .start_maintenance(&alpha.id, 120)
        .await
        .unwrap();

    let reply = notes(&test, "alpha").await;
    assert_problem(
        &reply,
        StatusCode::SERVICE_UNAVAILABLE,
        "tenant_maintenance",
    );
    assert_eq!(reply.header("retry-after"), "120");

    test.tenancy.end_maintenance(&alpha.id).await.unwrap();
    assert_eq!(notes(&test, "alpha").await.status, StatusCode::OK);
}

async fn provisioning_tenant_gets_503_with_retry_after(catalog: Backend) {
    let test = TestApp::on(catalog, Default::default(), Default::default()).await;
    let id = tenant_id("alpha");
    test.tenancy
        .catalog()
        .apply(create_row(&id), None)
        .await
        .unwrap();

    let reply = notes(&test, "alpha").await;
    assert_problem(
        &reply,
        StatusCode::SERVICE_UNAVAILABLE,
        "tenant_provisioning",
    );
    let retry_after: u32 = reply.header("retry-after").parse().expect("a Retry-After");
    assert!(retry_after > 0);
}

async fn failed_tenant_is_404(catalog: Backend) {
    let test = TestApp::on(catalog, Default::default(), Default::default()).await;
    let id = tenant_id("alpha");
    let catalog = test.tenancy.catalog();
    catalog.apply(create_row(&id), None).await.unwrap();
    let failed = Mutation::Failed {
        id: id.clone(),
        reason: "test".into(),
    };
    catalog.apply(failed, None).await.unwrap();

    assert_problem(
        &notes(&test, "alpha").await,
        StatusCode::NOT_FOUND,
        "tenant_not_found",
    );
}

async fn tenant_left_deleting_is_404_until_its_delete_finishes(catalog: Backend) {
    let test = TestApp::on(catalog, Default::default(), Default::default()).await;
    let alpha = test.create("alpha", &["alpha.example.test"]).await;
    assert_eq!(notes(&test, "alpha").await.status, StatusCode::OK);
    let mark = Mutation::MarkDeleting {
        id: alpha.id.clone(),
    };
    test.tenancy.catalog().apply(mark, None).await.unwrap();

    // As if the process died here: the row says deleting, the file is still there.
    assert!(test.tenants_dir().join("alpha.sqlite").exists());
    assert_problem(
        &notes(&test, "alpha").await,
        StatusCode::NOT_FOUND,
        "tenant_not_found",
    );
    let by_domain = get_from(&test.router(), "alpha.example.test", "/notes").await;
    assert_problem(&by_domain, StatusCode::NOT_FOUND, "tenant_not_found");

    test.tenancy.delete_tenant(&alpha.id).await.unwrap();
    assert!(!test.tenants_dir().join("alpha.sqlite").exists());
    assert_eq!(
        test.tenancy.catalog().tenant(&alpha.id).await.unwrap(),
        None
    );
    assert_problem(
        &notes(&test, "alpha").await,
        StatusCode::NOT_FOUND,
        "tenant_not_found",
    );
}

fn every_way_to_india() -> [Request<Body>; 4] {
    let build = |host: &str, path: &str, header: Option<&str>| {
        let mut request = Request::get(path).header("host", host);
        if let Some(tenant) = header {
            request = request.header("x-tenant", tenant);
        }
        request.body(Body::empty()).unwrap()
    };
    [
        build("india.example.test", "/notes", None),
        build("india.localhost", "/notes", None),
        build("localhost", "/notes", Some("india")),
        build("localhost", "/t/india/notes", None),
    ]
}

async fn suspension_applies_to_every_way_of_reaching_the_tenant(catalog: Backend) {
    let options = IdentifyOptions {
        header: true,
        path_prefix: true,
        ..IdentifyOptions::default()
    };
    let test = TestApp::on(catalog, options, Default::default()).await;
    let india = test.create("india", &["india.example.test"]).await;
    let app = test.router();
    for request in every_way_to_india() {
        assert_eq!(send(&app, request).await.status, StatusCode::OK);
    }

    test.tenancy.suspend_tenant(&india.id, None).await.unwrap();
    for request in every_way_to_india() {
        let reply = send(&app, request).await;
        assert_problem(&reply, StatusCode::FORBIDDEN, "tenant_suspended");
    }

    test.tenancy.activate_tenant(&india.id).await.unwrap();
    for request in every_way_to_india() {
        assert_eq!(send(&app, request).await.status, StatusCode::OK);
    }
}

async fn suspension_reaches_a_keep_alive_connection_opened_before_it(catalog: Backend) {
    let test = TestApp::on(catalog, Default::default(), Default::default()).await;
    let india = test.create("india", &[]).await;
    let addr = serve(test.router()).await;
    let client = http_client();
    let get = |path: &str| {
        client
            .get(format!("http://{addr}{path}"))
            .header("host", "india.localhost")
            .send()
    };
    let peer_before = get("/peer").await.unwrap().text().await.unwrap();

    test.tenancy.suspend_tenant(&india.id, None).await.unwrap();
    let suspended = get("/notes").await.unwrap();
    assert_eq!(suspended.status(), StatusCode::FORBIDDEN);
    let problem: serde_json::Value = suspended.json().await.unwrap();
    assert_eq!(problem["code"], "tenant_suspended");

    test.tenancy.activate_tenant(&india.id).await.unwrap();
    let peer_after = get("/peer").await.unwrap().text().await.unwrap();
    assert_eq!(get("/notes").await.unwrap().status(), StatusCode::OK);
    // The same client port before and after: all three went over one connection.
    assert_eq!(peer_before, peer_after);
}

async fn suspended_tenant_stays_suspended_for_a_new_handle(catalog: Backend) {
    let test = TestApp::on(catalog, Default::default(), Default::default()).await;
    let alpha = test.create("alpha", &[]).await;
    test.tenancy
        .suspend_tenant(&alpha.id, Some("unpaid".into()))
        .await
        .unwrap();

    let other = test.open_again().await;
    let reply = get_from(&support::app(other.clone()), "alpha.localhost", "/notes").await;
    assert_problem(&reply, StatusCode::FORBIDDEN, "tenant_suspended");
    let seen = other.catalog().require_tenant(&alpha.id).await.unwrap();
    assert_eq!(
        (seen.status, seen.reason.as_deref()),
        (TenantStatus::Suspended, Some("unpaid"))
    );
}

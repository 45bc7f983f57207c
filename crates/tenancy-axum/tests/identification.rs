//! Which tenant a request reaches, through the real layer: host rules, central hosts,
//! refusals, and the opt-in header and path prefix.

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use support::{TestApp, get_from, send, tenant_id, with_header, with_path_prefix};
use tenancy::identify::IdentifyOptions;
use tenancy::tenant_id::TenantId;
use tenancy::{Error, NewTenant};

fn with_tenant_header(host: &str, path: &str, tenant: &str) -> Request<Body> {
    Request::get(path)
        .header("host", host)
        .header("x-tenant", tenant)
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn subdomain_of_a_central_domain_names_the_tenant() {
    let test = TestApp::new().await;
    test.create("alpha", &[]).await;
    test.create("beta", &[]).await;
    let app = test.router();

    assert_eq!(
        get_from(&app, "alpha.localhost", "/whoami")
            .await
            .answered_by(),
        "alpha"
    );
    assert_eq!(
        get_from(&app, "beta.localhost:8080", "/whoami")
            .await
            .answered_by(),
        "beta"
    );
}

fn central_example_test() -> IdentifyOptions {
    IdentifyOptions {
        central_domains: vec!["example.test".into()],
        ..IdentifyOptions::default()
    }
}

fn assert_reserved_for_subdomains(result: Result<impl std::fmt::Debug, Error>, host: &str) {
    let error = result.expect_err(host);
    assert_eq!(error.code(), "invalid_input", "{host}: {error}");
    let message = error.to_string();
    assert!(
        message.contains("one label below the central domain 'example.test'")
            && message.contains("reserved for identifying tenants by subdomain"),
        "{host}: {message}"
    );
}

#[tokio::test]
async fn host_one_label_below_a_central_domain_cannot_be_added_as_a_domain() {
    let test = TestApp::with(central_example_test(), Default::default()).await;
    test.create("alpha", &[]).await;
    test.create("beta", &[]).await;
    test.create("india", &[]).await;

    for host in [
        "india.example.test",
        "ALPHA.Example.Test.",
        "beta.example.test",
        "zeta.example.test",
    ] {
        let added = test
            .tenancy
            .add_domain(&tenant_id("beta"), host, false)
            .await;
        assert_reserved_for_subdomains(added, host);
    }

    let app = test.router();
    let india = get_from(&app, "india.example.test", "/whoami").await;
    assert_eq!(india.answered_by(), "india");
}

#[tokio::test]
async fn host_one_label_below_a_central_domain_cannot_be_a_domain_of_a_new_tenant() {
    let test = TestApp::with(central_example_test(), Default::default()).await;
    test.create("beta", &[]).await;

    let mut new = NewTenant::new(tenant_id("gamma"));
    new.domains = vec!["gamma.custom.test".into(), "beta.example.test".into()];
    let created = test.tenancy.create_tenant(new).await;
    assert_reserved_for_subdomains(created, "beta.example.test");

    assert!(
        test.tenancy
            .catalog()
            .tenant(&tenant_id("gamma"))
            .await
            .unwrap()
            .is_none()
    );
    let app = test.router();
    let beta = get_from(&app, "beta.example.test", "/whoami").await;
    assert_eq!(beta.answered_by(), "beta");
}

#[tokio::test]
async fn subdomain_of_a_tenant_created_later_is_not_taken_by_an_earlier_domain() {
    let test = TestApp::with(central_example_test(), Default::default()).await;
    test.create("alpha", &[]).await;

    let added = test
        .tenancy
        .add_domain(&tenant_id("alpha"), "zeta.example.test", false)
        .await;
    assert_reserved_for_subdomains(added, "zeta.example.test");
    test.create("zeta", &[]).await;

    let app = test.router();
    let zeta = get_from(&app, "zeta.example.test", "/whoami").await;
    assert_eq!(zeta.answered_by(), "zeta");
}

#[tokio::test]
async fn deeper_hosts_below_a_central_domain_can_be_domains() {
    let test = TestApp::with(central_example_test(), Default::default()).await;
    test.create("alpha", &["app.acme.example.test"]).await;
    test.create("acme", &[]).await;
    test.tenancy
        .add_domain(&tenant_id("alpha"), "www.acme.example.test", false)
        .await
        .expect("two labels below a central domain name no tenant by subdomain");
    let app = test.router();

    for host in ["app.acme.example.test", "www.acme.example.test"] {
        let reply = get_from(&app, host, "/whoami").await;
        assert_eq!(reply.answered_by(), "alpha", "{host}");
    }
    let acme = get_from(&app, "acme.example.test", "/whoami").await;
    assert_eq!(acme.answered_by(), "acme");
}

#[tokio::test]
async fn central_hosts_reach_the_central_routes_never_a_tenant() {
    let test = TestApp::new().await;
    test.create("alpha", &[]).await;
    let app = test.router();

    for host in [
        "localhost",
        "127.0.0.1:3000",
        "[::1]:3000",
        "www.localhost",
        "LOCALHOST.",
    ] {
        let reply = get_from(&app, host, "/whoami").await;
        assert_eq!(reply.status, StatusCode::OK, "{host}");
        assert_eq!(reply.answered_by(), "central", "{host}");
        assert_eq!(reply.body["scope"], serde_json::Value::Null, "{host}");
    }
}

#[test]
fn www_is_not_a_tenant_id_and_cannot_be_created() {
    assert!(TenantId::parse("www").is_err());
    assert!(TenantId::parse("api").is_err());
    assert!(TenantId::parse("admin").is_err());
}

#[tokio::test]
async fn www_below_a_tenant_subdomain_is_not_found() {
    let test = TestApp::new().await;
    test.create("alpha", &[]).await;
    let app = test.router();

    // Only one label below a central domain names a tenant; `www.` is not stripped there.
    let reply = get_from(&app, "www.alpha.localhost", "/whoami").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.code(), "tenant_not_found");
}

#[tokio::test]
async fn unknown_host_is_404_problem_json() {
    let test = TestApp::new().await;
    test.create("alpha", &[]).await;
    let app = test.router();

    for host in ["zulu.localhost", "alpha.example.test", "nobody.invalid"] {
        let reply = get_from(&app, host, "/whoami").await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{host}");
        assert_eq!(reply.code(), "tenant_not_found", "{host}");
        assert_eq!(reply.content_type(), "application/problem+json", "{host}");
    }
}

#[tokio::test]
async fn host_that_cannot_be_normalised_is_400_invalid_host() {
    let test = TestApp::new().await;
    let app = test.router();
    let over_long = format!("{}.localhost", vec!["a".repeat(60); 5].join("."));
    let long_label = format!("{}.localhost", "a".repeat(64));

    for host in ["bad_host!", "a..b", over_long.as_str(), long_label.as_str()] {
        let reply = get_from(&app, host, "/whoami").await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{host}");
        assert_eq!(reply.code(), "invalid_host", "{host}");
        assert_eq!(reply.content_type(), "application/problem+json", "{host}");
    }
}

#[tokio::test]
async fn tenant_header_is_ignored_unless_enabled() {
    let test = TestApp::new().await;
    test.create("alpha", &[]).await;
    let app = test.router();

    let reply = send(&app, with_tenant_header("localhost", "/whoami", "alpha")).await;
    assert_eq!(reply.answered_by(), "central");
}

#[tokio::test]
async fn tenant_header_names_the_tenant_on_central_hosts_when_enabled() {
    let test = TestApp::with(with_header(), Default::default()).await;
    test.create("alpha", &[]).await;
    let app = test.router();

    let reply = send(&app, with_tenant_header("localhost", "/whoami", "alpha")).await;
    assert_eq!(reply.answered_by(), "alpha");
    let reply = send(&app, with_tenant_header("localhost", "/whoami", "zulu")).await;
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::NOT_FOUND, "tenant_not_found")
    );
    let reply = send(&app, with_tenant_header("localhost", "/whoami", "Bad Id")).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn tenant_header_is_ignored_on_tenant_hosts() {
    let test = TestApp::with(with_header(), Default::default()).await;
    test.create("alpha", &[]).await;
    test.create("beta", &[]).await;
    let app = test.router();

    let reply = send(
        &app,
        with_tenant_header("alpha.localhost", "/whoami", "beta"),
    )
    .await;
    assert_eq!(reply.answered_by(), "alpha");
}

#[tokio::test]
async fn path_prefix_is_ignored_unless_enabled() {
    let test = TestApp::new().await;
    test.create("alpha", &[]).await;
    let app = test.router();

    let reply = get_from(&app, "localhost", "/t/alpha/whoami").await;
    assert_eq!(reply.answered_by(), "central");
    assert_eq!(reply.body["path"], "/t/alpha/whoami");
}

#[tokio::test]
async fn path_prefix_names_the_tenant_and_is_stripped_when_enabled() {
    let test = TestApp::with(with_path_prefix(), Default::default()).await;
    test.create("alpha", &[]).await;
    let app = test.router();

    let reply = get_from(&app, "localhost", "/t/alpha/whoami?x=1").await;
    assert_eq!(reply.answered_by(), "alpha");
    assert_eq!(reply.body["path"], "/whoami");
    let notes = get_from(&app, "localhost", "/t/alpha/notes").await;
    assert_eq!(notes.status, StatusCode::OK);
    assert_eq!(notes.body[0], "alpha: note 3");

    let unknown = get_from(&app, "localhost", "/t/zulu/whoami").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    // On a tenant host the prefix is just a path of the application.
    let on_tenant_host = get_from(&app, "alpha.localhost", "/t/alpha/whoami").await;
    assert_eq!(on_tenant_host.status, StatusCode::NOT_FOUND);
    assert_eq!(on_tenant_host.code(), "");
}

#[tokio::test]
async fn host_case_does_not_matter() {
    let options = IdentifyOptions {
        central_domains: vec!["Example.Test".into()],
        ..IdentifyOptions::default()
    };
    let test = TestApp::with(options, Default::default()).await;
    test.create("alpha", &["Alpha.Custom.test"]).await;
    test.create("beta", &[]).await;
    let app = test.router();

    for host in [
        "ALPHA.custom.test",
        "alpha.custom.test",
        "Alpha.Custom.Test:443",
    ] {
        assert_eq!(
            get_from(&app, host, "/whoami").await.answered_by(),
            "alpha",
            "{host}"
        );
    }
    for host in ["ALPHA.example.test", "alpha.EXAMPLE.TEST."] {
        assert_eq!(
            get_from(&app, host, "/whoami").await.answered_by(),
            "alpha",
            "{host}"
        );
    }
    assert_eq!(
        get_from(&app, "WWW.Example.Test", "/").await.answered_by(),
        "central"
    );
}

#[tokio::test]
async fn domain_differing_only_in_case_is_taken() {
    let test = TestApp::new().await;
    test.create("alpha", &["Alpha.Custom.test"]).await;
    test.create("beta", &[]).await;

    let error = test
        .tenancy
        .add_domain(&tenant_id("beta"), "alpha.CUSTOM.test", false)
        .await
        .unwrap_err();

    match error {
        Error::DomainTaken { host, owner } => {
            assert_eq!(host, "alpha.custom.test");
            assert_eq!(owner.as_str(), "alpha");
        }
        other => panic!("expected DomainTaken, got {other:?}"),
    }
}

#[tokio::test]
async fn central_host_cannot_be_given_to_a_tenant() {
    let test = TestApp::new().await;
    test.create("alpha", &[]).await;

    for domain in ["localhost", "WWW.localhost", "127.0.0.1"] {
        let error = test
            .tenancy
            .add_domain(&tenant_id("alpha"), domain, false)
            .await
            .unwrap_err();
        assert_eq!(error.code(), "invalid_input", "{domain}");
    }
}

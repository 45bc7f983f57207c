//! Where the host comes from (RFC 9112, section 3.2): one `Host` line, or the authority of
//! an absolute-form target, which wins over `Host`.

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use support::{TestApp, send};

#[tokio::test]
async fn two_host_lines_are_refused_not_one_picked() {
    let test = TestApp::new().await;
    test.create("alpha", &[]).await;
    test.create("beta", &[]).await;
    let request = Request::get("/whoami")
        .header("host", "alpha.localhost")
        .header("host", "beta.localhost")
        .body(Body::empty())
        .unwrap();

    let reply = send(&test.router(), request).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.code(), "invalid_host");
}

#[tokio::test]
async fn an_absolute_form_target_names_the_tenant_over_the_host_line() {
    let test = TestApp::new().await;
    test.create("alpha", &[]).await;
    test.create("beta", &[]).await;
    let request = Request::get("http://beta.localhost:8080/whoami")
        .header("host", "alpha.localhost")
        .body(Body::empty())
        .unwrap();

    let reply = send(&test.router(), request).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.answered_by(), "beta");
}

#[tokio::test]
async fn a_request_without_any_host_is_refused() {
    let test = TestApp::new().await;
    let request = Request::get("/whoami").body(Body::empty()).unwrap();

    let reply = send(&test.router(), request).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.code(), "missing_host");
}

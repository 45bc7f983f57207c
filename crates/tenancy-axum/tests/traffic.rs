//! Per-tenant traffic rules through the real layer: rate limits belong to the resolved
//! tenant whichever way it was identified, plans give defaults and tenants override them,
//! and IP lists judge the socket's peer unless a trusted proxy speaks for the client.

mod support;

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use support::{
    TestApp, central_routes, eventually, http_client, notes_routes, send, serve, tenant_id,
    with_header,
};
use tenancy::identify::IdentifyOptions;
use tenancy::traffic::{RateLimit, RateRule, RuleScope, TrafficRules, parse_network};
use tenancy::{PoolOptions, TenantUpdate};
use tenancy_axum::{TenancyLayer, split_with};

/// A request from `peer`, as the socket would have given it.
fn from(peer: &str, host: &str) -> Request<Body> {
    let peer: SocketAddr = format!("{peer}:40000").parse().unwrap();
    let mut request = Request::get("/whoami")
        .header("host", host)
        .body(Body::empty())
        .unwrap();
    request.extensions_mut().insert(ConnectInfo(peer));
    request
}

fn rate(per_second: u32, burst: u32) -> TrafficRules {
    TrafficRules {
        rate: Some(RateRule::Limit(RateLimit::new(per_second, burst).unwrap())),
        ..TrafficRules::default()
    }
}

async fn on_plan(test: &TestApp, id: &str, plan: &str) {
    let update = TenantUpdate {
        plan: Some(Some(plan.into())),
        ..TenantUpdate::default()
    };
    test.tenancy
        .update_tenant(&tenant_id(id), update)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_rate_limit_counts_the_resolved_tenant_whichever_way_it_was_found() {
    let test = TestApp::with(with_header(), PoolOptions::default()).await;
    test.create("alpha", &["alpha.example.test"]).await;
    test.create("beta", &[]).await;
    on_plan(&test, "alpha", "small").await;
    on_plan(&test, "beta", "small").await;
    let burst = 6;
    test.tenancy
        .set_traffic_rules(RuleScope::plan("small").unwrap(), Some(rate(1, burst)))
        .await
        .unwrap();
    let app = test.router();

    // Three ways to reach alpha, from three addresses, taking turns: one bucket for all.
    let ways = [
        ("192.0.2.1", "alpha.localhost", None),
        ("192.0.2.2", "alpha.example.test", None),
        ("192.0.2.3", "localhost", Some("alpha")),
    ];
    let mut served = 0;
    let mut limited = None;
    for n in 0..(burst as usize + 3) {
        let (peer, host, header) = ways[n % ways.len()];
        let mut request = from(peer, host);
        if let Some(tenant) = header {
            request
                .headers_mut()
                .insert("x-tenant", tenant.parse().unwrap());
        }
        let reply = send(&app, request).await;
        match reply.status {
            StatusCode::OK => {
                assert_eq!(reply.answered_by(), "alpha");
                assert!(reply.header("ratelimit").starts_with("\"tenant\";r="));
                served += 1;
            }
            StatusCode::TOO_MANY_REQUESTS => {
                limited = Some(reply);
                break;
            }
            other => panic!("unexpected {other}: {reply:?}"),
        }
    }
    let limited = limited.expect("alpha hit its limit within a few requests over the burst");
    // The bucket refills at one a second: a slow machine may let one or two more through.
    assert!((burst..=burst + 2).contains(&served), "served {served}");
    assert_eq!(limited.code(), "rate_limited");
    assert_eq!(limited.content_type(), "application/problem+json");
    let retry_after: u32 = limited.header("retry-after").parse().unwrap();
    assert!(retry_after >= 1, "{limited:?}");
    assert_eq!(
        limited.header("ratelimit-policy"),
        "\"tenant\";q=1;w=1;burst=6"
    );
    assert!(limited.header("ratelimit").contains(";r=0;"), "{limited:?}");

    // Beta is on the same plan but has its own bucket.
    let beta = send(&app, from("192.0.2.1", "beta.localhost")).await;
    assert_eq!(beta.status, StatusCode::OK, "{beta:?}");
    assert_eq!(beta.answered_by(), "beta");
}

#[tokio::test]
async fn a_tenant_rule_overrides_its_plan_and_removing_it_restores_the_plan() {
    let test = TestApp::new().await;
    test.create("alpha", &[]).await;
    on_plan(&test, "alpha", "small").await;
    let plan = RuleScope::plan("small").unwrap();
    test.tenancy
        .set_traffic_rules(plan, Some(rate(1, 2)))
        .await
        .unwrap();
    let own = RuleScope::Tenant(tenant_id("alpha"));
    let unlimited = TrafficRules {
        rate: Some(RateRule::Unlimited),
        ..TrafficRules::default()
    };
    test.tenancy
        .set_traffic_rules(own.clone(), Some(unlimited))
        .await
        .unwrap();
    let app = test.router();
    for _ in 0..20 {
        let reply = send(&app, from("192.0.2.1", "alpha.localhost")).await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        assert_eq!(reply.header("ratelimit"), "", "no limit, no header");
    }

    test.tenancy.set_traffic_rules(own, None).await.unwrap();
    let statuses: Vec<StatusCode> = statuses_of(&app, 6).await;
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "the plan's limit is back on the next requests: {statuses:?}"
    );
}

async fn statuses_of(app: &axum::Router, count: usize) -> Vec<StatusCode> {
    let mut statuses = Vec::new();
    for _ in 0..count {
        statuses.push(send(app, from("192.0.2.1", "alpha.localhost")).await.status);
    }
    statuses
}

#[tokio::test]
async fn block_and_allow_lists_judge_the_socket_peer() {
    let test = TestApp::new().await;
    test.create("alpha", &[]).await;
    test.create("beta", &[]).await;
    let rules = TrafficRules {
        allow: Some(vec![parse_network("10.0.0.0/8").unwrap()]),
        block: Some(vec![parse_network("10.6.6.6").unwrap()]),
        ..TrafficRules::default()
    };
    let scope = RuleScope::Tenant(tenant_id("alpha"));
    test.tenancy
        .set_traffic_rules(scope, Some(rules))
        .await
        .unwrap();
    let app = test.router();

    let allowed = send(&app, from("10.1.2.3", "alpha.localhost")).await;
    assert_eq!(allowed.status, StatusCode::OK, "{allowed:?}");
    let blocked = send(&app, from("10.6.6.6", "alpha.localhost")).await;
    assert_eq!(
        (blocked.status, blocked.code()),
        (StatusCode::FORBIDDEN, "ip_blocked")
    );
    let outside = send(&app, from("192.0.2.1", "alpha.localhost")).await;
    assert_eq!(
        (outside.status, outside.code()),
        (StatusCode::FORBIDDEN, "ip_not_allowed")
    );
    // An IPv4 client reaching an IPv6 listener is judged by its IPv4 address.
    let mapped = send(&app, from("[::ffff:10.1.2.3]", "alpha.localhost")).await;
    assert_eq!(mapped.status, StatusCode::OK, "{mapped:?}");
    // Other tenants are not concerned.
    let beta = send(&app, from("192.0.2.1", "beta.localhost")).await;
    assert_eq!(beta.status, StatusCode::OK);

    // A client cannot talk its way past the list: without a trusted proxy the header is
    // not read.
    let mut spoofed = from("192.0.2.1", "alpha.localhost");
    spoofed
        .headers_mut()
        .insert("x-forwarded-for", "10.1.2.3".parse().unwrap());
    assert_eq!(send(&app, spoofed).await.code(), "ip_not_allowed");
}

#[tokio::test]
async fn a_trusted_proxy_names_the_client_and_the_real_socket_is_judged() {
    let test = TestApp::new().await;
    test.create("alpha", &[]).await;
    let rules = TrafficRules {
        allow: Some(vec![parse_network("10.0.0.0/8").unwrap()]),
        ..TrafficRules::default()
    };
    let scope = RuleScope::Tenant(tenant_id("alpha"));
    test.tenancy
        .set_traffic_rules(scope, Some(rules))
        .await
        .unwrap();
    let client = http_client();

    // Straight from 127.0.0.1 over a real socket: not on the list.
    let direct = serve(test.router()).await;
    let reply = client
        .get(format!("http://{direct}/whoami"))
        .header("host", "alpha.localhost")
        .header("x-forwarded-for", "10.1.2.3")
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::FORBIDDEN);

    // Behind a trusted proxy on 127.0.0.1: the nearest untrusted hop is the client.
    let trusted = vec![parse_network("127.0.0.0/8").unwrap()];
    let layer = TenancyLayer::new(test.tenancy.clone()).trusted_proxies(trusted);
    let proxied = serve(split_with(layer, central_routes(), notes_routes())).await;
    let ask = |forwarded: &'static str| {
        client
            .get(format!("http://{proxied}/whoami"))
            .header("host", "alpha.localhost")
            .header("x-forwarded-for", forwarded)
            .send()
    };
    assert_eq!(ask("10.1.2.3").await.unwrap().status(), StatusCode::OK);
    // The left-most entry is the client's own claim; the proxy appended the real one.
    assert_eq!(
        ask("10.1.2.3, 192.0.2.9").await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        ask("192.0.2.9, 10.1.2.3, 127.0.0.5")
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        ask("not an address").await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn rules_changed_by_another_process_apply_within_a_second() {
    let test = TestApp::new().await;
    test.create("alpha", &[]).await;
    let other = support::open(
        test.dir.path(),
        IdentifyOptions::default(),
        PoolOptions::default(),
    )
    .await;
    let app = test.router();
    assert_eq!(
        send(&app, from("192.0.2.1", "alpha.localhost"))
            .await
            .status,
        StatusCode::OK
    );

    let rules = TrafficRules {
        block: Some(vec![parse_network("192.0.2.0/24").unwrap()]),
        ..TrafficRules::default()
    };
    other
        .set_traffic_rules(RuleScope::Tenant(tenant_id("alpha")), Some(rules))
        .await
        .unwrap();
    let blocked = eventually(async || {
        send(&app, from("192.0.2.1", "alpha.localhost"))
            .await
            .code()
            == "ip_blocked"
    })
    .await;
    assert!(blocked, "the other process's rule reached this one");
}

#[tokio::test]
async fn rules_for_an_unknown_tenant_or_with_bad_values_are_refused() {
    let test = TestApp::new().await;
    let nobody = RuleScope::Tenant(tenant_id("nobody"));
    let error = test
        .tenancy
        .set_traffic_rules(nobody, Some(rate(1, 1)))
        .await
        .unwrap_err();
    assert!(
        matches!(error, tenancy::Error::TenantNotFound(_)),
        "{error}"
    );

    let zero = TrafficRules {
        rate: Some(RateRule::Limit(RateLimit {
            per_second: 0,
            burst: 5,
        })),
        ..TrafficRules::default()
    };
    let error = test
        .tenancy
        .set_traffic_rules(RuleScope::plan("free").unwrap(), Some(zero))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("per_second"), "{error}");
    assert!(test.tenancy.traffic().all().is_empty());
}

//! Many tenants, many requests in flight, one real socket: every answer holds only the
//! rows of the tenant its host named.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use support::{PATIENCE, TestApp, get_from, http_client, serve};
use tenancy::PoolOptions;
use tenancy::identify::IdentifyOptions;

const TENANTS: usize = 50;
const REQUESTS: usize = 2000;
const IN_FLIGHT: usize = 64;

/// SplitMix64: a fixed, good-enough spread of request numbers over tenants and actions.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// What one request found wrong, if anything.
async fn one_request(client: &reqwest::Client, addr: SocketAddr, n: usize) -> Vec<String> {
    let random = mix(n as u64);
    let tenant = format!("t{}", random % TENANTS as u64);
    let own = format!("{tenant}: ");
    let host = format!("{tenant}.localhost");
    let url = format!("http://{addr}/notes");

    let titles: Vec<String> = if random.is_multiple_of(10) {
        let title = format!("{own}written {n}");
        let body = serde_json::json!({ "title": title });
        let response = client
            .post(&url)
            .header("host", &host)
            .json(&body)
            .send()
            .await;
        let note: serde_json::Value = match response {
            Ok(response) if response.status().is_success() => response.json().await.unwrap(),
            other => return vec![format!("write {n} to {tenant}: {other:?}")],
        };
        vec![note["title"].as_str().unwrap_or_default().to_owned()]
    } else {
        let response = client.get(&url).header("host", &host).send().await;
        match response {
            Ok(response) if response.status().is_success() => response.json().await.unwrap(),
            other => return vec![format!("read {n} from {tenant}: {other:?}")],
        }
    };
    titles
        .into_iter()
        .filter(|title| !title.starts_with(&own))
        .map(|title| format!("{tenant} got foreign row '{title}'"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_holds_only_its_own_tenants_notes() {
    let pool = PoolOptions {
        acquire_timeout: PATIENCE * 3,
        ..PoolOptions::default()
    };
    let test = TestApp::with(IdentifyOptions::default(), pool).await;
    for n in 0..TENANTS {
        test.create(&format!("t{n}"), &[]).await;
    }
    let addr = serve(test.router()).await;
    let client = http_client();
    let next = Arc::new(AtomicUsize::new(0));

    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..IN_FLIGHT {
        let (client, next) = (client.clone(), next.clone());
        workers.spawn(async move {
            let mut wrong = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= REQUESTS {
                    return wrong;
                }
                wrong.extend(one_request(&client, addr, n).await);
            }
        });
    }
    let wrong: Vec<String> = workers.join_all().await.into_iter().flatten().collect();
    assert_eq!(wrong, Vec::<String>::new());

    // Afterwards each database holds only its own rows, written ones included.
    let app = test.router();
    let mut written = 0;
    for n in 0..TENANTS {
        let reply = get_from(&app, &format!("t{n}.localhost"), "/notes").await;
        let titles = reply.body.as_array().expect("a list of titles");
        let own = format!("t{n}: ");
        assert!(
            titles
                .iter()
                .all(|title| title.as_str().unwrap().starts_with(&own))
        );
        written += titles.len() - support::SEEDED_NOTES;
    }
    assert!(written > 0, "no write reached any tenant");
}

//! The admin API's operating routes on a real socket, through the real binary: health and
//! readiness, stats, tenant search and sort, the reference page, the contract between the
//! OpenAPI document and real answers, and the client address behind trusted proxies.
//!
//! The network servers come from `TENANCY_TEST_POSTGRES_URL` and `TENANCY_TEST_MYSQL_URL`
//! (default: the local ones); a server that cannot be reached fails the test.

mod support;

use std::collections::{BTreeSet, HashSet};

use serde_json::{Value, json};
use support::network::{PgObjects, drop_mysql_databases, drop_postgres, mysql_url, postgres_url};
use support::{Response, Sandbox, Server};

/// A served sandbox with an admin key.
struct Api {
    sandbox: Sandbox,
    server: Server,
    admin: String,
}

impl Api {
    fn start() -> Api {
        Api::start_with(Sandbox::new(), &[])
    }

    fn start_with(sandbox: Sandbox, env: &[(&str, &str)]) -> Api {
        let (admin, _) = key(&sandbox, &["admin"]);
        let server = sandbox.serve_with_env(&[], env);
        Api {
            sandbox,
            server,
            admin,
        }
    }

    fn call(&self, method: &str, path: &str, key: Option<&str>, body: Option<&str>) -> Response {
        self.call_with(method, path, key, body, &[])
    }

    fn call_with(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<&str>,
        extra: &[(&str, &str)],
    ) -> Response {
        let bearer = key.map(|key| format!("Bearer {key}"));
        let mut headers: Vec<(&str, &str)> = bearer
            .iter()
            .map(|value| ("Authorization", value.as_str()))
            .collect();
        headers.extend_from_slice(extra);
        let body = body.map(str::as_bytes);
        support::http_with(self.server.port, method, "localhost", path, body, &headers)
    }

    fn admin(&self, method: &str, path: &str, body: Option<Value>) -> Response {
        let body = body.map(|value| value.to_string());
        self.call(method, path, Some(&self.admin), body.as_deref())
    }

    /// `GET` as admin, expecting 200.
    fn get(&self, path: &str) -> Value {
        let answer = self.admin("GET", path, None);
        assert_eq!(answer.status, 200, "{path}: {answer:#?}");
        answer.json()
    }

    fn create(&self, body: Value) {
        let answer = self.admin("POST", "/api/v1/tenants", Some(body));
        assert_eq!(answer.status, 201, "{answer:#?}");
    }
}

/// Creates a key with the CLI: (secret, id).
fn key(sandbox: &Sandbox, scopes: &[&str]) -> (String, String) {
    let mut args = vec!["keys", "create"];
    for scope in scopes {
        args.extend(["--scope", scope]);
    }
    let created = sandbox.json(&args);
    (
        created["secret"].as_str().unwrap().to_owned(),
        created["key"]["id"].as_str().unwrap().to_owned(),
    )
}

// Health and readiness

#[test]
fn health_and_readiness_answer_without_a_key() {
    let api = Api::start();
    let health = api.call("GET", "/api/v1/health", None, None);
    assert_eq!(health.status, 200, "{health:#?}");
    assert_eq!(health.json(), json!({ "status": "ok" }));

    let ready = api.call("GET", "/api/v1/ready", None, None);
    assert_eq!(ready.status, 200, "{ready:#?}");
    let report = ready.json();
    assert_eq!(report["status"], "ready", "{report}");
    assert_eq!(report["catalog"]["reachable"], true);
    assert_eq!(report["catalog"]["tenants"], 0);
    assert_eq!(
        report["servers"],
        json!([{ "server": "local", "backend": "sqlite", "reachable": true, "error": null }])
    );
}

#[test]
fn readiness_is_503_while_the_catalog_file_is_gone() {
    let api = Api::start();
    assert_eq!(api.call("GET", "/api/v1/ready", None, None).status, 200);

    let catalog = api.sandbox.catalog_file();
    let away = catalog.with_extension("away");
    std::fs::rename(&catalog, &away).unwrap();
    let unready = api.call("GET", "/api/v1/ready", None, None);
    std::fs::rename(&away, &catalog).unwrap();

    assert_eq!(unready.status, 503, "{unready:#?}");
    assert_eq!(unready.header("retry-after"), Some("1"));
    let report = unready.json();
    assert_eq!(report["status"], "unready", "{report}");
    assert_eq!(report["catalog"]["reachable"], false);
    assert!(report["catalog"]["error"].is_string(), "{report}");
    let ready = api.call("GET", "/api/v1/ready", None, None);
    assert_eq!(
        ready.status, 200,
        "ready again once the file is back: {ready:#?}"
    );
}

const PG_DATABASES: &str = "apiops_db_";
const PG_SCHEMAS: &str = "apiops_sc_";
const MY_DATABASES: &str = "apiops_my_";

/// PostgreSQL in database and schema mode, MariaDB, and a PostgreSQL server nobody listens
/// for (port 9 on loopback).
fn network_config() -> String {
    format!(
        "[servers.pgd]\nkind = \"postgres\"\nurl = \"{pg}\"\nisolation = \"database\"\n\
         prefix = \"{PG_DATABASES}\"\n\n\
         [servers.pgs]\nkind = \"postgres\"\nurl = \"{pg}\"\nisolation = \"schema\"\n\
         prefix = \"{PG_SCHEMAS}\"\n\n\
         [servers.my]\nkind = \"mysql\"\nurl = \"{my}\"\nprefix = \"{MY_DATABASES}\"\n\n\
         [servers.down]\nkind = \"postgres\"\nurl = \"postgres://postgres@127.0.0.1:9/postgres\"\n\
         accepts_new_tenants = false\n",
        pg = postgres_url(),
        my = mysql_url(),
    )
}

fn clear_leftovers() {
    drop_postgres(PgObjects::Databases, PG_DATABASES);
    drop_postgres(PgObjects::Schemas, PG_SCHEMAS);
    drop_mysql_databases(MY_DATABASES);
}

fn network_api() -> Api {
    clear_leftovers();
    let sandbox = Sandbox::new();
    std::fs::write(sandbox.path().join("tenancy.toml"), network_config()).unwrap();
    Api::start_with(sandbox, &[])
}

#[test]
fn a_server_that_is_down_is_reported_and_leaves_the_service_ready() {
    let api = network_api();
    let ready = api.call("GET", "/api/v1/ready", None, None);
    assert_eq!(ready.status, 200, "{ready:#?}");
    let report = ready.json();
    assert_eq!(report["status"], "degraded", "{report}");
    let servers = report["servers"].as_array().unwrap();
    let reachable: Vec<(&str, bool)> = servers
        .iter()
        .map(|s| (s["server"].as_str().unwrap(), s["reachable"] == true))
        .collect();
    assert_eq!(
        reachable,
        [
            ("down", false),
            ("local", true),
            ("my", true),
            ("pgd", true),
            ("pgs", true)
        ],
        "{report}"
    );
    assert!(servers[0]["error"].is_string(), "{report}");
}

// Stats

#[test]
fn stats_need_metrics_read_and_name_unknown_tenants() {
    let api = Api::start();
    api.create(json!({ "id": "acme" }));
    let (reader, _) = key(&api.sandbox, &["tenants:read"]);
    let (monitor, _) = key(&api.sandbox, &["metrics:read"]);
    for path in ["/api/v1/stats", "/api/v1/tenants/acme/stats"] {
        api.call("GET", path, None, None)
            .assert_problem(401, "unauthorized");
        let refused = api.call("GET", path, Some(&reader), None);
        refused.assert_problem(403, "forbidden");
        assert!(refused.body.contains("metrics:read"), "{refused:#?}");
        assert_eq!(api.call("GET", path, Some(&monitor), None).status, 200);
    }
    api.admin("GET", "/api/v1/tenants/nobody/stats", None)
        .assert_problem(404, "tenant_not_found");
    api.admin("GET", "/api/v1/tenants/Not_An_Id/stats", None)
        .assert_problem(404, "tenant_not_found");
}

#[test]
fn tenant_stats_count_real_requests_and_the_database_size() {
    let api = Api::start();
    api.create(json!({ "id": "acme" }));
    let before = api.get("/api/v1/tenants/acme/stats");
    assert_eq!(before["requests"], Value::Null, "not served yet: {before}");
    let size = before["database"]["size_bytes"].as_u64().unwrap();
    assert!(size > 0, "{before}");

    for _ in 0..5 {
        let answer = api.server.request("GET", "acme.localhost", "/notes");
        assert_eq!(answer.status, 200, "{answer:#?}");
    }
    let missing = api.server.request("GET", "acme.localhost", "/notes/999999");
    assert_eq!(missing.status, 404, "{missing:#?}");

    let after = api.get("/api/v1/tenants/acme/stats");
    let requests = &after["requests"];
    assert_eq!(requests["total"], 6, "{after}");
    assert_eq!(requests["client_errors"], 1, "{after}");
    assert_eq!(requests["server_errors"], 0, "{after}");
    let latency = &requests["latency_ms"];
    let (p50, p99, max) = (
        latency["p50"].as_f64().unwrap(),
        latency["p99"].as_f64().unwrap(),
        latency["max"].as_f64().unwrap(),
    );
    assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{after}");
    assert_eq!(after["pool"]["shared"], false);
    let held = after["pool"]["connections_idle"].as_u64().unwrap()
        + after["pool"]["connections_in_use"].as_u64().unwrap();
    assert!(held >= 1, "a connection stays open after requests: {after}");
    assert_eq!(after["database"]["server"], "local");
}

#[test]
fn service_stats_count_tenants_by_status_and_connections_against_the_budget() {
    let api = Api::start();
    for id in ["acme", "globex", "initech"] {
        api.create(json!({ "id": id }));
    }
    api.admin("POST", "/api/v1/tenants/globex/suspend", None);
    api.server.request("GET", "acme.localhost", "/notes");

    let stats = api.get("/api/v1/stats");
    let tenants = &stats["tenants"];
    assert_eq!(
        (&tenants["total"], &tenants["active"], &tenants["suspended"]),
        (&json!(3), &json!(2), &json!(1)),
        "{stats}"
    );
    let local = &stats["servers"][0];
    assert_eq!(local["server"], "local");
    assert_eq!(local["tenants"], 3);
    assert_eq!(local["budget"], 32);
    assert!(local["connections_open"].as_u64().unwrap() >= 1, "{stats}");
    assert!(stats["tracked_tenants"].as_u64().unwrap() >= 1, "{stats}");
    assert_eq!(stats["tracked_tenants_max"], 1000);
    let memory = stats["process"]["resident_memory_bytes"].as_u64().unwrap();
    assert!(memory > 1024 * 1024, "{stats}");
}

#[test]
fn database_sizes_are_read_on_every_kind_of_server() {
    let api = network_api();
    let placements = [
        ("lite", "local", false),
        ("pgdb", "pgd", false),
        ("pgsc", "pgs", true),
        ("mari", "my", true),
    ];
    for (id, server, _) in placements {
        api.create(json!({ "id": id, "server": server }));
    }
    for (id, server, shared) in placements {
        api.server
            .request("GET", &format!("{id}.localhost"), "/notes");
        let stats = api.get(&format!("/api/v1/tenants/{id}/stats"));
        assert_eq!(stats["database"]["server"], server, "{stats}");
        let size = stats["database"]["size_bytes"].as_u64();
        assert!(size.is_some_and(|bytes| bytes > 0), "{id}: {stats}");
        assert_eq!(stats["pool"]["shared"], shared, "{id}: {stats}");
        assert_eq!(stats["requests"]["total"], 1, "{id}: {stats}");
    }
    let service = api.get("/api/v1/stats");
    let names: Vec<&str> = service["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["server"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["down", "local", "my", "pgd", "pgs"], "{service}");
    for (id, _, _) in placements {
        let answer = api.admin("DELETE", &format!("/api/v1/tenants/{id}"), None);
        assert_eq!(answer.status, 202, "{answer:#?}");
    }
    clear_leftovers();
}

// Search and sort

/// Tenants whose names sort differently from their ids, with one shared name (ties break
/// by id) and a domain that only a search on domains finds.
fn sortable_api() -> Api {
    let api = Api::start();
    let tenants = [
        ("delta", "alpha Works", vec!["shop.delta.example"]),
        ("bravo", "Zulu Trading", vec![]),
        ("echo", "mike & Co", vec!["www.widgets.example"]),
        ("alpha", "Mike & co", vec![]),
        ("charlie", "Echo Labs", vec![]),
        ("foxtrot", "Bravo", vec!["foxtrot.example"]),
        ("golf", "mike & co", vec![]),
    ];
    for (id, name, domains) in tenants {
        api.create(json!({ "id": id, "name": name, "domains": domains }));
    }
    // Updated in another order than created.
    for id in ["golf", "alpha", "echo"] {
        let answer = api.admin(
            "PATCH",
            &format!("/api/v1/tenants/{id}"),
            Some(json!({ "plan": "pro" })),
        );
        assert_eq!(answer.status, 200, "{answer:#?}");
    }
    api
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tenant| tenant["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Every page of a listing, two at a time.
fn paged(api: &Api, query: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..20 {
        let mut path = format!("/api/v1/tenants?limit=2&{query}");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let page = api.get(&path);
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return seen,
        }
    }
    panic!("more pages than tenants for {query}");
}

/// The order a sort should give, worked out here from the full listing.
fn expected_order(all: &[Value], key: &str, descending: bool) -> Vec<String> {
    let mut tenants: Vec<&Value> = all.iter().collect();
    tenants.sort_by(|a, b| {
        let value = |t: &Value| match key {
            "name" => t["name"].as_str().unwrap().to_ascii_lowercase(),
            other => t[other].as_str().unwrap().to_owned(),
        };
        let by_key = match key {
            "created_at" | "updated_at" => {
                let at = |t: &Value| chrono::DateTime::parse_from_rfc3339(&value(t)).unwrap();
                at(a).cmp(&at(b))
            }
            _ => value(a).cmp(&value(b)),
        };
        by_key.then_with(|| a["id"].as_str().cmp(&b["id"].as_str()))
    });
    if descending {
        tenants.reverse();
    }
    tenants
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn every_sort_pages_through_every_tenant_once_in_order() {
    let api = sortable_api();
    let all = api.get("/api/v1/tenants?limit=500")["items"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(all.len(), 7);
    for key in ["id", "name", "created_at", "updated_at"] {
        for descending in [false, true] {
            let expected = expected_order(&all, key, descending);
            let sign = if descending { "-" } else { "" };
            assert_eq!(
                paged(&api, &format!("sort={sign}{key}")),
                expected,
                "{sign}{key}"
            );
            let order = if descending { "desc" } else { "asc" };
            let spelled = paged(&api, &format!("sort={key}&order={order}"));
            assert_eq!(spelled, expected, "sort={key}&order={order}");
        }
    }
}

#[test]
fn search_matches_id_name_and_domains_without_case_and_pages_with_a_sort() {
    let api = sortable_api();
    let search = |query: &str| -> BTreeSet<String> {
        ids(&api.get(&format!("/api/v1/tenants?limit=500&{query}")))
            .into_iter()
            .collect()
    };
    let set = |ids: &[&str]| ids.iter().map(|id| id.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(search("q=ECHO"), set(&["charlie", "echo"]), "id and name");
    assert_eq!(search("q=widgets"), set(&["echo"]), "a domain");
    assert_eq!(
        search("q=Shop.Delta"),
        set(&["delta"]),
        "a domain without case"
    );
    assert_eq!(
        search("q=%25"),
        set(&[]),
        "% is a character, not a wildcard"
    );
    assert_eq!(search("q=E%20%26%20cO"), set(&["alpha", "echo", "golf"]));
    assert_eq!(search("q=mike&plan=pro"), set(&["alpha", "echo", "golf"]));
    assert_eq!(search("q=nothing-like-it"), set(&[]));

    // Three equal names (without case): the tie breaks by id, and no page repeats one.
    let pages = paged(&api, "q=mike&sort=-name");
    assert_eq!(pages, ["golf", "echo", "alpha"]);
    let pages = paged(&api, "q=mike&sort=name");
    assert_eq!(pages, ["alpha", "echo", "golf"]);
}

#[test]
fn a_new_tenant_between_pages_is_neither_skipped_nor_repeated() {
    let api = sortable_api();
    let first = api.get("/api/v1/tenants?limit=3&sort=-created_at");
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    api.create(json!({ "id": "hotel" }));
    let mut rest = paged_from(&api, "sort=-created_at", cursor);
    let mut seen = ids(&first);
    seen.append(&mut rest);
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "{seen:?}");
    assert_eq!(
        seen.len(),
        7,
        "hotel is newer than the first page: {seen:?}"
    );
}

fn paged_from(api: &Api, query: &str, cursor: String) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor = Some(cursor);
    while let Some(current) = cursor {
        let page = api.get(&format!("/api/v1/tenants?limit=2&{query}&cursor={current}"));
        seen.extend(ids(&page));
        cursor = page["next_cursor"].as_str().map(str::to_owned);
    }
    seen
}

#[test]
fn bad_search_and_sort_values_are_refused_with_their_parameter() {
    let api = sortable_api();
    let by_name = api.get("/api/v1/tenants?limit=2&sort=name");
    let cursor = by_name["next_cursor"].as_str().unwrap().to_owned();
    let long = "x".repeat(256);
    let cases = [
        ("sort=plan".to_owned(), "sort"),
        ("sort=--name".to_owned(), "sort"),
        ("order=up".to_owned(), "order"),
        ("sort=-name&order=desc".to_owned(), "order"),
        (format!("sort=-name&cursor={cursor}"), "cursor"),
        (format!("cursor={cursor}"), "cursor"),
        ("cursor=not-a-cursor".to_owned(), "cursor"),
        (format!("q={long}"), "q"),
    ];
    for (query, field) in cases {
        let answer = api.admin("GET", &format!("/api/v1/tenants?{query}"), None);
        answer.assert_problem(422, "validation_failed");
        assert_eq!(answer.json()["field"], field, "{query}");
    }
}

// The reference page

#[test]
fn the_reference_page_shows_every_operation_without_a_key_or_outside_assets() {
    let api = Api::start();
    let page = api.call("GET", "/api/v1/docs", None, None);
    assert_eq!(page.status, 200, "{page:#?}");
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let policy = page.header("content-security-policy").unwrap();
    assert!(policy.starts_with("default-src 'none'"), "{policy}");
    for outside in ["http://", "https://", "<script", "src="] {
        assert!(!page.body.contains(outside), "the page has {outside}");
    }

    let document = api.call("GET", "/api/v1/openapi.json", None, None).json();
    let mut count = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            count += 1;
            let anchor: String = format!("{method}-{path}")
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect();
            let start = page
                .body
                .find(&format!("<section class=\"operation\" id=\"{anchor}\">"))
                .unwrap_or_else(|| panic!("{method} {path} is not on the page"));
            let section = &page.body[start..];
            let section = &section[..section.find("</section>").unwrap()];
            assert!(section.contains(&method.to_uppercase()), "{method} {path}");
            assert!(section.contains(&escaped(path)), "{method} {path}");
            let scope = operation["security"][0]["bearer"][0]
                .as_str()
                .unwrap_or("no key");
            assert!(section.contains(scope), "{method} {path} shows {scope}");
            let summary = operation["summary"].as_str().unwrap_or_default();
            assert!(
                section.contains(&escaped(summary)),
                "{method} {path} shows its summary"
            );
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                let name = parameter["name"].as_str().unwrap();
                assert!(
                    section.contains(&format!("<code>{name}</code>")),
                    "{method} {path} lists {name}"
                );
            }
            if operation.get("requestBody").is_some() {
                assert!(section.contains("Request body"), "{method} {path}");
            }
            for status in operation["responses"].as_object().unwrap().keys() {
                assert!(
                    section.contains(&format!("<td>{status}</td>")),
                    "{method} {path} lists {status}"
                );
            }
        }
    }
    assert!(count >= 31, "{count} operations");
}

/// Text as the page's HTML escaping writes it.
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
        .replace('/', "&#x2f;")
}

// Audit and keys

#[test]
fn the_audit_log_names_the_client_behind_a_trusted_proxy() {
    let sandbox = Sandbox::new();
    sandbox.run(&["tenants", "create", "acme"]).succeeded();
    let api = Api::start_with(sandbox, &[("TENANCY_TRUSTED_PROXIES", "127.0.0.1")]);
    let forwarded = [("X-Forwarded-For", "198.51.100.7, 203.0.113.9")];
    let answer = api.call_with(
        "POST",
        "/api/v1/tenants/acme/suspend",
        Some(&api.admin),
        None,
        &forwarded,
    );
    assert_eq!(answer.status, 200, "{answer:#?}");

    let entries = api.get("/api/v1/audit?action=tenant.suspended")["items"].clone();
    assert_eq!(entries[0]["client_addr"], "203.0.113.9", "{entries}");
}

#[test]
fn the_audit_log_ignores_forwarded_for_from_an_untrusted_peer() {
    let sandbox = Sandbox::new();
    sandbox.run(&["tenants", "create", "acme"]).succeeded();
    let api = Api::start_with(sandbox, &[]);
    let forwarded = [("X-Forwarded-For", "203.0.113.9")];
    let answer = api.call_with(
        "POST",
        "/api/v1/tenants/acme/suspend",
        Some(&api.admin),
        None,
        &forwarded,
    );
    assert_eq!(answer.status, 200, "{answer:#?}");

    let entries = api.get("/api/v1/audit?action=tenant.suspended")["items"].clone();
    assert_eq!(entries[0]["client_addr"], "127.0.0.1", "{entries}");
}

#[test]
fn a_key_admin_cannot_revoke_a_key_with_wider_scopes() {
    let api = Api::start();
    let (keys_admin, keys_admin_id) = key(&api.sandbox, &["keys:admin"]);
    let (_, admin_id) = key(&api.sandbox, &["admin"]);
    let (_, peer_id) = key(&api.sandbox, &["keys:admin"]);

    let refused = api.call(
        "DELETE",
        &format!("/api/v1/keys/{admin_id}"),
        Some(&keys_admin),
        None,
    );
    refused.assert_problem(403, "forbidden");
    assert!(refused.body.contains("'admin'"), "{refused:#?}");
    let rotate = format!("/api/v1/keys/{admin_id}/rotate");
    api.call("POST", &rotate, Some(&keys_admin), None)
        .assert_problem(403, "forbidden");
    let listed = api.get("/api/v1/keys");
    let admin_row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == admin_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(admin_row["revoked_at"], Value::Null, "{admin_row}");

    let revoked = api.call(
        "DELETE",
        &format!("/api/v1/keys/{peer_id}"),
        Some(&keys_admin),
        None,
    );
    assert_eq!(
        revoked.status, 200,
        "a key with no more is revoked: {revoked:#?}"
    );
    let own = api.call(
        "DELETE",
        &format!("/api/v1/keys/{keys_admin_id}"),
        Some(&keys_admin),
        None,
    );
    assert_eq!(own.status, 200, "a key may revoke itself: {own:#?}");
}

// The OpenAPI document against the router and against real answers

#[test]
fn the_document_reads_as_openapi_3_1_with_valid_schemas() {
    let api = Api::start();
    let raw = api.call("GET", "/api/v1/openapi.json", None, None).body;
    let spec = oas3::from_json(&raw).expect("the document reads as OpenAPI 3.1");
    let version = spec.validate_version().expect("a 3.1 version");
    assert_eq!((version.major, version.minor), (3, 1));

    let document: Value = serde_json::from_str(&raw).unwrap();
    for (name, schema) in document["components"]["schemas"].as_object().unwrap() {
        let mut schema = schema.clone();
        schema["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
        if let Err(error) = jsonschema::meta::validate(&schema) {
            panic!("{name} is not a valid JSON Schema: {error}");
        }
    }
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let declared: BTreeSet<&str> = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            let in_path: BTreeSet<&str> = path
                .split('/')
                .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
                .collect();
            assert_eq!(
                declared, in_path,
                "{method} {path} declares its path parameters"
            );
            assert!(
                operation["responses"]
                    .as_object()
                    .is_some_and(|r| !r.is_empty()),
                "{method} {path} has responses"
            );
        }
    }
}

/// The bodies the API lets a client leave out are not required in the document, and are
/// not said to take `null`, which the API refuses.
#[test]
fn optional_bodies_are_documented_as_optional() {
    let document = serde_json::to_value(tenancy_server::api::openapi()).unwrap();
    let optional = [
        ("post", "/api/v1/tenants/{id}/suspend", "Suspend"),
        ("put", "/api/v1/tenants/{id}/maintenance", "Maintenance"),
        ("post", "/api/v1/keys/{id}/rotate", "RotateKey"),
    ];
    for (method, path, schema) in optional {
        let body = &document["paths"][path][method]["requestBody"];
        assert_ne!(body["required"], true, "{method} {path}: {body}");
        let reference = &body["content"]["application/json"]["schema"]["$ref"];
        assert_eq!(
            *reference,
            format!("#/components/schemas/{schema}"),
            "{body}"
        );
    }
    let api = Api::start();
    api.create(json!({ "id": "acme" }));
    let answer = api.call(
        "POST",
        "/api/v1/tenants/acme/suspend",
        Some(&api.admin),
        None,
    );
    assert_eq!(answer.status, 200, "no body is fine: {answer:#?}");
    let answer = api.call(
        "POST",
        "/api/v1/tenants/acme/activate",
        Some(&api.admin),
        None,
    );
    assert_eq!(answer.status, 200, "{answer:#?}");
    let null = api.call(
        "POST",
        "/api/v1/tenants/acme/suspend",
        Some(&api.admin),
        Some("null"),
    );
    null.assert_problem(422, "validation_failed");
}

/// Every operation the router answers is in the document: an operation missing from it
/// would answer 405 (its path exists with other methods) or 404 here, never a route's answer.
#[test]
fn the_router_serves_exactly_the_documented_operations() {
    let api = Api::start();
    let document = api.call("GET", "/api/v1/openapi.json", None, None).json();
    for (path, item) in document["paths"].as_object().unwrap() {
        let concrete = path
            .replace("{id}", "acme")
            .replace("{host}", "x.example")
            .replace("{plan}", "pro");
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            let documented = item.get(method.to_lowercase()).is_some();
            let answer = api.call(method, &concrete, None, None);
            let code = answer.json()["code"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            match documented {
                true => assert!(
                    code != "method_not_allowed" && code != "not_found",
                    "{method} {path} is documented but not served: {answer:#?}"
                ),
                false => assert_eq!(
                    answer.status, 405,
                    "{method} {path} is served but not documented: {answer:#?}"
                ),
            }
        }
    }
}

/// Where a concrete path fits in the document: its template.
fn template_of<'d>(document: &'d Value, path: &str) -> &'d str {
    let path = path.split('?').next().unwrap();
    let segments: Vec<&str> = path.split('/').collect();
    let fits = |template: &str| {
        let parts: Vec<&str> = template.split('/').collect();
        parts.len() == segments.len()
            && parts
                .iter()
                .zip(&segments)
                .all(|(part, segment)| part.starts_with('{') || part == segment)
    };
    let mut candidates: Vec<&str> = document["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .filter(|template| fits(template))
        .collect();
    // The most literal template wins: `/tenants/{id}/stats` over `/tenants/{id}/{x}`.
    candidates.sort_by_key(|template| template.matches('{').count());
    candidates
        .first()
        .copied()
        .unwrap_or_else(|| panic!("{path} fits no template"))
}

/// Checks an answer against what the document says of its operation and status.
fn assert_conforms(document: &Value, method: &str, path: &str, answer: &Response) {
    let template = template_of(document, path);
    let operation = &document["paths"][template][method.to_lowercase()];
    assert!(
        operation.is_object(),
        "{method} {template} is not documented"
    );
    let status = answer.status.to_string();
    let response = &operation["responses"][&status];
    assert!(
        response.is_object(),
        "{method} {path}: {status} is not documented: {answer:#?}"
    );
    let content = response["content"].as_object();
    let media = answer
        .header("content-type")
        .map(|value| value.split(';').next().unwrap().trim().to_owned());
    let Some(media) = media.filter(|_| !answer.body.is_empty()) else {
        assert!(
            content.is_none_or(|c| c.is_empty()),
            "{method} {path}: {status} documents a body and none came"
        );
        return;
    };
    let schema = content
        .and_then(|c| c.get(&media))
        .unwrap_or_else(|| panic!("{method} {path}: {status} as {media} is not documented"));
    let mut schema = schema["schema"].clone();
    schema["components"] = document["components"].clone();
    let validator = jsonschema::validator_for(&schema).expect("a valid schema");
    let body: Value = serde_json::from_str(&answer.body).expect("a JSON answer");
    let errors: Vec<String> = validator
        .iter_errors(&body)
        .map(|error| format!("{error} at {}", error.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {path} {status} breaks its schema: {errors:?}\n{body:#}"
    );
}

#[test]
fn real_answers_of_every_operation_match_their_schemas() {
    let api = Api::start();
    api.create(json!({ "id": "acme", "domains": ["acme.example"], "plan": "pro" }));
    api.server.request("GET", "acme.localhost", "/notes");
    let document = api.call("GET", "/api/v1/openapi.json", None, None).json();
    let (reader, _) = key(&api.sandbox, &["tenants:read"]);
    let issued = api.admin(
        "POST",
        "/api/v1/keys",
        Some(json!({ "scopes": ["audit:read"] })),
    );
    let key_id = issued.json()["key"]["id"].as_str().unwrap().to_owned();
    let other = api.admin(
        "POST",
        "/api/v1/keys",
        Some(json!({ "scopes": ["audit:read"] })),
    );
    let other_id = other.json()["key"]["id"].as_str().unwrap().to_owned();
    let traffic = json!({ "rate": { "per_second": 5, "burst": 10 }, "allow": ["10.0.0.0/8"] });
    let started = api.admin(
        "POST",
        "/api/v1/migrations",
        Some(json!({ "tenants": ["acme"] })),
    );
    let run_id = started.json()["run"]["id"].as_i64().expect("a run id");

    let admin = Some(api.admin.as_str());
    let calls: Vec<(&str, String, Option<Value>, Option<&str>)> = vec![
        ("GET", "/api/v1/health".into(), None, None),
        ("GET", "/api/v1/ready".into(), None, None),
        (
            "GET",
            "/api/v1/tenants?q=acme&sort=-name".into(),
            None,
            admin,
        ),
        ("GET", "/api/v1/tenants".into(), None, None),
        ("GET", "/api/v1/tenants".into(), None, Some(&reader)),
        ("GET", "/api/v1/tenants?limit=0".into(), None, admin),
        (
            "POST",
            "/api/v1/tenants".into(),
            Some(json!({ "id": "beta" })),
            admin,
        ),
        (
            "POST",
            "/api/v1/tenants".into(),
            Some(json!({ "id": "beta" })),
            admin,
        ),
        (
            "POST",
            "/api/v1/tenants".into(),
            Some(json!({ "id": "Bad!" })),
            admin,
        ),
        (
            "POST",
            "/api/v1/tenants".into(),
            Some(json!({ "id": "x" })),
            Some(&reader),
        ),
        ("GET", "/api/v1/tenants/acme".into(), None, admin),
        ("GET", "/api/v1/tenants/nobody".into(), None, admin),
        (
            "PATCH",
            "/api/v1/tenants/beta".into(),
            Some(json!({ "name": "Beta" })),
            admin,
        ),
        (
            "PATCH",
            "/api/v1/tenants/beta".into(),
            Some(json!({})),
            admin,
        ),
        (
            "POST",
            "/api/v1/tenants/beta/suspend".into(),
            Some(json!({ "reason": "r" })),
            admin,
        ),
        ("POST", "/api/v1/tenants/beta/suspend".into(), None, admin),
        ("POST", "/api/v1/tenants/beta/activate".into(), None, admin),
        (
            "PUT",
            "/api/v1/tenants/beta/maintenance".into(),
            None,
            admin,
        ),
        (
            "DELETE",
            "/api/v1/tenants/beta/maintenance".into(),
            None,
            admin,
        ),
        ("GET", "/api/v1/tenants/acme/domains".into(), None, admin),
        (
            "POST",
            "/api/v1/tenants/beta/domains".into(),
            Some(json!({ "host": "b.example" })),
            admin,
        ),
        (
            "POST",
            "/api/v1/tenants/beta/domains".into(),
            Some(json!({ "host": "acme.example" })),
            admin,
        ),
        (
            "PUT",
            "/api/v1/tenants/beta/domains/b.example/primary".into(),
            None,
            admin,
        ),
        (
            "DELETE",
            "/api/v1/tenants/beta/domains/b.example".into(),
            None,
            admin,
        ),
        (
            "DELETE",
            "/api/v1/tenants/beta/domains/b.example".into(),
            None,
            admin,
        ),
        ("GET", "/api/v1/stats".into(), None, admin),
        ("GET", "/api/v1/tenants/acme/stats".into(), None, admin),
        ("GET", "/api/v1/tenants/beta/stats".into(), None, admin),
        (
            "GET",
            "/api/v1/tenants/acme/stats".into(),
            None,
            Some(&reader),
        ),
        (
            "PUT",
            "/api/v1/tenants/acme/traffic".into(),
            Some(traffic.clone()),
            admin,
        ),
        (
            "PUT",
            "/api/v1/tenants/acme/traffic".into(),
            Some(json!({ "allow": ["nope"] })),
            admin,
        ),
        ("GET", "/api/v1/tenants/acme/traffic".into(), None, admin),
        ("DELETE", "/api/v1/tenants/acme/traffic".into(), None, admin),
        (
            "PUT",
            "/api/v1/plans/pro/traffic".into(),
            Some(traffic),
            admin,
        ),
        ("GET", "/api/v1/plans/pro/traffic".into(), None, admin),
        ("GET", "/api/v1/traffic".into(), None, admin),
        ("DELETE", "/api/v1/plans/pro/traffic".into(), None, admin),
        ("DELETE", "/api/v1/tenants/acme/cache".into(), None, admin),
        ("DELETE", "/api/v1/cache".into(), None, admin),
        ("GET", "/api/v1/keys".into(), None, admin),
        (
            "POST",
            "/api/v1/keys".into(),
            Some(json!({ "scopes": [] })),
            admin,
        ),
        (
            "POST",
            format!("/api/v1/keys/{key_id}/rotate"),
            Some(json!({ "grace_secs": 0 })),
            admin,
        ),
        ("POST", format!("/api/v1/keys/{key_id}/rotate"), None, admin),
        ("DELETE", format!("/api/v1/keys/{other_id}"), None, admin),
        (
            "DELETE",
            "/api/v1/keys/0000000000000000".into(),
            None,
            admin,
        ),
        ("GET", "/api/v1/audit?limit=2".into(), None, admin),
        ("GET", "/api/v1/audit?since=yesterday".into(), None, admin),
        ("POST", "/api/v1/tenants/acme/migrate".into(), None, admin),
        (
            "POST",
            "/api/v1/tenants/acme/reset".into(),
            Some(json!({ "confirm": "beta" })),
            admin,
        ),
        (
            "POST",
            "/api/v1/tenants/acme/reset".into(),
            Some(json!({ "confirm": "acme", "seed": true })),
            admin,
        ),
        (
            "POST",
            "/api/v1/seed".into(),
            Some(json!({ "tenants": ["acme"] })),
            admin,
        ),
        (
            "POST",
            "/api/v1/sql".into(),
            Some(json!({ "sql": "SELECT count(*) AS n FROM notes", "tenants": ["acme"] })),
            admin,
        ),
        (
            "POST",
            "/api/v1/sql".into(),
            Some(json!({ "sql": "SELECT * FROM nowhere", "tenants": ["acme"] })),
            admin,
        ),
        (
            "POST",
            "/api/v1/sql".into(),
            Some(json!({ "sql": "" })),
            admin,
        ),
        ("GET", "/api/v1/migrations".into(), None, admin),
        ("GET", "/api/v1/migrations/status".into(), None, admin),
        ("GET", format!("/api/v1/migrations/{run_id}"), None, admin),
        ("GET", "/api/v1/migrations/999999".into(), None, admin),
        (
            "POST",
            "/api/v1/migrations".into(),
            Some(json!({ "kind": "rollback", "steps": 0 })),
            admin,
        ),
        (
            "POST",
            format!("/api/v1/migrations/{run_id}/resume"),
            None,
            admin,
        ),
        ("GET", "/api/v1/doctor".into(), None, admin),
        (
            "POST",
            "/api/v1/doctor/repair".into(),
            Some(json!({})),
            admin,
        ),
        ("DELETE", "/api/v1/tenants/beta".into(), None, admin),
        ("DELETE", "/api/v1/tenants/beta".into(), None, admin),
    ];

    let mut exercised = BTreeSet::new();
    for (method, path, body, key) in &calls {
        let body = body.as_ref().map(Value::to_string);
        let answer = api.call(method, path, *key, body.as_deref());
        assert_conforms(&document, method, path, &answer);
        exercised.insert((method.to_string(), template_of(&document, path).to_owned()));
    }
    // The check can fail: a page with a tenant missing its status breaks TenantPage.
    let mut page = api.get("/api/v1/tenants");
    page["items"][0].as_object_mut().unwrap().remove("status");
    let schema = json!({
        "$ref": "#/components/schemas/TenantPage",
        "components": document["components"].clone(),
    });
    assert!(!jsonschema::is_valid(&schema, &page), "{page}");

    let broken = api.call("POST", "/api/v1/tenants", Some(&api.admin), Some("{"));
    assert_conforms(&document, "POST", "/api/v1/tenants", &broken);

    let mut documented = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let missed: Vec<_> = documented.difference(&exercised).collect();
    assert!(missed.is_empty(), "operations never called: {missed:?}");
}

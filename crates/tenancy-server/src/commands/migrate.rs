//! `tenancy migrate`, `migrate status`, `migrate rollback`, `seed` and `run`.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use tenancy::catalog::TenantFilter;
use tenancy::migrate::{RunKind, RunOptions, RunReport, TenantResult};
use tenancy::{Tenancy, Tenant, TenantStatus};

use crate::cli::{MigrateArgs, MigrateCommand, RunFlags, RunSqlArgs, SeedArgs, TenantSelection};
use crate::output::{self, Output};

/// Runs `tenancy migrate …`; returns whether every tenant succeeded.
pub async fn run(tenancy: &Tenancy, args: MigrateArgs, out: Output) -> anyhow::Result<bool> {
    match args.command {
        Some(MigrateCommand::Status { selection, pending }) => {
            status(tenancy, &selection, pending, out).await
        }
        Some(MigrateCommand::Rollback {
            selection,
            steps,
            run,
        }) => {
            // The selection is checked first: a mistyped tenant or server is the error to
            // report, whatever the migration set holds.
            let tenants = select_for_run(tenancy, &selection, &run).await?;
            let target = tenancy
                .migrations()
                .rollback_target(usize::from(steps))
                .map_err(anyhow::Error::msg)?;
            let kind = RunKind::Rollback { target };
            execute(tenancy, kind, tenants, &run, out).await
        }
        None if args.resume => resume(tenancy, out).await,
        None => {
            let tenants = select_for_run(tenancy, &args.selection, &args.run).await?;
            execute(tenancy, RunKind::Migrate, tenants, &args.run, out).await
        }
    }
}

/// The tenants a selection names: the listed ones (which must exist, on the server if one
/// is named), or every tenant matching the server filter and one of `statuses`.
///
/// A server that is not configured is an error rather than an empty selection, so a typo
/// cannot pass for "nothing to do".
pub async fn select(
    tenancy: &Tenancy,
    selection: &TenantSelection,
    statuses: &[TenantStatus],
) -> anyhow::Result<Vec<Tenant>> {
    if let Some(server) = &selection.server {
        tenancy.server(server)?;
    }
    let all = tenancy.catalog().tenants(&TenantFilter::default()).await?;
    let on_server = |tenant: &Tenant| {
        let server = selection.server.as_deref();
        server.is_none_or(|name| tenant.server == name)
    };
    if selection.tenants.is_empty() {
        return Ok(all
            .into_iter()
            .filter(|t| on_server(t) && statuses.contains(&t.status))
            .collect());
    }

    let mut chosen = Vec::new();
    for id in &selection.tenants {
        match all.iter().find(|tenant| &tenant.id == id) {
            Some(tenant) if on_server(tenant) => chosen.push(tenant.clone()),
            Some(tenant) => bail!(
                "tenant '{id}' is on server '{}', not '{}'",
                tenant.server,
                selection.server.as_deref().unwrap_or_default()
            ),
            None => bail!("tenant '{id}' not found"),
        }
    }
    Ok(chosen)
}

fn run_options(tenancy: &Tenancy, flags: &RunFlags) -> RunOptions {
    let defaults = RunOptions::for_budget(tenancy.pool_options().max_connections);
    RunOptions {
        parallel: flags.parallel.map_or(defaults.parallel, usize::from),
        fail_fast: flags.fail_fast,
        dry_run: flags.dry_run,
        include_maintenance: flags.include_maintenance,
        lock_wait_secs: flags.lock_wait,
    }
}

/// The tenants a migrate or rollback run touches: active ones, and those in maintenance
/// when asked.
async fn select_for_run(
    tenancy: &Tenancy,
    selection: &TenantSelection,
    flags: &RunFlags,
) -> anyhow::Result<Vec<Tenant>> {
    let mut statuses = vec![TenantStatus::Active];
    if flags.include_maintenance {
        statuses.push(TenantStatus::Maintenance);
    }
    select(tenancy, selection, &statuses).await
}

async fn execute(
    tenancy: &Tenancy,
    kind: RunKind,
    tenants: Vec<Tenant>,
    flags: &RunFlags,
    out: Output,
) -> anyhow::Result<bool> {
    let options = run_options(tenancy, flags);
    let ids = tenants
        .into_iter()
        .map(|tenant| tenant.id)
        .collect::<Vec<_>>();

    let display = Display::new(ids.len(), out);
    let stop = stop_on_ctrl_c();
    let report = tenancy
        .run_migrations(
            kind,
            ids,
            options,
            &|r, done, total| display.tenant(r, done, total),
            stop,
        )
        .await?;
    display.finish();
    summarise(&report, out)
}

async fn resume(tenancy: &Tenancy, out: Output) -> anyhow::Result<bool> {
    let Some(run) = tenancy.catalog().latest_unfinished_run().await? else {
        bail!("no interrupted migration run to resume");
    };
    let pending = tenancy.catalog().run_tenants(run.id).await?;
    let pending = pending
        .iter()
        .filter(|tenant| tenant.status == "pending")
        .count();

    let display = Display::new(pending, out);
    let stop = stop_on_ctrl_c();
    let report = tenancy
        .resume_run(&|r, done, total| display.tenant(r, done, total), stop)
        .await?
        .context("the run finished in the meantime")?;
    display.finish();
    summarise(&report, out)
}

/// Sets the returned flag on the first Ctrl-C, so the run stops starting tenants.
fn stop_on_ctrl_c() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            output::note("stopping: finishing the tenants in flight (resume later with --resume)");
            flag.store(true, Ordering::SeqCst);
        }
    });
    stop
}

/// Live progress: a bar on a terminal, one line per tenant otherwise, JSON lines with --json.
///
/// A reader that goes away does not stop the run: the tenants are migrated and journaled as
/// ever, the lines no one can read are dropped, and the summary then reports stdout closed.
struct Display {
    bar: Option<ProgressBar>,
    out: Output,
    /// Set once a JSON line could not be written, so the rest are not tried.
    stdout_failed: AtomicBool,
}

impl Display {
    fn new(total: usize, out: Output) -> Self {
        let terminal = std::io::stderr().is_terminal() && !out.json;
        let bar = terminal.then(|| {
            let bar = ProgressBar::new(total as u64);
            let style = ProgressStyle::with_template("{bar:40} {pos}/{len} tenants {msg}")
                .expect("the progress template is valid");
            bar.set_style(style);
            bar
        });
        Display {
            bar,
            out,
            stdout_failed: AtomicBool::new(false),
        }
    }

    fn tenant(&self, result: &TenantResult, done: usize, total: usize) {
        if self.out.json {
            let line = json!({ "event": "tenant", "done": done, "total": total, "result": result });
            if !self.stdout_failed.load(Ordering::Relaxed)
                && output::print_line(&line.to_string()).is_err()
            {
                self.stdout_failed.store(true, Ordering::Relaxed);
            }
        } else if let Some(bar) = &self.bar {
            bar.set_position(done as u64);
            bar.set_message(format!("{}: {}", result.tenant_id, result.status));
        } else {
            let id = &result.tenant_id;
            output::note(&format!("[{done}/{total}] {id}: {}", describe(result)));
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn describe(result: &TenantResult) -> String {
    let mut text = result.status.replace('_', " ");
    if !result.versions.is_empty() {
        let versions: Vec<String> = result.versions.iter().map(ToString::to_string).collect();
        text.push_str(&format!(" ({})", versions.join(", ")));
    }
    if let Some(detail) = &result.detail {
        text.push_str(&format!(": {detail}"));
    }
    text
}

/// Prints the per-tenant summary; returns whether the run succeeded everywhere.
///
/// With `--json` the summary is one line, the last of the JSON Lines the progress began.
fn summarise(report: &RunReport, out: Output) -> anyhow::Result<bool> {
    let ok = report.failures() == 0 && report.not_run.is_empty();
    if out.json {
        let summary = json!({ "event": "summary", "report": report, "ok": ok });
        output::print_line(&summary.to_string())?;
        return Ok(ok);
    }
    output::print_line(&summary_text(report))?;
    Ok(ok)
}

/// The summary for people: a table of tenants, the counts per outcome, how to resume.
fn summary_text(report: &RunReport) -> String {
    let mut table = output::table(&["tenant", "outcome", "ms"]);
    for result in &report.results {
        table.add_row([
            result.tenant_id.to_string(),
            describe(result),
            result.elapsed_ms.to_string(),
        ]);
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for result in &report.results {
        *counts.entry(result.status).or_default() += 1;
    }
    let counts: Vec<String> = counts
        .iter()
        .map(|(s, n)| format!("{n} {}", s.replace('_', " ")))
        .collect();
    let mut text = format!("{table}\nrun {}: {}", report.run_id, counts.join(", "));
    if !report.not_run.is_empty() {
        text.push_str(&format!(
            "\n{} tenant(s) not started; continue with `tenancy migrate --resume`",
            report.not_run.len()
        ));
    }
    text
}

async fn status(
    tenancy: &Tenancy,
    selection: &TenantSelection,
    pending_only: bool,
    out: Output,
) -> anyhow::Result<bool> {
    let statuses = [
        TenantStatus::Active,
        TenantStatus::Maintenance,
        TenantStatus::Suspended,
    ];
    let tenants = select(tenancy, selection, &statuses).await?;
    let mut rows = Vec::new();
    let mut per_version: BTreeMap<String, usize> = BTreeMap::new();
    let mut healthy = true;

    for tenant in &tenants {
        let state = match tenancy.migration_status(tenant).await {
            Ok(state) => state,
            Err(error) => tenancy::migrate::MigrationState {
                problem: Some(tenancy::error_chain(&error)),
                ..Default::default()
            },
        };
        healthy &= state.problem.is_none();
        let version = state.version().map_or("none".to_owned(), |v| v.to_string());
        *per_version.entry(version).or_default() += 1;
        if !pending_only || !state.pending.is_empty() || state.problem.is_some() {
            rows.push(json!({ "tenant_id": tenant.id, "status": tenant.status, "state": state }));
        }
    }
    let latest = tenancy.migrations().versions().last().copied();
    let summary = json!({ "latest": latest, "tenants": rows, "per_version": per_version });
    out.print(&summary, || status_text(&rows, &per_version, latest))?;
    Ok(healthy)
}

fn status_text(
    rows: &[serde_json::Value],
    per_version: &BTreeMap<String, usize>,
    latest: Option<i64>,
) -> String {
    let counts: Vec<String> = per_version
        .iter()
        .map(|(v, n)| format!("version {v}: {n}"))
        .collect();
    let latest = latest.map_or("none".into(), |v| v.to_string());
    let footer = format!(
        "latest version: {latest}; tenants per version: {}",
        counts.join(", ")
    );
    if rows.is_empty() {
        return format!("no tenant has pending migrations\n{footer}");
    }
    let mut table = output::table(&["tenant", "version", "pending", "problem"]);
    for row in rows {
        let state = &row["state"];
        let applied = state["applied"]
            .as_array()
            .and_then(|a| a.last())
            .map_or("none".into(), |v| v.to_string());
        let pending = state["pending"].as_array().map_or(0, Vec::len);
        let problem = state["problem"].as_str().unwrap_or("").to_owned();
        table.add_row([
            row["tenant_id"].as_str().unwrap_or("").to_owned(),
            applied,
            pending.to_string(),
            problem,
        ]);
    }
    format!("{table}\n{footer}")
}

/// Runs `tenancy seed`; returns whether every tenant was seeded.
pub async fn seed(tenancy: &Tenancy, args: SeedArgs, out: Output) -> anyhow::Result<bool> {
    let tenants = select(tenancy, &args.selection, &[TenantStatus::Active]).await?;
    let mut results = Vec::new();
    for tenant in &tenants {
        let outcome = tenancy
            .seed_tenant(tenant)
            .await
            .map_err(|e| tenancy::error_chain(&e));
        results
            .push(json!({ "tenant_id": tenant.id, "ok": outcome.is_ok(), "error": outcome.err() }));
    }
    let ok = results.iter().all(|r| r["ok"] == true);
    out.print(&results, || per_tenant_text(&results, "seeded"))?;
    Ok(ok)
}

/// Runs `tenancy run -- SQL`; returns whether the statement succeeded on every tenant.
pub async fn run_sql(tenancy: &Tenancy, args: RunSqlArgs, out: Output) -> anyhow::Result<bool> {
    let sql = args.sql.join(" ");
    if sql.trim().is_empty() {
        bail!("the SQL statement is empty");
    }
    let tenants = select(tenancy, &args.selection, &[TenantStatus::Active]).await?;
    let mut results = Vec::new();
    for tenant in &tenants {
        let entry = match tenancy.run_sql(tenant, &sql).await {
            Ok(outcome) => json!({ "tenant_id": tenant.id, "ok": true, "result": outcome }),
            Err(error) => {
                json!({ "tenant_id": tenant.id, "ok": false, "error": tenancy::error_chain(&error) })
            }
        };
        results.push(entry);
    }
    let ok = results.iter().all(|r| r["ok"] == true);
    out.print(&results, || sql_text(&results))?;
    Ok(ok)
}

fn per_tenant_text(results: &[serde_json::Value], done: &str) -> String {
    if results.is_empty() {
        return "no tenants selected".to_owned();
    }
    let lines: Vec<String> = results
        .iter()
        .map(|r| match r["error"].as_str() {
            Some(error) => format!("{}: failed: {error}", r["tenant_id"].as_str().unwrap_or("")),
            None => format!("{}: {done}", r["tenant_id"].as_str().unwrap_or("")),
        })
        .collect();
    lines.join("\n")
}

fn sql_text(results: &[serde_json::Value]) -> String {
    if results.is_empty() {
        return "no tenants selected".to_owned();
    }
    let mut text = String::new();
    for entry in results {
        let id = entry["tenant_id"].as_str().unwrap_or("");
        if let Some(error) = entry["error"].as_str() {
            text.push_str(&format!("{id}: failed: {error}\n"));
            continue;
        }
        let result = &entry["result"];
        let rows = result["rows"].as_array().cloned().unwrap_or_default();
        if rows.is_empty() {
            text.push_str(&format!(
                "{id}: {} row(s) affected\n",
                result["rows_affected"]
            ));
            continue;
        }
        let columns: Vec<String> = result["columns"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| c.as_str().unwrap_or("").to_owned())
            .collect();
        let mut table = output::table(&columns.iter().map(String::as_str).collect::<Vec<_>>());
        for row in rows {
            let cells: Vec<String> = row.as_array().into_iter().flatten().map(cell).collect();
            table.add_row(cells);
        }
        text.push_str(&format!("{id}:\n{table}\n"));
    }
    text.trim_end().to_owned()
}

fn cell(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Null => "NULL".to_owned(),
        other => other.to_string(),
    }
}

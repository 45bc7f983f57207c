//! Printing results: tables for people, JSON for scripts.
//!
//! Every result goes through [`print_line`], which reports a failed write instead of
//! panicking as `println!` does: the reader of a pipe (`tenancy tenants list | head -1`)
//! may go away before everything is written.

use std::io::{ErrorKind, Write};

use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use serde::Serialize;
use tenancy::{Domain, Tenant};

/// The exit code when stdout closed before the result was printed: what a shell reports for
/// a process that SIGPIPE ended (128 + 13), so a pipeline sees the same as with other tools.
pub const STDOUT_CLOSED_EXIT_CODE: u8 = 141;

/// Stdout was closed before the whole result was written (the reader of the pipe is gone).
///
/// The binary ends quietly on it, with [`STDOUT_CLOSED_EXIT_CODE`]: nobody is left to read
/// a message.
#[derive(Debug, thiserror::Error)]
#[error("stdout was closed before the result was printed")]
pub struct StdoutClosed;

/// Where and how command results are printed.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// Print JSON instead of text.
    pub json: bool,
}

impl Output {
    /// Prints `value` as JSON, or `text()` for people.
    ///
    /// Fails with [`StdoutClosed`] when the reader of stdout went away, and with the I/O
    /// error when stdout cannot be written otherwise.
    pub fn print<T: Serialize>(
        &self,
        value: &T,
        text: impl FnOnce() -> String,
    ) -> anyhow::Result<()> {
        let text = match self.json {
            true => serde_json::to_string_pretty(value).expect("results serialise to JSON"),
            false => text(),
        };
        print_line(&text)
    }
}

/// Writes `text` and a newline to stdout and flushes it.
///
/// # Errors
///
/// [`StdoutClosed`] when the reader of stdout went away, the I/O error otherwise.
pub fn print_line(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    let written = writeln!(stdout, "{text}").and_then(|()| stdout.flush());
    written.map_err(|error| match error.kind() {
        ErrorKind::BrokenPipe => anyhow::Error::new(StdoutClosed),
        _ => anyhow::Error::new(error).context("cannot write to stdout"),
    })
}

/// Writes `text` and a newline to stderr, for progress and notes that matter less than the
/// command itself: a closed stderr does not stop the command.
pub fn note(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// A table with the project's look.
pub fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(UTF8_BORDERS_ONLY)
        .set_header(header.iter().copied());
    table
}

/// Tenants, one per row.
pub fn tenants_table(tenants: &[Tenant]) -> String {
    if tenants.is_empty() {
        return "no tenants".to_owned();
    }
    let mut table = table(&["id", "name", "status", "plan", "server", "updated"]);
    for tenant in tenants {
        table.add_row([
            tenant.id.to_string(),
            tenant.name.clone(),
            tenant.status.to_string(),
            tenant.plan.clone().unwrap_or_default(),
            tenant.server.clone(),
            tenant.updated_at.format("%Y-%m-%d %H:%M:%S").to_string(),
        ]);
    }
    table.to_string()
}

/// One tenant with its domains, as `key: value` lines.
pub fn tenant_details(tenant: &Tenant, domains: &[Domain]) -> String {
    let mut lines = vec![
        format!("id:          {}", tenant.id),
        format!("name:        {}", tenant.name),
        format!("status:      {}", tenant.status),
        format!("plan:        {}", tenant.plan.as_deref().unwrap_or("-")),
        format!("server:      {}", tenant.server),
        format!("database:    {}", tenant.database),
    ];
    if let Some(reason) = &tenant.reason {
        lines.push(format!("reason:      {reason}"));
    }
    if let Some(secs) = tenant
        .retry_after_secs
        .filter(|_| tenant.status.as_str() == "maintenance")
    {
        lines.push(format!("retry after: {secs} s"));
    }
    let hosts: Vec<String> = domains
        .iter()
        .map(|d| {
            if d.primary {
                format!("{} (primary)", d.host)
            } else {
                d.host.clone()
            }
        })
        .collect();
    lines.push(format!(
        "domains:     {}",
        if hosts.is_empty() {
            "-".into()
        } else {
            hosts.join(", ")
        }
    ));
    lines.push(format!("data:        {}", tenant.data));
    lines.push(format!("created:     {}", tenant.created_at.to_rfc3339()));
    lines.push(format!("updated:     {}", tenant.updated_at.to_rfc3339()));
    lines.join("\n")
}

/// Domains, one per row.
pub fn domains_table(domains: &[Domain]) -> String {
    if domains.is_empty() {
        return "no domains".to_owned();
    }
    let mut table = table(&["host", "tenant", "primary"]);
    for domain in domains {
        let primary = if domain.primary { "yes" } else { "" };
        table.add_row([
            domain.host.clone(),
            domain.tenant_id.to_string(),
            primary.to_owned(),
        ]);
    }
    table.to_string()
}

/// Traffic rules, one row a scope. Unset fields show as `inherited`.
pub fn traffic_table(rows: &[(String, tenancy::traffic::TrafficRules)]) -> String {
    use tenancy::traffic::RateRule;
    if rows.is_empty() {
        return "no traffic rules".to_owned();
    }
    let networks = |list: &Option<Vec<ipnet::IpNet>>| match list {
        None => "inherited".to_owned(),
        Some(list) if list.is_empty() => "-".to_owned(),
        Some(list) => list
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    };
    let mut table = table(&["scope", "rate limit", "allow", "block"]);
    for (scope, rules) in rows {
        let rate = match rules.rate {
            None => "inherited".to_owned(),
            Some(RateRule::Unlimited) => "unlimited".to_owned(),
            Some(RateRule::Limit(limit)) => {
                format!("{}/s, burst {}", limit.per_second, limit.burst)
            }
        };
        table.add_row([
            scope.clone(),
            rate,
            networks(&rules.allow),
            networks(&rules.block),
        ]);
    }
    table.to_string()
}

//! `tenancy doctor [--repair]`.

use std::time::Duration;

use serde_json::json;
use tenancy::{DoctorReport, RepairReport, Tenancy};

use crate::cli::DoctorArgs;
use crate::output::{self, Output};

/// Runs the doctor; returns whether the catalog and storage agree (after any repair).
pub async fn run(tenancy: &Tenancy, args: DoctorArgs, out: Output) -> anyhow::Result<bool> {
    let repaired = match args.repair {
        true => Some(
            tenancy
                .repair(Duration::from_secs(args.stale_after))
                .await?,
        ),
        false => None,
    };
    let report = tenancy.doctor().await?;

    out.print(&json!({ "report": report, "repair": repaired }), || {
        let mut text = describe(&report);
        if let Some(repaired) = &repaired {
            text.push_str(&describe_repair(repaired));
        }
        text
    })?;
    Ok(report.is_healthy())
}

fn describe(report: &DoctorReport) -> String {
    if report.is_healthy() {
        return "catalog and storage agree: nothing to repair\n".to_owned();
    }
    let mut text = String::new();
    if !report.unreachable.is_empty() {
        let mut table = output::table(&["server", "error"]);
        for entry in &report.unreachable {
            table.add_row([&entry.server, &entry.error]);
        }
        text.push_str(&format!(
            "servers that could not be checked (their tenants were not):\n{table}\n"
        ));
    }
    if !report.orphans.is_empty() {
        let mut table = output::table(&["server", "database", "location"]);
        for orphan in &report.orphans {
            table.add_row([&orphan.server, &orphan.database, &orphan.location]);
        }
        text.push_str(&format!("databases no tenant owns:\n{table}\n"));
    }
    for (title, tenants) in [
        ("tenants whose database is missing", &report.missing),
        ("tenants stuck in provisioning or deleting", &report.stuck),
    ] {
        if tenants.is_empty() {
            continue;
        }
        let mut table = output::table(&["id", "status", "server", "database", "updated"]);
        for tenant in tenants {
            table.add_row([
                tenant.id.to_string(),
                tenant.status.to_string(),
                tenant.server.clone(),
                tenant.database.clone(),
                tenant.updated_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            ]);
        }
        text.push_str(&format!("{title}:\n{table}\n"));
    }
    text
}

fn describe_repair(report: &RepairReport) -> String {
    let mut text = String::from("repair:\n");
    if report.tenants.is_empty() && report.removed.is_empty() {
        text.push_str("  nothing was stuck\n");
    }
    for tenant in &report.tenants {
        text.push_str(&format!(
            "  {} ({}): {}\n",
            tenant.id, tenant.was, tenant.outcome
        ));
    }
    for location in &report.removed {
        text.push_str(&format!("  removed half-built {location}\n"));
    }
    text
}

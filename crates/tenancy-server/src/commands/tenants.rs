//! `tenancy tenants …`.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, bail};
use serde_json::json;
use tenancy::catalog::TenantFilter;
use tenancy::{NewTenant, Tenancy, TenantId, TenantUpdate};

use crate::cli::{CreateArgs, MaintenanceArgs, TenantsCommand, UpdateArgs};
use crate::output::{self, Output};

/// Runs one `tenants` subcommand.
pub async fn run(tenancy: &Tenancy, command: TenantsCommand, out: Output) -> anyhow::Result<()> {
    match command {
        TenantsCommand::Create(args) => create(tenancy, args, out).await,
        TenantsCommand::List { status } => {
            let filter = TenantFilter {
                status,
                ..TenantFilter::default()
            };
            let tenants = tenancy.catalog().tenants(&filter).await?;
            out.print(&tenants, || output::tenants_table(&tenants))?;
            Ok(())
        }
        TenantsCommand::Show { id } => show(tenancy, &id, out).await,
        TenantsCommand::Update(args) => update(tenancy, args, out).await,
        TenantsCommand::Suspend { id, reason } => {
            tenancy.suspend_tenant(&id, reason).await?;
            report(tenancy, &id, out, "suspended").await
        }
        TenantsCommand::Activate { id } => {
            tenancy.activate_tenant(&id).await?;
            report(tenancy, &id, out, "activated").await
        }
        TenantsCommand::Maintenance(args) => maintenance(tenancy, args, out).await,
        TenantsCommand::Delete { id, yes } => delete(tenancy, &id, yes, out).await,
    }
}

async fn create(tenancy: &Tenancy, args: CreateArgs, out: Output) -> anyhow::Result<()> {
    let new = NewTenant {
        name: args.name,
        plan: args.plan,
        data: args.data,
        domains: args.domains,
        seed: args.seed,
        server: args.server,
        ..NewTenant::new(args.id.clone())
    };
    let tenant = tenancy.create_tenant(new).await?;
    out.print(&tenant, || {
        format!("created tenant '{}' ({})", tenant.id, tenant.status)
    })?;
    Ok(())
}

async fn show(tenancy: &Tenancy, id: &TenantId, out: Output) -> anyhow::Result<()> {
    let tenant = tenancy.catalog().require_tenant(id).await?;
    let domains = tenancy.catalog().domains(Some(id)).await?;
    out.print(&json!({ "tenant": tenant, "domains": domains }), || {
        output::tenant_details(&tenant, &domains)
    })?;
    Ok(())
}

async fn update(tenancy: &Tenancy, args: UpdateArgs, out: Output) -> anyhow::Result<()> {
    let plan = match (args.plan, args.clear_plan) {
        (Some(plan), _) => Some(Some(plan)),
        (None, true) => Some(None),
        (None, false) => None,
    };
    let update = TenantUpdate {
        name: args.name,
        plan,
        data: args.data,
    };
    if update.name.is_none() && update.plan.is_none() && update.data.is_none() {
        bail!("nothing to update: give --name, --plan, --clear-plan or --data");
    }
    tenancy.update_tenant(&args.id, update).await?;
    report(tenancy, &args.id, out, "updated").await
}

async fn maintenance(tenancy: &Tenancy, args: MaintenanceArgs, out: Output) -> anyhow::Result<()> {
    if args.on {
        tenancy
            .start_maintenance(&args.id, args.retry_after)
            .await?;
        report(tenancy, &args.id, out, "in maintenance").await
    } else {
        tenancy.end_maintenance(&args.id).await?;
        report(tenancy, &args.id, out, "out of maintenance").await
    }
}

async fn report(tenancy: &Tenancy, id: &TenantId, out: Output, what: &str) -> anyhow::Result<()> {
    let tenant = tenancy.catalog().require_tenant(id).await?;
    out.print(&tenant, || {
        format!("tenant '{id}' {what} (status: {})", tenant.status)
    })?;
    Ok(())
}

async fn delete(tenancy: &Tenancy, id: &TenantId, yes: bool, out: Output) -> anyhow::Result<()> {
    // Fail on an unknown id before asking anything.
    tenancy.catalog().require_tenant(id).await?;
    if !yes {
        confirm_delete(id)?;
    }
    tenancy.delete_tenant(id).await?;
    out.print(&json!({ "deleted": id }), || {
        format!("deleted tenant '{id}' and its database")
    })?;
    Ok(())
}

fn confirm_delete(id: &TenantId) -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        bail!("refusing to delete tenant '{id}' without confirmation: pass --yes");
    }
    eprint!("This deletes tenant '{id}' and all its data. Type the tenant id to confirm: ");
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    stdin
        .lock()
        .read_line(&mut answer)
        .context("reading the confirmation")?;
    if answer.trim() != id.as_str() {
        bail!("confirmation did not match; tenant '{id}' was not deleted");
    }
    Ok(())
}

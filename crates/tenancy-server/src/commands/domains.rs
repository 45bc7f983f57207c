//! `tenancy domains …`.

use serde_json::json;
use tenancy::Tenancy;

use crate::cli::DomainsCommand;
use crate::output::{self, Output};

/// Runs one `domains` subcommand.
pub async fn run(tenancy: &Tenancy, command: DomainsCommand, out: Output) -> anyhow::Result<()> {
    match command {
        DomainsCommand::Add {
            tenant,
            domain,
            primary,
        } => {
            let host = tenancy.add_domain(&tenant, &domain, primary).await?;
            let value = json!({ "host": host, "tenant_id": tenant });
            out.print(&value, || {
                format!("added domain '{host}' to tenant '{tenant}'")
            })?;
        }
        DomainsCommand::Remove { domain } => {
            let host = tenancy.remove_domain(&domain).await?;
            out.print(&json!({ "removed": host }), || {
                format!("removed domain '{host}'")
            })?;
        }
        DomainsCommand::Primary { domain } => {
            let host = tenancy.set_primary_domain(&domain).await?;
            out.print(&json!({ "primary": host }), || {
                format!("'{host}' is now primary")
            })?;
        }
        DomainsCommand::List { tenant } => {
            if let Some(id) = &tenant {
                tenancy.catalog().require_tenant(id).await?;
            }
            let domains = tenancy.catalog().domains(tenant.as_ref()).await?;
            out.print(&domains, || output::domains_table(&domains))?;
        }
    }
    Ok(())
}

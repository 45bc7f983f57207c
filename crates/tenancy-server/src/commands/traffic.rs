//! `tenancy traffic …`: rate limits and IP lists per plan and per tenant.

use anyhow::bail;
use serde_json::json;
use tenancy::Tenancy;
use tenancy::traffic::{RateLimit, RateRule, RuleScope, TrafficRules};

use crate::cli::{TrafficCommand, TrafficScope, TrafficSetArgs, TrafficShowArgs};
use crate::output::{self, Output};

/// Runs one `traffic` subcommand.
pub async fn run(tenancy: &Tenancy, command: TrafficCommand, out: Output) -> anyhow::Result<()> {
    match command {
        TrafficCommand::Show(args) => show(tenancy, args, out).await,
        TrafficCommand::Set(args) => {
            let scope = scope_of(&args.scope)?;
            let rules = rules_of(&args)?;
            tenancy
                .set_traffic_rules(scope.clone(), Some(rules.clone()))
                .await?;
            out.print(
                &json!({ "scope": scope.to_string(), "rules": rules }),
                || format!("set the traffic rules of {scope}"),
            )?;
            Ok(())
        }
        TrafficCommand::Clear(args) => {
            let scope = scope_of(&args)?;
            if tenancy.traffic().get(&scope).is_none() {
                bail!("{scope} has no traffic rules");
            }
            tenancy.set_traffic_rules(scope.clone(), None).await?;
            out.print(&json!({ "cleared": scope.to_string() }), || {
                format!("removed the traffic rules of {scope}")
            })?;
            Ok(())
        }
    }
}

async fn show(tenancy: &Tenancy, args: TrafficShowArgs, out: Output) -> anyhow::Result<()> {
    let table = tenancy.traffic();
    if let Some(id) = &args.tenant {
        let tenant = tenancy.catalog().require_tenant(id).await?;
        let scope = RuleScope::Tenant(id.clone());
        let own = table.get(&scope);
        let effective = table.effective(&tenant);
        let value = json!({
            "tenant_id": id,
            "plan": tenant.plan,
            "own": own,
            "effective": {
                "rate": effective.rate,
                "allow": effective.allow,
                "block": effective.block,
            },
        });
        out.print(&value, || {
            let in_force = TrafficRules {
                rate: Some(match effective.rate {
                    Some(limit) => RateRule::Limit(limit),
                    None => RateRule::Unlimited,
                }),
                allow: Some(effective.allow.clone()),
                block: Some(effective.block.clone()),
            };
            let plan = tenant.plan.as_deref().unwrap_or("no plan");
            let mut rows = vec![(format!("in force ({plan})"), in_force)];
            if let Some(own) = own.clone() {
                rows.push((scope.to_string(), own));
            }
            output::traffic_table(&rows)
        })?;
        return Ok(());
    }
    let rows: Vec<(String, TrafficRules)> = match &args.plan {
        Some(plan) => {
            let scope = RuleScope::plan(plan)?;
            table
                .get(&scope)
                .map(|rules| vec![(scope.to_string(), rules)])
                .unwrap_or_default()
        }
        None => table
            .all()
            .into_iter()
            .map(|(scope, rules)| (scope.to_string(), rules))
            .collect(),
    };
    let value: Vec<_> = rows
        .iter()
        .map(|(scope, rules)| json!({ "scope": scope, "rules": rules }))
        .collect();
    out.print(&value, || output::traffic_table(&rows))?;
    Ok(())
}

fn scope_of(args: &TrafficScope) -> anyhow::Result<RuleScope> {
    match (&args.plan, &args.tenant) {
        (Some(plan), None) => Ok(RuleScope::plan(plan)?),
        (None, Some(id)) => Ok(RuleScope::Tenant(id.clone())),
        _ => bail!("name exactly one of --plan and --tenant"),
    }
}

fn rules_of(args: &TrafficSetArgs) -> anyhow::Result<TrafficRules> {
    let rate = match (args.rate, args.burst, args.unlimited) {
        (Some(per_second), Some(burst), false) => {
            Some(RateRule::Limit(RateLimit::new(per_second, burst)?))
        }
        (None, None, true) => Some(RateRule::Unlimited),
        _ => None,
    };
    let list = |networks: &Vec<ipnet::IpNet>| (!networks.is_empty()).then(|| networks.clone());
    let rules = TrafficRules {
        rate,
        allow: list(&args.allow),
        block: list(&args.block),
    };
    if rules.is_empty() {
        bail!("nothing to set: give --rate and --burst, --unlimited, --allow or --block");
    }
    Ok(rules)
}

//! `tenancy keys …`: API keys for the admin API.

use chrono::{Duration, Utc};
use serde_json::json;
use tenancy::Tenancy;
use tenancy::keys::{ApiKey, IssuedKey, NewApiKey};

use crate::cli::{KeyCreateArgs, KeysCommand};
use crate::output::{self, Output};

/// Runs one `keys` subcommand.
pub async fn run(tenancy: &Tenancy, command: KeysCommand, out: Output) -> anyhow::Result<()> {
    match command {
        KeysCommand::Create(args) => create(tenancy, args, out).await,
        KeysCommand::List => {
            let keys = tenancy.api_keys().await?;
            out.print(&keys, || keys_table(&keys))?;
            Ok(())
        }
        KeysCommand::Rotate { id, grace_secs } => {
            let grace = std::time::Duration::from_secs(grace_secs);
            let issued = tenancy.rotate_api_key(&id, grace, None).await?;
            print_issued(
                &issued,
                out,
                &format!("replaced key {id}; it works for {grace_secs} s more"),
            )
        }
        KeysCommand::Revoke { id } => {
            let key = tenancy.revoke_api_key(&id).await?;
            out.print(&key, || format!("revoked key {}", key.id))?;
            Ok(())
        }
    }
}

async fn create(tenancy: &Tenancy, args: KeyCreateArgs, out: Output) -> anyhow::Result<()> {
    let new = NewApiKey {
        name: args.name,
        scopes: args.scopes,
        expires_at: args
            .expires_in_days
            .map(|days| Utc::now() + Duration::days(i64::from(days))),
    };
    let issued = tenancy.create_api_key(new).await?;
    print_issued(&issued, out, "")
}

fn print_issued(issued: &IssuedKey, out: Output, note: &str) -> anyhow::Result<()> {
    let value = json!({ "key": issued.key, "secret": issued.secret });
    out.print(&value, || {
        let note = if note.is_empty() { String::new() } else { format!("{note}\n") };
        format!(
            "{note}created key {} ({})\n\n    {}\n\nThis is the only time the key is shown: store it now.",
            issued.key.id,
            scope_list(&issued.key),
            issued.secret
        )
    })
}

fn scope_list(key: &ApiKey) -> String {
    let names: Vec<&str> = key.scopes.iter().map(|scope| scope.as_str()).collect();
    names.join(" ")
}

fn keys_table(keys: &[ApiKey]) -> String {
    if keys.is_empty() {
        return "no API keys".to_owned();
    }
    let when = |at: Option<chrono::DateTime<Utc>>| {
        at.map(|at| at.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_else(|| "-".to_owned())
    };
    let mut table = output::table(&["id", "name", "scopes", "expires", "last used", "revoked"]);
    for key in keys {
        table.add_row([
            key.id.clone(),
            key.name.clone().unwrap_or_default(),
            scope_list(key),
            when(key.expires_at),
            when(key.last_used_at),
            when(key.revoked_at),
        ]);
    }
    table.to_string()
}

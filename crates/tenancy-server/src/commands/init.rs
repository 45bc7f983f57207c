//! `tenancy init`.

use anyhow::{Context, bail};

use crate::cli::InitArgs;
use crate::config::TEMPLATE;
use crate::output::Output;

/// Writes the commented configuration template.
pub fn run(args: &InitArgs, out: Output) -> anyhow::Result<()> {
    if args.path.exists() && !args.force {
        bail!(
            "{} exists already; pass --force to overwrite it",
            args.path.display()
        );
    }
    std::fs::write(&args.path, TEMPLATE)
        .with_context(|| format!("writing {}", args.path.display()))?;
    let path = args.path.display().to_string();
    out.print(&serde_json::json!({ "written": path }), || {
        format!("wrote {path}")
    })?;
    Ok(())
}

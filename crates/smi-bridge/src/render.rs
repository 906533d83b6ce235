//! `smi-bridge render`: SMI objects in, a mesh's native objects out — no cluster needed.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use smi_translate::input::load_objects;
use smi_translate::native::to_yaml_stream;
use smi_translate::{Report, TranslateOptions, render};

use crate::backends::{BackendArgs, Mesh};
use crate::files::read_inputs;

/// Arguments of `smi-bridge render`.
#[derive(Args, Debug)]
pub struct RenderArgs {
    /// The mesh to render for.
    #[arg(long, value_enum)]
    pub mesh: Mesh,
    /// Input files or directories (recursively), or `-` for stdin. Repeatable.
    #[arg(short = 'f', long = "filename", required = true)]
    pub inputs: Vec<String>,
    /// The cluster DNS domain, for fully qualified Service host names.
    #[arg(long, default_value = "cluster.local")]
    pub cluster_domain: String,
    /// Options of the mesh backends.
    #[command(flatten)]
    pub backend: BackendArgs,
}

/// Runs the command; see the exit codes in the command's help.
pub fn run(args: &RenderArgs) -> Result<ExitCode> {
    let objects = read_inputs(&args.inputs)?;
    let loaded = load_objects(objects)?;
    let options = TranslateOptions {
        cluster_domain: args.cluster_domain.clone(),
        ..TranslateOptions::default()
    };
    let backend = args.backend.build(args.mesh);
    let rendered = render(&loaded.state, backend.as_ref(), &options);
    let yaml = to_yaml_stream(&rendered.objects);
    std::io::stdout()
        .write_all(yaml.as_bytes())
        .context("writing to stdout")?;
    let mut stderr = std::io::stderr().lock();
    for warning in &loaded.warnings {
        writeln!(stderr, "warning: {warning}")?;
    }
    let all_accepted = print_status(&mut stderr, &rendered.report, &loaded.origins)?;
    Ok(if all_accepted {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// Prints one line per SMI object and one per problem; true when every object is accepted.
fn print_status(
    out: &mut impl Write,
    report: &Report,
    origins: &std::collections::BTreeMap<smi_translate::SmiRef, String>,
) -> Result<bool> {
    let mut all_accepted = true;
    for (object, status) in &report.statuses {
        all_accepted &= status.accepted();
        let summary: Vec<String> = status
            .conditions
            .iter()
            .map(|c| {
                format!(
                    "{}={}",
                    c.type_.as_str(),
                    if c.status { "True" } else { "False" }
                )
            })
            .collect();
        let origin = origins
            .get(object)
            .map(|o| format!(" ({o})"))
            .unwrap_or_default();
        writeln!(out, "{object}{origin}: {}", summary.join(" "))?;
        for c in status.conditions.iter().filter(|c| !c.status) {
            writeln!(out, "  {} {}: {}", c.type_.as_str(), c.reason, c.message)?;
        }
    }
    Ok(all_accepted)
}

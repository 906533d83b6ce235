//! `smi-bridge`: reconciles Service Mesh Interface objects into the native resources of Istio,
//! Linkerd 2, Consul and Gateway API mesh routes.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use smi_bridge::render;

mod run;

/// Service Mesh Interface for Istio, Linkerd, Consul and Gateway API meshes.
#[derive(Parser, Debug)]
#[command(name = "smi-bridge", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Render SMI objects into a mesh's native objects, offline (no cluster needed).
    ///
    /// Reads SMI objects (any published version) plus the Namespaces, Services and workloads
    /// they refer to from files, directories (recursively, *.yaml/*.yml/*.json) or `-` (stdin).
    /// Prints the native objects as a YAML stream on stdout and each SMI object's status on
    /// stderr. Exit code: 0 when every SMI object is accepted, 1 when an input cannot be read
    /// (the message names the file, the object and the field), 2 when some SMI object is not
    /// accepted (its status says why; the others are rendered).
    Render(render::RenderArgs),
    /// Run the operator: keep every mesh's native resources equal to what the SMI objects in
    /// the cluster ask for, and report it in their status (see the smi-operator crate docs).
    Run(Box<run::RunArgs>),
    /// Take over SMI CRDs installed by others (linkerd-smi, smi-sdk-go) without losing an
    /// object: check every stored object converts, install smi-bridge's CRDs keeping every
    /// stored version served, rewrite the objects at the storage version and trim
    /// `status.storedVersions` (see docs/webhooks.md).
    Migrate(MigrateCommand),
}

/// Arguments of `smi-bridge migrate`.
#[derive(clap::Args, Debug)]
struct MigrateCommand {
    /// Kubeconfig file (default: $KUBECONFIG or ~/.kube/config, else the pod's service account).
    #[arg(long)]
    kubeconfig: Option<std::path::PathBuf>,
    #[command(flatten)]
    migrate: smi_webhook::migrate::MigrateArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Render(args) => render::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Migrate(args) => run::migrate(args.kubeconfig.as_deref(), &args.migrate),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(1)
        }
    }
}

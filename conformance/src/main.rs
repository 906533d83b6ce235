//! `smi-conformance`: the public SMI conformance steps against the cluster of the current
//! kubeconfig, where smi-bridge is running (see the crate docs and conformance/README.md).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, ValueEnum};
use smi_bridge::backends::{BackendArgs, Mesh};
use smi_conformance::{Capability, Runner, report, report_json, suites};
use smi_translate::TranslateOptions;

/// Runs the SMI conformance suites (traffic-access, traffic-spec, traffic-split) against a
/// cluster where smi-bridge programs `--mesh`. Exit code 0 when every suite is FULL.
#[derive(Parser, Debug)]
#[command(name = "smi-conformance", version, about)]
struct Cli {
    /// The mesh smi-bridge programs in the suites' namespaces (they get the label
    /// `smi-bridge.io/mesh`). Its backend flags below must match smi-bridge's.
    #[arg(long, value_enum)]
    mesh: Mesh,
    /// Kubeconfig file (default: $KUBECONFIG or ~/.kube/config, else the pod's service account).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Run only these suites (comma-separated): traffic-access, traffic-spec, traffic-split.
    #[arg(long, value_delimiter = ',')]
    suite: Vec<String>,
    /// How long one step may take to converge, in seconds (upstream allows 180).
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// How long to wait for a suite's namespace to be deleted, in seconds.
    #[arg(long, default_value_t = 120)]
    cleanup_timeout: u64,
    /// Keep the suites' namespaces afterwards.
    #[arg(long)]
    keep_namespaces: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
    /// The cluster DNS domain smi-bridge uses.
    #[arg(long, default_value = "cluster.local")]
    cluster_domain: String,
    #[command(flatten)]
    backend: BackendArgs,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Output {
    Text,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(&cli)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(2),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn run(cli: &Cli) -> Result<bool> {
    let config = match &cli.kubeconfig {
        Some(path) => {
            let file = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading the kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(file, &kube::config::KubeConfigOptions::default())
                .await
                .with_context(|| format!("using the kubeconfig {}", path.display()))?
        }
        None => kube::Config::infer()
            .await
            .context("finding a kubeconfig (pass --kubeconfig)")?,
    };
    let client = kube::Client::try_from(config).context("building the Kubernetes client")?;
    let translate = TranslateOptions {
        cluster_domain: cli.cluster_domain.clone(),
        ..TranslateOptions::default()
    };
    let evaluator = cli.backend.evaluator(cli.mesh, &translate);
    let mut runner = Runner::new(
        client,
        cli.mesh.name(),
        cli.backend.build(cli.mesh),
        evaluator,
    );
    runner.timeout = Duration::from_secs(cli.timeout);
    runner.cleanup_timeout = Duration::from_secs(cli.cleanup_timeout);
    runner.keep_namespaces = cli.keep_namespaces;
    let all = suites();
    for name in &cli.suite {
        anyhow::ensure!(
            all.iter().any(|s| s.name == name),
            "--suite {name}: no such suite; choose from traffic-access, traffic-spec, traffic-split"
        );
    }
    let mut results = Vec::new();
    for suite in all
        .iter()
        .filter(|s| cli.suite.is_empty() || cli.suite.iter().any(|n| n == s.name))
    {
        results.push(
            runner
                .run(suite)
                .await
                .with_context(|| format!("running suite {}", suite.name))?,
        );
    }
    match cli.output {
        Output::Text => print!("{}", report(cli.mesh.name(), &results)),
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report_json(cli.mesh.name(), &results))?
        ),
    }
    Ok(results.iter().all(|r| r.capability == Capability::Full))
}

//! Starts the test control plane by hand and keeps it running until Ctrl-C (or SIGTERM).
//!
//! ```text
//! cargo run -p smi-testenv -- [--with-controller-manager] [--install-crds] [--upstream-crds istio,linkerd,...]
//! ```
//!
//! Prints `export KUBECONFIG=...` (and `PATH` for kubectl/helm) on stdout; progress on stderr.

use std::process::ExitCode;

use smi_testenv::{Config, Mesh, TestEnv};

const USAGE: &str = "\
usage: smi-testenv [--with-controller-manager] [--install-crds] [--upstream-crds SETS] [--no-audit-log]

Starts etcd + kube-apiserver (and kube-controller-manager) on loopback and runs until Ctrl-C.
  --with-controller-manager  also run kube-controller-manager (garbage collector, namespace controller)
  --install-crds             install smi-bridge's CRDs from <repo>/crds/*.yaml
  --upstream-crds SETS       install vendored upstream CRDs, comma-separated:
                             istio, gateway-api, consul, linkerd, smi-legacy, linkerd-smi
  --no-audit-log             do not write the audit log
Environment: SMI_BRIDGE_BIN_DIR (programs; default: built by tools/build.sh),
  SMI_TESTENV_START_TIMEOUT (seconds), SMI_TESTENV_KEEP=1 (keep the temp directory), RUST_LOG.";

struct Args {
    config: Config,
    install_crds: bool,
    upstream: Vec<Mesh>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        config: Config::default(),
        install_crds: false,
        upstream: Vec::new(),
    };
    let mut argv = std::env::args().skip(1);
    while let Some(arg) = argv.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
            None => (arg.clone(), None),
        };
        match flag.as_str() {
            "--with-controller-manager" => args.config = args.config.with_controller_manager(),
            "--install-crds" => args.install_crds = true,
            "--no-audit-log" => args.config = args.config.with_audit_log(false),
            "--upstream-crds" => {
                let value = inline
                    .or_else(|| argv.next())
                    .ok_or("--upstream-crds needs a comma-separated list")?;
                for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                    let mesh = Mesh::from_name(name)
                        .ok_or_else(|| format!("unknown upstream CRD set {name:?}"))?;
                    args.upstream.push(mesh);
                }
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "smi_testenv=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("smi-testenv: {message}\n");
            }
            eprintln!("{USAGE}");
            return if message.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("smi-testenv: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> smi_testenv::Result<()> {
    let env = TestEnv::start(args.config).await?;
    let client = env.client().await?;
    if args.install_crds {
        let crds = smi_testenv::install_smi_crds(&client).await?;
        eprintln!("smi-testenv: installed {} smi-bridge CRDs", crds.len());
    }
    for mesh in args.upstream {
        let crds = smi_testenv::install_upstream(&client, mesh).await?;
        eprintln!("smi-testenv: installed {} {} CRDs", crds.len(), mesh.name());
    }
    println!("export KUBECONFIG={}", env.kubeconfig_path().display());
    println!("export PATH={}:$PATH", env.bin_dir().display());
    eprintln!(
        "smi-testenv: API server {} running; files in {}; Ctrl-C stops it",
        env.server_url(),
        env.dir().display()
    );
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| smi_testenv::Error::Io {
        action: "installing the SIGTERM handler",
        path: "smi-testenv".into(),
        source: e,
    })?;
    let mut health = tokio::time::interval(std::time::Duration::from_secs(2));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = terminate.recv() => break,
            _ = health.tick() => env.check_running()?,
        }
    }
    eprintln!("smi-testenv: stopping");
    Ok(())
}

//! `smi-bridge run`: the operator (see the `smi-operator` crate for what it does).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use smi_bridge::backends::{BackendArgs, Mesh};
use smi_operator::{MeshChoice, Meshes, Operator, OperatorConfig, WriteConfig};
use smi_translate::{Backend, TranslateOptions};

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, with the reconcile/write span fields.
    Json,
}

/// Arguments of `smi-bridge run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// The mesh of namespaces without the `smi-bridge.io/mesh` label: istio, linkerd, consul,
    /// gamma, or auto (the first of --meshes whose CRDs the API server serves).
    #[arg(long, default_value = "auto", value_parser = parse_mesh_choice)]
    pub mesh: MeshChoice,
    /// The meshes this replica may program, in order of preference for auto (comma-separated).
    /// Their native kinds are watched, so RBAC is needed only for these.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Mesh::Istio, Mesh::Linkerd, Mesh::Consul, Mesh::Gamma])]
    pub meshes: Vec<Mesh>,
    /// Watch and write only this namespace (default: the whole cluster).
    #[arg(long)]
    pub namespace: Option<String>,
    /// The cluster DNS domain, for fully qualified Service host names.
    #[arg(long, default_value = "cluster.local")]
    pub cluster_domain: String,
    /// Kubeconfig file (default: $KUBECONFIG or ~/.kube/config, else the pod's service
    /// account).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// This replica's identity in the Lease (default: $POD_NAME, else hostname-pid).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// Name of the leader-election Lease.
    #[arg(long, default_value = "smi-bridge")]
    pub lease_name: String,
    /// Namespace of the Lease (default: $POD_NAMESPACE, else --namespace, else the
    /// kubeconfig's namespace).
    #[arg(long, env = "POD_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// Lease duration: another replica takes over this long after the last renewal (whole
    /// seconds: 15s, 1m).
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub lease_duration: Duration,
    /// How often the leader renews the Lease (and others check it).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub lease_renew_interval: Duration,
    /// Sustained writes per second to the API server.
    #[arg(long, default_value_t = 100.0)]
    pub qps: f64,
    /// Writes allowed in a burst.
    #[arg(long, default_value_t = 200)]
    pub burst: u32,
    /// Writes in flight at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Wait this long after a change before recomputing (coalesces bursts).
    #[arg(long, default_value = "100ms", value_parser = parse_duration)]
    pub debounce: Duration,
    /// Recompute at least this often without changes.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub resync: Duration,
    /// Address of /healthz, /readyz and /metrics ("none" to turn them off).
    #[arg(long, default_value = "0.0.0.0:8080", value_parser = parse_http_addr)]
    pub http_addr: HttpAddr,
    /// Address of the conversion and validating webhooks (HTTPS; "none" to turn them off).
    /// Every replica serves them, leader or not.
    #[arg(long, default_value = "0.0.0.0:9443", value_parser = parse_http_addr)]
    pub webhook_addr: HttpAddr,
    /// Serve the webhooks with `tls.crt`/`tls.key` from this directory (a mounted Secret, e.g.
    /// from cert-manager, re-read when it changes). Without it, smi-bridge generates and rotates
    /// the certificates itself in --webhook-secret and injects the CA bundle.
    #[arg(long)]
    pub webhook_cert_dir: Option<PathBuf>,
    /// The Service in front of the webhooks (its DNS names go into generated certificates).
    #[arg(long, default_value = "smi-bridge-webhook")]
    pub webhook_service: String,
    /// The Secret generated webhook certificates are kept in (shared by every replica).
    #[arg(long, default_value = "smi-bridge-webhook-tls")]
    pub webhook_secret: String,
    /// Log format (the level comes from RUST_LOG, default info).
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Options of the mesh backends.
    #[command(flatten)]
    pub backend: BackendArgs,
}

/// `--http-addr`: an address or none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpAddr(Option<SocketAddr>);

fn parse_http_addr(text: &str) -> Result<HttpAddr, String> {
    if text.eq_ignore_ascii_case("none") {
        return Ok(HttpAddr(None));
    }
    text.parse()
        .map(|a| HttpAddr(Some(a)))
        .map_err(|e| format!("`{text}`: {e} (expected host:port or none)"))
}

fn parse_mesh_choice(text: &str) -> Result<MeshChoice, String> {
    match MeshChoice::parse(text) {
        MeshChoice::Auto => Ok(MeshChoice::Auto),
        MeshChoice::Named(name) if Mesh::from_name(&name).is_some() => Ok(MeshChoice::Named(name)),
        MeshChoice::Named(name) => Err(format!(
            "`{name}` is not a mesh; choose istio, linkerd, consul, gamma or auto"
        )),
    }
}

/// Parses `500ms`, `15s`, `5m`, `1h` or a number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}`: expected a duration such as 500ms, 15s, 5m or 1h"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("`{text}`: unknown unit `{unit}` (ms, s, m, h)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("`{text}`: {e}"))
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colours only on a terminal: container logs and log files get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .init(),
    }
}

async fn client(kubeconfig: Option<&std::path::Path>) -> Result<kube::Client> {
    let config = match kubeconfig {
        Some(path) => {
            let file = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading the kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(file, &kube::config::KubeConfigOptions::default())
                .await
                .with_context(|| format!("using the kubeconfig {}", path.display()))?
        }
        None => kube::Config::infer().await.context(
            "no cluster configuration: not in a pod, no --kubeconfig, no $KUBECONFIG or ~/.kube/config",
        )?,
    };
    kube::Client::try_from(config).context("building the Kubernetes client")
}

fn default_identity() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "smi-bridge".to_string());
    format!("{host}-{}", std::process::id())
}

/// Stops the operator on SIGTERM or Ctrl-C; a second signal exits at once.
fn watch_signals(stop: tokio::sync::watch::Sender<bool>) -> Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::spawn(async move {
        for round in 0..2 {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            if round == 0 {
                tracing::info!("shutting down: no more writes, releasing the lease");
                let _ = stop.send(true);
            } else {
                tracing::warn!("second signal: exiting at once");
                std::process::exit(130);
            }
        }
    });
    Ok(())
}

/// `smi-bridge migrate`: takes over other installers' SMI CRDs and migrates stored versions.
pub fn migrate(
    kubeconfig: Option<&std::path::Path>,
    args: &smi_webhook::migrate::MigrateArgs,
) -> Result<ExitCode> {
    init_logging(LogFormat::Text);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let report = runtime.block_on(async {
        let client = client(kubeconfig).await?;
        smi_webhook::migrate::run(&client, args)
            .await
            .context("migrating the SMI CRDs")
    })?;
    println!("{report:#?}");
    Ok(ExitCode::SUCCESS)
}

/// Runs the operator until SIGTERM.
pub fn run(args: &RunArgs) -> Result<ExitCode> {
    init_logging(args.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(operate(args))?;
    Ok(ExitCode::SUCCESS)
}

async fn operate(args: &RunArgs) -> Result<()> {
    if args.meshes.is_empty() {
        bail!("--meshes is empty: name at least one mesh");
    }
    let client = client(args.kubeconfig.as_deref()).await?;
    let backends: Vec<Arc<dyn Backend>> = args
        .meshes
        .iter()
        .map(|mesh| Arc::from(args.backend.build(*mesh)))
        .collect();
    let meshes = Meshes::new(backends, args.mesh.clone())?;
    let lease_namespace: String = args
        .lease_namespace
        .clone()
        .or_else(|| args.namespace.clone())
        .unwrap_or_else(|| client.default_namespace().to_string());
    let identity = args.identity.clone().unwrap_or_else(default_identity);
    let mut config = OperatorConfig::new(args.mesh.clone(), identity, lease_namespace.clone());
    config.namespace = args.namespace.clone();
    config.translate = TranslateOptions {
        cluster_domain: args.cluster_domain.clone(),
        ..TranslateOptions::default()
    };
    config.lease.name = args.lease_name.clone();
    config.lease.duration = args.lease_duration;
    config.lease.renew_interval = args.lease_renew_interval;
    config.writes = WriteConfig {
        qps: args.qps,
        burst: args.burst,
        concurrency: args.concurrency,
        ..WriteConfig::default()
    };
    config.debounce = args.debounce;
    config.resync = args.resync;
    config.http_addr = args.http_addr.0;
    let mut operator = Operator::new(client.clone(), config, meshes).await?;
    if let Some(addr) = operator.http_addr() {
        tracing::info!(%addr, "serving /healthz, /readyz and /metrics");
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    watch_signals(stop)?;
    let webhooks = match args.webhook_addr.0 {
        None => None,
        Some(address) => {
            let config = webhook_config(args, client, address, &lease_namespace);
            operator.register_metrics(|registry| config.metrics.register(registry));
            let server = smi_webhook::WebhookServer::bind(config)
                .await
                .with_context(|| format!("serving the webhooks on {address}"))?;
            tracing::info!(%address, "serving the conversion and validating webhooks");
            let mut stopped = stopped.clone();
            Some(tokio::spawn(server.run(async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            })))
        }
    };
    operator.run(stopped).await?;
    if let Some(webhooks) = webhooks {
        webhooks
            .await
            .context("the webhook server stopped abnormally")?;
    }
    Ok(())
}

/// The webhook server's configuration: certificates from files, or generated into a Secret in
/// the operator's namespace.
fn webhook_config(
    args: &RunArgs,
    client: kube::Client,
    address: SocketAddr,
    namespace: &str,
) -> smi_webhook::WebhookConfig {
    use smi_webhook::{FileTls, GeneratedTls, TlsSource};
    let tls = match &args.webhook_cert_dir {
        Some(dir) => TlsSource::Files(FileTls::in_dir(dir)),
        None => TlsSource::Generated(Box::new(GeneratedTls::for_service(
            client.clone(),
            namespace,
            &args.webhook_service,
            &args.webhook_secret,
        ))),
    };
    let mut config = smi_webhook::WebhookConfig::new(address, tls);
    config.cluster_domain = args.cluster_domain.clone();
    config.references = Some(Arc::new(smi_webhook::admission::ApiLookup::new(
        client,
        Duration::from_secs(2),
    )));
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("15s"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn mesh_choices_are_checked() {
        assert_eq!(parse_mesh_choice("auto"), Ok(MeshChoice::Auto));
        assert_eq!(
            parse_mesh_choice("Istio"),
            Ok(MeshChoice::Named("istio".into()))
        );
        assert!(parse_mesh_choice("kuma").is_err());
        assert_eq!(parse_http_addr("none"), Ok(HttpAddr(None)));
        assert!(parse_http_addr("nowhere").is_err());
    }
}

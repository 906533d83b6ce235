//! The operator's configuration (the binary builds it from flags) and the names it uses.

use std::net::SocketAddr;
use std::time::Duration;

use smi_translate::TranslateOptions;

/// Field manager of the native objects smi-bridge applies.
pub const FIELD_MANAGER: &str = "smi-bridge";
/// Field manager of the status smi-bridge applies to SMI objects (`/status`).
pub const STATUS_FIELD_MANAGER: &str = "smi-bridge-status";
/// Field manager of the leader-election Lease.
pub const LEASE_FIELD_MANAGER: &str = "smi-bridge-lease";
/// Namespace label choosing the mesh of the namespace's SMI objects (`istio`, `linkerd`,
/// `consul`, `gamma` or `auto`), overriding `--mesh`.
pub const MESH_LABEL: &str = "smi-bridge.io/mesh";
/// Annotation (value `"true"`) on an object smi-bridge did not create that lets smi-bridge take
/// it over when it wants an object of the same kind, namespace and name.
pub const ADOPT_ANNOTATION: &str = "smi-bridge.io/adopt";
/// Annotation smi-bridge keeps on its native objects: a hash of everything it last applied, so
/// a field it stops setting is noticed (and removed by the next apply).
pub const APPLIED_HASH_ANNOTATION: &str = "smi-bridge.io/applied-hash";
/// The reporting controller of smi-bridge's Events.
pub const EVENT_CONTROLLER: &str = "smi-bridge.io/operator";

/// Which mesh serves a namespace that does not choose one with [`MESH_LABEL`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MeshChoice {
    /// The first backend (in the order given) whose native CRDs the API server serves.
    Auto,
    /// The backend with this name.
    Named(String),
}

impl MeshChoice {
    /// Parses `auto` or a backend name.
    pub fn parse(text: &str) -> Self {
        if text.eq_ignore_ascii_case("auto") {
            MeshChoice::Auto
        } else {
            MeshChoice::Named(text.to_ascii_lowercase())
        }
    }
}

/// Leader election.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseConfig {
    /// Name of the `coordination.k8s.io/v1` Lease.
    pub name: String,
    /// Namespace of the Lease.
    pub namespace: String,
    /// This replica's identity (the Lease's `holderIdentity`): unique per replica.
    pub identity: String,
    /// How long a lease lasts without renewal; another replica takes over after it.
    pub duration: Duration,
    /// How often the holder renews (and others look at) the Lease.
    pub renew_interval: Duration,
}

impl LeaseConfig {
    /// How long after its last successful renewal the holder still writes: the lease duration
    /// less a margin (a fifth of it) for request latency, so a paused holder stops writing
    /// before another replica may take over.
    pub fn write_window(&self) -> Duration {
        self.duration.saturating_sub(self.duration / 5)
    }
}

/// Limits on the writes to the API server.
#[derive(Clone, Debug, PartialEq)]
pub struct WriteConfig {
    /// Sustained writes per second (token bucket refill rate).
    pub qps: f64,
    /// Writes allowed in a burst (token bucket size).
    pub burst: u32,
    /// Writes in flight at once.
    pub concurrency: usize,
    /// Timeout of one request.
    pub timeout: Duration,
}

impl Default for WriteConfig {
    fn default() -> Self {
        WriteConfig {
            // Measured (benches/operator_load.rs): at 20/s a cold start of 1,000 TrafficSplits
            // took 99 s, all of it waiting on this limit; API Priority and Fairness protects
            // the API server, as for Linkerd's controllers (100/200).
            qps: 100.0,
            burst: 200,
            concurrency: 4,
            timeout: Duration::from_secs(10),
        }
    }
}

/// Everything the operator needs besides a client and the backends.
#[derive(Clone, Debug)]
pub struct OperatorConfig {
    /// The mesh of namespaces without [`MESH_LABEL`].
    pub mesh: MeshChoice,
    /// Watch and write only this namespace (default: the whole cluster).
    pub namespace: Option<String>,
    /// Options of the translation core.
    pub translate: TranslateOptions,
    /// Leader election.
    pub lease: LeaseConfig,
    /// Write limits.
    pub writes: WriteConfig,
    /// How long to wait after a change before recomputing, to coalesce bursts of changes.
    pub debounce: Duration,
    /// Recompute at least this often even without changes (a safety net).
    pub resync: Duration,
    /// Where to serve `/healthz`, `/readyz` and `/metrics` (none: not served).
    pub http_addr: Option<SocketAddr>,
}

impl OperatorConfig {
    /// A configuration with the defaults used by `smi-bridge run` for everything but the mesh,
    /// the lease identity and namespace.
    pub fn new(
        mesh: MeshChoice,
        identity: impl Into<String>,
        lease_namespace: impl Into<String>,
    ) -> Self {
        OperatorConfig {
            mesh,
            namespace: None,
            translate: TranslateOptions::default(),
            lease: LeaseConfig {
                name: "smi-bridge".to_string(),
                namespace: lease_namespace.into(),
                identity: identity.into(),
                duration: Duration::from_secs(15),
                renew_interval: Duration::from_secs(5),
            },
            writes: WriteConfig::default(),
            debounce: Duration::from_millis(100),
            resync: Duration::from_secs(300),
            http_addr: None,
        }
    }

    /// Checks the values that would make the operator misbehave.
    pub fn validate(&self) -> Result<(), crate::Error> {
        let lease = &self.lease;
        if lease.identity.is_empty() {
            return Err(crate::Error::Config("the lease identity is empty".into()));
        }
        if lease.duration < Duration::from_secs(1) || lease.duration.subsec_nanos() != 0 {
            return Err(crate::Error::Config(format!(
                "the lease duration ({:?}) must be a whole number of seconds (a Lease stores seconds)",
                lease.duration
            )));
        }
        if lease.renew_interval.is_zero() || lease.renew_interval >= lease.write_window() {
            return Err(crate::Error::Config(format!(
                "the lease renew interval ({:?}) must be positive and shorter than four fifths of \
                 the lease duration ({:?})",
                lease.renew_interval, lease.duration
            )));
        }
        if self.writes.qps.is_nan()
            || self.writes.qps <= 0.0
            || self.writes.burst == 0
            || self.writes.concurrency == 0
        {
            return Err(crate::Error::Config(
                "--qps, --burst and --concurrency must be positive".into(),
            ));
        }
        Ok(())
    }
}

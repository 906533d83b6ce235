//! The mesh-neutral model: what a set of SMI objects means, decided once for every mesh.
//!
//! The core computes it from a [`ClusterState`](crate::ClusterState); every backend turns it into
//! native objects. Semantics (documented in `docs/semantics.md`):
//! - **Routing** is aggregated per root Service ([`ServiceRoutes`]); weights stay relative, and
//!   backends that need integers or percentages use [`apportion`].
//! - **Access** is aggregated per destination identity ([`DestinationAccess`]): the union of all
//!   TrafficTargets' allows; everything else to that destination is denied.
//! - Ports in access rules are **pod ports** (Service ports mapped through `targetPort`).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::keys::{Identity, ObjectKey, SmiRef};
use crate::state::{NamespaceInfo, WorkloadKey};

/// Options that shape the model and that every backend shares.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TranslateOptions {
    /// The cluster DNS domain (`cluster.local`), for fully qualified host names.
    pub cluster_domain: String,
    /// Namespace label that opts a namespace into deny-by-default for every workload, also
    /// those no TrafficTarget names (its value must be `"true"`).
    pub enforce_label: String,
}

impl Default for TranslateOptions {
    fn default() -> Self {
        TranslateOptions {
            cluster_domain: "cluster.local".to_string(),
            enforce_label: ENFORCE_ACCESS_LABEL.to_string(),
        }
    }
}

impl TranslateOptions {
    /// Whether a namespace opted into deny-by-default for every workload (so it needs native
    /// objects even when it holds no SMI object).
    pub fn enforces_access(&self, namespace: &NamespaceInfo) -> bool {
        namespace
            .labels
            .get(&self.enforce_label)
            .is_some_and(|v| v == "true")
    }
}

/// Default namespace label that makes access deny-by-default for every workload in it.
pub const ENFORCE_ACCESS_LABEL: &str = "smi-bridge.io/enforce-access";

/// What a set of SMI objects asks of the mesh.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Model {
    /// Routing, one entry per root Service with an accepted TrafficSplit.
    pub routes: Vec<ServiceRoutes>,
    /// Access, one entry per destination identity that is denied by default.
    pub access: Vec<DestinationAccess>,
    /// The options the model was computed with.
    pub options: TranslateOptions,
}

impl Model {
    /// `<service>.<namespace>.svc.<cluster domain>`.
    pub fn fqdn(&self, service: &ObjectKey) -> String {
        format!(
            "{}.{}.svc.{}",
            service.name, service.namespace, self.options.cluster_domain
        )
    }
}

/// All routing for one root Service.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServiceRoutes {
    /// The root Service clients address.
    pub root: ObjectKey,
    /// The TrafficSplit this routing comes from.
    pub split: SmiRef,
    /// Every SMI object the routing was built from: the split and its HTTPRouteGroups.
    pub sources: Vec<SmiRef>,
    /// One entry per root Service port that has at least one backend with weight.
    pub ports: Vec<RoutedPort>,
    /// A/B: only requests matching one of these are split; the rest go to the root Service.
    /// Empty means every request is split.
    pub matches: Vec<HttpMatch>,
}

/// How a port carries traffic, as declared by the Service (`appProtocol`, port-name prefix,
/// `protocol`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum PortProtocol {
    /// HTTP/1.1 (`http`, `http-*`, appProtocol `http`).
    Http,
    /// HTTP/2 (`http2`, `h2c`).
    Http2,
    /// gRPC.
    Grpc,
    /// Opaque TCP (`tcp`, `tls`, `mongo`, `mysql`, …).
    Tcp,
    /// UDP.
    Udp,
    /// Not declared: meshes that detect protocols treat it as HTTP when it is.
    Unknown,
}

impl PortProtocol {
    /// The protocol a port declares: `appProtocol`, else the port-name prefix before `-`
    /// (Istio's convention: `http`, `http2`, `grpc`, `tcp`, `tls`, …), else `UDP` transport,
    /// else unknown.
    pub fn classify(
        name: Option<&str>,
        app_protocol: Option<&str>,
        transport: &str,
    ) -> PortProtocol {
        if transport.eq_ignore_ascii_case("UDP") {
            return PortProtocol::Udp;
        }
        let classify = |word: &str| -> Option<PortProtocol> {
            let word = word.to_ascii_lowercase();
            // appProtocol may be prefixed (`kubernetes.io/h2c`).
            match word.rsplit('/').next().unwrap_or(&word) {
                "http" | "http_proxy" | "grpc-web" => Some(PortProtocol::Http),
                "http2" | "h2c" => Some(PortProtocol::Http2),
                "grpc" => Some(PortProtocol::Grpc),
                "tcp" | "tls" | "https" | "mongo" | "mysql" | "redis" | "opaque" => {
                    Some(PortProtocol::Tcp)
                }
                "udp" => Some(PortProtocol::Udp),
                _ => None,
            }
        };
        app_protocol
            .and_then(classify)
            .or_else(|| name.and_then(|n| classify(n.split('-').next().unwrap_or(n))))
            .unwrap_or(PortProtocol::Unknown)
    }

    /// True for protocols HTTP routing applies to (declared HTTP-family or undeclared).
    pub fn is_http_routable(self) -> bool {
        matches!(
            self,
            PortProtocol::Http | PortProtocol::Http2 | PortProtocol::Grpc | PortProtocol::Unknown
        )
    }
}

/// Routing of one root Service port.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RoutedPort {
    /// The root Service port (backends are reached on the same port number).
    pub port: u16,
    /// The root Service port's name, if any.
    pub name: Option<String>,
    /// The declared protocol.
    pub protocol: PortProtocol,
    /// The backends that expose this port, in the TrafficSplit's order, with their relative
    /// weights (zero weights are kept: they are meaningful and must be written out).
    pub backends: Vec<WeightedBackend>,
}

impl RoutedPort {
    /// The weights apportioned to integers summing exactly to `total` (largest remainder).
    pub fn apportioned(&self, total: u64) -> Vec<u64> {
        apportion(
            &self.backends.iter().map(|b| b.weight).collect::<Vec<_>>(),
            total,
        )
    }
}

/// A backend Service and its relative weight.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WeightedBackend {
    /// The backend Service, in the root's namespace.
    pub service: String,
    /// Relative weight (> 0 for at least one backend of the port).
    pub weight: u64,
}

/// Splits `total` in proportion to `weights` with the largest-remainder method: integers that sum
/// to exactly `total` (when any weight is non-zero), each within one unit of its exact share;
/// ties go to the earlier entry. All-zero weights give all zeros.
pub fn apportion(weights: &[u64], total: u64) -> Vec<u64> {
    let sum: u128 = weights.iter().map(|w| u128::from(*w)).sum();
    if sum == 0 {
        return vec![0; weights.len()];
    }
    let exact: Vec<(u128, u128)> = weights
        .iter()
        .map(|w| {
            let scaled = u128::from(*w) * u128::from(total);
            (scaled / sum, scaled % sum)
        })
        .collect();
    let mut result: Vec<u64> = exact.iter().map(|(q, _)| *q as u64).collect();
    let assigned: u64 = result.iter().sum();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|a, b| exact[*b].1.cmp(&exact[*a].1).then(a.cmp(b)));
    for index in order.into_iter().take((total - assigned) as usize) {
        result[index] += 1;
    }
    result
}

/// One HTTP match of an HTTPRouteGroup, validated and normalised: every condition must hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HttpMatch {
    /// The HTTPRouteGroup it comes from.
    pub group: ObjectKey,
    /// The match's name within the group.
    pub name: String,
    /// Path condition; `None` matches every path.
    pub path: Option<PathRegex>,
    /// Upper-case methods, sorted and unique; `None` matches every method (`*` or omitted).
    pub methods: Option<Vec<String>>,
    /// Header conditions (AND), by lower-case header name.
    pub headers: Vec<HeaderMatch>,
}

/// An SMI `pathRegex`: a regular expression anchored at the start of the path only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PathRegex {
    /// The expression as written in the HTTPRouteGroup (known to compile).
    pub regex: String,
    /// What the expression amounts to, for meshes without regular expressions.
    pub shape: PathShape,
}

impl PathRegex {
    /// The equivalent full-match expression for engines that match the whole path (Envoy,
    /// Gateway API, Consul): `(?:<regex>).*` — never `<regex>.*`, which would bind the suffix
    /// to the last alternative only (`/a|/b.*`).
    pub fn full_match(&self) -> String {
        format!("(?:{}).*", self.regex)
    }
}

/// What a start-anchored path expression amounts to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum PathShape {
    /// Every path (e.g. `.*`, `/?.*` is not this: only expressions matching all strings).
    Any,
    /// Paths starting with this literal (`/api`, `/api/.*`).
    Prefix(String),
    /// Exactly this path (`/health$`).
    Exact(String),
    /// Anything else: needs a regular-expression engine.
    Regex,
}

/// A header condition: a full-match regular expression on the value of one header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HeaderMatch {
    /// Lower-case header name.
    pub name: String,
    /// The value expression as written (known to compile); it must match the whole value.
    pub regex: String,
    /// What the expression amounts to, for meshes with limited header matching.
    pub shape: ValueShape,
}

/// What a full-match value expression amounts to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum ValueShape {
    /// Any value, as long as the header is present (`.*`).
    Present,
    /// Exactly this value.
    Exact(String),
    /// Values starting with this literal (`v1.*`).
    Prefix(String),
    /// Values ending with this literal (`.*Android`).
    Suffix(String),
    /// Values containing this literal (`.*Android.*`).
    Contains(String),
    /// Anything else: needs a regular-expression engine.
    Regex,
}

/// Access to one destination identity: deny everything but the union of `rules`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DestinationAccess {
    /// The destination identity (a ServiceAccount).
    pub identity: Identity,
    /// Why the destination is denied by default.
    pub origin: AccessOrigin,
    /// The SMI objects this access was built from (TrafficTargets and their routes); empty when
    /// only namespace enforcement applies.
    pub sources: Vec<SmiRef>,
    /// The destination's pods, grouped by distinct pod-template labels.
    pub pod_sets: Vec<PodSet>,
    /// Every known pod port of the destination: container ports and Service target ports.
    pub ports: Vec<PodPort>,
    /// What is allowed; empty means nothing is.
    pub rules: Vec<AccessRule>,
}

/// Why a destination denies by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum AccessOrigin {
    /// At least one TrafficTarget names it.
    TrafficTargets,
    /// Its namespace opted into enforcement and no TrafficTarget names it.
    NamespaceEnforcement,
}

/// Pods of one destination that share a pod-template label set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PodSet {
    /// The pods' labels (a selector on all of them picks exactly these pods' template).
    pub labels: BTreeMap<String, String>,
    /// The workloads with this label set.
    pub workloads: Vec<WorkloadKey>,
    /// Workloads of *other* identities whose pods carry all these labels: a label selector
    /// cannot tell them apart from the destination's pods.
    pub overlapping: Vec<WorkloadKey>,
    /// The ports of these pods: container ports and Service target ports that resolve to them.
    pub ports: Vec<PodPort>,
    /// The HTTP probes kubelet sends to these pods, by pod port: a mesh that denies by default
    /// must still let them through.
    pub probes: Vec<PodProbe>,
}

/// An HTTP GET probe on a pod port.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct PodProbe {
    /// The pod port probed.
    pub port: u16,
    /// The path probed.
    pub path: String,
}

/// A port on the destination's pods.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PodPort {
    /// The pod (container) port.
    pub port: u16,
    /// The container port's name, if declared.
    pub name: Option<String>,
    /// `TCP`, `UDP` or `SCTP`.
    pub transport: String,
    /// The protocol declared by the Services that target it (`Unknown` when none does).
    pub protocol: PortProtocol,
}

/// One allow: these sources may send this traffic to these pod ports.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AccessRule {
    /// The TrafficTarget it comes from.
    pub target: SmiRef,
    /// The allowed source identities.
    pub sources: Vec<Identity>,
    /// The pod ports the allow covers; empty only when `all_ports` is set and the destination
    /// declares no port at all.
    pub ports: Vec<u16>,
    /// True when the rule covers every port of the destination (no port restriction): meshes
    /// may then omit the port condition.
    pub all_ports: bool,
    /// The traffic allowed on those ports.
    pub traffic: AllowedTraffic,
}

/// The traffic an access rule allows.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum AllowedTraffic {
    /// Every TCP connection (a TCPRoute rule).
    Tcp,
    /// UDP datagrams (a UDPRoute rule).
    Udp,
    /// HTTP requests matching any of these (an HTTPRouteGroup rule).
    Http(Vec<HttpMatch>),
}

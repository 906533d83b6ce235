//! TrafficSplits as ServiceProfile `dstOverrides` (routing mode `serviceprofile`), the way
//! linkerd-smi wrote them: one `linkerd.io/v1alpha2` ServiceProfile named after the root's FQDN,
//! one `dstOverrides` entry per backend with its relative weight.
//!
//! A profile applies to every port of the root and to every request, so:
//! - a split with A/B `matches` cannot be expressed (`NotSupported`) and gets no profile —
//!   splitting all traffic would route more than asked;
//! - a root whose TCP ports do not all have the same backends (a backend lacks a port, or no
//!   backend with weight has it) cannot be expressed either (`NotExpressible`);
//! - UDP is not proxied by Linkerd: UDP ports are not split (`NotSupported`).
//!
//! The authority carries the port when the root has a single TCP port (which every Linkerd
//! reads); with several, it has none and Linkerd ≥ 2.10 uses the port of the request.
//! `routes` is written empty: Linkerd's CRD before 2.11 requires the field (its profile
//! validator also rejected profiles without routes — linkerd-smi#1 — so this mode needs
//! Linkerd ≥ 2.11, or a profile with routes of the user's own). Route entries are not added
//! because an unspecified route timeout is 10 s, which would change the Service's behaviour.

use serde_json::{Value, json};
use smi_bridge_gamma::bounded_weights;
use smi_translate::model::{Model, ServiceRoutes, WeightedBackend};
use smi_translate::state::ClusterState;
use smi_translate::{BackendOutput, Finding, NativeObject};

/// `linkerd.io/v1alpha2`.
pub const SERVICE_PROFILE_API: &str = "linkerd.io/v1alpha2";

/// A ServiceProfile per split, and what could not be expressed.
pub fn render_profiles(model: &Model, state: &ClusterState) -> BackendOutput {
    let mut out = BackendOutput::default();
    for routes in &model.routes {
        let finding = |reason: &str, message: String| Finding {
            object: routes.split.clone(),
            reason: reason.to_string(),
            message,
        };
        if !routes.matches.is_empty() {
            out.findings.push(finding(
                "NotSupported",
                format!("a ServiceProfile splits every request to `{}`, so A/B `matches` cannot be expressed and nothing is split; use routing mode `httproute` (Linkerd ≥ 2.14)", routes.root.name),
            ));
            continue;
        }
        for port in routes
            .ports
            .iter()
            .filter(|p| is_udp(state, routes, p.port))
        {
            out.findings.push(finding(
                "NotSupported",
                format!(
                    "UDP port {} of Service `{}` is not split: Linkerd does not proxy UDP",
                    port.port, routes.root.name
                ),
            ));
        }
        match common_backends(routes, state) {
            Ok(backends) => out.objects.push(profile(model, state, routes, backends)),
            Err(message) => out.findings.push(finding("NotExpressible", message)),
        }
    }
    out
}

fn is_udp(state: &ClusterState, routes: &ServiceRoutes, port: u16) -> bool {
    state
        .services
        .get(&routes.root)
        .and_then(|s| s.ports.iter().find(|p| p.port == port))
        .is_some_and(|p| !p.protocol.eq_ignore_ascii_case("TCP"))
}

/// The root's proxied (TCP) ports.
fn tcp_ports(state: &ClusterState, routes: &ServiceRoutes) -> Vec<u16> {
    state
        .services
        .get(&routes.root)
        .map(|s| {
            s.ports
                .iter()
                .filter(|p| p.protocol.eq_ignore_ascii_case("TCP"))
                .map(|p| p.port)
                .collect()
        })
        .unwrap_or_default()
}

/// The backends every TCP port of the root shares, or why they differ.
fn common_backends<'a>(
    routes: &'a ServiceRoutes,
    state: &ClusterState,
) -> Result<&'a [WeightedBackend], String> {
    let ports = tcp_ports(state, routes);
    let mut common: Option<&[WeightedBackend]> = None;
    for port in &ports {
        let Some(routed) = routes.ports.iter().find(|p| p.port == *port) else {
            return Err(format!(
                "a ServiceProfile splits every port of `{}` alike, but port {port} has no backend with a positive weight; nothing is split (use routing mode `httproute`)",
                routes.root.name
            ));
        };
        match common {
            None => common = Some(&routed.backends),
            Some(first) if first == routed.backends.as_slice() => {}
            Some(_) => {
                return Err(format!(
                    "a ServiceProfile splits every port of `{}` alike, but its ports have different backends (a backend lacks one of the root's ports); nothing is split (use routing mode `httproute`)",
                    routes.root.name
                ));
            }
        }
    }
    common.ok_or_else(|| format!("Service `{}` has no TCP port to split", routes.root.name))
}

fn profile(
    model: &Model,
    state: &ClusterState,
    routes: &ServiceRoutes,
    backends: &[WeightedBackend],
) -> NativeObject {
    let ports = tcp_ports(state, routes);
    let port_suffix = match ports.as_slice() {
        [only] => format!(":{only}"),
        _ => String::new(),
    };
    let weights = bounded_weights(&backends.iter().map(|b| b.weight).collect::<Vec<_>>());
    let overrides: Vec<Value> = backends
        .iter()
        .zip(weights)
        .map(|(b, weight)| {
            let service = smi_translate::ObjectKey::new(&routes.root.namespace, &b.service);
            json!({"authority": format!("{}{port_suffix}", model.fqdn(&service)), "weight": weight})
        })
        .collect();
    NativeObject::new(
        SERVICE_PROFILE_API,
        "ServiceProfile",
        &routes.root.namespace,
        model.fqdn(&routes.root),
        json!({"routes": [], "dstOverrides": overrides}),
    )
    .with_sources(&routes.sources)
}

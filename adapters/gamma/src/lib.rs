//! Gateway API mesh routing (GAMMA) for smi-bridge: TrafficSplits as routes attached to their
//! root Service — a backend of its own (`--mesh gamma`, for any GAMMA implementation such as
//! Istio ≥ 1.22) and a library for mesh backends that route through Gateway API (Linkerd).
//!
//! # Mapping
//!
//! | SMI | Gateway API |
//! |---|---|
//! | TrafficSplit, per root Service port | `HTTPRoute` `<split>-<port>` (HTTP-family and undeclared ports) or `TCPRoute` (TCP ports, when served), `parentRefs: [{group: "", kind: Service, name: <root>, port}]` |
//! | backends | `backendRefs: [{group: "", kind: Service, name, port, weight}]`, relative weights (zero written out; apportioned when above 1,000,000) |
//! | `matches` (A/B) | one rule per chunk of `HTTPRouteMatch`es (one per method), then a catch-all rule `matches: []` to the root Service |
//! | `pathRegex` | `Exact` for exact paths, `PathPrefix /` for `/` and `.*`, `RegularExpression` `<escaped prefix>.*` for other prefixes (Gateway API prefixes match whole segments), `(?:<regex>).*` otherwise ([`mod@matches`]) |
//! | `headers` | `Exact`, otherwise `RegularExpression` `^(?:<regex>)$` |
//! | UDP ports | nothing (`NotSupported`): no mesh implements UDPRoute for Services |
//! | TrafficTarget | nothing (`NotSupported`): GAMMA has no access policy; use `--mesh istio` or `--mesh linkerd` |
//!
//! Routes over the schema's limits (16 rules, 16 backendRefs, 64 matches per rule, 128 per
//! route, 16 headers per match) are not written at all — the port stays on its root Service —
//! and reported `NotExpressible`, rather than truncated.
//!
//! # Conflicts
//!
//! On Istio, an HTTPRoute attached to a Service and a VirtualService for the same host conflict:
//! Istio does not merge them and one silently wins. The operator detects VirtualServices for a
//! root Service this backend routes and reports them as `Conflict`; use one routing API per
//! host. Likewise, on Linkerd a ServiceProfile for the Service overrides its HTTPRoutes.
#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod claims;
mod evaluator;
pub mod matches;
mod options;
mod routing;
pub mod selection;

pub use claims::{service_parent_claims, virtual_service_claims};
pub use evaluator::{GATEWAY_ROUTES, GammaEvaluator, RouteGroups, route_request};
pub use options::{
    GATEWAY_GROUP, GammaOptions, HttpRouteApi, HttpRouteVersion, MAX_WEIGHT, RouteLimits,
    TcpRouteSupport,
};
pub use routing::{RouteApis, bounded_weights, render_routes, route_name};

use smi_translate::keys::{SmiKind, SmiRef};
use smi_translate::model::Model;
use smi_translate::state::ClusterState;
use smi_translate::{Backend, BackendOutput, Finding, NativeKind};

/// The `gamma` backend: Gateway API routes attached to Services; no access control.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GammaBackend {
    /// What the installed Gateway API serves.
    pub options: GammaOptions,
}

impl GammaBackend {
    /// A backend with these options.
    pub fn new(options: GammaOptions) -> Self {
        GammaBackend { options }
    }

    fn route_apis(&self) -> RouteApis {
        RouteApis {
            http: self.options.http_route_api(),
            tcp: self.options.tcp_routes.api_version(),
        }
    }
}

impl Backend for GammaBackend {
    fn name(&self) -> &str {
        "gamma"
    }

    fn native_kinds(&self) -> Vec<NativeKind> {
        let http = self.options.http_route_api();
        let mut kinds = vec![NativeKind::new(
            http.group(),
            http.version(),
            "HTTPRoute",
            "httproutes",
        )];
        if let Some(tcp) = self.options.tcp_routes.api_version()
            && let Some((group, version)) = tcp.rsplit_once('/')
        {
            kinds.push(NativeKind::new(group, version, "TCPRoute", "tcproutes"));
        }
        kinds
    }

    /// On Istio, a VirtualService for a Service's host conflicts with routes attached to it.
    fn claim_kinds(&self) -> Vec<NativeKind> {
        vec![NativeKind::new(
            "networking.istio.io",
            "v1",
            "VirtualService",
            "virtualservices",
        )]
    }

    /// Routes claim their parent Services' hosts; mesh-bound VirtualServices their hosts.
    fn claims(
        &self,
        kind: &NativeKind,
        object: &serde_json::Value,
        cluster_domain: &str,
    ) -> Vec<String> {
        match kind.kind.as_str() {
            "VirtualService" => virtual_service_claims(object, cluster_domain),
            _ => service_parent_claims(object, cluster_domain),
        }
    }

    fn render(&self, model: &Model, _state: &ClusterState) -> BackendOutput {
        let mut out = render_routes(model, &self.route_apis());
        out.findings.extend(access_not_supported(model));
        out
    }
}

/// A `NotSupported` finding for every accepted TrafficTarget, and for every traffic spec used
/// by TrafficTargets only: GAMMA routes only.
pub fn access_not_supported(model: &Model) -> Vec<Finding> {
    let routed: Vec<&SmiRef> = model.routes.iter().flat_map(|r| &r.sources).collect();
    let mut objects: Vec<&SmiRef> = model
        .access
        .iter()
        .flat_map(|d| &d.sources)
        .filter(|s| !routed.contains(s))
        .collect();
    objects.sort();
    objects.dedup();
    objects
        .into_iter()
        .map(|object| Finding {
            object: object.clone(),
            reason: "NotSupported".to_string(),
            message: if object.kind == SmiKind::TrafficTarget {
                "the Gateway API for service meshes (GAMMA) has no access policy, so `--mesh gamma` only routes: nothing is allowed or denied; use `--mesh istio` or `--mesh linkerd` to enforce TrafficTargets"
            } else {
                "used by TrafficTargets only, which `--mesh gamma` does not enforce (GAMMA has no access policy)"
            }
            .to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_kinds_follow_the_options() {
        let kinds = |options| {
            GammaBackend::new(options)
                .native_kinds()
                .iter()
                .map(NativeKind::api_version)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            kinds(GammaOptions::default()),
            vec!["gateway.networking.k8s.io/v1"]
        );
        assert_eq!(
            kinds(GammaOptions::new(
                HttpRouteVersion::V1beta1,
                TcpRouteSupport::V1alpha2
            )),
            vec![
                "gateway.networking.k8s.io/v1beta1",
                "gateway.networking.k8s.io/v1alpha2"
            ]
        );
    }
}

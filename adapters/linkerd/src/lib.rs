//! The Linkerd 2 backend of smi-bridge (`--mesh linkerd`): TrafficSplits as Gateway API routes
//! (or ServiceProfiles, as the deprecated linkerd-smi extension wrote them) and TrafficTargets
//! as Linkerd authorization policy.
//!
//! # Resources per Linkerd release
//!
//! [`LinkerdOptions::for_release`] picks these; each can be set on its own.
//!
//! | Linkerd | TrafficSplit (routing mode) | Server | HTTPRoute on Servers | AuthorizationPolicy, MeshTLSAuthentication, NetworkAuthentication |
//! |---|---|---|---|---|
//! | ≤ 2.11 | `linkerd.io/v1alpha2` ServiceProfile (`serviceprofile`; 2.10's profile validator rejects profiles without routes) | — | — | — (TrafficTargets `NotSupported`) |
//! | 2.12 | ServiceProfile | `policy.linkerd.io/v1beta1` | `policy.linkerd.io/v1beta1` | `policy.linkerd.io/v1alpha1` |
//! | 2.13 | `policy.linkerd.io/v1beta2` HTTPRoute with backendRefs (`httproute`) | `v1beta1` | `v1beta2` | `v1alpha1` |
//! | 2.14 | `gateway.networking.k8s.io/v1beta1` HTTPRoute (`httproute`) | `v1beta1` | `v1beta3` | `v1alpha1` |
//! | 2.15 | `gateway.networking.k8s.io/v1beta1` HTTPRoute | `v1beta2` | `v1beta3` | `v1alpha1` |
//! | 2.16 – 2.17 | `gateway.networking.k8s.io/v1beta1` HTTPRoute | `v1beta3` | `v1beta3` | `v1alpha1` |
//! | ≥ 2.18 (default) | `gateway.networking.k8s.io/v1` HTTPRoute | `v1beta3` | `v1beta3` | `v1alpha1` |
//!
//! TCP ports of a split need Gateway API TCPRoute (`v1alpha2` in the experimental channel,
//! `v1` from Gateway API v1.6; read by Linkerd's policy controller from 2.17 — unverified):
//! off by default ([`LinkerdOptions::tcp_routes`]), which reports those ports `NotSupported`.
//! UDP is not proxied by Linkerd: UDP splits and UDPRoute rules are `NotSupported`.
//!
//! # Routing
//!
//! Mode `httproute` writes the routes of [`smi_bridge_gamma`] (see its mapping). A ServiceProfile
//! for a Service overrides its HTTPRoutes (Linkerd ≥ 2.13), so the operator reports a
//! ServiceProfile it does not own on a root Service as `Conflict` in this mode. Mode
//! `serviceprofile` is described in [`service_profile`].
//!
//! # Access
//!
//! See [`authorization`]: Servers per pod set and pod port (deny by default), a
//! MeshTLSAuthentication per TrafficTarget, AuthorizationPolicies on Servers (TCP rules) and on
//! policy HTTPRoutes (HTTPRouteGroup rules), probe routes. A Server's `podSelector` excludes
//! other workloads whose pods carry the same labels and more (`DoesNotExist`); pods with
//! exactly another identity's labels cannot be told apart: `AmbiguousSelector`, no Server.
//! Overlapping Servers are not caught by the CRDs: [`validate`] checks them.
//!
//! Limits: ports the pods do not declare (and no Service or rule names) get no Server and keep
//! Linkerd's default policy; kubelet probes on a port with HTTP rules pass on the pods' own HTTP
//! probe paths (and any [`LinkerdOptions::probe_paths`]).
#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod authorization;
mod coverage;
mod evaluator;
mod options;
mod servers;
pub mod service_profile;
pub mod validate;

pub use evaluator::LinkerdEvaluator;
pub use options::{
    ClientIdentities, LATEST_RELEASE, LinkerdOptions, POLICY_GROUP, POLICY_ROUTE_LIMITS,
    PolicyApis, PolicyRouteVersion, Routing, ServerVersion,
};

use smi_bridge_gamma::service_parent_claims;
use smi_bridge_gamma::{RouteApis, render_routes};
use smi_translate::host_claim;
use smi_translate::model::Model;
use smi_translate::state::ClusterState;
use smi_translate::{Backend, BackendOutput, NativeKind};

/// The `linkerd` backend.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkerdBackend {
    /// Resources, versions and identities written.
    pub options: LinkerdOptions,
}

impl LinkerdBackend {
    /// A backend with these options.
    pub fn new(options: LinkerdOptions) -> Self {
        LinkerdBackend { options }
    }
}

fn kind(api_version: &str, kind: &str, plural: &str) -> NativeKind {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    NativeKind::new(group, version, kind, plural)
}

impl Backend for LinkerdBackend {
    fn name(&self) -> &str {
        "linkerd"
    }

    fn native_kinds(&self) -> Vec<NativeKind> {
        let mut kinds = Vec::new();
        match self.options.routing.http_route_api() {
            Some(api) => {
                kinds.push(kind(api.api_version, "HTTPRoute", "httproutes"));
                if let Some(tcp) = self.options.tcp_routes.api_version() {
                    kinds.push(kind(tcp, "TCPRoute", "tcproutes"));
                }
            }
            None => kinds.push(kind(
                service_profile::SERVICE_PROFILE_API,
                "ServiceProfile",
                "serviceprofiles",
            )),
        }
        if let Some(policy) = self.options.policy {
            kinds.push(kind(policy.server.api_version(), "Server", "servers"));
            kinds.push(kind(
                policy.http_route.api_version(),
                "HTTPRoute",
                "httproutes",
            ));
            for (k, plural) in [
                ("AuthorizationPolicy", "authorizationpolicies"),
                ("MeshTLSAuthentication", "meshtlsauthentications"),
                ("NetworkAuthentication", "networkauthentications"),
            ] {
                kinds.push(kind(authorization::AUTHN_API, k, plural));
            }
        }
        kinds.sort();
        kinds.dedup();
        kinds
    }

    /// A ServiceProfile for a Service overrides its HTTPRoutes (Linkerd ≥ 2.13), so in the
    /// route modes a foreign ServiceProfile on a root is a conflict.
    fn claim_kinds(&self) -> Vec<NativeKind> {
        match self.options.routing {
            Routing::ServiceProfile => Vec::new(),
            _ => vec![kind(
                service_profile::SERVICE_PROFILE_API,
                "ServiceProfile",
                "serviceprofiles",
            )],
        }
    }

    /// ServiceProfiles claim the host they are named after; routes their parent Services'.
    fn claims(
        &self,
        kind: &NativeKind,
        object: &serde_json::Value,
        cluster_domain: &str,
    ) -> Vec<String> {
        match kind.kind.as_str() {
            "ServiceProfile" => object["metadata"]["name"]
                .as_str()
                .map(|name| vec![host_claim(name)])
                .unwrap_or_default(),
            _ => service_parent_claims(object, cluster_domain),
        }
    }

    fn render(&self, model: &Model, state: &ClusterState) -> BackendOutput {
        let mut out = match self.options.routing.http_route_api() {
            Some(http) => render_routes(
                model,
                &RouteApis {
                    http,
                    tcp: self.options.tcp_routes.api_version(),
                },
            ),
            None => service_profile::render_profiles(model, state),
        };
        let access = authorization::render_access(model, state, &self.options);
        out.objects.extend(access.objects);
        out.findings.extend(access.findings);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_profiles_and_routes_claim_their_hosts() {
        let backend = LinkerdBackend::default();
        let claim_kinds = backend.claim_kinds();
        assert_eq!(claim_kinds.len(), 1);
        let profile = serde_json::json!({"metadata": {"name": "web.shop.svc.cluster.local", "namespace": "shop"}});
        assert_eq!(
            backend.claims(&claim_kinds[0], &profile, "cluster.local"),
            vec!["host:web.shop.svc.cluster.local"]
        );
        let route = serde_json::json!({"metadata": {"namespace": "shop"},
            "spec": {"parentRefs": [{"group": "", "kind": "Service", "name": "web", "port": 80}]}});
        let http_route = kind("gateway.networking.k8s.io/v1", "HTTPRoute", "httproutes");
        assert_eq!(
            backend.claims(&http_route, &route, "cluster.local"),
            vec!["host:web.shop.svc.cluster.local"]
        );
        // In ServiceProfile mode a ServiceProfile is native: nothing extra to watch.
        let profiles = LinkerdOptions {
            routing: Routing::ServiceProfile,
            ..LinkerdOptions::default()
        };
        assert!(LinkerdBackend::new(profiles).claim_kinds().is_empty());
    }

    fn kinds(options: LinkerdOptions) -> Vec<String> {
        LinkerdBackend::new(options)
            .native_kinds()
            .iter()
            .map(|k| format!("{} {}", k.api_version(), k.kind))
            .collect()
    }

    #[test]
    fn native_kinds_follow_the_release() {
        assert_eq!(
            kinds(LinkerdOptions::default()),
            [
                "gateway.networking.k8s.io/v1 HTTPRoute",
                "policy.linkerd.io/v1alpha1 AuthorizationPolicy",
                "policy.linkerd.io/v1alpha1 MeshTLSAuthentication",
                "policy.linkerd.io/v1alpha1 NetworkAuthentication",
                "policy.linkerd.io/v1beta3 HTTPRoute",
                "policy.linkerd.io/v1beta3 Server",
            ]
        );
        let r13 = kinds(LinkerdOptions::for_release(13));
        assert_eq!(
            r13.iter()
                .filter(|k| k.ends_with(" HTTPRoute"))
                .collect::<Vec<_>>(),
            ["policy.linkerd.io/v1beta2 HTTPRoute"]
        );
        assert_eq!(
            kinds(LinkerdOptions::for_release(11)),
            ["linkerd.io/v1alpha2 ServiceProfile"]
        );
    }
}

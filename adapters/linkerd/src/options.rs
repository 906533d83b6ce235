//! Which Linkerd resources (and versions) the backend writes, and how it names clients.

use smi_bridge_gamma::{HttpRouteApi, HttpRouteVersion, RouteLimits, TcpRouteSupport};

/// The newest Linkerd 2.x minor release the defaults target.
pub const LATEST_RELEASE: u32 = 20;

/// `policy.linkerd.io`.
pub const POLICY_GROUP: &str = "policy.linkerd.io";

/// Options of the `linkerd` backend. [`Default`] targets the newest release
/// ([`LinkerdOptions::for_release`] with [`LATEST_RELEASE`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkerdOptions {
    /// How TrafficSplits are written (default: Gateway API `v1` HTTPRoutes).
    pub routing: Routing,
    /// Whether the cluster serves Gateway API TCPRoute (routing modes with HTTPRoutes only;
    /// default [`TcpRouteSupport::NotServed`]). Without it, splits of TCP ports are reported.
    pub tcp_routes: TcpRouteSupport,
    /// The policy resources written for TrafficTargets; `None` before Linkerd 2.12, which has
    /// no AuthorizationPolicy: TrafficTargets are then reported `NotSupported`.
    pub policy: Option<PolicyApis>,
    /// How MeshTLSAuthentications name the sources (default [`ClientIdentities::ServiceAccountRefs`]).
    pub client_identities: ClientIdentities,
    /// Extra paths kubelet probes on (HTTP GET), besides the HTTP probes the pods declare. A
    /// Server with HTTPRoutes loses Linkerd's implicit probe authorisation, so the pods' own
    /// probe paths on its port, plus these, get a route authorised for [`Self::probe_networks`].
    /// Default empty.
    pub probe_paths: Vec<String>,
    /// The networks kubelet probes come from (default `0.0.0.0/0` and `::/0`, Linkerd's own
    /// default `probeNetworks`).
    pub probe_networks: Vec<String>,
}

impl Default for LinkerdOptions {
    fn default() -> Self {
        LinkerdOptions::for_release(LATEST_RELEASE)
    }
}

impl LinkerdOptions {
    /// The newest resources Linkerd `2.<minor>` serves (see the table in the crate docs), with
    /// ServiceAccount references for clients, no TCPRoute and no probe paths.
    pub fn for_release(minor: u32) -> Self {
        let routing = match minor {
            18.. => Routing::HttpRoute(HttpRouteVersion::V1),
            14..=17 => Routing::HttpRoute(HttpRouteVersion::V1beta1),
            13 => Routing::PolicyHttpRoute,
            _ => Routing::ServiceProfile,
        };
        let policy = (minor >= 12).then_some(PolicyApis {
            server: match minor {
                16.. => ServerVersion::V1beta3,
                15 => ServerVersion::V1beta2,
                _ => ServerVersion::V1beta1,
            },
            http_route: match minor {
                14.. => PolicyRouteVersion::V1beta3,
                13 => PolicyRouteVersion::V1beta2,
                _ => PolicyRouteVersion::V1beta1,
            },
        });
        LinkerdOptions {
            routing,
            tcp_routes: TcpRouteSupport::NotServed,
            policy,
            client_identities: ClientIdentities::ServiceAccountRefs,
            probe_paths: Vec::new(),
            probe_networks: vec!["0.0.0.0/0".to_string(), "::/0".to_string()],
        }
    }
}

/// How TrafficSplits are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Routing {
    /// Gateway API HTTPRoutes attached to the root Service (Linkerd ≥ 2.14; `v1` from 2.18).
    HttpRoute(HttpRouteVersion),
    /// `policy.linkerd.io/v1beta2` HTTPRoutes with backendRefs (Linkerd 2.13).
    PolicyHttpRoute,
    /// ServiceProfile `dstOverrides`, as linkerd-smi wrote them (every Linkerd 2.x; A/B
    /// `matches` cannot be expressed).
    ServiceProfile,
}

impl Routing {
    /// The HTTPRoute resource of a route-based mode.
    pub fn http_route_api(self) -> Option<HttpRouteApi> {
        match self {
            Routing::HttpRoute(version) => Some(version.api()),
            Routing::PolicyHttpRoute => Some(HttpRouteApi {
                api_version: "policy.linkerd.io/v1beta2",
                limits: POLICY_ROUTE_LIMITS,
            }),
            Routing::ServiceProfile => None,
        }
    }
}

/// Linkerd's `policy.linkerd.io` HTTPRoute: as Gateway API's, but at most 8 matches per rule.
pub const POLICY_ROUTE_LIMITS: RouteLimits = RouteLimits {
    matches_per_rule: 8,
    ..RouteLimits::GATEWAY
};

/// Versions of the policy resources written for TrafficTargets. AuthorizationPolicy,
/// MeshTLSAuthentication and NetworkAuthentication are `v1alpha1` in every release.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PolicyApis {
    /// The Server version.
    pub server: ServerVersion,
    /// The version of the HTTPRoutes attached to Servers.
    pub http_route: PolicyRouteVersion,
}

/// `policy.linkerd.io` Server versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerVersion {
    /// Linkerd 2.11 – 2.14.
    V1beta1,
    /// Linkerd 2.15.
    V1beta2,
    /// Linkerd ≥ 2.16.
    V1beta3,
}

impl ServerVersion {
    /// `group/version`.
    pub fn api_version(self) -> &'static str {
        match self {
            ServerVersion::V1beta1 => "policy.linkerd.io/v1beta1",
            ServerVersion::V1beta2 => "policy.linkerd.io/v1beta2",
            ServerVersion::V1beta3 => "policy.linkerd.io/v1beta3",
        }
    }
}

/// `policy.linkerd.io` HTTPRoute versions (for routes attached to Servers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyRouteVersion {
    /// Linkerd 2.12.
    V1beta1,
    /// Linkerd 2.13.
    V1beta2,
    /// Linkerd ≥ 2.14.
    V1beta3,
}

impl PolicyRouteVersion {
    /// `group/version`.
    pub fn api_version(self) -> &'static str {
        match self {
            PolicyRouteVersion::V1beta1 => "policy.linkerd.io/v1beta1",
            PolicyRouteVersion::V1beta2 => "policy.linkerd.io/v1beta2",
            PolicyRouteVersion::V1beta3 => "policy.linkerd.io/v1beta3",
        }
    }
}

/// How a MeshTLSAuthentication names the source identities.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientIdentities {
    /// `identityRefs` of kind ServiceAccount (the policy controller derives the identities).
    ServiceAccountRefs,
    /// `identities` strings `<sa>.<ns>.serviceaccount.identity.<control plane ns>.<trust domain>`.
    IdentityStrings {
        /// The namespace of the Linkerd control plane (`linkerd`).
        control_plane_namespace: String,
        /// The trust domain (`cluster.local`).
        trust_domain: String,
    },
}

impl ClientIdentities {
    /// Identity strings with Linkerd's defaults (`linkerd`, `cluster.local`).
    pub fn default_strings() -> Self {
        ClientIdentities::IdentityStrings {
            control_plane_namespace: "linkerd".to_string(),
            trust_domain: "cluster.local".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_pick_the_newest_resources_they_serve() {
        let latest = LinkerdOptions::default();
        assert_eq!(latest.routing, Routing::HttpRoute(HttpRouteVersion::V1));
        assert_eq!(
            latest.policy.map(|p| p.server),
            Some(ServerVersion::V1beta3)
        );
        assert_eq!(
            LinkerdOptions::for_release(17).routing,
            Routing::HttpRoute(HttpRouteVersion::V1beta1)
        );
        let r13 = LinkerdOptions::for_release(13);
        assert_eq!(r13.routing, Routing::PolicyHttpRoute);
        assert_eq!(
            r13.policy.map(|p| p.http_route),
            Some(PolicyRouteVersion::V1beta2)
        );
        assert_eq!(
            LinkerdOptions::for_release(15).policy.map(|p| p.server),
            Some(ServerVersion::V1beta2)
        );
        assert_eq!(
            LinkerdOptions::for_release(12).routing,
            Routing::ServiceProfile
        );
        assert_eq!(LinkerdOptions::for_release(11).policy, None);
        assert_eq!(
            Routing::PolicyHttpRoute
                .http_route_api()
                .map(|a| a.limits.matches_per_rule),
            Some(8)
        );
    }
}

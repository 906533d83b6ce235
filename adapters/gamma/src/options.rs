//! What the installed Gateway API serves, and the limits of the route resources written.

/// Gateway API group.
pub const GATEWAY_GROUP: &str = "gateway.networking.k8s.io";

/// Options of the `gamma` backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GammaOptions {
    /// The HTTPRoute version written (default [`HttpRouteVersion::V1`]).
    pub http_route_version: HttpRouteVersion,
    /// Whether, and at which version, the cluster serves TCPRoute (default
    /// [`TcpRouteSupport::NotServed`]: the standard channel before Gateway API v1.6 has none).
    pub tcp_routes: TcpRouteSupport,
}

impl Default for GammaOptions {
    fn default() -> Self {
        GammaOptions::new(HttpRouteVersion::V1, TcpRouteSupport::NotServed)
    }
}

impl GammaOptions {
    /// Options for an HTTPRoute version and a TCPRoute support level.
    pub fn new(http_route_version: HttpRouteVersion, tcp_routes: TcpRouteSupport) -> Self {
        GammaOptions {
            http_route_version,
            tcp_routes,
        }
    }

    /// The HTTPRoute resource these options write.
    pub fn http_route_api(&self) -> HttpRouteApi {
        self.http_route_version.api()
    }
}

/// The `gateway.networking.k8s.io` HTTPRoute version written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpRouteVersion {
    /// `v1`: Gateway API ≥ v1.0 (Istio ≥ 1.22, Linkerd ≥ 2.18).
    V1,
    /// `v1beta1`: Gateway API v0.6 – v1.x (Linkerd 2.14 – 2.17).
    V1beta1,
}

impl HttpRouteVersion {
    /// The HTTPRoute resource of this version.
    pub fn api(self) -> HttpRouteApi {
        let api_version = match self {
            HttpRouteVersion::V1 => "gateway.networking.k8s.io/v1",
            HttpRouteVersion::V1beta1 => "gateway.networking.k8s.io/v1beta1",
        };
        HttpRouteApi {
            api_version,
            limits: RouteLimits::GATEWAY,
        }
    }
}

/// Whether the cluster serves TCPRoute, and which version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpRouteSupport {
    /// Not served: splits of TCP ports are reported `NotSupported`.
    NotServed,
    /// `v1alpha2`, the experimental channel (Gateway API < v1.6).
    V1alpha2,
    /// `v1`, the standard channel from Gateway API v1.6.
    V1,
}

impl TcpRouteSupport {
    /// The TCPRoute `apiVersion`, if served.
    pub fn api_version(self) -> Option<&'static str> {
        match self {
            TcpRouteSupport::NotServed => None,
            TcpRouteSupport::V1alpha2 => Some("gateway.networking.k8s.io/v1alpha2"),
            TcpRouteSupport::V1 => Some("gateway.networking.k8s.io/v1"),
        }
    }
}

/// An HTTPRoute resource: Gateway API's, or a mesh's look-alike (Linkerd's
/// `policy.linkerd.io` HTTPRoute has the same fields with tighter limits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpRouteApi {
    /// `group/version`.
    pub api_version: &'static str,
    /// The schema's limits.
    pub limits: RouteLimits,
}

impl HttpRouteApi {
    /// The API group.
    pub fn group(&self) -> &'static str {
        self.api_version
            .rsplit_once('/')
            .map(|(g, _)| g)
            .unwrap_or(self.api_version)
    }

    /// The version.
    pub fn version(&self) -> &'static str {
        self.api_version
            .rsplit_once('/')
            .map(|(_, v)| v)
            .unwrap_or(self.api_version)
    }
}

/// Size limits of a route resource's schema: a route over them is rejected by the API server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteLimits {
    /// `spec.rules` items.
    pub rules: usize,
    /// `backendRefs` items per rule.
    pub backend_refs: usize,
    /// `matches` items per rule.
    pub matches_per_rule: usize,
    /// `matches` items over all rules of a route.
    pub matches_per_route: usize,
    /// `headers` items per match.
    pub headers_per_match: usize,
}

impl RouteLimits {
    /// Gateway API HTTPRoute (v1, v1beta1): 16 rules, 16 backendRefs, 64 matches per rule, at
    /// most 128 matches per route (CEL), 16 headers per match.
    pub const GATEWAY: RouteLimits = RouteLimits {
        rules: 16,
        backend_refs: 16,
        matches_per_rule: 64,
        matches_per_route: 128,
        headers_per_match: 16,
    };

    /// The number of rules `matches` need, or `None` when they do not fit in one route that also
    /// keeps `reserved_rules` rules for other purposes (such as a catch-all).
    pub fn rules_for(&self, matches: usize, reserved_rules: usize) -> Option<usize> {
        let rules = matches.div_ceil(self.matches_per_rule);
        (matches <= self.matches_per_route && rules + reserved_rules <= self.rules).then_some(rules)
    }
}

/// Largest weight Gateway API accepts on a backendRef.
pub const MAX_WEIGHT: u64 = 1_000_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_budget_counts_the_reserved_rules() {
        let limits = RouteLimits::GATEWAY;
        assert_eq!(limits.rules_for(1, 1), Some(1));
        assert_eq!(limits.rules_for(65, 1), Some(2));
        assert_eq!(limits.rules_for(128, 1), Some(2));
        assert_eq!(limits.rules_for(129, 1), None);
        let tight = RouteLimits {
            matches_per_rule: 8,
            ..limits
        };
        assert_eq!(tight.rules_for(120, 1), Some(15));
        assert_eq!(tight.rules_for(121, 1), None);
        assert_eq!(tight.rules_for(128, 0), Some(16));
    }

    #[test]
    fn api_versions() {
        assert_eq!(HttpRouteVersion::V1beta1.api().version(), "v1beta1");
        assert_eq!(HttpRouteVersion::V1.api().group(), GATEWAY_GROUP);
        assert_eq!(TcpRouteSupport::NotServed.api_version(), None);
        assert_eq!(
            TcpRouteSupport::V1alpha2.api_version(),
            Some("gateway.networking.k8s.io/v1alpha2")
        );
    }
}

//! Where a mesh sends a request to a Service, given the routes attached to it.

use std::collections::BTreeMap;

use smi_translate::NativeObject;
use smi_translate::oracle::{Evaluator, Outcome, Request};
use smi_translate::state::ClusterState;

use crate::options::GATEWAY_GROUP;
use crate::selection::{
    Precedence, WeightedService, attached_routes, best_rule, rule_backends, service_parent, shares,
};

/// The API groups whose routes a mesh reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteGroups<'a> {
    /// Groups of HTTPRoute resources (Gateway API's, a mesh's own look-alike).
    pub http: &'a [&'a str],
    /// Groups of TCPRoute resources.
    pub tcp: &'a [&'a str],
}

/// Gateway API's routes only.
pub const GATEWAY_ROUTES: RouteGroups<'static> = RouteGroups {
    http: &[GATEWAY_GROUP],
    tcp: &[GATEWAY_GROUP],
};

/// The Services (and ports) that receive a request to `request.to`, with their shares.
///
/// HTTP requests follow the HTTPRoutes attached to the Service port, then its TCPRoutes; TCP
/// connections its TCPRoutes (the first rule: TCPRoute has no matches); UDP datagrams and ports
/// without routes go to the Service itself. A request no rule matches, or a rule whose weights
/// sum to zero, is rejected: the result is empty.
pub fn route_request(
    objects: &[NativeObject],
    request: &Request,
    groups: RouteGroups<'_>,
    precedence: Precedence,
) -> Result<Vec<(WeightedService, f64)>, String> {
    let itself = vec![(
        WeightedService {
            service: request.to.clone(),
            port: request.port,
            weight: 1,
        },
        1.0,
    )];
    if request.method == "udp" {
        return Ok(itself);
    }
    let parent = service_parent(&request.to, request.port);
    if request.is_http() {
        let http = attached_routes(objects, "HTTPRoute", groups.http, &parent);
        if !http.is_empty() {
            return match best_rule(&http, request, precedence)? {
                Some((route, rule)) => Ok(shares(&rule_backends(rule, &route.namespace)?)),
                None => Ok(Vec::new()),
            };
        }
    }
    let tcp = attached_routes(objects, "TCPRoute", groups.tcp, &parent);
    let Some(route) = tcp.first() else {
        return Ok(itself);
    };
    let rule = route
        .spec()
        .and_then(|s| s.get("rules"))
        .and_then(|r| r.get(0))
        .ok_or_else(|| format!("TCPRoute {}/{} has no rule", route.namespace, route.name))?;
    Ok(shares(&rule_backends(rule, &route.namespace)?))
}

/// Interprets Gateway API routes attached to Services as a GAMMA implementation does: routing
/// only — every delivery counts as allowed, since the `gamma` backend expresses no access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GammaEvaluator {
    /// How matching rules rank.
    pub precedence: Precedence,
}

impl Default for GammaEvaluator {
    fn default() -> Self {
        GammaEvaluator {
            precedence: Precedence::GatewayApi,
        }
    }
}

impl Evaluator for GammaEvaluator {
    fn evaluate(
        &self,
        _state: &ClusterState,
        objects: &[NativeObject],
        request: &Request,
    ) -> Result<Outcome, String> {
        let mut deliveries: BTreeMap<String, (f64, bool)> = BTreeMap::new();
        for (backend, share) in route_request(objects, request, GATEWAY_ROUTES, self.precedence)? {
            deliveries
                .entry(backend.service.name)
                .or_insert((0.0, true))
                .0 += share;
        }
        Ok(Outcome { deliveries })
    }
}

//! TrafficSplits as routes attached to their root Service (GAMMA).
//!
//! One route per root Service port, named `<split>-<port>`: a backendRef names one port, and
//! Gateway API forbids two parentRefs to the same Service without distinct `sectionName`s, so a
//! multi-port root cannot share one route. HTTP-family ports (and undeclared ones) get an
//! HTTPRoute, TCP ports a TCPRoute when the cluster serves it, UDP ports nothing.
//!
//! A/B splits (`matches`) get one rule per chunk of route matches (all with the weighted
//! backends), then a **catch-all rule with `matches: []`** back to the root Service: once a route
//! is attached to a Service, requests no rule matches are rejected. A rule without matches
//! matches every request (like `PathPrefix /`) and ranks after every rule with matches in both
//! Istio (which sorts rules without matches last) and Linkerd (which ranks by match length, so
//! the shortest possible match loses, and ties go to the earlier rule). A `PathPrefix /` catch-all
//! would outrank every `RegularExpression` rule in Istio. TCP and UDP ports of an A/B split need
//! no route: only HTTP requests can match, so their traffic stays on the root, as SMI says.

use serde_json::{Value, json};
use smi_translate::model::{Model, PortProtocol, RoutedPort, ServiceRoutes, apportion};
use smi_translate::native::bounded_name;
use smi_translate::{BackendOutput, Finding, NativeObject};

use crate::matches::{match_everything, route_matches};
use crate::options::{HttpRouteApi, MAX_WEIGHT, RouteLimits};

/// The route resources a mesh writes splits as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteApis {
    /// The HTTPRoute resource.
    pub http: HttpRouteApi,
    /// The TCPRoute `apiVersion`, if the cluster serves TCPRoute.
    pub tcp: Option<&'static str>,
}

/// TCPRoute (v1alpha2 and v1): 16 rules, 16 backendRefs per rule.
const TCP_ROUTE_BACKEND_REFS: usize = 16;

/// Routes for every split of the model, and what could not be expressed.
pub fn render_routes(model: &Model, apis: &RouteApis) -> BackendOutput {
    let mut out = BackendOutput::default();
    for routes in &model.routes {
        for port in &routes.ports {
            match port_route(routes, port, apis) {
                Ok(Some(object)) => out.objects.push(object),
                Ok(None) => {}
                Err(Unrouted { reason, message }) => out.findings.push(Finding {
                    object: routes.split.clone(),
                    reason: reason.to_string(),
                    message,
                }),
            }
        }
    }
    out
}

/// Why a port is not split.
struct Unrouted {
    reason: &'static str,
    message: String,
}

impl Unrouted {
    fn not_supported(message: String) -> Self {
        Unrouted {
            reason: "NotSupported",
            message,
        }
    }

    fn not_expressible(message: String) -> Self {
        Unrouted {
            reason: "NotExpressible",
            message,
        }
    }
}

/// The route of one port, `None` when the port needs none, or why it cannot be written.
fn port_route(
    routes: &ServiceRoutes,
    port: &RoutedPort,
    apis: &RouteApis,
) -> Result<Option<NativeObject>, Unrouted> {
    let ab = !routes.matches.is_empty();
    match port.protocol {
        PortProtocol::Udp if ab => Ok(None),
        PortProtocol::Udp => Err(Unrouted::not_supported(format!(
            "UDP port {} of Service `{}` is not split: no mesh implements Gateway API UDPRoute for Services; its traffic stays on the root Service",
            port.port, routes.root.name
        ))),
        PortProtocol::Tcp if ab => Ok(None),
        PortProtocol::Tcp => match apis.tcp {
            Some(api_version) => tcp_route(routes, port, api_version)
                .map(Some)
                .map_err(Unrouted::not_expressible),
            None => Err(Unrouted::not_supported(format!(
                "TCP port {} of Service `{}` is not split: it needs a TCPRoute, which this cluster's Gateway API does not serve (experimental channel before v1.6; enable it in the backend options once installed); its traffic stays on the root Service",
                port.port, routes.root.name
            ))),
        },
        _ => http_route(routes, port, &apis.http)
            .map(Some)
            .map_err(Unrouted::not_expressible),
    }
}

/// The name of the route of one port of a split.
pub fn route_name(routes: &ServiceRoutes, port: u16) -> String {
    bounded_name(&format!("{}-{}", routes.split.key.name, port), 253)
}

fn parent_ref(routes: &ServiceRoutes, port: u16) -> Value {
    json!({"group": "", "kind": "Service", "name": routes.root.name, "port": port})
}

/// Relative weights within the largest weight Gateway API accepts: unchanged when they fit,
/// otherwise apportioned to sum to that maximum.
pub fn bounded_weights(weights: &[u64]) -> Vec<u64> {
    if weights.iter().all(|w| *w <= MAX_WEIGHT) {
        weights.to_vec()
    } else {
        apportion(weights, MAX_WEIGHT)
    }
}

/// The weighted backendRefs of a port (zero weights written out: they are meaningful).
fn backend_refs(port: &RoutedPort, limit: usize, root: &str) -> Result<Vec<Value>, String> {
    if port.backends.len() > limit {
        return Err(format!(
            "port {} of Service `{root}` has {} backends; a route rule takes at most {limit}, so the port is not split",
            port.port,
            port.backends.len()
        ));
    }
    let weights = bounded_weights(&port.backends.iter().map(|b| b.weight).collect::<Vec<_>>());
    Ok(port
        .backends
        .iter()
        .zip(weights)
        .map(|(b, weight)| json!({"group": "", "kind": "Service", "name": b.service, "port": port.port, "weight": weight}))
        .collect())
}

fn route_object(
    api_version: &str,
    kind: &str,
    routes: &ServiceRoutes,
    port: u16,
    spec: Value,
) -> NativeObject {
    NativeObject::new(
        api_version,
        kind,
        &routes.root.namespace,
        route_name(routes, port),
        spec,
    )
    .with_sources(&routes.sources)
}

fn tcp_route(
    routes: &ServiceRoutes,
    port: &RoutedPort,
    api_version: &str,
) -> Result<NativeObject, String> {
    let backends = backend_refs(port, TCP_ROUTE_BACKEND_REFS, &routes.root.name)?;
    let spec = json!({"parentRefs": [parent_ref(routes, port.port)], "rules": [{"backendRefs": backends}]});
    Ok(route_object(
        api_version,
        "TCPRoute",
        routes,
        port.port,
        spec,
    ))
}

fn http_route(
    routes: &ServiceRoutes,
    port: &RoutedPort,
    api: &HttpRouteApi,
) -> Result<NativeObject, String> {
    let limits = &api.limits;
    let backends = backend_refs(port, limits.backend_refs, &routes.root.name)?;
    let rules = if routes.matches.is_empty() {
        vec![json!({"matches": [match_everything()], "backendRefs": backends})]
    } else {
        let matches = ab_matches(routes, limits)?;
        let Some(rule_count) = limits.rules_for(matches.len(), 1) else {
            return Err(format!(
                "the A/B matches of Service `{}` expand to {} route matches (one per method); a route takes at most {} ({} per rule, {} rules with the catch-all), so port {} is not split",
                routes.root.name,
                matches.len(),
                limits
                    .matches_per_route
                    .min(limits.matches_per_rule * (limits.rules - 1)),
                limits.matches_per_rule,
                limits.rules,
                port.port
            ));
        };
        let per_rule = matches.len().div_ceil(rule_count);
        let mut rules: Vec<Value> = matches
            .chunks(per_rule)
            .map(|chunk| json!({"matches": chunk, "backendRefs": backends}))
            .collect();
        rules.push(json!({
            "matches": [],
            "backendRefs": [{"group": "", "kind": "Service", "name": routes.root.name, "port": port.port}],
        }));
        rules
    };
    let spec = json!({"parentRefs": [parent_ref(routes, port.port)], "rules": rules});
    Ok(route_object(
        api.api_version,
        "HTTPRoute",
        routes,
        port.port,
        spec,
    ))
}

/// Every A/B match as route matches, duplicates removed.
fn ab_matches(routes: &ServiceRoutes, limits: &RouteLimits) -> Result<Vec<Value>, String> {
    let mut all: Vec<Value> = Vec::new();
    for m in &routes.matches {
        let expanded = route_matches(m, limits)
            .map_err(|e| format!("{e}, so Service `{}` is not split", routes.root.name))?;
        for value in expanded {
            if !all.contains(&value) {
                all.push(value);
            }
        }
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use smi_translate::model::{HttpMatch, WeightedBackend};
    use smi_translate::{ObjectKey, SmiKind, SmiRef};

    fn routes(ports: Vec<RoutedPort>, matches: Vec<HttpMatch>) -> ServiceRoutes {
        let split = SmiRef::new(SmiKind::TrafficSplit, "shop", "web");
        ServiceRoutes {
            root: ObjectKey::new("shop", "web"),
            split: split.clone(),
            sources: vec![split],
            ports,
            matches,
        }
    }

    fn port(port: u16, protocol: PortProtocol, weights: &[u64]) -> RoutedPort {
        RoutedPort {
            port,
            name: None,
            protocol,
            backends: weights
                .iter()
                .enumerate()
                .map(|(i, w)| WeightedBackend {
                    service: format!("web-v{}", i + 1),
                    weight: *w,
                })
                .collect(),
        }
    }

    fn any_match(name: &str, methods: Option<Vec<String>>) -> HttpMatch {
        HttpMatch {
            group: ObjectKey::new("shop", "g"),
            name: name.into(),
            path: None,
            methods,
            headers: vec![],
        }
    }

    fn apis(tcp: Option<&'static str>) -> RouteApis {
        RouteApis {
            http: crate::HttpRouteVersion::V1.api(),
            tcp,
        }
    }

    #[test]
    fn weights_above_the_maximum_are_apportioned() {
        assert_eq!(bounded_weights(&[0, 1_000_000]), vec![0, 1_000_000]);
        assert_eq!(
            bounded_weights(&[3_000_000, 1_000_000]),
            vec![750_000, 250_000]
        );
    }

    #[test]
    fn tcp_ports_need_tcproute_and_udp_ports_are_not_split() {
        let r = routes(
            vec![
                port(5432, PortProtocol::Tcp, &[1]),
                port(53, PortProtocol::Udp, &[1]),
            ],
            vec![],
        );
        let out = render_routes(
            &Model {
                routes: vec![r.clone()],
                ..Model::default()
            },
            &apis(None),
        );
        assert!(out.objects.is_empty());
        assert_eq!(out.findings.len(), 2);
        assert!(
            out.findings[0].message.contains("TCPRoute"),
            "{:?}",
            out.findings
        );
        let out = render_routes(
            &Model {
                routes: vec![r],
                ..Model::default()
            },
            &apis(Some("gateway.networking.k8s.io/v1alpha2")),
        );
        assert_eq!(out.objects.len(), 1);
        assert_eq!(out.objects[0].kind, "TCPRoute");
        assert_eq!(out.objects[0].name, "web-5432");
    }

    #[test]
    fn ab_ports_of_other_protocols_need_no_route() {
        let r = routes(
            vec![
                port(5432, PortProtocol::Tcp, &[1]),
                port(53, PortProtocol::Udp, &[1]),
            ],
            vec![any_match("m", None)],
        );
        let out = render_routes(
            &Model {
                routes: vec![r],
                ..Model::default()
            },
            &apis(None),
        );
        assert!(out.objects.is_empty() && out.findings.is_empty(), "{out:?}");
    }

    #[test]
    fn too_many_backends_or_matches_give_no_route() {
        let r = routes(vec![port(80, PortProtocol::Http, &[1; 17])], vec![]);
        let out = render_routes(
            &Model {
                routes: vec![r],
                ..Model::default()
            },
            &apis(None),
        );
        assert!(out.objects.is_empty());
        assert!(
            out.findings[0].message.contains("at most 16"),
            "{:?}",
            out.findings
        );
        let methods: Vec<String> = [
            "GET", "HEAD", "PUT", "POST", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
        ]
        .map(String::from)
        .to_vec();
        let matches: Vec<HttpMatch> = (0..15)
            .map(|i| HttpMatch {
                headers: vec![smi_translate::model::HeaderMatch {
                    name: "x".into(),
                    regex: format!("{i}"),
                    shape: smi_translate::model::ValueShape::Exact(format!("{i}")),
                }],
                ..any_match(&format!("m{i}"), Some(methods.clone()))
            })
            .collect();
        let r = routes(vec![port(80, PortProtocol::Http, &[1])], matches);
        let out = render_routes(
            &Model {
                routes: vec![r],
                ..Model::default()
            },
            &apis(None),
        );
        assert!(out.objects.is_empty());
        assert!(
            out.findings[0].message.contains("135 route matches"),
            "{:?}",
            out.findings
        );
    }

    #[test]
    fn ab_rules_are_chunked_and_end_with_a_catch_all() {
        let methods: Vec<String> = [
            "GET", "HEAD", "PUT", "POST", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
        ]
        .map(String::from)
        .to_vec();
        let matches: Vec<HttpMatch> = (0..8)
            .map(|i| HttpMatch {
                headers: vec![smi_translate::model::HeaderMatch {
                    name: "x".into(),
                    regex: format!("{i}"),
                    shape: smi_translate::model::ValueShape::Exact(format!("{i}")),
                }],
                ..any_match(&format!("m{i}"), Some(methods.clone()))
            })
            .collect();
        let r = routes(vec![port(80, PortProtocol::Http, &[0, 1])], matches);
        let out = render_routes(
            &Model {
                routes: vec![r],
                ..Model::default()
            },
            &apis(None),
        );
        let rules = out.objects[0].spec().unwrap()["rules"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(rules.len(), 3);
        assert_eq!(rules[0]["matches"].as_array().unwrap().len(), 36);
        assert_eq!(rules[2]["matches"], json!([]));
        assert_eq!(rules[2]["backendRefs"][0]["name"], "web");
        assert_eq!(rules[0]["backendRefs"][0]["weight"], 0);
    }
}

//! TrafficSplit → VirtualService: one per root host, because Istio does not merge several
//! VirtualServices for one host (the analyzer's IST0109).
//!
//! Per root Service port, in port order:
//! - HTTP ports (declared HTTP, HTTP/2 or gRPC, or undeclared and sniffed): with A/B matches, a
//!   route whose `match` list has one `HTTPMatchRequest` per match and method (Istio's `method`
//!   is a single value) to the weighted backends, then a catch-all to the root Service; without
//!   matches, one route to the weighted backends. Istio takes the first route that matches.
//!   A root port no backend shares gets a catch-all to the root Service.
//! - TCP ports (and undeclared ones, for connections that are not HTTP): a `tcp` route matching
//!   the port to the weighted backends, unless the split has matches (a TCP connection matches
//!   no HTTP match, so it stays on the root Service, as without a route).
//! - UDP ports: sidecars do not intercept UDP; reported `NotSupported`.
//!
//! Weights are integers summing to 100 (largest remainder; zero weights written), which every
//! Istio version accepts. Destinations are the backend Services' FQDNs on the root port number.
//! When the root Service has more than one HTTP port, every HTTP route also matches its `port`
//! (otherwise a route would apply to every HTTP port of the host). Through a gateway, `port` is
//! the gateway listener's port: gateway traffic is only routed where the two coincide.

use serde_json::{Map, Value, json};
use smi_translate::backend::BackendOutput;
use smi_translate::model::{
    HeaderMatch, HttpMatch, PathShape, PortProtocol, RoutedPort, ServiceRoutes, ValueShape,
};
use smi_translate::{ClusterState, Finding, Model, NativeObject, ObjectKey, SmiRef};

use crate::options::IstioOptions;
use crate::{finding, names, re2};

/// API group of VirtualService.
pub const GROUP: &str = "networking.istio.io";
/// The kind written.
pub const KIND: &str = "VirtualService";
/// The TrafficSplit annotation Flagger sets to bind the VirtualService to gateways: a JSON list
/// of gateway names (honoured; `mesh` is kept in the list so sidecars still route).
pub const GATEWAYS_ANNOTATION: &str = "VirtualService.v1alpha3.networking.istio.io/spec.gateways";
/// The reserved gateway name for every sidecar of the mesh.
pub const MESH_GATEWAY: &str = "mesh";

/// Renders a VirtualService for every root Service with routing.
pub fn render(
    model: &Model,
    state: &ClusterState,
    options: &IstioOptions,
    output: &mut BackendOutput,
) {
    for routes in &model.routes {
        if let Some(object) = virtual_service(model, state, options, routes, &mut output.findings) {
            output.objects.push(object);
        }
    }
}

/// A root Service port, as routing sees it.
struct RootPort<'a> {
    number: u16,
    protocol: PortProtocol,
    routed: Option<&'a RoutedPort>,
}

fn virtual_service(
    model: &Model,
    state: &ClusterState,
    options: &IstioOptions,
    routes: &ServiceRoutes,
    findings: &mut Vec<Finding>,
) -> Option<NativeObject> {
    let root_service = state.services.get(&routes.root)?;
    let split = &routes.split;
    let mut ports: Vec<RootPort<'_>> = root_service
        .ports
        .iter()
        .map(|port| {
            let own = port.declared_protocol();
            let routed = routes.ports.iter().find(|r| {
                r.port == port.port
                    && (r.protocol == PortProtocol::Udp) == (own == PortProtocol::Udp)
            });
            RootPort {
                number: port.port,
                protocol: routed.map_or(own, |r| r.protocol),
                routed,
            }
        })
        .collect();
    ports.sort_by_key(|p| p.number);
    let http_port_count = ports
        .iter()
        .filter(|p| p.protocol.is_http_routable())
        .count();
    let port_specific = http_port_count > 1;
    let requests = match_requests(split, &routes.matches, findings);
    let namespace = &routes.root.namespace;
    let root_host = model.fqdn(&routes.root);
    let mut http = Vec::new();
    let mut tcp = Vec::new();
    let mut routes_backends = false;
    for port in &ports {
        let number = port.number;
        let port_match = port_specific.then_some(number);
        let to_root = || {
            let route = json!([destination(&root_host, number, 100)]);
            http_route(format!("root-{number}"), port_match, route)
        };
        match port.routed {
            Some(_) if port.protocol == PortProtocol::Udp => findings.push(finding(
                split,
                "NotSupported",
                format!("port {number}/UDP is not routed: Istio sidecars do not intercept UDP"),
            )),
            _ if !port.protocol.is_http_routable() => {}
            None => http.push(to_root()),
            Some(routed) if routes.matches.is_empty() => {
                routes_backends = true;
                let route = weighted(model, namespace, routed);
                http.push(http_route(format!("backends-{number}"), port_match, route));
            }
            Some(routed) => {
                if !requests.is_empty() {
                    routes_backends = true;
                    let with_port: Vec<Value> = requests
                        .iter()
                        .map(|request| {
                            let mut request = request.clone();
                            if let Some(number) = port_match {
                                request.insert("port".into(), json!(number));
                            }
                            Value::Object(request)
                        })
                        .collect();
                    http.push(json!({
                        "name": format!("matches-{number}"),
                        "match": with_port,
                        "route": weighted(model, namespace, routed),
                    }));
                }
                http.push(to_root());
            }
        }
        if let Some(routed) = port.routed
            && routes.matches.is_empty()
            && matches!(port.protocol, PortProtocol::Tcp | PortProtocol::Unknown)
        {
            routes_backends = true;
            tcp.push(json!({
                "match": [{ "port": port.number }],
                "route": weighted(model, namespace, routed),
            }));
        }
    }
    if !routes_backends {
        return None;
    }
    let mut spec = Map::new();
    spec.insert("hosts".into(), json!([root_host]));
    let gateways = gateways(state, split, findings);
    if !gateways.is_empty() {
        spec.insert("gateways".into(), json!(gateways));
    }
    if !http.is_empty() {
        spec.insert("http".into(), Value::Array(http));
    }
    if !tcp.is_empty() {
        spec.insert("tcp".into(), Value::Array(tcp));
    }
    let api_version = format!("{GROUP}/{}", options.api_version.as_str());
    let name = names::virtual_service(&split.key.name);
    Some(
        NativeObject::new(api_version, KIND, namespace, name, Value::Object(spec))
            .with_sources(&routes.sources),
    )
}

/// An HTTP route without conditions but the port (when given).
fn http_route(name: String, port: Option<u16>, route: Value) -> Value {
    let mut http_route = Map::new();
    http_route.insert("name".into(), json!(name));
    if let Some(number) = port {
        http_route.insert("match".into(), json!([{ "port": number }]));
    }
    http_route.insert("route".into(), route);
    Value::Object(http_route)
}

/// A route destination: a Service FQDN on a port, with a weight.
fn destination(host: &str, port: u16, weight: u64) -> Value {
    json!({ "destination": { "host": host, "port": { "number": port } }, "weight": weight })
}

/// The backends of a port with integer weights summing to 100 (zero weights written).
fn weighted(model: &Model, namespace: &str, routed: &RoutedPort) -> Value {
    let weights = routed.apportioned(100);
    Value::Array(
        routed
            .backends
            .iter()
            .zip(weights)
            .map(|(backend, weight)| {
                let host = model.fqdn(&ObjectKey::new(namespace, &backend.service));
                destination(&host, routed.port, weight)
            })
            .collect(),
    )
}

/// One `HTTPMatchRequest` (without port) per A/B match and method. A match Istio cannot take
/// is reported and left out (its requests stay on the root Service: narrower, never wider).
fn match_requests(
    split: &SmiRef,
    matches: &[HttpMatch],
    findings: &mut Vec<Finding>,
) -> Vec<Map<String, Value>> {
    let mut requests = Vec::new();
    for m in matches {
        match match_request(m) {
            Ok(Some(base)) => match &m.methods {
                None => requests.push(base),
                Some(methods) => requests.extend(methods.iter().map(|method| {
                    let mut request = base.clone();
                    request.insert("method".into(), json!({ "exact": method }));
                    request
                })),
            },
            Ok(None) => {}
            Err(why) => findings.push(finding(
                split,
                "NotExpressible",
                format!(
                    "HTTPRouteGroup `{}` match `{}`: {why}; the match is left out and its requests stay on the root Service",
                    m.group.name, m.name
                ),
            )),
        }
    }
    requests
}

/// The conditions of one match, `None` when it matches no request at all (an empty exact path).
fn match_request(m: &HttpMatch) -> Result<Option<Map<String, Value>>, String> {
    let mut request = Map::new();
    if let Some(path) = &m.path {
        let uri = match &path.shape {
            PathShape::Any => None,
            PathShape::Prefix(prefix) if prefix.is_empty() => None,
            PathShape::Prefix(prefix) => Some(json!({ "prefix": prefix })),
            PathShape::Exact(exact) if exact.is_empty() => return Ok(None),
            PathShape::Exact(exact) => Some(json!({ "exact": exact })),
            PathShape::Regex => {
                let regex = path.full_match();
                re2::check(&regex).map_err(|e| format!("pathRegex: {e}"))?;
                Some(json!({ "regex": regex }))
            }
        };
        if let Some(uri) = uri {
            request.insert("uri".into(), uri);
        }
    }
    if !m.headers.is_empty() {
        let mut headers = Map::new();
        for header in &m.headers {
            headers.insert(header.name.clone(), header_match(header)?);
        }
        request.insert("headers".into(), Value::Object(headers));
    }
    Ok(Some(request))
}

fn header_match(header: &HeaderMatch) -> Result<Value, String> {
    Ok(match &header.shape {
        ValueShape::Exact(value) => json!({ "exact": value }),
        ValueShape::Prefix(value) => json!({ "prefix": value }),
        _ => {
            re2::check(&header.regex).map_err(|e| format!("header `{}`: {e}", header.name))?;
            json!({ "regex": header.regex })
        }
    })
}

/// The gateways of Flagger's annotation, with `mesh` kept; empty (sidecars only) without it.
fn gateways(state: &ClusterState, split: &SmiRef, findings: &mut Vec<Finding>) -> Vec<String> {
    let annotation = state
        .traffic_splits
        .get(&split.key)
        .and_then(|s| s.metadata.annotations.as_ref())
        .and_then(|a| a.get(GATEWAYS_ANNOTATION));
    let Some(text) = annotation else {
        return Vec::new();
    };
    let listed: Vec<String> = match serde_json::from_str(text) {
        Ok(listed) => listed,
        Err(e) => {
            findings.push(finding(
                split,
                "InvalidAnnotation",
                format!("annotation `{GATEWAYS_ANNOTATION}` is not a JSON list of gateway names ({e}); the route applies to sidecars only"),
            ));
            return Vec::new();
        }
    };
    let mut gateways: Vec<String> = Vec::new();
    for gateway in listed {
        if !gateway.is_empty() && !gateways.contains(&gateway) {
            gateways.push(gateway);
        }
    }
    if !gateways.is_empty() && !gateways.iter().any(|g| g == MESH_GATEWAY) {
        gateways.push(MESH_GATEWAY.to_string());
    }
    gateways
}

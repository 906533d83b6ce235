//! An interpreter of the VirtualServices and AuthorizationPolicies the backend writes, following
//! Istio's documented semantics, for the shared request oracle.
//!
//! Routing (client sidecar): the one VirtualService whose `hosts` has the Service's FQDN and that
//! applies to sidecars (no `gateways`, or `mesh` among them) decides; none → the Service itself.
//! A request Istio handles as HTTP (an HTTP request to an HTTP or undeclared port) takes the
//! first `http` route any of whose `match` entries holds (no entry: every request); none → no
//! route (404). Anything else takes the first `tcp` route matching the port; none → the Service.
//! Weights are relative. UDP is not intercepted: the Service itself, always allowed.
//!
//! Authorization (server sidecar), per pod behind the receiving Service port: no ALLOW policy
//! selecting the pod → allowed; otherwise allowed when a rule of one of them matches (DENY
//! policies first). Rules: `from` principals against `<trust domain>/ns/<ns>/sa/<sa>` of the
//! source; `to.operation` ports against the pod port, methods and paths (exact, `x*`, `*x`,
//! `*`); `when` on `request.headers[…]`. HTTP fields never match a request Istio handles as TCP.
//! A field the interpreter does not know is an error, never ignored.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use smi_translate::model::PortProtocol;
use smi_translate::oracle::{Evaluator, Outcome, Request, endpoints, full_match};
use smi_translate::{ClusterState, NativeObject, ObjectKey, TranslateOptions};

use crate::options::IstioOptions;
use crate::{authorization, routing};

/// Interprets the Istio backend's native objects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IstioEvaluator {
    trust_domain: String,
    cluster_domain: String,
}

impl Default for IstioEvaluator {
    fn default() -> Self {
        IstioEvaluator::new(&IstioOptions::default(), &TranslateOptions::default())
    }
}

impl IstioEvaluator {
    /// An evaluator for objects rendered with these options.
    pub fn new(options: &IstioOptions, translate: &TranslateOptions) -> Self {
        IstioEvaluator {
            trust_domain: options.trust_domain.clone(),
            cluster_domain: translate.cluster_domain.clone(),
        }
    }
}

/// Where a share of the request goes.
struct Delivery {
    service: ObjectKey,
    port: u16,
    weight: f64,
}

impl Evaluator for IstioEvaluator {
    fn evaluate(
        &self,
        state: &ClusterState,
        objects: &[NativeObject],
        request: &Request,
    ) -> Result<Outcome, String> {
        let protocol = self.port_protocol(state, &request.to, request.port)?;
        let udp = request.method == "udp" || protocol == PortProtocol::Udp;
        let deliveries = if udp {
            vec![Delivery {
                service: request.to.clone(),
                port: request.port,
                weight: 1.0,
            }]
        } else {
            self.route(
                objects,
                request,
                request.is_http() && protocol.is_http_routable(),
            )?
        };
        let total: f64 = deliveries.iter().map(|d| d.weight).sum();
        let mut outcome = Outcome::default();
        for delivery in deliveries {
            let allowed = udp || self.authorized(state, objects, request, &delivery)?;
            let entry = outcome
                .deliveries
                .entry(delivery.service.name.clone())
                .or_insert((0.0, true));
            entry.0 += delivery.weight / total;
            entry.1 &= allowed;
        }
        Ok(outcome)
    }
}

impl IstioEvaluator {
    fn port_protocol(
        &self,
        state: &ClusterState,
        service: &ObjectKey,
        port: u16,
    ) -> Result<PortProtocol, String> {
        let info = state
            .services
            .get(service)
            .ok_or_else(|| format!("no Service {service}"))?;
        let port = info
            .ports
            .iter()
            .find(|p| p.port == port)
            .ok_or_else(|| format!("Service {service} has no port {port}"))?;
        Ok(port.declared_protocol())
    }

    /// `name` (relative to `namespace`) or `name.namespace.svc.<cluster domain>` as a Service.
    fn host_service(&self, host: &str, namespace: &str) -> Result<ObjectKey, String> {
        let suffix = format!(".svc.{}", self.cluster_domain);
        if let Some((name, ns)) = host.strip_suffix(&suffix).and_then(|h| h.split_once('.')) {
            return Ok(ObjectKey::new(ns, name));
        }
        if !host.contains('.') {
            return Ok(ObjectKey::new(namespace, host));
        }
        Err(format!("host `{host}` is not a Service of this cluster"))
    }

    fn route(
        &self,
        objects: &[NativeObject],
        request: &Request,
        http: bool,
    ) -> Result<Vec<Delivery>, String> {
        let mut applying = Vec::new();
        for object in objects
            .iter()
            .filter(|o| o.group() == routing::GROUP && o.kind == routing::KIND)
        {
            let spec = spec(object)?;
            let sidecars = match spec.get("gateways") {
                None => true,
                Some(gateways) => array(gateways)?.iter().any(|g| g == routing::MESH_GATEWAY),
            };
            let mut hosts = Vec::new();
            for host in array(spec.get("hosts").unwrap_or(&Value::Null))? {
                hosts.push(self.host_service(text(host)?, &object.namespace)?);
            }
            if sidecars && hosts.contains(&request.to) {
                applying.push((object, spec));
            }
        }
        let (object, spec) = match applying.as_slice() {
            [] => {
                return Ok(vec![Delivery {
                    service: request.to.clone(),
                    port: request.port,
                    weight: 1.0,
                }]);
            }
            [one] => *one,
            _ => {
                return Err(format!(
                    "{} VirtualServices for {}: Istio would take one of them",
                    applying.len(),
                    request.to
                ));
            }
        };
        known_keys(
            spec,
            &["hosts", "gateways", "http", "tcp"],
            "VirtualService spec",
        )?;
        let section = if http { "http" } else { "tcp" };
        let Some(routes) = spec.get(section) else {
            return Ok(vec![Delivery {
                service: request.to.clone(),
                port: request.port,
                weight: 1.0,
            }]);
        };
        for route in array(routes)? {
            let route = object_of(route)?;
            known_keys(route, &["name", "match", "route"], "route")?;
            let matched = match route.get("match") {
                None => true,
                Some(requests) => {
                    let mut any = false;
                    for m in array(requests)? {
                        any |= if http {
                            http_match(object_of(m)?, request)?
                        } else {
                            tcp_match(object_of(m)?, request)?
                        };
                    }
                    any
                }
            };
            if matched {
                return self.destinations(
                    route.get("route").unwrap_or(&Value::Null),
                    &object.namespace,
                    request.port,
                );
            }
        }
        if http {
            // Istio answers 404 when no route of the VirtualService matches.
            Ok(Vec::new())
        } else {
            Ok(vec![Delivery {
                service: request.to.clone(),
                port: request.port,
                weight: 1.0,
            }])
        }
    }

    fn destinations(
        &self,
        route: &Value,
        namespace: &str,
        port: u16,
    ) -> Result<Vec<Delivery>, String> {
        let items = array(route)?;
        let mut deliveries = Vec::new();
        for item in items {
            let item = object_of(item)?;
            known_keys(item, &["destination", "weight"], "route destination")?;
            let destination = object_of(item.get("destination").unwrap_or(&Value::Null))?;
            known_keys(destination, &["host", "port"], "destination")?;
            let service = self.host_service(
                text(destination.get("host").unwrap_or(&Value::Null))?,
                namespace,
            )?;
            let port = match destination.get("port") {
                None => port,
                Some(p) => p["number"]
                    .as_u64()
                    .and_then(|n| u16::try_from(n).ok())
                    .ok_or("bad destination.port")?,
            };
            let weight = match item.get("weight") {
                None if items.len() == 1 => 1.0,
                None => 0.0,
                Some(w) => w.as_u64().ok_or("weight is not an integer")? as f64,
            };
            deliveries.push(Delivery {
                service,
                port,
                weight,
            });
        }
        if deliveries.iter().map(|d| d.weight).sum::<f64>() <= 0.0 {
            return Err("a route whose weights sum to 0".to_string());
        }
        deliveries.retain(|d| d.weight > 0.0);
        Ok(deliveries)
    }

    fn authorized(
        &self,
        state: &ClusterState,
        objects: &[NativeObject],
        request: &Request,
        delivery: &Delivery,
    ) -> Result<bool, String> {
        let protocol = self.port_protocol(state, &delivery.service, delivery.port)?;
        let http = request.is_http() && protocol.is_http_routable();
        let principal = format!(
            "{}/ns/{}/sa/{}",
            self.trust_domain, request.from.namespace, request.from.service_account
        );
        let headers: BTreeMap<String, &str> = request
            .headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str()))
            .collect();
        for endpoint in endpoints(state, &delivery.service, delivery.port) {
            let mut allow_policies = 0;
            let mut allowed = false;
            for object in objects.iter().filter(|o| {
                o.group() == authorization::GROUP
                    && o.kind == authorization::KIND
                    && o.namespace == delivery.service.namespace
            }) {
                let spec = spec(object)?;
                known_keys(
                    spec,
                    &["selector", "action", "rules"],
                    "AuthorizationPolicy spec",
                )?;
                if !selects(spec, &endpoint.labels)? {
                    continue;
                }
                let context = RuleContext {
                    principal: &principal,
                    port: endpoint.pod_port,
                    request,
                    http,
                    headers: &headers,
                };
                let mut matches = false;
                for rule in array(spec.get("rules").unwrap_or(&Value::Array(Vec::new())))? {
                    matches |= context.rule_matches(object_of(rule)?)?;
                }
                match spec
                    .get("action")
                    .and_then(Value::as_str)
                    .unwrap_or("ALLOW")
                {
                    "ALLOW" => {
                        allow_policies += 1;
                        allowed |= matches;
                    }
                    "DENY" if matches => return Ok(false),
                    "DENY" => {}
                    other => return Err(format!("action `{other}` is not interpreted")),
                }
            }
            if allow_policies > 0 && !allowed {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// Whether a policy's selector picks a pod (no selector: every pod of the namespace).
fn selects(spec: &Map<String, Value>, labels: &BTreeMap<String, String>) -> Result<bool, String> {
    let Some(selector) = spec.get("selector") else {
        return Ok(true);
    };
    let selector = object_of(selector)?;
    known_keys(selector, &["matchLabels"], "selector")?;
    let Some(match_labels) = selector.get("matchLabels") else {
        return Ok(true);
    };
    for (key, value) in object_of(match_labels)? {
        if labels.get(key).map(String::as_str) != Some(text(value)?) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// What a policy rule is matched against.
struct RuleContext<'a> {
    principal: &'a str,
    port: u16,
    request: &'a Request,
    http: bool,
    headers: &'a BTreeMap<String, &'a str>,
}

impl RuleContext<'_> {
    fn rule_matches(&self, rule: &Map<String, Value>) -> Result<bool, String> {
        known_keys(rule, &["from", "to", "when"], "rule")?;
        if let Some(from) = rule.get("from") {
            let mut any = false;
            for source in array(from)? {
                let source = object_of(object_of(source)?.get("source").unwrap_or(&Value::Null))?;
                known_keys(source, &["principals"], "source")?;
                any |= any_pattern(source.get("principals"), self.principal)?;
            }
            if !any {
                return Ok(false);
            }
        }
        if let Some(to) = rule.get("to") {
            let mut any = false;
            for operation in array(to)? {
                any |= self.operation_matches(object_of(
                    object_of(operation)?
                        .get("operation")
                        .unwrap_or(&Value::Null),
                )?)?;
            }
            if !any {
                return Ok(false);
            }
        }
        for condition in array(rule.get("when").unwrap_or(&Value::Array(Vec::new())))? {
            let condition = object_of(condition)?;
            known_keys(condition, &["key", "values"], "when condition")?;
            let key = text(condition.get("key").unwrap_or(&Value::Null))?;
            let name = key
                .strip_prefix("request.headers[")
                .and_then(|k| k.strip_suffix(']'))
                .ok_or_else(|| format!("condition key `{key}` is not interpreted"))?;
            let value = self.headers.get(&name.to_ascii_lowercase());
            match value {
                Some(value) if self.http => {
                    if !any_pattern(condition.get("values"), value)? {
                        return Ok(false);
                    }
                }
                _ => return Ok(false),
            }
        }
        Ok(true)
    }

    fn operation_matches(&self, operation: &Map<String, Value>) -> Result<bool, String> {
        known_keys(operation, &["ports", "methods", "paths"], "operation")?;
        if operation.contains_key("ports")
            && !any_pattern(operation.get("ports"), &self.port.to_string())?
        {
            return Ok(false);
        }
        for (key, value) in [
            ("methods", &self.request.method),
            ("paths", &self.request.path),
        ] {
            if operation.contains_key(key)
                && !(self.http && any_pattern(operation.get(key), value)?)
            {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// Istio's policy string match against any of a list: exact, prefix `x*`, suffix `*x`, and `*`
/// for any non-empty value.
fn any_pattern(patterns: Option<&Value>, value: &str) -> Result<bool, String> {
    let mut any = false;
    for pattern in array(patterns.unwrap_or(&Value::Null))? {
        let pattern = text(pattern)?;
        if pattern.contains(['{', '}']) {
            return Err(format!("path template `{pattern}` is not interpreted"));
        }
        any |= if pattern == "*" {
            !value.is_empty()
        } else if let Some(suffix) = pattern.strip_prefix('*') {
            value.ends_with(suffix)
        } else if let Some(prefix) = pattern.strip_suffix('*') {
            value.starts_with(prefix)
        } else {
            value == pattern
        };
    }
    Ok(any)
}

fn http_match(m: &Map<String, Value>, request: &Request) -> Result<bool, String> {
    known_keys(m, &["uri", "method", "headers", "port"], "HTTPMatchRequest")?;
    if let Some(port) = m.get("port")
        && port.as_u64() != Some(u64::from(request.port))
    {
        return Ok(false);
    }
    if let Some(uri) = m.get("uri")
        && !string_match(uri, &request.path)?
    {
        return Ok(false);
    }
    if let Some(method) = m.get("method")
        && !string_match(method, &request.method)?
    {
        return Ok(false);
    }
    if let Some(headers) = m.get("headers") {
        for (name, condition) in object_of(headers)? {
            let value = request
                .headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v);
            match value {
                Some(value) if string_match(condition, value)? => {}
                _ => return Ok(false),
            }
        }
    }
    Ok(true)
}

fn tcp_match(m: &Map<String, Value>, request: &Request) -> Result<bool, String> {
    known_keys(m, &["port"], "L4MatchAttributes")?;
    Ok(m.get("port")
        .is_none_or(|p| p.as_u64() == Some(u64::from(request.port))))
}

/// A VirtualService StringMatch: exact, prefix, or a full-match RE2 regex.
fn string_match(condition: &Value, value: &str) -> Result<bool, String> {
    let condition = object_of(condition)?;
    match condition.iter().next() {
        Some((kind, expected)) if condition.len() == 1 => {
            let expected = text(expected)?;
            match kind.as_str() {
                "exact" => Ok(value == expected),
                "prefix" => Ok(value.starts_with(expected)),
                "regex" => full_match(expected, value),
                other => Err(format!("string match `{other}` is not interpreted")),
            }
        }
        _ => Err(format!(
            "a string match needs exactly one of exact, prefix, regex: {condition:?}"
        )),
    }
}

fn spec(object: &NativeObject) -> Result<&Map<String, Value>, String> {
    object
        .spec()
        .and_then(Value::as_object)
        .ok_or_else(|| format!("{} {} has no spec", object.kind, object.name))
}

fn object_of(value: &Value) -> Result<&Map<String, Value>, String> {
    value
        .as_object()
        .ok_or_else(|| format!("expected an object, found {value}"))
}

fn array(value: &Value) -> Result<&Vec<Value>, String> {
    value
        .as_array()
        .ok_or_else(|| format!("expected a list, found {value}"))
}

fn text(value: &Value) -> Result<&str, String> {
    value
        .as_str()
        .ok_or_else(|| format!("expected a string, found {value}"))
}

fn known_keys(map: &Map<String, Value>, known: &[&str], what: &str) -> Result<(), String> {
    match map.keys().find(|k| !known.contains(&k.as_str())) {
        Some(key) => Err(format!("{what} field `{key}` is not interpreted")),
        None => Ok(()),
    }
}

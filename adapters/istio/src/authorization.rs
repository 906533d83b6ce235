//! TrafficTarget (+ HTTPRouteGroup/TCPRoute) → AuthorizationPolicy, action ALLOW.
//!
//! Istio has no destination-identity condition, so a policy selects the destination's pods by
//! labels: one policy per distinct pod-template label set of the destination ServiceAccount,
//! never a namespace-wide (selector-less) one. A label set that also selects pods of another
//! ServiceAccount gets no policy (`AmbiguousSelector`): the selector would open those pods to the
//! destination's sources. (An allow-nothing policy for namespace enforcement is still written
//! then: it allows nothing, and every other identity of an enforcing namespace is denied by
//! default too, so it changes nothing for them.)
//!
//! Every allow becomes a rule: sources as mTLS `principals`, HTTP methods and paths in
//! `to.operation` (exact, prefix `/x*`), headers as `when` conditions on `request.headers[…]`
//! (exact, prefix `v*`, suffix `*v`, presence `*`), pod ports in `operation.ports` (omitted when
//! the rule covers every port). TCP rules carry ports only. An HTTP rule always has an HTTP
//! field (`paths: ["*"]` when nothing else), so it never allows plain TCP. What a policy cannot
//! match is reported `NotExpressible` and left out, never widened.
//!
//! Deny by default: once an ALLOW policy selects a pod, Istio denies what no rule allows. A
//! destination with no rule gets an allow-nothing policy (selector, action ALLOW, no rules).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use smi_translate::backend::BackendOutput;
use smi_translate::model::{
    AccessOrigin, AccessRule, AllowedTraffic, DestinationAccess, HttpMatch, PathShape, PodSet,
    ValueShape,
};
use smi_translate::{Finding, Model, NativeObject, SmiKind, SmiRef};

use crate::options::IstioOptions;
use crate::{finding, names};

/// API group of AuthorizationPolicy and PeerAuthentication.
pub const GROUP: &str = "security.istio.io";
/// The policy kind written.
pub const KIND: &str = "AuthorizationPolicy";
/// The mTLS kind written with [`IstioOptions::strict_mtls`].
pub const PEER_AUTHENTICATION_KIND: &str = "PeerAuthentication";
/// Istio's limit on rules per policy (CRD `maxItems`).
pub const MAX_RULES: usize = 512;

/// Renders the policies of every destination that denies by default.
pub fn render(model: &Model, options: &IstioOptions, output: &mut BackendOutput) {
    for destination in &model.access {
        let targets: Vec<&SmiRef> = destination
            .sources
            .iter()
            .filter(|s| s.kind == SmiKind::TrafficTarget)
            .collect();
        let mut rules = policy_rules(destination, options, &mut output.findings);
        if rules.len() > MAX_RULES {
            for target in &targets {
                output.findings.push(finding(
                    target,
                    "NotExpressible",
                    format!(
                        "ServiceAccount `{}` needs {} policy rules, more than Istio's {MAX_RULES}; the rules after the first {MAX_RULES} are left out",
                        destination.identity.service_account,
                        rules.len()
                    ),
                ));
            }
            rules.truncate(MAX_RULES);
        }
        for pod_set in &destination.pod_sets {
            if let Some(problem) = selector_problem(destination, pod_set) {
                for target in &targets {
                    output
                        .findings
                        .push(finding(target, "AmbiguousSelector", problem.clone()));
                }
                continue;
            }
            output
                .objects
                .extend(pod_set_objects(destination, pod_set, &rules, options));
        }
    }
}

/// Why the pod set's labels cannot serve as a policy selector, if they cannot.
fn selector_problem(destination: &DestinationAccess, pod_set: &PodSet) -> Option<String> {
    let identity = &destination.identity;
    let workloads = pod_set
        .workloads
        .iter()
        .map(|w| w.key.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if pod_set.labels.is_empty() {
        return Some(format!(
            "the pods of {workloads} (ServiceAccount `{}`) have no labels: a policy would select every pod of namespace `{}`, so none is written and they are not protected; label them",
            identity.service_account, identity.namespace
        ));
    }
    if pod_set.overlapping.is_empty() || destination.origin == AccessOrigin::NamespaceEnforcement {
        return None;
    }
    let others = pod_set
        .overlapping
        .iter()
        .map(|w| w.key.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    Some(format!(
        "the labels {} of {workloads} (ServiceAccount `{}`) also select the pods of {others}, which run as other ServiceAccounts; a policy would apply to them too, so none is written and {workloads} are not protected; give the pods a label of their own",
        label_list(&pod_set.labels),
        identity.service_account
    ))
}

fn label_list(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The AuthorizationPolicy (and PeerAuthentication) of one pod set.
fn pod_set_objects(
    destination: &DestinationAccess,
    pod_set: &PodSet,
    rules: &[Value],
    options: &IstioOptions,
) -> Vec<NativeObject> {
    let api_version = format!("{GROUP}/{}", options.api_version.as_str());
    let namespace = &destination.identity.namespace;
    let service_account = &destination.identity.service_account;
    let selector = json!({ "matchLabels": pod_set.labels });
    let mut spec = Map::new();
    spec.insert("selector".into(), selector.clone());
    spec.insert("action".into(), json!("ALLOW"));
    if !rules.is_empty() {
        spec.insert("rules".into(), Value::Array(rules.to_vec()));
    }
    let name = names::pod_set_policy("smi-access", service_account, &pod_set.labels);
    let mut objects = vec![
        NativeObject::new(&api_version, KIND, namespace, name, Value::Object(spec))
            .with_sources(&destination.sources),
    ];
    if options.strict_mtls {
        let name = names::pod_set_policy("smi-mtls", service_account, &pod_set.labels);
        let spec = json!({ "selector": selector, "mtls": { "mode": "STRICT" } });
        objects.push(
            NativeObject::new(
                &api_version,
                PEER_AUTHENTICATION_KIND,
                namespace,
                name,
                spec,
            )
            .with_sources(&destination.sources),
        );
    }
    objects
}

/// The policy rules of a destination, identical rules once, in model order.
fn policy_rules(
    destination: &DestinationAccess,
    options: &IstioOptions,
    findings: &mut Vec<Finding>,
) -> Vec<Value> {
    let mut rules: Vec<Value> = Vec::new();
    for rule in &destination.rules {
        for policy_rule in access_rule(rule, destination, options, findings) {
            if !rules.contains(&policy_rule) {
                rules.push(policy_rule);
            }
        }
    }
    rules
}

/// The policy rules of one allow.
fn access_rule(
    rule: &AccessRule,
    destination: &DestinationAccess,
    options: &IstioOptions,
    findings: &mut Vec<Finding>,
) -> Vec<Value> {
    let ports: Option<Vec<String>> = match (rule.all_ports, rule.ports.is_empty()) {
        (true, _) => None,
        (false, true) => return Vec::new(),
        (false, false) => Some(rule.ports.iter().map(u16::to_string).collect()),
    };
    let principals: Vec<String> = rule
        .sources
        .iter()
        .map(|s| options.principal(&s.namespace, &s.service_account))
        .collect();
    let from = json!([{ "source": { "principals": principals } }]);
    let build = |mut operation: Map<String, Value>, when: Vec<Value>| {
        if let Some(ports) = &ports {
            operation.insert("ports".into(), json!(ports));
        }
        let mut policy_rule = Map::new();
        policy_rule.insert("from".into(), from.clone());
        if !operation.is_empty() {
            policy_rule.insert("to".into(), json!([{ "operation": operation }]));
        }
        if !when.is_empty() {
            policy_rule.insert("when".into(), Value::Array(when));
        }
        Value::Object(policy_rule)
    };
    match &rule.traffic {
        AllowedTraffic::Tcp => vec![build(Map::new(), Vec::new())],
        AllowedTraffic::Udp => {
            findings.push(finding(
                &rule.target,
                "NotSupported",
                format!(
                    "a UDPRoute rule for ServiceAccount `{}`: Istio sidecars do not intercept UDP, so the mesh can neither allow nor deny it; the rule is left out",
                    destination.identity.service_account
                ),
            ));
            Vec::new()
        }
        AllowedTraffic::Http(matches) => matches
            .iter()
            .filter_map(|m| match http_conditions(m) {
                Ok(Some(conditions)) => Some(build(conditions.operation, conditions.when)),
                Ok(None) => None,
                Err(why) => {
                    findings.push(finding(
                        &rule.target,
                        "NotExpressible",
                        format!(
                            "HTTPRouteGroup `{}` match `{}`: {why}; the match is left out, so its requests are denied",
                            m.group.name, m.name
                        ),
                    ));
                    None
                }
            })
            .collect(),
    }
}

/// What a policy rule checks of an HTTP request.
struct HttpConditions {
    /// `to.operation`: methods and paths.
    operation: Map<String, Value>,
    /// `when`: header conditions.
    when: Vec<Value>,
}

/// The conditions of an HTTP match; `None` when it matches no request.
fn http_conditions(m: &HttpMatch) -> Result<Option<HttpConditions>, String> {
    let mut operation = Map::new();
    if let Some(methods) = &m.methods {
        operation.insert("methods".into(), json!(methods));
    }
    if let Some(path) = &m.path {
        let pattern = match &path.shape {
            PathShape::Any => None,
            PathShape::Prefix(prefix) if prefix.is_empty() => None,
            PathShape::Prefix(prefix) => Some(format!("{}*", literal(prefix, "path")?)),
            PathShape::Exact(exact) if exact.is_empty() => return Ok(None),
            PathShape::Exact(exact) => Some(literal(exact, "path")?.to_string()),
            PathShape::Regex => {
                return Err(format!(
                    "pathRegex `{}` is neither a prefix nor an exact path, and AuthorizationPolicy paths have no regular expressions",
                    path.regex
                ));
            }
        };
        if let Some(pattern) = pattern {
            operation.insert("paths".into(), json!([pattern]));
        }
    }
    let mut when = Vec::new();
    for header in &m.headers {
        let value = match &header.shape {
            ValueShape::Present => "*".to_string(),
            ValueShape::Exact(value) if !value.is_empty() => {
                literal(value, "header value")?.to_string()
            }
            ValueShape::Prefix(value) => format!("{}*", literal(value, "header value")?),
            ValueShape::Suffix(value) => format!("*{}", literal(value, "header value")?),
            ValueShape::Exact(_) => {
                return Err(format!(
                    "header `{}` must be present and empty, which AuthorizationPolicy cannot match",
                    header.name
                ));
            }
            _ => {
                return Err(format!(
                    "header `{}` regex `{}` is not an exact, prefix, suffix or presence match, the only header matches AuthorizationPolicy has",
                    header.name, header.regex
                ));
            }
        };
        when.push(json!({ "key": format!("request.headers[{}]", header.name), "values": [value] }));
    }
    if operation.is_empty() && when.is_empty() {
        // Any HTTP request, but not plain TCP: an HTTP-only field.
        operation.insert("paths".into(), json!(["*"]));
    }
    Ok(Some(HttpConditions { operation, when }))
}

/// A literal Istio would read as written: `*` is a wildcard in policy strings, `{`/`}` mark
/// path templates.
fn literal<'a>(text: &'a str, what: &str) -> Result<&'a str, String> {
    if text.contains(['*', '{', '}']) {
        return Err(format!(
            "the {what} `{text}` contains `*`, `{{` or `}}`, which AuthorizationPolicy reads as wildcards"
        ));
    }
    Ok(text)
}

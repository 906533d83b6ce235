//! Per-object validation: every rule an SMI object must satisfy on its own, without looking at
//! any other object. [`crate::translate`] applies it before acting on an object (an object with
//! violations gets `Accepted=False`), and smi-bridge's validating admission webhook applies the
//! same functions, so `kubectl apply` and `smi-bridge render` report the **same message** for the
//! same object: [`Violation::join`] of the violations, each naming the field path (at the hub
//! version) and the offending value.
//!
//! What needs other objects is not a violation: a reference to an object that does not exist
//! ([`references`]) is reported by translation as `ResolvedRefs=False` and by the admission
//! webhook as a warning, because users create a TrafficSplit before its backends.

use std::collections::BTreeSet;

use serde_json::Value;
use smi_api::convert::HubObject;
use smi_api::hub;

use crate::keys::SmiKind;
use crate::translate::http;

/// Reason of a violation that breaks a rule of the SMI spec or of smi-bridge.
pub const INVALID: &str = "Invalid";
/// Reason of a reference to another namespace, which SMI does not allow.
pub const CROSS_NAMESPACE: &str = "CrossNamespace";
/// Reason of a negative TrafficSplit weight.
pub const INVALID_WEIGHT: &str = "InvalidWeight";
/// Reason of TrafficSplit weights that sum to zero.
pub const ZERO_TOTAL_WEIGHT: &str = "ZeroTotalWeight";

/// One rule an object breaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// CamelCase reason, for the `Accepted=False` condition ([`INVALID`], [`CROSS_NAMESPACE`],
    /// [`INVALID_WEIGHT`], [`ZERO_TOTAL_WEIGHT`]).
    pub reason: &'static str,
    /// What is wrong: the field path, the value and what is allowed instead.
    pub message: String,
}

impl Violation {
    fn invalid(message: impl Into<String>) -> Self {
        Violation {
            reason: INVALID,
            message: message.into(),
        }
    }

    /// The message of several violations, as translation writes it into `Accepted=False` and the
    /// admission webhook returns it: the messages in order, separated by `; `.
    pub fn join(violations: &[Violation]) -> String {
        violations
            .iter()
            .map(|v| v.message.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// What a reference points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReferenceKind {
    /// A core/v1 Service.
    Service,
    /// An SMI object (HTTPRouteGroup, TCPRoute, UDPRoute).
    Smi(SmiKind),
}

impl ReferenceKind {
    /// The kind's name, e.g. `Service`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReferenceKind::Service => "Service",
            ReferenceKind::Smi(kind) => kind.as_str(),
        }
    }
}

/// A reference from an SMI object to another object in its namespace.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Reference {
    /// Path of the referring field, e.g. `spec.backends[1].service`.
    pub field: String,
    /// Kind of the referenced object.
    pub kind: ReferenceKind,
    /// Namespace of the referenced object (always the referring object's).
    pub namespace: String,
    /// Name of the referenced object.
    pub name: String,
}

impl Reference {
    /// The warning for a referenced object that does not exist.
    pub fn missing_message(&self) -> String {
        format!(
            "{}: {} `{}` does not exist in namespace `{}` yet; smi-bridge acts on this reference once it does",
            self.field,
            self.kind.as_str(),
            self.name,
            self.namespace
        )
    }
}

/// An SMI object read from JSON at any version, converted to its hub version and validated.
#[derive(Clone, Debug, PartialEq)]
pub struct Checked {
    /// The object at its hub version.
    pub object: HubObject,
    /// What it refers to (to check for existence).
    pub references: Vec<Reference>,
}

/// Reads an SMI object of any served apiVersion (`to_hub`, as `smi-bridge render` loads input),
/// then validates it. A conversion error (a field a version does not allow, an unparseable
/// Quantity, a malformed conversion annotation) is one violation whose message is the
/// conversion error, as `render` prints it.
pub fn check_value(
    object: &Value,
    namespace: &str,
    cluster_domain: &str,
) -> Result<Checked, Vec<Violation>> {
    let hub = smi_api::convert::to_hub(object)
        .map_err(|error| vec![Violation::invalid(error.to_string())])?;
    let violations = validate(&hub, namespace, cluster_domain);
    if !violations.is_empty() {
        return Err(violations);
    }
    let references = references(&hub, namespace, cluster_domain);
    Ok(Checked {
        object: hub,
        references,
    })
}

/// Every rule the object breaks, in field order; empty when it is valid. `namespace` is the
/// object's namespace (references must stay in it).
pub fn validate(object: &HubObject, namespace: &str, cluster_domain: &str) -> Vec<Violation> {
    match object {
        HubObject::TrafficSplit(split) => traffic_split(split, namespace, cluster_domain),
        HubObject::TrafficTarget(target) => traffic_target(target, namespace),
        HubObject::HTTPRouteGroup(group) => http_route_group(group),
        HubObject::TCPRoute(route) => port_route(route.spec.matches.as_ref()),
        HubObject::UDPRoute(route) => port_route(route.spec.matches.as_ref()),
    }
}

/// Resolves a Service name as SMI allows it (`svc`, `svc.ns`, `svc.ns.svc`,
/// `svc.ns.svc.<cluster domain>`) to a Service in `namespace`. Another namespace is refused:
/// SMI has no cross-namespace references.
pub fn service_in_namespace(
    name: &str,
    namespace: &str,
    cluster_domain: &str,
) -> Result<String, String> {
    let name = name.trim_end_matches('.');
    let parts: Vec<&str> = name.split('.').collect();
    let (service, service_ns) = match parts.as_slice() {
        [svc] => (*svc, namespace),
        [svc, ns] | [svc, ns, "svc"] => (*svc, *ns),
        [svc, ns, "svc", domain @ ..] if domain.join(".") == cluster_domain => (*svc, *ns),
        _ => {
            return Err(format!(
                "`{name}` is not a Service name (`name`, `name.namespace` or `name.namespace.svc.{cluster_domain}`)"
            ));
        }
    };
    if service.is_empty() {
        return Err(format!("`{name}` is not a Service name"));
    }
    if service_ns != namespace {
        return Err(format!(
            "`{name}` is in namespace `{service_ns}`: SMI allows only Services in the object's own namespace `{namespace}`"
        ));
    }
    Ok(service.to_string())
}

/// A Service reference at `field`: the Service name, or the violation.
fn service_field(
    field: &str,
    name: &str,
    namespace: &str,
    cluster_domain: &str,
) -> Result<String, Violation> {
    let service = service_in_namespace(name, namespace, cluster_domain).map_err(|e| {
        let reason = if e.contains("SMI allows only") {
            CROSS_NAMESPACE
        } else {
            INVALID
        };
        Violation {
            reason,
            message: format!("{field}: {e}"),
        }
    })?;
    if !is_dns_label(&service) {
        return Err(Violation::invalid(format!(
            "{field}: `{service}` is not a valid Service name (a DNS label: at most 63 lower-case letters, digits and `-`, starting with a letter and ending with a letter or digit)"
        )));
    }
    Ok(service)
}

/// Rules of a TrafficSplit (hub version).
pub fn traffic_split(
    split: &hub::TrafficSplit,
    namespace: &str,
    cluster_domain: &str,
) -> Vec<Violation> {
    let mut violations = Vec::new();
    let spec = &split.spec;
    let root = match service_field("spec.service", &spec.service, namespace, cluster_domain) {
        Ok(root) => root,
        Err(violation) => {
            violations.push(violation);
            spec.service.clone()
        }
    };
    let mut names: Vec<String> = Vec::new();
    for (i, backend) in spec.backends.iter().enumerate() {
        let field = format!("spec.backends[{i}]");
        match service_field(
            &format!("{field}.service"),
            &backend.service,
            namespace,
            cluster_domain,
        ) {
            Err(violation) => violations.push(violation),
            Ok(name) if names.contains(&name) => violations.push(Violation::invalid(format!(
                "{field}.service `{name}` is listed twice"
            ))),
            Ok(name) => names.push(name),
        }
        if backend.weight < 0 {
            violations.push(Violation {
                reason: INVALID_WEIGHT,
                message: format!(
                    "{field}.weight `{}` is negative: weights are relative and at least 0",
                    backend.weight
                ),
            });
        }
    }
    if spec.backends.is_empty() {
        violations.push(Violation::invalid(
            "spec.backends is empty: a TrafficSplit needs at least one backend",
        ));
    } else if spec.backends.iter().all(|b| b.weight == 0) {
        violations.push(Violation {
            reason: ZERO_TOTAL_WEIGHT,
            message: format!(
                "spec.backends: the weights sum to 0, which would drop all traffic; traffic stays on the root Service `{root}` until a backend has a positive weight"
            ),
        });
    }
    for (i, m) in spec.matches.iter().enumerate() {
        let field = format!("spec.matches[{i}]");
        if m.kind != "HTTPRouteGroup" {
            violations.push(Violation::invalid(format!(
                "{field}.kind `{}` is not supported; matches reference HTTPRouteGroups",
                m.kind
            )));
        }
        if let Some(group) = m.api_group.as_deref()
            && !group.is_empty()
            && group != SmiKind::HTTPRouteGroup.group()
        {
            violations.push(Violation::invalid(format!(
                "{field}.apiGroup `{group}` is not supported; HTTPRouteGroups are in `{}`",
                SmiKind::HTTPRouteGroup.group()
            )));
        }
        if m.name.is_empty() {
            violations.push(Violation::invalid(format!(
                "{field}.name is empty: name an HTTPRouteGroup in the TrafficSplit's namespace"
            )));
        }
    }
    violations
}

/// Rules of a TrafficTarget (hub version).
pub fn traffic_target(target: &hub::TrafficTarget, namespace: &str) -> Vec<Violation> {
    let mut violations = Vec::new();
    let spec = &target.spec;
    let destination = &spec.destination;
    if destination.kind != "ServiceAccount" {
        violations.push(Violation::invalid(format!(
            "spec.destination.kind `{}` is not supported; use ServiceAccount",
            destination.kind
        )));
    }
    check_object_name(
        &mut violations,
        "spec.destination.name",
        &destination.name,
        "ServiceAccount",
    );
    let destination_ns = destination.namespace.as_deref().unwrap_or(namespace);
    if destination_ns != namespace {
        violations.push(Violation {
            reason: CROSS_NAMESPACE,
            message: format!(
                "spec.destination.namespace `{destination_ns}` differs from the TrafficTarget's namespace `{namespace}`: a TrafficTarget may only open destinations in its own namespace"
            ),
        });
    }
    if spec.sources.is_empty() {
        violations.push(Violation::invalid(
            "spec.sources is empty: a TrafficTarget needs at least one source",
        ));
    }
    if spec.rules.is_empty() {
        violations.push(Violation::invalid(
            "spec.rules is empty: a TrafficTarget needs at least one rule",
        ));
    }
    for (i, source) in spec.sources.iter().enumerate() {
        let field = format!("spec.sources[{i}]");
        if source.kind != "ServiceAccount" {
            violations.push(Violation::invalid(format!(
                "{field}.kind `{}` is not supported; use ServiceAccount",
                source.kind
            )));
        }
        check_object_name(
            &mut violations,
            &format!("{field}.name"),
            &source.name,
            "ServiceAccount",
        );
        if let Some(source_ns) = source.namespace.as_deref()
            && !is_dns_label(source_ns)
        {
            violations.push(Violation::invalid(format!(
                "{field}.namespace `{source_ns}` is not a namespace name (a DNS label: at most 63 lower-case letters, digits and `-`)"
            )));
        }
    }
    if let Err(error) = smi_api::convert::destination_port(target) {
        violations.push(Violation::invalid(error.to_string()));
    }
    for (i, rule) in spec.rules.iter().enumerate() {
        let field = format!("spec.rules[{i}]");
        let kind = SmiKind::from_kind(&rule.kind).filter(|k| {
            matches!(
                k,
                SmiKind::HTTPRouteGroup | SmiKind::TCPRoute | SmiKind::UDPRoute
            )
        });
        if kind.is_none() {
            violations.push(Violation::invalid(format!(
                "{field}.kind `{}` is not a traffic spec kind (HTTPRouteGroup, TCPRoute or UDPRoute)",
                rule.kind
            )));
        }
        check_object_name(
            &mut violations,
            &format!("{field}.name"),
            &rule.name,
            "traffic spec",
        );
        let names = rule.matches.as_deref().unwrap_or_default();
        if !names.is_empty() && kind.is_some_and(|k| k != SmiKind::HTTPRouteGroup) {
            violations.push(Violation::invalid(format!(
                "{field}.matches `{}` is set on a {} rule: only HTTPRouteGroup rules select matches by name; remove it",
                serde_json::to_string(names).unwrap_or_default(),
                rule.kind
            )));
        }
        for (j, name) in names.iter().enumerate() {
            if name.is_empty() {
                violations.push(Violation::invalid(format!(
                    "{field}.matches[{j}] is empty: name a match of the HTTPRouteGroup"
                )));
            }
        }
    }
    violations
}

/// Rules of an HTTPRouteGroup (hub version): one violation per invalid match.
pub fn http_route_group(group: &hub::HTTPRouteGroup) -> Vec<Violation> {
    http::match_errors(group)
        .into_iter()
        .map(Violation::invalid)
        .collect()
}

/// Rules of a TCPRoute or UDPRoute `spec.matches` (hub version).
pub fn port_route(matches: Option<&hub::PortMatch>) -> Vec<Violation> {
    let mut violations = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, port) in matches.iter().flat_map(|m| m.ports.iter()).enumerate() {
        if !(1..=65535).contains(port) {
            violations.push(Violation::invalid(format!(
                "spec.matches.ports[{i}] `{port}` is not a port number (1-65535)"
            )));
        } else if !seen.insert(*port) {
            violations.push(Violation::invalid(format!(
                "spec.matches.ports[{i}] `{port}` is listed twice"
            )));
        }
    }
    violations
}

/// The objects an SMI object refers to, all in its namespace. Invalid references (another
/// namespace, a malformed name) are left out: they are violations.
pub fn references(object: &HubObject, namespace: &str, cluster_domain: &str) -> Vec<Reference> {
    let reference = |field: String, kind: ReferenceKind, name: &str| Reference {
        field,
        kind,
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    };
    let mut references = Vec::new();
    match object {
        HubObject::TrafficSplit(split) => {
            let services = std::iter::once(("spec.service".to_owned(), &split.spec.service)).chain(
                split
                    .spec
                    .backends
                    .iter()
                    .enumerate()
                    .map(|(i, b)| (format!("spec.backends[{i}].service"), &b.service)),
            );
            for (field, name) in services {
                if let Ok(service) = service_in_namespace(name, namespace, cluster_domain) {
                    references.push(reference(field, ReferenceKind::Service, &service));
                }
            }
            for (i, m) in split.spec.matches.iter().enumerate() {
                if !m.name.is_empty() {
                    references.push(reference(
                        format!("spec.matches[{i}].name"),
                        ReferenceKind::Smi(SmiKind::HTTPRouteGroup),
                        &m.name,
                    ));
                }
            }
        }
        HubObject::TrafficTarget(target) => {
            for (i, rule) in target.spec.rules.iter().enumerate() {
                if let Some(kind) = SmiKind::from_kind(&rule.kind)
                    && !rule.name.is_empty()
                {
                    references.push(reference(
                        format!("spec.rules[{i}].name"),
                        ReferenceKind::Smi(kind),
                        &rule.name,
                    ));
                }
            }
        }
        HubObject::HTTPRouteGroup(_) | HubObject::TCPRoute(_) | HubObject::UDPRoute(_) => {}
    }
    references
}

/// Adds a violation when `name` is not a valid object name (a DNS subdomain).
fn check_object_name(violations: &mut Vec<Violation>, field: &str, name: &str, what: &str) {
    if name.is_empty() {
        violations.push(Violation::invalid(format!(
            "{field} is empty: name a {what}"
        )));
    } else if !is_dns_subdomain(name) {
        violations.push(Violation::invalid(format!(
            "{field} `{name}` is not a valid {what} name (lower-case letters, digits, `-` and `.`, at most 253 characters)"
        )));
    }
}

/// A DNS-1123 label: what namespace and Service names must be.
pub fn is_dns_label(text: &str) -> bool {
    let bytes = text.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
}

/// A DNS-1123 subdomain: what most object names must be.
pub fn is_dns_subdomain(text: &str) -> bool {
    text.len() <= 253 && text.split('.').all(is_dns_label)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn split(spec: Value) -> Value {
        json!({"apiVersion": "split.smi-spec.io/v1alpha4", "kind": "TrafficSplit",
               "metadata": {"name": "web", "namespace": "shop"}, "spec": spec})
    }

    fn messages(object: &Value) -> Vec<String> {
        match check_value(object, "shop", "cluster.local") {
            Ok(_) => Vec::new(),
            Err(violations) => violations.into_iter().map(|v| v.message).collect(),
        }
    }

    #[test]
    fn every_violation_is_reported_with_its_field() {
        let found = messages(&split(json!({
            "service": "web.other",
            "backends": [{"service": "v1", "weight": 0}, {"service": "v1", "weight": 0},
                         {"service": "Bad_Name", "weight": 1}],
            "matches": [{"kind": "HTTPRouteGroup", "name": "", "apiGroup": "x.io"}]
        })));
        let expected_fields = [
            "spec.service:",
            "spec.backends[1].service `v1` is listed twice",
            "spec.backends[2].service: `Bad_Name`",
            "spec.matches[0].apiGroup `x.io`",
            "spec.matches[0].name is empty",
        ];
        assert_eq!(found.len(), expected_fields.len(), "{found:#?}");
        for (message, field) in found.iter().zip(expected_fields) {
            assert!(message.starts_with(field), "{message} / {field}");
        }
    }

    #[test]
    fn conversion_errors_are_violations() {
        let object = json!({"apiVersion": "split.smi-spec.io/v1alpha1", "kind": "TrafficSplit",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"service": "web", "backends": [{"service": "v1", "weight": "1u"}]}});
        let found = messages(&object);
        assert_eq!(found.len(), 1);
        assert!(found[0].contains("spec.backends[0].weight"), "{found:?}");
    }

    #[test]
    fn references_name_their_fields() {
        let checked = check_value(
            &split(json!({"service": "web.shop.svc.cluster.local",
                          "backends": [{"service": "v1", "weight": 1}],
                          "matches": [{"kind": "HTTPRouteGroup", "name": "ab"}]})),
            "shop",
            "cluster.local",
        )
        .unwrap();
        let fields: Vec<(&str, &str)> = checked
            .references
            .iter()
            .map(|r| (r.field.as_str(), r.name.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                ("spec.service", "web"),
                ("spec.backends[0].service", "v1"),
                ("spec.matches[0].name", "ab")
            ]
        );
        assert!(
            checked.references[1]
                .missing_message()
                .starts_with("spec.backends[0].service: Service `v1` does not exist")
        );
    }

    #[test]
    fn names() {
        assert!(is_dns_label("web-v1") && !is_dns_label("-a") && !is_dns_label("A"));
        assert!(is_dns_subdomain("a.b-c") && !is_dns_subdomain("a..b"));
    }
}

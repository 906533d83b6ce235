//! TrafficTargets → one `ServiceIntentions` per destination Consul service.
//!
//! Each allowed source is either L4 (`action: allow`) or L7 (`permissions`: one allow per
//! HTTPRouteGroup match, then a deny for every other request, so the ACL default never decides);
//! a source with both becomes L7 with a final allow-everything permission. A `*` source denies
//! everyone else. Whatever cannot be expressed is left out and reported, never widened.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};
use smi_translate::model::{AccessRule, AllowedTraffic, DestinationAccess, PortProtocol};
use smi_translate::{ClusterState, Identity, Model, SmiKind, SmiRef};

use crate::matches::{MatchFlavor, any_request, http_criteria};
use crate::names::ConsulName;
use crate::output::Output;
use crate::registry::Registry;

/// What one source may do.
#[derive(Default)]
struct SourceGrant {
    /// Every connection (a TCPRoute rule covering the service).
    l4: bool,
    /// HTTP criteria of the allowed requests, in order, without duplicates.
    l7: Vec<Value>,
}

/// The accesses that land on one Consul service.
struct Destination<'m> {
    namespace: String,
    accesses: Vec<&'m DestinationAccess>,
}

/// Writes the ServiceIntentions of every destination.
pub fn render(model: &Model, state: &ClusterState, registry: &Registry<'_>, out: &mut Output) {
    let mut destinations: BTreeMap<ConsulName, Destination<'_>> = BTreeMap::new();
    for access in &model.access {
        let (names, mapped) = registry.identity_names(&access.identity);
        if !mapped && state.workloads_of(&access.identity).next().is_some() {
            let message = format!(
                "no Kubernetes Service registers the pods of ServiceAccount `{}` in Consul (consul-k8s registers a pod under the Service selecting it), so they are outside the mesh and no intention protects them; intentions are written for the Consul service `{}`, the name consul-k8s requires with ACLs",
                access.identity, access.identity.service_account
            );
            for target in targets(&access.sources) {
                out.finding(target, "IdentityNotMapped", message.clone());
            }
        }
        let workloads: Vec<_> = state
            .workloads_of(&access.identity)
            .map(|(k, _)| k)
            .collect();
        for message in registry.registration_problems(workloads) {
            for target in targets(&access.sources) {
                out.finding(target, "ServiceModelConflict", message.clone());
            }
        }
        for name in names {
            destinations
                .entry(name)
                .or_insert_with(|| Destination {
                    namespace: access.identity.namespace.clone(),
                    accesses: Vec::new(),
                })
                .accesses
                .push(access);
        }
    }
    for (name, destination) in destinations {
        intentions(state, registry, out, &name, &destination);
    }
}

fn targets(sources: &[SmiRef]) -> impl Iterator<Item = &SmiRef> {
    sources.iter().filter(|s| s.kind == SmiKind::TrafficTarget)
}

fn intentions(
    state: &ClusterState,
    registry: &Registry<'_>,
    out: &mut Output,
    name: &ConsulName,
    destination: &Destination<'_>,
) {
    let mut sources: Vec<SmiRef> = destination
        .accesses
        .iter()
        .flat_map(|a| a.sources.iter().cloned())
        .collect();
    sources.sort();
    sources.dedup();
    let mut members = registry.members(name);
    members.extend(destination.accesses.iter().map(|a| a.identity.clone()));
    let mut grants: BTreeMap<ConsulName, SourceGrant> = BTreeMap::new();
    if members.len() > 1 {
        let message = format!(
            "the Consul service `{name}` holds the pods of the ServiceAccounts {} (Consul without namespaces merges same-named services of different Kubernetes namespaces, and a Service selecting pods of several ServiceAccounts merges them): intentions cannot tell them apart, so `{name}` denies everything",
            list(&members)
        );
        for target in targets(&sources) {
            out.finding(target, "Conflict", message.clone());
        }
    } else if let [access] = destination.accesses.as_slice() {
        let served = served_ports(state, registry, name, access);
        for rule in &access.rules {
            grant(registry, out, name, access, &served, rule, &mut grants);
        }
    }
    let mut entries: Vec<Value> = grants
        .into_iter()
        .filter_map(|(n, g)| source_entry(&n, g))
        .collect();
    let mut deny_all = Map::new();
    deny_all.insert("name".to_string(), json!("*"));
    if name.namespace.is_some() {
        deny_all.insert("namespace".to_string(), json!("*"));
    }
    deny_all.insert("action".to_string(), json!("deny"));
    entries.push(Value::Object(deny_all));
    let spec = json!({"destination": consul_ref(name), "sources": entries});
    out.object(
        "ServiceIntentions",
        &destination.namespace,
        &name.name,
        spec,
        &sources,
    );
}

/// The pod ports the Consul service's instances serve, with their declared protocols.
fn served_ports(
    state: &ClusterState,
    registry: &Registry<'_>,
    name: &ConsulName,
    access: &DestinationAccess,
) -> BTreeMap<u16, PortProtocol> {
    let mut ports = BTreeSet::new();
    for (workload, service) in registry.instances(name) {
        let (Some(w), Some(s)) = (state.workloads.get(workload), state.services.get(service))
        else {
            continue;
        };
        ports.extend(
            s.ports
                .iter()
                .filter_map(|p| w.resolve_target_port(&p.target_port)),
        );
    }
    access
        .ports
        .iter()
        .filter(|p| ports.is_empty() || ports.contains(&p.port))
        .map(|p| (p.port, p.protocol))
        .collect()
}

fn grant(
    registry: &Registry<'_>,
    out: &mut Output,
    name: &ConsulName,
    access: &DestinationAccess,
    served: &BTreeMap<u16, PortProtocol>,
    rule: &AccessRule,
    grants: &mut BTreeMap<ConsulName, SourceGrant>,
) {
    let target = &rule.target;
    if rule.traffic == AllowedTraffic::Udp {
        out.finding(target, "NotSupported", format!(
            "Consul intentions do not cover UDP (consul-k8s meshes TCP only): the UDPRoute rule for `{name}` is left out"
        ));
        return;
    }
    if !rule.all_ports && !served.keys().all(|p| rule.ports.contains(p)) {
        out.finding(target, "NotExpressible", format!(
            "intentions apply to the whole Consul service `{name}`, which serves pod port(s) {}; the rule allows only {}, so it is left out rather than widened",
            ports(served.keys()), ports(rule.ports.iter())
        ));
        return;
    }
    let criteria: Vec<Value> = match &rule.traffic {
        AllowedTraffic::Http(matches) => {
            if let Some((port, _)) = served.iter().find(|(_, p)| !p.is_http_routable()) {
                out.finding(target, "NotExpressible", format!(
                    "HTTP rules need protocol http on the Consul service `{name}`, but its pod port {port} is declared TCP or UDP; the rule is left out"
                ));
                return;
            }
            let protocol = match served.values().find(|p| p.is_http_routable()) {
                Some(PortProtocol::Http2) => "http2",
                Some(PortProtocol::Grpc) => "grpc",
                _ => "http",
            };
            out.protocol(name, &access.identity.namespace, protocol, &access.sources);
            matches
                .iter()
                .map(|m| http_criteria(m, MatchFlavor::Intention))
                .collect()
        }
        _ => Vec::new(),
    };
    for source in &rule.sources {
        for source_name in registry.identity_names(source).0 {
            let mut members = registry.members(&source_name);
            members.insert(source.clone());
            if members.len() > 1 {
                out.finding(target, "Conflict", format!(
                    "source ServiceAccount `{source}` is the Consul service `{source_name}`, which also holds the pods of {}: allowing it would allow them too, so it is left out",
                    list(members.iter().filter(|m| *m != source))
                ));
                continue;
            }
            let grant = grants.entry(source_name).or_default();
            if criteria.is_empty() {
                grant.l4 = true;
            }
            for c in &criteria {
                if !grant.l7.contains(c) {
                    grant.l7.push(c.clone());
                }
            }
        }
    }
}

/// One `sources[]` entry: `action` (L4) or `permissions` (L7), never both.
fn source_entry(name: &ConsulName, grant: SourceGrant) -> Option<Value> {
    let mut entry = match consul_ref(name) {
        Value::Object(map) => map,
        _ => return None,
    };
    if grant.l7.is_empty() {
        if !grant.l4 {
            return None;
        }
        entry.insert("action".to_string(), json!("allow"));
        return Some(Value::Object(entry));
    }
    // Nothing after a permission matching every request is ever reached.
    let every_request = any_request();
    let mut permissions = Vec::new();
    for http in grant.l7 {
        let matches_everything = http == every_request;
        permissions.push(json!({"action": "allow", "http": http}));
        if matches_everything {
            entry.insert("permissions".to_string(), Value::Array(permissions));
            return Some(Value::Object(entry));
        }
    }
    let last = if grant.l4 { "allow" } else { "deny" };
    permissions.push(json!({"action": last, "http": every_request}));
    entry.insert("permissions".to_string(), Value::Array(permissions));
    Some(Value::Object(entry))
}

fn consul_ref(name: &ConsulName) -> Value {
    match &name.namespace {
        Some(ns) => json!({"name": name.name, "namespace": ns}),
        None => json!({"name": name.name}),
    }
}

fn list<'i>(identities: impl IntoIterator<Item = &'i Identity>) -> String {
    identities
        .into_iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn ports<'p>(ports: impl Iterator<Item = &'p u16>) -> String {
    ports.map(u16::to_string).collect::<Vec<_>>().join(", ")
}

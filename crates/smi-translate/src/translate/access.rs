//! TrafficTargets → access per destination identity.

use std::collections::{BTreeMap, BTreeSet};

use smi_api::hub;

use super::{Context, skipped};
use crate::keys::{Identity, ObjectKey, SmiKind, SmiRef};
use crate::model::{
    AccessOrigin, AccessRule, AllowedTraffic, DestinationAccess, PodPort, PodProbe, PodSet,
    PortProtocol,
};
use crate::report::ConditionType::{Accepted, ResolvedRefs};
use crate::state::{ClusterState, Workload, WorkloadKey};
use crate::validate;

/// Which ports a rule asks for, before resolution to pod ports.
enum RequestedPorts {
    All,
    Some(BTreeSet<u16>),
}

/// Builds access for every destination that is denied by default.
pub(super) fn access(ctx: &mut Context<'_>) -> Vec<DestinationAccess> {
    let state = ctx.state;
    let mut by_identity: BTreeMap<Identity, (Vec<SmiRef>, Vec<AccessRule>)> = BTreeMap::new();
    for (key, target) in &state.traffic_targets {
        if skipped(&target.metadata) {
            continue;
        }
        let object = SmiRef {
            kind: SmiKind::TrafficTarget,
            key: key.clone(),
        };
        if let Some((identity, sources, rules)) = target_rules(ctx, &object, target) {
            let entry = by_identity.entry(identity).or_default();
            entry.0.extend(sources);
            entry.1.extend(rules);
        }
    }
    let mut result = Vec::new();
    for (identity, (mut sources, rules)) in by_identity {
        sources.sort();
        sources.dedup();
        result.push(destination(
            state,
            identity,
            AccessOrigin::TrafficTargets,
            sources,
            rules,
        ));
    }
    // Namespaces that opted into enforcement: every other identity with workloads denies all.
    let enforcing: Vec<&String> = state
        .namespaces
        .iter()
        .filter(|(_, ns)| ctx.options.enforces_access(ns))
        .map(|(name, _)| name)
        .collect();
    for namespace in enforcing {
        for identity in state.identities_in(namespace) {
            if !result.iter().any(|d| d.identity == identity) {
                result.push(destination(
                    state,
                    identity,
                    AccessOrigin::NamespaceEnforcement,
                    Vec::new(),
                    Vec::new(),
                ));
            }
        }
    }
    result.sort_by(|a, b| a.identity.cmp(&b.identity));
    result
}

/// The destination identity, sources and rules of one TrafficTarget, or `None` when it is not
/// accepted.
fn target_rules(
    ctx: &mut Context<'_>,
    object: &SmiRef,
    target: &hub::TrafficTarget,
) -> Option<(Identity, Vec<SmiRef>, Vec<AccessRule>)> {
    let namespace = object.key.namespace.clone();
    let spec = &target.spec;
    let violations = validate::traffic_target(target, &namespace);
    if !violations.is_empty() {
        ctx.reject(object, &violations);
        return None;
    }
    let mut sources: Vec<Identity> = spec
        .sources
        .iter()
        .map(|source| {
            Identity::new(
                source
                    .namespace
                    .clone()
                    .unwrap_or_else(|| namespace.clone()),
                source.name.clone(),
            )
        })
        .collect();
    sources.sort();
    sources.dedup();
    // Valid (`validate::traffic_target`), so the annotation parses.
    let destination_port = smi_api::convert::destination_port(target).ok().flatten();
    ctx.condition(object, Accepted, true, "Accepted", "valid");

    let identity = Identity::new(&namespace, &spec.destination.name);
    let state = ctx.state;
    let mut refs = vec![object.clone()];
    let mut problems = Vec::new();
    let mut rules = Vec::new();
    for (i, rule) in spec.rules.iter().enumerate() {
        let key = ObjectKey::new(&namespace, &rule.name);
        let field = format!("spec.rules[{i}]");
        let (traffic, requested, kind) = match rule.kind.as_str() {
            "HTTPRouteGroup" => {
                let matches = match ctx.groups.get(&key) {
                    None => {
                        problems.push(format!("{field}: HTTPRouteGroup `{}` does not exist; the rule allows nothing until it does", rule.name));
                        continue;
                    }
                    Some(Err(e)) => {
                        problems.push(format!("{field}: HTTPRouteGroup `{}` is invalid ({e}); the rule allows nothing", rule.name));
                        continue;
                    }
                    Some(Ok(matches)) => matches,
                };
                let selected: Vec<_> = match &rule.matches {
                    None => matches.clone(),
                    Some(names) if names.is_empty() => matches.clone(),
                    Some(names) => {
                        for name in names {
                            if !matches.iter().any(|m| &m.name == name) {
                                problems.push(format!("{field}.matches: HTTPRouteGroup `{}` has no match named `{name}`", rule.name));
                            }
                        }
                        matches
                            .iter()
                            .filter(|m| names.contains(&m.name))
                            .cloned()
                            .collect()
                    }
                };
                if selected.is_empty() {
                    continue;
                }
                (
                    AllowedTraffic::Http(selected),
                    RequestedPorts::All,
                    SmiKind::HTTPRouteGroup,
                )
            }
            "TCPRoute" | "UDPRoute" => {
                let (ports, kind, traffic) = if rule.kind == "TCPRoute" {
                    (
                        state
                            .tcp_routes
                            .get(&key)
                            .filter(|r| !skipped(&r.metadata))
                            .map(|r| r.spec.matches.clone()),
                        SmiKind::TCPRoute,
                        AllowedTraffic::Tcp,
                    )
                } else {
                    (
                        state
                            .udp_routes
                            .get(&key)
                            .filter(|r| !skipped(&r.metadata))
                            .map(|r| r.spec.matches.clone()),
                        SmiKind::UDPRoute,
                        AllowedTraffic::Udp,
                    )
                };
                let Some(matches) = ports else {
                    problems.push(format!(
                        "{field}: {} `{}` does not exist; the rule allows nothing until it does",
                        rule.kind, rule.name
                    ));
                    continue;
                };
                let ports: BTreeSet<u16> = matches
                    .iter()
                    .flat_map(|m| m.ports.iter())
                    .filter_map(|p| u16::try_from(*p).ok())
                    .filter(|p| *p > 0)
                    .collect();
                let requested = if ports.is_empty() {
                    RequestedPorts::All
                } else {
                    RequestedPorts::Some(ports)
                };
                (traffic, requested, kind)
            }
            _ => continue,
        };
        refs.push(SmiRef {
            kind,
            key: key.clone(),
        });
        // A v1alpha1/v1alpha2 destination port narrows every rule.
        let requested = match (requested, destination_port) {
            (requested, None) => requested,
            (RequestedPorts::All, Some(port)) => RequestedPorts::Some(BTreeSet::from([port])),
            (RequestedPorts::Some(ports), Some(port)) => {
                if !ports.contains(&port) {
                    problems.push(format!("{field}: {} `{}` does not cover the destination port {port}, so the rule allows nothing", rule.kind, rule.name));
                    continue;
                }
                RequestedPorts::Some(BTreeSet::from([port]))
            }
        };
        let (ports, all_ports) = match requested {
            RequestedPorts::All => (
                all_pod_ports(state, &identity)
                    .into_iter()
                    .map(|p| p.port)
                    .collect(),
                true,
            ),
            RequestedPorts::Some(ports) => (resolve_ports(state, &identity, &ports), false),
        };
        rules.push(AccessRule {
            target: object.clone(),
            sources: sources.clone(),
            ports,
            all_ports,
            traffic,
        });
    }
    if state.workloads_of(&identity).next().is_none() {
        problems.push(format!(
            "no workload runs as ServiceAccount `{}` yet; nothing to protect until one does",
            identity.service_account
        ));
    }
    if problems.is_empty() {
        ctx.condition(
            object,
            ResolvedRefs,
            true,
            "ResolvedRefs",
            "every referenced traffic spec exists",
        );
    } else {
        ctx.condition(
            object,
            ResolvedRefs,
            false,
            "RefNotResolved",
            problems.join("; "),
        );
    }
    refs.sort();
    refs.dedup();
    Some((identity, refs, rules))
}

/// Maps ports named by a rule to pod ports: a port of a Service that selects the destination's
/// pods becomes that Service port's target port; any other port is taken as a pod port.
fn resolve_ports(state: &ClusterState, identity: &Identity, requested: &BTreeSet<u16>) -> Vec<u16> {
    let mut resolved = BTreeSet::new();
    for port in requested {
        let mut via_service = false;
        for (_, service) in state.services_in(&identity.namespace) {
            let (Some(selector), Some(service_port)) = (
                &service.selector,
                service.ports.iter().find(|p| p.port == *port),
            ) else {
                continue;
            };
            for (_, workload) in state
                .workloads_of(identity)
                .filter(|(_, w)| w.selected_by(selector))
            {
                if let Some(target) = workload.resolve_target_port(&service_port.target_port) {
                    resolved.insert(target);
                    via_service = true;
                }
            }
        }
        if !via_service {
            resolved.insert(*port);
        }
    }
    resolved.into_iter().collect()
}

/// Every pod port of a workload: declared container ports and the target ports of Services
/// that select it.
fn workload_ports(state: &ClusterState, namespace: &str, workload: &Workload) -> Vec<PodPort> {
    let mut ports: BTreeMap<u16, PodPort> = BTreeMap::new();
    for (_, service) in state.services_in(namespace) {
        let Some(selector) = &service.selector else {
            continue;
        };
        if !workload.selected_by(selector) {
            continue;
        }
        for service_port in &service.ports {
            let Some(port) = workload.resolve_target_port(&service_port.target_port) else {
                continue;
            };
            let protocol = service_port.declared_protocol();
            let entry = ports.entry(port).or_insert_with(|| PodPort {
                port,
                name: None,
                transport: service_port.protocol.clone(),
                protocol,
            });
            if entry.protocol == PortProtocol::Unknown {
                entry.protocol = protocol;
            }
        }
    }
    for container_port in &workload.container_ports {
        let entry = ports.entry(container_port.port).or_insert_with(|| PodPort {
            port: container_port.port,
            name: None,
            transport: container_port.protocol.clone(),
            protocol: PortProtocol::classify(
                container_port.name.as_deref(),
                None,
                &container_port.protocol,
            ),
        });
        entry.name = container_port.name.clone();
    }
    ports.into_values().collect()
}

fn all_pod_ports(state: &ClusterState, identity: &Identity) -> Vec<PodPort> {
    let mut ports: BTreeMap<u16, PodPort> = BTreeMap::new();
    for (_, workload) in state.workloads_of(identity) {
        for port in workload_ports(state, &identity.namespace, workload) {
            ports.entry(port.port).or_insert(port);
        }
    }
    ports.into_values().collect()
}

fn destination(
    state: &ClusterState,
    identity: Identity,
    origin: AccessOrigin,
    sources: Vec<SmiRef>,
    rules: Vec<AccessRule>,
) -> DestinationAccess {
    let mut by_labels: BTreeMap<BTreeMap<String, String>, Vec<WorkloadKey>> = BTreeMap::new();
    for (key, workload) in state.workloads_of(&identity) {
        by_labels
            .entry(workload.pod_labels.clone())
            .or_default()
            .push(key.clone());
    }
    let pod_sets = by_labels
        .into_iter()
        .map(|(labels, workloads)| {
            let overlapping = state
                .workloads_in(&identity.namespace)
                .filter(|(_, w)| {
                    w.service_account != identity.service_account && w.selected_by(&labels)
                })
                .map(|(k, _)| k.clone())
                .collect();
            let mut ports: BTreeMap<u16, PodPort> = BTreeMap::new();
            let mut probes = BTreeSet::new();
            for workload in workloads.iter().filter_map(|key| state.workloads.get(key)) {
                for port in workload_ports(state, &identity.namespace, workload) {
                    ports.entry(port.port).or_insert(port);
                }
                for probe in &workload.http_probes {
                    if let Some(port) = workload.resolve_target_port(&probe.port) {
                        probes.insert(PodProbe {
                            port,
                            path: probe.path.clone(),
                        });
                    }
                }
            }
            PodSet {
                labels,
                workloads,
                overlapping,
                ports: ports.into_values().collect(),
                probes: probes.into_iter().collect(),
            }
        })
        .collect();
    let ports = all_pod_ports(state, &identity);
    DestinationAccess {
        identity,
        origin,
        sources,
        pod_sets,
        ports,
        rules,
    }
}

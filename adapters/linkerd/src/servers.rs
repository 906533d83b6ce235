//! The Servers of a destination: one per pod set and TCP pod port, selecting exactly that pod
//! set's pods.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};
use smi_translate::model::{AllowedTraffic, DestinationAccess, PodSet, PortProtocol};
use smi_translate::native::bounded_name;
use smi_translate::state::{ClusterState, WorkloadKey};

/// A pod set's `podSelector`: its labels, plus `DoesNotExist` for a label of every other
/// workload whose pods carry all of them (another identity's, or a pod set of the same identity
/// with more labels), so that Servers never overlap. `Err` lists the workloads whose pods have
/// exactly the pod set's labels: no label selector can leave them out.
pub fn pod_selector(
    state: &ClusterState,
    destination: &DestinationAccess,
    pod_set: &PodSet,
) -> Result<Value, Vec<WorkloadKey>> {
    let mut excluded: BTreeSet<&str> = BTreeSet::new();
    let mut inseparable = Vec::new();
    for (key, workload) in
        state.workloads_selected(&destination.identity.namespace, &pod_set.labels)
    {
        if pod_set.workloads.contains(key) {
            continue;
        }
        match workload
            .pod_labels
            .keys()
            .find(|k| !pod_set.labels.contains_key(*k))
        {
            Some(extra) => {
                excluded.insert(extra.as_str());
            }
            None => inseparable.push(key.clone()),
        }
    }
    if !inseparable.is_empty() {
        return Err(inseparable);
    }
    let mut selector = Map::new();
    selector.insert("matchLabels".to_string(), json!(pod_set.labels));
    if !excluded.is_empty() {
        let expressions: Vec<Value> = excluded
            .iter()
            .map(|k| json!({"key": k, "operator": "DoesNotExist"}))
            .collect();
        selector.insert("matchExpressions".to_string(), Value::Array(expressions));
    }
    Ok(Value::Object(selector))
}

/// The TCP pod ports of a pod set that need a Server, with their declared protocol: its own
/// ports, and ports rules name explicitly (Linkerd proxies undeclared ports too).
pub fn server_ports(
    destination: &DestinationAccess,
    pod_set: &PodSet,
) -> BTreeMap<u16, PortProtocol> {
    let mut ports: BTreeMap<u16, PortProtocol> = pod_set
        .ports
        .iter()
        .filter(|p| p.transport.eq_ignore_ascii_case("TCP"))
        .map(|p| (p.port, p.protocol))
        .collect();
    for rule in destination
        .rules
        .iter()
        .filter(|r| !r.all_ports && !matches!(r.traffic, AllowedTraffic::Udp))
    {
        for port in &rule.ports {
            let declared = destination.ports.iter().find(|p| p.port == *port);
            if declared.is_none_or(|p| p.transport.eq_ignore_ascii_case("TCP")) {
                ports
                    .entry(*port)
                    .or_insert(declared.map_or(PortProtocol::Unknown, |p| p.protocol));
            }
        }
    }
    ports
}

/// `<serviceaccount>-<port>`, or `<serviceaccount>-<first workload>-<port>` when the
/// destination has several pod sets.
pub fn server_name(destination: &DestinationAccess, pod_set: &PodSet, port: u16) -> String {
    let sa = &destination.identity.service_account;
    match pod_set.workloads.first() {
        Some(first) if destination.pod_sets.len() > 1 => {
            bounded_name(&format!("{sa}-{}-{port}", first.key.name), 253)
        }
        _ => bounded_name(&format!("{sa}-{port}"), 253),
    }
}

/// Linkerd's `proxyProtocol` for a declared protocol. gRPC Servers take GRPCRoutes, not
/// HTTPRoutes, so a gRPC port with HTTP access rules is declared `HTTP/2` (which gRPC is).
pub fn proxy_protocol(protocol: PortProtocol, has_http_routes: bool) -> &'static str {
    match protocol {
        PortProtocol::Http => "HTTP/1",
        PortProtocol::Http2 => "HTTP/2",
        PortProtocol::Grpc if has_http_routes => "HTTP/2",
        PortProtocol::Grpc => "gRPC",
        PortProtocol::Tcp => "opaque",
        PortProtocol::Udp | PortProtocol::Unknown => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smi_translate::keys::{Identity, ObjectKey};
    use smi_translate::model::{AccessOrigin, PodPort};
    use smi_translate::state::{Workload, WorkloadKind};

    fn workload(
        state: &mut ClusterState,
        name: &str,
        sa: &str,
        labels: &[(&str, &str)],
    ) -> WorkloadKey {
        let key = WorkloadKey {
            key: ObjectKey::new("ns", name),
            kind: WorkloadKind::Deployment,
        };
        state.workloads.insert(
            key.clone(),
            Workload {
                service_account: sa.into(),
                pod_labels: labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                pod_annotations: Default::default(),
                container_ports: vec![],
                http_probes: vec![],
            },
        );
        key
    }

    fn destination(pod_sets: Vec<PodSet>) -> DestinationAccess {
        DestinationAccess {
            identity: Identity::new("ns", "api"),
            origin: AccessOrigin::TrafficTargets,
            sources: vec![],
            pod_sets,
            ports: vec![],
            rules: vec![],
        }
    }

    fn pod_set(labels: &[(&str, &str)], workloads: Vec<WorkloadKey>) -> PodSet {
        PodSet {
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            workloads,
            overlapping: vec![],
            ports: vec![PodPort {
                port: 8080,
                name: None,
                transport: "TCP".into(),
                protocol: PortProtocol::Http,
            }],
            probes: vec![],
        }
    }

    #[test]
    fn supersets_are_excluded_and_identical_labels_are_inseparable() {
        let mut state = ClusterState::default();
        let api = workload(&mut state, "api", "api", &[("app", "api")]);
        workload(
            &mut state,
            "api-admin",
            "admin",
            &[("app", "api"), ("role", "admin")],
        );
        workload(
            &mut state,
            "api-canary",
            "api",
            &[("app", "api"), ("track", "canary")],
        );
        let set = pod_set(&[("app", "api")], vec![api]);
        let d = destination(vec![set.clone()]);
        assert_eq!(
            pod_selector(&state, &d, &set).unwrap(),
            json!({"matchLabels": {"app": "api"}, "matchExpressions": [
                {"key": "role", "operator": "DoesNotExist"},
                {"key": "track", "operator": "DoesNotExist"},
            ]})
        );
        let twin = workload(&mut state, "twin", "other", &[("app", "api")]);
        assert_eq!(pod_selector(&state, &d, &set).unwrap_err(), vec![twin]);
    }

    #[test]
    fn names_and_protocols() {
        let mut state = ClusterState::default();
        let v1 = workload(&mut state, "web-v1", "api", &[("v", "1")]);
        let v2 = workload(&mut state, "web-v2", "api", &[("v", "2")]);
        let one = destination(vec![pod_set(&[("v", "1")], vec![v1.clone()])]);
        assert_eq!(server_name(&one, &one.pod_sets[0], 8080), "api-8080");
        let two = destination(vec![
            pod_set(&[("v", "1")], vec![v1]),
            pod_set(&[("v", "2")], vec![v2]),
        ]);
        assert_eq!(server_name(&two, &two.pod_sets[1], 8080), "api-web-v2-8080");
        assert_eq!(proxy_protocol(PortProtocol::Grpc, false), "gRPC");
        assert_eq!(proxy_protocol(PortProtocol::Grpc, true), "HTTP/2");
        assert_eq!(proxy_protocol(PortProtocol::Unknown, true), "unknown");
    }
}

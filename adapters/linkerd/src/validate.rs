//! Checks Linkerd makes outside the CRD schemas, which the test control plane therefore lacks.
//!
//! Servers must not overlap. Linkerd's admission webhook rejects a Server with the same `port`
//! as another in its namespace and an identical `podSelector` (or, in some releases, when either
//! selector selects every pod). Servers that select the same pod port with different selectors
//! are admitted, but the policy controller then uses one of them and ignores the other ("Port
//! already matched by another server; skipping"), so which policy applies is arbitrary.
//! [`server_conflicts`] finds both among any set of Servers (smi-bridge's and the user's).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use smi_translate::NativeObject;
use smi_translate::state::{ClusterState, Workload, WorkloadKey};

use crate::options::POLICY_GROUP;

/// Servers that cannot coexist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerConflict {
    /// The admission webhook rejects the later of two Servers with the same port and pod selector.
    Rejected {
        /// `namespace/name` of the two Servers.
        servers: [String; 2],
    },
    /// Several Servers select one pod port: Linkerd applies one of them.
    SharedPodPort {
        /// The workload whose pods are selected.
        workload: WorkloadKey,
        /// The pod port.
        port: u16,
        /// `namespace/name` of the Servers.
        servers: Vec<String>,
    },
}

/// Every conflict among the Servers in `objects` (other kinds are ignored).
pub fn server_conflicts(
    state: &ClusterState,
    objects: &[NativeObject],
) -> Result<Vec<ServerConflict>, String> {
    let servers: Vec<&NativeObject> = objects.iter().filter(|o| is_server(o)).collect();
    let mut conflicts = Vec::new();
    for (i, a) in servers.iter().enumerate() {
        for b in &servers[i + 1..] {
            let (Some(sa), Some(sb)) = (a.spec(), b.spec()) else {
                continue;
            };
            if a.namespace == b.namespace
                && sa.get("port") == sb.get("port")
                && (sa.get("podSelector") == sb.get("podSelector")
                    || selects_all(sa)
                    || selects_all(sb))
            {
                conflicts.push(ServerConflict::Rejected {
                    servers: [qualified(a), qualified(b)],
                });
            }
        }
    }
    let mut by_pod_port: BTreeMap<(&WorkloadKey, u16), BTreeSet<String>> = BTreeMap::new();
    for server in &servers {
        let spec = server
            .spec()
            .ok_or_else(|| format!("Server {} has no spec", qualified(server)))?;
        let selector = spec
            .get("podSelector")
            .ok_or_else(|| format!("Server {} has no podSelector", qualified(server)))?;
        for (key, workload) in state.workloads_in(&server.namespace) {
            if selects(selector, &workload.pod_labels)? {
                for port in selected_ports(spec, workload) {
                    by_pod_port
                        .entry((key, port))
                        .or_default()
                        .insert(qualified(server));
                }
            }
        }
    }
    conflicts.extend(by_pod_port.into_iter().filter(|(_, s)| s.len() > 1).map(
        |((workload, port), servers)| ServerConflict::SharedPodPort {
            workload: workload.clone(),
            port,
            servers: servers.into_iter().collect(),
        },
    ));
    Ok(conflicts)
}

/// Whether an object is a `policy.linkerd.io` Server.
pub fn is_server(object: &NativeObject) -> bool {
    object.kind == "Server" && object.group() == POLICY_GROUP
}

fn qualified(object: &NativeObject) -> String {
    format!("{}/{}", object.namespace, object.name)
}

fn selects_all(spec: &Value) -> bool {
    let selector = spec.get("podSelector");
    let empty = |field: &str| {
        selector.and_then(|s| s.get(field)).is_none_or(|v| {
            v.as_object().is_some_and(|o| o.is_empty())
                || v.as_array().is_some_and(|a| a.is_empty())
        })
    };
    empty("matchLabels") && empty("matchExpressions")
}

/// Whether a label selector (`matchLabels` and `matchExpressions`, AND'ed) selects `labels`.
pub fn selects(selector: &Value, labels: &BTreeMap<String, String>) -> Result<bool, String> {
    let match_labels = selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten();
    for (key, value) in match_labels {
        if labels.get(key).map(String::as_str) != value.as_str() {
            return Ok(false);
        }
    }
    let expressions = selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for expression in expressions {
        let key = expression
            .get("key")
            .and_then(Value::as_str)
            .ok_or("matchExpression without a key")?;
        let values: Vec<&str> = expression
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let value = labels.get(key).map(String::as_str);
        let holds = match expression.get("operator").and_then(Value::as_str) {
            Some("In") => value.is_some_and(|v| values.contains(&v)),
            Some("NotIn") => value.is_none_or(|v| !values.contains(&v)),
            Some("Exists") => value.is_some(),
            Some("DoesNotExist") => value.is_none(),
            other => return Err(format!("unknown matchExpression operator {other:?}")),
        };
        if !holds {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The pod ports a Server's `port` (a number, or a container port name) selects on a workload.
pub fn selected_ports(spec: &Value, workload: &Workload) -> Vec<u16> {
    match spec.get("port") {
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .into_iter()
            .collect(),
        Some(Value::String(name)) => workload
            .container_ports
            .iter()
            .filter(|p| p.name.as_deref() == Some(name.as_str()))
            .map(|p| p.port)
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use smi_translate::keys::ObjectKey;
    use smi_translate::state::{ContainerPort, WorkloadKind};

    fn state() -> ClusterState {
        let mut state = ClusterState::default();
        for (name, labels) in [
            ("api", vec![("app", "api")]),
            ("admin", vec![("app", "api"), ("role", "admin")]),
        ] {
            state.workloads.insert(
                WorkloadKey {
                    key: ObjectKey::new("ns", name),
                    kind: WorkloadKind::Deployment,
                },
                Workload {
                    service_account: name.into(),
                    pod_labels: labels
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                    pod_annotations: Default::default(),
                    container_ports: vec![ContainerPort {
                        name: Some("http".into()),
                        port: 8080,
                        protocol: "TCP".into(),
                    }],
                    http_probes: vec![],
                },
            );
        }
        state
    }

    fn server(name: &str, selector: Value, port: Value) -> NativeObject {
        NativeObject::new(
            "policy.linkerd.io/v1beta3",
            "Server",
            "ns",
            name,
            json!({"podSelector": selector, "port": port}),
        )
    }

    #[test]
    fn identical_selectors_are_rejected_and_shared_pod_ports_reported() {
        let a = server("a", json!({"matchLabels": {"app": "api"}}), json!(8080));
        let b = server("b", json!({"matchLabels": {"app": "api"}}), json!(8080));
        let c = server(
            "c",
            json!({"matchLabels": {"role": "admin"}}),
            json!("http"),
        );
        let conflicts = server_conflicts(&state(), &[a, b, c]).unwrap();
        assert_eq!(
            conflicts[0],
            ServerConflict::Rejected {
                servers: ["ns/a".into(), "ns/b".into()]
            }
        );
        assert_eq!(conflicts.len(), 3, "{conflicts:?}");
        let ServerConflict::SharedPodPort {
            workload,
            port,
            servers,
        } = &conflicts[1]
        else {
            panic!("{conflicts:?}")
        };
        assert_eq!((workload.key.name.as_str(), *port), ("admin", 8080));
        assert_eq!(
            servers,
            &vec!["ns/a".to_string(), "ns/b".to_string(), "ns/c".to_string()]
        );
    }

    #[test]
    fn exclusions_keep_servers_apart() {
        let api = server(
            "api",
            json!({"matchLabels": {"app": "api"}, "matchExpressions": [{"key": "role", "operator": "DoesNotExist"}]}),
            json!(8080),
        );
        let admin = server(
            "admin",
            json!({"matchLabels": {"app": "api", "role": "admin"}}),
            json!(8080),
        );
        assert!(
            server_conflicts(&state(), &[api, admin])
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn an_empty_selector_conflicts_with_every_server_on_its_port() {
        let all = server("all", json!({"matchLabels": {}}), json!(9090));
        let other = server(
            "other",
            json!({"matchLabels": {"app": "none"}}),
            json!(9090),
        );
        assert_eq!(server_conflicts(&state(), &[all, other]).unwrap().len(), 1);
    }

    #[test]
    fn selector_operators() {
        let labels: BTreeMap<String, String> = [("app".to_string(), "api".to_string())].into();
        assert!(selects(&json!({"matchExpressions": [{"key": "app", "operator": "In", "values": ["api", "web"]}]}), &labels).unwrap());
        assert!(!selects(&json!({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["api"]}]}), &labels).unwrap());
        assert!(selects(&json!({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["x"]}]}), &labels).unwrap());
        assert!(
            selects(
                &json!({"matchExpressions": [{"key": "app", "operator": "Exists"}]}),
                &labels
            )
            .unwrap()
        );
        assert!(selects(&json!({}), &labels).unwrap());
        assert!(
            selects(
                &json!({"matchExpressions": [{"key": "app", "operator": "Gt"}]}),
                &labels
            )
            .is_err()
        );
    }
}

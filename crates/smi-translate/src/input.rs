//! Loading Kubernetes objects (SMI objects at any version, Namespaces, Services, workloads) into a
//! [`ClusterState`], with errors that name the origin, the object and the field.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::BTreeMap;

use smi_api::convert::HubObject;

use crate::keys::{ObjectKey, SmiRef};
use crate::state::ClusterState;

/// The state loaded from a set of objects, and what was ignored.
#[derive(Clone, Debug, Default)]
pub struct LoadedInput {
    /// The translation input.
    pub state: ClusterState,
    /// Objects that were ignored, and why (e.g. kinds translation does not read).
    pub warnings: Vec<String>,
    /// Where each SMI object came from (a file name, `stdin`, …).
    pub origins: BTreeMap<SmiRef, String>,
}

/// An object that could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("{origin}: {object}: {message}")]
pub struct InputError {
    /// Where the object came from (a file name, `stdin`, …).
    pub origin: String,
    /// `Kind namespace/name` (as far as it could be read).
    pub object: String,
    /// What is wrong, with the field path and value.
    pub message: String,
}

/// Loads objects, each with its origin. `List` objects are expanded. Objects of kinds translation
/// does not read are ignored with a warning; objects without a namespace get `default`.
pub fn load_objects(
    objects: impl IntoIterator<Item = (String, Value)>,
) -> Result<LoadedInput, InputError> {
    let mut loaded = LoadedInput::default();
    for (origin, object) in objects {
        load_one(&mut loaded, &origin, object)?;
    }
    Ok(loaded)
}

fn describe(object: &Value) -> String {
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("<no kind>");
    let meta = object.get("metadata");
    let name = meta
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("<no name>");
    match meta
        .and_then(|m| m.get("namespace"))
        .and_then(Value::as_str)
    {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}

fn parse<T: DeserializeOwned>(origin: &str, object: &Value) -> Result<T, InputError> {
    serde_path_to_error::deserialize(object).map_err(|e| InputError {
        origin: origin.to_string(),
        object: describe(object),
        message: format!("field `{}`: {}", e.path(), e.inner()),
    })
}

fn load_one(loaded: &mut LoadedInput, origin: &str, mut object: Value) -> Result<(), InputError> {
    if object.is_null() {
        return Ok(());
    }
    let Some(map) = object.as_object_mut() else {
        return Err(InputError {
            origin: origin.to_string(),
            object: "<not an object>".to_string(),
            message: "a Kubernetes object must be a mapping with apiVersion and kind".to_string(),
        });
    };
    let api_version = map
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let kind = map
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if api_version.is_empty() || kind.is_empty() {
        return Err(InputError {
            origin: origin.to_string(),
            object: describe(&object),
            message: "missing `apiVersion` or `kind`".to_string(),
        });
    }
    if kind == "List" || kind.ends_with("List") && map.contains_key("items") {
        let items = map.remove("items").and_then(|i| match i {
            Value::Array(items) => Some(items),
            _ => None,
        });
        for item in items.unwrap_or_default() {
            load_one(loaded, origin, item)?;
        }
        return Ok(());
    }
    let metadata = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Default::default()));
    if let Some(meta) = metadata.as_object_mut() {
        let cluster_scoped = kind == "Namespace";
        if !cluster_scoped && !meta.contains_key("namespace") {
            meta.insert(
                "namespace".to_string(),
                Value::String("default".to_string()),
            );
        }
    }
    let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    let state = &mut loaded.state;
    match (group, kind.as_str()) {
        ("", "Namespace") => state.insert_namespace(&parse::<Namespace>(origin, &object)?),
        ("", "Service") => state.insert_service(&parse::<Service>(origin, &object)?),
        ("", "Pod") => state.insert_pod(&parse::<Pod>(origin, &object)?),
        ("apps", "Deployment") => state.insert_deployment(&parse::<Deployment>(origin, &object)?),
        ("apps", "StatefulSet") => {
            state.insert_stateful_set(&parse::<StatefulSet>(origin, &object)?)
        }
        ("apps", "DaemonSet") => state.insert_daemon_set(&parse::<DaemonSet>(origin, &object)?),
        ("apps", "ReplicaSet") => state.insert_replica_set(&parse::<ReplicaSet>(origin, &object)?),
        ("split.smi-spec.io" | "access.smi-spec.io" | "specs.smi-spec.io", _) => {
            let object = insert_smi(origin, state, &object)?;
            loaded.origins.insert(object, origin.to_string());
        }
        // Identities are ServiceAccount names: the objects themselves add nothing.
        ("", "ServiceAccount") => {}
        _ => loaded.warnings.push(format!(
            "{origin}: ignored {} ({api_version}): not an input of translation",
            describe(&object)
        )),
    }
    Ok(())
}

/// Converts an SMI object at any served version to its hub version and adds it to the state.
fn insert_smi(
    origin: &str,
    state: &mut ClusterState,
    object: &Value,
) -> Result<SmiRef, InputError> {
    let hub_object = smi_api::convert::to_hub(object).map_err(|e| InputError {
        origin: origin.to_string(),
        object: describe(object),
        message: e.to_string(),
    })?;
    fn insert<K: kube::Resource>(object: K, map: &mut BTreeMap<ObjectKey, K>) -> ObjectKey {
        let meta = object.meta();
        let key = ObjectKey::new(
            meta.namespace.clone().unwrap_or_default(),
            meta.name.clone().unwrap_or_default(),
        );
        map.insert(key.clone(), object);
        key
    }
    let kind = hub_object.kind();
    let key = match hub_object {
        HubObject::TrafficSplit(o) => insert(o, &mut state.traffic_splits),
        HubObject::TrafficTarget(o) => insert(o, &mut state.traffic_targets),
        HubObject::HTTPRouteGroup(o) => insert(o, &mut state.http_route_groups),
        HubObject::TCPRoute(o) => insert(o, &mut state.tcp_routes),
        HubObject::UDPRoute(o) => insert(o, &mut state.udp_routes),
    };
    Ok(SmiRef { kind, key })
}

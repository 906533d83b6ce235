//! Desired versus observed native objects: what is applied, and when an apply is needed.
//!
//! An apply is needed when a field smi-bridge sets differs from the observed object (the
//! observed object may carry more: defaults, other managers' fields), or when the hash of
//! everything smi-bridge would apply differs from the hash it recorded at its last apply (so a
//! field it stops setting is removed). A server-side apply that changes nothing is still a
//! write, so nothing is applied otherwise.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use smi_translate::NativeObject;

use crate::config::APPLIED_HASH_ANNOTATION;

/// An owner of a native object: an SMI source in the same namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    /// `apiVersion` of the SMI object (its hub version).
    pub api_version: String,
    /// Kind.
    pub kind: String,
    /// Name.
    pub name: String,
    /// `metadata.uid`.
    pub uid: String,
}

/// The object to apply: the rendered object, its owner references and the applied-hash
/// annotation (a hash of the rest).
pub fn desired_object(object: &NativeObject, owners: &[Owner]) -> Value {
    let mut value = object.to_json();
    if !owners.is_empty() {
        let controller = owners.len() == 1;
        let references: Vec<Value> = owners
            .iter()
            .map(|o| {
                json!({
                    "apiVersion": o.api_version,
                    "kind": o.kind,
                    "name": o.name,
                    "uid": o.uid,
                    "controller": controller,
                })
            })
            .collect();
        value["metadata"]["ownerReferences"] = Value::Array(references);
    }
    let hash = hash(&value);
    if let Some(metadata) = value.get_mut("metadata").and_then(Value::as_object_mut) {
        let annotations = metadata
            .entry("annotations")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(annotations) = annotations.as_object_mut() {
            annotations.insert(APPLIED_HASH_ANNOTATION.to_string(), Value::String(hash));
        }
    }
    value
}

/// A stable hash of a JSON value (keys sorted at every level).
pub fn hash(value: &Value) -> String {
    let mut hasher = Sha256::new();
    feed(&mut hasher, value);
    let digest = hasher.finalize();
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

fn feed(hasher: &mut Sha256, value: &Value) {
    match value {
        Value::Object(map) => {
            hasher.update(b"{");
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for key in keys {
                hasher.update(serde_json::to_string(key).unwrap_or_default().as_bytes());
                hasher.update(b":");
                feed(hasher, &map[key]);
                hasher.update(b",");
            }
            hasher.update(b"}");
        }
        Value::Array(items) => {
            hasher.update(b"[");
            for item in items {
                feed(hasher, item);
                hasher.update(b",");
            }
            hasher.update(b"]");
        }
        other => hasher.update(other.to_string().as_bytes()),
    }
}

/// Whether applying `desired` would change `observed`: a field set in `desired` differs, or
/// the applied-hash annotation does.
pub fn needs_apply(desired: &Value, observed: &Value) -> bool {
    let annotation = |v: &Value| {
        v.pointer("/metadata/annotations")
            .and_then(|a| a.get(APPLIED_HASH_ANNOTATION))
            .cloned()
    };
    annotation(desired) != annotation(observed) || !contains(observed, desired, "")
}

/// Whether every field of `wanted` is in `actual` with the same value. Objects may carry more
/// keys; arrays must have the same length and match item by item, except owner references,
/// which match by uid (other managers may add owners).
pub fn contains(actual: &Value, wanted: &Value, path: &str) -> bool {
    match (actual, wanted) {
        (Value::Object(a), Value::Object(w)) => w.iter().all(|(key, value)| {
            let sub = format!("{path}/{key}");
            match a.get(key) {
                Some(actual) => contains(actual, value, &sub),
                None => value.is_null(),
            }
        }),
        (Value::Array(a), Value::Array(w)) if path == "/metadata/ownerReferences" => {
            w.iter().all(|owner| {
                a.iter()
                    .any(|o| o.get("uid") == owner.get("uid") && contains(o, owner, ""))
            })
        }
        (Value::Array(a), Value::Array(w)) => {
            a.len() == w.len() && a.iter().zip(w).all(|(a, w)| contains(a, w, path))
        }
        (Value::Number(a), Value::Number(w)) => a == w || a.as_f64() == w.as_f64(),
        (a, w) => a == w,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object() -> NativeObject {
        let mut o = NativeObject::new(
            "networking.istio.io/v1",
            "VirtualService",
            "ns",
            "smi-web",
            json!({"hosts": ["web"], "http": [{"route": [{"weight": 100}]}]}),
        );
        o.stamp_ownership("istio");
        o
    }

    fn owner() -> Owner {
        Owner {
            api_version: "split.smi-spec.io/v1alpha4".into(),
            kind: "TrafficSplit".into(),
            name: "web".into(),
            uid: "u1".into(),
        }
    }

    #[test]
    fn the_desired_object_carries_owners_and_a_stable_hash() {
        let a = desired_object(&object(), &[owner()]);
        let b = desired_object(&object(), &[owner()]);
        assert_eq!(a, b);
        assert_eq!(
            a["metadata"]["ownerReferences"][0]["controller"],
            json!(true)
        );
        let two = desired_object(
            &object(),
            &[
                owner(),
                Owner {
                    uid: "u2".into(),
                    ..owner()
                },
            ],
        );
        assert_eq!(
            two["metadata"]["ownerReferences"][1]["controller"],
            json!(false)
        );
        assert_ne!(
            a["metadata"]["annotations"][APPLIED_HASH_ANNOTATION],
            two["metadata"]["annotations"][APPLIED_HASH_ANNOTATION]
        );
    }

    #[test]
    fn defaults_and_foreign_fields_do_not_need_an_apply() {
        let desired = desired_object(&object(), &[owner()]);
        let mut observed = desired.clone();
        observed["metadata"]["uid"] = json!("x");
        observed["metadata"]["labels"]["other"] = json!("y");
        observed["spec"]["http"][0]["route"][0]["destination"] = json!({"port": 80});
        if let Some(owners) = observed["metadata"]["ownerReferences"].as_array_mut() {
            owners.push(json!({"uid": "someone-else"}));
        }
        assert!(!needs_apply(&desired, &observed));
    }

    #[test]
    fn changed_fields_and_dropped_fields_need_an_apply() {
        let desired = desired_object(&object(), &[owner()]);
        let mut changed = desired.clone();
        changed["spec"]["http"][0]["route"][0]["weight"] = json!(50);
        assert!(needs_apply(&desired, &changed));
        let mut longer = desired.clone();
        longer["spec"]["hosts"] = json!(["web", "other"]);
        assert!(needs_apply(&desired, &longer));
        // A field smi-bridge applied before and no longer sets: only the hash tells.
        let mut previous = object();
        previous.body["spec"]["gateways"] = json!(["mesh"]);
        let observed = desired_object(&previous, &[owner()]);
        assert!(needs_apply(&desired, &observed));
        let mut unlabelled = desired.clone();
        if let Some(annotations) = unlabelled["metadata"]["annotations"].as_object_mut() {
            annotations.remove(APPLIED_HASH_ANNOTATION);
        }
        assert!(needs_apply(&desired, &unlabelled));
    }
}

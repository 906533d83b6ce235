//! Desired native objects as backends emit them, and the ownership marks the core stamps on them.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::keys::SmiRef;

/// Label every object smi-bridge writes carries (`app.kubernetes.io/managed-by: smi-bridge`).
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY_VALUE: &str = "smi-bridge";
/// Label naming the backend (mesh) that produced an object.
pub const BACKEND_LABEL: &str = "smi-bridge.io/backend";
/// Label identifying an object's sources: the SMI object's name when there is one source and it
/// fits a label value, otherwise a stable hash of the sorted source list.
pub const SOURCES_LABEL: &str = "smi-bridge.io/sources";
/// Annotation listing an object's sources (`Kind/namespace/name`, comma-separated, sorted).
pub const SOURCES_ANNOTATION: &str = "smi-bridge.io/sources";

/// A native object a backend wants to exist.
#[derive(Clone, Debug, PartialEq)]
pub struct NativeObject {
    /// `group/version` (or `v1` for core objects).
    pub api_version: String,
    /// Kind.
    pub kind: String,
    /// Namespace (every object smi-bridge writes is namespaced).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Labels besides the ownership labels the core adds.
    pub labels: BTreeMap<String, String>,
    /// Annotations besides the sources annotation the core adds.
    pub annotations: BTreeMap<String, String>,
    /// The SMI objects this object was built from.
    pub sources: BTreeSet<SmiRef>,
    /// Top-level fields other than `apiVersion`, `kind` and `metadata` (usually `spec`).
    pub body: Map<String, Value>,
}

impl NativeObject {
    /// A new object with a `spec`.
    pub fn new(
        api_version: impl Into<String>,
        kind: impl Into<String>,
        namespace: impl Into<String>,
        name: impl Into<String>,
        spec: Value,
    ) -> Self {
        let mut body = Map::new();
        body.insert("spec".to_string(), spec);
        NativeObject {
            api_version: api_version.into(),
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            sources: BTreeSet::new(),
            body,
        }
    }

    /// Adds sources (builder style).
    pub fn with_sources<'a>(mut self, sources: impl IntoIterator<Item = &'a SmiRef>) -> Self {
        self.sources.extend(sources.into_iter().cloned());
        self
    }

    /// The API group (empty for the core group).
    pub fn group(&self) -> &str {
        self.api_version
            .rsplit_once('/')
            .map(|(g, _)| g)
            .unwrap_or("")
    }

    /// The `spec`, if any.
    pub fn spec(&self) -> Option<&Value> {
        self.body.get("spec")
    }

    /// Stamps the ownership labels, and the sources label and annotation when the object has
    /// SMI sources (namespace-enforcement objects have none).
    pub fn stamp_ownership(&mut self, backend: &str) {
        self.labels
            .insert(MANAGED_BY_LABEL.to_string(), MANAGED_BY_VALUE.to_string());
        self.labels
            .insert(BACKEND_LABEL.to_string(), backend.to_string());
        if self.sources.is_empty() {
            return;
        }
        self.labels.insert(
            SOURCES_LABEL.to_string(),
            sources_label_value(&self.sources),
        );
        let listed: Vec<String> = self
            .sources
            .iter()
            .map(|s| format!("{}/{}/{}", s.kind, s.key.namespace, s.key.name))
            .collect();
        self.annotations
            .insert(SOURCES_ANNOTATION.to_string(), listed.join(","));
    }

    /// The full object as JSON (keys sorted, so serialisation is deterministic).
    pub fn to_json(&self) -> Value {
        let mut metadata = Map::new();
        metadata.insert("name".to_string(), Value::String(self.name.clone()));
        metadata.insert(
            "namespace".to_string(),
            Value::String(self.namespace.clone()),
        );
        if !self.labels.is_empty() {
            metadata.insert("labels".to_string(), string_map(&self.labels));
        }
        if !self.annotations.is_empty() {
            metadata.insert("annotations".to_string(), string_map(&self.annotations));
        }
        let mut object = Map::new();
        object.insert(
            "apiVersion".to_string(),
            Value::String(self.api_version.clone()),
        );
        object.insert("kind".to_string(), Value::String(self.kind.clone()));
        object.insert("metadata".to_string(), Value::Object(metadata));
        for (k, v) in &self.body {
            object.insert(k.clone(), v.clone());
        }
        Value::Object(object)
    }
}

fn string_map(map: &BTreeMap<String, String>) -> Value {
    Value::Object(
        map.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// The value of [`SOURCES_LABEL`] for a set of sources.
pub fn sources_label_value(sources: &BTreeSet<SmiRef>) -> String {
    if sources.len() == 1
        && let Some(only) = sources.iter().next()
        && is_label_value(&only.key.name)
    {
        return only.key.name.clone();
    }
    let mut hasher = Sha256::new();
    for s in sources {
        hasher.update(format!("{}/{}/{}\n", s.kind, s.key.namespace, s.key.name));
    }
    let digest = hasher.finalize();
    let hex: String = digest.iter().take(10).map(|b| format!("{b:02x}")).collect();
    format!("sha256-{hex}")
}

fn is_label_value(value: &str) -> bool {
    value.len() <= 63
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && value
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && value
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric())
}

/// Truncates a generated object name to the 253 characters Kubernetes allows (63 for names
/// that must be DNS labels), appending a hash of the full name when it had to be cut so
/// distinct long names stay distinct.
pub fn bounded_name(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_string();
    }
    let digest = Sha256::digest(name.as_bytes());
    let hash: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    let keep = max.saturating_sub(hash.len() + 1);
    let mut cut: String = name.chars().take(keep).collect();
    while cut.ends_with(['-', '.']) {
        cut.pop();
    }
    format!("{cut}-{hash}")
}

/// Serialises objects as a YAML stream (`---` separated), deterministically, quoting every
/// string a YAML 1.1 reader (kubectl) could misread.
pub fn to_yaml_stream(objects: &[NativeObject]) -> String {
    let mut out = String::new();
    for object in objects {
        out.push_str("---\n");
        out.push_str(&crate::yaml::to_yaml(&object.to_json()));
    }
    out
}

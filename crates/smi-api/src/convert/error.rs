//! Conversion errors, each naming the object, the field path and the offending value.

use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;

/// Longest rendering of an offending value kept in an error message.
const MAX_VALUE_CHARS: usize = 200;

/// Identifies an object in error messages: `TrafficSplit shop/checkout`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectName {
    /// The object's kind, e.g. `TrafficSplit`.
    pub kind: String,
    /// The object's namespace, if set.
    pub namespace: Option<String>,
    /// The object's name, if set.
    pub name: Option<String>,
}

impl ObjectName {
    /// The name of a typed object from its kind and metadata.
    pub fn new(kind: &str, metadata: &ObjectMeta) -> Self {
        Self {
            kind: kind.to_owned(),
            namespace: metadata.namespace.clone(),
            name: metadata.name.clone(),
        }
    }

    /// The name of an untyped object, read leniently (a malformed object still gets a name).
    pub fn of_value(object: &Value) -> Self {
        let text = |pointer: &str| {
            object
                .pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        Self {
            kind: text("/kind").unwrap_or_else(|| "object".to_owned()),
            namespace: text("/metadata/namespace"),
            name: text("/metadata/name"),
        }
    }
}

impl fmt::Display for ObjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.name.as_deref().unwrap_or("<unnamed>");
        match &self.namespace {
            Some(namespace) => write!(f, "{} {namespace}/{name}", self.kind),
            None => write!(f, "{} {name}", self.kind),
        }
    }
}

/// Why an SMI object could not be read or converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConversionError {
    /// A field is missing, of the wrong type, or holds a value this version does not allow.
    #[error("{object}: `{path}` {}: {problem}", describe_value(.value))]
    InvalidField {
        /// The object holding the field.
        object: Box<ObjectName>,
        /// Path of the field, e.g. `spec.backends[1].weight`.
        path: String,
        /// The offending value as JSON, or `None` when the field is absent.
        value: Option<String>,
        /// What is wrong with it.
        problem: String,
    },
    /// The object's apiVersion names no SMI group or version smi-bridge knows.
    #[error("{object}: unknown apiVersion `{api_version}` for kind `{kind}` (known: {known})")]
    UnknownApiVersion {
        /// The object.
        object: Box<ObjectName>,
        /// The apiVersion found or requested.
        api_version: String,
        /// The object's kind.
        kind: String,
        /// The apiVersions that exist for this kind.
        known: String,
    },
    /// A converted object could not be written as JSON.
    #[error("{object}: cannot be written as JSON: {problem}")]
    Unserializable {
        /// The object.
        object: Box<ObjectName>,
        /// The serializer's message.
        problem: String,
    },
    /// The object's kind is not an SMI kind of its API group.
    #[error("{object}: unknown kind `{kind}` in apiVersion `{api_version}` (known: {known})")]
    UnknownKind {
        /// The object.
        object: Box<ObjectName>,
        /// The kind found.
        kind: String,
        /// The object's apiVersion.
        api_version: String,
        /// The SMI kinds that exist.
        known: String,
    },
}

impl ConversionError {
    /// An invalid field holding `value`.
    pub(crate) fn invalid(
        object: &ObjectName,
        path: impl Into<String>,
        value: &impl serde::Serialize,
        problem: impl Into<String>,
    ) -> Self {
        Self::InvalidField {
            object: Box::new(object.clone()),
            path: path.into(),
            value: Some(render_value(value)),
            problem: problem.into(),
        }
    }
}

fn describe_value(value: &Option<String>) -> String {
    match value {
        Some(value) => format!("= {value}"),
        None => "is missing".to_owned(),
    }
}

/// Compact JSON for an error message, shortened when long.
pub(crate) fn render_value(value: &impl serde::Serialize) -> String {
    let json = serde_json::to_string(value).unwrap_or_else(|error| format!("<{error}>"));
    if json.chars().count() <= MAX_VALUE_CHARS {
        return json;
    }
    let mut shortened: String = json.chars().take(MAX_VALUE_CHARS).collect();
    shortened.push('…');
    shortened
}

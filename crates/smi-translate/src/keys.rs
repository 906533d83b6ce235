//! Identifiers shared by the state, the model and the reports.

use std::fmt;

use serde::{Deserialize, Serialize};

pub use smi_api::SmiKind;

/// Namespace and name of a namespaced object.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectKey {
    /// Namespace of the object.
    pub namespace: String,
    /// Name of the object.
    pub name: String,
}

impl ObjectKey {
    /// Builds a key.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        ObjectKey {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// An SMI object: its kind, namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SmiRef {
    /// The SMI kind.
    pub kind: SmiKind,
    /// Namespace and name.
    pub key: ObjectKey,
}

impl SmiRef {
    /// Builds a reference.
    pub fn new(kind: SmiKind, namespace: impl Into<String>, name: impl Into<String>) -> Self {
        SmiRef {
            kind,
            key: ObjectKey::new(namespace, name),
        }
    }
}

impl fmt::Display for SmiRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.key)
    }
}

/// A workload identity: a ServiceAccount.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Identity {
    /// Namespace of the ServiceAccount.
    pub namespace: String,
    /// Name of the ServiceAccount.
    pub service_account: String,
}

impl Identity {
    /// Builds an identity.
    pub fn new(namespace: impl Into<String>, service_account: impl Into<String>) -> Self {
        Identity {
            namespace: namespace.into(),
            service_account: service_account.into(),
        }
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.service_account)
    }
}

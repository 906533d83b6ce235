//! Consul service names: how Kubernetes Services and ServiceAccounts are named in Consul, with or
//! without Consul Enterprise namespaces.

use std::fmt;

use smi_translate::ObjectKey;

use crate::NamespaceMode;

/// A Consul service name, with its Consul namespace when namespaces are mirrored.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConsulName {
    /// The Consul namespace (`None` without Consul namespaces: one flat namespace).
    pub namespace: Option<String>,
    /// The service name.
    pub name: String,
}

impl ConsulName {
    /// The Consul name of a service `name` registered from Kubernetes namespace `k8s_namespace`.
    pub fn new(mode: &NamespaceMode, k8s_namespace: &str, name: &str) -> Self {
        let namespace = match mode {
            NamespaceMode::Disabled => None,
            NamespaceMode::Mirroring { prefix } => Some(format!("{prefix}{k8s_namespace}")),
        };
        ConsulName {
            namespace,
            name: name.to_string(),
        }
    }

    /// The Consul name of a Kubernetes Service.
    pub fn of_service(mode: &NamespaceMode, service: &ObjectKey) -> Self {
        ConsulName::new(mode, &service.namespace, &service.name)
    }
}

impl fmt::Display for ConsulName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{ns}/{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

//! The service model: which Kubernetes Services register pods in Consul, which exist in Consul
//! only as virtual services, and which Consul service names a ServiceAccount's pods carry.
//!
//! consul-k8s registers a pod under exactly one Kubernetes Service: every other Service
//! selecting it must carry `consul.hashicorp.com/service-ignore: "true"`. In smi-bridge's model
//! the root of a TrafficSplit is the registered Consul service; a backend whose pods the root
//! selects too is *virtual* (it carries service-ignore and is reached as a ServiceResolver subset
//! of the root); a backend whose pods the root does not select is registered itself.

use std::collections::{BTreeMap, BTreeSet};

use smi_translate::model::ServiceRoutes;
use smi_translate::state::{ServiceInfo, Workload, WorkloadKey};
use smi_translate::{ClusterState, Identity, ObjectKey};

use crate::names::ConsulName;
use crate::{ConsulOptions, IdentityMapping, NamespaceMode};

/// The label (consul-k8s also reads it from the Endpoints) that keeps a Service out of Consul.
pub const SERVICE_IGNORE: &str = "consul.hashicorp.com/service-ignore";

/// The pod annotation naming the Consul service (comma-separated for multi-port pods) instead
/// of the Kubernetes Service that registers the pod.
pub const CONNECT_SERVICE: &str = "consul.hashicorp.com/connect-service";

/// The Consul service names a workload's pods give themselves with [`CONNECT_SERVICE`].
pub fn connect_service_names(workload: &Workload) -> Option<Vec<&str>> {
    workload.pod_annotations.get(CONNECT_SERVICE).map(|value| {
        value
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .collect()
    })
}

/// True when a Service carries `consul.hashicorp.com/service-ignore: "true"` (as a label, the
/// form consul-k8s reads, or as an annotation).
pub fn carries_ignore(service: &ServiceInfo) -> bool {
    [&service.labels, &service.annotations].iter().any(|m| {
        m.get(SERVICE_IGNORE)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    })
}

/// The workloads a Service selects.
pub fn selected_workloads(state: &ClusterState, service: &ObjectKey) -> BTreeSet<WorkloadKey> {
    state
        .services
        .get(service)
        .and_then(|s| s.selector.as_ref())
        .map(|selector| {
            state
                .workloads_selected(&service.namespace, selector)
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// How a TrafficSplit backend is reached in Consul.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendRole {
    /// The backend is the root itself: the root's own instances.
    Root,
    /// The root selects all of the backend's pods: the backend is virtual, reached as the
    /// ServiceResolver subset of the root named after it.
    Subset,
    /// The root selects none of the backend's pods: the backend is a registered Consul service.
    Registered,
}

/// How one TrafficSplit's Services map onto Consul services.
#[derive(Clone, Debug)]
pub struct SplitLayout {
    /// The workloads the root selects.
    pub root_workloads: BTreeSet<WorkloadKey>,
    /// Backend Service name → role and the workloads it selects, in the split's order.
    pub backends: Vec<(String, BackendRole, BTreeSet<WorkloadKey>)>,
    /// Labels that contradict the model (`consul.hashicorp.com/service-ignore` missing or extra).
    pub label_problems: Vec<String>,
    /// Why the split cannot be laid out at all (a backend selecting part of the root's pods).
    pub not_expressible: Option<String>,
}

impl SplitLayout {
    /// Classifies the Services of one TrafficSplit.
    pub fn new(state: &ClusterState, routes: &ServiceRoutes) -> Self {
        let namespace = &routes.root.namespace;
        let root_workloads = selected_workloads(state, &routes.root);
        let mut layout = SplitLayout {
            root_workloads,
            backends: Vec::new(),
            label_problems: Vec::new(),
            not_expressible: None,
        };
        let root_name = &routes.root.name;
        if state.services.get(&routes.root).is_some_and(carries_ignore) {
            layout.label_problems.push(format!(
                "remove `{SERVICE_IGNORE}` from the root Service `{root_name}`: it is the Consul service that registers the pods, the backends are reached through it"
            ));
        }
        let mut names: Vec<&String> = Vec::new();
        for port in &routes.ports {
            for backend in &port.backends {
                if !names.contains(&&backend.service) {
                    names.push(&backend.service);
                }
            }
        }
        for name in names {
            let key = ObjectKey::new(namespace, name);
            let workloads = selected_workloads(state, &key);
            let ignored = state.services.get(&key).is_some_and(carries_ignore);
            let role = if name == root_name {
                BackendRole::Root
            } else if workloads.is_empty() || workloads.is_disjoint(&layout.root_workloads) {
                BackendRole::Registered
            } else if workloads.is_subset(&layout.root_workloads) {
                BackendRole::Subset
            } else {
                layout.not_expressible = Some(format!(
                    "backend Service `{name}` selects some pods the root `{root_name}` selects and some it does not; consul-k8s registers a pod under one Service only, so `{name}` can be neither a subset of `{root_name}` nor a Consul service of its own (make its selector pick a subset of the root's pods, or none of them)"
                ));
                BackendRole::Registered
            };
            match role {
                BackendRole::Subset if !ignored => layout.label_problems.push(format!(
                    "label the backend Service `{name}` with `{SERVICE_IGNORE}: \"true\"`: the root `{root_name}` selects its pods too and consul-k8s registers a pod under one Service only; smi-bridge reaches `{name}` as subset `{name}` of `{root_name}`"
                )),
                BackendRole::Registered if ignored => layout.label_problems.push(format!(
                    "remove `{SERVICE_IGNORE}` from the backend Service `{name}`: the root does not select its pods, so it must register them in Consul"
                )),
                _ => {}
            }
            layout.backends.push((name.clone(), role, workloads));
        }
        layout
    }

    /// The backends that are virtual services (subsets of the root).
    pub fn virtual_backends(&self) -> impl Iterator<Item = &str> {
        self.backends
            .iter()
            .filter(|(_, r, _)| *r == BackendRole::Subset)
            .map(|(n, _, _)| n.as_str())
    }
}

/// Which Services register which pods, and the Consul names of identities.
pub struct Registry<'a> {
    state: &'a ClusterState,
    options: &'a ConsulOptions,
    virtual_services: BTreeSet<ObjectKey>,
    registrations: BTreeMap<WorkloadKey, Vec<ObjectKey>>,
    members: BTreeMap<ConsulName, BTreeSet<Identity>>,
}

impl<'a> Registry<'a> {
    /// Builds the registry. `virtual_services` are the Services the model keeps out of Consul
    /// (they must carry service-ignore); `identities` are identities to account for besides those
    /// running workloads (e.g. sources named by TrafficTargets).
    pub fn new(
        state: &'a ClusterState,
        options: &'a ConsulOptions,
        virtual_services: BTreeSet<ObjectKey>,
        identities: impl IntoIterator<Item = Identity>,
    ) -> Self {
        let mut registry = Registry {
            state,
            options,
            virtual_services,
            registrations: BTreeMap::new(),
            members: BTreeMap::new(),
        };
        for (key, service) in &state.services {
            if !registry.registers(key) {
                continue;
            }
            let Some(selector) = &service.selector else {
                continue;
            };
            for (workload, _) in state.workloads_selected(&key.namespace, selector) {
                registry
                    .registrations
                    .entry(workload.clone())
                    .or_default()
                    .push(key.clone());
            }
        }
        let mut all: BTreeSet<Identity> = state
            .workloads
            .iter()
            .map(|(k, w)| w.identity(&k.key.namespace))
            .collect();
        all.extend(identities);
        for identity in all {
            for name in registry.identity_names(&identity).0 {
                registry
                    .members
                    .entry(name)
                    .or_default()
                    .insert(identity.clone());
            }
        }
        registry
    }

    /// The namespace mode.
    pub fn mode(&self) -> &NamespaceMode {
        &self.options.namespaces
    }

    /// True when a Service registers its pods in Consul: it exists, has a selector, does not
    /// carry service-ignore and is not a virtual service of the model.
    pub fn registers(&self, service: &ObjectKey) -> bool {
        self.state.services.get(service).is_some_and(|s| {
            s.selector.is_some() && !carries_ignore(s) && !self.virtual_services.contains(service)
        })
    }

    /// The Services a workload's pods are registered under (more than one is a conflict).
    pub fn registrations(&self, workload: &WorkloadKey) -> &[ObjectKey] {
        self.registrations
            .get(workload)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// The instances of a Consul service: each workload registered under it, with the
    /// Kubernetes Service that registers it.
    pub fn instances(&self, name: &ConsulName) -> Vec<(&WorkloadKey, &ObjectKey)> {
        let mode = self.mode();
        self.registrations
            .iter()
            .flat_map(|(w, services)| services.iter().map(move |s| (w, s)))
            .filter(|(_, s)| ConsulName::of_service(mode, s) == *name)
            .collect()
    }

    /// The Consul service names of an identity's pods, and whether they were found (`false`: the
    /// ServiceAccount name is assumed, as consul-k8s requires with ACLs).
    pub fn identity_names(&self, identity: &Identity) -> (Vec<ConsulName>, bool) {
        let mode = self.mode();
        let fallback = || {
            vec![ConsulName::new(
                mode,
                &identity.namespace,
                &identity.service_account,
            )]
        };
        if self.options.identities == IdentityMapping::ServiceAccountName {
            return (fallback(), true);
        }
        let names: BTreeSet<ConsulName> = self
            .state
            .workloads_of(identity)
            .flat_map(|(w, _)| self.registrations(w).iter())
            .map(|s| ConsulName::of_service(mode, s))
            .collect();
        if names.is_empty() {
            (fallback(), false)
        } else {
            (names.into_iter().collect(), true)
        }
    }

    /// The identities whose pods carry a Consul name: more than one means intentions for the
    /// name cannot tell them apart.
    pub fn members(&self, name: &ConsulName) -> BTreeSet<Identity> {
        self.members.get(name).cloned().unwrap_or_default()
    }

    /// Why workloads' pods are not the Consul instances the model expects: several Services
    /// register them, or their [`CONNECT_SERVICE`] annotation names another Consul service than
    /// the Service registering them (config entries written for that Service would not reach them).
    pub fn registration_problems<'w>(
        &self,
        workloads: impl IntoIterator<Item = &'w WorkloadKey>,
    ) -> Vec<String> {
        let mut problems = Vec::new();
        for workload in workloads {
            let services = self.registrations(workload);
            if services.len() > 1 {
                let names: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
                problems.push(format!(
                    "the pods of {:?} `{}` are selected by the Services `{}`; consul-k8s registers a pod under one Service only: label all but one with `{SERVICE_IGNORE}: \"true\"`",
                    workload.kind,
                    workload.key,
                    names.join("`, `")
                ));
            }
            let Some(named) = self
                .state
                .workloads
                .get(workload)
                .and_then(connect_service_names)
            else {
                continue;
            };
            if let [service] = services
                && !named.contains(&service.name.as_str())
            {
                problems.push(format!(
                    "the pods of {:?} `{}` name their Consul service `{}` with the annotation `{CONNECT_SERVICE}`, but smi-bridge writes config entries for the Consul service of the Kubernetes Service `{}` that registers them; they would not apply to these pods: set the annotation to `{}` or remove it",
                    workload.kind,
                    workload.key,
                    named.join(","),
                    service.name,
                    service.name
                ));
            }
        }
        problems
    }
}

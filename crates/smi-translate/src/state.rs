//! The translation input: SMI objects at their hub versions and the cluster objects they refer to,
//! reduced to the fields translation needs (so the operator keeps little in memory).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Namespace, Pod, PodSpec, PodTemplateSpec, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::{Deserialize, Serialize};
use smi_api::hub;

use crate::keys::{Identity, ObjectKey};

/// Everything translation reads. Maps are ordered, so iteration — and output — is deterministic.
#[derive(Clone, Debug, Default)]
pub struct ClusterState {
    /// Namespaces by name.
    pub namespaces: BTreeMap<String, NamespaceInfo>,
    /// Services by namespace/name.
    pub services: BTreeMap<ObjectKey, ServiceInfo>,
    /// Workloads (pod templates) by kind, namespace and name.
    pub workloads: BTreeMap<WorkloadKey, Workload>,
    /// TrafficSplits (hub version) by namespace/name.
    pub traffic_splits: BTreeMap<ObjectKey, hub::TrafficSplit>,
    /// TrafficTargets (hub version) by namespace/name.
    pub traffic_targets: BTreeMap<ObjectKey, hub::TrafficTarget>,
    /// HTTPRouteGroups (hub version) by namespace/name.
    pub http_route_groups: BTreeMap<ObjectKey, hub::HTTPRouteGroup>,
    /// TCPRoutes (hub version) by namespace/name.
    pub tcp_routes: BTreeMap<ObjectKey, hub::TCPRoute>,
    /// UDPRoutes (hub version) by namespace/name.
    pub udp_routes: BTreeMap<ObjectKey, hub::UDPRoute>,
}

/// What translation needs of a Namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceInfo {
    /// The namespace's labels (e.g. the access-enforcement opt-in).
    pub labels: BTreeMap<String, String>,
}

impl From<&Namespace> for NamespaceInfo {
    fn from(ns: &Namespace) -> Self {
        NamespaceInfo {
            labels: ns.metadata.labels.clone().unwrap_or_default(),
        }
    }
}

/// What translation needs of a Service.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceInfo {
    /// The Service's pod selector; `None` for Services without one (ExternalName, manual
    /// endpoints), whose pods cannot be known.
    pub selector: Option<BTreeMap<String, String>>,
    /// The Service's ports.
    pub ports: Vec<ServicePort>,
    /// The Service's labels.
    pub labels: BTreeMap<String, String>,
    /// The Service's annotations (meshes read some, e.g. Consul's service-ignore).
    pub annotations: BTreeMap<String, String>,
}

/// One port of a Service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServicePort {
    /// Port name, if any (Istio classifies protocols by name prefix).
    pub name: Option<String>,
    /// The Service port clients address.
    pub port: u16,
    /// The pod port the Service forwards to: a number or a container port name.
    pub target_port: PortRef,
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: String,
    /// The Service port's `appProtocol`, if any.
    pub app_protocol: Option<String>,
}

impl ServicePort {
    /// The protocol the port declares (see [`PortProtocol::classify`]).
    pub fn declared_protocol(&self) -> crate::model::PortProtocol {
        crate::model::PortProtocol::classify(
            self.name.as_deref(),
            self.app_protocol.as_deref(),
            &self.protocol,
        )
    }
}

/// A pod port given by number or by container port name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PortRef {
    /// A port number.
    Number(u16),
    /// A container port name.
    Name(String),
}

impl From<&Service> for ServiceInfo {
    fn from(svc: &Service) -> Self {
        let spec = svc.spec.as_ref();
        let ports = spec
            .and_then(|s| s.ports.as_ref())
            .map(|ports| {
                ports
                    .iter()
                    .filter_map(|p| {
                        let port = u16::try_from(p.port).ok()?;
                        let target_port = match &p.target_port {
                            None => PortRef::Number(port),
                            Some(IntOrString::Int(n)) => {
                                PortRef::Number(u16::try_from(*n).unwrap_or(port))
                            }
                            Some(IntOrString::String(s)) => match s.parse::<u16>() {
                                Ok(n) => PortRef::Number(n),
                                Err(_) => PortRef::Name(s.clone()),
                            },
                        };
                        Some(ServicePort {
                            name: p.name.clone().filter(|n| !n.is_empty()),
                            port,
                            target_port,
                            protocol: p.protocol.clone().unwrap_or_else(|| "TCP".to_string()),
                            app_protocol: p.app_protocol.clone(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        ServiceInfo {
            selector: spec
                .and_then(|s| s.selector.clone())
                .filter(|s| !s.is_empty()),
            ports,
            labels: svc.metadata.labels.clone().unwrap_or_default(),
            annotations: svc.metadata.annotations.clone().unwrap_or_default(),
        }
    }
}

/// The kinds of objects that run pods.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum WorkloadKind {
    /// apps/v1 Deployment.
    Deployment,
    /// apps/v1 StatefulSet.
    StatefulSet,
    /// apps/v1 DaemonSet.
    DaemonSet,
    /// apps/v1 ReplicaSet not owned by a Deployment.
    ReplicaSet,
    /// A Pod not owned by a controller.
    Pod,
}

/// Kind, namespace and name of a workload.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WorkloadKey {
    /// Namespace and name (first, so keys sort by namespace and a namespace is one range).
    pub key: ObjectKey,
    /// The workload kind.
    pub kind: WorkloadKind,
}

/// A set of pods with one template: who they run as, their labels and their ports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workload {
    /// The ServiceAccount the pods run as (`default` when unset).
    pub service_account: String,
    /// The pods' labels (from the pod template, or the Pod itself).
    pub pod_labels: BTreeMap<String, String>,
    /// The pods' annotations (meshes read some, e.g. Consul's
    /// `consul.hashicorp.com/connect-service`).
    #[serde(default)]
    pub pod_annotations: BTreeMap<String, String>,
    /// The ports the pods' containers declare.
    pub container_ports: Vec<ContainerPort>,
    /// The HTTP GET probes kubelet sends to the pods (liveness, readiness, startup).
    #[serde(default)]
    pub http_probes: Vec<HttpProbe>,
}

/// An HTTP GET probe of a container: kubelet calls it, unauthenticated, from the node.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct HttpProbe {
    /// The probed port: a number or a container port name.
    pub port: PortRef,
    /// The probed path.
    pub path: String,
}

/// A port declared by a container.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ContainerPort {
    /// Port name, if any (named Service targetPorts refer to it).
    pub name: Option<String>,
    /// The port number.
    pub port: u16,
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: String,
}

impl Workload {
    /// The identity the workload's pods run as.
    pub fn identity(&self, namespace: &str) -> Identity {
        Identity::new(namespace, self.service_account.clone())
    }

    fn from_pod_spec(metadata: Option<&ObjectMeta>, spec: Option<&PodSpec>) -> Self {
        let service_account = spec
            .and_then(|s| {
                s.service_account_name
                    .clone()
                    .or_else(|| s.service_account.clone())
            })
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "default".to_string());
        let mut container_ports: Vec<ContainerPort> = spec
            .map(|s| {
                s.containers
                    .iter()
                    .flat_map(|c| c.ports.iter().flatten())
                    .filter_map(|p| {
                        Some(ContainerPort {
                            name: p.name.clone().filter(|n| !n.is_empty()),
                            port: u16::try_from(p.container_port).ok()?,
                            protocol: p.protocol.clone().unwrap_or_else(|| "TCP".to_string()),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        container_ports.sort();
        container_ports.dedup();
        let mut http_probes: Vec<HttpProbe> = spec
            .map(|s| {
                s.containers
                    .iter()
                    .flat_map(|c| [&c.liveness_probe, &c.readiness_probe, &c.startup_probe])
                    .filter_map(|probe| probe.as_ref()?.http_get.as_ref())
                    .map(|get| HttpProbe {
                        port: match &get.port {
                            IntOrString::Int(n) => PortRef::Number(u16::try_from(*n).unwrap_or(0)),
                            IntOrString::String(name) => match name.parse::<u16>() {
                                Ok(n) => PortRef::Number(n),
                                Err(_) => PortRef::Name(name.clone()),
                            },
                        },
                        path: get
                            .path
                            .clone()
                            .filter(|p| !p.is_empty())
                            .unwrap_or_else(|| "/".to_string()),
                    })
                    .collect()
            })
            .unwrap_or_default();
        http_probes.sort();
        http_probes.dedup();
        Workload {
            service_account,
            pod_labels: metadata.and_then(|m| m.labels.clone()).unwrap_or_default(),
            pod_annotations: metadata
                .and_then(|m| m.annotations.clone())
                .unwrap_or_default(),
            container_ports,
            http_probes,
        }
    }

    fn from_template(template: &PodTemplateSpec) -> Self {
        Workload::from_pod_spec(template.metadata.as_ref(), template.spec.as_ref())
    }

    /// True when every label of `selector` is on the workload's pods.
    pub fn selected_by(&self, selector: &BTreeMap<String, String>) -> bool {
        selector
            .iter()
            .all(|(k, v)| self.pod_labels.get(k) == Some(v))
    }

    /// Resolves a Service target port against the workload's containers: a number is taken as
    /// is; a name is looked up among the container ports (`None` when no container has it).
    pub fn resolve_target_port(&self, target: &PortRef) -> Option<u16> {
        match target {
            PortRef::Number(n) => Some(*n),
            PortRef::Name(name) => self
                .container_ports
                .iter()
                .find(|p| p.name.as_deref() == Some(name.as_str()))
                .map(|p| p.port),
        }
    }
}

fn has_controller_owner(meta: &ObjectMeta) -> bool {
    meta.owner_references
        .iter()
        .flatten()
        .any(|o| o.controller == Some(true))
}

impl ClusterState {
    /// Adds or replaces a Namespace.
    pub fn insert_namespace(&mut self, ns: &Namespace) {
        if let Some(name) = &ns.metadata.name {
            self.namespaces
                .insert(name.clone(), NamespaceInfo::from(ns));
        }
    }

    /// Adds or replaces a Service.
    pub fn insert_service(&mut self, svc: &Service) {
        if let (Some(ns), Some(name)) = (&svc.metadata.namespace, &svc.metadata.name) {
            self.services
                .insert(ObjectKey::new(ns, name), ServiceInfo::from(svc));
        }
    }

    fn insert_workload(&mut self, kind: WorkloadKind, ns: &str, name: &str, workload: Workload) {
        self.workloads.insert(
            WorkloadKey {
                kind,
                key: ObjectKey::new(ns, name),
            },
            workload,
        );
    }

    /// Adds or replaces a Deployment's pod template.
    pub fn insert_deployment(&mut self, d: &Deployment) {
        if let (Some(ns), Some(name), Some(spec)) =
            (&d.metadata.namespace, &d.metadata.name, &d.spec)
        {
            self.insert_workload(
                WorkloadKind::Deployment,
                ns,
                name,
                Workload::from_template(&spec.template),
            );
        }
    }

    /// Adds or replaces a StatefulSet's pod template.
    pub fn insert_stateful_set(&mut self, s: &StatefulSet) {
        if let (Some(ns), Some(name), Some(spec)) =
            (&s.metadata.namespace, &s.metadata.name, &s.spec)
        {
            self.insert_workload(
                WorkloadKind::StatefulSet,
                ns,
                name,
                Workload::from_template(&spec.template),
            );
        }
    }

    /// Adds or replaces a DaemonSet's pod template.
    pub fn insert_daemon_set(&mut self, d: &DaemonSet) {
        if let (Some(ns), Some(name), Some(spec)) =
            (&d.metadata.namespace, &d.metadata.name, &d.spec)
        {
            self.insert_workload(
                WorkloadKind::DaemonSet,
                ns,
                name,
                Workload::from_template(&spec.template),
            );
        }
    }

    /// Adds or replaces a ReplicaSet's pod template, unless a controller (a Deployment) owns it:
    /// its owner is the workload then.
    pub fn insert_replica_set(&mut self, r: &ReplicaSet) {
        if has_controller_owner(&r.metadata) {
            return;
        }
        if let (Some(ns), Some(name), Some(template)) = (
            &r.metadata.namespace,
            &r.metadata.name,
            r.spec.as_ref().and_then(|s| s.template.as_ref()),
        ) {
            self.insert_workload(
                WorkloadKind::ReplicaSet,
                ns,
                name,
                Workload::from_template(template),
            );
        }
    }

    /// Adds or replaces a Pod, unless a controller owns it: its owner is the workload then.
    pub fn insert_pod(&mut self, p: &Pod) {
        if has_controller_owner(&p.metadata) {
            return;
        }
        if let (Some(ns), Some(name)) = (&p.metadata.namespace, &p.metadata.name) {
            let workload = Workload::from_pod_spec(Some(&p.metadata), p.spec.as_ref());
            self.insert_workload(WorkloadKind::Pod, ns, name, workload);
        }
    }

    /// The workloads of a namespace whose pods a selector picks.
    pub fn workloads_selected<'a>(
        &'a self,
        namespace: &'a str,
        selector: &'a BTreeMap<String, String>,
    ) -> impl Iterator<Item = (&'a WorkloadKey, &'a Workload)> + 'a {
        self.workloads_in(namespace)
            .filter(move |(_, w)| w.selected_by(selector))
    }

    /// The workloads of a namespace (a range of the ordered map, not a scan).
    pub fn workloads_in<'a>(
        &'a self,
        namespace: &'a str,
    ) -> impl Iterator<Item = (&'a WorkloadKey, &'a Workload)> + 'a {
        let start = WorkloadKey {
            key: ObjectKey::new(namespace, ""),
            kind: WorkloadKind::Deployment,
        };
        self.workloads
            .range(start..)
            .take_while(move |(k, _)| k.key.namespace == namespace)
    }

    /// The Services of a namespace (a range of the ordered map, not a scan).
    pub fn services_in<'a>(
        &'a self,
        namespace: &'a str,
    ) -> impl Iterator<Item = (&'a ObjectKey, &'a ServiceInfo)> + 'a {
        self.services
            .range(ObjectKey::new(namespace, "")..)
            .take_while(move |(k, _)| k.namespace == namespace)
    }

    /// The workloads running as an identity.
    pub fn workloads_of<'a>(
        &'a self,
        identity: &'a Identity,
    ) -> impl Iterator<Item = (&'a WorkloadKey, &'a Workload)> + 'a {
        self.workloads_in(&identity.namespace)
            .filter(move |(_, w)| w.service_account == identity.service_account)
    }

    /// The identities of all workloads in a namespace.
    pub fn identities_in(&self, namespace: &str) -> BTreeSet<Identity> {
        self.workloads_in(namespace)
            .map(|(_, w)| w.identity(namespace))
            .collect()
    }
}

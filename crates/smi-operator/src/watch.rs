//! Watchers: one kube-runtime watcher per kind, each reducing objects to what the [`Index`]
//! keeps and waking the reconcile loop.
//!
//! - SMI objects are watched at their hub versions as untyped objects and converted one by one,
//!   so one object that cannot be read gets an `Accepted=False` condition instead of breaking
//!   the watch of its kind. managedFields, status and the last-applied annotation are dropped.
//! - Namespaces, Services and workloads are kept in the core's reduced form.
//! - Native kinds are watched **without** a label selector: objects smi-bridge did not create
//!   but that share a kind, namespace and name with a desired object are conflicts, and must be
//!   seen, and so are objects of the backends' claim kinds that take the same traffic under
//!   another name (a VirtualService for the same host). Only the identifying metadata and spec
//!   of foreign objects are kept (the content of smi-bridge's own objects and of objects
//!   annotated for adoption is kept for the diff). A kind is watched while its CRD is served
//!   ([`NativeWatchers::sync`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::sync::{Arc, RwLock};

use futures::{Stream, StreamExt};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta};
use kube::api::{ApiResource, DynamicObject};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use smi_translate::native::{MANAGED_BY_LABEL, MANAGED_BY_VALUE};
use smi_translate::state::{NamespaceInfo, ServiceInfo, WorkloadKey, WorkloadKind};
use smi_translate::{ClusterState, NativeKind, ObjectKey, SmiKind, SmiRef};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::config::ADOPT_ANNOTATION;
use crate::index::{CrdInfo, Index, Item, Key, ObservedNative, SmiItem, SmiMeta, Source};
use crate::metrics::Metrics;

/// What the watchers share with the reconcile loop.
#[derive(Debug)]
pub struct Shared {
    /// The index.
    pub index: RwLock<Index>,
    /// Woken on every change.
    pub changed: Arc<Notify>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
}

impl Shared {
    /// Reads the index (a poisoned lock is still read: the index stays consistent per call).
    pub fn read(&self) -> std::sync::RwLockReadGuard<'_, Index> {
        self.index
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Index> {
        self.index
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The SMI kinds, all watched.
pub const SMI_KINDS: [SmiKind; 5] = [
    SmiKind::TrafficSplit,
    SmiKind::TrafficTarget,
    SmiKind::HTTPRouteGroup,
    SmiKind::TCPRoute,
    SmiKind::UDPRoute,
];

/// The sources that must be listed before anything is computed (`/readyz`).
pub fn core_sources() -> Vec<Source> {
    let mut sources = vec![Source::Namespaces, Source::Services, Source::Crds];
    sources.extend(
        [
            WorkloadKind::Deployment,
            WorkloadKind::StatefulSet,
            WorkloadKind::DaemonSet,
            WorkloadKind::ReplicaSet,
            WorkloadKind::Pod,
        ]
        .map(Source::Workloads),
    );
    sources.extend(SMI_KINDS.map(Source::Smi));
    sources
}

/// The API resource of an SMI kind at its hub version.
pub fn smi_resource(kind: SmiKind) -> ApiResource {
    ApiResource {
        group: kind.group().to_string(),
        version: kind.hub_version().to_string(),
        api_version: format!("{}/{}", kind.group(), kind.hub_version()),
        kind: kind.as_str().to_string(),
        plural: format!("{}s", kind.as_str().to_ascii_lowercase()),
    }
}

/// The API resource of a native kind.
pub fn native_resource(kind: &NativeKind) -> ApiResource {
    ApiResource {
        group: kind.group.clone(),
        version: kind.version.clone(),
        api_version: kind.api_version(),
        kind: kind.kind.clone(),
        plural: kind.plural.clone(),
    }
}

fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

fn dynamic_api(
    client: &Client,
    namespace: Option<&str>,
    resource: &ApiResource,
) -> Api<DynamicObject> {
    match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, resource),
        None => Api::all_with(client.clone(), resource),
    }
}

/// Starts the watchers of every core source (see [`core_sources`]).
pub fn spawn_core(
    client: &Client,
    namespace: Option<&str>,
    shared: &Arc<Shared>,
) -> Vec<JoinHandle<()>> {
    let config = watcher::Config::default().page_size(500);
    let mut tasks = Vec::new();
    let namespaces = match namespace {
        Some(ns) => watcher::Config::default().fields(&format!("metadata.name={ns}")),
        None => config.clone(),
    };
    tasks.push(spawn_typed(
        shared,
        Source::Namespaces,
        Api::<Namespace>::all(client.clone()),
        namespaces,
        reduce_namespace,
    ));
    tasks.push(spawn_typed(
        shared,
        Source::Services,
        api(client, namespace),
        config.clone(),
        reduce_service,
    ));
    tasks.push(spawn_typed(
        shared,
        Source::Workloads(WorkloadKind::Deployment),
        api(client, namespace),
        config.clone(),
        |d: Deployment| {
            workload(WorkloadKind::Deployment, &d.metadata, |s| {
                s.insert_deployment(&d)
            })
        },
    ));
    tasks.push(spawn_typed(
        shared,
        Source::Workloads(WorkloadKind::StatefulSet),
        api(client, namespace),
        config.clone(),
        |d: StatefulSet| {
            workload(WorkloadKind::StatefulSet, &d.metadata, |s| {
                s.insert_stateful_set(&d)
            })
        },
    ));
    tasks.push(spawn_typed(
        shared,
        Source::Workloads(WorkloadKind::DaemonSet),
        api(client, namespace),
        config.clone(),
        |d: DaemonSet| {
            workload(WorkloadKind::DaemonSet, &d.metadata, |s| {
                s.insert_daemon_set(&d)
            })
        },
    ));
    tasks.push(spawn_typed(
        shared,
        Source::Workloads(WorkloadKind::ReplicaSet),
        api(client, namespace),
        config.clone(),
        |d: ReplicaSet| {
            workload(WorkloadKind::ReplicaSet, &d.metadata, |s| {
                s.insert_replica_set(&d)
            })
        },
    ));
    tasks.push(spawn_typed(
        shared,
        Source::Workloads(WorkloadKind::Pod),
        api(client, namespace),
        config.clone(),
        |p: Pod| workload(WorkloadKind::Pod, &p.metadata, |s| s.insert_pod(&p)),
    ));
    tasks.push(spawn_typed(
        shared,
        Source::Crds,
        Api::<CustomResourceDefinition>::all(client.clone()),
        config.clone(),
        reduce_crd,
    ));
    for kind in SMI_KINDS {
        let api = dynamic_api(client, namespace, &smi_resource(kind));
        tasks.push(spawn_typed(
            shared,
            Source::Smi(kind),
            api,
            config.clone(),
            move |o| reduce_smi(kind, o),
        ));
    }
    tasks
}

fn spawn_typed<K, F>(
    shared: &Arc<Shared>,
    source: Source,
    api: Api<K>,
    config: watcher::Config,
    reduce: F,
) -> JoinHandle<()>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    F: Fn(K) -> (Key, Option<Item>) + Send + 'static,
{
    let stream = watcher::watcher(api, config).default_backoff();
    tokio::spawn(drive(shared.clone(), source, stream, reduce))
}

/// Feeds one watch into the index until the stream ends.
async fn drive<K, S, F>(shared: Arc<Shared>, source: Source, stream: S, reduce: F)
where
    S: Stream<Item = Result<Event<K>, watcher::Error>>,
    F: Fn(K) -> (Key, Option<Item>),
{
    let label = source.label();
    let mut stream = std::pin::pin!(stream);
    let mut buffer = Vec::new();
    let mut listed = false;
    while let Some(event) = stream.next().await {
        match event {
            Ok(Event::Init) => {
                buffer.clear();
                if listed {
                    shared.metrics.watch_restarted(&label);
                }
            }
            Ok(Event::InitApply(object)) => buffer.push(reduce(object)),
            Ok(Event::InitDone) => {
                listed = true;
                shared.write().reset(&source, std::mem::take(&mut buffer));
                tracing::debug!(kind = %label, "listed");
                shared.changed.notify_one();
            }
            Ok(Event::Apply(object)) => {
                let (key, item) = reduce(object);
                shared.write().apply(&source, key, item);
                shared.changed.notify_one();
            }
            Ok(Event::Delete(object)) => {
                let (key, _) = reduce(object);
                shared.write().remove(&source, &key);
                shared.changed.notify_one();
            }
            Err(error) => {
                shared.metrics.error("watch");
                tracing::warn!(kind = %label, %error, "watch failed; retrying with backoff");
                shared.write().set_watch_error(&source, error.to_string());
                shared.changed.notify_one();
            }
        }
    }
}

fn object_key(meta: &ObjectMeta) -> ObjectKey {
    ObjectKey::new(
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

fn reduce_namespace(ns: Namespace) -> (Key, Option<Item>) {
    let name = ns.metadata.name.clone().unwrap_or_default();
    (
        Key::Namespace(name),
        Some(Item::Namespace(NamespaceInfo::from(&ns))),
    )
}

fn reduce_service(svc: Service) -> (Key, Option<Item>) {
    (
        Key::Service(object_key(&svc.metadata)),
        Some(Item::Service(ServiceInfo::from(&svc))),
    )
}

/// A workload through the core's own reduction (`insert` adds it to an empty state, or skips
/// it when a controller owns it).
fn workload(
    kind: WorkloadKind,
    meta: &ObjectMeta,
    insert: impl FnOnce(&mut ClusterState),
) -> (Key, Option<Item>) {
    let mut state = ClusterState::default();
    insert(&mut state);
    let key = WorkloadKey {
        key: object_key(meta),
        kind,
    };
    let item = state.workloads.into_values().next().map(Item::Workload);
    (Key::Workload(key), item)
}

fn reduce_crd(crd: CustomResourceDefinition) -> (Key, Option<Item>) {
    let name = crd.metadata.name.clone().unwrap_or_default();
    let established = crd
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| {
            c.iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
        });
    let info = CrdInfo {
        group: crd.spec.group.clone(),
        plural: crd.spec.names.plural.clone(),
        served: crd
            .spec
            .versions
            .iter()
            .filter(|v| v.served)
            .map(|v| v.name.clone())
            .collect(),
        established,
    };
    (Key::Crd(name), Some(Item::Crd(info)))
}

/// Reduces an SMI object: its hub form (without managedFields, status and the last-applied
/// annotation) or what is wrong with it, and the metadata the status writer needs.
pub fn reduce_smi(kind: SmiKind, object: DynamicObject) -> (Key, Option<Item>) {
    let reference = SmiRef {
        kind,
        key: object_key(&object.metadata),
    };
    let conditions: Vec<Condition> = object
        .data
        .pointer("/status/conditions")
        .cloned()
        .and_then(|c| serde_json::from_value(c).ok())
        .unwrap_or_default();
    let meta = SmiMeta {
        uid: object.metadata.uid.clone(),
        generation: object.metadata.generation,
        resource_version: object.metadata.resource_version.clone(),
        conditions,
    };
    let mut value = match serde_json::to_value(&object) {
        Ok(value) => value,
        Err(error) => {
            let item = SmiItem {
                meta,
                object: Err(format!("cannot read the object: {error}")),
            };
            return (Key::Smi(reference), Some(Item::Smi(Box::new(item))));
        }
    };
    if let Some(map) = value.as_object_mut() {
        map.remove("status");
        if let Some(metadata) = map.get_mut("metadata").and_then(Value::as_object_mut) {
            metadata.remove("managedFields");
            if let Some(annotations) = metadata
                .get_mut("annotations")
                .and_then(Value::as_object_mut)
            {
                annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
            }
        }
    }
    let hub = smi_api::convert::to_hub(&value).map_err(|e| e.to_string());
    let item = SmiItem { meta, object: hub };
    (Key::Smi(reference), Some(Item::Smi(Box::new(item))))
}

/// Reduces a native object: everything but managedFields and status when smi-bridge owns it
/// or may adopt it, only its identifying metadata and spec otherwise.
pub fn reduce_native(object: DynamicObject) -> (Key, Option<Item>) {
    let key = object_key(&object.metadata);
    let labels = object.metadata.labels.as_ref();
    let annotations = object.metadata.annotations.as_ref();
    let ours = labels
        .and_then(|l| l.get(MANAGED_BY_LABEL))
        .is_some_and(|v| v == MANAGED_BY_VALUE);
    let adopt = annotations
        .and_then(|a| a.get(ADOPT_ANNOTATION))
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let uid = object.metadata.uid.clone();
    let resource_version = object.metadata.resource_version.clone();
    let value = if ours || adopt {
        let mut value = serde_json::to_value(&object).unwrap_or(Value::Null);
        if let Some(map) = value.as_object_mut() {
            map.remove("status");
            if let Some(metadata) = map.get_mut("metadata").and_then(Value::as_object_mut) {
                metadata.remove("managedFields");
            }
        }
        value
    } else {
        // Foreign: identifying metadata, and the spec, from which claims are computed (the
        // hosts or destinations it takes traffic for).
        let mut metadata = Map::new();
        metadata.insert("name".into(), Value::String(key.name.clone()));
        metadata.insert("namespace".into(), Value::String(key.namespace.clone()));
        let mut value = Map::new();
        value.insert("metadata".into(), Value::Object(metadata));
        if let Some(spec) = object.data.get("spec") {
            value.insert("spec".into(), spec.clone());
        }
        Value::Object(value)
    };
    let observed = ObservedNative {
        uid,
        resource_version,
        ours,
        adopt,
        object: value,
    };
    (Key::Native(key), Some(Item::Native(observed)))
}

/// The watchers of native kinds, started while their CRDs are served.
pub struct NativeWatchers {
    client: Client,
    namespace: Option<String>,
    shared: Arc<Shared>,
    running: BTreeMap<NativeKind, JoinHandle<()>>,
}

impl NativeWatchers {
    /// No watchers yet.
    pub fn new(client: Client, namespace: Option<String>, shared: Arc<Shared>) -> Self {
        NativeWatchers {
            client,
            namespace,
            shared,
            running: BTreeMap::new(),
        }
    }

    /// Starts a watcher for every kind whose CRD is served and stops those whose CRD is gone
    /// (forgetting their objects).
    pub fn sync(&mut self, kinds: &BTreeSet<NativeKind>) {
        let served: BTreeSet<NativeKind> = {
            let index = self.shared.read();
            kinds
                .iter()
                .filter(|k| {
                    index
                        .crd(&k.group, &k.plural)
                        .is_some_and(|crd| crd.established && crd.served.contains(&k.version))
                })
                .cloned()
                .collect()
        };
        let gone: Vec<NativeKind> = self
            .running
            .keys()
            .filter(|k| !served.contains(*k))
            .cloned()
            .collect();
        for kind in gone {
            if let Some(task) = self.running.remove(&kind) {
                task.abort();
            }
            tracing::info!(kind = %kind.kind, group = %kind.group, "CRD no longer served; stopped watching");
            self.shared.write().unwatch(&Source::Native(kind));
        }
        for kind in served {
            if self.running.contains_key(&kind) {
                continue;
            }
            tracing::info!(kind = %kind.kind, group = %kind.group, "CRD served; watching");
            let api = dynamic_api(
                &self.client,
                self.namespace.as_deref(),
                &native_resource(&kind),
            );
            let stream =
                watcher::watcher(api, watcher::Config::default().page_size(500)).default_backoff();
            let task = tokio::spawn(drive(
                self.shared.clone(),
                Source::Native(kind.clone()),
                stream,
                reduce_native,
            ));
            self.running.insert(kind, task);
        }
    }
}

impl Drop for NativeWatchers {
    fn drop(&mut self) {
        for task in self.running.values() {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dynamic(value: Value) -> DynamicObject {
        serde_json::from_value(value).unwrap_or_else(|e| panic!("test object: {e}"))
    }

    #[test]
    fn smi_objects_are_read_one_by_one() {
        let good = dynamic(json!({
            "apiVersion": "split.smi-spec.io/v1alpha4", "kind": "TrafficSplit",
            "metadata": {"name": "a", "namespace": "ns", "uid": "u", "generation": 3,
                         "managedFields": [{"manager": "x"}]},
            "spec": {"service": "web", "backends": [{"service": "v1", "weight": 1}]},
            "status": {"conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted",
                        "message": "valid", "lastTransitionTime": "2026-01-01T00:00:00Z"}]},
        }));
        let (key, item) = reduce_smi(SmiKind::TrafficSplit, good);
        assert_eq!(key, Key::Smi(SmiRef::new(SmiKind::TrafficSplit, "ns", "a")));
        let Some(Item::Smi(item)) = item else {
            panic!("not an SMI item")
        };
        assert_eq!(item.meta.generation, Some(3));
        assert_eq!(item.meta.conditions.len(), 1);
        let Ok(smi_api::convert::HubObject::TrafficSplit(split)) = &item.object else {
            panic!("not read: {:?}", item.object)
        };
        assert!(split.metadata.managed_fields.is_none() && split.status.is_none());

        let bad = dynamic(json!({
            "apiVersion": "split.smi-spec.io/v1alpha4", "kind": "TrafficSplit",
            "metadata": {"name": "b", "namespace": "ns"},
            "spec": {"service": "web", "backends": "not a list"},
        }));
        let (_, item) = reduce_smi(SmiKind::TrafficSplit, bad);
        let Some(Item::Smi(item)) = item else {
            panic!("not an SMI item")
        };
        let message = item.object.err().unwrap_or_default();
        assert!(message.contains("backends"), "{message}");
    }

    #[test]
    fn foreign_native_objects_keep_only_their_names_and_spec() {
        let object = |labels: Value, annotations: Value| {
            dynamic(json!({
                "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
                "metadata": {"name": "vs", "namespace": "ns", "uid": "u", "resourceVersion": "7",
                             "labels": labels, "annotations": annotations},
                "spec": {"hosts": ["web"]},
            }))
        };
        let observed = |o| match reduce_native(o).1 {
            Some(Item::Native(n)) => n,
            other => panic!("{other:?}"),
        };
        let ours = observed(object(
            json!({MANAGED_BY_LABEL: MANAGED_BY_VALUE}),
            json!({}),
        ));
        assert!(ours.ours && !ours.adopt && ours.object["spec"]["hosts"][0] == "web");
        let foreign = observed(object(json!({}), json!({})));
        // Foreign: names and spec (for claims), no labels, annotations or status.
        assert!(!foreign.ours && foreign.object["spec"]["hosts"][0] == "web");
        assert!(foreign.object["metadata"].get("labels").is_none());
        assert_eq!(foreign.resource_version.as_deref(), Some("7"));
        let adoptable = observed(object(json!({}), json!({ADOPT_ANNOTATION: "true"})));
        assert!(adoptable.adopt && adoptable.object.get("spec").is_some());
    }
}

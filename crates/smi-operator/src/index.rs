//! The in-memory index: what the watchers saw, reduced to what translation and the writer need.
//!
//! Watchers (see [`crate::watch`]) turn each object into an [`Item`] under a [`Key`] and hand it
//! here; the reconcile loop reads the index under a lock and computes from it. Nothing here does
//! I/O.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use serde_json::Value;
use smi_api::convert::HubObject;
use smi_translate::state::{NamespaceInfo, ServiceInfo, Workload, WorkloadKey, WorkloadKind};
use smi_translate::{ClusterState, NativeKind, ObjectKey, SmiKind, SmiRef};

/// A watched collection.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    /// Namespaces.
    Namespaces,
    /// Services.
    Services,
    /// One workload kind (Deployments, StatefulSets, DaemonSets, ReplicaSets, Pods).
    Workloads(WorkloadKind),
    /// One SMI kind, at its hub version.
    Smi(SmiKind),
    /// CustomResourceDefinitions (which backends are available).
    Crds,
    /// One native kind of a backend.
    Native(NativeKind),
}

impl Source {
    /// A short name for logs and metric labels.
    pub fn label(&self) -> String {
        match self {
            Source::Namespaces => "Namespace".to_string(),
            Source::Services => "Service".to_string(),
            Source::Workloads(kind) => format!("{kind:?}"),
            Source::Smi(kind) => kind.as_str().to_string(),
            Source::Crds => "CustomResourceDefinition".to_string(),
            Source::Native(kind) => format!("{}.{}", kind.kind, kind.group),
        }
    }
}

/// The identity of an object within its [`Source`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Key {
    /// A Namespace name.
    Namespace(String),
    /// A Service.
    Service(ObjectKey),
    /// A workload.
    Workload(WorkloadKey),
    /// An SMI object.
    Smi(SmiRef),
    /// A namespaced native object (its kind is the source's).
    Native(ObjectKey),
    /// A CRD name.
    Crd(String),
}

/// What the index keeps of an object.
#[derive(Clone, Debug)]
pub enum Item {
    /// A Namespace.
    Namespace(NamespaceInfo),
    /// A Service.
    Service(ServiceInfo),
    /// A workload.
    Workload(Workload),
    /// An SMI object.
    Smi(Box<SmiItem>),
    /// A native object.
    Native(ObservedNative),
    /// A CRD.
    Crd(CrdInfo),
}

/// An SMI object: its hub form, or why it could not be read.
#[derive(Clone, Debug)]
pub struct SmiItem {
    /// What the status writer needs.
    pub meta: SmiMeta,
    /// The object at its hub version, or what is wrong with it.
    pub object: Result<HubObject, String>,
}

/// What the status writer and the owner references need of an SMI object.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SmiMeta {
    /// `metadata.uid`.
    pub uid: Option<String>,
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// `metadata.resourceVersion`.
    pub resource_version: Option<String>,
    /// The conditions the object's status has now.
    pub conditions: Vec<Condition>,
}

/// A native object as observed.
#[derive(Clone, Debug, PartialEq)]
pub struct ObservedNative {
    /// `metadata.uid`.
    pub uid: Option<String>,
    /// `metadata.resourceVersion`.
    pub resource_version: Option<String>,
    /// Carries smi-bridge's managed-by label: smi-bridge created (or adopted) it.
    pub ours: bool,
    /// Carries the adopt annotation.
    pub adopt: bool,
    /// The object without managedFields and status; only its metadata when it is neither ours
    /// nor to be adopted (smi-bridge never writes those, so their content is not needed).
    pub object: Value,
}

/// What backend selection needs of a CRD.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrdInfo {
    /// `spec.group`.
    pub group: String,
    /// `spec.names.plural`.
    pub plural: String,
    /// Served versions.
    pub served: BTreeSet<String>,
    /// The `Established` condition is True.
    pub established: bool,
}

/// Everything the watchers saw.
#[derive(Debug, Default)]
pub struct Index {
    state: ClusterState,
    smi: BTreeMap<SmiRef, SmiMeta>,
    invalid: BTreeMap<SmiRef, String>,
    natives: BTreeMap<NativeKind, BTreeMap<ObjectKey, ObservedNative>>,
    crds: BTreeMap<String, CrdInfo>,
    synced: BTreeSet<Source>,
    errors: BTreeMap<Source, String>,
}

impl Index {
    /// The translation input.
    pub fn state(&self) -> &ClusterState {
        &self.state
    }

    /// Every SMI object (readable or not) with its metadata.
    pub fn smi_objects(&self) -> impl Iterator<Item = (&SmiRef, &SmiMeta)> {
        self.smi.iter()
    }

    /// An SMI object's metadata.
    pub fn smi_meta(&self, object: &SmiRef) -> Option<&SmiMeta> {
        self.smi.get(object)
    }

    /// Why an SMI object could not be read, if it could not.
    pub fn invalid(&self, object: &SmiRef) -> Option<&str> {
        self.invalid.get(object).map(String::as_str)
    }

    /// A native object, if observed.
    pub fn native(&self, kind: &NativeKind, key: &ObjectKey) -> Option<&ObservedNative> {
        self.natives.get(kind).and_then(|objects| objects.get(key))
    }

    /// Every observed native object of a kind.
    pub fn natives_of(
        &self,
        kind: &NativeKind,
    ) -> impl Iterator<Item = (&ObjectKey, &ObservedNative)> {
        self.natives.get(kind).into_iter().flatten()
    }

    /// The CRD serving `plural.group`, if any.
    pub fn crd(&self, group: &str, plural: &str) -> Option<&CrdInfo> {
        self.crds.get(&format!("{plural}.{group}"))
    }

    /// Whether a source has completed its initial list (and was not unwatched since).
    pub fn synced(&self, source: &Source) -> bool {
        self.synced.contains(source)
    }

    /// The last error watching a source, while it has not listed successfully since.
    pub fn watch_error(&self, source: &Source) -> Option<&str> {
        self.errors.get(source).map(String::as_str)
    }

    /// Records a watch error.
    pub fn set_watch_error(&mut self, source: &Source, error: String) {
        self.errors.insert(source.clone(), error);
    }

    /// Adds or replaces an object (`None`: the object is not an input, e.g. a ReplicaSet owned
    /// by a Deployment, so any earlier entry goes).
    pub fn apply(&mut self, source: &Source, key: Key, item: Option<Item>) {
        self.remove(source, &key);
        let Some(item) = item else { return };
        match (key, item) {
            (Key::Namespace(name), Item::Namespace(info)) => {
                self.state.namespaces.insert(name, info);
            }
            (Key::Service(key), Item::Service(info)) => {
                self.state.services.insert(key, info);
            }
            (Key::Workload(key), Item::Workload(workload)) => {
                self.state.workloads.insert(key, workload);
            }
            (Key::Smi(object), Item::Smi(item)) => self.insert_smi(object, *item),
            (Key::Native(key), Item::Native(observed)) => {
                if let Source::Native(kind) = source {
                    self.natives
                        .entry(kind.clone())
                        .or_default()
                        .insert(key, observed);
                }
            }
            (Key::Crd(name), Item::Crd(info)) => {
                self.crds.insert(name, info);
            }
            (key, item) => {
                tracing::error!(?key, ?item, "index: item does not match its key; ignored");
            }
        }
    }

    fn insert_smi(&mut self, object: SmiRef, item: SmiItem) {
        self.smi.insert(object.clone(), item.meta);
        let key = object.key.clone();
        match item.object {
            Err(message) => {
                self.invalid.insert(object, message);
            }
            Ok(HubObject::TrafficSplit(o)) => {
                self.state.traffic_splits.insert(key, o);
            }
            Ok(HubObject::TrafficTarget(o)) => {
                self.state.traffic_targets.insert(key, o);
            }
            Ok(HubObject::HTTPRouteGroup(o)) => {
                self.state.http_route_groups.insert(key, o);
            }
            Ok(HubObject::TCPRoute(o)) => {
                self.state.tcp_routes.insert(key, o);
            }
            Ok(HubObject::UDPRoute(o)) => {
                self.state.udp_routes.insert(key, o);
            }
        }
    }

    /// Removes an object.
    pub fn remove(&mut self, source: &Source, key: &Key) {
        match key {
            Key::Namespace(name) => {
                self.state.namespaces.remove(name);
            }
            Key::Service(key) => {
                self.state.services.remove(key);
            }
            Key::Workload(key) => {
                self.state.workloads.remove(key);
            }
            Key::Smi(object) => {
                self.smi.remove(object);
                self.invalid.remove(object);
                let key = &object.key;
                match object.kind {
                    SmiKind::TrafficSplit => self.state.traffic_splits.remove(key).map(drop),
                    SmiKind::TrafficTarget => self.state.traffic_targets.remove(key).map(drop),
                    SmiKind::HTTPRouteGroup => self.state.http_route_groups.remove(key).map(drop),
                    SmiKind::TCPRoute => self.state.tcp_routes.remove(key).map(drop),
                    SmiKind::UDPRoute => self.state.udp_routes.remove(key).map(drop),
                };
            }
            Key::Native(key) => {
                if let Source::Native(kind) = source
                    && let Some(objects) = self.natives.get_mut(kind)
                {
                    objects.remove(key);
                }
            }
            Key::Crd(name) => {
                self.crds.remove(name);
            }
        }
    }

    /// Replaces everything of a source with a complete list and marks it synced.
    pub fn reset(&mut self, source: &Source, entries: Vec<(Key, Option<Item>)>) {
        self.clear(source);
        for (key, item) in entries {
            self.apply(source, key, item);
        }
        self.synced.insert(source.clone());
        self.errors.remove(source);
    }

    /// Forgets a source (its watch stopped): its objects go and it is no longer synced.
    pub fn unwatch(&mut self, source: &Source) {
        self.clear(source);
        self.synced.remove(source);
        self.errors.remove(source);
    }

    fn clear(&mut self, source: &Source) {
        match source {
            Source::Namespaces => self.state.namespaces.clear(),
            Source::Services => self.state.services.clear(),
            Source::Workloads(kind) => self.state.workloads.retain(|k, _| k.kind != *kind),
            Source::Smi(kind) => {
                self.smi.retain(|r, _| r.kind != *kind);
                self.invalid.retain(|r, _| r.kind != *kind);
                match kind {
                    SmiKind::TrafficSplit => self.state.traffic_splits.clear(),
                    SmiKind::TrafficTarget => self.state.traffic_targets.clear(),
                    SmiKind::HTTPRouteGroup => self.state.http_route_groups.clear(),
                    SmiKind::TCPRoute => self.state.tcp_routes.clear(),
                    SmiKind::UDPRoute => self.state.udp_routes.clear(),
                }
            }
            Source::Crds => self.crds.clear(),
            Source::Native(kind) => {
                self.natives.remove(kind);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn native(ours: bool) -> Item {
        Item::Native(ObservedNative {
            uid: Some("u".into()),
            resource_version: Some("1".into()),
            ours,
            adopt: false,
            object: Value::Null,
        })
    }

    #[test]
    fn reset_replaces_a_source_and_marks_it_synced() {
        let kind = NativeKind::new("g", "v1", "K", "ks");
        let source = Source::Native(kind.clone());
        let mut index = Index::default();
        index.apply(
            &source,
            Key::Native(ObjectKey::new("ns", "a")),
            Some(native(true)),
        );
        assert!(!index.synced(&source));
        index.reset(
            &source,
            vec![(Key::Native(ObjectKey::new("ns", "b")), Some(native(false)))],
        );
        assert!(index.synced(&source));
        assert!(index.native(&kind, &ObjectKey::new("ns", "a")).is_none());
        assert!(index.native(&kind, &ObjectKey::new("ns", "b")).is_some());
        index.unwatch(&source);
        assert!(!index.synced(&source));
        assert_eq!(index.natives_of(&kind).count(), 0);
    }

    #[test]
    fn an_unreadable_smi_object_is_kept_apart_from_the_translation_input() {
        let source = Source::Smi(SmiKind::TrafficSplit);
        let object = SmiRef::new(SmiKind::TrafficSplit, "ns", "bad");
        let mut index = Index::default();
        let item = SmiItem {
            meta: SmiMeta::default(),
            object: Err("field `spec`: missing".into()),
        };
        index.apply(
            &source,
            Key::Smi(object.clone()),
            Some(Item::Smi(Box::new(item))),
        );
        assert_eq!(index.invalid(&object), Some("field `spec`: missing"));
        assert!(index.state().traffic_splits.is_empty());
        assert!(index.smi_meta(&object).is_some());
        index.remove(&source, &Key::Smi(object.clone()));
        assert!(index.invalid(&object).is_none() && index.smi_meta(&object).is_none());
    }
}

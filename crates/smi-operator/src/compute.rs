//! The pure step of a reconcile: index in, a plan of writes out.
//!
//! Every namespace holding SMI objects gets a backend ([`Meshes::select`]); the core renders
//! each backend's namespaces; the rendered objects are compared with the observed ones (see
//! [`crate::diff`]); the conditions are compared with the observed status (see
//! [`crate::status`]). Only differences become writes.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::Value;
use smi_translate::{
    ClusterState, ConditionType, NativeKind, NativeObject, ObjectKey, ObjectStatus, Report, SmiRef,
    TranslateOptions, render, translate,
};

use crate::config::ADOPT_ANNOTATION;
use crate::diff::{Owner, desired_object, needs_apply};
use crate::index::{Index, Source};
use crate::mesh::{Meshes, Selection};
use crate::status::{self, EventSpec};

/// A native object and its kind.
pub type NativeId = (NativeKind, ObjectKey);

/// The writes that make the cluster match the SMI objects.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// Creates, updates and deletes of native objects.
    pub natives: Vec<NativeOp>,
    /// Status writes of SMI objects.
    pub statuses: Vec<StatusOp>,
    /// How many native objects are desired.
    pub desired: usize,
    /// How many desired native objects are blocked by objects smi-bridge did not create.
    pub conflicts: usize,
}

/// What to do with a native object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NativeAction {
    /// Create it (server-side apply that fails if it exists).
    Create,
    /// Update our object (forced server-side apply, conditional on the observed version).
    Update,
    /// Take over an object annotated for adoption (forced, conditional).
    Adopt,
    /// Delete our object that is no longer desired (conditional on uid and version).
    Delete,
}

impl NativeAction {
    /// The `verb` label of the write metric.
    pub fn verb(self) -> &'static str {
        match self {
            NativeAction::Create => "create",
            NativeAction::Update => "update",
            NativeAction::Adopt => "adopt",
            NativeAction::Delete => "delete",
        }
    }
}

/// One write of a native object.
#[derive(Clone, Debug)]
pub struct NativeOp {
    /// Kind and namespace/name.
    pub id: NativeId,
    /// What to do.
    pub action: NativeAction,
    /// The object to apply (not for deletes).
    pub body: Option<Value>,
    /// The observed uid (deletes are conditional on it).
    pub uid: Option<String>,
    /// The observed resourceVersion (updates and deletes are conditional on it).
    pub resource_version: Option<String>,
}

/// One status write.
#[derive(Clone, Debug)]
pub struct StatusOp {
    /// The SMI object.
    pub object: SmiRef,
    /// Its uid (for Events).
    pub uid: Option<String>,
    /// Its observed resourceVersion.
    pub resource_version: Option<String>,
    /// The status apply body.
    pub body: Value,
    /// Events to send once the status is written.
    pub events: Vec<EventSpec>,
}

/// What a plan is computed from besides the index.
#[derive(Clone, Copy, Debug)]
pub struct Inputs<'a> {
    /// The backends and the default choice.
    pub meshes: &'a Meshes,
    /// Options of the core.
    pub options: &'a TranslateOptions,
    /// The last error applying each native object that failed (reported as `ApplyFailed`).
    pub failures: &'a BTreeMap<NativeId, String>,
    /// The time to stamp on conditions that change.
    pub now: &'a Time,
}

/// Computes the writes that make the cluster match the index.
pub fn plan(index: &Index, inputs: Inputs<'_>) -> Plan {
    // Namespaces to translate: those with SMI objects, and those that deny by default without
    // any (their workloads need deny-all objects all the same).
    let mut all: BTreeSet<String> = index
        .smi_objects()
        .map(|(r, _)| r.key.namespace.clone())
        .collect();
    all.extend(
        index
            .state()
            .namespaces
            .iter()
            .filter(|(_, namespace)| inputs.options.enforces_access(namespace))
            .map(|(name, _)| name.clone()),
    );
    let mut groups: Vec<(Selection, BTreeSet<String>)> = Vec::new();
    for namespace in &all {
        let selection = inputs.meshes.select(namespace, index);
        match groups.iter_mut().find(|(s, _)| *s == selection) {
            Some((_, set)) => {
                set.insert(namespace.clone());
            }
            None => groups.push((selection, BTreeSet::from([namespace.clone()]))),
        }
    }
    let mut report = Report::default();
    let mut desired: Vec<(NativeKind, NativeObject)> = Vec::new();
    let mut waiting: BTreeSet<String> = BTreeSet::new();
    for (selection, namespaces) in &groups {
        let state = restrict(index.state(), namespaces, &all);
        match selection {
            Selection::Backend(position) => {
                let backend = &inputs.meshes.backends()[*position];
                let rendered = render(&state, backend.as_ref(), inputs.options);
                keep_statuses(&mut report, rendered.report, namespaces);
                let kinds = backend.native_kinds();
                for object in rendered.objects {
                    match kinds
                        .iter()
                        .find(|k| k.api_version() == object.api_version && k.kind == object.kind)
                    {
                        Some(kind) => desired.push((kind.clone(), object)),
                        None => tracing::error!(
                            backend = backend.name(),
                            api_version = object.api_version,
                            kind = object.kind,
                            "the backend rendered a kind it does not declare; not written"
                        ),
                    }
                }
            }
            Selection::Unavailable(message) => {
                let mut translated = translate(&state, inputs.options).report;
                for status in translated.statuses.values_mut() {
                    status.set(
                        ConditionType::Programmed,
                        false,
                        "BackendUnavailable",
                        message.clone(),
                    );
                }
                keep_statuses(&mut report, translated, namespaces);
            }
            Selection::Pending(_) => waiting.extend(namespaces.iter().cloned()),
        }
    }
    for (object, meta) in index.smi_objects() {
        if let Some(message) = index.invalid(object) {
            let mut status = ObjectStatus {
                observed_generation: meta.generation,
                conditions: Vec::new(),
            };
            status.set(ConditionType::Accepted, false, "Invalid", message);
            report.statuses.insert(object.clone(), status);
        }
    }
    let mut plan = Plan {
        desired: desired.len(),
        ..Plan::default()
    };
    let claimed = foreign_claims(index, inputs);
    let mut wanted: BTreeSet<(String, String, ObjectKey)> = BTreeSet::new();
    for (kind, object) in &desired {
        let key = ObjectKey::new(&object.namespace, &object.name);
        if !wanted.insert((kind.group.clone(), kind.kind.clone(), key.clone())) {
            tracing::error!(kind = kind.kind, %key, "rendered twice; the first one is written");
            continue;
        }
        native_op(
            index,
            inputs,
            &claimed,
            &mut plan,
            &mut report,
            kind,
            object,
            key,
        );
    }
    for kind in inputs.meshes.native_kinds() {
        if !index.synced(&Source::Native(kind.clone())) {
            continue;
        }
        for (key, observed) in index.natives_of(&kind) {
            let id = (kind.group.clone(), kind.kind.clone(), key.clone());
            if observed.ours && !waiting.contains(&key.namespace) && wanted.insert(id) {
                plan.natives.push(NativeOp {
                    id: (kind.clone(), key.clone()),
                    action: NativeAction::Delete,
                    body: None,
                    uid: observed.uid.clone(),
                    resource_version: observed.resource_version.clone(),
                });
            }
        }
    }
    for (object, meta) in index.smi_objects() {
        if waiting.contains(&object.key.namespace) {
            continue;
        }
        let Some(desired) = report.statuses.get(object) else {
            continue;
        };
        let conditions = status::conditions(desired, &meta.conditions, inputs.now);
        if conditions.is_empty() || status::same(&conditions, &meta.conditions) {
            continue;
        }
        plan.statuses.push(StatusOp {
            object: object.clone(),
            uid: meta.uid.clone(),
            resource_version: meta.resource_version.clone(),
            events: status::events(&conditions, &meta.conditions),
            body: status::apply_body(object, &conditions),
        });
    }
    plan
}

/// What foreign objects (not created by smi-bridge) of every watched kind claim: claim key →
/// the object (see [`smi_translate::Backend::claims`]).
fn foreign_claims(index: &Index, inputs: Inputs<'_>) -> BTreeMap<String, NativeId> {
    let mut claimed = BTreeMap::new();
    for kind in inputs.meshes.watched_kinds() {
        for (key, observed) in index.natives_of(&kind) {
            if observed.ours {
                continue;
            }
            for claim in
                inputs
                    .meshes
                    .claims(&kind, &observed.object, &inputs.options.cluster_domain)
            {
                claimed
                    .entry(claim)
                    .or_insert_with(|| (kind.clone(), key.clone()));
            }
        }
    }
    claimed
}

/// Decides the write of one desired native object, and reports conflicts and failed writes on
/// its sources.
#[allow(clippy::too_many_arguments)]
fn native_op(
    index: &Index,
    inputs: Inputs<'_>,
    claimed: &BTreeMap<String, NativeId>,
    plan: &mut Plan,
    report: &mut Report,
    kind: &NativeKind,
    object: &NativeObject,
    key: ObjectKey,
) {
    let owners: Vec<Owner> = object
        .sources
        .iter()
        .filter(|s| s.key.namespace == object.namespace)
        .filter_map(|s| {
            let uid = index.smi_meta(s)?.uid.clone()?;
            Some(Owner {
                api_version: format!("{}/{}", s.kind.group(), s.kind.hub_version()),
                kind: s.kind.as_str().to_string(),
                name: s.key.name.clone(),
                uid,
            })
        })
        .collect();
    let body = desired_object(object, &owners);
    let id = (kind.clone(), key);
    if let Some(error) = inputs.failures.get(&id) {
        report_on_sources(
            report,
            &object.sources,
            "ApplyFailed",
            format!("writing {} {} failed: {error}", kind.kind, id.1),
        );
    }
    // A foreign object under another name that takes the same traffic (a VirtualService for the
    // same host, a ServiceProfile on the root, a second ServiceIntentions for the destination).
    let json = object.to_json();
    let rival = inputs
        .meshes
        .claims(kind, &json, &inputs.options.cluster_domain)
        .into_iter()
        .find_map(|claim| {
            claimed
                .get(&claim)
                .filter(|other| **other != id)
                .map(|o| (claim, o))
        });
    if let Some((claim, (other_kind, other_key))) = rival {
        plan.conflicts += 1;
        report_on_sources(
            report,
            &object.sources,
            "Conflict",
            format!(
                "{} {other_key} was not created by smi-bridge and already takes this traffic                  ({claim}); smi-bridge leaves it untouched and does not write {} {}: delete it,                  or move what it does into the SMI objects",
                other_kind.kind, kind.kind, id.1
            ),
        );
        return;
    }
    let action = match index.native(kind, &id.1) {
        None if index.synced(&Source::Native(kind.clone())) => NativeAction::Create,
        None => return,
        Some(observed) if observed.ours => {
            if !needs_apply(&body, &observed.object) {
                return;
            }
            NativeAction::Update
        }
        Some(observed) if observed.adopt => NativeAction::Adopt,
        Some(_) => {
            plan.conflicts += 1;
            report_on_sources(
                report,
                &object.sources,
                "Conflict",
                format!(
                    "{} {} exists and was not created by smi-bridge, which leaves it untouched: \
                     delete or rename it, or annotate it {ADOPT_ANNOTATION}=true to let \
                     smi-bridge take it over",
                    kind.kind, id.1
                ),
            );
            return;
        }
    };
    let observed = index.native(kind, &id.1);
    plan.natives.push(NativeOp {
        action,
        body: Some(body),
        uid: observed.and_then(|o| o.uid.clone()),
        resource_version: observed.and_then(|o| o.resource_version.clone()),
        id,
    });
}

fn report_on_sources(
    report: &mut Report,
    sources: &BTreeSet<SmiRef>,
    reason: &str,
    message: String,
) {
    for source in sources {
        report
            .status_mut(source)
            .set(ConditionType::Programmed, false, reason, message.clone());
    }
}

/// Keeps the statuses of the objects in `namespaces`.
fn keep_statuses(report: &mut Report, from: Report, namespaces: &BTreeSet<String>) {
    report.statuses.extend(
        from.statuses
            .into_iter()
            .filter(|(r, _)| namespaces.contains(&r.key.namespace)),
    );
}

/// The state with only the SMI objects and Namespaces of `namespaces` (borrowed when that is
/// all of them): another group's namespace that denies by default is not this backend's to
/// enforce.
fn restrict<'a>(
    state: &'a ClusterState,
    namespaces: &BTreeSet<String>,
    all: &BTreeSet<String>,
) -> Cow<'a, ClusterState> {
    if namespaces == all {
        return Cow::Borrowed(state);
    }
    fn only<V: Clone>(
        map: &BTreeMap<ObjectKey, V>,
        namespaces: &BTreeSet<String>,
    ) -> BTreeMap<ObjectKey, V> {
        map.iter()
            .filter(|(k, _)| namespaces.contains(&k.namespace))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
    Cow::Owned(ClusterState {
        namespaces: state
            .namespaces
            .iter()
            .filter(|(name, _)| namespaces.contains(*name))
            .map(|(name, info)| (name.clone(), info.clone()))
            .collect(),
        services: state.services.clone(),
        workloads: state.workloads.clone(),
        traffic_splits: only(&state.traffic_splits, namespaces),
        traffic_targets: only(&state.traffic_targets, namespaces),
        http_route_groups: only(&state.http_route_groups, namespaces),
        tcp_routes: only(&state.tcp_routes, namespaces),
        udp_routes: only(&state.udp_routes, namespaces),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;
    use smi_api::convert::HubObject;
    use smi_translate::backend::BackendOutput;
    use smi_translate::model::ENFORCE_ACCESS_LABEL;
    use smi_translate::state::{NamespaceInfo, Workload, WorkloadKey, WorkloadKind};
    use smi_translate::{Backend, Model, SmiKind};

    use super::*;
    use crate::config::{APPLIED_HASH_ANNOTATION, MESH_LABEL, MeshChoice};
    use crate::index::{CrdInfo, Item, Key, ObservedNative, SmiItem, SmiMeta};

    /// One `Route` per TrafficSplit, named after it.
    struct Fake;

    fn route_kind() -> NativeKind {
        NativeKind::new("example.io", "v1", "Route", "routes")
    }

    impl Backend for Fake {
        fn name(&self) -> &str {
            "fake"
        }
        fn native_kinds(&self) -> Vec<NativeKind> {
            vec![route_kind()]
        }
        fn claims(&self, _: &NativeKind, object: &Value, _: &str) -> Vec<String> {
            object["spec"]["service"]
                .as_str()
                .map(|s| vec![format!("host:{s}")])
                .unwrap_or_default()
        }
        fn render(&self, model: &Model, state: &ClusterState) -> BackendOutput {
            // A `Route` per deny-by-default destination too, named `deny-<serviceaccount>`.
            let denials = model.access.iter().map(|access| {
                NativeObject::new(
                    "example.io/v1",
                    "Route",
                    &access.identity.namespace,
                    format!("deny-{}", access.identity.service_account),
                    json!({"service": access.identity.service_account}),
                )
            });
            let objects = state
                .traffic_splits
                .iter()
                .map(|(key, split)| {
                    let source = SmiRef::new(SmiKind::TrafficSplit, &key.namespace, &key.name);
                    NativeObject::new(
                        "example.io/v1",
                        "Route",
                        &key.namespace,
                        format!("r-{}", key.name),
                        json!({"service": split.spec.service}),
                    )
                    .with_sources([&source])
                })
                .chain(denials)
                .collect();
            BackendOutput {
                objects,
                findings: Vec::new(),
            }
        }
    }

    struct World {
        index: Index,
        meshes: Meshes,
        failures: BTreeMap<NativeId, String>,
    }

    impl World {
        fn new() -> Self {
            let meshes = Meshes::new(vec![Arc::new(Fake)], MeshChoice::Auto)
                .unwrap_or_else(|e| panic!("{e}"));
            let mut world = World {
                index: Index::default(),
                meshes,
                failures: BTreeMap::new(),
            };
            world.crd();
            world.index.reset(&Source::Native(route_kind()), Vec::new());
            world
        }

        fn crd(&mut self) {
            let info = CrdInfo {
                group: "example.io".into(),
                plural: "routes".into(),
                served: ["v1".to_string()].into(),
                established: true,
            };
            self.index.apply(
                &Source::Crds,
                Key::Crd("routes.example.io".into()),
                Some(Item::Crd(info)),
            );
        }

        fn split(&mut self, ns: &str, name: &str) {
            let value = json!({
                "apiVersion": "split.smi-spec.io/v1alpha4", "kind": "TrafficSplit",
                "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{name}"), "generation": 1},
                "spec": {"service": "web", "backends": [{"service": "web-v1", "weight": 1}]},
            });
            let object = smi_api::convert::to_hub(&value).map_err(|e| e.to_string());
            assert!(matches!(object, Ok(HubObject::TrafficSplit(_))));
            self.smi(ns, name, object);
        }

        fn smi(&mut self, ns: &str, name: &str, object: Result<HubObject, String>) {
            let item = SmiItem {
                meta: SmiMeta {
                    uid: Some(format!("uid-{name}")),
                    generation: Some(1),
                    ..SmiMeta::default()
                },
                object,
            };
            self.index.apply(
                &Source::Smi(SmiKind::TrafficSplit),
                Key::Smi(SmiRef::new(SmiKind::TrafficSplit, ns, name)),
                Some(Item::Smi(Box::new(item))),
            );
        }

        fn observe(&mut self, ns: &str, name: &str, object: Value, ours: bool, adopt: bool) {
            let observed = ObservedNative {
                uid: Some(format!("native-{name}")),
                resource_version: Some("5".into()),
                ours,
                adopt,
                object,
            };
            self.index.apply(
                &Source::Native(route_kind()),
                Key::Native(ObjectKey::new(ns, name)),
                Some(Item::Native(observed)),
            );
        }

        fn plan(&self) -> Plan {
            let options = TranslateOptions::default();
            let now = Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH);
            plan(
                &self.index,
                Inputs {
                    meshes: &self.meshes,
                    options: &options,
                    failures: &self.failures,
                    now: &now,
                },
            )
        }

        /// Makes the index look as if the plan was written and echoed by the watches.
        fn echo(&mut self, plan: &Plan) {
            for op in &plan.natives {
                let (_, key) = &op.id;
                match &op.body {
                    Some(body) => {
                        self.observe(&key.namespace, &key.name, body.clone(), true, false)
                    }
                    None => self
                        .index
                        .remove(&Source::Native(route_kind()), &Key::Native(key.clone())),
                }
            }
            for op in &plan.statuses {
                let conditions = serde_json::from_value(op.body["status"]["conditions"].clone())
                    .unwrap_or_else(|e| panic!("{e}"));
                let meta = self.index.smi_meta(&op.object).cloned().unwrap_or_default();
                let object = match self.index.invalid(&op.object) {
                    Some(message) => Err(message.to_string()),
                    None => Ok(HubObject::TrafficSplit(
                        self.index.state().traffic_splits[&op.object.key].clone(),
                    )),
                };
                let item = SmiItem {
                    meta: SmiMeta { conditions, ..meta },
                    object,
                };
                self.index.apply(
                    &Source::Smi(SmiKind::TrafficSplit),
                    Key::Smi(op.object.clone()),
                    Some(Item::Smi(Box::new(item))),
                );
            }
        }
    }

    fn namespace(world: &mut World, name: &str, labels: &[(&str, &str)]) {
        let info = NamespaceInfo {
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        world.index.apply(
            &Source::Namespaces,
            Key::Namespace(name.into()),
            Some(Item::Namespace(info)),
        );
        let workload = Workload {
            service_account: format!("sa-{name}"),
            pod_labels: BTreeMap::from([("app".to_string(), name.to_string())]),
            pod_annotations: BTreeMap::new(),
            container_ports: Vec::new(),
            http_probes: Vec::new(),
        };
        world.index.apply(
            &Source::Workloads(WorkloadKind::Deployment),
            Key::Workload(WorkloadKey {
                key: ObjectKey::new(name, "app"),
                kind: WorkloadKind::Deployment,
            }),
            Some(Item::Workload(workload)),
        );
    }

    fn created(plan: &Plan) -> Vec<String> {
        plan.natives
            .iter()
            .filter(|op| op.body.is_some())
            .map(|op| format!("{}/{}", op.id.1.namespace, op.id.1.name))
            .collect()
    }

    #[test]
    fn a_namespace_denying_by_default_is_enforced_without_smi_objects_by_its_own_mesh_only() {
        let enforce = (ENFORCE_ACCESS_LABEL, "true");
        let mut world = World::new();
        namespace(&mut world, "locked", &[enforce]);
        namespace(&mut world, "open", &[]);
        assert_eq!(created(&world.plan()), vec!["locked/deny-sa-locked"]);

        // A namespace of a mesh that is not available is not enforced by another backend.
        namespace(&mut world, "elsewhere", &[enforce, (MESH_LABEL, "other")]);
        world.split("open", "s");
        let plan = world.plan();
        assert_eq!(
            created(&plan),
            vec!["locked/deny-sa-locked", "open/r-s"],
            "{:#?}",
            plan.natives
        );
    }

    fn condition<'a>(plan: &'a Plan, name: &str, type_: &str) -> Option<&'a Value> {
        plan.statuses
            .iter()
            .find(|s| s.object.key.name == name)
            .and_then(|s| s.body["status"]["conditions"].as_array())
            .and_then(|c| c.iter().find(|c| c["type"] == type_))
    }

    #[test]
    fn creates_then_converges_to_zero_writes() {
        let mut world = World::new();
        world.split("ns", "a");
        let first = world.plan();
        assert_eq!(first.natives.len(), 1);
        assert_eq!(first.natives[0].action, NativeAction::Create);
        let body = first.natives[0].body.clone().unwrap_or_default();
        assert_eq!(body["metadata"]["ownerReferences"][0]["uid"], "uid-a");
        assert!(body["metadata"]["annotations"][APPLIED_HASH_ANNOTATION].is_string());
        assert_eq!(
            condition(&first, "a", "Programmed").map(|c| &c["status"]),
            Some(&json!("True"))
        );
        world.echo(&first);
        let second = world.plan();
        assert!(
            second.natives.is_empty() && second.statuses.is_empty(),
            "{second:?}"
        );
    }

    #[test]
    fn foreign_objects_are_conflicts_unless_annotated_for_adoption() {
        let mut world = World::new();
        world.split("ns", "a");
        world.observe(
            "ns",
            "r-a",
            json!({"metadata": {"name": "r-a"}}),
            false,
            false,
        );
        let plan = world.plan();
        assert!(plan.natives.is_empty());
        assert_eq!(plan.conflicts, 1);
        let programmed = condition(&plan, "a", "Programmed")
            .cloned()
            .unwrap_or_default();
        assert_eq!(programmed["reason"], "Conflict");
        assert!(
            plan.statuses[0]
                .events
                .iter()
                .any(|e| e.reason == "Conflict")
        );
        world.observe(
            "ns",
            "r-a",
            json!({"metadata": {"name": "r-a"}}),
            false,
            true,
        );
        let plan = world.plan();
        assert_eq!(plan.natives.len(), 1);
        assert_eq!(plan.natives[0].action, NativeAction::Adopt);
        assert_eq!(plan.natives[0].resource_version.as_deref(), Some("5"));
    }

    #[test]
    fn foreign_objects_under_another_name_that_take_the_same_traffic_are_conflicts() {
        let mut world = World::new();
        world.split("ns", "a");
        world.observe(
            "ns",
            "hand-written",
            json!({"metadata": {"name": "hand-written"}, "spec": {"service": "web"}}),
            false,
            false,
        );
        let plan = world.plan();
        assert!(plan.natives.is_empty(), "{:?}", plan.natives);
        assert_eq!(plan.conflicts, 1);
        let programmed = condition(&plan, "a", "Programmed")
            .cloned()
            .unwrap_or_default();
        assert_eq!(programmed["reason"], "Conflict");
        let message = programmed["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("Route ns/hand-written") && message.contains("host:web"),
            "{message}"
        );
        // Another host is no conflict.
        world.observe(
            "ns",
            "hand-written",
            json!({"metadata": {"name": "hand-written"}, "spec": {"service": "api"}}),
            false,
            false,
        );
        let plan = world.plan();
        assert_eq!(plan.conflicts, 0);
        assert_eq!(plan.natives.len(), 1);
    }

    #[test]
    fn objects_no_longer_desired_are_pruned_and_foreign_ones_never() {
        let mut world = World::new();
        world.observe("ns", "r-gone", json!({}), true, false);
        world.observe("ns", "theirs", json!({}), false, false);
        let plan = world.plan();
        assert_eq!(plan.natives.len(), 1);
        let op = &plan.natives[0];
        assert_eq!(
            (op.action, op.id.1.name.as_str()),
            (NativeAction::Delete, "r-gone")
        );
        assert_eq!(op.uid.as_deref(), Some("native-r-gone"));
    }

    #[test]
    fn a_missing_or_unknown_mesh_is_reported_and_nothing_is_written() {
        let mut world = World::new();
        world.split("ns", "a");
        world
            .index
            .remove(&Source::Crds, &Key::Crd("routes.example.io".into()));
        let plan = world.plan();
        assert!(plan.natives.is_empty());
        let programmed = condition(&plan, "a", "Programmed")
            .cloned()
            .unwrap_or_default();
        assert_eq!(programmed["reason"], "BackendUnavailable");
        let message = programmed["message"].as_str().unwrap_or_default();
        assert!(message.contains("routes.example.io/v1"), "{message}");

        world.crd();
        let labels = BTreeMap::from([(MESH_LABEL.to_string(), "istio".to_string())]);
        world.index.apply(
            &Source::Namespaces,
            Key::Namespace("ns".into()),
            Some(Item::Namespace(NamespaceInfo { labels })),
        );
        let plan = world.plan();
        let programmed = condition(&plan, "a", "Programmed")
            .cloned()
            .unwrap_or_default();
        assert!(
            programmed["message"]
                .as_str()
                .unwrap_or_default()
                .contains("`istio`")
        );
    }

    #[test]
    fn a_backend_still_listing_holds_back_its_namespaces_only() {
        let mut world = World::new();
        world.split("ns", "a");
        world.index.unwatch(&Source::Native(route_kind()));
        let plan = world.plan();
        assert!(plan.natives.is_empty() && plan.statuses.is_empty());
    }

    #[test]
    fn an_unreadable_object_gets_a_condition_and_others_are_served() {
        let mut world = World::new();
        world.split("ns", "good");
        world.smi(
            "ns",
            "bad",
            Err("field `spec.backends`: invalid type".into()),
        );
        let plan = world.plan();
        assert_eq!(plan.natives.len(), 1);
        let accepted = condition(&plan, "bad", "Accepted")
            .cloned()
            .unwrap_or_default();
        assert_eq!(accepted["status"], "False");
        assert_eq!(accepted["reason"], "Invalid");
        assert!(
            accepted["message"]
                .as_str()
                .unwrap_or_default()
                .contains("spec.backends")
        );
        assert_eq!(
            condition(&plan, "good", "Accepted").map(|c| &c["status"]),
            Some(&json!("True"))
        );
    }

    #[test]
    fn failed_writes_are_reported_on_their_sources() {
        let mut world = World::new();
        world.split("ns", "a");
        world.failures.insert(
            (route_kind(), ObjectKey::new("ns", "r-a")),
            "denied by webhook".into(),
        );
        let plan = world.plan();
        let programmed = condition(&plan, "a", "Programmed")
            .cloned()
            .unwrap_or_default();
        assert_eq!(programmed["reason"], "ApplyFailed");
        assert!(
            programmed["message"]
                .as_str()
                .unwrap_or_default()
                .contains("denied by webhook")
        );
        assert_eq!(plan.natives.len(), 1);
    }
}

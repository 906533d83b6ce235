//! With kube-controller-manager (own binary, own control plane): a mesh installed after the
//! operator started is picked up without a restart — `BackendUnavailable` until then — and the
//! native objects are garbage-collected through their ownerReferences when their SMI sources go,
//! with the operator stopped (so it is not pruning that removes them).
//!
//! One test: the Istio CRDs are cluster-wide, and this test needs them absent at first.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use kube::Api;
use kube::api::{DeleteParams, DynamicObject};
use smi_bridge_istio::IstioBackend;
use smi_operator::MeshChoice;
use smi_operator::watch::smi_resource;
use smi_testenv::fixtures::WEB_CANARY;
use smi_testenv::{Config, Mesh, install_smi_crds, install_upstream, require_env};
use smi_translate::{Backend, NativeKind, SmiKind};
use support::{
    CONVERGE, Running, apply, eventually, has_condition, matches_rendered, natives, operator_user,
    rendered,
};

/// The garbage collector watches a new resource type only after its next discovery sync (30 s).
const GARBAGE_COLLECTION: Duration = Duration::from_secs(90);

/// The canary workloads and a 3:1 TrafficSplit over them.
fn objects() -> String {
    format!(
        "{WEB_CANARY}---\napiVersion: split.smi-spec.io/v1alpha4\nkind: TrafficSplit\n\
         metadata: {{name: web-split}}\n\
         spec: {{service: web, backends: [{{service: web-v1, weight: 3}}, {{service: web-v2, weight: 1}}]}}\n"
    )
}

#[tokio::test]
async fn a_mesh_installed_later_is_programmed_and_natives_are_garbage_collected() {
    let env = require_env!(Config::default().with_controller_manager());
    let ns = env.namespace("op-late").await.expect("a test namespace");
    let (client, name) = (ns.client(), ns.name());
    install_smi_crds(client).await.expect("SMI CRDs");
    let backend: Arc<dyn Backend> = Arc::new(IstioBackend::default());
    let kinds: BTreeSet<NativeKind> = backend.native_kinds().into_iter().collect();
    let user = operator_user(env, "op-late", &[backend.as_ref()]).await;
    let operator = Running::start(&user, name, vec![backend.clone()], MeshChoice::Auto).await;
    apply(client, name, &objects()).await;

    let unavailable = eventually("BackendUnavailable before the CRDs", CONVERGE, || {
        has_condition(
            client,
            name,
            SmiKind::TrafficSplit,
            "web-split",
            "Programmed",
            "False",
            "BackendUnavailable",
        )
    })
    .await;
    assert!(
        unavailable
            .message
            .contains("virtualservices.networking.istio.io"),
        "{}",
        unavailable.message
    );

    install_upstream(client, Mesh::Istio)
        .await
        .expect("Istio CRDs");
    let expected = rendered(&objects(), name, backend.as_ref());
    eventually("the natives once the CRDs are served", CONVERGE, || {
        matches_rendered(client, name, backend.as_ref(), &expected)
    })
    .await;
    eventually("Programmed once the CRDs are served", CONVERGE, || {
        has_condition(
            client,
            name,
            SmiKind::TrafficSplit,
            "web-split",
            "Programmed",
            "True",
            "Programmed",
        )
    })
    .await;
    operator.stop().await;

    Api::<DynamicObject>::namespaced_with(
        client.clone(),
        name,
        &smi_resource(SmiKind::TrafficSplit),
    )
    .delete("web-split", &DeleteParams::background())
    .await
    .expect("deleting the TrafficSplit");
    eventually(
        "the garbage collector removes the natives",
        GARBAGE_COLLECTION,
        || async {
            let mut left = 0;
            for kind in &kinds {
                left += natives(client, name, kind).await?.len();
            }
            (left == 0)
                .then_some(())
                .ok_or_else(|| format!("{left} left"))
        },
    )
    .await;
}

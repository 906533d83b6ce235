//! The CRDs other SMI installers leave in clusters validate like they do there. Own binary: they
//! share names with smi-bridge's CRDs (and with each other), so they get their own control plane.

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams};
use kube::runtime::wait::{await_condition, conditions};
use smi_testenv::{ApplyMode, Mesh, TestNamespace, apply_yaml, require_env};

async fn accepts(ns: &TestNamespace<'_>, yaml: &str) {
    if let Err(err) = apply_yaml(ns.client(), yaml, Some(ns.name()), ApplyMode::Apply).await {
        panic!("the server rejected a valid object: {err}\n{yaml}");
    }
}

async fn rejects(ns: &TestNamespace<'_>, yaml: &str, because: &str) {
    match apply_yaml(ns.client(), yaml, Some(ns.name()), ApplyMode::Create).await {
        Ok(_) => panic!("the server accepted an invalid object:\n{yaml}"),
        Err(err) => {
            assert_eq!(
                err.status_code(),
                Some(422),
                "expected 422 Invalid, got: {err}"
            );
            let message = err.status_message().unwrap_or_default();
            assert!(
                message.contains(because),
                "expected {because:?} in: {message}"
            );
        }
    }
}

/// smi-sdk-go's CRDs, then (replacing its TrafficSplit CRD) linkerd-smi's: one test, because
/// both define `trafficsplits.split.smi-spec.io`.
#[tokio::test]
async fn smi_sdk_go_and_linkerd_smi_crds_validate() {
    let env = require_env!();
    let ns = env.namespace("smi-legacy").await.unwrap();
    let crds = smi_testenv::install_upstream(ns.client(), Mesh::SmiLegacy)
        .await
        .unwrap();
    assert_eq!(crds.len(), 5);

    accepts(
        &ns,
        "
apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata: {name: web}
spec: {service: web, backends: [{service: web-v1, weight: 90}, {service: web-v2, weight: 10}]}
",
    )
    .await;
    rejects(
        &ns,
        "
apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata: {name: no-backends}
spec: {service: web}
",
        "spec.backends: Required value",
    )
    .await;
    let target = |rule_kind: &str| {
        format!(
            "apiVersion: access.smi-spec.io/v1alpha3\nkind: TrafficTarget\nmetadata: {{name: web}}\n\
             spec:\n  destination: {{kind: ServiceAccount, name: web}}\n  \
             sources: [{{kind: ServiceAccount, name: client}}]\n  \
             rules: [{{kind: {rule_kind}, name: routes}}]\n"
        )
    };
    accepts(&ns, &target("HTTPRouteGroup")).await;
    rejects(&ns, &target("Ingress"), "Unsupported value: \"Ingress\"").await;

    // linkerd-smi's TrafficSplit CRD stores v1alpha1: replace the CRD, not only its versions
    // (v1alpha4 is in status.storedVersions while an object exists at it).
    let crds_api = Api::<CustomResourceDefinition>::all(ns.client().clone());
    let old = crds_api
        .get("trafficsplits.split.smi-spec.io")
        .await
        .unwrap();
    let (old_name, old_uid) = (old.name_any(), old.uid().unwrap());
    crds_api
        .delete(&old_name, &DeleteParams::default())
        .await
        .unwrap();
    let gone = await_condition(crds_api, &old_name, conditions::is_deleted(&old_uid));
    tokio::time::timeout(Duration::from_secs(30), gone)
        .await
        .unwrap()
        .unwrap();
    smi_testenv::install_upstream(ns.client(), Mesh::LinkerdSmi)
        .await
        .unwrap();
    let split = |spec: &str| {
        format!(
            "apiVersion: split.smi-spec.io/v1alpha1\nkind: TrafficSplit\nmetadata: {{name: web}}\nspec: {spec}\n"
        )
    };
    accepts(
        &ns,
        &split("{service: web, backends: [{service: web-v1, weight: 900m}]}"),
    )
    .await;
    rejects(
        &ns,
        &split("{backends: [{service: web-v1, weight: 1}]}"),
        "spec.service: Required value",
    )
    .await;
}

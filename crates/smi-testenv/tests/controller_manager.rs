//! With kube-controller-manager (garbage collector and namespace controller) the control plane
//! cascades deletions and finishes namespace deletion. Own binary: one control plane per binary.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Resource, ResourceExt};
use smi_testenv::{Config, require_env};

/// Generous: the garbage collector first syncs an informer per resource type.
const TIMEOUT: Duration = Duration::from_secs(60);

fn configmap(name: &str, owner: Option<OwnerReference>) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            owner_references: owner.map(|o| vec![o]),
            ..Default::default()
        },
        ..Default::default()
    }
}

#[tokio::test]
async fn deleting_an_owner_garbage_collects_its_dependents() {
    let env = require_env!(Config::default().with_controller_manager());
    let ns = env.namespace("gc").await.unwrap();
    let configmaps = Api::<ConfigMap>::default_namespaced(ns.client().clone());
    let owner = configmaps
        .create(&PostParams::default(), &configmap("owner", None))
        .await
        .unwrap();
    let owner_ref = owner.controller_owner_ref(&()).unwrap();
    let dependent = configmaps
        .create(
            &PostParams::default(),
            &configmap("dependent", Some(owner_ref)),
        )
        .await
        .unwrap();

    let dependent_uid = dependent.uid().unwrap();
    configmaps
        .delete("owner", &DeleteParams::background())
        .await
        .unwrap();
    let gone = await_condition(
        configmaps,
        "dependent",
        conditions::is_deleted(&dependent_uid),
    );
    tokio::time::timeout(TIMEOUT, gone)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the dependent outlived its owner for {TIMEOUT:?}:\n{}",
                env.logs()
            )
        })
        .unwrap();
}

#[tokio::test]
async fn a_deleted_namespace_disappears() {
    let env = require_env!(Config::default().with_controller_manager());
    let ns = env.namespace("ns-deletion").await.unwrap();
    let configmaps = Api::<ConfigMap>::default_namespaced(ns.client().clone());
    configmaps
        .create(&PostParams::default(), &configmap("content", None))
        .await
        .unwrap();

    let namespaces = Api::<Namespace>::all(ns.client().clone());
    let uid = namespaces.get(ns.name()).await.unwrap().uid().unwrap();
    namespaces
        .delete(ns.name(), &DeleteParams::default())
        .await
        .unwrap();
    let gone = await_condition(namespaces, ns.name(), conditions::is_deleted(&uid));
    tokio::time::timeout(TIMEOUT, gone)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "namespace {} stayed Terminating:\n{}",
                ns.name(),
                env.logs()
            )
        })
        .unwrap();
}

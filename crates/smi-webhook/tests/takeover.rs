//! Taking over a cluster that holds smi-sdk-go's SMI CRDs and linkerd-smi's TrafficSplit CRD
//! (v1alpha1 storage, `conversion: None`), with objects in them: nothing is lost, everything is
//! readable at every version before and after the storage-version migration. Own binary: these
//! CRDs share names with smi-bridge's.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use smi_api::SmiKind;
use smi_testenv::{Mesh, require_env};
use smi_webhook::inject::crd_name;
use smi_webhook::migrate::{migrate_stored_versions, preflight};
use support::{api, content, create, split, value};

/// Every object of every SMI kind at every version, by (kind, version, name).
async fn snapshot(client: &Client, namespace: &str) -> BTreeMap<(SmiKind, String, String), Value> {
    let mut all = BTreeMap::new();
    for kind in SmiKind::ALL {
        for version in kind.versions() {
            let list = api(client, kind, version, namespace)
                .list(&Default::default())
                .await
                .unwrap_or_else(|e| panic!("listing {kind} at {version}: {e}"));
            for object in list.items {
                let mut content = content(&value(&object));
                // A Quantity is the same whether written as a number or a string (linkerd-smi
                // stored numbers; conversion writes strings).
                for backend in content["spec"]["backends"]
                    .as_array_mut()
                    .into_iter()
                    .flatten()
                {
                    if *version == "v1alpha1" && backend["weight"].is_number() {
                        backend["weight"] = json!(backend["weight"].to_string());
                    }
                }
                all.insert((kind, (*version).to_owned(), object.name_any()), content);
            }
        }
    }
    all
}

async fn stored_versions(client: &Client, name: &str) -> Vec<String> {
    Api::<CustomResourceDefinition>::all(client.clone())
        .get(name)
        .await
        .unwrap()
        .status
        .and_then(|s| s.stored_versions)
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linkerd_smi_and_smi_sdk_go_crds_are_taken_over_without_losing_objects() {
    let env = require_env!();
    let ns = env.namespace("takeover").await.unwrap();
    let client = ns.client();
    let namespace = ns.name();

    // smi-sdk-go's CRDs, with objects at their (latest-only) versions.
    smi_testenv::install_upstream(client, Mesh::SmiLegacy)
        .await
        .unwrap();
    create(client, SmiKind::TrafficTarget, "v1alpha3", namespace, json!({
        "apiVersion": "access.smi-spec.io/v1alpha3", "kind": "TrafficTarget", "metadata": {"name": "api"},
        "spec": {"destination": {"kind": "ServiceAccount", "name": "api"},
                 "sources": [{"kind": "ServiceAccount", "name": "web"}],
                 "rules": [{"kind": "HTTPRouteGroup", "name": "routes", "matches": ["metrics"]}]}})).await;
    // smi-sdk-go stores headers as a list of single-key maps.
    create(client, SmiKind::HTTPRouteGroup, "v1alpha4", namespace, json!({
        "apiVersion": "specs.smi-spec.io/v1alpha4", "kind": "HTTPRouteGroup", "metadata": {"name": "routes"},
        "spec": {"matches": [{"name": "metrics", "pathRegex": "/metrics", "methods": ["GET"],
                              "headers": [{"user-agent": ".*Prometheus.*"}]}]}})).await;
    create(
        client,
        SmiKind::TCPRoute,
        "v1alpha4",
        namespace,
        json!({
        "apiVersion": "specs.smi-spec.io/v1alpha4", "kind": "TCPRoute", "metadata": {"name": "db"},
        "spec": {"matches": {"ports": [5432]}}}),
    )
    .await;

    // linkerd-smi's TrafficSplit CRD replaces smi-sdk-go's (it does not list v1alpha4, which
    // smi-sdk-go's CRD recorded as stored), then holds v1alpha1-stored objects.
    let crds = Api::<CustomResourceDefinition>::all(client.clone());
    let split_crd = crd_name(SmiKind::TrafficSplit);
    let old_uid = crds.get(&split_crd).await.unwrap().uid().unwrap();
    crds.delete(&split_crd, &DeleteParams::default())
        .await
        .unwrap();
    let gone = await_condition(crds.clone(), &split_crd, conditions::is_deleted(&old_uid));
    tokio::time::timeout(Duration::from_secs(30), gone)
        .await
        .unwrap()
        .unwrap();
    smi_testenv::install_upstream(client, Mesh::LinkerdSmi)
        .await
        .unwrap();
    let weights = |backends: &[(&str, Value)]| -> Value {
        backends
            .iter()
            .map(|(s, w)| json!({"service": s, "weight": w}))
            .collect()
    };
    create(client, SmiKind::TrafficSplit, "v1alpha1", namespace, split("v1alpha1", "milli",
        json!({"service": "web", "backends": weights(&[("web-v1", json!("900m")), ("web-v2", json!("100m"))])}))).await;
    create(client, SmiKind::TrafficSplit, "v1alpha1", namespace, split("v1alpha1", "flagger",
        json!({"service": "podinfo", "backends": weights(&[("podinfo-primary", json!(100)), ("podinfo-canary", json!(0))])}))).await;
    create(client, SmiKind::TrafficSplit, "v1alpha2", namespace, split("v1alpha2", "integers",
        json!({"service": "api", "backends": weights(&[("api-v1", json!(80)), ("api-v2", json!(20))])}))).await;
    // linkerd-smi's schema lets a negative weight through; smi-bridge's conversion does not.
    create(
        client,
        SmiKind::TrafficSplit,
        "v1alpha1",
        namespace,
        split(
            "v1alpha1",
            "negative",
            json!({"service": "bad", "backends": weights(&[("bad-v1", json!("-5"))])}),
        ),
    )
    .await;
    assert_eq!(stored_versions(client, &split_crd).await, ["v1alpha1"]);

    // Preflight names the object that would break every list once converted by webhook.
    let problems = preflight(client).await.unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].error.contains("negative")
            && problems[0].error.contains("spec.backends[0].weight"),
        "{problems:?}"
    );
    api(client, SmiKind::TrafficSplit, "v1alpha1", namespace)
        .delete("negative", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(preflight(client).await.unwrap(), []);

    // Take over: smi-bridge's CRDs over theirs, converted by the webhook.
    let webhook = support::start_file_webhook(env);
    support::install_webhooks(client, &webhook.client_config(), namespace).await;
    let stored = stored_versions(client, &split_crd).await;
    assert!(
        stored.contains(&"v1alpha1".to_owned()) && stored.contains(&"v1alpha4".to_owned()),
        "{stored:?}"
    );
    let before = snapshot(client, namespace).await;
    let expected_names = [
        (SmiKind::TrafficSplit, vec!["flagger", "integers", "milli"]),
        (SmiKind::TrafficTarget, vec!["api"]),
        (SmiKind::HTTPRouteGroup, vec!["routes"]),
        (SmiKind::TCPRoute, vec!["db"]),
    ];
    for (kind, names) in &expected_names {
        for version in kind.versions() {
            let found: Vec<&str> = before
                .keys()
                .filter(|(k, v, _)| k == kind && v == version)
                .map(|(_, _, name)| name.as_str())
                .collect();
            assert_eq!(&found, names, "{kind} at {version}");
        }
    }
    let hub_weights = |name: &str| -> Vec<i64> {
        before[&(
            SmiKind::TrafficSplit,
            "v1alpha4".to_owned(),
            name.to_owned(),
        )]["spec"]["backends"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["weight"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(hub_weights("milli"), [900, 100]);
    assert_eq!(hub_weights("flagger"), [100, 0]);
    assert_eq!(hub_weights("integers"), [80, 20]);
    let milli_v1 = &before[&(
        SmiKind::TrafficSplit,
        "v1alpha1".to_owned(),
        "milli".to_owned(),
    )];
    assert_eq!(milli_v1["spec"]["backends"][0]["weight"], "900m");
    let routes_v3 = &before[&(
        SmiKind::HTTPRouteGroup,
        "v1alpha3".to_owned(),
        "routes".to_owned(),
    )];
    assert_eq!(
        routes_v3["spec"]["matches"][0]["headers"],
        json!({"user-agent": ".*Prometheus.*"})
    );

    // Migrate: every object re-encoded at the storage version, storedVersions trimmed.
    let names: Vec<String> = SmiKind::ALL.into_iter().map(crd_name).collect();
    let report = migrate_stored_versions(client, &names).await.unwrap();
    eprintln!("{report}");
    let split_report = report.crds.iter().find(|c| c.name == split_crd).unwrap();
    assert_eq!(split_report.rewritten, 3);
    for name in &names {
        let crd = crds.get(name).await.unwrap();
        let storage = crd
            .spec
            .versions
            .iter()
            .find(|v| v.storage)
            .unwrap()
            .name
            .clone();
        assert_eq!(stored_versions(client, name).await, [storage], "{name}");
    }
    let after = snapshot(client, namespace).await;
    assert_eq!(after, before, "objects changed by the migration");
}

//! Every object the backend emits for every case, with every option, is accepted by the real
//! Istio CRDs (server-side apply, dry run) on a real kube-apiserver.

use serde_json::Value;
use smi_bridge_istio::{IstioApiVersion, IstioBackend, IstioOptions};
use smi_testenv::{ApplyMode, Mesh, apply_json, install_upstream, require_env};
use smi_translate::oracle::{case_input, load_cases};
use smi_translate::{TranslateOptions, render};

#[tokio::test]
async fn every_emitted_object_is_accepted_by_the_istio_crds() {
    let env = require_env!();
    let ns = env.namespace("istio-crds").await.expect("a test namespace");
    install_upstream(ns.client(), Mesh::Istio)
        .await
        .expect("the Istio CRDs install");
    let mut legacy = IstioOptions::new("cluster.local", IstioApiVersion::V1beta1);
    legacy.strict_mtls = true;
    let mut applied = 0;
    let mut failures = Vec::new();
    for backend in [IstioBackend::default(), IstioBackend::new(legacy)] {
        for case in load_cases().expect("the case table loads") {
            let input = case_input(&case).expect("the case loads");
            let rendered = render(&input.state, &backend, &TranslateOptions::default());
            for object in &rendered.objects {
                // Every case's objects go to the test namespace: the schema does not depend on it.
                let mut json = object.to_json();
                json["metadata"]["namespace"] = Value::String(ns.name().to_string());
                match apply_json(ns.client(), &json, Some(ns.name()), ApplyMode::DryRun).await {
                    Ok(_) => applied += 1,
                    Err(err) => failures.push(format!(
                        "case `{}`: {} {} {}: {err}",
                        case.name, object.api_version, object.kind, object.name
                    )),
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} rejected:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(applied > 50, "only {applied} objects were applied");
}

//! Every object the Consul backend renders for every case is accepted by the real consul-k8s CRDs
//! (server-side apply, dry run) on a real kube-apiserver.

use smi_bridge_consul::{ConsulBackend, ConsulOptions, IdentityMapping, NamespaceMode};
use smi_testenv::{ApplyMode, Mesh, apply_json, install_upstream, require_env};
use smi_translate::oracle::{case_input, load_cases};
use smi_translate::{TranslateOptions, render};

#[tokio::test]
async fn consul_crds_accept_every_rendered_object() {
    let env = require_env!();
    let ns = env
        .namespace("consul-crds")
        .await
        .expect("a test namespace");
    install_upstream(ns.client(), Mesh::Consul)
        .await
        .expect("the consul-k8s CRDs install");
    let backends = [
        ConsulBackend::default(),
        ConsulBackend::new(ConsulOptions::new(
            NamespaceMode::Mirroring {
                prefix: "k8s-".into(),
            },
            IdentityMapping::ServiceAccountName,
        )),
    ];
    let mut rejected = Vec::new();
    let mut applied = 0;
    for case in load_cases().expect("the case table loads") {
        let input = case_input(&case).expect("the case loads");
        for backend in &backends {
            for object in render(&input.state, backend, &TranslateOptions::default()).objects {
                let mut json = object.to_json();
                // Every case's objects go to the one test namespace: a dry run stores nothing.
                json["metadata"]["namespace"] = serde_json::Value::from(ns.name());
                match apply_json(ns.client(), &json, Some(ns.name()), ApplyMode::DryRun).await {
                    Ok(_) => applied += 1,
                    Err(e) => rejected.push(format!("case `{}`: {}: {e}", case.name, object.kind)),
                }
            }
        }
    }
    assert!(rejected.is_empty(), "rejected:\n{}", rejected.join("\n"));
    assert!(applied > 50, "only {applied} objects were applied");
}

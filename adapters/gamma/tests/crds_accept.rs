//! Every object the `gamma` backend emits for every case is accepted by the upstream Gateway API
//! CRDs (v1.6.1 standard channel: HTTPRoute v1 and v1beta1, TCPRoute v1), server-side dry run.

use smi_bridge_gamma::{GammaBackend, GammaOptions, HttpRouteVersion, TcpRouteSupport};
use smi_testenv::{ApplyMode, Mesh, apply_json, install_upstream, require_env};
use smi_translate::oracle::{case_input, load_cases};
use smi_translate::{TranslateOptions, render};

#[tokio::test]
async fn every_emitted_object_is_accepted() {
    let env = require_env!();
    let ns = env.namespace("gamma-crds").await.expect("a test namespace");
    install_upstream(ns.client(), Mesh::GatewayApi)
        .await
        .expect("the Gateway API CRDs install");
    let backends = [
        GammaBackend::new(GammaOptions::new(HttpRouteVersion::V1, TcpRouteSupport::V1)),
        GammaBackend::new(GammaOptions::new(
            HttpRouteVersion::V1beta1,
            TcpRouteSupport::NotServed,
        )),
    ];
    let (mut applied, mut rejected) = (0, Vec::new());
    for backend in &backends {
        for case in load_cases().expect("the case table loads") {
            let input = case_input(&case).expect("case loads");
            for object in render(&input.state, backend, &TranslateOptions::default()).objects {
                let mut json = object.to_json();
                json["metadata"]["namespace"] = ns.name().into();
                match apply_json(ns.client(), &json, Some(ns.name()), ApplyMode::DryRun).await {
                    Ok(_) => applied += 1,
                    Err(e) => rejected.push(format!(
                        "case `{}`: {} {}: {e}",
                        case.name, object.kind, object.name
                    )),
                }
            }
        }
    }
    assert!(rejected.is_empty(), "rejected:\n{}", rejected.join("\n"));
    assert!(applied >= 20, "only {applied} objects applied");
}

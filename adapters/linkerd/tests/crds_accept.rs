//! Every object the `linkerd` backend emits for every case, with the resources of several
//! Linkerd releases, is accepted by the upstream CRDs (Linkerd 2.20's, Gateway API v1.6.1
//! standard channel), server-side dry run. Linkerd's own admission checks (overlapping Servers)
//! are not part of the CRDs: `validate` and `tests/oracle.rs` cover them.

use smi_bridge_gamma::TcpRouteSupport;
use smi_bridge_linkerd::{ClientIdentities, LinkerdBackend, LinkerdOptions, Routing};
use smi_testenv::{ApplyMode, Mesh, apply_json, install_upstream, require_env};
use smi_translate::oracle::{case_input, load_cases};
use smi_translate::{TranslateOptions, render};

fn backends() -> Vec<LinkerdBackend> {
    let latest = LinkerdOptions {
        tcp_routes: TcpRouteSupport::V1,
        probe_paths: vec!["/healthz".to_string()],
        ..LinkerdOptions::default()
    };
    let profiles = LinkerdOptions {
        routing: Routing::ServiceProfile,
        client_identities: ClientIdentities::default_strings(),
        ..LinkerdOptions::default()
    };
    [
        latest,
        profiles,
        LinkerdOptions::for_release(13),
        LinkerdOptions::for_release(14),
        LinkerdOptions::for_release(15),
    ]
    .into_iter()
    .map(LinkerdBackend::new)
    .collect()
}

#[tokio::test]
async fn every_emitted_object_is_accepted() {
    let env = require_env!();
    let ns = env
        .namespace("linkerd-crds")
        .await
        .expect("a test namespace");
    for mesh in [Mesh::GatewayApi, Mesh::Linkerd] {
        install_upstream(ns.client(), mesh)
            .await
            .expect("the upstream CRDs install");
    }
    let (mut applied, mut rejected) = (0, Vec::new());
    for backend in backends() {
        for case in load_cases().expect("the case table loads") {
            let input = case_input(&case).expect("case loads");
            for object in render(&input.state, &backend, &TranslateOptions::default()).objects {
                let mut json = object.to_json();
                json["metadata"]["namespace"] = ns.name().into();
                match apply_json(ns.client(), &json, Some(ns.name()), ApplyMode::DryRun).await {
                    Ok(_) => applied += 1,
                    Err(e) => rejected.push(format!(
                        "case `{}`: {} {} {}: {e}",
                        case.name, object.api_version, object.kind, object.name
                    )),
                }
            }
        }
    }
    assert!(rejected.is_empty(), "rejected:\n{}", rejected.join("\n"));
    assert!(applied >= 100, "only {applied} objects applied");
}

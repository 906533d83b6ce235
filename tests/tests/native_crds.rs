//! Everything each backend emits — for every case of the oracle's table and for the examples, in
//! every option set that changes what is written — is accepted by the meshes' real upstream CRDs
//! (server-side dry-run on a real API server). One control plane serves all backends.

use smi_bridge::backends::{
    BackendArgs, ConsulIdentityArg, HttpRouteVersionArg, IstioApiVersionArg, LinkerdRoutingArg,
    Mesh, TcpRouteArg,
};
use smi_bridge_tests::{all_inputs, in_namespace};
use smi_testenv::{ApplyMode, apply_json, install_upstream};
use smi_translate::{TranslateOptions, render};
use tokio::sync::OnceCell;

static UPSTREAM_CRDS: OnceCell<()> = OnceCell::const_new();

/// Dry-run applies everything a backend emits for every input; panics listing every rejection.
async fn check(mesh: Mesh, variants: Vec<(&str, BackendArgs)>) {
    let env = smi_testenv::require_env!();
    let ns = env.namespace("natives").await.expect("test namespace");
    UPSTREAM_CRDS
        .get_or_init(|| async {
            use smi_testenv::Mesh as Crds;
            for set in [Crds::Istio, Crds::GatewayApi, Crds::Consul, Crds::Linkerd] {
                install_upstream(ns.client(), set)
                    .await
                    .expect("upstream CRDs install");
            }
        })
        .await;
    let inputs = all_inputs().expect("inputs load");
    let mut failures = Vec::new();
    for (variant, args) in variants {
        let backend = args.build(mesh);
        let mut checked = 0;
        for (input, state) in &inputs {
            let rendered = render(state, backend.as_ref(), &TranslateOptions::default());
            for object in &rendered.objects {
                checked += 1;
                let json = in_namespace(&object.to_json(), ns.name());
                if let Err(e) =
                    apply_json(ns.client(), &json, Some(ns.name()), ApplyMode::DryRun).await
                {
                    failures.push(format!(
                        "{variant}, {input}: {} {}: {e}",
                        object.kind, object.name
                    ));
                }
            }
        }
        assert!(checked > 0, "{mesh:?} ({variant}) emitted nothing to check");
    }
    assert!(
        failures.is_empty(),
        "{} objects rejected:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn istio_objects_are_accepted() {
    let legacy = BackendArgs {
        istio_api_version: IstioApiVersionArg::V1beta1,
        istio_strict_mtls: true,
        ..BackendArgs::default()
    };
    check(
        Mesh::Istio,
        vec![
            ("defaults", BackendArgs::default()),
            ("v1beta1 + STRICT mTLS", legacy),
        ],
    )
    .await;
}

#[tokio::test]
async fn linkerd_objects_are_accepted() {
    let everything = BackendArgs {
        gateway_tcproute: TcpRouteArg::V1,
        linkerd_identity_namespace: Some("linkerd".to_string()),
        linkerd_probe_paths: vec!["/healthz".to_string(), "/ready".to_string()],
        ..BackendArgs::default()
    };
    let profiles = BackendArgs {
        linkerd_routing: Some(LinkerdRoutingArg::Serviceprofile),
        ..BackendArgs::default()
    };
    let release = |minor| BackendArgs {
        linkerd_release: minor,
        ..BackendArgs::default()
    };
    check(
        Mesh::Linkerd,
        vec![
            ("defaults", BackendArgs::default()),
            ("TCPRoute, identity strings, probe paths", everything),
            ("serviceprofile", profiles),
            ("2.13", release(13)),
            ("2.14", release(14)),
            ("2.15", release(15)),
        ],
    )
    .await;
}

#[tokio::test]
async fn consul_objects_are_accepted() {
    let enterprise = BackendArgs {
        consul_namespace_mirroring_prefix: Some(String::new()),
        consul_identity: ConsulIdentityArg::ServiceAccountName,
        ..BackendArgs::default()
    };
    check(
        Mesh::Consul,
        vec![
            ("defaults", BackendArgs::default()),
            ("namespace mirroring", enterprise),
        ],
    )
    .await;
}

#[tokio::test]
async fn gamma_objects_are_accepted() {
    let tcp = BackendArgs {
        gateway_tcproute: TcpRouteArg::V1,
        ..BackendArgs::default()
    };
    let beta = BackendArgs {
        gateway_httproute_version: HttpRouteVersionArg::V1beta1,
        ..BackendArgs::default()
    };
    check(
        Mesh::Gamma,
        vec![
            ("defaults", BackendArgs::default()),
            ("TCPRoute v1", tcp),
            ("HTTPRoute v1beta1", beta),
        ],
    )
    .await;
}

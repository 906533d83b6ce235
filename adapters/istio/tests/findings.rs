//! What Istio cannot express is reported, and left out rather than widened.

use serde_json::{Value, json};
use smi_bridge_istio::{IstioApiVersion, IstioBackend, IstioEvaluator, IstioOptions, validate};
use smi_translate::backend::Backend;
use smi_translate::input::load_objects;
use smi_translate::oracle::{Evaluator, Request};
use smi_translate::report::ConditionType;
use smi_translate::{ClusterState, Rendered, SmiKind, SmiRef, TranslateOptions, render};

fn deployment(name: &str, labels: Value, service_account: &str, ports: &[u16]) -> Value {
    let ports: Vec<Value> = ports.iter().map(|p| json!({"containerPort": p})).collect();
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "ns"},
        "spec": {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels},
        "spec": {"serviceAccountName": service_account, "containers": [{"name": "c", "image": "i", "ports": ports}]}}}})
}

fn service(name: &str, selector: Value, ports: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "ns"}, "spec": {"selector": selector, "ports": ports}})
}

fn target(name: &str, destination: &str, rules: Value) -> Value {
    json!({"apiVersion": "access.smi-spec.io/v1alpha3", "kind": "TrafficTarget", "metadata": {"name": name, "namespace": "ns"},
        "spec": {"destination": {"kind": "ServiceAccount", "name": destination}, "sources": [{"kind": "ServiceAccount", "name": "client", "namespace": "ns"}], "rules": rules}})
}

fn state(objects: Vec<Value>) -> ClusterState {
    load_objects(objects.into_iter().map(|o| ("test".to_string(), o)))
        .expect("objects load")
        .state
}

fn rendered(state: &ClusterState, backend: &IstioBackend) -> Rendered {
    let rendered = render(state, backend, &TranslateOptions::default());
    let problems = validate::validate(&rendered.objects);
    assert!(problems.is_empty(), "{problems:#?}");
    rendered
}

fn programmed(rendered: &Rendered, kind: SmiKind, name: &str) -> (bool, String, String) {
    let condition = rendered.report.statuses[&SmiRef::new(kind, "ns", name)]
        .get(ConditionType::Programmed)
        .expect("Programmed")
        .clone();
    (condition.status, condition.reason, condition.message)
}

fn request(from: &str, to: &str, port: u16, method: &str) -> Request {
    serde_json::from_value(json!({"from": format!("ns/{from}"), "to": format!("ns/{to}"), "port": port, "method": method})).expect("request")
}

fn web() -> Vec<Value> {
    let ports = json!([{"name": "http", "port": 80, "targetPort": 8080}, {"name": "udp-dns", "port": 53, "protocol": "UDP"}]);
    vec![
        deployment("web-v1", json!({"app": "web", "v": "1"}), "web", &[8080]),
        deployment("web-v2", json!({"app": "web", "v": "2"}), "web", &[8080]),
        service("web", json!({"app": "web"}), ports.clone()),
        service("web-v1", json!({"app": "web", "v": "1"}), ports.clone()),
        service("web-v2", json!({"app": "web", "v": "2"}), ports),
    ]
}

fn split(annotations: Value, matches: Value) -> Value {
    json!({"apiVersion": "split.smi-spec.io/v1alpha4", "kind": "TrafficSplit", "metadata": {"name": "web", "namespace": "ns", "annotations": annotations},
        "spec": {"service": "web", "matches": matches, "backends": [{"service": "web-v1", "weight": 1}, {"service": "web-v2", "weight": 3}]}})
}

#[test]
fn udp_ports_are_not_routed() {
    let state = state([web(), vec![split(json!({}), json!([]))]].concat());
    let rendered = rendered(&state, &IstioBackend::default());
    let (status, reason, message) = programmed(&rendered, SmiKind::TrafficSplit, "web");
    assert!(
        !status && reason == "NotSupported" && message.contains("53/UDP"),
        "{message}"
    );
    let spec = rendered.objects[0].spec().expect("spec");
    assert_eq!(spec["http"].as_array().map(Vec::len), Some(1), "{spec}");
    assert!(spec.get("tcp").is_none(), "{spec}");
}

#[test]
fn gateways_keep_mesh_and_a_bad_annotation_is_reported() {
    let annotation = "VirtualService.v1alpha3.networking.istio.io/spec.gateways";
    let with_mesh = state(
        [
            web(),
            vec![split(
                json!({annotation: "[\"mesh\", \"gw\", \"gw\"]"}),
                json!([]),
            )],
        ]
        .concat(),
    );
    let rendered_mesh = rendered(&with_mesh, &IstioBackend::default());
    assert_eq!(
        rendered_mesh.objects[0].spec().expect("spec")["gateways"],
        json!(["mesh", "gw"])
    );
    let bad = state([web(), vec![split(json!({annotation: "gw"}), json!([]))]].concat());
    let rendered_bad = rendered(&bad, &IstioBackend::default());
    assert!(
        rendered_bad.objects[0]
            .spec()
            .expect("spec")
            .get("gateways")
            .is_none()
    );
    let (_, reason, message) = programmed(&rendered_bad, SmiKind::TrafficSplit, "web");
    assert!(
        reason == "InvalidAnnotation" && message.contains("not a JSON list"),
        "{message}"
    );
}

#[test]
fn a_match_re2_cannot_compile_is_left_out_of_the_split() {
    let group = json!({"apiVersion": "specs.smi-spec.io/v1alpha4", "kind": "HTTPRouteGroup", "metadata": {"name": "g", "namespace": "ns"},
        "spec": {"matches": [{"name": "rust-only", "pathRegex": "/[a-z&&[^q]]"}, {"name": "fine", "pathRegex": "/ok"}]}});
    let state = state(
        [
            web(),
            vec![
                group,
                split(json!({}), json!([{"kind": "HTTPRouteGroup", "name": "g"}])),
            ],
        ]
        .concat(),
    );
    let rendered = rendered(&state, &IstioBackend::default());
    let (status, reason, message) = programmed(&rendered, SmiKind::TrafficSplit, "web");
    assert!(
        !status && reason == "NotExpressible" && message.contains("rust-only"),
        "{reason}: {message}"
    );
    let spec = rendered.objects[0].spec().expect("spec");
    assert_eq!(
        spec["http"][0]["match"],
        json!([{"uri": {"prefix": "/ok"}}]),
        "{spec}"
    );
}

fn api(extra: Vec<Value>) -> Vec<Value> {
    let mut objects = vec![
        deployment("api", json!({"app": "api"}), "api", &[8080]),
        deployment("client", json!({"app": "client"}), "client", &[8080]),
        service(
            "api",
            json!({"app": "api"}),
            json!([{"port": 8080}, {"name": "udp", "port": 9000, "protocol": "UDP"}]),
        ),
        json!({"apiVersion": "specs.smi-spec.io/v1alpha4", "kind": "UDPRoute", "metadata": {"name": "udp", "namespace": "ns"}, "spec": {"matches": {"ports": [9000]}}}),
        json!({"apiVersion": "specs.smi-spec.io/v1alpha4", "kind": "TCPRoute", "metadata": {"name": "tcp", "namespace": "ns"}, "spec": {"matches": {"ports": [8080]}}}),
    ];
    objects.extend(extra);
    objects
}

#[test]
fn udp_rules_are_reported_and_left_out() {
    let state = state(api(vec![target(
        "api",
        "api",
        json!([{"kind": "UDPRoute", "name": "udp"}, {"kind": "TCPRoute", "name": "tcp"}]),
    )]));
    let rendered = rendered(&state, &IstioBackend::default());
    let (status, reason, _) = programmed(&rendered, SmiKind::TrafficTarget, "api");
    assert!(!status && reason == "NotSupported");
    let rules = &rendered.objects[0].spec().expect("spec")["rules"];
    assert_eq!(
        rules,
        &json!([{"from": [{"source": {"principals": ["cluster.local/ns/ns/sa/client"]}}], "to": [{"operation": {"ports": ["8080"]}}]}])
    );
    // UDP is not intercepted: the mesh lets it through whatever the policy says.
    let outcome = IstioEvaluator::default()
        .evaluate(
            &state,
            &rendered.objects,
            &request("intruder", "api", 9000, "udp"),
        )
        .expect("evaluates");
    assert_eq!(outcome.deliveries["api"], (1.0, true));
}

#[test]
fn a_selector_that_picks_another_identity_is_not_written() {
    // `worker` runs as another ServiceAccount with a superset of api's labels.
    let worker = deployment(
        "worker",
        json!({"app": "api", "role": "worker"}),
        "worker",
        &[8080],
    );
    let state = state(api(vec![
        worker,
        target("api", "api", json!([{"kind": "TCPRoute", "name": "tcp"}])),
    ]));
    let rendered = rendered(&state, &IstioBackend::default());
    assert!(rendered.objects.is_empty(), "{:#?}", rendered.objects);
    let (status, reason, message) = programmed(&rendered, SmiKind::TrafficTarget, "api");
    assert!(
        !status && reason == "AmbiguousSelector" && message.contains("worker"),
        "{message}"
    );
}

#[test]
fn pods_without_labels_get_no_namespace_wide_policy() {
    let mut objects = api(vec![target(
        "api",
        "api",
        json!([{"kind": "TCPRoute", "name": "tcp"}]),
    )]);
    objects[0] = deployment("api", json!({}), "api", &[8080]);
    let rendered = rendered(&state(objects), &IstioBackend::default());
    assert!(rendered.objects.is_empty(), "{:#?}", rendered.objects);
    let (_, reason, message) = programmed(&rendered, SmiKind::TrafficTarget, "api");
    assert!(
        reason == "AmbiguousSelector" && message.contains("no labels"),
        "{message}"
    );
}

#[test]
fn namespace_enforcement_denies_even_with_shared_labels() {
    let mut objects = api(vec![deployment(
        "worker",
        json!({"app": "api", "role": "worker"}),
        "worker",
        &[8080],
    )]);
    objects.push(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns", "labels": {"smi-bridge.io/enforce-access": "true"}}}));
    let state = state(objects);
    let rendered = rendered(&state, &IstioBackend::default());
    assert!(
        rendered
            .objects
            .iter()
            .all(|o| o.spec().expect("spec").get("rules").is_none())
    );
    assert_eq!(
        rendered.objects.len(),
        3,
        "api, client and worker each get an allow-nothing policy"
    );
    let outcome = IstioEvaluator::default()
        .evaluate(
            &state,
            &rendered.objects,
            &request("client", "api", 8080, "GET"),
        )
        .expect("evaluates");
    assert_eq!(outcome.deliveries["api"], (1.0, false));
}

#[test]
fn too_many_rules_are_reported() {
    let matches: Vec<Value> = (0..600)
        .map(|i| json!({"name": format!("m{i}"), "pathRegex": format!("/p{i}$")}))
        .collect();
    let group = json!({"apiVersion": "specs.smi-spec.io/v1alpha4", "kind": "HTTPRouteGroup", "metadata": {"name": "g", "namespace": "ns"}, "spec": {"matches": matches}});
    let state = state(api(vec![
        group,
        target(
            "api",
            "api",
            json!([{"kind": "HTTPRouteGroup", "name": "g"}]),
        ),
    ]));
    let rendered = rendered(&state, &IstioBackend::default());
    assert_eq!(
        rendered.objects[0].spec().expect("spec")["rules"]
            .as_array()
            .map(Vec::len),
        Some(512)
    );
    let (_, reason, message) = programmed(&rendered, SmiKind::TrafficTarget, "api");
    assert!(
        reason == "NotExpressible" && message.contains("600 policy rules"),
        "{message}"
    );
}

#[test]
fn kinds_follow_the_options() {
    let kinds = |backend: IstioBackend| {
        backend
            .native_kinds()
            .iter()
            .map(|k| format!("{}/{}", k.api_version(), k.kind))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        kinds(IstioBackend::default()),
        [
            "networking.istio.io/v1/VirtualService",
            "security.istio.io/v1/AuthorizationPolicy"
        ]
    );
    let mut options = IstioOptions::new("cluster.local", IstioApiVersion::V1beta1);
    options.strict_mtls = true;
    assert_eq!(
        kinds(IstioBackend::new(options)),
        [
            "networking.istio.io/v1beta1/VirtualService",
            "security.istio.io/v1beta1/AuthorizationPolicy",
            "security.istio.io/v1beta1/PeerAuthentication"
        ]
    );
    assert_eq!(
        IstioApiVersion::parse("v1beta1"),
        Some(IstioApiVersion::V1beta1)
    );
    assert_eq!(IstioApiVersion::parse("v1alpha3"), None);
}

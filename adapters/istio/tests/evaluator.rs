//! The interpreter follows Istio's rules, and refuses what it does not interpret.

use serde_json::{Value, json};
use smi_bridge_istio::IstioEvaluator;
use smi_translate::input::load_objects;
use smi_translate::oracle::{Evaluator, Outcome, Request};
use smi_translate::{ClusterState, NativeObject};

fn state() -> ClusterState {
    let objects = [
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "ns"}, "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80}]}}),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web-v2", "namespace": "ns"}, "spec": {"selector": {"app": "web", "v": "2"}, "ports": [{"name": "http", "port": 80}]}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web-v2", "namespace": "ns"}, "spec": {"selector": {"matchLabels": {"app": "web", "v": "2"}}, "template": {"metadata": {"labels": {"app": "web", "v": "2"}}, "spec": {"serviceAccountName": "web", "containers": [{"name": "c", "image": "i"}]}}}}),
    ];
    load_objects(objects.into_iter().map(|o| ("test".to_string(), o)))
        .expect("loads")
        .state
}

fn virtual_service(name: &str, spec: Value) -> NativeObject {
    NativeObject::new("networking.istio.io/v1", "VirtualService", "ns", name, spec)
}

fn policy(spec: Value) -> NativeObject {
    NativeObject::new(
        "security.istio.io/v1",
        "AuthorizationPolicy",
        "ns",
        "p",
        spec,
    )
}

fn get(path: &str) -> Request {
    serde_json::from_value(json!({"from": "ns/client", "to": "ns/web", "port": 80, "path": path}))
        .expect("request")
}

fn evaluate(objects: &[NativeObject], request: &Request) -> Result<Outcome, String> {
    IstioEvaluator::default().evaluate(&state(), objects, request)
}

fn to_v2(matches: Value) -> Value {
    json!({"hosts": ["web"], "http": [{"match": matches, "route": [{"destination": {"host": "web-v2.ns.svc.cluster.local"}}]}]})
}

#[test]
fn no_matching_http_route_is_a_404() {
    let vs = virtual_service("vs", to_v2(json!([{"uri": {"exact": "/only"}}])));
    assert_eq!(
        evaluate(std::slice::from_ref(&vs), &get("/only"))
            .expect("evaluates")
            .deliveries["web-v2"],
        (1.0, true)
    );
    assert!(
        evaluate(&[vs], &get("/other"))
            .expect("evaluates")
            .deliveries
            .is_empty()
    );
}

#[test]
fn a_gateway_only_virtual_service_does_not_route_sidecars() {
    let mut spec = to_v2(json!([{"uri": {"prefix": "/"}}]));
    spec["gateways"] = json!(["istio-system/ingress"]);
    let outcome = evaluate(&[virtual_service("vs", spec)], &get("/")).expect("evaluates");
    assert_eq!(outcome.deliveries["web"], (1.0, true));
}

#[test]
fn two_virtual_services_for_one_host_are_an_error() {
    let spec = to_v2(json!([{"uri": {"prefix": "/"}}]));
    let err = evaluate(
        &[
            virtual_service("a", spec.clone()),
            virtual_service("b", spec),
        ],
        &get("/"),
    )
    .unwrap_err();
    assert!(err.contains("2 VirtualServices"), "{err}");
}

#[test]
fn unknown_fields_are_errors_not_ignored() {
    let vs = virtual_service("vs", to_v2(json!([{"queryParams": {"a": {"exact": "b"}}}])));
    assert!(
        evaluate(&[vs], &get("/"))
            .unwrap_err()
            .contains("queryParams")
    );
    let ap = policy(
        json!({"selector": {"matchLabels": {"app": "web"}}, "rules": [{"from": [{"source": {"namespaces": ["ns"]}}]}]}),
    );
    let vs = virtual_service("vs", to_v2(json!([{"uri": {"prefix": "/"}}])));
    assert!(
        evaluate(&[vs, ap], &get("/"))
            .unwrap_err()
            .contains("namespaces")
    );
}

#[test]
fn deny_policies_win_and_allow_policies_need_a_matching_rule() {
    let vs = virtual_service("vs", to_v2(json!([{"uri": {"prefix": "/"}}])));
    let client = json!([{"source": {"principals": ["cluster.local/ns/ns/sa/client"]}}]);
    let allow = policy(
        json!({"selector": {"matchLabels": {"app": "web"}}, "action": "ALLOW", "rules": [{"from": client, "to": [{"operation": {"paths": ["/api*"]}}]}]}),
    );
    let deny = NativeObject::new(
        "security.istio.io/v1",
        "AuthorizationPolicy",
        "ns",
        "deny",
        json!({"action": "DENY", "rules": [{"to": [{"operation": {"paths": ["*/secret"]}}]}]}),
    );
    let objects = [vs, allow, deny];
    assert_eq!(
        evaluate(&objects, &get("/api/x"))
            .expect("evaluates")
            .deliveries["web-v2"],
        (1.0, true)
    );
    assert_eq!(
        evaluate(&objects, &get("/api/secret"))
            .expect("evaluates")
            .deliveries["web-v2"],
        (1.0, false)
    );
    assert_eq!(
        evaluate(&objects, &get("/other"))
            .expect("evaluates")
            .deliveries["web-v2"],
        (1.0, false)
    );
}

//! The core's rules, asserted on the model it computes (mesh-independent).

use serde_json::{Value, json};
use smi_translate::input::load_objects;
use smi_translate::model::{AccessOrigin, AllowedTraffic, Model, PathShape, apportion};
use smi_translate::oracle::{case_input, load_cases};
use smi_translate::{ClusterState, Identity, TranslateOptions, Translation, translate};

fn case(name: &str) -> ClusterState {
    let case = load_cases()
        .unwrap()
        .into_iter()
        .find(|c| c.name == name)
        .unwrap();
    case_input(&case).unwrap().state
}

fn model_of(state: &ClusterState) -> Model {
    translate(state, &TranslateOptions::default()).model
}

fn load(objects: Vec<Value>) -> Translation {
    let state = load_objects(objects.into_iter().map(|o| ("test".to_string(), o)))
        .unwrap()
        .state;
    translate(&state, &TranslateOptions::default())
}

#[test]
fn largest_remainder_keeps_the_sum_exact() {
    assert_eq!(apportion(&[1, 1, 1], 100), vec![34, 33, 33]);
    assert_eq!(apportion(&[1, 999], 10_000), vec![10, 9_990]);
    assert_eq!(apportion(&[2, 1], 100), vec![67, 33]);
    assert_eq!(apportion(&[0, 5], 100), vec![0, 100]);
    assert_eq!(apportion(&[0, 0], 100), vec![0, 0]);
    assert_eq!(apportion(&[u64::MAX, u64::MAX], 100), vec![50, 50]);
    for weights in [vec![3, 3, 3, 1], vec![7, 11, 13], vec![1, 1, 1, 1, 1, 1, 1]] {
        assert_eq!(
            apportion(&weights, 100).iter().sum::<u64>(),
            100,
            "{weights:?}"
        );
    }
}

#[test]
fn v1alpha1_quantity_weights_keep_their_ratio() {
    let model = model_of(&case("split-flagger-v1alpha1-quantities"));
    let port = &model.routes[0].ports[0];
    let weights: Vec<(&str, u64)> = port
        .backends
        .iter()
        .map(|b| (b.service.as_str(), b.weight))
        .collect();
    // "500m" (canary) and "1" (primary): 1:2 whatever the unit.
    assert_eq!(weights.len(), 2);
    assert_eq!(weights[0].0, "podinfo-canary");
    assert_eq!(weights[1].1, 2 * weights[0].1, "{weights:?}");
}

#[test]
fn flagger_split_routes_the_apex_to_primary_and_canary() {
    let model = model_of(&case("split-flagger-v1alpha3"));
    let routes = &model.routes[0];
    assert_eq!(routes.root.name, "podinfo");
    assert_eq!(routes.ports[0].port, 9898);
    assert_eq!(routes.ports[0].apportioned(100), vec![10, 90]);
    assert!(routes.matches.is_empty());
}

#[test]
fn ab_matches_keep_header_and_alternation_semantics() {
    let model = model_of(&case("split-ab-headers-and-alternatives"));
    let matches = &model.routes[0].matches;
    assert_eq!(matches.len(), 2);
    assert_eq!(
        matches[0].headers.len(),
        2,
        "both headers of one match are kept (AND)"
    );
    let model = model_of(&case("split-ab-regex-alternation"));
    let path = model.routes[0].matches[0].path.as_ref().unwrap();
    assert_eq!(path.full_match(), "(?:/a|/b).*");
    assert_eq!(path.shape, PathShape::Regex);
}

#[test]
fn multiple_targets_for_one_destination_are_merged() {
    let model = model_of(&case("access-multiple-targets"));
    assert_eq!(model.access.len(), 1, "one entry per destination identity");
    let api = &model.access[0];
    assert_eq!(api.identity, Identity::new("bank", "api"));
    assert_eq!(api.origin, AccessOrigin::TrafficTargets);
    assert_eq!(api.rules.len(), 2);
    let tcp = api
        .rules
        .iter()
        .find(|r| matches!(r.traffic, AllowedTraffic::Tcp))
        .unwrap();
    assert_eq!(
        tcp.ports,
        vec![8080],
        "Service port 80 maps to the named target port http = 8080"
    );
    assert!(!tcp.all_ports);
    let http = api
        .rules
        .iter()
        .find(|r| matches!(r.traffic, AllowedTraffic::Http(_)))
        .unwrap();
    assert!(http.all_ports);
    assert_eq!(
        http.ports,
        vec![8080, 9090],
        "all ports expand to the concrete pod ports"
    );
}

#[test]
fn a_v1alpha2_destination_port_equals_a_v1alpha3_tcp_route_for_that_port() {
    let service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api", "namespace": "bank"},
        "spec": {"selector": {"app": "api"}, "ports": [{"port": 80, "targetPort": 8080}, {"port": 9090}]}});
    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api", "namespace": "bank"},
        "spec": {"selector": {"matchLabels": {"app": "api"}}, "template": {"metadata": {"labels": {"app": "api"}},
        "spec": {"serviceAccountName": "api", "containers": [{"name": "api", "ports": [{"containerPort": 8080}, {"containerPort": 9090}]}]}}}});
    let subject = |name: &str| json!({"kind": "ServiceAccount", "name": name, "namespace": "bank"});
    let v1alpha2 = load(vec![
        service.clone(),
        deployment.clone(),
        json!({"apiVersion": "specs.smi-spec.io/v1alpha3", "kind": "TCPRoute", "metadata": {"name": "tcp", "namespace": "bank"}, "spec": {}}),
        json!({"apiVersion": "access.smi-spec.io/v1alpha2", "kind": "TrafficTarget", "metadata": {"name": "t", "namespace": "bank"},
            "spec": {"destination": {"kind": "ServiceAccount", "name": "api", "namespace": "bank", "port": 8080},
                     "sources": [subject("web")], "rules": [{"kind": "TCPRoute", "name": "tcp"}]}}),
    ]);
    let v1alpha3 = load(vec![
        service,
        deployment,
        json!({"apiVersion": "specs.smi-spec.io/v1alpha4", "kind": "TCPRoute", "metadata": {"name": "tcp", "namespace": "bank"}, "spec": {"matches": {"ports": [8080]}}}),
        json!({"apiVersion": "access.smi-spec.io/v1alpha3", "kind": "TrafficTarget", "metadata": {"name": "t", "namespace": "bank"},
            "spec": {"destination": subject("api"), "sources": [subject("web")], "rules": [{"kind": "TCPRoute", "name": "tcp"}]}}),
    ]);
    assert_eq!(v1alpha2.model, v1alpha3.model);
    assert_eq!(v1alpha2.model.access[0].rules[0].ports, vec![8080]);
}

#[test]
fn cross_namespace_destinations_are_refused_and_leave_the_other_namespace_alone() {
    let model = model_of(&case("access-cross-namespace-destination"));
    assert!(
        model.access.iter().all(|d| d.identity.namespace != "vault"),
        "{:?}",
        model.access
    );
}

#[test]
fn missing_routes_allow_nothing_but_keep_the_default_deny() {
    let model = model_of(&case("access-missing-route"));
    assert_eq!(model.access.len(), 1);
    assert!(model.access[0].rules.is_empty());
}

#[test]
fn zero_weights_and_conflicts_produce_no_routing() {
    assert!(model_of(&case("split-zero-total-weight")).routes.is_empty());
    let two = model_of(&case("split-two-on-one-root"));
    assert_eq!(two.routes.len(), 1);
    assert_eq!(two.routes[0].split.key.name, "older");
}

#[test]
fn ports_only_route_to_backends_that_share_them() {
    let model = model_of(&case("split-ports-and-tcp"));
    let ports = &model.routes[0].ports;
    let http = ports.iter().find(|p| p.port == 80).unwrap();
    assert_eq!(http.backends.len(), 2);
    let admin = ports.iter().find(|p| p.port == 9090).unwrap();
    assert_eq!(
        admin
            .backends
            .iter()
            .map(|b| b.service.as_str())
            .collect::<Vec<_>>(),
        vec!["api-v1"]
    );
}

#[test]
fn enforcing_namespaces_deny_workloads_no_target_names() {
    let model = model_of(&case("access-namespace-enforcement"));
    assert_eq!(model.access.len(), 1);
    assert_eq!(model.access[0].identity, Identity::new("secure", "db"));
    assert_eq!(model.access[0].origin, AccessOrigin::NamespaceEnforcement);
    assert!(model.access[0].rules.is_empty());
}

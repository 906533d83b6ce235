//! Conversion of specific objects: weights, ports, headers, stale annotations and bad input.

use serde_json::{Value, json};
use smi_api::convert::{
    self, ConversionError, DESTINATION_PORT_ANNOTATION, HubObject, MATCH_HEADERS_ANNOTATION,
    SOURCE_PORTS_ANNOTATION, TCP_ROUTE_MATCHES_ANNOTATION, V1ALPHA1_WEIGHTS_ANNOTATION,
};

fn split_v1alpha1(weights: Value) -> Value {
    let backends: Vec<Value> = weights
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(index, weight)| json!({"service": format!("backend-{index}"), "weight": weight}))
        .collect();
    json!({
        "apiVersion": "split.smi-spec.io/v1alpha1",
        "kind": "TrafficSplit",
        "metadata": {"name": "checkout", "namespace": "shop"},
        "spec": {"service": "checkout", "backends": backends}
    })
}

fn hub_split(object: &Value) -> smi_api::hub::TrafficSplit {
    match convert::to_hub(object).unwrap() {
        HubObject::TrafficSplit(split) => split,
        other => panic!("not a TrafficSplit: {other:?}"),
    }
}

fn hub_weights(object: &Value) -> Vec<i64> {
    hub_split(object)
        .spec
        .backends
        .iter()
        .map(|backend| backend.weight)
        .collect()
}

fn annotation(object: &Value, key: &str) -> Option<String> {
    object["metadata"]["annotations"][key]
        .as_str()
        .map(str::to_owned)
}

fn to(object: &Value, api_version: &str) -> Value {
    convert::convert(object, api_version).unwrap()
}

fn error(object: &Value) -> String {
    convert::to_hub(object).unwrap_err().to_string()
}

#[test]
fn flagger_whole_weights_become_units_without_annotation() {
    let object = split_v1alpha1(json!(["100", "0"]));
    assert_eq!(hub_weights(&object), [100, 0]);
    let hub = to(&object, "split.smi-spec.io/v1alpha4");
    assert_eq!(annotation(&hub, V1ALPHA1_WEIGHTS_ANNOTATION), None);
    assert!(hub["metadata"].get("annotations").is_none());
    assert_eq!(to(&hub, "split.smi-spec.io/v1alpha1"), object);
}

#[test]
fn integer_json_weights_are_quantities() {
    assert_eq!(hub_weights(&split_v1alpha1(json!([1, 3]))), [1, 3]);
}

#[test]
fn one_versus_500m_keeps_the_ratio_in_milli_units() {
    let object = split_v1alpha1(json!(["1", "500m"]));
    assert_eq!(hub_weights(&object), [1000, 500]);
    let hub = to(&object, "split.smi-spec.io/v1alpha4");
    assert_eq!(
        annotation(&hub, V1ALPHA1_WEIGHTS_ANNOTATION).as_deref(),
        Some(r#"["1","500m"]"#)
    );
    assert_eq!(to(&hub, "split.smi-spec.io/v1alpha1"), object);
    // Other versions see the hub weights.
    let v1alpha2 = to(&hub, "split.smi-spec.io/v1alpha2");
    assert_eq!(v1alpha2["spec"]["backends"][1]["weight"], json!(500));
}

#[test]
fn whole_weights_in_other_notations_are_units_and_come_back_verbatim() {
    let object = split_v1alpha1(json!(["1k", "2e3", "1.5k", "0"]));
    assert_eq!(hub_weights(&object), [1000, 2000, 1500, 0]);
    let hub = to(&object, "split.smi-spec.io/v1alpha4");
    assert_eq!(to(&hub, "split.smi-spec.io/v1alpha1"), object);
}

#[test]
fn fractional_weights_use_milli_units() {
    assert_eq!(
        hub_weights(&split_v1alpha1(json!(["1.5", "0.1", "1Ki"]))),
        [1500, 100, 1_024_000]
    );
}

#[test]
fn stale_original_weights_are_ignored() {
    let hub = to(
        &split_v1alpha1(json!(["1", "500m"])),
        "split.smi-spec.io/v1alpha4",
    );
    let mut edited = to(&hub, "split.smi-spec.io/v1alpha2");
    edited["spec"]["backends"][1]["weight"] = json!(250);
    let edited_hub = to(&edited, "split.smi-spec.io/v1alpha4");
    let v1alpha1 = to(&edited_hub, "split.smi-spec.io/v1alpha1");
    assert_eq!(v1alpha1["spec"]["backends"][0]["weight"], json!("1000"));
    assert_eq!(v1alpha1["spec"]["backends"][1]["weight"], json!("250"));
    assert_eq!(annotation(&v1alpha1, V1ALPHA1_WEIGHTS_ANNOTATION), None);
}

#[test]
fn weights_finer_than_milli_units_are_errors_naming_object_path_and_value() {
    let message = error(&split_v1alpha1(json!(["1", "1u"])));
    assert!(message.contains("TrafficSplit shop/checkout"), "{message}");
    assert!(message.contains("spec.backends[1].weight"), "{message}");
    assert!(message.contains("\"1u\""), "{message}");
    for bad in ["abc", "1.2.3", "", "-1", "1e", "5mm", "0.0001"] {
        let message = error(&split_v1alpha1(json!(["1", bad])));
        assert!(
            message.contains("spec.backends[1].weight"),
            "{bad}: {message}"
        );
        assert!(message.contains(&format!("\"{bad}\"")), "{bad}: {message}");
    }
}

#[test]
fn negative_integer_weights_are_errors() {
    for version in ["v1alpha2", "v1alpha3", "v1alpha4"] {
        let object = json!({
            "apiVersion": format!("split.smi-spec.io/{version}"),
            "kind": "TrafficSplit",
            "metadata": {"name": "checkout", "namespace": "shop"},
            "spec": {"service": "checkout", "backends": [
                {"service": "a", "weight": 1}, {"service": "b", "weight": -3}
            ]}
        });
        let message = error(&object);
        assert_eq!(
            message,
            "TrafficSplit shop/checkout: `spec.backends[1].weight` = -3: a weight must be zero or more",
            "{version}"
        );
    }
}

#[test]
fn wrong_types_name_the_path_and_value() {
    let object = json!({
        "apiVersion": "split.smi-spec.io/v1alpha2",
        "kind": "TrafficSplit",
        "metadata": {"name": "checkout", "namespace": "shop"},
        "spec": {"service": "checkout", "backends": [
            {"service": "a", "weight": 1}, {"service": "b", "weight": "ten"}
        ]}
    });
    let ConversionError::InvalidField {
        object: name,
        path,
        value,
        problem,
    } = convert::to_hub(&object).unwrap_err()
    else {
        panic!("expected an invalid field");
    };
    assert_eq!(name.to_string(), "TrafficSplit shop/checkout");
    assert_eq!(path, "spec.backends[1].weight");
    assert_eq!(value.as_deref(), Some("\"ten\""));
    assert!(problem.contains("invalid type"), "{problem}");

    // The conformance suite's `port: "9091"` string.
    let target = json!({
        "apiVersion": "access.smi-spec.io/v1alpha2",
        "kind": "TrafficTarget",
        "metadata": {"name": "t", "namespace": "ns"},
        "spec": {"destination": {"kind": "ServiceAccount", "name": "b", "port": "9091"}}
    });
    let message = error(&target);
    assert!(
        message.starts_with("TrafficTarget ns/t: `spec.destination.port` = \"9091\""),
        "{message}"
    );
}

#[test]
fn missing_fields_are_named() {
    let object = json!({
        "apiVersion": "split.smi-spec.io/v1alpha4",
        "kind": "TrafficSplit",
        "metadata": {"name": "checkout"},
        "spec": {"backends": []}
    });
    assert_eq!(
        error(&object),
        "TrafficSplit checkout: `spec.service` is missing: missing field `service`"
    );
}

#[test]
fn unknown_api_versions_and_kinds_are_named() {
    let object = |api_version: &str, kind: &str| json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": "x", "namespace": "n"}});
    let message = error(&object("split.smi-spec.io/v9", "TrafficSplit"));
    assert!(
        message.contains("unknown apiVersion `split.smi-spec.io/v9` for kind `TrafficSplit`"),
        "{message}"
    );
    assert!(message.contains("split.smi-spec.io/v1alpha1"), "{message}");
    let message = error(&object("split.smi-spec.io/v1alpha4", "TrafficSpilt"));
    assert!(
        message.contains("unknown kind `TrafficSpilt` in apiVersion `split.smi-spec.io/v1alpha4`"),
        "{message}"
    );
    let message = error(&object("apps/v1", "Deployment"));
    assert!(
        message.contains("unknown apiVersion `apps/v1` for kind `Deployment`"),
        "{message}"
    );
    let message = error(&object("specs.smi-spec.io/v1alpha1", "UDPRoute"));
    assert!(
        message.contains("unknown apiVersion `specs.smi-spec.io/v1alpha1` for kind `UDPRoute`"),
        "{message}"
    );
    let message = error(&json!({"kind": "TrafficSplit"}));
    assert!(message.contains("`apiVersion` is missing"), "{message}");

    let split = split_v1alpha1(json!(["1"]));
    let message = convert::convert(&split, "access.smi-spec.io/v1alpha3")
        .unwrap_err()
        .to_string();
    assert!(
        message
            .contains("unknown apiVersion `access.smi-spec.io/v1alpha3` for kind `TrafficSplit`"),
        "{message}"
    );
}

fn traffic_target_v1alpha1() -> Value {
    json!({
        "apiVersion": "access.smi-spec.io/v1alpha1",
        "kind": "TrafficTarget",
        "metadata": {"name": "api", "namespace": "default"},
        "destination": {"kind": "ServiceAccount", "name": "api", "namespace": "default", "port": 8080},
        "sources": [
            {"kind": "ServiceAccount", "name": "web", "port": 9090},
            {"kind": "ServiceAccount", "name": "worker"}
        ],
        "specs": [{"kind": "HTTPRouteGroup", "name": "routes", "matches": ["metrics"]}]
    })
}

#[test]
fn destination_port_is_kept_on_the_hub_and_readable() {
    let HubObject::TrafficTarget(hub) = convert::to_hub(&traffic_target_v1alpha1()).unwrap() else {
        panic!("not a TrafficTarget");
    };
    assert_eq!(convert::destination_port(&hub), Ok(Some(8080)));
    let annotations = hub.metadata.annotations.clone().unwrap();
    assert_eq!(annotations[DESTINATION_PORT_ANNOTATION], "8080");
    assert_eq!(
        annotations[SOURCE_PORTS_ANNOTATION],
        r#"[{"index":0,"name":"web","port":9090}]"#
    );
    assert_eq!(
        hub.spec.rules[0].matches.as_deref(),
        Some(&["metrics".to_owned()][..])
    );

    // v1alpha2 gets the ports back from the hub.
    let v1alpha2 = to(&traffic_target_v1alpha1(), "access.smi-spec.io/v1alpha2");
    assert_eq!(v1alpha2["spec"]["destination"]["port"], json!(8080));
    assert_eq!(v1alpha2["spec"]["sources"][0]["port"], json!(9090));
    assert!(v1alpha2["metadata"].get("annotations").is_none());

    let mut broken = hub.clone();
    broken
        .metadata
        .annotations
        .as_mut()
        .unwrap()
        .insert(DESTINATION_PORT_ANNOTATION.into(), "http".into());
    let message = convert::destination_port(&broken).unwrap_err().to_string();
    assert!(message.contains("TrafficTarget default/api"), "{message}");
    assert!(message.contains(DESTINATION_PORT_ANNOTATION), "{message}");
    assert!(message.contains("\"http\""), "{message}");
}

#[test]
fn out_of_range_ports_are_errors() {
    let mut object = traffic_target_v1alpha1();
    object["sources"][1]["port"] = json!(70000);
    let message = error(&object);
    assert!(message.contains("`sources[1].port` = 70000"), "{message}");
}

#[test]
fn stale_source_ports_are_ignored() {
    let hub = to(&traffic_target_v1alpha1(), "access.smi-spec.io/v1alpha3");
    let mut edited = hub.clone();
    edited["spec"]["sources"] = json!([
        {"kind": "ServiceAccount", "name": "worker"},
        {"kind": "ServiceAccount", "name": "web"}
    ]);
    let v1alpha1 = to(&edited, "access.smi-spec.io/v1alpha1");
    assert_eq!(v1alpha1["sources"][0].get("port"), None);
    assert_eq!(v1alpha1["sources"][1].get("port"), None);
    assert_eq!(v1alpha1["destination"]["port"], json!(8080));
}

#[test]
fn headers_in_list_shape_are_read_and_kept_for_v1alpha1() {
    let v1alpha2 = json!({
        "apiVersion": "specs.smi-spec.io/v1alpha2",
        "kind": "HTTPRouteGroup",
        "metadata": {"name": "routes", "namespace": "default"},
        "matches": [
            {"name": "android", "headers": [{"user-agent": ".*Android.*"}, {"cookie": "^(.*?;)?(type=insider)(;.*)?$"}]},
            {"name": "metrics", "pathRegex": "/metrics", "methods": ["GET"]}
        ]
    });
    let hub = to(&v1alpha2, "specs.smi-spec.io/v1alpha4");
    assert_eq!(
        hub["spec"]["matches"][0]["headers"]["user-agent"],
        json!(".*Android.*")
    );
    let v1alpha1 = to(&hub, "specs.smi-spec.io/v1alpha1");
    assert_eq!(v1alpha1["matches"][0].get("headers"), None);
    assert!(annotation(&v1alpha1, MATCH_HEADERS_ANNOTATION).is_some());
    assert_eq!(to(&v1alpha1, "specs.smi-spec.io/v1alpha4"), hub);

    let mut bad = v1alpha2.clone();
    bad["matches"][0]["headers"] = json!([{"a": "1", "b": "2"}]);
    let message = error(&bad);
    assert!(message.contains("`matches[0].headers`"), "{message}");
    assert!(message.contains("exactly one"), "{message}");
}

#[test]
fn tcp_route_spec_and_ports() {
    let v1alpha3 = json!({
        "apiVersion": "specs.smi-spec.io/v1alpha3",
        "kind": "TCPRoute",
        "metadata": {"name": "tcp", "namespace": "default"}
    });
    let hub = to(&v1alpha3, "specs.smi-spec.io/v1alpha4");
    assert_eq!(hub["spec"], json!({}));
    let back = to(&hub, "specs.smi-spec.io/v1alpha3");
    assert_eq!(back["spec"], json!({}));

    let with_ports = json!({
        "apiVersion": "specs.smi-spec.io/v1alpha4",
        "kind": "TCPRoute",
        "metadata": {"name": "tcp", "namespace": "default"},
        "spec": {"matches": {"ports": [8301, 8302]}}
    });
    let v1alpha1 = to(&with_ports, "specs.smi-spec.io/v1alpha1");
    assert_eq!(
        annotation(&v1alpha1, TCP_ROUTE_MATCHES_ANNOTATION).as_deref(),
        Some(r#"{"ports":[8301,8302]}"#)
    );
    assert_eq!(to(&v1alpha1, "specs.smi-spec.io/v1alpha4"), with_ports);
}

#[test]
fn malformed_annotations_are_errors_naming_the_annotation() {
    let mut hub = to(
        &split_v1alpha1(json!(["1", "500m"])),
        "split.smi-spec.io/v1alpha4",
    );
    hub["metadata"]["annotations"][V1ALPHA1_WEIGHTS_ANNOTATION] = json!("not json");
    let message = convert::convert(&hub, "split.smi-spec.io/v1alpha1")
        .unwrap_err()
        .to_string();
    assert!(
        message.contains(&format!(
            "metadata.annotations[\"{V1ALPHA1_WEIGHTS_ANNOTATION}\"]"
        )),
        "{message}"
    );
    assert!(message.contains("\"not json\""), "{message}");
}

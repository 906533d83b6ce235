//! The committed `crds/` files must be exactly what the code generates, and the generated CRDs
//! must have the shape the API server and the rest of smi-bridge rely on.

use std::path::Path;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps,
};
use smi_api::SmiKind;
use smi_api::crd::{all_crds, file_name, to_yaml};

const REGENERATE: &str = "cargo run -p smi-api --bin crdgen";

#[test]
fn committed_crds_match_the_generated_ones() {
    let mut drifted = Vec::new();
    for relative in ["crds", "charts/smi-bridge/crds"] {
        let directory = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(relative);
        for definition in all_crds() {
            let path = directory.join(file_name(&definition));
            let generated = to_yaml(&definition).unwrap();
            if std::fs::read_to_string(&path).ok().as_deref() != Some(generated.as_str()) {
                drifted.push(format!("{relative}/{}", file_name(&definition)));
            }
        }
    }
    assert!(
        drifted.is_empty(),
        "{} differ from the CRDs the code generates; run `{REGENERATE}` and commit the result",
        drifted.join(", ")
    );
}

#[test]
fn generation_is_deterministic() {
    let first: Vec<String> = all_crds().iter().map(|crd| to_yaml(crd).unwrap()).collect();
    let second: Vec<String> = all_crds().iter().map(|crd| to_yaml(crd).unwrap()).collect();
    assert_eq!(first, second);
}

fn crd_of(kind: SmiKind) -> CustomResourceDefinition {
    smi_api::crd::crd(kind)
}

fn root_schema(crd: &CustomResourceDefinition, version: &str) -> JSONSchemaProps {
    let version = crd
        .spec
        .versions
        .iter()
        .find(|v| v.name == version)
        .unwrap();
    version.schema.clone().unwrap().open_api_v3_schema.unwrap()
}

fn property<'a>(schema: &'a JSONSchemaProps, path: &[&str]) -> &'a JSONSchemaProps {
    path.iter().fold(schema, |schema, name| {
        if *name == "[]" {
            match schema.items.as_ref().unwrap() {
                k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaPropsOrArray::Schema(items) => items,
                other => panic!("unexpected items {other:?}"),
            }
        } else {
            &schema.properties.as_ref().unwrap()[*name]
        }
    })
}

#[test]
fn every_version_is_served_and_only_the_hub_is_stored() {
    for kind in SmiKind::ALL {
        let crd = crd_of(kind);
        let names: Vec<&str> = crd.spec.versions.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, kind.versions(), "{}", kind.as_str());
        for version in &crd.spec.versions {
            assert!(version.served, "{} {}", kind.as_str(), version.name);
            assert_eq!(version.storage, version.name == kind.hub_version());
            assert!(version.subresources.as_ref().unwrap().status.is_some());
            assert!(
                !version
                    .additional_printer_columns
                    .as_ref()
                    .unwrap()
                    .is_empty()
            );
            let schema = root_schema(&crd, &version.name);
            assert!(
                schema.description.is_some(),
                "{} {}",
                kind.as_str(),
                version.name
            );
            let conditions = property(&schema, &["status", "conditions", "[]"]);
            let fields: Vec<&String> = conditions.properties.as_ref().unwrap().keys().collect();
            for field in [
                "type",
                "status",
                "reason",
                "message",
                "observedGeneration",
                "lastTransitionTime",
            ] {
                assert!(
                    fields.iter().any(|f| *f == field),
                    "{} {}: {field}",
                    kind.as_str(),
                    version.name
                );
            }
        }
    }
}

#[test]
fn names_short_names_categories_and_webhook() {
    let expected = [
        (SmiKind::TrafficSplit, "ts"),
        (SmiKind::TrafficTarget, "tt"),
        (SmiKind::HTTPRouteGroup, "htr"),
        (SmiKind::TCPRoute, "tr"),
        (SmiKind::UDPRoute, "ur"),
    ];
    for (kind, short_name) in expected {
        let crd = crd_of(kind);
        assert_eq!(crd.spec.scope, "Namespaced");
        assert_eq!(
            crd.spec.names.short_names,
            Some(vec![short_name.to_owned()])
        );
        assert_eq!(crd.spec.names.categories, Some(vec!["smi".to_owned()]));
        let conversion = crd.spec.conversion.unwrap();
        assert_eq!(conversion.strategy, "Webhook");
        let webhook = conversion.webhook.unwrap();
        assert_eq!(webhook.conversion_review_versions, ["v1"]);
        let service = webhook.client_config.unwrap().service.unwrap();
        assert_eq!(service.namespace, smi_api::crd::WEBHOOK_SERVICE_NAMESPACE);
        assert_eq!(service.name, smi_api::crd::WEBHOOK_SERVICE_NAME);
        assert_eq!(service.path.as_deref(), Some("/convert"));
        assert_eq!(service.port, Some(443));
    }
}

#[test]
fn headers_preserve_unknown_fields_without_a_type() {
    let crd = crd_of(SmiKind::HTTPRouteGroup);
    for (version, path) in [
        ("v1alpha2", vec!["matches", "[]", "headers"]),
        ("v1alpha3", vec!["spec", "matches", "[]", "headers"]),
        ("v1alpha4", vec!["spec", "matches", "[]", "headers"]),
    ] {
        let headers = property(&root_schema(&crd, version), &path).clone();
        assert_eq!(headers.type_, None, "{version}");
        assert_eq!(
            headers.x_kubernetes_preserve_unknown_fields,
            Some(true),
            "{version}"
        );
    }
    let yaml = to_yaml(&crd).unwrap();
    let headers_blocks = yaml.matches("headers:\n").count();
    assert_eq!(headers_blocks, 3);
}

#[test]
fn weights_are_validated() {
    let crd = crd_of(SmiKind::TrafficSplit);
    let weight = ["spec", "backends", "[]", "weight"];
    let quantity = property(&root_schema(&crd, "v1alpha1"), &weight).clone();
    assert_eq!(quantity.x_kubernetes_int_or_string, Some(true));
    assert_eq!(quantity.type_, None);
    assert_eq!(
        quantity.pattern.as_deref(),
        Some(smi_api::quantity::NON_NEGATIVE_QUANTITY_PATTERN)
    );
    for version in ["v1alpha2", "v1alpha3", "v1alpha4"] {
        let integer = property(&root_schema(&crd, version), &weight).clone();
        assert_eq!(integer.type_.as_deref(), Some("integer"), "{version}");
        assert_eq!(integer.minimum, Some(0.0), "{version}");
    }
}

#[test]
fn traffic_target_requirements_and_rule_kinds() {
    let crd = crd_of(SmiKind::TrafficTarget);
    let hub_spec = property(&root_schema(&crd, "v1alpha3"), &["spec"]).clone();
    let mut required = hub_spec.required.clone().unwrap();
    required.sort();
    assert_eq!(required, ["destination", "rules", "sources"]);
    assert_eq!(property(&hub_spec, &["rules"]).min_items, Some(1));
    assert_eq!(property(&hub_spec, &["sources"]).min_items, Some(1));
    let kinds = |schema: &JSONSchemaProps| {
        schema
            .enum_
            .clone()
            .unwrap()
            .into_iter()
            .map(|v| v.0.as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        kinds(property(&hub_spec, &["rules", "[]", "kind"])),
        ["HTTPRouteGroup", "TCPRoute", "UDPRoute"]
    );
    let v1alpha1 = root_schema(&crd, "v1alpha1");
    assert_eq!(v1alpha1.required, Some(vec!["destination".to_owned()]));
    assert_eq!(
        kinds(property(&v1alpha1, &["specs", "[]", "kind"])),
        ["HTTPRouteGroup", "TCPRoute"]
    );
    let v1alpha2 = root_schema(&crd, "v1alpha2");
    assert_eq!(
        kinds(property(&v1alpha2, &["spec", "rules", "[]", "kind"])),
        ["HTTPRouteGroup", "TCPRoute"]
    );
}

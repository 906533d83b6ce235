//! The mesh-independent half of the oracle: every case loads, translates, and reports the
//! conditions it expects.

use smi_translate::oracle::{case_input, load_cases};
use smi_translate::{TranslateOptions, translate};

#[test]
fn every_case_reports_its_expected_conditions() {
    let cases = load_cases().expect("the case table loads");
    assert!(
        cases.len() >= 20,
        "the case table lost cases: {}",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in &cases {
        let input = match case_input(case) {
            Ok(input) => input,
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        let translation = translate(&input.state, &TranslateOptions::default());
        for expected in &case.conditions {
            let object = expected.object_ref().expect("valid object reference");
            let type_ = expected.condition_type().expect("valid condition type");
            let actual = translation
                .report
                .statuses
                .get(&object)
                .and_then(|s| s.get(type_));
            match actual {
                Some(c) if c.status == expected.status && c.reason == expected.reason => {}
                other => failures.push(format!(
                    "case `{}`: expected {object} {}={} ({}), got {other:?}",
                    case.name, expected.type_, expected.status, expected.reason
                )),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn translation_is_deterministic() {
    for case in load_cases().expect("the case table loads") {
        let Ok(input) = case_input(&case) else {
            continue;
        };
        let first = translate(&input.state, &TranslateOptions::default());
        let second = translate(&input.state.clone(), &TranslateOptions::default());
        assert_eq!(first, second, "case `{}`", case.name);
    }
}

/// Translating a spoke object and its hub conversion gives the same result: every SMI object of
/// every case is converted to its hub version first, and the translation must not change.
#[test]
fn spoke_objects_translate_like_their_hub_conversions() {
    for case in load_cases().expect("the case table loads") {
        let original = case_input(&case).expect("case loads");
        let converted: Vec<(String, serde_json::Value)> = case
            .objects
            .iter()
            .map(|o| {
                let api_version = o["apiVersion"].as_str().unwrap_or_default();
                let kind = o["kind"].as_str().unwrap_or_default();
                let hub = match (api_version.split('/').next(), kind) {
                    (Some("split.smi-spec.io"), _) => Some("split.smi-spec.io/v1alpha4"),
                    (Some("access.smi-spec.io"), _) => Some("access.smi-spec.io/v1alpha3"),
                    (Some("specs.smi-spec.io"), _) => Some("specs.smi-spec.io/v1alpha4"),
                    _ => None,
                };
                let object = match hub {
                    Some(target) => smi_api::convert::convert(o, target).expect("converts"),
                    None => o.clone(),
                };
                ("case".to_string(), object)
            })
            .collect();
        let hub = smi_translate::input::load_objects(converted).expect("hub objects load");
        let options = TranslateOptions::default();
        assert_eq!(
            translate(&original.state, &options),
            translate(&hub.state, &options),
            "case `{}`",
            case.name
        );
    }
}

//! The shared request oracle, the golden files, and Istio's admission checks over every case.

use std::path::Path;

use smi_bridge_istio::{IstioApiVersion, IstioBackend, IstioEvaluator, IstioOptions, validate};
use smi_translate::oracle::{case_input, check_golden, load_cases, run_cases};
use smi_translate::{TranslateOptions, render};

#[test]
fn every_case_behaves_as_expected_on_istio() {
    let failures = run_cases(&IstioBackend::default(), &IstioEvaluator::default())
        .expect("the case table loads");
    let listed: Vec<String> = failures.iter().map(ToString::to_string).collect();
    assert!(
        listed.is_empty(),
        "{} failing checks:\n{}",
        listed.len(),
        listed.join("\n")
    );
}

#[test]
fn golden() {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden"));
    let differing = check_golden(&IstioBackend::default(), dir).expect("the case table loads");
    assert!(
        differing.is_empty(),
        "golden files differ:\n{}",
        differing.join("\n")
    );
}

/// Every object emitted for every case, with every option, passes Istio's own admission checks.
#[test]
fn every_emitted_object_passes_istio_admission_checks() {
    let mut options = IstioOptions::new("example.org", IstioApiVersion::V1beta1);
    options.strict_mtls = true;
    for backend in [IstioBackend::default(), IstioBackend::new(options)] {
        for case in load_cases().expect("the case table loads") {
            let input = case_input(&case).expect("the case loads");
            let rendered = render(&input.state, &backend, &TranslateOptions::default());
            let problems = validate::validate(&rendered.objects);
            assert!(
                problems.is_empty(),
                "case `{}`:\n{}",
                case.name,
                problems.join("\n")
            );
        }
    }
}

/// The options change the versions, the principals and the PeerAuthentications, not the
/// behaviour.
#[test]
fn options_keep_the_behaviour() {
    let mut options = IstioOptions::new("example.org", IstioApiVersion::V1beta1);
    options.strict_mtls = true;
    let evaluator = IstioEvaluator::new(&options, &TranslateOptions::default());
    let backend = IstioBackend::new(options);
    let failures = run_cases(&backend, &evaluator).expect("the case table loads");
    let listed: Vec<String> = failures.iter().map(ToString::to_string).collect();
    assert!(listed.is_empty(), "{}", listed.join("\n"));
    let case = load_cases()
        .expect("cases")
        .into_iter()
        .find(|c| c.name == "access-header-exact")
        .expect("case");
    let rendered = render(
        &case_input(&case).expect("loads").state,
        &backend,
        &TranslateOptions::default(),
    );
    let kinds: Vec<(&str, &str)> = rendered
        .objects
        .iter()
        .map(|o| (o.api_version.as_str(), o.kind.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("security.istio.io/v1beta1", "AuthorizationPolicy"),
            ("security.istio.io/v1beta1", "PeerAuthentication")
        ]
    );
    let json = rendered.objects[0].to_json().to_string();
    assert!(json.contains("example.org/ns/bank/sa/frontend"), "{json}");
}

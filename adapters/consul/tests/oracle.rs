//! The shared request oracle: every case of `crates/smi-translate/cases`, rendered by the Consul
//! backend and interpreted by the Consul evaluator.

use smi_bridge_consul::{ConsulBackend, ConsulEvaluator};
use smi_translate::oracle::run_cases;

#[test]
fn every_case_behaves_as_expected_on_consul() {
    let backend = ConsulBackend::default();
    let evaluator = ConsulEvaluator::new(backend.options().clone());
    let failures = run_cases(&backend, &evaluator).expect("the case table loads");
    let listed: Vec<String> = failures.iter().map(ToString::to_string).collect();
    assert!(
        failures.is_empty(),
        "{} failing checks:\n{}",
        failures.len(),
        listed.join("\n")
    );
}

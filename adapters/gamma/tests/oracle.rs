//! The shared request oracle, routing only: the `gamma` backend's routes, interpreted with
//! Gateway API precedence (and with Linkerd's, since Linkerd reuses them).

use smi_bridge_gamma::selection::Precedence;
use smi_bridge_gamma::{
    GammaBackend, GammaEvaluator, GammaOptions, HttpRouteVersion, TcpRouteSupport,
};
use smi_translate::keys::SmiKind;
use smi_translate::oracle::{Scope, case_input, load_cases, run_cases_scoped};
use smi_translate::{ConditionType, TranslateOptions, render};

fn with_tcp_routes() -> GammaBackend {
    GammaBackend::new(GammaOptions::new(
        HttpRouteVersion::V1,
        TcpRouteSupport::V1alpha2,
    ))
}

fn failures(backend: &GammaBackend, precedence: Precedence) -> Vec<String> {
    run_cases_scoped(backend, &GammaEvaluator { precedence }, Scope::RoutingOnly)
        .expect("the case table loads")
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn every_case_routes_as_expected_when_tcproute_is_served() {
    for precedence in [Precedence::GatewayApi, Precedence::Linkerd] {
        let failures = failures(&with_tcp_routes(), precedence);
        assert!(
            failures.is_empty(),
            "{precedence:?}:\n{}",
            failures.join("\n")
        );
    }
}

/// Without TCPRoute, TCP ports of a split stay on the root Service: the only differences from
/// the table are TCP connections in cases where the split is reported for it.
#[test]
fn without_tcproute_only_tcp_ports_stay_on_their_root() {
    let failures = failures(&GammaBackend::default(), Precedence::GatewayApi);
    assert!(
        failures
            .iter()
            .any(|f| f.starts_with("case `split-ports-and-tcp`")),
        "{}",
        failures.join("\n")
    );
    for failure in &failures {
        assert!(failure.contains("(tcp "), "{failure}");
        let case = failure.split('`').nth(1).expect("a case name");
        assert!(reported(case, "NotSupported", "TCPRoute"), "{failure}");
    }
}

/// Whether a TrafficSplit of the case is reported Programmed=False for `reason` with `text`.
fn reported(case: &str, reason: &str, text: &str) -> bool {
    let case = load_cases()
        .expect("the case table loads")
        .into_iter()
        .find(|c| c.name == case)
        .expect("the case exists");
    let input = case_input(&case).expect("case loads");
    let rendered = render(
        &input.state,
        &GammaBackend::default(),
        &TranslateOptions::default(),
    );
    rendered.report.statuses.iter().any(|(object, status)| {
        object.kind == SmiKind::TrafficSplit
            && status
                .get(ConditionType::Programmed)
                .is_some_and(|c| !c.status && c.reason == reason && c.message.contains(text))
    })
}

#[test]
fn every_accepted_traffic_target_is_reported_not_supported() {
    let mut checked = 0;
    for case in load_cases().expect("the case table loads") {
        let input = case_input(&case).expect("case loads");
        let rendered = render(
            &input.state,
            &GammaBackend::default(),
            &TranslateOptions::default(),
        );
        for (object, status) in &rendered.report.statuses {
            if object.kind != SmiKind::TrafficTarget || !status.accepted() {
                continue;
            }
            let programmed = status
                .get(ConditionType::Programmed)
                .expect("Programmed is set");
            assert!(
                !programmed.status
                    && programmed.reason == "NotSupported"
                    && programmed.message.contains("--mesh istio"),
                "case `{}`: {object}: {programmed:?}",
                case.name
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 10,
        "only {checked} accepted TrafficTargets in the case table"
    );
}

//! The shared request oracle against Linkerd's behaviour, in both routing modes and for the
//! resources of older releases; and no case makes the backend write conflicting Servers.

use smi_bridge_gamma::TcpRouteSupport;
use smi_bridge_linkerd::validate::server_conflicts;
use smi_bridge_linkerd::{LinkerdBackend, LinkerdEvaluator, LinkerdOptions, Routing};
use smi_translate::keys::SmiKind;
use smi_translate::oracle::{case_input, load_cases, run_cases};
use smi_translate::{ConditionType, TranslateOptions, render};

fn failures(options: LinkerdOptions) -> Vec<String> {
    let evaluator = LinkerdEvaluator::new(&options, &TranslateOptions::default());
    run_cases(&LinkerdBackend::new(options), &evaluator)
        .expect("the case table loads")
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn with_tcp_routes(mut options: LinkerdOptions) -> LinkerdOptions {
    options.tcp_routes = TcpRouteSupport::V1alpha2;
    options
}

#[test]
fn every_case_behaves_as_expected_with_httproutes() {
    let failures = failures(with_tcp_routes(LinkerdOptions::default()));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn older_releases_behave_alike() {
    for release in [13, 14, 15, 16] {
        let failures = failures(with_tcp_routes(LinkerdOptions::for_release(release)));
        assert!(
            failures.is_empty(),
            "Linkerd 2.{release}:\n{}",
            failures.join("\n")
        );
    }
}

/// Without TCPRoute, TCP ports of a split stay on the root Service: the only differences from
/// the table are TCP connections in cases where the split is reported for it.
#[test]
fn without_tcproute_only_tcp_ports_stay_on_their_root() {
    let options = LinkerdOptions::default();
    let failures = failures(options.clone());
    assert!(
        failures
            .iter()
            .any(|f| f.starts_with("case `split-ports-and-tcp`")),
        "{}",
        failures.join("\n")
    );
    for failure in &failures {
        assert!(failure.contains("(tcp "), "{failure}");
        assert!(
            split_reported(failure, &options, &["NotSupported"], "TCPRoute"),
            "{failure}"
        );
    }
}

/// ServiceProfiles split every request and every port alike: A/B splits, and roots whose ports
/// have different backends, are reported and stay on the root Service. Those are the only
/// differences from the table.
#[test]
fn serviceprofile_mode_differs_only_where_profiles_cannot_express_the_split() {
    let options = LinkerdOptions {
        routing: Routing::ServiceProfile,
        ..LinkerdOptions::default()
    };
    let failures = failures(options.clone());
    for expected in [
        "split-ab-header",
        "split-ab-regex-alternation",
        "split-ports-and-tcp",
        "split-two-http-ports",
    ] {
        assert!(
            failures
                .iter()
                .any(|f| f.contains(&format!("`{expected}`"))),
            "{expected} passes?\n{}",
            failures.join("\n")
        );
    }
    for failure in &failures {
        assert!(
            split_reported(
                failure,
                &options,
                &["NotSupported", "NotExpressible"],
                "ServiceProfile"
            ),
            "{failure}"
        );
    }
}

/// Whether a TrafficSplit of the failure's case is reported Programmed=False for one of
/// `reasons`, with `text` in the message.
fn split_reported(failure: &str, options: &LinkerdOptions, reasons: &[&str], text: &str) -> bool {
    let name = failure.split('`').nth(1).expect("a case name");
    let case = load_cases()
        .expect("the case table loads")
        .into_iter()
        .find(|c| c.name == name)
        .expect("the case exists");
    let input = case_input(&case).expect("case loads");
    let rendered = render(
        &input.state,
        &LinkerdBackend::new(options.clone()),
        &TranslateOptions::default(),
    );
    rendered.report.statuses.iter().any(|(object, status)| {
        object.kind == SmiKind::TrafficSplit
            && status.get(ConditionType::Programmed).is_some_and(|c| {
                !c.status && reasons.contains(&c.reason.as_str()) && c.message.contains(text)
            })
    })
}

/// Linkerd's admission would reject overlapping Servers, and two objects of one kind and name
/// would overwrite each other: neither happens for any case, in either routing mode.
#[test]
fn no_case_gives_conflicting_objects() {
    let profiles = LinkerdOptions {
        routing: Routing::ServiceProfile,
        ..LinkerdOptions::default()
    };
    let probes = LinkerdOptions {
        probe_paths: vec!["/healthz".to_string()],
        ..with_tcp_routes(LinkerdOptions::default())
    };
    for options in [probes, profiles] {
        let backend = LinkerdBackend::new(options);
        for case in load_cases().expect("the case table loads") {
            let input = case_input(&case).expect("case loads");
            let rendered = render(&input.state, &backend, &TranslateOptions::default());
            let conflicts =
                server_conflicts(&input.state, &rendered.objects).expect("Servers are well-formed");
            assert!(conflicts.is_empty(), "case `{}`: {conflicts:?}", case.name);
            let mut names: Vec<(&str, &str, &str, &str)> = rendered
                .objects
                .iter()
                .map(|o| {
                    (
                        o.group(),
                        o.kind.as_str(),
                        o.namespace.as_str(),
                        o.name.as_str(),
                    )
                })
                .collect();
            names.sort();
            let count = names.len();
            names.dedup();
            assert_eq!(
                names.len(),
                count,
                "case `{}`: objects share a name",
                case.name
            );
        }
    }
}

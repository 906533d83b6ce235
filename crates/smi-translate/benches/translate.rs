//! Throughput of the translation core: SMI objects translated per second.
//!
//! Builds a synthetic cluster — per namespace one canary TrafficSplit, one A/B TrafficSplit with an
//! HTTPRouteGroup, and TrafficTargets with HTTP and TCP rules over five services — at several
//! sizes, and reports criterion's time per `translate` call with the SMI object count as
//! throughput (criterion prints elements/s).

use std::collections::BTreeMap;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use smi_api::hub;
use smi_translate::state::{
    ContainerPort, HttpProbe, PortRef, ServiceInfo, ServicePort, Workload, WorkloadKey,
    WorkloadKind,
};
use smi_translate::{ClusterState, ObjectKey, TranslateOptions, translate};

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn service(selector: BTreeMap<String, String>) -> ServiceInfo {
    ServiceInfo {
        selector: Some(selector),
        ports: vec![ServicePort {
            name: Some("http".into()),
            port: 80,
            target_port: PortRef::Number(8080),
            protocol: "TCP".into(),
            app_protocol: None,
        }],
        ..Default::default()
    }
}

/// A cluster with `namespaces` namespaces; returns it with its SMI object count.
fn cluster(namespaces: usize) -> (ClusterState, usize) {
    let mut state = ClusterState::default();
    for n in 0..namespaces {
        let ns = format!("ns-{n}");
        for app in ["web", "api", "db", "cache", "auth"] {
            for version in ["v1", "v2"] {
                state.workloads.insert(
                    WorkloadKey {
                        kind: WorkloadKind::Deployment,
                        key: ObjectKey::new(&ns, format!("{app}-{version}")),
                    },
                    Workload {
                        service_account: app.into(),
                        pod_labels: labels(&[("app", app), ("version", version)]),
                        pod_annotations: Default::default(),
                        container_ports: vec![ContainerPort {
                            name: Some("http".into()),
                            port: 8080,
                            protocol: "TCP".into(),
                        }],
                        http_probes: vec![HttpProbe {
                            port: PortRef::Name("http".into()),
                            path: "/healthz".into(),
                        }],
                    },
                );
                state.services.insert(
                    ObjectKey::new(&ns, format!("{app}-{version}")),
                    service(labels(&[("app", app), ("version", version)])),
                );
            }
            state
                .services
                .insert(ObjectKey::new(&ns, app), service(labels(&[("app", app)])));
        }
        let split = |name: &str, root: &str, matches: Vec<hub::TrafficSplitMatch>| {
            let mut s = hub::TrafficSplit::new(
                name,
                hub::TrafficSplitSpec {
                    service: root.into(),
                    backends: vec![
                        hub::TrafficSplitBackend {
                            service: format!("{root}-v1"),
                            weight: 90,
                        },
                        hub::TrafficSplitBackend {
                            service: format!("{root}-v2"),
                            weight: 10,
                        },
                    ],
                    matches,
                },
            );
            s.metadata.namespace = Some(ns.clone());
            s
        };
        state
            .traffic_splits
            .insert(ObjectKey::new(&ns, "web"), split("web", "web", vec![]));
        state.traffic_splits.insert(
            ObjectKey::new(&ns, "api"),
            split(
                "api",
                "api",
                vec![hub::TrafficSplitMatch {
                    kind: "HTTPRouteGroup".into(),
                    name: "routes".into(),
                    api_group: None,
                }],
            ),
        );
        let mut group = hub::HTTPRouteGroup::new(
            "routes",
            hub::HTTPRouteGroupSpec {
                matches: vec![
                    hub::HTTPMatch {
                        name: "reads".into(),
                        path_regex: Some("/api/.*".into()),
                        methods: Some(vec!["GET".into()]),
                        headers: None,
                    },
                    hub::HTTPMatch {
                        name: "beta".into(),
                        path_regex: Some("/a|/b".into()),
                        methods: None,
                        headers: Some(hub::HttpHeaders(labels(&[("x-beta", "yes")]))),
                    },
                ],
            },
        );
        group.metadata.namespace = Some(ns.clone());
        state
            .http_route_groups
            .insert(ObjectKey::new(&ns, "routes"), group);
        let mut tcp = hub::TCPRoute::new(
            "tcp",
            hub::TCPRouteSpec {
                matches: Some(hub::PortMatch { ports: vec![80] }),
            },
        );
        tcp.metadata.namespace = Some(ns.clone());
        state.tcp_routes.insert(ObjectKey::new(&ns, "tcp"), tcp);
        for (source, destination, rule) in [
            ("web", "api", "HTTPRouteGroup"),
            ("api", "db", "TCPRoute"),
            ("api", "cache", "TCPRoute"),
            ("web", "auth", "HTTPRouteGroup"),
        ] {
            let subject = |name: &str| hub::IdentityBindingSubject {
                kind: "ServiceAccount".into(),
                name: name.into(),
                namespace: Some(ns.clone()),
            };
            let name = format!("{source}-to-{destination}");
            let mut target = hub::TrafficTarget::new(
                &name,
                hub::TrafficTargetSpec {
                    destination: subject(destination),
                    sources: vec![subject(source)],
                    rules: vec![hub::TrafficTargetRule {
                        kind: rule.into(),
                        name: if rule == "TCPRoute" {
                            "tcp".into()
                        } else {
                            "routes".into()
                        },
                        matches: None,
                    }],
                },
            );
            target.metadata.namespace = Some(ns.clone());
            state
                .traffic_targets
                .insert(ObjectKey::new(&ns, name), target);
        }
    }
    // Per namespace: 2 splits, 1 group, 1 TCPRoute, 4 targets.
    (state, namespaces * 8)
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("translate");
    for namespaces in [10, 100, 1000] {
        let (state, objects) = cluster(namespaces);
        group.throughput(Throughput::Elements(objects as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("{objects}-smi-objects")),
            &state,
            |b, state| b.iter(|| translate(state, &TranslateOptions::default())),
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! The conversion and validating webhooks through a real API server: round trips through every
//! served version, Flagger-style full updates, and the table of invalid inputs.

mod support;

use std::collections::BTreeMap;

use kube::Client;
use kube::api::PostParams;
use serde_json::{Value, json};
use smi_api::SmiKind;
use smi_testenv::{TestEnv, require_env};
use smi_translate::input::load_objects;
use smi_translate::validate::{Violation, check_value};
use smi_translate::{ConditionType, SmiRef, TranslateOptions, translate};
use support::{RunningWebhook, api, content, create, object, split, value};
use tokio::sync::OnceCell;

static WEBHOOK: std::sync::OnceLock<RunningWebhook> = std::sync::OnceLock::new();
static INSTALLED: OnceCell<()> = OnceCell::const_new();

/// The binary's webhook server and CRDs, started and installed once.
async fn webhooks(
    env: &'static TestEnv,
    client: &Client,
    namespace: &str,
) -> &'static RunningWebhook {
    let webhook = WEBHOOK.get_or_init(|| support::start_file_webhook(env));
    INSTALLED
        .get_or_init(|| async {
            support::install_webhooks(client, &webhook.client_config(), namespace).await
        })
        .await;
    webhook
}

/// A rich object at every version of every kind, exercising what that version has.
fn examples() -> Vec<(SmiKind, &'static str, Value)> {
    let headers = json!({"user-agent": ".*Firefox.*", "x-canary": "true"});
    vec![
        (
            SmiKind::TrafficSplit,
            "v1alpha1",
            split(
                "v1alpha1",
                "rt-split-1",
                json!({
            "service": "web", "backends": [{"service": "web-v1", "weight": "500m"}, {"service": "web-v2", "weight": "1"}]}),
            ),
        ),
        (
            SmiKind::TrafficSplit,
            "v1alpha2",
            split(
                "v1alpha2",
                "rt-split-2",
                json!({
            "service": "web", "backends": [{"service": "web-v1", "weight": 90}, {"service": "web-v2", "weight": 10}]}),
            ),
        ),
        (
            SmiKind::TrafficSplit,
            "v1alpha3",
            split(
                "v1alpha3",
                "rt-split-3",
                json!({
            "service": "web", "backends": [{"service": "web-v1", "weight": 0}, {"service": "web-v2", "weight": 100}],
            "matches": [{"kind": "HTTPRouteGroup", "name": "ab-test", "apiGroup": "specs.smi-spec.io"}]}),
            ),
        ),
        (
            SmiKind::TrafficSplit,
            "v1alpha4",
            split(
                "v1alpha4",
                "rt-split-4",
                json!({
            "service": "web", "backends": [{"service": "web-v1", "weight": 3}, {"service": "web-v2", "weight": 1}],
            "matches": [{"kind": "HTTPRouteGroup", "name": "ab-test"}]}),
            ),
        ),
        (
            SmiKind::TrafficTarget,
            "v1alpha1",
            json!({"apiVersion": "access.smi-spec.io/v1alpha1", "kind": "TrafficTarget",
            "metadata": {"name": "rt-target-1", "labels": {"team": "payments"}},
            "destination": {"kind": "ServiceAccount", "name": "api", "port": 8080},
            "sources": [{"kind": "ServiceAccount", "name": "client", "namespace": "frontend", "port": 9090}],
            "specs": [{"kind": "HTTPRouteGroup", "name": "routes", "matches": ["metrics"]}]}),
        ),
        (
            SmiKind::TrafficTarget,
            "v1alpha2",
            json!({"apiVersion": "access.smi-spec.io/v1alpha2", "kind": "TrafficTarget",
            "metadata": {"name": "rt-target-2", "annotations": {"note": "kept"}},
            "spec": {"destination": {"kind": "ServiceAccount", "name": "api", "port": 8443},
                     "sources": [{"kind": "ServiceAccount", "name": "client"}],
                     "rules": [{"kind": "TCPRoute", "name": "tcp"}]}}),
        ),
        (
            SmiKind::TrafficTarget,
            "v1alpha3",
            json!({"apiVersion": "access.smi-spec.io/v1alpha3", "kind": "TrafficTarget",
            "metadata": {"name": "rt-target-3"},
            "spec": {"destination": {"kind": "ServiceAccount", "name": "api"},
                     "sources": [{"kind": "ServiceAccount", "name": "client", "namespace": "other"}],
                     "rules": [{"kind": "UDPRoute", "name": "dns"}, {"kind": "HTTPRouteGroup", "name": "routes"}]}}),
        ),
        (
            SmiKind::HTTPRouteGroup,
            "v1alpha1",
            json!({"apiVersion": "specs.smi-spec.io/v1alpha1", "kind": "HTTPRouteGroup",
            "metadata": {"name": "rt-group-1"},
            "matches": [{"name": "metrics", "pathRegex": "/metrics", "methods": ["GET"]}]}),
        ),
        (
            SmiKind::HTTPRouteGroup,
            "v1alpha2",
            json!({"apiVersion": "specs.smi-spec.io/v1alpha2", "kind": "HTTPRouteGroup",
            "metadata": {"name": "rt-group-2"},
            "matches": [{"name": "firefox", "headers": headers}, {"name": "all", "pathRegex": ".*", "methods": ["*"]}]}),
        ),
        (
            SmiKind::HTTPRouteGroup,
            "v1alpha3",
            json!({"apiVersion": "specs.smi-spec.io/v1alpha3", "kind": "HTTPRouteGroup",
            "metadata": {"name": "rt-group-3"},
            "spec": {"matches": [{"name": "api", "pathRegex": "/api/v[0-9]+", "methods": ["GET", "POST"], "headers": headers}]}}),
        ),
        (
            SmiKind::HTTPRouteGroup,
            "v1alpha4",
            json!({"apiVersion": "specs.smi-spec.io/v1alpha4", "kind": "HTTPRouteGroup",
            "metadata": {"name": "rt-group-4"},
            "spec": {"matches": [{"name": "canary", "headers": {"x-canary": "true"}}]}}),
        ),
        (
            SmiKind::TCPRoute,
            "v1alpha1",
            json!({"apiVersion": "specs.smi-spec.io/v1alpha1", "kind": "TCPRoute",
            "metadata": {"name": "rt-tcp-1"}}),
        ),
        (
            SmiKind::TCPRoute,
            "v1alpha2",
            json!({"apiVersion": "specs.smi-spec.io/v1alpha2", "kind": "TCPRoute",
            "metadata": {"name": "rt-tcp-2", "labels": {"a": "b"}}}),
        ),
        (
            SmiKind::TCPRoute,
            "v1alpha3",
            json!({"apiVersion": "specs.smi-spec.io/v1alpha3", "kind": "TCPRoute",
            "metadata": {"name": "rt-tcp-3"}, "spec": {}}),
        ),
        (
            SmiKind::TCPRoute,
            "v1alpha4",
            json!({"apiVersion": "specs.smi-spec.io/v1alpha4", "kind": "TCPRoute",
            "metadata": {"name": "rt-tcp-4"}, "spec": {"matches": {"ports": [8080, 9090]}}}),
        ),
        (
            SmiKind::UDPRoute,
            "v1alpha4",
            json!({"apiVersion": "specs.smi-spec.io/v1alpha4", "kind": "UDPRoute",
            "metadata": {"name": "rt-udp-4"}, "spec": {"matches": {"ports": [53]}}}),
        ),
    ]
}

#[tokio::test]
async fn objects_read_back_identically_after_a_round_trip_through_every_version() {
    let env = require_env!();
    let ns = env.namespace("roundtrip").await.unwrap();
    let client = ns.client();
    webhooks(env, client, ns.name()).await;
    let conversion_before = conversions();
    for (kind, version, example) in examples() {
        let name = example["metadata"]["name"].as_str().unwrap().to_owned();
        let created = create(client, kind, version, ns.name(), example.clone()).await;
        assert_eq!(
            content(&value(&created)),
            content(&example),
            "{kind} {version} as created"
        );
        for other in kind.versions().iter().filter(|v| **v != version) {
            let at_other = api(client, kind, other, ns.name());
            let read = at_other
                .get(&name)
                .await
                .unwrap_or_else(|e| panic!("{kind} {name} at {other}: {e}"));
            at_other
                .replace(&name, &PostParams::default(), &read)
                .await
                .unwrap_or_else(|e| panic!("writing {kind} {name} back at {other}: {e}"));
        }
        let back = api(client, kind, version, ns.name())
            .get(&name)
            .await
            .unwrap();
        assert_eq!(
            content(&value(&back)),
            content(&example),
            "{kind} {version} changed after being read and written at every other version"
        );
    }
    assert!(
        conversions() > conversion_before,
        "the conversion webhook was not used"
    );
}

fn conversions() -> u64 {
    let webhook = WEBHOOK.get().expect("started");
    ["v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4"]
        .iter()
        .map(|version| {
            webhook
                .metrics
                .requests(&smi_webhook::metrics::RequestLabels {
                    webhook: "conversion",
                    kind: "TrafficSplit".to_owned(),
                    operation: (*version).to_owned(),
                    result: "converted",
                })
        })
        .sum()
}

/// Flagger creates its TrafficSplit, then moves the weights step by step with full updates
/// (GET, change the weights, PUT the whole object).
#[tokio::test]
async fn flagger_style_updates_keep_their_weights() {
    let env = require_env!();
    let ns = env.namespace("flagger").await.unwrap();
    let client = ns.client();
    webhooks(env, client, ns.name()).await;
    let steps: [(i64, i64); 6] = [(100, 0), (90, 10), (80, 20), (50, 50), (0, 100), (100, 0)];
    for version in ["v1alpha1", "v1alpha2", "v1alpha3"] {
        let weight = |w: i64| {
            if version == "v1alpha1" {
                json!(w.to_string())
            } else {
                json!(w)
            }
        };
        let name = format!("podinfo-{version}");
        let mut spec = json!({"service": "podinfo", "backends": [
            {"service": "podinfo-primary", "weight": weight(steps[0].0)},
            {"service": "podinfo-canary", "weight": weight(steps[0].1)}]});
        if version == "v1alpha3" {
            spec["matches"] = json!([{"kind": "HTTPRouteGroup", "name": "podinfo-ab"}]);
        }
        let mut split = split(version, &name, spec);
        split["metadata"]["ownerReferences"] = json!([{"apiVersion": "flagger.app/v1beta1",
            "kind": "Canary", "name": "podinfo", "uid": "5c1c1f3e-0000-4000-8000-000000000001",
            "controller": true, "blockOwnerDeletion": true}]);
        create(client, SmiKind::TrafficSplit, version, ns.name(), split).await;
        let at_version = api(client, SmiKind::TrafficSplit, version, ns.name());
        let at_hub = api(client, SmiKind::TrafficSplit, "v1alpha4", ns.name());
        for (primary, canary) in steps.into_iter().skip(1) {
            let mut current = value(&at_version.get(&name).await.unwrap());
            current["spec"]["backends"][0]["weight"] = weight(primary);
            current["spec"]["backends"][1]["weight"] = weight(canary);
            let written = at_version
                .replace(&name, &PostParams::default(), &object(current.clone()))
                .await
                .unwrap_or_else(|e| panic!("{version} update to {primary}/{canary}: {e}"));
            assert_eq!(
                value(&written)["spec"],
                current["spec"],
                "{version} as written"
            );
            let read = value(&at_version.get(&name).await.unwrap());
            assert_eq!(read["spec"], current["spec"], "{version} read back");
            let hub = value(&at_hub.get(&name).await.unwrap());
            let hub_weights: Vec<i64> = hub["spec"]["backends"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b["weight"].as_i64().unwrap())
                .collect();
            assert_eq!(hub_weights, [primary, canary], "{version} at the hub");
            assert_eq!(
                read["metadata"]["ownerReferences"],
                current["metadata"]["ownerReferences"]
            );
        }
    }
}

/// Flagger's half of the story: TrafficSplits written at v1alpha1, v1alpha2 and v1alpha3 and moved
/// with full updates are translated by the running operator (reading them at the hub version
/// through the conversion webhook): the VirtualService follows every weight step exactly.
#[tokio::test]
async fn flagger_splits_at_every_version_are_translated_by_the_running_operator() {
    use std::sync::Arc;

    use kube::Api;
    use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
    use smi_operator::{MeshChoice, Meshes, Operator, OperatorConfig};

    let env = require_env!();
    let ns = env.namespace("flagger-op").await.unwrap();
    let (client, name) = (ns.client(), ns.name());
    webhooks(env, client, name).await;
    smi_testenv::install_upstream(client, smi_testenv::Mesh::Istio)
        .await
        .unwrap();
    let versions = ["v1alpha1", "v1alpha2", "v1alpha3"];
    let mut services = String::new();
    for version in versions {
        for suffix in ["", "-primary", "-canary"] {
            services.push_str(&format!(
                "---\napiVersion: v1\nkind: Service\nmetadata: {{name: podinfo-{version}{suffix}}}\n\
                 spec: {{selector: {{app: podinfo-{version}{suffix}}}, ports: [{{port: 9898}}]}}\n"
            ));
        }
    }
    smi_testenv::apply_yaml(client, &services, Some(name), smi_testenv::ApplyMode::Apply)
        .await
        .unwrap();
    let istio = MeshChoice::Named("istio".into());
    let meshes = Meshes::new(
        vec![Arc::new(smi_bridge_istio::IstioBackend::default())],
        istio.clone(),
    )
    .unwrap();
    let mut config = OperatorConfig::new(istio, "flagger-test", name);
    config.namespace = Some(name.to_string());
    config.http_addr = None;
    let operator = Operator::new(client.clone(), config, meshes).await.unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(operator.run(stopped));
    let virtual_services: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        name,
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("networking.istio.io", "v1", "VirtualService"),
            "virtualservices",
        ),
    );
    for version in versions {
        let split_name = format!("podinfo-{version}");
        let weight = |w: i64| {
            if version == "v1alpha1" {
                json!(w.to_string())
            } else {
                json!(w)
            }
        };
        let spec = |primary: i64, canary: i64| {
            json!({"service": split_name, "backends": [
                {"service": format!("{split_name}-primary"), "weight": weight(primary)},
                {"service": format!("{split_name}-canary"), "weight": weight(canary)}]})
        };
        create(
            client,
            SmiKind::TrafficSplit,
            version,
            name,
            split(version, &split_name, spec(90, 10)),
        )
        .await;
        let at_version = api(client, SmiKind::TrafficSplit, version, name);
        for (primary, canary) in [(90, 10), (40, 60)] {
            if (primary, canary) != (90, 10) {
                // As Flagger does (retry.RetryOnConflict): the operator's status writes move
                // the resourceVersion between our read and our update.
                let mut attempts = 0;
                loop {
                    let mut current = value(&at_version.get(&split_name).await.unwrap());
                    current["spec"] = spec(primary, canary);
                    match at_version
                        .replace(&split_name, &PostParams::default(), &object(current))
                        .await
                    {
                        Ok(_) => break,
                        Err(kube::Error::Api(status)) if status.code == 409 && attempts < 5 => {
                            attempts += 1;
                        }
                        Err(e) => panic!("{version} update: {e}"),
                    }
                }
            }
            let vs_name = format!("smi-{split_name}");
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            loop {
                let weights: Option<Vec<i64>> = virtual_services
                    .get_opt(&vs_name)
                    .await
                    .unwrap()
                    .and_then(|vs| {
                        vs.data["spec"]["http"][0]["route"]
                            .as_array()
                            .map(|r| r.iter().filter_map(|d| d["weight"].as_i64()).collect())
                    });
                if weights.as_deref() == Some(&[primary, canary][..]) {
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "{version}: VirtualService {vs_name} weights {weights:?}, want {primary}/{canary}"
                );
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
    stop.send(true).unwrap();
    running.await.unwrap().unwrap();
}

/// How the API server refuses a row's object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum By {
    /// smi-bridge's validating webhook, with the shared validation's message.
    Webhook,
    /// The CRD's OpenAPI schema (the webhook is not reached); the shared validation refuses too.
    Schema,
}

/// One invalid-input rule: the versions it applies to, how each is refused, and the field the
/// message must name.
struct Rule {
    name: &'static str,
    kind: SmiKind,
    versions: &'static [&'static str],
    /// Versions where the CRD schema refuses first (the others reach the webhook).
    schema_versions: &'static [&'static str],
    /// What the API server's message (and the shared validation's) must contain.
    field: &'static str,
    build: fn(&str) -> Value,
}

const ALL_SPLIT: &[&str] = &["v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4"];
const MATCHED_SPLIT: &[&str] = &["v1alpha3", "v1alpha4"];
const ALL_TARGET: &[&str] = &["v1alpha1", "v1alpha2", "v1alpha3"];
const ALL_GROUP: &[&str] = &["v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4"];
const HEADER_GROUP: &[&str] = &["v1alpha2", "v1alpha3", "v1alpha4"];
const HUB_ONLY: &[&str] = &["v1alpha4"];
const NONE: &[&str] = &[];

fn bad_split(version: &str, service: &str, backends: Value, matches: Option<Value>) -> Value {
    let backends: Vec<Value> = backends
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            let mut b = b.clone();
            if version == "v1alpha1" && b["weight"].is_i64() {
                b["weight"] = json!(b["weight"].to_string());
            }
            b
        })
        .collect();
    let mut spec = json!({"service": service, "backends": backends});
    if let Some(matches) = matches {
        spec["matches"] = matches;
    }
    split(version, "bad", spec)
}

fn ok_backends() -> Value {
    json!([{"service": "v1", "weight": 1}])
}

fn target(version: &str, destination: Value, sources: Value, rules: Value) -> Value {
    let meta = json!({"name": "bad"});
    let api_version = format!("access.smi-spec.io/{version}");
    if version == "v1alpha1" {
        json!({"apiVersion": api_version, "kind": "TrafficTarget", "metadata": meta,
               "destination": destination, "sources": sources, "specs": rules})
    } else {
        json!({"apiVersion": api_version, "kind": "TrafficTarget", "metadata": meta,
               "spec": {"destination": destination, "sources": sources, "rules": rules}})
    }
}

fn sa(name: &str) -> Value {
    json!({"kind": "ServiceAccount", "name": name})
}

fn ok_sources() -> Value {
    json!([sa("client")])
}

fn ok_rules() -> Value {
    json!([{"kind": "HTTPRouteGroup", "name": "routes"}])
}

fn group(version: &str, matches: Value) -> Value {
    let api_version = format!("specs.smi-spec.io/{version}");
    let matches: Vec<Value> = matches
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let mut m = m.clone();
            if version == "v1alpha1" {
                // v1alpha1 requires both, and has no headers.
                m.as_object_mut().unwrap().remove("headers");
                m.as_object_mut()
                    .unwrap()
                    .entry("pathRegex")
                    .or_insert(json!("/"));
                m.as_object_mut()
                    .unwrap()
                    .entry("methods")
                    .or_insert(json!(["*"]));
            }
            m
        })
        .collect();
    if matches!(version, "v1alpha1" | "v1alpha2") {
        json!({"apiVersion": api_version, "kind": "HTTPRouteGroup", "metadata": {"name": "bad"}, "matches": matches})
    } else {
        json!({"apiVersion": api_version, "kind": "HTTPRouteGroup", "metadata": {"name": "bad"}, "spec": {"matches": matches}})
    }
}

fn ports(kind: &str, ports: Value) -> Value {
    json!({"apiVersion": "specs.smi-spec.io/v1alpha4", "kind": kind, "metadata": {"name": "bad"},
           "spec": {"matches": {"ports": ports}}})
}

fn annotated(mut object: Value, key: &str, value: &str) -> Value {
    object["metadata"]["annotations"] = json!({ key: value });
    object
}

fn tcp_route(version: &str) -> Value {
    let mut route = json!({"apiVersion": format!("specs.smi-spec.io/{version}"), "kind": "TCPRoute",
                           "metadata": {"name": "bad"}});
    if version == "v1alpha3" {
        route["spec"] = json!({});
    }
    route
}

fn rules() -> Vec<Rule> {
    use SmiKind::*;
    vec![
        Rule {
            name: "root service empty",
            kind: TrafficSplit,
            versions: ALL_SPLIT,
            schema_versions: NONE,
            field: "spec.service",
            build: |v| bad_split(v, "", ok_backends(), None),
        },
        Rule {
            name: "root service in another namespace",
            kind: TrafficSplit,
            versions: ALL_SPLIT,
            schema_versions: NONE,
            field: "spec.service",
            build: |v| bad_split(v, "web.other", ok_backends(), None),
        },
        Rule {
            name: "root service in another cluster domain",
            kind: TrafficSplit,
            versions: ALL_SPLIT,
            schema_versions: NONE,
            field: "spec.service",
            build: |v| bad_split(v, "web.x.svc.example.org", ok_backends(), None),
        },
        Rule {
            name: "root service not a DNS label",
            kind: TrafficSplit,
            versions: ALL_SPLIT,
            schema_versions: NONE,
            field: "spec.service",
            build: |v| bad_split(v, "Web_Root", ok_backends(), None),
        },
        Rule {
            name: "root service missing",
            kind: TrafficSplit,
            versions: ALL_SPLIT,
            schema_versions: ALL_SPLIT,
            field: "spec.service",
            build: |v| {
                split(
                    v,
                    "bad",
                    json!({"backends": [{"service": "v1", "weight": if v == "v1alpha1" { json!("1") } else { json!(1) }}]}),
                )
            },
        },
        Rule {
            name: "backend service empty",
            kind: TrafficSplit,
            versions: ALL_SPLIT,
            schema_versions: NONE,
            field: "spec.backends[1].service",
            build: |v| {
                bad_split(
                    v,
                    "web",
                    json!([{"service": "v1", "weight": 1}, {"service": "", "weight": 1}]),
                    None,
                )
            },
        },
        Rule {
            name: "backend in another namespace",
            kind: TrafficSplit,
            versions: ALL_SPLIT,
            schema_versions: NONE,
            field: "spec.backends[1].service",
            build: |v| {
                bad_split(
                    v,
                    "web",
                    json!([{"service": "v1", "weight": 1}, {"service": "v2.other", "weight": 1}]),
                    None,
                )
            },
        },
        Rule {
            name: "backend not a DNS label",
            kind: TrafficSplit,
            versions: ALL_SPLIT,
            schema_versions: NONE,
            field: "spec.backends[0].service",
            build: |v| bad_split(v, "web", json!([{"service": "V2", "weight": 1}]), None),
        },
        Rule {
            name: "backend listed twice",
            kind: TrafficSplit,
            versions: ALL_SPLIT,
            schema_versions: NONE,
            field: "spec.backends[1].service",
            build: |v| {
                bad_split(
                    v,
                    "web",
                    json!([{"service": "v1", "weight": 1}, {"service": "v1", "weight": 1}]),
                    None,
                )
            },
        },
        Rule {
            name: "no backends",
            kind: TrafficSplit,
            versions: ALL_SPLIT,
            schema_versions: NONE,
            field: "spec.backends is empty",
            build: |v| bad_split(v, "web", json!([]), None),
        },
        Rule {
            name: "zero total weight",
            kind: TrafficSplit,
            versions: ALL_SPLIT,
            schema_versions: NONE,
            field: "spec.backends: the weights sum to 0",
            build: |v| {
                bad_split(
                    v,
                    "web",
                    json!([{"service": "v1", "weight": 0}, {"service": "v2", "weight": 0}]),
                    None,
                )
            },
        },
        Rule {
            name: "negative weight",
            kind: TrafficSplit,
            versions: ALL_SPLIT,
            schema_versions: ALL_SPLIT,
            field: "spec.backends[0].weight",
            build: |v| bad_split(v, "web", json!([{"service": "v1", "weight": -1}]), None),
        },
        Rule {
            name: "fractional weight",
            kind: TrafficSplit,
            versions: &["v1alpha2", "v1alpha3", "v1alpha4"],
            schema_versions: &["v1alpha2", "v1alpha3", "v1alpha4"],
            field: "spec.backends[0].weight",
            build: |v| bad_split(v, "web", json!([{"service": "v1", "weight": 1.5}]), None),
        },
        Rule {
            name: "weight not a quantity",
            kind: TrafficSplit,
            versions: &["v1alpha1"],
            schema_versions: &["v1alpha1"],
            field: "spec.backends[0].weight",
            build: |v| bad_split(v, "web", json!([{"service": "v1", "weight": "ten"}]), None),
        },
        Rule {
            name: "weight finer than a milli-unit",
            kind: TrafficSplit,
            versions: &["v1alpha1"],
            schema_versions: NONE,
            field: "spec.backends[0].weight",
            build: |v| bad_split(v, "web", json!([{"service": "v1", "weight": "1u"}]), None),
        },
        Rule {
            name: "weight too large",
            kind: TrafficSplit,
            versions: &["v1alpha1"],
            schema_versions: NONE,
            field: "spec.backends[0].weight",
            build: |v| bad_split(v, "web", json!([{"service": "v1", "weight": "10E"}]), None),
        },
        Rule {
            name: "match kind",
            kind: TrafficSplit,
            versions: MATCHED_SPLIT,
            schema_versions: MATCHED_SPLIT,
            field: "spec.matches[0].kind",
            build: |v| {
                bad_split(
                    v,
                    "web",
                    ok_backends(),
                    Some(json!([{"kind": "Ingress", "name": "x"}])),
                )
            },
        },
        Rule {
            name: "match apiGroup",
            kind: TrafficSplit,
            versions: MATCHED_SPLIT,
            schema_versions: NONE,
            field: "spec.matches[0].apiGroup",
            build: |v| {
                bad_split(
                    v,
                    "web",
                    ok_backends(),
                    Some(
                        json!([{"kind": "HTTPRouteGroup", "name": "x", "apiGroup": "gateway.networking.k8s.io"}]),
                    ),
                )
            },
        },
        Rule {
            name: "match name empty",
            kind: TrafficSplit,
            versions: MATCHED_SPLIT,
            schema_versions: NONE,
            field: "spec.matches[0].name",
            build: |v| {
                bad_split(
                    v,
                    "web",
                    ok_backends(),
                    Some(json!([{"kind": "HTTPRouteGroup", "name": ""}])),
                )
            },
        },
        Rule {
            name: "matches annotation malformed",
            kind: TrafficSplit,
            versions: &["v1alpha1", "v1alpha2"],
            schema_versions: NONE,
            field: r#"metadata.annotations["split.smi-bridge.io/matches"]"#,
            build: |v| {
                annotated(
                    bad_split(v, "web", ok_backends(), None),
                    "split.smi-bridge.io/matches",
                    "not json",
                )
            },
        },
        Rule {
            name: "destination kind",
            kind: TrafficTarget,
            versions: ALL_TARGET,
            schema_versions: NONE,
            field: "spec.destination.kind",
            build: |v| {
                target(
                    v,
                    json!({"kind": "Group", "name": "api"}),
                    ok_sources(),
                    ok_rules(),
                )
            },
        },
        Rule {
            name: "destination in another namespace",
            kind: TrafficTarget,
            versions: ALL_TARGET,
            schema_versions: NONE,
            field: "spec.destination.namespace",
            build: |v| {
                target(
                    v,
                    json!({"kind": "ServiceAccount", "name": "api", "namespace": "vault"}),
                    ok_sources(),
                    ok_rules(),
                )
            },
        },
        Rule {
            name: "destination name empty",
            kind: TrafficTarget,
            versions: ALL_TARGET,
            schema_versions: NONE,
            field: "spec.destination.name",
            build: |v| target(v, sa(""), ok_sources(), ok_rules()),
        },
        Rule {
            name: "destination name invalid",
            kind: TrafficTarget,
            versions: ALL_TARGET,
            schema_versions: NONE,
            field: "spec.destination.name",
            build: |v| target(v, sa("API_Server"), ok_sources(), ok_rules()),
        },
        Rule {
            name: "destination port out of range",
            kind: TrafficTarget,
            versions: &["v1alpha1", "v1alpha2"],
            schema_versions: &["v1alpha1", "v1alpha2"],
            field: "destination.port",
            build: |v| {
                target(
                    v,
                    json!({"kind": "ServiceAccount", "name": "api", "port": 70000}),
                    ok_sources(),
                    ok_rules(),
                )
            },
        },
        Rule {
            name: "destination port annotation malformed",
            kind: TrafficTarget,
            versions: &["v1alpha3"],
            schema_versions: NONE,
            field: r#"metadata.annotations["access.smi-bridge.io/destination-port"]"#,
            build: |v| {
                annotated(
                    target(v, sa("api"), ok_sources(), ok_rules()),
                    "access.smi-bridge.io/destination-port",
                    "http",
                )
            },
        },
        Rule {
            name: "no sources",
            kind: TrafficTarget,
            versions: ALL_TARGET,
            schema_versions: &["v1alpha3"],
            field: "spec.sources",
            build: |v| target(v, sa("api"), json!([]), ok_rules()),
        },
        Rule {
            name: "no rules",
            kind: TrafficTarget,
            versions: ALL_TARGET,
            schema_versions: &["v1alpha3"],
            field: "spec.rules",
            build: |v| target(v, sa("api"), ok_sources(), json!([])),
        },
        Rule {
            name: "source kind",
            kind: TrafficTarget,
            versions: ALL_TARGET,
            schema_versions: NONE,
            field: "spec.sources[0].kind",
            build: |v| {
                target(
                    v,
                    sa("api"),
                    json!([{"kind": "User", "name": "alice"}]),
                    ok_rules(),
                )
            },
        },
        Rule {
            name: "source name empty",
            kind: TrafficTarget,
            versions: ALL_TARGET,
            schema_versions: NONE,
            field: "spec.sources[0].name",
            build: |v| target(v, sa("api"), json!([sa("")]), ok_rules()),
        },
        Rule {
            name: "source namespace invalid",
            kind: TrafficTarget,
            versions: ALL_TARGET,
            schema_versions: NONE,
            field: "spec.sources[0].namespace",
            build: |v| {
                target(
                    v,
                    sa("api"),
                    json!([{"kind": "ServiceAccount", "name": "c", "namespace": "Not_A_NS"}]),
                    ok_rules(),
                )
            },
        },
        Rule {
            name: "rule kind",
            kind: TrafficTarget,
            versions: ALL_TARGET,
            schema_versions: ALL_TARGET,
            field: "[0].kind",
            build: |v| {
                target(
                    v,
                    sa("api"),
                    ok_sources(),
                    json!([{"kind": "Ingress", "name": "x"}]),
                )
            },
        },
        Rule {
            name: "rule name empty",
            kind: TrafficTarget,
            versions: ALL_TARGET,
            schema_versions: NONE,
            field: "spec.rules[0].name",
            build: |v| {
                target(
                    v,
                    sa("api"),
                    ok_sources(),
                    json!([{"kind": "HTTPRouteGroup", "name": ""}]),
                )
            },
        },
        Rule {
            name: "rule matches on a TCPRoute",
            kind: TrafficTarget,
            versions: ALL_TARGET,
            schema_versions: NONE,
            field: "spec.rules[0].matches",
            build: |v| {
                target(
                    v,
                    sa("api"),
                    ok_sources(),
                    json!([{"kind": "TCPRoute", "name": "tcp", "matches": ["a"]}]),
                )
            },
        },
        Rule {
            name: "rule match name empty",
            kind: TrafficTarget,
            versions: ALL_TARGET,
            schema_versions: NONE,
            field: "spec.rules[0].matches[0]",
            build: |v| {
                target(
                    v,
                    sa("api"),
                    ok_sources(),
                    json!([{"kind": "HTTPRouteGroup", "name": "r", "matches": [""]}]),
                )
            },
        },
        Rule {
            name: "match name empty",
            kind: HTTPRouteGroup,
            versions: ALL_GROUP,
            schema_versions: NONE,
            field: "spec.matches[0].name",
            build: |v| group(v, json!([{"name": ""}])),
        },
        Rule {
            name: "match name listed twice",
            kind: HTTPRouteGroup,
            versions: ALL_GROUP,
            schema_versions: NONE,
            field: "spec.matches[1].name",
            build: |v| group(v, json!([{"name": "a"}, {"name": "a"}])),
        },
        Rule {
            name: "pathRegex does not compile",
            kind: HTTPRouteGroup,
            versions: ALL_GROUP,
            schema_versions: NONE,
            field: "spec.matches[0].pathRegex",
            build: |v| group(v, json!([{"name": "a", "pathRegex": "/api/(v1"}])),
        },
        Rule {
            name: "method unknown",
            kind: HTTPRouteGroup,
            versions: ALL_GROUP,
            schema_versions: ALL_GROUP,
            field: "methods[0]",
            build: |v| {
                group(
                    v,
                    json!([{"name": "a", "pathRegex": "/", "methods": ["FETCH"]}]),
                )
            },
        },
        Rule {
            name: "header name invalid",
            kind: HTTPRouteGroup,
            versions: HEADER_GROUP,
            schema_versions: NONE,
            field: "spec.matches[0].headers",
            build: |v| group(v, json!([{"name": "a", "headers": {"bad header": "x"}}])),
        },
        Rule {
            name: "header regex does not compile",
            kind: HTTPRouteGroup,
            versions: HEADER_GROUP,
            schema_versions: NONE,
            field: "spec.matches[0].headers.x-canary",
            build: |v| group(v, json!([{"name": "a", "headers": {"x-canary": "(true"}}])),
        },
        Rule {
            name: "header list entry with two names",
            kind: HTTPRouteGroup,
            versions: HEADER_GROUP,
            schema_versions: NONE,
            field: "matches[0].headers",
            build: |v| {
                group(
                    v,
                    json!([{"name": "a", "headers": [{"x-a": "1", "x-b": "2"}]}]),
                )
            },
        },
        Rule {
            name: "match headers annotation malformed",
            kind: HTTPRouteGroup,
            versions: &["v1alpha1"],
            schema_versions: NONE,
            field: r#"metadata.annotations["specs.smi-bridge.io/match-headers"]"#,
            build: |v| {
                annotated(
                    group(v, json!([{"name": "a"}])),
                    "specs.smi-bridge.io/match-headers",
                    "{",
                )
            },
        },
        Rule {
            name: "TCPRoute port out of range",
            kind: TCPRoute,
            versions: HUB_ONLY,
            schema_versions: NONE,
            field: "spec.matches.ports[1]",
            build: |_| ports("TCPRoute", json!([80, 70000])),
        },
        Rule {
            name: "TCPRoute port listed twice",
            kind: TCPRoute,
            versions: HUB_ONLY,
            schema_versions: NONE,
            field: "spec.matches.ports[1]",
            build: |_| ports("TCPRoute", json!([80, 80])),
        },
        Rule {
            name: "TCPRoute port zero",
            kind: TCPRoute,
            versions: HUB_ONLY,
            schema_versions: NONE,
            field: "spec.matches.ports[0]",
            build: |_| ports("TCPRoute", json!([0])),
        },
        Rule {
            name: "TCPRoute ports annotation malformed",
            kind: TCPRoute,
            versions: &["v1alpha1", "v1alpha2", "v1alpha3"],
            schema_versions: NONE,
            field: r#"metadata.annotations["specs.smi-bridge.io/tcproute-matches"]"#,
            build: |v| annotated(tcp_route(v), "specs.smi-bridge.io/tcproute-matches", "{bad"),
        },
        Rule {
            name: "TCPRoute annotated port out of range",
            kind: TCPRoute,
            versions: &["v1alpha1", "v1alpha2", "v1alpha3"],
            schema_versions: NONE,
            field: "spec.matches.ports[0]",
            build: |v| {
                annotated(
                    tcp_route(v),
                    "specs.smi-bridge.io/tcproute-matches",
                    r#"{"ports":[0]}"#,
                )
            },
        },
        Rule {
            name: "UDPRoute port out of range",
            kind: UDPRoute,
            versions: HUB_ONLY,
            schema_versions: NONE,
            field: "spec.matches.ports[0]",
            build: |_| ports("UDPRoute", json!([-53])),
        },
    ]
}

/// The message `smi-bridge render` gives for the object: the conversion error when it does not
/// load, else the Accepted=False message of translation.
fn render_message(object: &Value, kind: SmiKind, namespace: &str) -> String {
    let loaded = match load_objects([("table".to_owned(), object.clone())]) {
        Ok(loaded) => loaded,
        Err(error) => return error.message,
    };
    let translation = translate(&loaded.state, &TranslateOptions::default());
    let object = SmiRef::new(kind, namespace, "bad");
    let accepted = translation
        .report
        .statuses
        .get(&object)
        .and_then(|s| s.get(ConditionType::Accepted))
        .unwrap_or_else(|| panic!("no Accepted condition for {object}"));
    assert!(!accepted.status, "render accepted {object}");
    accepted.message.clone()
}

#[tokio::test]
async fn invalid_input_is_refused_with_the_field_and_the_shared_message() {
    let env = require_env!();
    let ns = env.namespace("invalid").await.unwrap();
    let client = ns.client();
    webhooks(env, client, ns.name()).await;
    let rules = rules();
    let distinct: std::collections::BTreeSet<(SmiKind, &str)> =
        rules.iter().map(|r| (r.kind, r.field)).collect();
    assert!(
        rules.len() >= 30 && distinct.len() >= 30,
        "{} rules, {} distinct fields",
        rules.len(),
        distinct.len()
    );
    let mut failures = Vec::new();
    let mut tried: BTreeMap<&str, usize> = BTreeMap::new();
    for rule in &rules {
        for version in rule.versions {
            *tried.entry(rule.name).or_default() += 1;
            let what = format!("{} ({} {version})", rule.name, rule.kind);
            let mut object_value = (rule.build)(version);
            object_value["metadata"]["namespace"] = json!(ns.name());
            // The shared validation refuses, naming the field.
            let shared = match check_value(&object_value, ns.name(), "cluster.local") {
                Ok(_) => {
                    failures.push(format!("{what}: the shared validation accepts it"));
                    continue;
                }
                Err(violations) => Violation::join(&violations),
            };
            if !shared.contains(rule.field) {
                failures.push(format!(
                    "{what}: the shared message does not name `{}`: {shared}",
                    rule.field
                ));
            }
            let by = if rule.schema_versions.contains(version) {
                By::Schema
            } else {
                By::Webhook
            };
            if by == By::Webhook {
                let rendered = render_message(&object_value, rule.kind, ns.name());
                if rendered != shared {
                    failures.push(format!(
                        "{what}: render says `{rendered}`, the webhook `{shared}`"
                    ));
                }
            }
            let created = api(client, rule.kind, version, ns.name())
                .create(&PostParams::default(), &object(object_value.clone()))
                .await;
            let message = match created {
                Ok(_) => {
                    failures.push(format!("{what}: the API server accepted it"));
                    api(client, rule.kind, version, ns.name())
                        .delete("bad", &Default::default())
                        .await
                        .ok();
                    continue;
                }
                Err(kube::Error::Api(status)) if (400..500).contains(&status.code) => {
                    status.message
                }
                Err(error) => {
                    failures.push(format!("{what}: unexpected error {error}"));
                    continue;
                }
            };
            if !message.contains(rule.field) {
                failures.push(format!(
                    "{what}: the API server's message does not name `{}`: {message}",
                    rule.field
                ));
            }
            let from_webhook = message.contains(smi_webhook::admission::WEBHOOK_NAME);
            match by {
                By::Webhook if !(from_webhook && message.contains(&shared)) => {
                    failures.push(format!(
                        "{what}: expected the webhook's shared message `{shared}`, got: {message}"
                    ))
                }
                By::Schema if from_webhook => failures.push(format!(
                    "{what}: expected the schema to refuse first, got: {message}"
                )),
                _ => {}
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!(
        "{} rules, {} (rule, version) cases refused",
        rules.len(),
        tried.values().sum::<usize>()
    );
}

//! The Consul backend's own decisions: the service model, weights, identities, namespaces and
//! what it reports instead of widening.

use serde_json::{Value, json};
use smi_bridge_consul::validate::validate;
use smi_bridge_consul::{
    CONNECT_SERVICE, ConsulBackend, ConsulEvaluator, ConsulOptions, IdentityMapping, NamespaceMode,
    SERVICE_IGNORE,
};
use smi_translate::oracle::{Evaluator, Request, case_input, load_cases};
use smi_translate::report::ConditionType;
use smi_translate::{Identity, NativeObject, ObjectKey, Rendered, TranslateOptions, render};

fn deployment(ns: &str, name: &str, sa: &str, labels: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
           "spec": {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels},
           "spec": {"serviceAccountName": sa, "containers": [{"name": "app", "image": "app", "ports": [{"containerPort": 8080}]}]}}}})
}

fn service(ns: &str, name: &str, selector: Value, ignored: bool) -> Value {
    let labels = if ignored {
        json!({SERVICE_IGNORE: "true"})
    } else {
        json!({})
    };
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns, "labels": labels},
           "spec": {"selector": selector, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}})
}

fn split(ns: &str, root: &str, backends: &[(&str, u64)], matches: Option<&str>) -> Value {
    let backends: Vec<Value> = backends
        .iter()
        .map(|(s, w)| json!({"service": s, "weight": w}))
        .collect();
    let mut spec = json!({"service": root, "backends": backends});
    if let Some(group) = matches {
        spec["matches"] = json!([{"kind": "HTTPRouteGroup", "name": group}]);
    }
    json!({"apiVersion": "split.smi-spec.io/v1alpha4", "kind": "TrafficSplit", "metadata": {"name": root, "namespace": ns}, "spec": spec})
}

fn target(ns: &str, name: &str, destination: &str, source: (&str, &str), rules: Value) -> Value {
    json!({"apiVersion": "access.smi-spec.io/v1alpha3", "kind": "TrafficTarget", "metadata": {"name": name, "namespace": ns},
           "spec": {"destination": {"kind": "ServiceAccount", "name": destination},
                    "sources": [{"kind": "ServiceAccount", "name": source.1, "namespace": source.0}], "rules": rules}})
}

fn canonical(labelled: bool) -> Vec<Value> {
    vec![
        deployment(
            "shop",
            "web-v1",
            "web",
            json!({"app": "web", "version": "v1"}),
        ),
        deployment(
            "shop",
            "web-v2",
            "web",
            json!({"app": "web", "version": "v2"}),
        ),
        deployment("shop", "client", "client", json!({"app": "client"})),
        service("shop", "web", json!({"app": "web"}), false),
        service(
            "shop",
            "web-v1",
            json!({"app": "web", "version": "v1"}),
            labelled,
        ),
        service(
            "shop",
            "web-v2",
            json!({"app": "web", "version": "v2"}),
            labelled,
        ),
    ]
}

struct Run {
    state: smi_translate::ClusterState,
    rendered: Rendered,
    options: ConsulOptions,
}

fn run_with(objects: Vec<Value>, options: ConsulOptions) -> Run {
    let input =
        smi_translate::input::load_objects(objects.into_iter().map(|o| ("test".to_string(), o)))
            .unwrap();
    let rendered = render(
        &input.state,
        &ConsulBackend::new(options.clone()),
        &TranslateOptions::default(),
    );
    let problems = validate(&rendered.objects, &options.namespaces);
    assert!(problems.is_empty(), "{problems:?}");
    Run {
        state: input.state,
        rendered,
        options,
    }
}

fn run(objects: Vec<Value>) -> Run {
    run_with(objects, ConsulOptions::default())
}

impl Run {
    fn object(&self, kind: &str, name: &str) -> &NativeObject {
        self.rendered
            .objects
            .iter()
            .find(|o| o.kind == kind && o.name == name)
            .unwrap_or_else(|| panic!("no {kind} {name} in {:#?}", self.rendered.objects))
    }

    fn spec(&self, kind: &str, name: &str) -> Value {
        self.object(kind, name).spec().cloned().unwrap()
    }

    fn programmed(&self, kind: &str, ns: &str, name: &str) -> (bool, String, String) {
        let object = self
            .rendered
            .report
            .statuses
            .iter()
            .find(|(r, _)| r.kind.as_str() == kind && r.key == ObjectKey::new(ns, name))
            .map(|(_, s)| s)
            .unwrap();
        let c = object.get(ConditionType::Programmed).unwrap();
        (c.status, c.reason.clone(), c.message.clone())
    }

    fn request(
        &self,
        from: &str,
        to: &str,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Vec<(String, f64, bool)> {
        let (from_ns, sa) = from.split_once('/').unwrap();
        let (to_ns, svc) = to.split_once('/').unwrap();
        let request = Request {
            from: Identity::new(from_ns, sa),
            to: ObjectKey::new(to_ns, svc),
            port: 80,
            method: method.to_string(),
            path: path.to_string(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let outcome = ConsulEvaluator::new(self.options.clone())
            .evaluate(&self.state, &self.rendered.objects, &request)
            .unwrap();
        outcome
            .deliveries
            .into_iter()
            .map(|(k, (share, allowed))| (k, share, allowed))
            .collect()
    }
}

#[test]
fn a_labelled_ab_split_is_programmed_and_routes_as_smi_says() {
    let mut objects = canonical(true);
    objects.push(json!({"apiVersion": "specs.smi-spec.io/v1alpha4", "kind": "HTTPRouteGroup", "metadata": {"name": "beta", "namespace": "shop"},
                        "spec": {"matches": [{"name": "beta", "headers": {"x-beta": "yes"}}]}}));
    objects.push(split(
        "shop",
        "web",
        &[("web-v1", 1), ("web-v2", 3)],
        Some("beta"),
    ));
    let run = run(objects);
    let (programmed, reason, message) = run.programmed("TrafficSplit", "shop", "web");
    assert!(programmed, "{reason}: {message}");
    let beta = run.request("shop/client", "shop/web", "GET", "/", &[("X-Beta", "yes")]);
    assert_eq!(
        beta,
        vec![("web-v1".into(), 0.25, true), ("web-v2".into(), 0.75, true)]
    );
    assert_eq!(
        run.request("shop/client", "shop/web", "GET", "/", &[]),
        vec![("web".into(), 1.0, true)]
    );
    // The virtual backends stay addressable by name.
    assert_eq!(
        run.request("shop/client", "shop/web-v2", "GET", "/", &[]),
        vec![("web-v2".into(), 1.0, true)]
    );
    let routes = run.spec("ServiceRouter", "web")["routes"].clone();
    assert_eq!(
        routes[1],
        json!({"destination": {"service": "web", "serviceSubset": "web"}})
    );
}

#[test]
fn unlabelled_backends_are_a_service_model_conflict() {
    let mut objects = canonical(false);
    objects.push(split("shop", "web", &[("web-v1", 1), ("web-v2", 1)], None));
    let (programmed, reason, message) = run(objects).programmed("TrafficSplit", "shop", "web");
    assert!(!programmed);
    assert_eq!(reason, "ServiceModelConflict");
    assert!(
        message.contains("label the backend Service `web-v1`"),
        "{message}"
    );
}

/// Names the Consul service of a Deployment's pods with the connect-service annotation.
fn annotate_connect_service(objects: &mut [Value], deployment: &str, value: &str) {
    let template = objects
        .iter_mut()
        .find(|o| o["kind"] == "Deployment" && o["metadata"]["name"] == deployment)
        .map(|o| &mut o["spec"]["template"]["metadata"])
        .unwrap();
    template["annotations"] = json!({CONNECT_SERVICE: value});
}

#[test]
fn pods_naming_another_consul_service_are_a_service_model_conflict() {
    let mut objects = canonical(true);
    objects.push(split("shop", "web", &[("web-v1", 1), ("web-v2", 1)], None));
    // Agreeing with the registering Service (also in a multi-port list) changes nothing.
    annotate_connect_service(&mut objects, "web-v1", "web");
    annotate_connect_service(&mut objects, "web-v2", "web-admin, web");
    let (programmed, reason, message) =
        run(objects.clone()).programmed("TrafficSplit", "shop", "web");
    assert!(programmed, "{reason}: {message}");

    // The virtual backend web-v2 is registered under the root `web`, whatever its own name.
    annotate_connect_service(&mut objects, "web-v2", "web-v2");
    let (programmed, reason, message) = run(objects).programmed("TrafficSplit", "shop", "web");
    assert!(!programmed);
    assert_eq!(reason, "ServiceModelConflict");
    assert!(
        message.contains("`shop/web-v2` name their Consul service `web-v2`")
            && message.contains("set the annotation to `web` or remove it"),
        "{message}"
    );
}

#[test]
fn a_destination_naming_another_consul_service_is_a_service_model_conflict() {
    let rules = json!([{"kind": "TCPRoute", "name": "all"}]);
    let mut objects = single_destination(rules, vec![tcp_route()]);
    annotate_connect_service(&mut objects, "api", "payments");
    let (programmed, reason, message) = run(objects).programmed("TrafficTarget", "bank", "api");
    assert!(!programmed);
    assert_eq!(reason, "ServiceModelConflict");
    assert!(message.contains("`payments`"), "{message}");
}

#[test]
fn weights_are_percentages_with_two_decimals() {
    let mut objects = canonical(true);
    objects.push(split(
        "shop",
        "web",
        &[("web-v1", 1), ("web-v2", 999)],
        None,
    ));
    let run = run(objects);
    let splits = run.spec("ServiceSplitter", "web")["splits"].clone();
    assert_eq!(splits[0]["weight"], json!(0.1));
    assert_eq!(splits[1]["weight"], json!(99.9));
    let shares = run.request("shop/client", "shop/web", "GET", "/", &[]);
    assert!((shares[0].1 - 0.001).abs() < 1e-9, "{shares:?}");
}

#[test]
fn a_backend_with_pods_inside_and_outside_the_root_is_not_expressible() {
    let mut objects = canonical(true);
    objects.push(deployment(
        "shop",
        "other",
        "web",
        json!({"app": "other", "version": "v2"}),
    ));
    objects.push(service("shop", "wide", json!({"version": "v2"}), false));
    objects.push(split("shop", "web", &[("web-v1", 1), ("wide", 1)], None));
    let run = run(objects);
    let (programmed, reason, message) = run.programmed("TrafficSplit", "shop", "web");
    assert!(
        !programmed && reason == "NotExpressible",
        "{reason}: {message}"
    );
    assert!(
        run.rendered
            .objects
            .iter()
            .all(|o| o.kind != "ServiceSplitter")
    );
}

#[test]
fn pods_that_pod_names_cannot_tell_apart_are_not_expressible() {
    let mut objects = vec![
        deployment(
            "shop",
            "web",
            "web",
            json!({"app": "web", "track": "stable"}),
        ),
        service("shop", "root", json!({"app": "web"}), false),
        service("shop", "stable", json!({"track": "stable"}), true),
    ];
    // A DaemonSet `web-v1` has pods named `web-v1-xxxxx`, which look like pods of Deployment `web`.
    objects.push(json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "web-v1", "namespace": "shop"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "a", "image": "a"}]}}}}));
    objects.push(split("shop", "root", &[("stable", 1)], None));
    let (programmed, reason, message) = run(objects).programmed("TrafficSplit", "shop", "root");
    assert!(!programmed && reason == "NotExpressible", "{reason}");
    assert!(message.contains("cannot be told apart"), "{message}");
}

fn two_namespaces() -> Vec<Value> {
    let mut objects = Vec::new();
    for ns in ["bank", "shop"] {
        objects.push(deployment(ns, "api", "api", json!({"app": "api"})));
        objects.push(deployment(
            ns,
            "frontend",
            "frontend",
            json!({"app": "frontend"}),
        ));
        objects.push(service(ns, "api", json!({"app": "api"}), false));
    }
    objects.push(json!({"apiVersion": "specs.smi-spec.io/v1alpha4", "kind": "TCPRoute", "metadata": {"name": "all", "namespace": "bank"}, "spec": {"matches": {"ports": []}}}));
    objects.push(target(
        "bank",
        "api",
        "api",
        ("bank", "frontend"),
        json!([{"kind": "TCPRoute", "name": "all"}]),
    ));
    objects
}

#[test]
fn consul_without_namespaces_merges_same_named_services_so_they_deny_everything() {
    let run = run(two_namespaces());
    let (programmed, reason, message) = run.programmed("TrafficTarget", "bank", "api");
    assert!(!programmed && reason == "Conflict", "{reason}: {message}");
    assert_eq!(
        run.spec("ServiceIntentions", "api")["sources"],
        json!([{"name": "*", "action": "deny"}])
    );
    assert_eq!(
        run.request("bank/frontend", "bank/api", "GET", "/", &[]),
        vec![("api".into(), 1.0, false)]
    );
}

#[test]
fn mirrored_namespaces_keep_them_apart() {
    let options = ConsulOptions::new(
        NamespaceMode::Mirroring {
            prefix: "k8s-".into(),
        },
        IdentityMapping::default(),
    );
    let run = run_with(two_namespaces(), options);
    assert!(run.programmed("TrafficTarget", "bank", "api").0);
    let spec = run.spec("ServiceIntentions", "api");
    assert_eq!(
        spec["destination"],
        json!({"name": "api", "namespace": "k8s-bank"})
    );
    assert_eq!(
        spec["sources"],
        json!([{"name": "frontend", "namespace": "k8s-bank", "action": "allow"}, {"name": "*", "namespace": "*", "action": "deny"}])
    );
    assert_eq!(
        run.request("bank/frontend", "bank/api", "GET", "/", &[]),
        vec![("api".into(), 1.0, true)]
    );
    assert_eq!(
        run.request("shop/frontend", "bank/api", "GET", "/", &[]),
        vec![("api".into(), 1.0, false)]
    );
    assert_eq!(
        run.request("shop/frontend", "shop/api", "GET", "/", &[]),
        vec![("api".into(), 1.0, true)]
    );
}

fn single_destination(rules: Value, extra: Vec<Value>) -> Vec<Value> {
    let mut objects = vec![
        deployment("bank", "api", "api-sa", json!({"app": "api"})),
        deployment("bank", "frontend", "frontend", json!({"app": "frontend"})),
        service("bank", "api", json!({"app": "api"}), false),
        target("bank", "api", "api-sa", ("bank", "frontend"), rules),
    ];
    objects.extend(extra);
    objects
}

fn http_group() -> Value {
    json!({"apiVersion": "specs.smi-spec.io/v1alpha4", "kind": "HTTPRouteGroup", "metadata": {"name": "reads", "namespace": "bank"},
           "spec": {"matches": [{"name": "reads", "pathRegex": "/a|/b", "methods": ["GET"]}]}})
}

fn tcp_route() -> Value {
    json!({"apiVersion": "specs.smi-spec.io/v1alpha4", "kind": "TCPRoute", "metadata": {"name": "all", "namespace": "bank"}, "spec": {"matches": {"ports": []}}})
}

#[test]
fn identities_map_to_the_services_of_their_pods_or_to_their_names() {
    let rules = json!([{"kind": "TCPRoute", "name": "all"}]);
    let by_service = run(single_destination(rules.clone(), vec![tcp_route()]));
    assert_eq!(
        by_service.spec("ServiceIntentions", "api")["destination"],
        json!({"name": "api"})
    );
    let options = ConsulOptions::new(NamespaceMode::Disabled, IdentityMapping::ServiceAccountName);
    let by_name = run_with(single_destination(rules, vec![tcp_route()]), options);
    assert_eq!(
        by_name.spec("ServiceIntentions", "api-sa")["destination"],
        json!({"name": "api-sa"})
    );
}

#[test]
fn l7_sources_end_with_a_deny_and_an_l4_allow_becomes_a_final_allow() {
    let http = json!([{"kind": "HTTPRouteGroup", "name": "reads"}]);
    let run_l7 = run(single_destination(http, vec![http_group()]));
    let permissions = run_l7.spec("ServiceIntentions", "api")["sources"][0]["permissions"].clone();
    assert_eq!(
        permissions,
        json!([{"action": "allow", "http": {"pathRegex": "(?:/a|/b).*", "methods": ["GET"]}},
               {"action": "deny", "http": {"pathPrefix": "/"}}])
    );
    assert_eq!(
        run_l7.spec("ServiceDefaults", "api"),
        json!({"protocol": "http"})
    );
    assert_eq!(
        run_l7.request("bank/frontend", "bank/api", "GET", "/a/1", &[]),
        vec![("api".into(), 1.0, true)]
    );
    assert_eq!(
        run_l7.request("bank/frontend", "bank/api", "POST", "/a/1", &[]),
        vec![("api".into(), 1.0, false)]
    );
    let both =
        json!([{"kind": "HTTPRouteGroup", "name": "reads"}, {"kind": "TCPRoute", "name": "all"}]);
    let run_both = run(single_destination(both, vec![http_group(), tcp_route()]));
    let source = run_both.spec("ServiceIntentions", "api")["sources"][0].clone();
    assert!(source.get("action").is_none(), "{source}");
    assert_eq!(
        source["permissions"][1],
        json!({"action": "allow", "http": {"pathPrefix": "/"}})
    );
    assert_eq!(
        run_both.request("bank/frontend", "bank/api", "POST", "/x", &[]),
        vec![("api".into(), 1.0, true)]
    );
}

#[test]
fn udp_rules_are_not_supported() {
    let udp = json!({"apiVersion": "specs.smi-spec.io/v1alpha4", "kind": "UDPRoute", "metadata": {"name": "dns", "namespace": "bank"}, "spec": {"matches": {"ports": []}}});
    let run = run(single_destination(
        json!([{"kind": "UDPRoute", "name": "dns"}]),
        vec![udp],
    ));
    let (programmed, reason, _) = run.programmed("TrafficTarget", "bank", "api");
    assert!(!programmed && reason == "NotSupported");
    assert_eq!(
        run.spec("ServiceIntentions", "api")["sources"],
        json!([{"name": "*", "action": "deny"}])
    );
}

#[test]
fn a_destination_no_service_registers_is_reported() {
    let mut objects = single_destination(
        json!([{"kind": "TCPRoute", "name": "all"}]),
        vec![tcp_route()],
    );
    objects.retain(|o| o["kind"] != "Service");
    let (programmed, reason, _) = run(objects).programmed("TrafficTarget", "bank", "api");
    assert!(!programmed && reason == "IdentityNotMapped");
}

#[test]
fn a_source_name_shared_across_namespaces_is_left_out() {
    let mut objects = single_destination(
        json!([{"kind": "TCPRoute", "name": "all"}]),
        vec![tcp_route()],
    );
    objects.push(deployment(
        "shop",
        "frontend",
        "frontend",
        json!({"app": "frontend"}),
    ));
    let run = run(objects);
    let (programmed, reason, message) = run.programmed("TrafficTarget", "bank", "api");
    assert!(!programmed && reason == "Conflict", "{message}");
    assert_eq!(
        run.spec("ServiceIntentions", "api")["sources"],
        json!([{"name": "*", "action": "deny"}])
    );
}

#[test]
fn every_case_renders_objects_consul_accepts() {
    for case in load_cases().expect("the case table loads") {
        let input = case_input(&case).expect("the case loads");
        for options in [
            ConsulOptions::default(),
            ConsulOptions::new(
                NamespaceMode::Mirroring {
                    prefix: String::new(),
                },
                IdentityMapping::ServiceAccountName,
            ),
        ] {
            let backend = ConsulBackend::new(options.clone());
            let first = render(&input.state, &backend, &TranslateOptions::default());
            let problems = validate(&first.objects, &options.namespaces);
            assert!(problems.is_empty(), "case `{}`: {problems:?}", case.name);
            let again = render(&input.state.clone(), &backend, &TranslateOptions::default());
            assert_eq!(
                first, again,
                "case `{}` renders differently twice",
                case.name
            );
        }
    }
}

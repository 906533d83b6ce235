//! Access situations the shared case table does not cover, checked with Linkerd's evaluator and
//! on the findings: selectors that must leave other identities' pods out, what Linkerd cannot
//! enforce, overlapping rules, probes, large rule sets and releases without policy.

use serde_json::{Value, json};
use smi_bridge_linkerd::validate::server_conflicts;
use smi_bridge_linkerd::{LinkerdBackend, LinkerdEvaluator, LinkerdOptions};
use smi_translate::keys::{Identity, ObjectKey};
use smi_translate::oracle::{Evaluator, Request};
use smi_translate::state::ClusterState;
use smi_translate::{
    ConditionSpec, ConditionType, NativeObject, Rendered, TranslateOptions, render,
};

fn deployment(name: &str, sa: &str, labels: Value, ports: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "bank"},
        "spec": {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels},
        "spec": {"serviceAccountName": sa, "containers": [{"name": "app", "image": "example/app", "ports": ports}]}}}})
}

fn service(name: &str, selector: Value, ports: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "bank"}, "spec": {"selector": selector, "ports": ports}})
}

fn target(name: &str, source: &str, rules: Value) -> Value {
    json!({"apiVersion": "access.smi-spec.io/v1alpha3", "kind": "TrafficTarget", "metadata": {"name": name, "namespace": "bank"},
        "spec": {"destination": {"kind": "ServiceAccount", "name": "api"}, "sources": [{"kind": "ServiceAccount", "name": source, "namespace": "bank"}], "rules": rules}})
}

fn group(name: &str, matches: Value) -> Value {
    json!({"apiVersion": "specs.smi-spec.io/v1alpha4", "kind": "HTTPRouteGroup", "metadata": {"name": name, "namespace": "bank"}, "spec": {"matches": matches}})
}

fn all_tcp() -> Value {
    json!({"apiVersion": "specs.smi-spec.io/v1alpha4", "kind": "TCPRoute", "metadata": {"name": "all", "namespace": "bank"}, "spec": {"matches": {"ports": []}}})
}

/// The api destination (pod port 8080, Service port 80) plus `extra`.
fn scenario(extra: Vec<Value>) -> Vec<Value> {
    let mut objects = vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bank"}}),
        deployment(
            "api",
            "api",
            json!({"app": "api"}),
            json!([{"containerPort": 8080}]),
        ),
        service(
            "api",
            json!({"app": "api"}),
            json!([{"name": "http", "port": 80, "targetPort": 8080}]),
        ),
    ];
    objects.extend(extra);
    objects
}

/// No two objects of one API group and kind share a name (the later would overwrite the other).
fn assert_unique_names(objects: &[NativeObject]) {
    let mut names: Vec<(&str, &str, &str, &str)> = objects
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
    assert_eq!(names.len(), count, "objects share a name: {names:?}");
}

struct Rendering {
    state: ClusterState,
    rendered: Rendered,
    options: LinkerdOptions,
}

impl Rendering {
    fn new(objects: Vec<Value>, options: LinkerdOptions) -> Self {
        let input = smi_translate::input::load_objects(
            objects.into_iter().map(|o| ("test".to_string(), o)),
        )
        .expect("objects load");
        let rendered = render(
            &input.state,
            &LinkerdBackend::new(options.clone()),
            &TranslateOptions::default(),
        );
        let conflicts =
            server_conflicts(&input.state, &rendered.objects).expect("Servers are well-formed");
        assert!(conflicts.is_empty(), "{conflicts:?}");
        assert_unique_names(&rendered.objects);
        Rendering {
            state: input.state,
            rendered,
            options,
        }
    }

    fn allowed(&self, from: &str, to: &str, port: u16, method: &str, path: &str) -> bool {
        let request = Request {
            from: Identity::new("bank", from),
            to: ObjectKey::new("bank", to),
            port,
            method: method.to_string(),
            path: path.to_string(),
            headers: Default::default(),
        };
        let evaluator = LinkerdEvaluator::new(&self.options, &TranslateOptions::default());
        let outcome = evaluator
            .evaluate(&self.state, &self.rendered.objects, &request)
            .expect("evaluates");
        outcome
            .deliveries
            .get(to)
            .expect("delivered to the Service")
            .1
    }

    fn programmed(&self, kind: &str, name: &str) -> ConditionSpec {
        let (_, status) = self
            .rendered
            .report
            .statuses
            .iter()
            .find(|(r, _)| r.kind.as_str() == kind && r.key.name == name)
            .expect("the object has a status");
        status
            .get(ConditionType::Programmed)
            .expect("Programmed is set")
            .clone()
    }

    fn names(&self, kind: &str) -> Vec<&str> {
        self.rendered
            .objects
            .iter()
            .filter(|o| o.kind == kind)
            .map(|o| o.name.as_str())
            .collect()
    }
}

#[test]
fn servers_leave_out_other_identities_pods_with_more_labels() {
    let r = Rendering::new(
        scenario(vec![
            deployment(
                "admin",
                "admin",
                json!({"app": "api", "role": "admin"}),
                json!([{"containerPort": 8080}]),
            ),
            service(
                "admin",
                json!({"role": "admin"}),
                json!([{"port": 80, "targetPort": 8080}]),
            ),
            all_tcp(),
            target(
                "api",
                "frontend",
                json!([{"kind": "TCPRoute", "name": "all"}]),
            ),
        ]),
        LinkerdOptions::default(),
    );
    assert!(r.allowed("frontend", "api", 80, "GET", "/"));
    assert!(!r.allowed("intruder", "api", 80, "GET", "/"));
    assert!(
        r.allowed("intruder", "admin", 80, "GET", "/"),
        "admin's pods are not api's"
    );
    assert!(r.programmed("TrafficTarget", "api").status);
}

#[test]
fn pods_with_exactly_another_identitys_labels_are_reported() {
    let r = Rendering::new(
        scenario(vec![
            deployment(
                "twin",
                "twin",
                json!({"app": "api"}),
                json!([{"containerPort": 8080}]),
            ),
            all_tcp(),
            target(
                "api",
                "frontend",
                json!([{"kind": "TCPRoute", "name": "all"}]),
            ),
        ]),
        LinkerdOptions::default(),
    );
    let programmed = r.programmed("TrafficTarget", "api");
    assert_eq!(programmed.reason, "AmbiguousSelector", "{programmed:?}");
    assert!(
        programmed.message.contains("Deployment twin"),
        "{}",
        programmed.message
    );
    assert!(r.names("Server").is_empty());
}

#[test]
fn udp_is_reported_not_supported() {
    let r = Rendering::new(
        vec![
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bank"}}),
            deployment(
                "api",
                "api",
                json!({"app": "api"}),
                json!([{"containerPort": 8080}, {"containerPort": 53, "protocol": "UDP"}]),
            ),
            json!({"apiVersion": "specs.smi-spec.io/v1alpha4", "kind": "UDPRoute", "metadata": {"name": "dns", "namespace": "bank"}, "spec": {"matches": {"ports": [53]}}}),
            target(
                "dns",
                "frontend",
                json!([{"kind": "UDPRoute", "name": "dns"}]),
            ),
        ],
        LinkerdOptions::default(),
    );
    let programmed = r.programmed("TrafficTarget", "dns");
    assert_eq!(programmed.reason, "NotSupported");
    assert!(
        programmed.message.contains("does not proxy UDP") && programmed.message.contains("53/UDP"),
        "{}",
        programmed.message
    );
    assert_eq!(r.names("Server"), vec!["api-8080"]);
}

#[test]
fn rules_that_overlap_without_covering_each_other_are_reported() {
    let r = Rendering::new(
        scenario(vec![
            group(
                "reports",
                json!([{"name": "reports", "pathRegex": "/reports", "methods": ["GET"]}]),
            ),
            group("v1", json!([{"name": "v1", "pathRegex": "/[a-z]+/v1"}])),
            target(
                "reports",
                "frontend",
                json!([{"kind": "HTTPRouteGroup", "name": "reports"}]),
            ),
            target(
                "v1",
                "batch",
                json!([{"kind": "HTTPRouteGroup", "name": "v1"}]),
            ),
        ]),
        LinkerdOptions::default(),
    );
    for name in ["reports", "v1"] {
        let programmed = r.programmed("TrafficTarget", name);
        assert_eq!(
            programmed.reason, "NotExpressible",
            "{name}: {programmed:?}"
        );
        assert!(
            programmed.message.contains("may match the same requests"),
            "{}",
            programmed.message
        );
    }
    assert!(r.allowed("frontend", "api", 80, "GET", "/reports/2024"));
    assert!(r.allowed("batch", "api", 80, "POST", "/orders/v1"));
}

#[test]
fn http_rules_on_an_opaque_port_named_explicitly_are_reported() {
    let r = Rendering::new(
        vec![
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bank"}}),
            deployment(
                "api",
                "api",
                json!({"app": "api"}),
                json!([{"name": "tcp-db", "containerPort": 5432}]),
            ),
            group("everything", json!([{"name": "all"}])),
            json!({"apiVersion": "access.smi-spec.io/v1alpha2", "kind": "TrafficTarget", "metadata": {"name": "db", "namespace": "bank"},
                "spec": {"destination": {"kind": "ServiceAccount", "name": "api", "namespace": "bank", "port": 5432}, "sources": [{"kind": "ServiceAccount", "name": "frontend", "namespace": "bank"}], "rules": [{"kind": "HTTPRouteGroup", "name": "everything"}]}}),
        ],
        LinkerdOptions::default(),
    );
    let programmed = r.programmed("TrafficTarget", "db");
    assert_eq!(programmed.reason, "NotExpressible", "{programmed:?}");
    assert!(
        programmed.message.contains("opaque"),
        "{}",
        programmed.message
    );
    assert!(r.names("HTTPRoute").is_empty());
}

#[test]
fn probe_paths_get_a_route_for_the_probe_networks() {
    let options = LinkerdOptions {
        probe_paths: vec!["/healthz".to_string()],
        ..LinkerdOptions::default()
    };
    let r = Rendering::new(
        scenario(vec![
            group("everything", json!([{"name": "all", "pathRegex": ".*"}])),
            group(
                "reports",
                json!([{"name": "reports", "pathRegex": "/reports"}]),
            ),
            target(
                "all",
                "monitor",
                json!([{"kind": "HTTPRouteGroup", "name": "everything"}]),
            ),
            target(
                "reports",
                "frontend",
                json!([{"kind": "HTTPRouteGroup", "name": "reports"}]),
            ),
        ]),
        options,
    );
    assert_eq!(
        r.names("HTTPRoute"),
        vec![
            "all-api-8080-http",
            "api-8080-probes",
            "reports-api-8080-http"
        ]
    );
    assert_eq!(r.names("NetworkAuthentication"), vec!["api-probes"]);
    // Probes are authorised for every client in the probe networks, as Linkerd's own probe route is.
    assert!(r.allowed("kubelet", "api", 80, "GET", "/healthz"));
    assert!(!r.allowed("kubelet", "api", 80, "GET", "/reports"));
    // The probe route outranks the others for its paths: sources whose rules cover it keep access.
    assert!(r.allowed("monitor", "api", 80, "GET", "/healthz"));
}

#[test]
fn the_pods_own_http_probes_get_a_probe_route_without_configuration() {
    let mut objects = scenario(vec![
        group(
            "reports",
            json!([{"name": "reports", "pathRegex": "/reports"}]),
        ),
        target(
            "reports",
            "frontend",
            json!([{"kind": "HTTPRouteGroup", "name": "reports"}]),
        ),
    ]);
    // The api Deployment probes its own port by name, with a readiness and a liveness probe.
    objects[1]["spec"]["template"]["spec"]["containers"][0]["ports"] =
        json!([{"name": "http", "containerPort": 8080}]);
    objects[1]["spec"]["template"]["spec"]["containers"][0]["readinessProbe"] =
        json!({"httpGet": {"port": "http", "path": "/ready"}});
    objects[1]["spec"]["template"]["spec"]["containers"][0]["livenessProbe"] =
        json!({"httpGet": {"port": 8080, "path": "/live"}});
    let r = Rendering::new(objects, LinkerdOptions::default());
    assert_eq!(
        r.names("HTTPRoute"),
        vec!["api-8080-probes", "reports-api-8080-http"]
    );
    assert!(r.allowed("kubelet", "api", 80, "GET", "/ready"));
    assert!(r.allowed("kubelet", "api", 80, "GET", "/live"));
    assert!(!r.allowed("kubelet", "api", 80, "GET", "/reports"));
    assert!(r.allowed("frontend", "api", 80, "GET", "/reports"));
}

#[test]
fn rules_beyond_one_routes_limits_are_split_into_several_routes() {
    let matches: Vec<Value> = (0..20)
        .map(|i| json!({"name": format!("m{i}"), "pathRegex": format!("/p{i}"), "methods": ["GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"]}))
        .collect();
    let r = Rendering::new(
        scenario(vec![
            group("many", json!(matches)),
            target(
                "many",
                "frontend",
                json!([{"kind": "HTTPRouteGroup", "name": "many"}]),
            ),
        ]),
        LinkerdOptions::default(),
    );
    assert_eq!(
        r.names("HTTPRoute"),
        vec!["many-api-8080-http", "many-api-8080-http-2"]
    );
    assert_eq!(
        r.names("AuthorizationPolicy"),
        vec!["many-api-8080-http", "many-api-8080-http-2"]
    );
    assert!(r.allowed("frontend", "api", 80, "PATCH", "/p19/x"));
    assert!(!r.allowed("frontend", "api", 80, "TRACE", "/p19/x"));
    assert!(r.programmed("TrafficTarget", "many").status);
}

#[test]
fn a_target_with_tcp_and_http_rules_on_one_port() {
    let r = Rendering::new(
        scenario(vec![
            all_tcp(),
            group(
                "reports",
                json!([{"name": "reports", "pathRegex": "/reports"}]),
            ),
            target(
                "api",
                "frontend",
                json!([{"kind": "HTTPRouteGroup", "name": "reports"}]),
            ),
            target(
                "batch",
                "batch",
                json!([{"kind": "TCPRoute", "name": "all"}, {"kind": "HTTPRouteGroup", "name": "reports"}]),
            ),
        ]),
        LinkerdOptions::default(),
    );
    assert_eq!(
        r.names("AuthorizationPolicy"),
        vec![
            "api-api-8080-http",
            "api-batch-api-8080-http",
            "batch-api-8080",
            "batch-api-8080-http",
            "batch-api-api-8080-http",
        ]
    );
    assert!(r.allowed("batch", "api", 80, "DELETE", "/anything"));
    assert!(r.allowed("batch", "api", 80, "tcp", "/"));
    assert!(r.allowed("frontend", "api", 80, "GET", "/reports"));
    assert!(!r.allowed("frontend", "api", 80, "GET", "/other"));
}

#[test]
fn releases_without_authorization_policy_report_every_traffic_target() {
    let r = Rendering::new(
        scenario(vec![
            all_tcp(),
            target(
                "api",
                "frontend",
                json!([{"kind": "TCPRoute", "name": "all"}]),
            ),
        ]),
        LinkerdOptions::for_release(11),
    );
    assert!(r.rendered.objects.is_empty());
    let programmed = r.programmed("TrafficTarget", "api");
    assert_eq!(programmed.reason, "NotSupported");
    assert!(
        programmed.message.contains("2.12"),
        "{}",
        programmed.message
    );
}

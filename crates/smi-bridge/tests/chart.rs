//! The Helm chart `charts/smi-bridge`: `helm lint --strict` passes; `helm template` renders for
//! the default values and a few variants, and everything it renders is accepted by a real API
//! server (`kubectl apply --dry-run=server`, with our CRDs and a minimal cert-manager CRD set
//! installed); the RBAC it grants is exactly `smi_operator::rbac::rules` for the meshes and
//! backend options in the rendered Deployment's arguments (plus the webhooks' CA injection);
//! the ValidatingWebhookConfiguration matches `smi_webhook::admission::webhook_configuration`.
//!
//! Then an install for real: the rendered objects are applied, and the Deployment's own container
//! arguments run `smi-bridge run` as the chart's ServiceAccount (a minted user with that name), so
//! the chart's RBAC, flags and probe paths are what the operator actually gets: it must serve
//! /readyz, translate a TrafficSplit, report a broken one with an Event, keep its webhook certificate in the Secret, inject the CA
//! bundle, and never be refused a request.
//!
//! It lives in the smi-bridge package because `CARGO_BIN_EXE_smi-bridge` is only set for the
//! tests of the package that builds the binary.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::rbac::v1::PolicyRule;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, ServiceReference, WebhookClientConfig,
};
use kube::Api;
use kube::api::{DynamicObject, ListParams};
use serde_json::{Value, json};
use smi_bridge::backends::{BackendArgs, Mesh};
use smi_operator::watch::native_resource;
use smi_operator::{MeshChoice, Meshes};
use smi_testenv::fixtures::WEB_CANARY;
use smi_testenv::{
    ApplyMode, TestEnv, apply_yaml, install_smi_crds, install_upstream, parse_documents, repo_root,
};
use smi_translate::{Backend, NativeKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;

const TIMEOUT: Duration = Duration::from_secs(30);

const NAMESPACE: &str = "smi-bridge";

/// Value sets rendered and applied: (name, `--set` arguments).
const VARIANTS: &[(&str, &[&str])] = &[
    ("defaults", &[]),
    ("cert-manager", &["webhook.certManager.enabled=true"]),
    (
        "istio only",
        &["meshes={istio}", "mesh=istio", "istio.strictMtls=true"],
    ),
    (
        "webhook disabled",
        &["webhook.enabled=false", "replicaCount=1"],
    ),
    (
        "linkerd serviceprofile, gamma with TCPRoute",
        &[
            "meshes={linkerd,gamma}",
            "linkerd.routing=serviceprofile",
            "gatewayApi.tcpRoute=v1alpha2",
        ],
    ),
    ("linkerd 2.13", &["meshes={linkerd}", "linkerd.release=13"]),
    (
        "consul",
        &["meshes={consul}", "consul.namespaceMirroringPrefix="],
    ),
];

/// A minimal cert-manager: the two CRDs the chart uses, with schemas that accept anything (the
/// real ones are large; this checks the chart's apiVersion/kind/scope, not cert-manager's spec).
const CERT_MANAGER_CRDS: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: certificates.cert-manager.io}
spec:
  group: cert-manager.io
  scope: Namespaced
  names: {kind: Certificate, plural: certificates, singular: certificate, listKind: CertificateList}
  versions:
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: issuers.cert-manager.io}
spec:
  group: cert-manager.io
  scope: Namespaced
  names: {kind: Issuer, plural: issuers, singular: issuer, listKind: IssuerList}
  versions:
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
"#;

fn chart_dir() -> String {
    repo_root().join("charts/smi-bridge").display().to_string()
}

async fn template(env: &TestEnv, namespace: &str, sets: &[&str]) -> smi_testenv::Result<String> {
    let chart = chart_dir();
    let mut args = vec![
        "template",
        "smi-bridge",
        chart.as_str(),
        "--namespace",
        namespace,
    ];
    for set in sets {
        args.extend(["--set", set]);
    }
    env.helm(&args).await
}

/// The documents `helm template` renders for `sets` in namespace smi-bridge.
async fn rendered_documents(env: &TestEnv, variant: &str, sets: &[&str]) -> (String, Vec<Value>) {
    let rendered = template(env, NAMESPACE, sets)
        .await
        .unwrap_or_else(|e| panic!("{variant}: helm template fails: {e}"));
    let documents = parse_documents(&rendered, variant)
        .expect("rendered YAML parses")
        .into_iter()
        .filter(|d| !d.is_null())
        .collect();
    (rendered, documents)
}

/// Creates the release namespace unless it exists (the control plane is shared by this file's
/// tests).
async fn create_release_namespace(env: &TestEnv) {
    if env
        .kubectl(&["get", "namespace", NAMESPACE], None)
        .await
        .is_err()
    {
        let _ = env.kubectl(&["create", "namespace", NAMESPACE], None).await;
    }
}

fn of_kind<'a>(documents: &'a [Value], kind: &str) -> Vec<&'a Value> {
    documents.iter().filter(|d| d["kind"] == kind).collect()
}

/// The backend flags of `smi-bridge run`, parsed from the rendered arguments.
#[derive(Parser)]
struct BackendFlags {
    #[command(flatten)]
    backend: BackendArgs,
}

/// The Deployment's `--meshes` and backend options, as `smi-bridge run` would parse them.
fn deployment_meshes(documents: &[Value]) -> (Vec<Mesh>, BackendArgs) {
    let deployments = of_kind(documents, "Deployment");
    assert_eq!(deployments.len(), 1, "one Deployment");
    let args: Vec<String> = deployments[0]["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("string arg").to_owned())
        .collect();
    let meshes: Vec<Mesh> = args
        .iter()
        .find_map(|a| a.strip_prefix("--meshes="))
        .expect("--meshes")
        .split(',')
        .map(|m| Mesh::from_name(m).expect("known mesh"))
        .collect();
    let backend_flags = ["--istio-", "--linkerd-", "--gateway-", "--consul-"];
    let flags = std::iter::once("smi-bridge".to_owned()).chain(
        args.iter()
            .filter(|a| backend_flags.iter().any(|p| a.starts_with(p)))
            .cloned(),
    );
    let parsed = BackendFlags::try_parse_from(flags).expect("the backend flags parse");
    (meshes, parsed.backend)
}

type Grant = (String, String, String);

fn grants(rules: &[PolicyRule]) -> BTreeSet<Grant> {
    let mut out = BTreeSet::new();
    for rule in rules {
        for group in rule.api_groups.iter().flatten() {
            for resource in rule.resources.iter().flatten() {
                for verb in &rule.verbs {
                    out.insert((group.clone(), resource.clone(), verb.clone()));
                }
            }
        }
    }
    out
}

fn rendered_rules(document: &Value) -> Vec<PolicyRule> {
    serde_json::from_value(document["rules"].clone()).expect("rules parse")
}

fn grant(group: &str, resource: &str, verb: &str) -> Grant {
    (group.to_owned(), resource.to_owned(), verb.to_owned())
}

/// The ClusterRole plus Role grant exactly what the operator computes for the rendered flags,
/// plus the CA injection with generated certificates; the Lease rule is in the Role.
fn check_rbac(variant: &str, documents: &[Value], generated_tls: bool) -> Vec<String> {
    let mut problems = Vec::new();
    let (meshes, backend_args) = deployment_meshes(documents);
    let backends: Vec<Arc<dyn Backend>> = meshes
        .iter()
        .map(|m| Arc::from(backend_args.build(*m)))
        .collect();
    let operator = Meshes::new(backends, MeshChoice::Auto).expect("meshes");
    let mut expected = grants(&smi_operator::rbac::rules(
        &operator.native_kinds(),
        &operator.claim_kinds(),
    ));
    let lease: BTreeSet<Grant> = ["get", "create", "patch"]
        .into_iter()
        .map(|v| grant("coordination.k8s.io", "leases", v))
        .collect();
    expected.retain(|g| !lease.contains(g));
    let mut role_expected = lease;
    if generated_tls {
        expected.insert(grant(
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            "patch",
        ));
        for verb in ["get", "patch"] {
            expected.insert(grant(
                "admissionregistration.k8s.io",
                "validatingwebhookconfigurations",
                verb,
            ));
        }
        for verb in ["get", "create", "update"] {
            role_expected.insert(grant("", "secrets", verb));
        }
    }
    for (kind, expected) in [("ClusterRole", expected), ("Role", role_expected)] {
        let objects = of_kind(documents, kind);
        if objects.len() != 1 {
            problems.push(format!("{variant}: {} {kind}s, expected 1", objects.len()));
            continue;
        }
        let actual = grants(&rendered_rules(objects[0]));
        for missing in expected.difference(&actual) {
            problems.push(format!("{variant}: {kind} lacks {missing:?}"));
        }
        for extra in actual.difference(&expected) {
            problems.push(format!(
                "{variant}: {kind} grants more than needed: {extra:?}"
            ));
        }
    }
    problems
}

/// The rendered ValidatingWebhookConfiguration is the webhook crate's, but for failurePolicy
/// and timeoutSeconds (values, defaulting to the crate's) and labels/annotations.
fn check_webhook_configuration(variant: &str, documents: &[Value]) -> Vec<String> {
    let configurations = of_kind(documents, "ValidatingWebhookConfiguration");
    let [rendered] = configurations.as_slice() else {
        return vec![format!(
            "{variant}: {} ValidatingWebhookConfigurations",
            configurations.len()
        )];
    };
    let rendered: ValidatingWebhookConfiguration =
        serde_json::from_value((*rendered).clone()).expect("webhook configuration parses");
    let expected = smi_webhook::admission::webhook_configuration(WebhookClientConfig {
        service: Some(ServiceReference {
            name: "smi-bridge-webhook".into(),
            namespace: NAMESPACE.into(),
            path: None,
            port: Some(443),
        }),
        ..WebhookClientConfig::default()
    });
    let mut problems = Vec::new();
    if rendered.metadata.name != expected.metadata.name {
        problems.push(format!("{variant}: name {:?}", rendered.metadata.name));
    }
    if rendered.webhooks != expected.webhooks {
        problems.push(format!(
            "{variant}: webhooks differ from smi_webhook::admission::webhook_configuration:\n\
             rendered {:#?}\nexpected {:#?}",
            rendered.webhooks, expected.webhooks
        ));
    }
    problems
}

#[tokio::test]
async fn chart_lints_renders_applies_and_grants_the_operators_rbac() {
    let env = smi_testenv::require_env!();
    let client = env.client().await.expect("client");
    let chart = chart_dir();

    env.helm(&["lint", "--strict", chart.as_str(), "--namespace", NAMESPACE])
        .await
        .expect("helm lint --strict passes");

    // Any other namespace fails with a message naming the required one.
    match template(env, "default", &[]).await {
        Ok(_) => panic!("helm template in namespace default must fail"),
        Err(e) => assert!(
            e.to_string()
                .contains("must be installed in namespace smi-bridge"),
            "unexpected error: {e}"
        ),
    }

    install_smi_crds(&client).await.expect("SMI CRDs install");
    env.kubectl(&["apply", "-f", "-"], Some(CERT_MANAGER_CRDS.as_bytes()))
        .await
        .expect("cert-manager CRDs install");
    env.kubectl(
        &[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/certificates.cert-manager.io",
            "crd/issuers.cert-manager.io",
        ],
        None,
    )
    .await
    .expect("cert-manager CRDs established");
    create_release_namespace(env).await;

    let mut problems = Vec::new();
    for (variant, sets) in VARIANTS {
        let (rendered, documents) = rendered_documents(env, variant, sets).await;
        let kinds: BTreeSet<&str> = documents
            .iter()
            .filter_map(|d| d["kind"].as_str())
            .collect();
        let webhook = !sets.contains(&"webhook.enabled=false");
        let cert_manager = sets.contains(&"webhook.certManager.enabled=true");
        for kind in [
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
            "Deployment",
            "Service",
        ] {
            if !kinds.contains(kind) {
                problems.push(format!("{variant}: no {kind}"));
            }
        }
        for (kind, wanted) in [
            ("ValidatingWebhookConfiguration", webhook),
            ("Certificate", cert_manager),
            ("Issuer", cert_manager),
            ("PodDisruptionBudget", webhook),
        ] {
            if kinds.contains(kind) != wanted {
                problems.push(format!("{variant}: {kind} rendered: {}", !wanted));
            }
        }
        problems.extend(check_rbac(variant, &documents, webhook && !cert_manager));
        if webhook {
            problems.extend(check_webhook_configuration(variant, &documents));
        }
        if let Err(e) = env
            .kubectl(
                &["apply", "--dry-run=server", "-n", NAMESPACE, "-f", "-"],
                Some(rendered.as_bytes()),
            )
            .await
        {
            problems.push(format!("{variant}: the API server refuses the chart: {e}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// What the installed operator translates: a canary split, and one naming a missing Service.
const SPLITS: &str = "\
apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata: {name: web-split}
spec: {service: web, backends: [{service: web-v1, weight: 90}, {service: web-v2, weight: 10}]}
---
apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata: {name: broken-split}
spec: {service: web-v1, backends: [{service: missing, weight: 1}]}
";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free loopback port")
}

/// The HTTP status of `GET path` on the loopback `port`, if it answers.
async fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    response.split_whitespace().nth(1)?.parse().ok()
}

async fn wait_for<F, Fut>(what: &str, log: &std::path::Path, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < TIMEOUT,
            "{what}: not within {TIMEOUT:?}; the operator's log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The Deployment's container arguments, with the listening addresses moved to free loopback
/// ports (returned: http, webhook) because this test runs the container's command on the host.
fn container_args(documents: &[Value]) -> (Vec<String>, u16, u16) {
    let deployments = of_kind(documents, "Deployment");
    let container = &deployments[0]["spec"]["template"]["spec"]["containers"][0];
    let (http, webhook) = (free_port(), free_port());
    let mut moved = (false, false);
    let args = container["args"]
        .as_array()
        .expect("container args")
        .iter()
        .map(|arg| {
            let arg = arg.as_str().expect("string arg");
            if arg.starts_with("--http-addr=") {
                moved.0 = true;
                format!("--http-addr=127.0.0.1:{http}")
            } else if arg.starts_with("--webhook-addr=") {
                moved.1 = true;
                format!("--webhook-addr=127.0.0.1:{webhook}")
            } else {
                arg.to_owned()
            }
        })
        .collect();
    assert_eq!(moved, (true, true), "the chart sets both addresses");
    (args, http, webhook)
}

/// A probe's path and port name in the rendered container.
fn probe_path(documents: &[Value], probe: &str) -> String {
    let deployments = of_kind(documents, "Deployment");
    let container = &deployments[0]["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container[probe]["httpGet"]["port"], "http", "{probe} port");
    container[probe]["httpGet"]["path"]
        .as_str()
        .unwrap_or_else(|| panic!("{probe} has an HTTP path"))
        .to_owned()
}

#[tokio::test]
async fn an_install_from_the_chart_runs_the_operator_under_the_charts_rbac() {
    let env = smi_testenv::require_env!();
    let audit = env.audit_log().expect("the audit log is on");
    let admin = env.client().await.expect("client");
    install_smi_crds(&admin).await.expect("SMI CRDs install");
    install_upstream(&admin, smi_testenv::Mesh::Istio)
        .await
        .expect("Istio CRDs install");
    create_release_namespace(env).await;

    let variant = "istio install";
    let (_, documents) = rendered_documents(
        env,
        variant,
        &["meshes={istio}", "mesh=istio", "replicaCount=1"],
    )
    .await;
    // Everything but the ValidatingWebhookConfiguration: it names a Service the API server
    // cannot reach from this host (the first test compares it with the webhook crate's).
    let installed: Vec<Value> = documents
        .iter()
        .filter(|d| d["kind"] != "ValidatingWebhookConfiguration")
        .cloned()
        .collect();
    let list = json!({"apiVersion": "v1", "kind": "List", "items": installed});
    env.kubectl(
        &["apply", "--server-side", "-n", NAMESPACE, "-f", "-"],
        Some(list.to_string().as_bytes()),
    )
    .await
    .expect("the chart's objects install");

    let service_accounts = of_kind(&documents, "ServiceAccount");
    let account = service_accounts[0]["metadata"]["name"]
        .as_str()
        .expect("the ServiceAccount's name");
    let user = env
        .mint_user(
            &format!("system:serviceaccount:{NAMESPACE}:{account}"),
            &[
                "system:serviceaccounts",
                &format!("system:serviceaccounts:{NAMESPACE}"),
            ],
        )
        .expect("a user for the ServiceAccount");
    let (args, http_port, _) = container_args(&documents);
    let logs = tempfile::tempdir().expect("a log directory");
    let log_path = logs.path().join("smi-bridge.log");
    let log = std::fs::File::create(&log_path).expect("a log file");
    let mut operator = Command::new(env!("CARGO_BIN_EXE_smi-bridge"))
        .args(&args)
        .arg("--kubeconfig")
        .arg(user.kubeconfig_path())
        .env("POD_NAME", "smi-bridge-chart-test")
        .env("POD_NAMESPACE", NAMESPACE)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("smi-bridge run starts");

    let ns = env.namespace("chart").await.expect("a test namespace");
    apply_yaml(
        ns.client(),
        &format!("{WEB_CANARY}---\n{SPLITS}"),
        Some(ns.name()),
        ApplyMode::Apply,
    )
    .await
    .expect("the workloads and the TrafficSplit");

    for probe in ["livenessProbe", "readinessProbe"] {
        let path = probe_path(&documents, probe);
        wait_for(
            &format!("{probe} {path} answers 200"),
            &log_path,
            || async { http_status(http_port, &path).await == Some(200) },
        )
        .await;
    }
    let virtual_services: Api<DynamicObject> = Api::namespaced_with(
        admin.clone(),
        ns.name(),
        &native_resource(&NativeKind::new(
            "networking.istio.io",
            "v1",
            "VirtualService",
            "virtualservices",
        )),
    );
    wait_for(
        "the TrafficSplit becomes a VirtualService",
        &log_path,
        || async {
            let Ok(list) = virtual_services.list(&ListParams::default()).await else {
                return false;
            };
            list.items.iter().any(|vs| {
                vs.data
                    .pointer("/spec/http/0/route")
                    .and_then(Value::as_array)
                    .map(|routes| routes.iter().filter_map(|r| r["weight"].as_i64()).collect())
                    == Some(vec![90, 10])
            })
        },
    )
    .await;
    // A TrafficSplit naming a missing Service is reported with a Warning Event.
    let events: Api<Event> = Api::namespaced(admin.clone(), ns.name());
    wait_for("a Warning Event for broken-split", &log_path, || async {
        events.list(&ListParams::default()).await.is_ok_and(|list| {
            list.items.iter().any(|event| {
                event.type_.as_deref() == Some("Warning")
                    && event.regarding.as_ref().and_then(|r| r.name.as_deref())
                        == Some("broken-split")
            })
        })
    })
    .await;
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), NAMESPACE);
    let crds: Api<CustomResourceDefinition> = Api::all(admin.clone());
    wait_for(
        "the webhook certificate is kept in its Secret and its CA injected into the CRDs",
        &log_path,
        || async {
            let secret = secrets
                .get_opt("smi-bridge-webhook-tls")
                .await
                .ok()
                .flatten();
            let crd = crds
                .get_opt("trafficsplits.split.smi-spec.io")
                .await
                .ok()
                .flatten();
            let injected = crd
                .and_then(|crd| crd.spec.conversion)
                .and_then(|conversion| conversion.webhook)
                .and_then(|webhook| webhook.client_config)
                .and_then(|config| config.ca_bundle)
                .is_some_and(|bundle| !bundle.0.is_empty());
            secret.is_some() && injected
        },
    )
    .await;

    // Every request the operator made so far is in the audit log once a later marker is.
    let marker = format!("chart-marker-{}", ns.name());
    let _ = Api::<ConfigMap>::namespaced(admin.clone(), ns.name())
        .get_opt(&marker)
        .await;
    let requests = audit
        .wait_for(TIMEOUT, |e| e.request_uri.contains(&marker))
        .await
        .expect("the marker in the audit log");
    let refused: Vec<String> = requests
        .iter()
        .filter(|e| e.user.username == user.name() && e.code() == 403)
        .map(|e| format!("{} {}", e.verb, e.request_uri))
        .collect();
    assert_eq!(
        refused,
        Vec::<String>::new(),
        "the chart's RBAC refused the operator"
    );
    assert!(
        requests
            .iter()
            .any(|e| e.user.username == user.name() && e.is_write()),
        "the operator wrote nothing as the ServiceAccount"
    );

    let pid = operator.id().expect("the operator is running");
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let exit = tokio::time::timeout(TIMEOUT, operator.wait())
        .await
        .expect("the operator stops on SIGTERM")
        .expect("its exit status");
    assert!(
        exit.success(),
        "exit {exit}; log:\n{}",
        std::fs::read_to_string(&log_path).unwrap_or_default()
    );
}

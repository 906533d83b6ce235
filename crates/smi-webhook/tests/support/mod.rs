//! Shared by the test binaries: a webhook server reachable from the test API server at
//! `https://127.0.0.1:<port>`, SMI objects through the dynamic API, and waiting helpers.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::WebhookClientConfig;
use kube::Client;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};
use smi_api::SmiKind;
use smi_testenv::{CertificateAuthority, TestEnv};
use smi_webhook::admission::{self, ApiLookup};
use smi_webhook::{FileTls, TlsSource, WebhookConfig, WebhookMetrics, WebhookServer};

/// A webhook server running on its own thread and runtime, for the whole test binary.
pub struct RunningWebhook {
    pub address: SocketAddr,
    pub ca_pem: String,
    pub metrics: WebhookMetrics,
}

impl RunningWebhook {
    /// The client config the CRDs use (conversion path); the admission config derives from it.
    pub fn client_config(&self) -> WebhookClientConfig {
        client_config(self.address, &self.ca_pem)
    }
}

pub fn client_config(address: SocketAddr, ca_pem: &str) -> WebhookClientConfig {
    WebhookClientConfig {
        url: Some(format!(
            "https://{address}{}",
            smi_webhook::conversion::PATH
        )),
        ca_bundle: Some(ByteString(ca_pem.as_bytes().to_vec())),
        service: None,
    }
}

/// Starts a webhook server with certificates from files issued by a throw-away CA, on a thread
/// of its own (tests each have their own runtime; the server must outlive them).
pub fn start_file_webhook(env: &'static TestEnv) -> RunningWebhook {
    let ca = CertificateAuthority::new("smi-webhook-test-ca").expect("a CA");
    let cert = ca
        .issue_server(&["127.0.0.1"])
        .expect("a serving certificate");
    let dir = env
        .dir()
        .join(format!("webhook-tls-{}", smi_testenv::unique_name("w")));
    std::fs::create_dir_all(&dir).expect("the certificate directory");
    std::fs::write(dir.join("tls.crt"), &cert.cert_pem).expect("tls.crt");
    std::fs::write(dir.join("tls.key"), &cert.key_pem).expect("tls.key");
    let metrics = WebhookMetrics::default();
    let server_metrics = metrics.clone();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            let client = env.client().await.expect("a client");
            let config = WebhookConfig {
                references: Some(Arc::new(ApiLookup::new(client, Duration::from_secs(2)))),
                metrics: server_metrics,
                ..WebhookConfig::new(
                    SocketAddr::from(([127, 0, 0, 1], 0)),
                    TlsSource::Files(FileTls::in_dir(&dir)),
                )
            };
            let server = WebhookServer::bind(config)
                .await
                .expect("the webhook binds");
            sender
                .send(server.local_addr().expect("an address"))
                .expect("the test waits");
            server.run(std::future::pending()).await;
        });
    });
    let address = receiver
        .recv_timeout(Duration::from_secs(30))
        .expect("the webhook server started");
    RunningWebhook {
        address,
        ca_pem: ca.cert_pem().to_owned(),
        metrics,
    }
}

/// Installs smi-bridge's CRDs (over any existing ones) and the ValidatingWebhookConfiguration,
/// both calling `config`, and waits until the API server uses them.
pub async fn install_webhooks(client: &Client, config: &WebhookClientConfig, namespace: &str) {
    smi_webhook::migrate::take_over(client, &smi_webhook::migrate::crds(config))
        .await
        .expect("the CRDs install");
    let configuration = admission::webhook_configuration(config.clone());
    Api::<ValidatingWebhookConfiguration>::all(client.clone())
        .patch(
            admission::CONFIGURATION_NAME,
            &PatchParams::apply("smi-webhook-tests").force(),
            &Patch::Apply(&configuration),
        )
        .await
        .expect("the ValidatingWebhookConfiguration installs");
    wait_for_webhooks(client, namespace).await;
}

/// Waits until an invalid object at a non-storage version is refused by the validating webhook
/// and a valid one is converted and stored.
pub async fn wait_for_webhooks(client: &Client, namespace: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let api = api(client, SmiKind::TrafficSplit, "v1alpha2", namespace);
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let invalid = object(split(
        "v1alpha2",
        "probe",
        json!({"service": "web", "backends": []}),
    ));
    let valid = object(split(
        "v1alpha2",
        "probe",
        json!({"service": "web", "backends": [{"service": "v1", "weight": 1}]}),
    ));
    loop {
        let refused = matches!(
            api.create(&dry_run, &invalid).await,
            Err(kube::Error::Api(status)) if status.message.contains(admission::WEBHOOK_NAME)
        );
        if refused && api.create(&dry_run, &valid).await.is_ok() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the webhooks did not take effect within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The dynamic API of an SMI kind at `version` in `namespace`.
pub fn api(client: &Client, kind: SmiKind, version: &str, namespace: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk(kind.group(), version, kind.as_str());
    let resource = ApiResource::from_gvk_with_plural(&gvk, &admission::plural(kind));
    Api::namespaced_with(client.clone(), namespace, &resource)
}

pub fn object(value: Value) -> DynamicObject {
    serde_json::from_value(value).expect("a Kubernetes object")
}

pub fn value(object: &DynamicObject) -> Value {
    serde_json::to_value(object).expect("serializable")
}

/// A TrafficSplit at `version` named `name` with `spec`.
pub fn split(version: &str, name: &str, spec: Value) -> Value {
    json!({"apiVersion": format!("split.smi-spec.io/{version}"), "kind": "TrafficSplit",
           "metadata": {"name": name}, "spec": spec})
}

/// Creates an object; panics with the API server's message when refused.
pub async fn create(
    client: &Client,
    kind: SmiKind,
    version: &str,
    namespace: &str,
    object_value: Value,
) -> DynamicObject {
    api(client, kind, version, namespace)
        .create(&PostParams::default(), &object(object_value.clone()))
        .await
        .unwrap_or_else(|e| panic!("creating {kind} at {version} failed: {e}\n{object_value:#}"))
}

/// The user-visible content of an object: everything but metadata (other than labels and
/// annotations) and status.
pub fn content(object: &Value) -> Value {
    let mut content = object.clone();
    if let Some(map) = content.as_object_mut() {
        map.remove("status");
        let metadata = map.remove("metadata").unwrap_or(Value::Null);
        let mut kept = serde_json::Map::new();
        for key in ["labels", "annotations"] {
            if let Some(value) = metadata.get(key) {
                kept.insert(key.to_owned(), value.clone());
            }
        }
        map.insert("metadata".to_owned(), Value::Object(kept));
    }
    content
}

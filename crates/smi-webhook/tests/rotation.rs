//! Generated TLS: two replicas converge on one Secret, and the CA rotates twice (with the
//! serving certificate) while requests that need both webhooks run without a single failure and
//! without restarting anything.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;
use smi_api::SmiKind;
use smi_testenv::require_env;
use smi_webhook::inject::InjectionTargets;
use smi_webhook::rotation::{CA_BUNDLE, CA_CRT, PHASE_ANNOTATION};
use smi_webhook::{
    GeneratedTls, RotationPolicy, TlsSource, WebhookConfig, WebhookMetrics, WebhookServer,
};
use support::{api, object, split};
use tokio::sync::watch;

fn policy() -> RotationPolicy {
    RotationPolicy {
        ca_validity: Duration::from_secs(12),
        ca_renew_before: Duration::from_secs(7),
        cert_validity: Duration::from_secs(12),
        cert_renew_before: Duration::from_secs(4),
        propagation_delay: Duration::from_secs(1),
        overlap: Duration::from_secs(2),
        check_interval: Duration::from_millis(250),
    }
}

/// Requests that need the conversion webhook (writes and reads at v1alpha1/v1alpha2) and the
/// validating webhook (an invalid object must be refused: with `failurePolicy: Ignore`, a TLS
/// failure would let it in).
async fn load(
    client: Client,
    namespace: String,
    worker: usize,
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicUsize>,
) -> Vec<String> {
    let mut failures = Vec::new();
    let v1 = api(&client, SmiKind::TrafficSplit, "v1alpha1", &namespace);
    let v2 = api(&client, SmiKind::TrafficSplit, "v1alpha2", &namespace);
    let hub = api(&client, SmiKind::TrafficSplit, "v1alpha4", &namespace);
    let invalid = object(split(
        "v1alpha2",
        "invalid",
        json!({"service": "web", "backends": []}),
    ));
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let name = format!("load-{worker}-{i}");
        let valid = object(split(
            "v1alpha1",
            &name,
            json!({"service": "web",
            "backends": [{"service": "v1", "weight": "500m"}, {"service": "v2", "weight": "1"}]}),
        ));
        let mut step = |what: &str, result: Result<(), String>| match result {
            Ok(()) => {
                ok.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => failures.push(format!("{what} {name}: {e}")),
        };
        step(
            "create at v1alpha1",
            v1.create(&PostParams::default(), &valid)
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
        );
        step(
            "read at v1alpha2",
            v2.get(&name).await.map(drop).map_err(|e| e.to_string()),
        );
        let refused = match v2.create(&PostParams::default(), &invalid).await {
            Err(kube::Error::Api(status))
                if status
                    .message
                    .contains(smi_webhook::admission::WEBHOOK_NAME) =>
            {
                Ok(())
            }
            Err(e) => Err(format!("refused, but not by the webhook: {e}")),
            Ok(_) => {
                hub.delete("invalid", &DeleteParams::default()).await.ok();
                Err("admitted an invalid object: the validating webhook was not reached".to_owned())
            }
        };
        step("invalid create at v1alpha2", refused);
        step(
            "list at v1alpha1",
            v1.list(&Default::default())
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
        );
        step(
            "delete",
            hub.delete(&name, &DeleteParams::default())
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
        );
    }
    failures
}

fn certificates_in(bundle: &str) -> usize {
    bundle.matches("BEGIN CERTIFICATE").count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ca_rotates_under_load_without_a_failed_request() {
    let env = require_env!();
    let ns = env.namespace("rotation").await.unwrap();
    let client = ns.client().clone();
    let namespace = ns.name().to_owned();
    let tls = GeneratedTls {
        client: client.clone(),
        namespace: namespace.clone(),
        secret_name: "webhook-tls".to_owned(),
        dns_names: vec!["127.0.0.1".to_owned()],
        targets: InjectionTargets::smi_bridge(),
        policy: policy(),
    };
    let metrics = WebhookMetrics::default();
    let config = WebhookConfig {
        metrics: metrics.clone(),
        ..WebhookConfig::new(
            ([127, 0, 0, 1], 0).into(),
            TlsSource::Generated(Box::new(tls.clone())),
        )
    };
    // Two replicas start at once: one creates the Secret, both serve it.
    let (first, second) = tokio::join!(
        WebhookServer::bind(config.clone()),
        WebhookServer::bind(config)
    );
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_eq!(
        first.serving_certificate(),
        second.serving_certificate(),
        "the replicas diverged"
    );
    let secrets = Api::<Secret>::namespaced(client.clone(), &namespace);
    let read_secret = |secrets: Api<Secret>| async move {
        let secret = secrets.get("webhook-tls").await.unwrap();
        let data = secret.data.unwrap_or_default();
        let text = |key: &str| String::from_utf8(data[key].0.clone()).unwrap();
        let phase = secret.metadata.annotations.unwrap_or_default()[PHASE_ANNOTATION].clone();
        (text(CA_CRT), text(CA_BUNDLE), phase)
    };
    let (first_ca, bundle, _) = read_secret(secrets.clone()).await;
    let address = first.local_addr().unwrap();

    let (stop_servers, stopped) = watch::channel(false);
    let shutdown = |mut stopped: watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let first_task = tokio::spawn(first.run(shutdown(stopped.clone())));
    let second_task = tokio::spawn(second.run(shutdown(stopped)));

    support::install_webhooks(
        &client,
        &support::client_config(address, &bundle),
        &namespace,
    )
    .await;

    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..2)
        .map(|worker| {
            tokio::spawn(load(
                client.clone(),
                namespace.clone(),
                worker,
                stop.clone(),
                ok.clone(),
            ))
        })
        .collect();

    // Watch the Secret until the CA has been replaced twice and the bundle trimmed again.
    let mut cas = vec![first_ca];
    let mut most_trusted = 1;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(45);
    loop {
        let (ca, bundle, phase) = read_secret(secrets.clone()).await;
        most_trusted = most_trusted.max(certificates_in(&bundle));
        if cas.last() != Some(&ca) {
            assert!(
                bundle.contains(&ca),
                "a certificate of a CA the bundle lacks is served"
            );
            cas.push(ca);
        }
        if cas.len() >= 3 && phase == "steady" && certificates_in(&bundle) == 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no two CA rotations within 45 s (CAs seen: {}, phase {phase})",
            cas.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut failures = Vec::new();
    for worker in workers {
        failures.extend(worker.await.unwrap());
    }
    assert!(
        !first_task.is_finished() && !second_task.is_finished(),
        "a server stopped"
    );
    stop_servers.send(true).unwrap();
    first_task.await.unwrap();
    second_task.await.unwrap();

    let succeeded = ok.load(Ordering::Relaxed);
    eprintln!(
        "{succeeded} requests succeeded during {} CA rotations; {} certificate loads",
        cas.len() - 1,
        metrics.certificate_reloads()
    );
    assert!(
        failures.is_empty(),
        "{} failed request(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        most_trusted, 2,
        "the old and new CA were never trusted together"
    );
    assert!(succeeded >= 50, "only {succeeded} requests ran");
    // Both replicas loaded the first certificate and the certificates of the two new CAs.
    assert!(
        metrics.certificate_reloads() >= 6,
        "{} loads",
        metrics.certificate_reloads()
    );
}

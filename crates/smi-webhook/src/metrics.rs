//! Prometheus metrics of the webhooks (prometheus-client): requests by webhook, kind, operation
//! and result; latency; the serving certificate's expiry and reloads.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of one webhook request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `conversion` or `admission`.
    pub webhook: &'static str,
    /// The SMI kind, e.g. `TrafficSplit` (`unknown` when the request could not be read).
    pub kind: String,
    /// `CREATE`/`UPDATE` for admission; the desired version (`v1alpha1`, …) for conversion.
    pub operation: String,
    /// `allowed`, `allowed_with_warnings`, `denied`, `converted`, `failed` or `bad_request`.
    pub result: &'static str,
}

/// Labels of the latency histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LatencyLabels {
    /// `conversion` or `admission`.
    pub webhook: &'static str,
    /// The SMI kind.
    pub kind: String,
}

type LatencyFamily = Family<LatencyLabels, Histogram, fn() -> Histogram>;

/// The webhook metrics. Clones share the same series; [`WebhookMetrics::register`] adds them to
/// a registry.
#[derive(Clone, Debug)]
pub struct WebhookMetrics {
    requests: Family<RequestLabels, Counter>,
    latency: LatencyFamily,
    certificate_expiry: Gauge,
    certificate_reloads: Counter,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms … ~4 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 14))
}

impl Default for WebhookMetrics {
    fn default() -> Self {
        WebhookMetrics {
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            certificate_expiry: Gauge::default(),
            certificate_reloads: Counter::default(),
        }
    }
}

impl WebhookMetrics {
    /// Registers the metrics as `webhook_*`: register them into a registry prefixed
    /// `smi_bridge` (the operator's) to serve `smi_bridge_webhook_*`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "webhook_requests",
            "Webhook requests by webhook, SMI kind, operation and result",
            self.requests.clone(),
        );
        registry.register(
            "webhook_request_duration_seconds",
            "Time to answer a webhook request, by webhook and SMI kind",
            self.latency.clone(),
        );
        registry.register(
            "webhook_certificate_expiry_timestamp_seconds",
            "When the serving certificate in use expires (Unix time); alert well before",
            self.certificate_expiry.clone(),
        );
        registry.register(
            "webhook_certificate_reloads",
            "Times a new serving certificate was loaded (file change or rotation)",
            self.certificate_reloads.clone(),
        );
    }

    /// Counts one request and its latency.
    pub(crate) fn observe(&self, labels: RequestLabels, elapsed: Duration) {
        self.latency
            .get_or_create(&LatencyLabels {
                webhook: labels.webhook,
                kind: labels.kind.clone(),
            })
            .observe(elapsed.as_secs_f64());
        self.requests.get_or_create(&labels).inc();
    }

    /// Records a newly loaded serving certificate.
    pub(crate) fn certificate_loaded(&self, not_after_unix: i64) {
        self.certificate_expiry.set(not_after_unix);
        self.certificate_reloads.inc();
    }

    /// The number of requests counted with these labels (for tests and diagnostics).
    pub fn requests(&self, labels: &RequestLabels) -> u64 {
        self.requests.get_or_create(labels).get()
    }

    /// How many serving certificates were loaded.
    pub fn certificate_reloads(&self) -> u64 {
        self.certificate_reloads.get()
    }
}

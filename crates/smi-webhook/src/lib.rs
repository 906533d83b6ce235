//! smi-bridge's webhooks: the **conversion** webhook the SMI CRDs call to convert between
//! versions, and the **validating admission** webhook that refuses invalid SMI objects with the
//! same messages `smi-bridge render` gives — plus everything needed to run them safely: TLS from
//! files or generated and rotated in a shared Secret, CA injection, metrics, and the takeover of
//! clusters that already hold other SMI CRDs.
//!
//! The operator mounts [`WebhookServer`] (or [`serve`]) in its process; every replica serves,
//! leader or not.
//!
//! ```no_run
//! # async fn demo(client: kube::Client) -> smi_webhook::Result<()> {
//! use smi_webhook::{GeneratedTls, TlsSource, WebhookConfig, serve};
//! let tls = GeneratedTls::for_service(client, "smi-bridge", "smi-bridge-webhook", "smi-bridge-webhook-tls");
//! let config = WebhookConfig::new(([0, 0, 0, 0], 9443).into(), TlsSource::Generated(Box::new(tls)));
//! serve(config, async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```
//!
//! # Modules
//!
//! - [`conversion`]: ConversionReview → smi-api's pure, lossless conversions (all or nothing).
//! - [`admission`]: AdmissionReview → [`smi_translate::validate`], the per-object validation
//!   translation uses; missing references are warnings; the ValidatingWebhookConfiguration.
//! - [`tls`]: the certificate store and file reloading; [`rotation`]: the generated Secret and
//!   CA rotation; [`inject`]: the CA bundle in the CRDs and the webhook configuration.
//! - [`migrate`]: preflight, takeover of foreign SMI CRDs, storage-version migration.
//! - [`server`]: the HTTPS server; [`metrics`]: prometheus-client metrics.
//!
//! # `failurePolicy` and timeouts
//!
//! - **Conversion** has no failure policy: the API server cannot read or write an SMI object at a
//!   version other than the stored one without the webhook, so it is as available as the
//!   operator's replicas (run at least two, with a PodDisruptionBudget). Objects at the storage
//!   (hub) versions keep working without it. The API server's conversion timeout is fixed (30 s);
//!   our conversions are pure and take microseconds.
//! - **Validation** uses `failurePolicy: Ignore` and `timeoutSeconds: 5`
//!   ([`admission::TIMEOUT_SECONDS`]). The webhook adds no safety the operator lacks: translation
//!   applies exactly the same rules and never acts on an invalid object (it reports
//!   `Accepted=False` instead), so an object admitted while the webhook is down costs feedback,
//!   not correctness. `Fail` would instead make every SMI write — Flagger's weight updates during
//!   a canary, cleanup of objects — depend on smi-bridge being up. The short timeout bounds the
//!   added latency when a replica hangs (the default is 10 s).
//!
//! # What the operator and the chart wire
//!
//! - Flags: listen address (`--webhook-address`, e.g. `0.0.0.0:9443`); TLS source: either
//!   `--webhook-cert-dir` ([`FileTls::in_dir`], cert-manager or chart Secret mounted) or
//!   generated (`--webhook-secret`, `--webhook-service`, namespace from the pod);
//!   `--cluster-domain`.
//! - Chart: a Service `smi-bridge-webhook` (port 443 → 9443) selecting every replica; the CRDs
//!   from `crds/` (their `clientConfig.service` already names it); the
//!   ValidatingWebhookConfiguration from [`admission::webhook_configuration`].
//! - RBAC: `secrets` get/create/update in the operator's namespace (generated TLS only);
//!   `customresourcedefinitions` get/patch (CA injection), plus update and
//!   `customresourcedefinitions/status` patch and list/update on every SMI resource for
//!   [`migrate`]; `validatingwebhookconfigurations` get/patch; `services` and the SMI kinds get
//!   (reference warnings).
#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod admission;
pub mod conversion;
mod error;
pub mod inject;
pub mod metrics;
pub mod migrate;
pub mod rotation;
pub mod server;
pub mod tls;

pub use error::{Error, Result};
pub use metrics::WebhookMetrics;
pub use rotation::{GeneratedTls, RotationPolicy};
pub use server::{WebhookConfig, WebhookServer, serve};
pub use tls::{FileTls, TlsSource};

//! Injecting the CA bundle into the SMI CRDs' conversion webhook and the
//! ValidatingWebhookConfiguration, with server-side apply (field manager
//! [`FIELD_MANAGER`], owning only `caBundle`): written only when it differs.

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use smi_api::SmiKind;

use crate::admission;
use crate::error::{Error, Result};

/// The field manager of the injected `caBundle` fields.
pub const FIELD_MANAGER: &str = "smi-bridge-ca-injector";

/// The objects that must trust the webhook CA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InjectionTargets {
    /// CRD names whose `spec.conversion.webhook.clientConfig.caBundle` is set.
    pub crds: Vec<String>,
    /// ValidatingWebhookConfiguration names; every webhook in them gets the bundle.
    pub webhook_configurations: Vec<String>,
}

impl InjectionTargets {
    /// smi-bridge's five SMI CRDs and its ValidatingWebhookConfiguration.
    pub fn smi_bridge() -> Self {
        InjectionTargets {
            crds: SmiKind::ALL.into_iter().map(crd_name).collect(),
            webhook_configurations: vec![admission::CONFIGURATION_NAME.to_owned()],
        }
    }
}

/// The CRD name of an SMI kind, e.g. `trafficsplits.split.smi-spec.io`.
pub fn crd_name(kind: SmiKind) -> String {
    format!("{}.{}", admission::plural(kind), kind.group())
}

/// Makes every existing target trust exactly `bundle` (PEM). Returns whether all of them hold
/// it now. A target that does not exist, or a CRD not converted by webhook, needs nothing.
pub async fn inject(client: &Client, targets: &InjectionTargets, bundle: &str) -> Result<bool> {
    let wanted = ByteString(bundle.as_bytes().to_vec());
    let encoded = serde_json::to_value(&wanted).unwrap_or_default();
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let mut all_hold = true;
    let crds = Api::<CustomResourceDefinition>::all(client.clone());
    for name in &targets.crds {
        let Some(crd) = crds
            .get_opt(name)
            .await
            .map_err(|e| Error::kube(format!("reading CRD {name}"), e))?
        else {
            continue;
        };
        let Some(conversion) = crd
            .spec
            .conversion
            .as_ref()
            .filter(|c| c.strategy == "Webhook")
        else {
            continue;
        };
        let current = conversion
            .webhook
            .as_ref()
            .and_then(|w| w.client_config.as_ref())
            .and_then(|c| c.ca_bundle.as_ref());
        if current == Some(&wanted) {
            continue;
        }
        let patch = json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": name},
            "spec": {"conversion": {"webhook": {"clientConfig": {"caBundle": encoded}}}}
        });
        let updated = crds
            .patch(name, &params, &Patch::Apply(&patch))
            .await
            .map_err(|e| Error::kube(format!("injecting the CA bundle into CRD {name}"), e))?;
        let held = updated
            .spec
            .conversion
            .and_then(|c| c.webhook)
            .and_then(|w| w.client_config)
            .and_then(|c| c.ca_bundle);
        all_hold &= held.as_ref() == Some(&wanted);
        tracing::info!(crd = %name, "injected the webhook CA bundle");
    }
    let configurations = Api::<ValidatingWebhookConfiguration>::all(client.clone());
    for name in &targets.webhook_configurations {
        let Some(configuration) = configurations.get_opt(name).await.map_err(|e| {
            Error::kube(format!("reading ValidatingWebhookConfiguration {name}"), e)
        })?
        else {
            continue;
        };
        let stale: Vec<serde_json::Value> = configuration
            .webhooks
            .iter()
            .flatten()
            .filter(|w| w.client_config.ca_bundle.as_ref() != Some(&wanted))
            .map(|w| json!({"name": w.name, "clientConfig": {"caBundle": encoded}}))
            .collect();
        if stale.is_empty() {
            continue;
        }
        let patch = json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": name},
            "webhooks": stale
        });
        let updated = configurations
            .patch(name, &params, &Patch::Apply(&patch))
            .await
            .map_err(|e| {
                Error::kube(
                    format!("injecting the CA bundle into ValidatingWebhookConfiguration {name}"),
                    e,
                )
            })?;
        all_hold &= updated
            .webhooks
            .iter()
            .flatten()
            .all(|w| w.client_config.ca_bundle.as_ref() == Some(&wanted));
        tracing::info!(configuration = %name, "injected the webhook CA bundle");
    }
    Ok(all_hold)
}

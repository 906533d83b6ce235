//! The validating admission webhook: `admission.k8s.io/v1` AdmissionReview for every SMI kind and
//! version, judged by the same per-object validation translation uses
//! ([`smi_translate::validate`]), so `kubectl apply` and `smi-bridge render` give the same
//! message for the same object.
//!
//! - An object that breaks a rule is **denied** with every violation (field path and value).
//! - References to objects that do not exist yet are **warnings**, not errors: users create a
//!   TrafficSplit before its backends.
//! - An UPDATE that leaves an already-invalid object's spec unchanged (labels, finalizers,
//!   annotations) is allowed with the violations as warnings, so objects stored before the
//!   webhook existed can still be cleaned up.
//! - Objects opted out with `smi-bridge.io/skip` (or `smi.linkerd.io/skip`) are converted but not
//!   validated, as translation ignores them.

use std::sync::Arc;
use std::time::Duration;

use futures::future::{BoxFuture, join_all};
use k8s_openapi::api::admissionregistration::v1::{
    RuleWithOperations, ValidatingWebhook, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::WebhookClientConfig;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};
use serde_json::Value;
use smi_api::SmiKind;
use smi_api::convert::HubObject;
use smi_translate::validate::{self, Reference, ReferenceKind, Violation};
use smi_translate::{LINKERD_SKIP_ANNOTATION, SKIP_ANNOTATION};

/// The webhook path.
pub const PATH: &str = "/validate";
/// Name of the ValidatingWebhookConfiguration smi-bridge installs.
pub const CONFIGURATION_NAME: &str = "smi-bridge";
/// Name of the webhook inside it.
pub const WEBHOOK_NAME: &str = "validate.smi-bridge.io";
/// How long the API server waits for an answer (see the crate docs on `failurePolicy`).
pub const TIMEOUT_SECONDS: i32 = 5;

/// Looks up whether a referenced object exists, for warnings. `None` when it cannot tell (no
/// permission, timeout): then no warning is given.
pub trait ReferenceLookup: Send + Sync {
    /// Whether the referenced object exists.
    fn exists<'a>(&'a self, reference: &'a Reference) -> BoxFuture<'a, Option<bool>>;
}

/// [`ReferenceLookup`] through the API server (needs `get` on Services and on the SMI kinds).
#[derive(Clone)]
pub struct ApiLookup {
    client: Client,
    timeout: Duration,
}

impl ApiLookup {
    /// Looks references up with `client`, giving up (no warning) after `timeout`.
    pub fn new(client: Client, timeout: Duration) -> Self {
        ApiLookup { client, timeout }
    }
}

impl ReferenceLookup for ApiLookup {
    fn exists<'a>(&'a self, reference: &'a Reference) -> BoxFuture<'a, Option<bool>> {
        Box::pin(async move {
            let namespace = &reference.namespace;
            let lookup = async {
                match reference.kind {
                    ReferenceKind::Service => {
                        Api::<Service>::namespaced(self.client.clone(), namespace)
                            .get_metadata_opt(&reference.name)
                            .await
                            .map(|found| found.is_some())
                    }
                    ReferenceKind::Smi(kind) => {
                        let gvk =
                            GroupVersionKind::gvk(kind.group(), kind.hub_version(), kind.as_str());
                        let resource = ApiResource::from_gvk_with_plural(&gvk, &plural(kind));
                        Api::<DynamicObject>::namespaced_with(
                            self.client.clone(),
                            namespace,
                            &resource,
                        )
                        .get_metadata_opt(&reference.name)
                        .await
                        .map(|found| found.is_some())
                    }
                }
            };
            match tokio::time::timeout(self.timeout, lookup).await {
                Ok(Ok(exists)) => Some(exists),
                Ok(Err(error)) => {
                    tracing::debug!(%error, field = %reference.field, "reference lookup failed");
                    None
                }
                Err(_) => None,
            }
        })
    }
}

/// The resource (plural) name of an SMI kind, e.g. `trafficsplits`.
pub fn plural(kind: SmiKind) -> String {
    format!("{}s", kind.as_str().to_ascii_lowercase())
}

/// Validates admission requests.
#[derive(Clone)]
pub struct Validator {
    /// The cluster DNS domain, for fully qualified Service names.
    pub cluster_domain: String,
    /// Where to check references; without one, no reference warnings are given.
    pub references: Option<Arc<dyn ReferenceLookup>>,
}

/// The outcome of one review, for metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The SMI kind, or `unknown`.
    pub kind: String,
    /// `CREATE`, `UPDATE`, …
    pub operation: String,
    /// `allowed`, `allowed_with_warnings`, `denied` or `bad_request`.
    pub result: &'static str,
}

impl Validator {
    /// Answers an AdmissionReview.
    pub async fn review(
        &self,
        review: AdmissionReview<DynamicObject>,
    ) -> (AdmissionReview<DynamicObject>, Outcome) {
        let request: AdmissionRequest<DynamicObject> = match review.try_into() {
            Ok(request) => request,
            Err(_) => {
                let outcome = Outcome {
                    kind: "unknown".to_owned(),
                    operation: "unknown".to_owned(),
                    result: "bad_request",
                };
                let response = AdmissionResponse::invalid(
                    "the AdmissionReview has no `request`; smi-bridge answers admission.k8s.io/v1 AdmissionReviews sent by the API server",
                );
                return (response.into_review(), outcome);
            }
        };
        let kind = request.kind.kind.clone();
        let operation = format!("{:?}", request.operation).to_ascii_uppercase();
        let response = self.judge(&request).await;
        let result = match (response.allowed, &response.warnings) {
            (false, _) => "denied",
            (true, Some(warnings)) if !warnings.is_empty() => "allowed_with_warnings",
            (true, _) => "allowed",
        };
        let outcome = Outcome {
            kind,
            operation,
            result,
        };
        (response.into_review(), outcome)
    }

    async fn judge(&self, request: &AdmissionRequest<DynamicObject>) -> AdmissionResponse {
        let response = AdmissionResponse::from(request);
        if !matches!(request.operation, Operation::Create | Operation::Update) {
            return response;
        }
        let Some(object) = request
            .object
            .as_ref()
            .and_then(|o| serde_json::to_value(o).ok())
        else {
            return response.deny("the request carries no object to validate");
        };
        let namespace = request
            .namespace
            .clone()
            .or_else(|| {
                object
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_default();
        if skipped(&object) {
            return with_warnings(
                response,
                vec![format!(
                    "not validated: the object carries the `{SKIP_ANNOTATION}` (or `{LINKERD_SKIP_ANNOTATION}`) annotation, so smi-bridge ignores it"
                )],
            );
        }
        match validate::check_value(&object, &namespace, &self.cluster_domain) {
            Ok(checked) => {
                let warnings = self.missing_references(&checked.references).await;
                with_warnings(response, warnings)
            }
            Err(violations) => {
                let old = request
                    .old_object
                    .as_ref()
                    .and_then(|o| serde_json::to_value(o).ok());
                if request.operation == Operation::Update
                    && old.is_some_and(|old| same_spec(&old, &object))
                {
                    let warnings = violations
                        .iter()
                        .map(|v| format!("the object is invalid (spec unchanged, so the update is allowed): {}", v.message))
                        .collect();
                    return with_warnings(response, warnings);
                }
                let mut denied = response.deny(Violation::join(&violations));
                denied.result.code = 422;
                denied.result.reason = violations
                    .first()
                    .map_or(validate::INVALID, |v| v.reason)
                    .to_owned();
                denied
            }
        }
    }

    async fn missing_references(&self, references: &[Reference]) -> Vec<String> {
        let Some(lookup) = &self.references else {
            return Vec::new();
        };
        let found = join_all(references.iter().map(|r| lookup.exists(r))).await;
        references
            .iter()
            .zip(found)
            .filter(|(_, exists)| *exists == Some(false))
            .map(|(reference, _)| reference.missing_message())
            .collect()
    }
}

fn with_warnings(mut response: AdmissionResponse, warnings: Vec<String>) -> AdmissionResponse {
    if !warnings.is_empty() {
        response.warnings = Some(warnings);
    }
    response
}

fn skipped(object: &Value) -> bool {
    let Some(annotations) = object.pointer("/metadata/annotations") else {
        return false;
    };
    [SKIP_ANNOTATION, LINKERD_SKIP_ANNOTATION]
        .iter()
        .any(|key| {
            annotations
                .get(*key)
                .and_then(Value::as_str)
                .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        })
}

/// Whether two versions of an object have the same spec at the hub version.
fn same_spec(old: &Value, new: &Value) -> bool {
    match (smi_api::convert::to_hub(old), smi_api::convert::to_hub(new)) {
        (Ok(old), Ok(new)) => hub_spec(&old) == hub_spec(&new),
        // Both unreadable the same way: compare the raw objects without metadata and status.
        (Err(_), Err(_)) => without_metadata(old) == without_metadata(new),
        _ => false,
    }
}

fn hub_spec(object: &HubObject) -> Option<Value> {
    let value = match object {
        HubObject::TrafficSplit(o) => serde_json::to_value(&o.spec),
        HubObject::TrafficTarget(o) => serde_json::to_value(&o.spec),
        HubObject::HTTPRouteGroup(o) => serde_json::to_value(&o.spec),
        HubObject::TCPRoute(o) => serde_json::to_value(&o.spec),
        HubObject::UDPRoute(o) => serde_json::to_value(&o.spec),
    };
    value.ok()
}

fn without_metadata(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(map) = object.as_object_mut() {
        map.remove("metadata");
        map.remove("status");
    }
    object
}

/// The ValidatingWebhookConfiguration for every SMI kind and version, calling `client_config`
/// (the chart's Service, or a URL), with `failurePolicy: Ignore` and a 5 s timeout (see the crate
/// docs for why).
pub fn webhook_configuration(client_config: WebhookClientConfig) -> ValidatingWebhookConfiguration {
    let mut rules: Vec<RuleWithOperations> = Vec::new();
    for group in [
        "split.smi-spec.io",
        "access.smi-spec.io",
        "specs.smi-spec.io",
    ] {
        let kinds: Vec<SmiKind> = SmiKind::ALL
            .into_iter()
            .filter(|k| k.group() == group)
            .collect();
        let mut versions: Vec<String> = kinds
            .iter()
            .flat_map(|k| k.versions().iter().map(|v| (*v).to_owned()))
            .collect();
        versions.sort();
        versions.dedup();
        rules.push(RuleWithOperations {
            api_groups: Some(vec![group.to_owned()]),
            api_versions: Some(versions),
            operations: Some(vec!["CREATE".to_owned(), "UPDATE".to_owned()]),
            resources: Some(kinds.into_iter().map(plural).collect()),
            scope: Some("Namespaced".to_owned()),
        });
    }
    let client_config = admission_client_config(client_config);
    ValidatingWebhookConfiguration {
        metadata: ObjectMeta {
            name: Some(CONFIGURATION_NAME.to_owned()),
            labels: Some(
                [(
                    "app.kubernetes.io/managed-by".to_owned(),
                    "smi-bridge".to_owned(),
                )]
                .into(),
            ),
            ..ObjectMeta::default()
        },
        webhooks: Some(vec![ValidatingWebhook {
            name: WEBHOOK_NAME.to_owned(),
            admission_review_versions: vec!["v1".to_owned()],
            client_config,
            failure_policy: Some("Ignore".to_owned()),
            match_policy: Some("Equivalent".to_owned()),
            rules: Some(rules),
            side_effects: "None".to_owned(),
            timeout_seconds: Some(TIMEOUT_SECONDS),
            ..ValidatingWebhook::default()
        }]),
    }
}

/// The admissionregistration form of a CRD webhook client config, pointed at [`PATH`].
fn admission_client_config(
    config: WebhookClientConfig,
) -> k8s_openapi::api::admissionregistration::v1::WebhookClientConfig {
    use k8s_openapi::api::admissionregistration::v1 as admission;
    admission::WebhookClientConfig {
        ca_bundle: config.ca_bundle,
        service: config.service.map(|s| admission::ServiceReference {
            name: s.name,
            namespace: s.namespace,
            path: Some(PATH.to_owned()),
            port: s.port,
        }),
        url: config.url.map(|url| with_path(&url, PATH)),
    }
}

/// `url` with its path replaced by `path`.
pub(crate) fn with_path(url: &str, path: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
    let host = rest.split('/').next().unwrap_or(rest);
    format!("{scheme}://{host}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn review_of(
        operation: &str,
        object: Value,
        old: Option<Value>,
    ) -> AdmissionReview<DynamicObject> {
        serde_json::from_value(json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {
                "uid": "u-1",
                "kind": {"group": "split.smi-spec.io", "version": "v1alpha2", "kind": "TrafficSplit"},
                "resource": {"group": "split.smi-spec.io", "version": "v1alpha2", "resource": "trafficsplits"},
                "name": "web", "namespace": "shop", "operation": operation,
                "userInfo": {"username": "alice"},
                "object": object, "oldObject": old, "dryRun": false
            }
        }))
        .unwrap()
    }

    fn split(weights: &[i64]) -> Value {
        let backends: Vec<Value> = weights
            .iter()
            .enumerate()
            .map(|(i, w)| json!({"service": format!("v{i}"), "weight": w}))
            .collect();
        json!({"apiVersion": "split.smi-spec.io/v1alpha2", "kind": "TrafficSplit",
               "metadata": {"name": "web", "namespace": "shop"},
               "spec": {"service": "web", "backends": backends}})
    }

    struct Nothing;
    impl ReferenceLookup for Nothing {
        fn exists<'a>(&'a self, _: &'a Reference) -> BoxFuture<'a, Option<bool>> {
            Box::pin(async { Some(false) })
        }
    }

    fn validator() -> Validator {
        Validator {
            cluster_domain: "cluster.local".to_owned(),
            references: Some(Arc::new(Nothing)),
        }
    }

    #[tokio::test]
    async fn invalid_objects_are_denied_with_the_shared_message() {
        let (answer, outcome) = validator()
            .review(review_of("CREATE", split(&[0, 0]), None))
            .await;
        let response = answer.response.unwrap();
        assert!(!response.allowed);
        assert_eq!(response.uid, "u-1");
        let expected = validate::check_value(&split(&[0, 0]), "shop", "cluster.local").unwrap_err();
        assert_eq!(response.result.message, Violation::join(&expected));
        assert_eq!(response.result.reason, "ZeroTotalWeight");
        assert_eq!(outcome.result, "denied");
        assert_eq!(outcome.operation, "CREATE");
    }

    #[tokio::test]
    async fn missing_references_are_warnings() {
        let (answer, outcome) = validator()
            .review(review_of("CREATE", split(&[1, 0]), None))
            .await;
        let response = answer.response.unwrap();
        assert!(response.allowed);
        let warnings = response.warnings.unwrap();
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(warnings[1].starts_with("spec.backends[0].service: Service `v0` does not exist"));
        assert_eq!(outcome.result, "allowed_with_warnings");
    }

    #[tokio::test]
    async fn updates_that_keep_an_invalid_spec_are_allowed() {
        let mut relabelled = split(&[0, 0]);
        relabelled["metadata"]["labels"] = json!({"team": "a"});
        let (answer, _) = validator()
            .review(review_of("UPDATE", relabelled, Some(split(&[0, 0]))))
            .await;
        let response = answer.response.unwrap();
        assert!(response.allowed);
        assert!(response.warnings.unwrap()[0].contains("spec unchanged"));
        let (answer, _) = validator()
            .review(review_of("UPDATE", split(&[0, 0]), Some(split(&[1, 0]))))
            .await;
        assert!(!answer.response.unwrap().allowed);
    }

    #[test]
    fn the_configuration_covers_every_kind_and_version() {
        let config = webhook_configuration(WebhookClientConfig {
            url: Some("https://127.0.0.1:9443/convert".to_owned()),
            ..WebhookClientConfig::default()
        });
        let webhook = &config.webhooks.unwrap()[0];
        assert_eq!(
            webhook.client_config.url.as_deref(),
            Some("https://127.0.0.1:9443/validate")
        );
        assert_eq!(webhook.failure_policy.as_deref(), Some("Ignore"));
        let rules = webhook.rules.as_ref().unwrap();
        let resources: Vec<String> = rules
            .iter()
            .flat_map(|r| r.resources.clone().unwrap_or_default())
            .collect();
        assert_eq!(resources.len(), 5);
        assert_eq!(rules[0].api_versions.as_ref().unwrap().len(), 4);
    }
}

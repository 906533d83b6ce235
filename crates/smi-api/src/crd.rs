//! CustomResourceDefinitions for every SMI kind, generated from the types: every version served,
//! the hub stored, conversion by webhook.
//!
//! The webhook `clientConfig.service` written here ([`WEBHOOK_SERVICE_NAMESPACE`],
//! [`WEBHOOK_SERVICE_NAME`], [`WEBHOOK_PATH`], [`WEBHOOK_PORT`]) is a placeholder that the Helm
//! chart and the test harness replace, adding the CA bundle.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceColumnDefinition, CustomResourceConversion, CustomResourceDefinition,
    CustomResourceDefinitionVersion, CustomResourceSubresourceStatus, CustomResourceSubresources,
    CustomResourceValidation, ServiceReference, WebhookClientConfig, WebhookConversion,
};
use kube::CustomResourceExt;
use kube::core::Resource;
use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use schemars::transform::AddNullable;

use crate::{SmiKind, access, hub, specs, split};

/// Namespace of the placeholder conversion webhook Service.
pub const WEBHOOK_SERVICE_NAMESPACE: &str = "smi-bridge";
/// Name of the placeholder conversion webhook Service.
pub const WEBHOOK_SERVICE_NAME: &str = "smi-bridge-webhook";
/// HTTP path the conversion webhook serves.
pub const WEBHOOK_PATH: &str = "/convert";
/// Port of the placeholder conversion webhook Service.
pub const WEBHOOK_PORT: i32 = 443;

/// The CRDs of every SMI kind, in [`SmiKind::ALL`] order.
pub fn all_crds() -> Vec<CustomResourceDefinition> {
    SmiKind::ALL.into_iter().map(crd).collect()
}

/// The CRD of one SMI kind.
pub fn crd(kind: SmiKind) -> CustomResourceDefinition {
    let (mut definition, versions) = match kind {
        SmiKind::TrafficSplit => (
            hub::TrafficSplit::crd(),
            vec![
                derived_version::<split::v1alpha1::TrafficSplit>(),
                derived_version::<split::v1alpha2::TrafficSplit>(),
                derived_version::<split::v1alpha3::TrafficSplit>(),
                derived_version::<hub::TrafficSplit>(),
            ],
        ),
        SmiKind::TrafficTarget => (
            hub::TrafficTarget::crd(),
            vec![
                top_level_version::<access::v1alpha1::TrafficTarget>(vec![
                    column("Destination", "string", ".destination.name"),
                    accepted_column(),
                    age_column(),
                ]),
                derived_version::<access::v1alpha2::TrafficTarget>(),
                derived_version::<hub::TrafficTarget>(),
            ],
        ),
        SmiKind::HTTPRouteGroup => (
            hub::HTTPRouteGroup::crd(),
            vec![
                top_level_version::<specs::v1alpha1::HTTPRouteGroup>(vec![age_column()]),
                top_level_version::<specs::v1alpha2::HTTPRouteGroup>(vec![age_column()]),
                derived_version::<specs::v1alpha3::HTTPRouteGroup>(),
                derived_version::<hub::HTTPRouteGroup>(),
            ],
        ),
        SmiKind::TCPRoute => (
            hub::TCPRoute::crd(),
            vec![
                top_level_version::<specs::v1alpha1::TCPRoute>(vec![age_column()]),
                top_level_version::<specs::v1alpha2::TCPRoute>(vec![age_column()]),
                top_level_version::<specs::v1alpha3::TCPRoute>(vec![age_column()]),
                derived_version::<hub::TCPRoute>(),
            ],
        ),
        SmiKind::UDPRoute => (
            hub::UDPRoute::crd(),
            vec![derived_version::<hub::UDPRoute>()],
        ),
    };
    definition.spec.versions = versions
        .into_iter()
        .map(|version| CustomResourceDefinitionVersion {
            served: true,
            storage: version.name == kind.hub_version(),
            ..version
        })
        .collect();
    definition.spec.conversion = Some(webhook_conversion());
    definition
}

/// The file name of a CRD in `crds/`: its plural, e.g. `trafficsplits.yaml`.
pub fn file_name(definition: &CustomResourceDefinition) -> String {
    format!("{}.yaml", definition.spec.names.plural)
}

/// A CRD as the YAML file `crdgen` writes: a header comment, then the object.
pub fn to_yaml(definition: &CustomResourceDefinition) -> Result<String, serde_yaml_ng::Error> {
    let versions: Vec<&str> = definition
        .spec
        .versions
        .iter()
        .map(|v| v.name.as_str())
        .collect();
    let stored = definition
        .spec
        .versions
        .iter()
        .find(|version| version.storage)
        .map_or("", |version| version.name.as_str());
    let header = format!(
        "# Generated from crates/smi-api by `cargo run -p smi-api --bin crdgen`; do not edit.\n\
         # {kind} ({group}): versions {versions} served, {stored} stored.\n\
         # spec.conversion.webhook.clientConfig.service ({WEBHOOK_SERVICE_NAMESPACE}/\
         {WEBHOOK_SERVICE_NAME}, path {WEBHOOK_PATH}, port {WEBHOOK_PORT}) is a placeholder:\n\
         # the Helm chart and the test harness replace it and add the caBundle.\n",
        kind = definition.spec.names.kind,
        group = definition.spec.group,
        versions = versions.join(", "),
    );
    Ok(header + &serde_yaml_ng::to_string(definition)?)
}

/// The single version of a `#[derive(CustomResource)]` type's CRD.
fn derived_version<K: CustomResourceExt>() -> CustomResourceDefinitionVersion {
    K::crd()
        .spec
        .versions
        .into_iter()
        .next()
        .unwrap_or_default()
}

/// A version of a hand-written kind without `spec` wrapper: schema from schemars, with the
/// same settings `#[derive(CustomResource)]` uses, and a status subresource.
fn top_level_version<K>(
    printer_columns: Vec<CustomResourceColumnDefinition>,
) -> CustomResourceDefinitionVersion
where
    K: Resource<DynamicType = ()> + JsonSchema,
{
    let generator = SchemaSettings::openapi3()
        .with(|settings| {
            settings.inline_subschemas = true;
            settings.meta_schema = None;
        })
        .with_transform(AddNullable::default())
        .with_transform(kube::core::schema::StructuralSchemaRewriter)
        .with_transform(kube::core::schema::OptionalEnum)
        .with_transform(kube::core::schema::OptionalIntOrString)
        .into_generator();
    let schema = serde_json::from_value(generator.into_root_schema_for::<K>().to_value()).ok();
    CustomResourceDefinitionVersion {
        name: K::version(&()).into_owned(),
        additional_printer_columns: Some(printer_columns),
        schema: Some(CustomResourceValidation {
            open_api_v3_schema: schema,
        }),
        subresources: Some(CustomResourceSubresources {
            status: Some(CustomResourceSubresourceStatus(serde_json::json!({}))),
            scale: None,
        }),
        ..Default::default()
    }
}

fn column(name: &str, type_: &str, json_path: &str) -> CustomResourceColumnDefinition {
    CustomResourceColumnDefinition {
        name: name.to_owned(),
        type_: type_.to_owned(),
        json_path: json_path.to_owned(),
        ..Default::default()
    }
}

fn accepted_column() -> CustomResourceColumnDefinition {
    column(
        "Accepted",
        "string",
        r#".status.conditions[?(@.type=="Accepted")].status"#,
    )
}

fn age_column() -> CustomResourceColumnDefinition {
    column("Age", "date", ".metadata.creationTimestamp")
}

fn webhook_conversion() -> CustomResourceConversion {
    CustomResourceConversion {
        strategy: "Webhook".to_owned(),
        webhook: Some(WebhookConversion {
            client_config: Some(WebhookClientConfig {
                service: Some(ServiceReference {
                    namespace: WEBHOOK_SERVICE_NAMESPACE.to_owned(),
                    name: WEBHOOK_SERVICE_NAME.to_owned(),
                    path: Some(WEBHOOK_PATH.to_owned()),
                    port: Some(WEBHOOK_PORT),
                }),
                ..Default::default()
            }),
            conversion_review_versions: vec!["v1".to_owned()],
        }),
    }
}

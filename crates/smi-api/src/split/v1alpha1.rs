//! `split.smi-spec.io/v1alpha1` TrafficSplit: weights are Kubernetes Quantities.

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::quantity::NON_NEGATIVE_QUANTITY_PATTERN;
use crate::status::SmiStatus;

/// Splits traffic addressed to a root Service across backend Services, by relative weight.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "split.smi-spec.io",
    version = "v1alpha1",
    kind = "TrafficSplit",
    namespaced,
    derive = "PartialEq",
    status = "SmiStatus",
    shortname = "ts",
    category = "smi",
    doc = "TrafficSplit (v1alpha1) splits traffic addressed to a root Service across backend \
           Services by relative weight, given as Kubernetes Quantities.",
    printcolumn = r#"{"name":"Service","type":"string","jsonPath":".spec.service"}"#,
    printcolumn = r#"{"name":"Accepted","type":"string","jsonPath":".status.conditions[?(@.type==\"Accepted\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct TrafficSplitSpec {
    /// The root (apex) Service that clients address, in the TrafficSplit's namespace.
    pub service: String,
    /// The Services that receive the root's traffic, each with a relative weight.
    pub backends: Vec<TrafficSplitBackend>,
}

/// One backend Service of a v1alpha1 TrafficSplit.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrafficSplitBackend {
    /// Name of a Service in the TrafficSplit's namespace.
    pub service: String,
    /// Relative weight, a non-negative Kubernetes Quantity (an integer, or a string such as
    /// `1`, `500m`, `1.5`, `2e3`): `1` equals `1000m`, so with `1` and `500m` the `500m`
    /// backend receives one third of the traffic. Weights are not percentages.
    #[schemars(schema_with = "weight_quantity_schema")]
    pub weight: Quantity,
}

fn weight_quantity_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "x-kubernetes-int-or-string": true,
        "minimum": 0,
        "pattern": NON_NEGATIVE_QUANTITY_PATTERN
    })
}

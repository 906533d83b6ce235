//! `split.smi-spec.io/v1alpha4` TrafficSplit — the hub (storage) version of the split group.
//!
//! Structurally identical to v1alpha3; only the compatible specs version (v1alpha4) differs.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::status::SmiStatus;

/// Splits traffic addressed to a root Service across backend Services, by relative weight,
/// optionally only for requests that match HTTPRouteGroups (A/B testing).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "split.smi-spec.io",
    version = "v1alpha4",
    kind = "TrafficSplit",
    namespaced,
    derive = "PartialEq",
    status = "SmiStatus",
    shortname = "ts",
    category = "smi",
    doc = "TrafficSplit (v1alpha4, the storage version) splits traffic addressed to a root \
           Service across backend Services by relative integer weight, optionally only for \
           requests matching HTTPRouteGroups.",
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
    /// HTTPRouteGroups whose matching requests are split across the backends; requests that
    /// match none go to the root Service. Empty means every request is split.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<TrafficSplitMatch>,
}

/// One backend Service of a TrafficSplit.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrafficSplitBackend {
    /// Name of a Service in the TrafficSplit's namespace.
    pub service: String,
    /// Relative weight: this backend receives weight / (sum of weights) of the traffic.
    /// Zero means no traffic; weights are not percentages.
    #[schemars(range(min = 0))]
    pub weight: i64,
}

/// A reference to an HTTPRouteGroup in the TrafficSplit's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrafficSplitMatch {
    /// Kind of the referenced object; only `HTTPRouteGroup` is defined.
    #[schemars(extend("enum" = ["HTTPRouteGroup"]))]
    pub kind: String,
    /// Name of the referenced HTTPRouteGroup.
    pub name: String,
    /// API group of the referenced object (`specs.smi-spec.io`); may be omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_group: Option<String>,
}

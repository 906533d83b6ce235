//! `split.smi-spec.io/v1alpha3` TrafficSplit: adds `matches`; structurally identical to the
//! v1alpha4 hub (only the compatible specs version, v1alpha3, differs).

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::split::v1alpha4::{TrafficSplitBackend, TrafficSplitMatch};
use crate::status::SmiStatus;

/// Splits traffic addressed to a root Service across backend Services, by relative weight,
/// optionally only for requests that match HTTPRouteGroups.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "split.smi-spec.io",
    version = "v1alpha3",
    kind = "TrafficSplit",
    namespaced,
    derive = "PartialEq",
    status = "SmiStatus",
    shortname = "ts",
    category = "smi",
    doc = "TrafficSplit (v1alpha3) splits traffic addressed to a root Service across backend \
           Services by relative integer weight, optionally only for requests matching \
           HTTPRouteGroups.",
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

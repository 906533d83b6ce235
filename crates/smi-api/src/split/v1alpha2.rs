//! `split.smi-spec.io/v1alpha2` TrafficSplit: integer weights, no `matches`.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::split::v1alpha4::TrafficSplitBackend;
use crate::status::SmiStatus;

/// Splits traffic addressed to a root Service across backend Services, by relative weight.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "split.smi-spec.io",
    version = "v1alpha2",
    kind = "TrafficSplit",
    namespaced,
    derive = "PartialEq",
    status = "SmiStatus",
    shortname = "ts",
    category = "smi",
    doc = "TrafficSplit (v1alpha2) splits traffic addressed to a root Service across backend \
           Services by relative integer weight.",
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

//! `specs.smi-spec.io/v1alpha4` HTTPRouteGroup, TCPRoute and UDPRoute — the hub (storage)
//! version of the specs group.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::specs::headers::HttpHeaders;
use crate::status::SmiStatus;

/// Describes HTTP traffic by path, method and headers, for TrafficTarget rules and
/// TrafficSplit matches.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "specs.smi-spec.io",
    version = "v1alpha4",
    kind = "HTTPRouteGroup",
    namespaced,
    derive = "PartialEq",
    doc = "HTTPRouteGroup (v1alpha4, the storage version) describes HTTP traffic by path, \
           method and headers, for TrafficTarget rules and TrafficSplit matches.",
    status = "SmiStatus",
    shortname = "htr",
    category = "smi",
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = crate::specs::require_matches)]
pub struct HTTPRouteGroupSpec {
    /// The requests this group describes; a request matching any entry matches the group.
    #[serde(default)]
    pub matches: Vec<HTTPMatch>,
}

/// One HTTP match: every given condition must hold (AND); an omitted condition matches all.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HTTPMatch {
    /// Name of the match, referenced from TrafficTarget rules.
    pub name: String,
    /// Regular expression on the request path, anchored at the start only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_regex: Option<String>,
    /// HTTP methods (`GET`, `POST`, …); `*` means any method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::specs::http_methods_schema")]
    pub methods: Option<Vec<String>>,
    /// Header name to a regular expression on its value; all must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<HttpHeaders>,
}

/// Describes TCP traffic by destination port, for TrafficTarget rules.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "specs.smi-spec.io",
    version = "v1alpha4",
    kind = "TCPRoute",
    namespaced,
    derive = "PartialEq",
    doc = "TCPRoute (v1alpha4, the storage version) describes TCP traffic by destination \
           port, for TrafficTarget rules.",
    status = "SmiStatus",
    shortname = "tr",
    category = "smi",
    printcolumn = r#"{"name":"Ports","type":"string","jsonPath":".spec.matches.ports"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct TCPRouteSpec {
    /// The ports this route covers; omitted means every port of the destination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matches: Option<PortMatch>,
}

/// Describes UDP traffic by destination port, for TrafficTarget rules.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "specs.smi-spec.io",
    version = "v1alpha4",
    kind = "UDPRoute",
    namespaced,
    derive = "PartialEq",
    doc = "UDPRoute (v1alpha4, the storage and only version) describes UDP traffic by \
           destination port, for TrafficTarget rules.",
    status = "SmiStatus",
    shortname = "ur",
    category = "smi",
    printcolumn = r#"{"name":"Ports","type":"string","jsonPath":".spec.matches.ports"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct UDPRouteSpec {
    /// The ports this route covers; omitted means every port of the destination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matches: Option<PortMatch>,
}

/// The ports a TCPRoute or UDPRoute covers (a single object, not a list).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PortMatch {
    /// Destination ports; empty means every port of the destination's Services.
    #[serde(default)]
    pub ports: Vec<i32>,
}

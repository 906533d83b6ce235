//! `specs.smi-spec.io/v1alpha2` HTTPRouteGroup and TCPRoute: still no `spec` wrapper. An
//! HTTPRouteGroup's top-level `matches` gain `headers`; a TCPRoute has metadata only.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::specs::v1alpha4::HTTPMatch;
use crate::status::SmiStatus;
use crate::top_level::impl_top_level_resource;

/// HTTPRouteGroup (v1alpha2) describes HTTP traffic by path, method and headers, for
/// TrafficTarget rules and TrafficSplit matches.
#[derive(Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = crate::specs::require_matches)]
pub struct HTTPRouteGroup {
    /// Standard object metadata.
    #[schemars(skip)]
    pub metadata: ObjectMeta,
    /// The requests this group describes; a request matching any entry matches the group.
    #[serde(default)]
    pub matches: Vec<HTTPMatch>,
    /// Observed state, written by smi-bridge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<SmiStatus>,
}

impl_top_level_resource!(
    HTTPRouteGroup,
    group = "specs.smi-spec.io",
    version = "v1alpha2",
    kind = "HTTPRouteGroup",
    plural = "httproutegroups",
    fields = [matches]
);

/// TCPRoute (v1alpha2) names TCP traffic, for TrafficTarget rules; it has no fields.
#[derive(Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TCPRoute {
    /// Standard object metadata.
    #[schemars(skip)]
    pub metadata: ObjectMeta,
    /// Observed state, written by smi-bridge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<SmiStatus>,
}

impl_top_level_resource!(
    TCPRoute,
    group = "specs.smi-spec.io",
    version = "v1alpha2",
    kind = "TCPRoute",
    plural = "tcproutes",
    fields = []
);

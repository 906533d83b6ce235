//! `specs.smi-spec.io/v1alpha3` HTTPRouteGroup and TCPRoute: HTTPRouteGroup matches move under
//! `spec.matches`; a TCPRoute has an empty `spec: {}`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::specs::v1alpha4::HTTPMatch;
use crate::status::SmiStatus;
use crate::top_level::impl_top_level_resource;

/// Describes HTTP traffic by path, method and headers, for TrafficTarget rules and
/// TrafficSplit matches.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "specs.smi-spec.io",
    version = "v1alpha3",
    kind = "HTTPRouteGroup",
    namespaced,
    derive = "PartialEq",
    status = "SmiStatus",
    shortname = "htr",
    category = "smi",
    doc = "HTTPRouteGroup (v1alpha3) describes HTTP traffic by path, method and headers, for \
           TrafficTarget rules and TrafficSplit matches.",
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = crate::specs::require_matches)]
pub struct HTTPRouteGroupSpec {
    /// The requests this group describes; a request matching any entry matches the group.
    #[serde(default)]
    pub matches: Vec<HTTPMatch>,
}

/// TCPRoute (v1alpha3) names TCP traffic, for TrafficTarget rules. Its `spec` is empty; an
/// object without `spec` reads as `spec: {}`.
#[derive(Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TCPRoute {
    /// Standard object metadata.
    #[schemars(skip)]
    pub metadata: ObjectMeta,
    /// Always empty in this version.
    #[serde(default)]
    pub spec: TCPRouteSpec,
    /// Observed state, written by smi-bridge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<SmiStatus>,
}

impl_top_level_resource!(
    TCPRoute,
    group = "specs.smi-spec.io",
    version = "v1alpha3",
    kind = "TCPRoute",
    plural = "tcproutes",
    fields = [spec]
);

/// The empty spec of a v1alpha3 TCPRoute.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct TCPRouteSpec {}

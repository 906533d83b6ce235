//! `specs.smi-spec.io/v1alpha1` HTTPRouteGroup and TCPRoute: no `spec` wrapper. An
//! HTTPRouteGroup lists top-level `matches` of `name`, `pathRegex` and `methods` (no headers);
//! a TCPRoute has metadata only.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::status::SmiStatus;
use crate::top_level::impl_top_level_resource;

/// HTTPRouteGroup (v1alpha1) describes HTTP traffic by path and method, for TrafficTarget rules.
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
    version = "v1alpha1",
    kind = "HTTPRouteGroup",
    plural = "httproutegroups",
    fields = [matches]
);

/// One v1alpha1 HTTP match: a path and a set of methods, both required by the spec.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = require_path_regex_and_methods)]
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
}

/// The spec requires every field of a v1alpha1 match; the Rust type reads them leniently.
fn require_path_regex_and_methods(schema: &mut schemars::Schema) {
    crate::specs::require_fields(schema, &["pathRegex", "methods"]);
}

/// TCPRoute (v1alpha1) names TCP traffic, for TrafficTarget rules; it has no fields.
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
    version = "v1alpha1",
    kind = "TCPRoute",
    plural = "tcproutes",
    fields = []
);

//! `access.smi-spec.io/v1alpha2` TrafficTarget: wrapped in `spec`, `specs` renamed `rules`;
//! subjects may still carry a `port`.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::status::SmiStatus;

/// Allows traffic to a destination identity from source identities, optionally only on a port
/// and on the routes of the referenced traffic specs.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "access.smi-spec.io",
    version = "v1alpha2",
    kind = "TrafficTarget",
    namespaced,
    derive = "PartialEq",
    status = "SmiStatus",
    shortname = "tt",
    category = "smi",
    doc = "TrafficTarget (v1alpha2) allows traffic to a destination identity from source \
           identities, optionally only on a port and on the routes of the referenced traffic \
           specs. Access is deny-by-default and additive.",
    printcolumn = r#"{"name":"Destination","type":"string","jsonPath":".spec.destination.name"}"#,
    printcolumn = r#"{"name":"Accepted","type":"string","jsonPath":".status.conditions[?(@.type==\"Accepted\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct TrafficTargetSpec {
    /// The identity whose pods receive the allowed traffic, optionally limited to one port.
    pub destination: IdentityBindingSubject,
    /// The identities allowed to send traffic to the destination.
    #[serde(default)]
    pub sources: Vec<IdentityBindingSubject>,
    /// The traffic the sources may send: references to HTTPRouteGroups or TCPRoutes.
    #[serde(default)]
    pub rules: Vec<TrafficTargetRule>,
}

/// An identity (a ServiceAccount), optionally limited to one port.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IdentityBindingSubject {
    /// Kind of the identity; `ServiceAccount`.
    pub kind: String,
    /// Name of the ServiceAccount.
    pub name: String,
    /// Namespace of the ServiceAccount; defaults to the TrafficTarget's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Port the traffic is allowed on; omitted means every port of the destination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<i32>,
}

/// A reference to a traffic spec that limits what a TrafficTarget allows.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrafficTargetRule {
    /// Kind of the traffic spec: `HTTPRouteGroup` or `TCPRoute`.
    #[schemars(extend("enum" = ["HTTPRouteGroup", "TCPRoute"]))]
    pub kind: String,
    /// Name of the traffic spec, in the TrafficTarget's namespace.
    pub name: String,
    /// Names of the HTTPRouteGroup matches allowed; omitted means all matches of the group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matches: Option<Vec<String>>,
}

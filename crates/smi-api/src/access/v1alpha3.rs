//! `access.smi-spec.io/v1alpha3` TrafficTarget — the hub (storage) version of the access group.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::status::SmiStatus;

/// Allows traffic to a destination identity from source identities, optionally only on the
/// routes of the referenced traffic specs. Access is deny-by-default and additive.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "access.smi-spec.io",
    version = "v1alpha3",
    kind = "TrafficTarget",
    namespaced,
    derive = "PartialEq",
    status = "SmiStatus",
    shortname = "tt",
    category = "smi",
    doc = "TrafficTarget (v1alpha3, the storage version) allows traffic to a destination \
           identity from source identities, only on the routes of the referenced traffic \
           specs. Access is deny-by-default and additive.",
    printcolumn = r#"{"name":"Destination","type":"string","jsonPath":".spec.destination.name"}"#,
    printcolumn = r#"{"name":"Accepted","type":"string","jsonPath":".status.conditions[?(@.type==\"Accepted\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct TrafficTargetSpec {
    /// The identity whose pods receive the allowed traffic.
    pub destination: IdentityBindingSubject,
    /// The identities allowed to send traffic to the destination.
    #[schemars(length(min = 1))]
    pub sources: Vec<IdentityBindingSubject>,
    /// The traffic the sources may send: references to HTTPRouteGroups, TCPRoutes or UDPRoutes.
    #[schemars(length(min = 1))]
    pub rules: Vec<TrafficTargetRule>,
}

/// An identity: a ServiceAccount, by name and namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IdentityBindingSubject {
    /// Kind of the identity; `ServiceAccount`.
    pub kind: String,
    /// Name of the ServiceAccount.
    pub name: String,
    /// Namespace of the ServiceAccount; defaults to the TrafficTarget's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// A reference to a traffic spec that limits what a TrafficTarget allows.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrafficTargetRule {
    /// Kind of the traffic spec: `HTTPRouteGroup`, `TCPRoute` or `UDPRoute`.
    #[schemars(extend("enum" = ["HTTPRouteGroup", "TCPRoute", "UDPRoute"]))]
    pub kind: String,
    /// Name of the traffic spec, in the TrafficTarget's namespace.
    pub name: String,
    /// Names of the HTTPRouteGroup matches allowed; omitted means all matches of the group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matches: Option<Vec<String>>,
}

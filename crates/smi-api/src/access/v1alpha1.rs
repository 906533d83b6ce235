//! `access.smi-spec.io/v1alpha1` TrafficTarget: no `spec` wrapper — `destination`, `sources`
//! and `specs` sit at the top level; subjects may carry a `port`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::access::v1alpha2::{IdentityBindingSubject, TrafficTargetRule};
use crate::status::SmiStatus;
use crate::top_level::impl_top_level_resource;

/// TrafficTarget (v1alpha1) allows traffic to a destination identity from source identities,
/// optionally only on a port and on the routes of the referenced traffic specs.
#[derive(Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrafficTarget {
    /// Standard object metadata.
    #[schemars(skip)]
    pub metadata: ObjectMeta,
    /// The identity whose pods receive the allowed traffic, optionally limited to one port.
    pub destination: IdentityBindingSubject,
    /// The identities allowed to send traffic to the destination.
    #[serde(default)]
    pub sources: Vec<IdentityBindingSubject>,
    /// The traffic the sources may send: references to HTTPRouteGroups or TCPRoutes.
    #[serde(default)]
    pub specs: Vec<TrafficTargetRule>,
    /// Observed state, written by smi-bridge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<SmiStatus>,
}

impl_top_level_resource!(
    TrafficTarget,
    group = "access.smi-spec.io",
    version = "v1alpha1",
    kind = "TrafficTarget",
    plural = "traffictargets",
    fields = [destination, sources, specs]
);

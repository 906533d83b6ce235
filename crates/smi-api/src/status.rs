//! The status every SMI object carries when smi-bridge serves its CRDs.
//!
//! SMI itself never defined a status; smi-bridge adds the standard Kubernetes `conditions` list
//! (the `metav1.Condition` shape) so `kubectl describe` and `kubectl wait` work on SMI objects.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Observed state of an SMI object, written by smi-bridge through the status subresource.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SmiStatus {
    /// Standard conditions: `Accepted`, `ResolvedRefs` and `Programmed` (the latter per mesh
    /// backend), each with the generation it was computed for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

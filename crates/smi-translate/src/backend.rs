//! The interface a mesh backend implements. Each backend lives in its own crate under `adapters/`;
//! the core never depends on one.

use crate::model::Model;
use crate::native::NativeObject;
use crate::report::Finding;
use crate::state::ClusterState;

/// A mesh backend: turns the mesh-neutral [`Model`] into the mesh's native objects.
///
/// Implementations are pure and deterministic: the same model and state give the same output,
/// in the same order. Whatever the mesh cannot express is reported as a [`Finding`] and left out
/// (never widened into a rule that allows or routes more than asked).
pub trait Backend: Send + Sync {
    /// Short name used on the command line and in labels: `istio`, `linkerd`, `consul`, `gamma`.
    fn name(&self) -> &str;

    /// The native kinds the backend writes: what the operator watches, prunes and needs RBAC
    /// for, and whose CRDs must be served for the backend to be available.
    fn native_kinds(&self) -> Vec<NativeKind>;

    /// The desired native objects and what could not be expressed. The core stamps ownership
    /// labels and annotations afterwards.
    fn render(&self, model: &Model, state: &ClusterState) -> BackendOutput;
}

/// A native kind a backend writes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct NativeKind {
    /// API group.
    pub group: String,
    /// Version written.
    pub version: String,
    /// Kind.
    pub kind: String,
    /// Resource (plural) name.
    pub plural: String,
}

impl NativeKind {
    /// Builds a kind.
    pub fn new(group: &str, version: &str, kind: &str, plural: &str) -> Self {
        NativeKind {
            group: group.to_string(),
            version: version.to_string(),
            kind: kind.to_string(),
            plural: plural.to_string(),
        }
    }

    /// `group/version`.
    pub fn api_version(&self) -> String {
        format!("{}/{}", self.group, self.version)
    }
}

/// What a backend produced.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BackendOutput {
    /// Desired native objects.
    pub objects: Vec<NativeObject>,
    /// What could not be expressed, per SMI object.
    pub findings: Vec<Finding>,
}

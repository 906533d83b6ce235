//! The translation core of smi-bridge: pure and deterministic.
//!
//! SMI objects (at their hub versions) and the Namespaces, Services and workloads they refer to
//! go in as a [`ClusterState`]; [`translate`] decides once, for every mesh, what they mean (the
//! [`Model`]) and reports a status for every SMI object; [`render`] hands the model to a mesh
//! [`Backend`] and returns its native objects, stamped with ownership marks, in a stable order.
//! There is no API client here: watchers feed the state, and one writer applies the output.
#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod backend;
pub mod input;
pub mod keys;
pub mod model;
pub mod native;
pub mod oracle;
pub mod report;
pub mod state;
mod translate;
pub mod validate;
pub mod yaml;

pub use backend::{Backend, BackendOutput, NativeKind, host_claim, service_host_claim};
pub use keys::{Identity, ObjectKey, SmiKind, SmiRef};
pub use model::{Model, TranslateOptions};
pub use native::NativeObject;
pub use report::{ConditionSpec, ConditionType, Finding, ObjectStatus, Report};
pub use state::ClusterState;
pub use translate::{LINKERD_SKIP_ANNOTATION, SKIP_ANNOTATION, Translation, translate};

/// Native objects for one backend, and the status of every SMI object.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rendered {
    /// Desired native objects, ownership-stamped, sorted by apiVersion, kind, namespace, name.
    pub objects: Vec<NativeObject>,
    /// Conditions for every SMI object, including the backend's `Programmed`.
    pub report: Report,
}

/// Translates the state and renders it with one backend.
pub fn render(state: &ClusterState, backend: &dyn Backend, options: &TranslateOptions) -> Rendered {
    let Translation { model, mut report } = translate(state, options);
    let BackendOutput {
        mut objects,
        findings,
    } = backend.render(&model, state);
    for finding in &findings {
        report.status_mut(&finding.object).set(
            ConditionType::Programmed,
            false,
            &finding.reason,
            format!("{}: {}", backend.name(), finding.message),
        );
    }
    let accepted: Vec<SmiRef> = report
        .statuses
        .iter()
        .filter(|(_, s)| s.accepted())
        .map(|(r, _)| r.clone())
        .collect();
    for object in accepted {
        report.status_mut(&object).set(
            ConditionType::Programmed,
            true,
            "Programmed",
            format!("{}: expressed in native objects", backend.name()),
        );
    }
    for object in &mut objects {
        object.stamp_ownership(backend.name());
    }
    objects.sort_by(|a, b| {
        (&a.api_version, &a.kind, &a.namespace, &a.name).cmp(&(
            &b.api_version,
            &b.kind,
            &b.namespace,
            &b.name,
        ))
    });
    Rendered { objects, report }
}

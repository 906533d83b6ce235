//! Backend selection: which mesh serves each namespace, and whether its CRDs are served.
//!
//! A namespace's mesh is its [`MESH_LABEL`] label, else the operator's default (`--mesh`).
//! `auto` picks the first backend, in the order given, whose native kinds the API server
//! serves. A backend is available when the CRD of every native kind it writes is established
//! and serves the version it writes, and smi-bridge has listed those kinds; CRDs are watched, so
//! a mesh installed later is picked up without a restart.

use std::collections::BTreeSet;
use std::sync::Arc;

use smi_translate::{Backend, NativeKind};

use crate::config::{MESH_LABEL, MeshChoice};
use crate::error::Error;
use crate::index::{Index, Source};

/// The backends the operator can use, in order of preference for `auto`, and the default.
#[derive(Clone)]
pub struct Meshes {
    backends: Vec<Arc<dyn Backend>>,
    default: MeshChoice,
}

impl std::fmt::Debug for Meshes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Meshes")
            .field("backends", &self.names())
            .field("default", &self.default)
            .finish()
    }
}

/// Whether a backend can be used now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Availability {
    /// Its CRDs are served and its native kinds are listed.
    Available,
    /// Its CRDs are served; the first list of its native kinds is under way.
    Pending,
    /// It cannot be used; the message says why.
    Missing(String),
}

/// The backend serving a namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    /// The backend at this position.
    Backend(usize),
    /// The backend at this position, once its native kinds are listed: wait.
    Pending(usize),
    /// No backend can serve the namespace; the message says why and what to do.
    Unavailable(String),
}

impl Meshes {
    /// The backends (names must be unique) and the default choice (a backend name or auto).
    pub fn new(backends: Vec<Arc<dyn Backend>>, default: MeshChoice) -> Result<Self, Error> {
        let meshes = Meshes { backends, default };
        let names = meshes.names();
        let unique: BTreeSet<&str> = names.iter().map(String::as_str).collect();
        if unique.len() != names.len() {
            return Err(Error::Config(format!(
                "backend names are not unique: {names:?}"
            )));
        }
        if let MeshChoice::Named(name) = &meshes.default
            && !unique.contains(name.as_str())
        {
            return Err(Error::Config(format!(
                "--mesh {name}: not a known mesh; choose one of {} or auto",
                names.join(", ")
            )));
        }
        Ok(meshes)
    }

    /// The backends.
    pub fn backends(&self) -> &[Arc<dyn Backend>] {
        &self.backends
    }

    /// The backend names, in order.
    pub fn names(&self) -> Vec<String> {
        self.backends.iter().map(|b| b.name().to_string()).collect()
    }

    /// Every native kind of every backend: what is watched, pruned and needs RBAC.
    pub fn native_kinds(&self) -> BTreeSet<NativeKind> {
        self.backends
            .iter()
            .flat_map(|b| b.native_kinds())
            .collect()
    }

    /// Kinds the backends only read, to find foreign objects that take the same traffic under
    /// another name ([`smi_translate::Backend::claim_kinds`]), minus the native kinds.
    pub fn claim_kinds(&self) -> BTreeSet<NativeKind> {
        let native = self.native_kinds();
        self.backends
            .iter()
            .flat_map(|b| b.claim_kinds())
            .filter(|k| !native.contains(k))
            .collect()
    }

    /// Every kind watched: native and claim kinds.
    pub fn watched_kinds(&self) -> BTreeSet<NativeKind> {
        self.native_kinds()
            .into_iter()
            .chain(self.claim_kinds())
            .collect()
    }

    /// What an object of a watched kind claims, by any backend (claims depend on the kind only).
    pub fn claims(
        &self,
        kind: &NativeKind,
        object: &serde_json::Value,
        cluster_domain: &str,
    ) -> BTreeSet<String> {
        self.backends
            .iter()
            .flat_map(|b| b.claims(kind, object, cluster_domain))
            .collect()
    }

    /// Whether a backend can be used now.
    pub fn availability(&self, backend: &dyn Backend, index: &Index) -> Availability {
        let kinds = backend.native_kinds();
        let missing: Vec<String> = kinds
            .iter()
            .filter(|kind| {
                !index
                    .crd(&kind.group, &kind.plural)
                    .is_some_and(|crd| crd.established && crd.served.contains(&kind.version))
            })
            .map(|kind| format!("{}.{}/{}", kind.plural, kind.group, kind.version))
            .collect();
        if !missing.is_empty() {
            return Availability::Missing(format!(
                "the API server does not serve {} (CRDs not installed)",
                missing.join(", ")
            ));
        }
        let mut pending = false;
        for kind in &kinds {
            let source = Source::Native(kind.clone());
            if index.synced(&source) {
                continue;
            }
            if let Some(error) = index.watch_error(&source) {
                return Availability::Missing(format!(
                    "cannot watch {}.{}: {error}",
                    kind.plural, kind.group
                ));
            }
            pending = true;
        }
        if pending {
            Availability::Pending
        } else {
            Availability::Available
        }
    }

    /// The backend serving a namespace.
    pub fn select(&self, namespace: &str, index: &Index) -> Selection {
        let label = index
            .state()
            .namespaces
            .get(namespace)
            .and_then(|ns| ns.labels.get(MESH_LABEL));
        let (choice, origin) = match label {
            Some(value) => (
                MeshChoice::parse(value),
                format!("the label {MESH_LABEL}={value} of namespace {namespace}"),
            ),
            None => (self.default.clone(), "--mesh".to_string()),
        };
        match choice {
            MeshChoice::Named(name) => {
                let Some(position) = self.backends.iter().position(|b| b.name() == name) else {
                    return Selection::Unavailable(format!(
                        "{origin} names the mesh `{name}`, which is not one of {} (or auto)",
                        self.names().join(", ")
                    ));
                };
                match self.availability(self.backends[position].as_ref(), index) {
                    Availability::Available => Selection::Backend(position),
                    Availability::Pending => Selection::Pending(position),
                    Availability::Missing(why) => Selection::Unavailable(format!(
                        "{name} (chosen by {origin}): {why}; smi-bridge programs it as soon as \
                         they are served, or choose another mesh"
                    )),
                }
            }
            MeshChoice::Auto => {
                let mut reasons = Vec::new();
                for (position, backend) in self.backends.iter().enumerate() {
                    match self.availability(backend.as_ref(), index) {
                        Availability::Available => return Selection::Backend(position),
                        Availability::Pending => return Selection::Pending(position),
                        Availability::Missing(why) => {
                            reasons.push(format!("{}: {why}", backend.name()))
                        }
                    }
                }
                Selection::Unavailable(format!(
                    "no mesh detected (auto, from {origin}): {}; install a mesh or choose one",
                    reasons.join("; ")
                ))
            }
        }
    }
}

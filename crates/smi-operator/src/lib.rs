//! The smi-bridge operator (`smi-bridge run`): keeps every mesh's native resources equal to what
//! the SMI objects in the cluster ask for, and tells users what it did.
//!
//! # Design
//!
//! Linkerd's policy-controller is the model: **index → compute → one writer**, level-based.
//!
//! - [`watch`]: kube-runtime watchers for the SMI kinds (hub versions), Namespaces, Services,
//!   Deployments, StatefulSets, DaemonSets, ReplicaSets, Pods, CRDs and every backend's native
//!   kinds feed the [`index`], reduced to what translation needs (no managedFields).
//! - [`operator`]: on any change the loop waits briefly (debounce), then [`compute`] renders
//!   the whole index with the pure core (per backend: each namespace's mesh is chosen by
//!   [`mesh`]), diffs desired against observed native objects ([`diff`]) and statuses
//!   ([`status`]), and hands the differences to the [`writer`] — on the leader only
//!   ([`lease`]). Writes are echoed by the watches, which triggers the next (usually empty)
//!   round. A periodic resync is the safety net.
//!
//! # Ownership
//!
//! Every native object smi-bridge writes carries the core's labels and annotation
//! (`app.kubernetes.io/managed-by: smi-bridge`, `smi-bridge.io/backend`,
//! `smi-bridge.io/sources`), the [`APPLIED_HASH_ANNOTATION`], and ownerReferences to its SMI
//! sources in its namespace (`controller: true` for a single source, `false` for several), so
//! kube-controller-manager's garbage collector removes it with its sources; smi-bridge also
//! prunes its labelled objects that are no longer desired. **It never modifies or deletes an
//! object it did not create**: an object of a native kind with the kind, namespace and name of
//! a desired object but without the managed-by label is a `Conflict` (`Programmed=False` on the
//! SMI sources, plus a Warning Event) and is left alone, unless it is annotated
//! [`ADOPT_ANNOTATION`]`: "true"` — then smi-bridge takes it over (forced apply of its fields;
//! fields it does not set stay with their previous manager). Creates cannot merge into an
//! object created meanwhile (`resourceVersion: "0"`), updates and deletes are conditional on
//! the observed resourceVersion (and uid). Objects under **another name** that take the same
//! traffic are conflicts too: backends declare what each object claims
//! ([`smi_translate::Backend::claims`] — the hosts of mesh-bound VirtualServices, the parent
//! Services of Gateway API routes, the Service a ServiceProfile is named after, the destination
//! of a ServiceIntentions) and the kinds they only read for that
//! ([`smi_translate::Backend::claim_kinds`], watched read-only); a desired object whose claim a
//! foreign object already holds is not written, and its sources get a `Conflict` naming the
//! other object. Adoption applies to same-name objects only: another name must be deleted (or
//! its routing moved into the SMI objects).
//!
//! # Status and Events
//!
//! Every SMI object gets the core's conditions (`Accepted`, `ResolvedRefs`, `Programmed`) with
//! `observedGeneration`, through a server-side apply to `/status` (field manager
//! `smi-bridge-status`), only when they change (ignoring `lastTransitionTime`, which is kept
//! while a condition's status stays). smi-bridge adds `Programmed=False` reasons
//! `BackendUnavailable` (the namespace's mesh has no CRDs, or none was detected), `Conflict`,
//! `ApplyFailed` (the API server refused a native object), and `Accepted=False` reason
//! `Invalid` for objects it cannot read. Each False condition that appears or changes is also
//! a Warning Event (`events.k8s.io/v1`).
//!
//! # Reliability
//!
//! Writes go through a token bucket (`--qps`, `--burst`), at most `--concurrency` at once, each
//! with a timeout; a failing object backs off exponentially (250 ms → 60 s, 409: 100 ms → 5 s),
//! reset on success, without holding up the others. Re-applying unchanged content (another
//! writer or a mutating webhook keeps changing smi-bridge's fields) backs off the same way, so
//! a fight never becomes a hot loop. Leadership is checked right before every
//! write on the monotonic clock (see [`lease`]). On shutdown (SIGTERM) writing stops and the
//! lease is released.
//!
//! # RBAC
//!
//! [`rbac::rules`] lists them; with the four meshes' kinds:
//!
//! | API group | resources | verbs |
//! |---|---|---|
//! | `""` | namespaces, services, pods | get, list, watch |
//! | `apps` | deployments, statefulsets, daemonsets, replicasets | get, list, watch |
//! | `apiextensions.k8s.io` | customresourcedefinitions | get, list, watch |
//! | `split.smi-spec.io` | trafficsplits | get, list, watch |
//! | `access.smi-spec.io` | traffictargets | get, list, watch |
//! | `specs.smi-spec.io` | httproutegroups, tcproutes, udproutes | get, list, watch |
//! | the three SMI groups | `<plural>/status` | get, patch |
//! | each backend's native groups | its native plurals (e.g. `networking.istio.io` virtualservices, `security.istio.io` authorizationpolicies) | get, list, watch, create, patch, delete |
//! | `events.k8s.io` | events | create, patch |
//! | `coordination.k8s.io` | leases (may be a Role in the lease namespace) | get, create, patch |
//!
//! # Flags of `smi-bridge run`
//!
//! `--mesh istio|linkerd|consul|gamma|auto`, `--namespace` (watch one namespace only),
//! `--cluster-domain`, `--kubeconfig`, `--identity`, `--lease-name`, `--lease-namespace`,
//! `--lease-duration`, `--lease-renew-interval`, `--qps`, `--burst`, `--concurrency`,
//! `--debounce`, `--resync`, `--http-addr`, `--log-format text|json`.
#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod compute;
pub mod config;
pub mod diff;
mod error;
pub mod http;
pub mod index;
pub mod lease;
pub mod mesh;
pub mod metrics;
pub mod operator;
pub mod rbac;
pub mod status;
pub mod throttle;
pub mod watch;
pub mod writer;

pub use config::{
    ADOPT_ANNOTATION, APPLIED_HASH_ANNOTATION, FIELD_MANAGER, LeaseConfig, MESH_LABEL, MeshChoice,
    OperatorConfig, STATUS_FIELD_MANAGER, WriteConfig,
};
pub use error::{Error, WriteErrorClass};
pub use mesh::Meshes;
pub use operator::Operator;

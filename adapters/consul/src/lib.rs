//! The Consul backend of smi-bridge: SMI objects as consul-k8s config-entry custom resources
//! (`consul.hashicorp.com/v1alpha1`).
//!
//! # The service model
//!
//! consul-k8s registers each pod under exactly one Consul service, named after the Kubernetes
//! Service selecting it; every other Service selecting the pod must carry the label
//! `consul.hashicorp.com/service-ignore: "true"`, or injection fails. SMI's root Service usually
//! selects the pods of its backends too, so smi-bridge fixes who registers what:
//!
//! - the **root** of a TrafficSplit is the registered Consul service: with no split, or for
//!   requests an A/B split does not match, traffic reaches the root's own pods as before;
//! - a **backend whose pods the root selects** is virtual: it carries service-ignore and is
//!   reached as the ServiceResolver subset of the root named after it (filtered on the pod names
//!   consul-k8s records, as it records no pod labels; no filter when it has all the root's pods,
//!   as Flagger's primary does). A `ServiceResolver` redirect keeps it addressable by name;
//! - a **backend whose pods the root does not select** (Flagger's canary) is registered itself.
//!
//! A label that contradicts the model, pods selected by several registering Services, or pods
//! whose `consul.hashicorp.com/connect-service` annotation names another Consul service than the
//! Service registering them (config entries for that Service would miss them) are reported as
//! `ServiceModelConflict` on the SMI objects concerned.
//!
//! # What is written
//!
//! - TrafficSplit → `ServiceSplitter` named after the root (weights in percent with two
//!   decimals, summing to exactly 100), `ServiceResolver`s for subsets and redirects, a
//!   `ServiceRouter` for A/B matches (one route per match, then a catch-all to the root's own
//!   subset, which bypasses the splitter), and `ServiceDefaults` `protocol: http` (or `http2`,
//!   `grpc`) for every Consul service in the chain.
//! - TrafficTargets → one `ServiceIntentions` per destination Consul service, aggregating every
//!   TrafficTarget for it: L4 sources `action: allow`, L7 sources `permissions` (one allow per
//!   match, then a deny for anything else), and a `*` source denying everyone else; also for
//!   destinations in namespaces that enforce access.
//! - Identities: a ServiceAccount is the Consul services of its pods (the Services registering
//!   them), or its own name when no Service does ([`IdentityMapping`]).
//!
//! Everything Consul cannot express is reported (`NotExpressible`, `NotSupported`, `Conflict`,
//! `IdentityNotMapped`) and left out, never widened. [`validate::validate`] checks the rules of
//! Consul the CRDs do not carry; [`ConsulEvaluator`] interprets the objects as Consul would.
#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod authorization;
pub mod evaluator;
mod filter;
mod matches;
mod names;
mod output;
mod pod_names;
mod registry;
mod routing;
pub mod validate;

use std::collections::BTreeSet;

use smi_translate::{Backend, BackendOutput, ClusterState, Model, NativeKind};

pub use evaluator::ConsulEvaluator;
pub use registry::{CONNECT_SERVICE, SERVICE_IGNORE};

use crate::output::Output;
use crate::registry::Registry;
use crate::routing::RoutingPlan;

/// The API group of the consul-k8s config-entry CRDs.
pub const GROUP: &str = "consul.hashicorp.com";
/// The API version written.
pub const API_VERSION: &str = "consul.hashicorp.com/v1alpha1";

/// Whether Consul namespaces (Enterprise) separate Kubernetes namespaces.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum NamespaceMode {
    /// Consul open source: one namespace; same-named services of different Kubernetes
    /// namespaces are one Consul service (reported as a `Conflict`, never merged silently).
    #[default]
    Disabled,
    /// Consul Enterprise with `connectInject.consulNamespaces.mirroringK8S`: every Kubernetes
    /// namespace is the Consul namespace `<prefix><namespace>`, written in `namespace` fields.
    Mirroring {
        /// `connectInject.consulNamespaces.mirroringK8SPrefix` (usually empty).
        prefix: String,
    },
}

/// How a ServiceAccount is mapped to Consul service names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IdentityMapping {
    /// The Consul services of the pods running as the ServiceAccount: the Kubernetes Services
    /// registering them; the ServiceAccount's name when no Service does.
    #[default]
    SelectingService,
    /// The ServiceAccount's name (what consul-k8s's ACL binding rule requires of the service
    /// name).
    ServiceAccountName,
}

/// Options of the Consul backend.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConsulOptions {
    /// Consul namespaces (default: none, as in Consul open source).
    pub namespaces: NamespaceMode,
    /// ServiceAccount → Consul service names (default: the Services selecting its pods).
    pub identities: IdentityMapping,
}

impl ConsulOptions {
    /// Options with the given namespace mode and identity mapping.
    pub fn new(namespaces: NamespaceMode, identities: IdentityMapping) -> Self {
        ConsulOptions {
            namespaces,
            identities,
        }
    }
}

/// The Consul backend.
#[derive(Clone, Debug, Default)]
pub struct ConsulBackend {
    options: ConsulOptions,
}

impl ConsulBackend {
    /// A backend with these options.
    pub fn new(options: ConsulOptions) -> Self {
        ConsulBackend { options }
    }

    /// The backend's options.
    pub fn options(&self) -> &ConsulOptions {
        &self.options
    }
}

impl Backend for ConsulBackend {
    fn name(&self) -> &str {
        "consul"
    }

    fn native_kinds(&self) -> Vec<NativeKind> {
        [
            ("ServiceDefaults", "servicedefaults"),
            ("ServiceIntentions", "serviceintentions"),
            ("ServiceResolver", "serviceresolvers"),
            ("ServiceRouter", "servicerouters"),
            ("ServiceSplitter", "servicesplitters"),
        ]
        .into_iter()
        .map(|(kind, plural)| NativeKind::new(GROUP, "v1alpha1", kind, plural))
        .collect()
    }

    /// consul-k8s accepts one ServiceIntentions per destination, cluster-wide, whatever its name.
    fn claims(
        &self,
        kind: &NativeKind,
        object: &serde_json::Value,
        _cluster_domain: &str,
    ) -> Vec<String> {
        let destination = &object["spec"]["destination"];
        match (kind.kind.as_str(), destination["name"].as_str()) {
            ("ServiceIntentions", Some(name)) => match destination["namespace"].as_str() {
                Some(namespace) => vec![format!("intentions:{namespace}/{name}")],
                None => vec![format!("intentions:{name}")],
            },
            _ => Vec::new(),
        }
    }

    fn render(&self, model: &Model, state: &ClusterState) -> BackendOutput {
        let mut out = Output::default();
        let mut plans = Vec::new();
        for routes in &model.routes {
            match RoutingPlan::new(state, routes) {
                Ok(plan) => plans.push(plan),
                Err(message) => out.finding(&routes.split, "NotExpressible", message),
            }
        }
        let virtual_services: BTreeSet<_> = plans
            .iter()
            .flat_map(RoutingPlan::virtual_services)
            .collect();
        let identities = model.access.iter().flat_map(|a| {
            std::iter::once(a.identity.clone())
                .chain(a.rules.iter().flat_map(|r| r.sources.iter().cloned()))
        });
        let registry = Registry::new(state, &self.options, virtual_services, identities);
        for plan in &plans {
            plan.render(&registry, &mut out);
        }
        authorization::render(model, state, &registry, &mut out);
        out.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_intentions_claim_their_destination_whatever_their_name() {
        let backend = ConsulBackend::default();
        let intentions =
            NativeKind::new(GROUP, "v1alpha1", "ServiceIntentions", "serviceintentions");
        let object = serde_json::json!({"metadata": {"name": "anything"}, "spec": {"destination": {"name": "api"}}});
        assert_eq!(
            backend.claims(&intentions, &object, "cluster.local"),
            vec!["intentions:api"]
        );
        let enterprise =
            serde_json::json!({"spec": {"destination": {"name": "api", "namespace": "bank"}}});
        assert_eq!(
            backend.claims(&intentions, &enterprise, "cluster.local"),
            vec!["intentions:bank/api"]
        );
        let splitter = NativeKind::new(GROUP, "v1alpha1", "ServiceSplitter", "servicesplitters");
        assert!(
            backend
                .claims(&splitter, &object, "cluster.local")
                .is_empty()
        );
    }
}

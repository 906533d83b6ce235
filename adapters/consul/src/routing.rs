//! TrafficSplits → `ServiceDefaults`, `ServiceSplitter`, `ServiceResolver` and `ServiceRouter`.
//!
//! The chain for a root `web` with backends `web-v1` (subset of the root) and `canary`
//! (registered): `ServiceRouter web` (only with A/B matches: one route per match to `web`, then a
//! catch-all to subset `web` of `web`, which bypasses the splitter) → `ServiceSplitter web`
//! (`{service: web, serviceSubset: web-v1}`, `{service: canary}`) → `ServiceResolver web`
//! (subsets `web` = every instance, `web-v1` = the pods of `web-v1`). `ServiceResolver web-v1`
//! redirects to subset `web-v1` of `web`, so the virtual backend stays addressable.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use smi_translate::model::{PortProtocol, RoutedPort, ServiceRoutes};
use smi_translate::{ClusterState, ObjectKey};

use crate::filter::SubsetFilter;
use crate::matches::{MatchFlavor, http_criteria};
use crate::names::ConsulName;
use crate::output::Output;
use crate::pod_names::{pod_name_pattern, sample_pod_name};
use crate::registry::{BackendRole, Registry, SplitLayout};

/// Splitter weights are percentages with two decimals: apportion in hundredths of a percent.
const HUNDREDTHS: u64 = 10_000;

/// What one TrafficSplit becomes, decided before anything is written.
pub struct RoutingPlan<'a> {
    routes: &'a ServiceRoutes,
    layout: SplitLayout,
    port: &'a RoutedPort,
    protocol: &'static str,
    /// Subset name → filter, for the root's ServiceResolver.
    subsets: BTreeMap<String, SubsetFilter>,
    /// What is expressed only in part.
    partial: Vec<String>,
}

impl<'a> RoutingPlan<'a> {
    /// Plans one split; `Err` says why Consul cannot express it at all.
    pub fn new(state: &ClusterState, routes: &'a ServiceRoutes) -> Result<Self, String> {
        let layout = SplitLayout::new(state, routes);
        if let Some(problem) = &layout.not_expressible {
            return Err(problem.clone());
        }
        let root = &routes.root.name;
        let Some(port) = routes.ports.iter().find(|p| p.protocol.is_http_routable()) else {
            return Err(format!(
                "Consul splits HTTP traffic only (a ServiceSplitter needs protocol http, http2 or grpc) and every routed port of `{root}` is TCP or UDP; traffic stays on `{root}`"
            ));
        };
        let protocol = protocol_name(port.protocol);
        let mut partial = Vec::new();
        for other in routes.ports.iter().filter(|p| p.port != port.port) {
            if other.backends != port.backends || !other.protocol.is_http_routable() {
                partial.push(format!(
                    "a Consul service has one port and one protocol: port {} of `{root}` is routed like port {} ({protocol}), not as the split asks for it",
                    other.port, port.port
                ));
            }
        }
        if let Some(service) = state.services.get(&routes.root) {
            for unrouted in service
                .ports
                .iter()
                .filter(|p| routes.ports.iter().all(|r| r.port != p.port))
            {
                partial.push(format!(
                    "port {} of `{root}` has no backend with weight, but Consul splits the whole service, that port included",
                    unrouted.port
                ));
            }
        }
        let mut subsets = BTreeMap::new();
        let everything = SubsetFilter::RegisteredBy(root.clone());
        if !routes.matches.is_empty() {
            subsets.insert(root.clone(), everything.clone());
        }
        for (name, role, workloads) in &layout.backends {
            match role {
                BackendRole::Root => {
                    subsets.insert(root.clone(), everything.clone());
                }
                BackendRole::Subset if *workloads == layout.root_workloads => {
                    subsets.insert(name.clone(), everything.clone());
                }
                BackendRole::Subset => {
                    let patterns = workloads
                        .iter()
                        .map(pod_name_pattern)
                        .collect::<Result<Vec<_>, _>>()?;
                    let filter = SubsetFilter::pod_names(&patterns);
                    for other in layout.root_workloads.difference(workloads) {
                        if filter.accepts(name, &sample_pod_name(other))? {
                            return Err(format!(
                                "the pods of backend `{name}` cannot be told apart from the pods of {:?} `{}` by pod name (consul-k8s records no pod labels in Consul); rename one of the workloads",
                                other.kind, other.key.name
                            ));
                        }
                    }
                    subsets.insert(name.clone(), filter);
                }
                BackendRole::Registered => {}
            }
        }
        Ok(RoutingPlan {
            routes,
            layout,
            port,
            protocol,
            subsets,
            partial,
        })
    }

    /// The backends the plan makes virtual services (they must carry service-ignore).
    pub fn virtual_services(&self) -> impl Iterator<Item = ObjectKey> + '_ {
        let namespace = &self.routes.root.namespace;
        self.layout
            .virtual_backends()
            .map(move |b| ObjectKey::new(namespace, b))
    }

    /// Writes the plan's objects and findings.
    pub fn render(&self, registry: &Registry<'_>, out: &mut Output) {
        let routes = self.routes;
        let split = &routes.split;
        for message in &self.partial {
            out.finding(split, "NotExpressible", message.clone());
        }
        for message in &self.layout.label_problems {
            out.finding(split, "ServiceModelConflict", message.clone());
        }
        let workloads = self
            .layout
            .root_workloads
            .iter()
            .chain(self.layout.backends.iter().flat_map(|b| b.2.iter()));
        for message in registry.registration_problems(workloads) {
            out.finding(split, "ServiceModelConflict", message);
        }
        let mode = registry.mode();
        let namespace = &routes.root.namespace;
        let root = ConsulName::of_service(mode, &routes.root);
        out.protocol(&root, namespace, self.protocol, &routes.sources);
        for (name, _, _) in &self.layout.backends {
            let backend = ConsulName::new(mode, namespace, name);
            out.protocol(&backend, namespace, self.protocol, &routes.sources);
        }
        out.object(
            "ServiceSplitter",
            namespace,
            &root.name,
            json!({"splits": self.splits()}),
            &routes.sources,
        );
        if !self.subsets.is_empty() {
            let subsets: Map<String, Value> = self
                .subsets
                .iter()
                .map(|(name, filter)| (name.clone(), json!({"filter": filter.expression()})))
                .collect();
            out.object(
                "ServiceResolver",
                namespace,
                &root.name,
                json!({"subsets": subsets}),
                &routes.sources,
            );
        }
        for backend in self.layout.virtual_backends() {
            let redirect = json!({"redirect": {"service": root.name, "serviceSubset": backend}});
            out.object(
                "ServiceResolver",
                namespace,
                backend,
                redirect,
                &routes.sources,
            );
        }
        if !routes.matches.is_empty() {
            let mut entries: Vec<Value> = routes
                .matches
                .iter()
                .map(|m| {
                    json!({
                        "match": {"http": http_criteria(m, MatchFlavor::Router)},
                        "destination": {"service": root.name},
                    })
                })
                .collect();
            entries
                .push(json!({"destination": {"service": root.name, "serviceSubset": root.name}}));
            out.object(
                "ServiceRouter",
                namespace,
                &root.name,
                json!({"routes": entries}),
                &routes.sources,
            );
        }
    }

    fn splits(&self) -> Vec<Value> {
        let root = &self.routes.root.name;
        let weights = self.port.apportioned(HUNDREDTHS);
        self.port
            .backends
            .iter()
            .zip(weights)
            .map(|(backend, hundredths)| {
                let role = self
                    .layout
                    .backends
                    .iter()
                    .find(|(name, _, _)| *name == backend.service)
                    .map(|(_, role, _)| *role)
                    .unwrap_or(BackendRole::Registered);
                let weight = percent(hundredths);
                match role {
                    BackendRole::Root => {
                        json!({"weight": weight, "service": root, "serviceSubset": root})
                    }
                    BackendRole::Subset => {
                        json!({"weight": weight, "service": root, "serviceSubset": backend.service})
                    }
                    BackendRole::Registered => {
                        json!({"weight": weight, "service": backend.service})
                    }
                }
            })
            .collect()
    }
}

/// The Consul protocol of an HTTP-routable port (undeclared ports are taken as HTTP).
fn protocol_name(protocol: PortProtocol) -> &'static str {
    match protocol {
        PortProtocol::Http2 => "http2",
        PortProtocol::Grpc => "grpc",
        _ => "http",
    }
}

/// A weight in hundredths of a percent as a JSON number with at most two decimals (an integer
/// when whole, so `100` rather than `100.0`).
fn percent(hundredths: u64) -> Value {
    if hundredths.is_multiple_of(100) {
        Value::from(hundredths / 100)
    } else {
        Value::from(hundredths as f64 / 100.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smi_translate::model::apportion;

    #[test]
    fn small_weights_keep_two_decimals() {
        let weights = apportion(&[1, 999], HUNDREDTHS);
        assert_eq!(weights, vec![10, 9990]);
        assert_eq!(percent(weights[0]).to_string(), "0.1");
        assert_eq!(percent(weights[1]).to_string(), "99.9");
        let thirds = apportion(&[1, 1, 1], HUNDREDTHS);
        let written: Vec<String> = thirds.iter().map(|h| percent(*h).to_string()).collect();
        assert_eq!(written, ["33.34", "33.33", "33.33"]);
        assert_eq!(percent(10_000).to_string(), "100");
        assert_eq!(percent(0).to_string(), "0");
    }
}

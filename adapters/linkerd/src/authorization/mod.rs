//! TrafficTargets as Linkerd policy (Linkerd ≥ 2.12).
//!
//! Per destination identity, for every pod set and TCP pod port:
//! - a **Server** (deny by default: the namespace's `default-inbound-policy` annotation only
//!   takes effect at injection, so it cannot be relied on);
//! - for TCP rules (and anything else allowed on the whole port), an **AuthorizationPolicy**
//!   targeting the Server, requiring the TrafficTarget's **MeshTLSAuthentication** (one per
//!   TrafficTarget, holding all its sources: required authentications are AND'ed);
//! - for HTTPRouteGroup rules, a policy **HTTPRoute** `<target>-<server>-http` per TrafficTarget
//!   attached to the Server, with an AuthorizationPolicy targeting it. Once a Server has routes,
//!   a request no route
//!   matches is refused, and each request is authorised by its best-ranked route (and the
//!   Server's policies), so the backend also writes:
//!   - a catch-all route `<server>-all` when the Server also has port-wide policies, so those
//!     keep allowing every request;
//!   - AuthorizationPolicies for TrafficTargets whose rules cover another route
//!     (the `coverage` module), and `NotExpressible` reports for overlaps that cannot be resolved;
//!   - a probe route `<server>-probes` for the configured probe paths, authorised for the probe
//!     networks through a **NetworkAuthentication** (Linkerd drops its implicit probe route from
//!     Servers with routes).

mod objects;
mod routes;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use smi_translate::keys::{Identity, SmiKind, SmiRef};
use smi_translate::model::{
    AllowedTraffic, DestinationAccess, HttpMatch, Model, PodSet, PortProtocol,
};
use smi_translate::native::bounded_name;
use smi_translate::state::ClusterState;
use smi_translate::{BackendOutput, Finding, NativeObject};

use crate::coverage::covers;
use crate::options::{LinkerdOptions, PolicyApis};
use crate::servers::{pod_selector, proxy_protocol, server_name, server_ports};

pub use self::objects::identity_string;
use self::routes::Route;

/// `policy.linkerd.io/v1alpha1`: AuthorizationPolicy, MeshTLSAuthentication, NetworkAuthentication.
pub const AUTHN_API: &str = "policy.linkerd.io/v1alpha1";

/// Policy objects for every destination, and what could not be expressed.
pub fn render_access(
    model: &Model,
    state: &ClusterState,
    options: &LinkerdOptions,
) -> BackendOutput {
    let Some(policy) = options.policy else {
        return access_not_supported(model);
    };
    let mut out = BackendOutput::default();
    for destination in &model.access {
        Destination {
            state,
            options,
            policy,
            destination,
            clients: clients(destination),
            out: &mut out,
        }
        .render();
    }
    out
}

/// Before Linkerd 2.12 there is no AuthorizationPolicy: every accepted TrafficTarget is reported.
fn access_not_supported(model: &Model) -> BackendOutput {
    let mut targets: Vec<&SmiRef> = model
        .access
        .iter()
        .flat_map(|d| &d.sources)
        .filter(|s| s.kind == SmiKind::TrafficTarget)
        .collect();
    targets.sort();
    targets.dedup();
    let findings = targets
        .into_iter()
        .map(|t| Finding {
            object: t.clone(),
            reason: "NotSupported".to_string(),
            message: "TrafficTargets need Linkerd ≥ 2.12 (AuthorizationPolicy); the configured release has none, so nothing is enforced".to_string(),
        })
        .collect();
    BackendOutput {
        objects: Vec::new(),
        findings,
    }
}

/// The sources of every TrafficTarget of a destination.
fn clients(destination: &DestinationAccess) -> BTreeMap<&SmiRef, &[Identity]> {
    destination
        .rules
        .iter()
        .map(|r| (&r.target, r.sources.as_slice()))
        .collect()
}

struct Destination<'a, 'o> {
    state: &'a ClusterState,
    options: &'a LinkerdOptions,
    policy: PolicyApis,
    destination: &'a DestinationAccess,
    clients: BTreeMap<&'a SmiRef, &'a [Identity]>,
    out: &'o mut BackendOutput,
}

impl<'a> Destination<'a, '_> {
    fn namespace(&self) -> &'a str {
        &self.destination.identity.namespace
    }

    fn targets(&self) -> impl Iterator<Item = &'a SmiRef> + 'a {
        self.destination
            .sources
            .iter()
            .filter(|s| s.kind == SmiKind::TrafficTarget)
    }

    fn report(&mut self, object: &SmiRef, reason: &str, message: String) {
        self.out.findings.push(Finding {
            object: object.clone(),
            reason: reason.to_string(),
            message,
        });
    }

    fn report_all(&mut self, reason: &str, message: String) {
        for target in self.targets().collect::<Vec<_>>() {
            self.report(target, reason, message.clone());
        }
    }

    fn render(mut self) {
        let d = self.destination;
        for rule in d
            .rules
            .iter()
            .filter(|r| matches!(r.traffic, AllowedTraffic::Udp))
        {
            self.report(
                &rule.target,
                "NotSupported",
                "UDPRoute rules cannot be enforced: Linkerd does not proxy UDP".to_string(),
            );
        }
        let unproxied: Vec<String> = d
            .ports
            .iter()
            .filter(|p| !p.transport.eq_ignore_ascii_case("TCP"))
            .map(|p| format!("{}/{}", p.port, p.transport))
            .collect();
        if !unproxied.is_empty() {
            self.report_all(
                "NotSupported",
                format!("Linkerd does not proxy {} of ServiceAccount `{}`: those ports stay reachable by everyone", unproxied.join(", "), d.identity.service_account),
            );
        }
        let mut used_clients: BTreeSet<&SmiRef> = BTreeSet::new();
        let mut probes_used = false;
        for pod_set in &d.pod_sets {
            let selector = match pod_selector(self.state, d, pod_set) {
                Ok(selector) => selector,
                Err(others) => {
                    let names: Vec<String> = others
                        .iter()
                        .map(|w| format!("{:?} {}", w.kind, w.key.name))
                        .collect();
                    self.report_all(
                        "AmbiguousSelector",
                        format!(
                            "the pods of {} carry exactly the labels of ServiceAccount `{}`'s pods {:?}, so no Server can select one without the other; those pods keep Linkerd's default policy (give them distinct labels)",
                            names.join(", "),
                            d.identity.service_account,
                            pod_set.labels
                        ),
                    );
                    continue;
                }
            };
            for (port, protocol) in server_ports(d, pod_set) {
                let (clients, probes) = self.server(pod_set, &selector, port, protocol);
                used_clients.extend(clients);
                probes_used |= probes;
            }
        }
        for target in used_clients {
            let sources = self.clients.get(target).copied().unwrap_or_default();
            let object = self.mesh_tls_authentication(target, sources);
            self.out.objects.push(object);
        }
        if probes_used {
            let sources: Vec<&SmiRef> = self.targets().collect();
            let networks: Vec<Value> = self
                .options
                .probe_networks
                .iter()
                .map(|cidr| json!({"cidr": cidr}))
                .collect();
            self.out.objects.push(
                NativeObject::new(
                    AUTHN_API,
                    "NetworkAuthentication",
                    self.namespace(),
                    self.probe_authentication(),
                    json!({"networks": networks}),
                )
                .with_sources(sources),
            );
        }
    }

    fn probe_authentication(&self) -> String {
        bounded_name(
            &format!("{}-probes", self.destination.identity.service_account),
            253,
        )
    }

    /// The objects of one Server; returns the TrafficTargets whose MeshTLSAuthentication they
    /// use, and whether they use the probe NetworkAuthentication.
    fn server(
        &mut self,
        pod_set: &PodSet,
        selector: &Value,
        port: u16,
        protocol: PortProtocol,
    ) -> (Vec<&'a SmiRef>, bool) {
        let d = self.destination;
        let name = server_name(d, pod_set, port);
        let port_wide: BTreeSet<&SmiRef> = d
            .rules
            .iter()
            .filter(|r| {
                matches!(r.traffic, AllowedTraffic::Tcp) && (r.all_ports || r.ports.contains(&port))
            })
            .map(|r| &r.target)
            .collect();
        let http = self.http_allows(port, protocol);
        let spec = json!({"podSelector": selector, "port": port, "proxyProtocol": proxy_protocol(protocol, !http.is_empty())});
        let server = NativeObject::new(
            self.policy.server.api_version(),
            "Server",
            self.namespace(),
            &name,
            spec,
        )
        .with_sources(&d.sources);
        self.out.objects.push(server);
        for target in &port_wide {
            let policy_name = bounded_name(&format!("{}-{name}", target.key.name), 253);
            let object = self.authorization_policy(
                &policy_name,
                "Server",
                &name,
                "MeshTLSAuthentication",
                &target.key.name,
                [*target],
            );
            self.out.objects.push(object);
        }
        let mut used: Vec<&'a SmiRef> = port_wide.into_iter().collect();
        if http.is_empty() {
            return (used, false);
        }
        // Kubelet probes lose Linkerd's implicit authorisation once routes are attached: the
        // pods' own HTTP probes on this port, and any configured paths, get a probe route.
        let mut probe_paths: Vec<String> = pod_set
            .probes
            .iter()
            .filter(|p| p.port == port)
            .map(|p| p.path.clone())
            .chain(self.options.probe_paths.iter().cloned())
            .collect();
        probe_paths.sort();
        probe_paths.dedup();
        let routes = self.routes(&name, port, http, !used.is_empty(), &probe_paths);
        let (authorizers, probes) = self.authorize_routes(&name, &routes);
        used.extend(authorizers);
        self.report_overlaps(port, &routes);
        (used, probes)
    }

    /// The HTTP matches each TrafficTarget allows on a pod port (none on opaque ports).
    fn http_allows(
        &mut self,
        port: u16,
        protocol: PortProtocol,
    ) -> BTreeMap<&'a SmiRef, Vec<HttpMatch>> {
        let d = self.destination;
        let mut http: BTreeMap<&'a SmiRef, Vec<HttpMatch>> = BTreeMap::new();
        for rule in d
            .rules
            .iter()
            .filter(|r| r.all_ports || r.ports.contains(&port))
        {
            let AllowedTraffic::Http(matches) = &rule.traffic else {
                continue;
            };
            if protocol == PortProtocol::Tcp {
                if !rule.all_ports {
                    self.report(&rule.target, "NotExpressible", format!("pod port {port} is declared opaque TCP, so Linkerd does not see the HTTP requests HTTPRouteGroup rules allow; nothing is allowed on it"));
                }
                continue;
            }
            let allowed = http.entry(&rule.target).or_default();
            for m in matches {
                if !allowed.contains(m) {
                    allowed.push(m.clone());
                }
            }
        }
        http
    }

    /// Writes the HTTPRoutes and their AuthorizationPolicies: each route is authorised for its
    /// own TrafficTarget and every other whose rules cover it, the probe route for the probe
    /// networks. Returns the TrafficTargets authorised, and whether probes are.
    fn authorize_routes(&mut self, server: &str, routes: &[Route<'a>]) -> (Vec<&'a SmiRef>, bool) {
        let mut used = Vec::new();
        let mut probes = false;
        for route in routes {
            // The route's own TrafficTarget, and every other one whose rules cover the route.
            let authorizers: Vec<&Route<'a>> = routes
                .iter()
                .filter(|r| {
                    r.own.is_some() && (r.name == route.name || covers(&r.matches, &route.matches))
                })
                .collect();
            for physical in self.http_routes(server, route) {
                for authorizer in &authorizers {
                    let Some(target) = authorizer.own else {
                        continue;
                    };
                    let policy_name = if authorizer.name == route.name {
                        physical.clone()
                    } else {
                        bounded_name(&format!("{}-{physical}", target.key.name), 253)
                    };
                    let object = self.authorization_policy(
                        &policy_name,
                        "HTTPRoute",
                        &physical,
                        "MeshTLSAuthentication",
                        &target.key.name,
                        &authorizer.sources,
                    );
                    self.out.objects.push(object);
                }
                if route.probes {
                    let authn = self.probe_authentication();
                    let object = self.authorization_policy(
                        &physical,
                        "HTTPRoute",
                        &physical,
                        "NetworkAuthentication",
                        &authn,
                        &route.sources,
                    );
                    self.out.objects.push(object);
                    probes = true;
                }
            }
            used.extend(authorizers.iter().filter_map(|a| a.own));
        }
        (used, probes)
    }
}

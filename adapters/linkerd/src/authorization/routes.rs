//! The HTTPRoutes of a Server with HTTP rules, and which TrafficTargets each authorises.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use smi_bridge_gamma::matches::route_matches;
use smi_translate::NativeObject;
use smi_translate::keys::SmiRef;
use smi_translate::model::{HttpMatch, PathRegex, PathShape};
use smi_translate::native::bounded_name;

use crate::coverage::{covers, may_overlap};
use crate::options::{POLICY_GROUP, POLICY_ROUTE_LIMITS};

use super::Destination;
use super::objects::{group_refs, synthetic_match};

/// A set of HTTP matches written as one or more HTTPRoutes on a Server.
pub(super) struct Route<'a> {
    pub(super) name: String,
    pub(super) matches: Vec<HttpMatch>,
    /// The TrafficTarget the route is for (none for the catch-all and probe routes).
    pub(super) own: Option<&'a SmiRef>,
    pub(super) sources: BTreeSet<SmiRef>,
    /// Authorised for the probe networks.
    pub(super) probes: bool,
}

impl<'a> Destination<'a, '_> {
    /// The routes of a Server with HTTP rules: one per TrafficTarget, the catch-all when
    /// port-wide policies exist, the probe route when there are probe paths.
    pub(super) fn routes(
        &mut self,
        server: &str,
        port: u16,
        http: BTreeMap<&'a SmiRef, Vec<HttpMatch>>,
        port_wide: bool,
        probe_paths: &[String],
    ) -> Vec<Route<'a>> {
        let all_targets: BTreeSet<SmiRef> = self
            .destination
            .rules
            .iter()
            .map(|r| r.target.clone())
            .collect();
        let http_targets: BTreeSet<SmiRef> = http.keys().map(|t| (*t).clone()).collect();
        let mut routes = Vec::new();
        for (target, allowed) in http {
            let mut matches = Vec::new();
            for m in allowed {
                match route_matches(&m, &POLICY_ROUTE_LIMITS) {
                    Ok(_) => matches.push(m),
                    Err(e) => self.report(
                        target,
                        "NotExpressible",
                        format!("{e}; it allows nothing on pod port {port}"),
                    ),
                }
            }
            if matches.is_empty() {
                continue;
            }
            let mut sources: BTreeSet<SmiRef> = group_refs(&matches).into_iter().collect();
            sources.insert(target.clone());
            routes.push(Route {
                name: bounded_name(&format!("{}-{server}-http", target.key.name), 253),
                matches,
                own: Some(target),
                sources,
                probes: false,
            });
        }
        if routes.is_empty() {
            return routes;
        }
        if port_wide {
            routes.push(Route {
                name: bounded_name(&format!("{server}-all"), 253),
                matches: vec![synthetic_match(self.namespace(), None, None)],
                own: None,
                sources: all_targets,
                probes: false,
            });
        }
        if !probe_paths.is_empty() {
            let matches = probe_paths
                .iter()
                .map(|path| {
                    let regex = PathRegex {
                        regex: format!("{}$", regex::escape(path)),
                        shape: PathShape::Exact(path.clone()),
                    };
                    synthetic_match(self.namespace(), Some(regex), Some(vec!["GET".to_string()]))
                })
                .collect();
            routes.push(Route {
                name: bounded_name(&format!("{server}-probes"), 253),
                matches,
                own: None,
                sources: http_targets,
                probes: true,
            });
        }
        routes
    }

    /// Writes the HTTPRoutes of one route (several when its matches exceed one route's limit);
    /// returns their names.
    pub(super) fn http_routes(&mut self, server: &str, route: &Route<'_>) -> Vec<String> {
        let limits = POLICY_ROUTE_LIMITS;
        let mut values: Vec<Value> = Vec::new();
        for m in &route.matches {
            for value in route_matches(m, &limits).unwrap_or_default() {
                if !values.contains(&value) {
                    values.push(value);
                }
            }
        }
        let mut names = Vec::new();
        for (i, chunk) in values.chunks(limits.matches_per_route).enumerate() {
            let name = if i == 0 {
                route.name.clone()
            } else {
                bounded_name(&format!("{}-{}", route.name, i + 1), 253)
            };
            let rules: Vec<Value> = chunk
                .chunks(limits.matches_per_rule)
                .map(|c| json!({"matches": c}))
                .collect();
            let spec = json!({"parentRefs": [{"group": POLICY_GROUP, "kind": "Server", "name": server}], "rules": rules});
            self.out.objects.push(
                NativeObject::new(
                    self.policy.http_route.api_version(),
                    "HTTPRoute",
                    self.namespace(),
                    &name,
                    spec,
                )
                .with_sources(&route.sources),
            );
            names.push(name);
        }
        names
    }

    /// Reports pairs of TrafficTargets whose HTTP rules may overlap without one covering the
    /// other: Linkerd decides such requests by one route, so one source set is denied there.
    pub(super) fn report_overlaps(&mut self, port: u16, routes: &[Route<'a>]) {
        let owned: Vec<(&SmiRef, &Vec<HttpMatch>)> = routes
            .iter()
            .filter_map(|r| r.own.map(|o| (o, &r.matches)))
            .collect();
        for (i, (a, a_matches)) in owned.iter().enumerate() {
            for (b, b_matches) in &owned[i + 1..] {
                let same_sources = self.clients.get(a) == self.clients.get(b);
                if same_sources
                    || covers(a_matches, b_matches)
                    || covers(b_matches, a_matches)
                    || !may_overlap(a_matches, b_matches)
                {
                    continue;
                }
                let message = format!(
                    "on pod port {port} of ServiceAccount `{}`, the HTTP rules of {a} and {b} may match the same requests; Linkerd authorises each request by one route only, so those requests are allowed for the sources of one of them only",
                    self.destination.identity.service_account
                );
                self.report(a, "NotExpressible", message.clone());
                self.report(b, "NotExpressible", message);
            }
        }
    }
}

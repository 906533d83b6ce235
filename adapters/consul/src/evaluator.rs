//! An interpreter of the emitted config entries, following Consul's documented rules, for the
//! request oracle.
//!
//! - A request to a Kubernetes Service enters the discovery chain of the Consul service of that
//!   name (consul-k8s gives registered services, and virtual services with a config entry, the
//!   Service's ClusterIP). A raw TCP connection to an HTTP-protocol service is not routed and
//!   reaches no application: it counts as reaching the service's own instances, denied.
//! - `ServiceRouter`: the first route whose match holds is terminal; no match goes to the
//!   service itself. A destination without a subset is subject to that service's splitter.
//! - `ServiceSplitter`: shares are the weights in percent; a split naming another service without
//!   a subset is split again by that service's splitter.
//! - `ServiceResolver`: a redirect resolves the target instead; a subset (or `defaultSubset`)
//!   keeps the instances its filter accepts. Instances are the pods the registering Services
//!   select (consul-k8s meta `k8s-service-name` and `pod-name`).
//! - `ServiceIntentions` of the receiving service: the source entry with the exact name wins over
//!   `*`; `action` applies to all traffic; `permissions` are tried in order, the first match is
//!   terminal, and never match a raw TCP connection (denied); no entry or no matching permission
//!   falls back to the default, taken as allow (ACL default allow), so only emitted denies deny.
//!
//! Deliveries are named after the Kubernetes Service whose endpoints the instances are: the
//! subset's namesake, else the Consul service's.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use smi_translate::oracle::{Evaluator, Outcome, Request, full_match};
use smi_translate::state::WorkloadKey;
use smi_translate::{ClusterState, NativeObject, ObjectKey};

use crate::ConsulOptions;
use crate::filter::SubsetFilter;
use crate::names::ConsulName;
use crate::pod_names::sample_pod_name;
use crate::registry::{Registry, selected_workloads};
use crate::validate::{HTTP_PROTOCOLS, entry_name, validate};

/// How deep redirects and nested splits may go before the chain counts as a loop.
const MAX_DEPTH: usize = 8;

/// Interprets the Consul backend's objects the way Consul would.
#[derive(Clone, Debug, Default)]
pub struct ConsulEvaluator {
    options: ConsulOptions,
}

impl ConsulEvaluator {
    /// An evaluator for objects rendered with these options.
    pub fn new(options: ConsulOptions) -> Self {
        ConsulEvaluator { options }
    }
}

/// A point in the discovery chain: a service and maybe a subset.
#[derive(Clone, Debug, PartialEq)]
struct Target {
    service: ConsulName,
    subset: Option<String>,
}

/// A resolved target: the instances' service and the subset filter applied to them.
struct Resolved {
    target: Target,
    filter: Option<SubsetFilter>,
}

/// One evaluation: the config entries and the registrations.
struct Chain<'a> {
    state: &'a ClusterState,
    entries: BTreeMap<(String, ConsulName), Value>,
    registry: Registry<'a>,
    options: &'a ConsulOptions,
}

impl Evaluator for ConsulEvaluator {
    fn evaluate(
        &self,
        state: &ClusterState,
        objects: &[NativeObject],
        request: &Request,
    ) -> Result<Outcome, String> {
        let mode = &self.options.namespaces;
        let problems = validate(objects, mode);
        if !problems.is_empty() {
            return Err(format!(
                "Consul rejects the objects: {}",
                problems.join("; ")
            ));
        }
        let mut entries = BTreeMap::new();
        let mut virtual_services = BTreeSet::new();
        for object in objects {
            let spec = object.spec().cloned().unwrap_or(Value::Null);
            let spec_map = spec.as_object().cloned().unwrap_or_default();
            if object.kind == "ServiceResolver" && spec.get("redirect").is_some() {
                virtual_services.insert(ObjectKey::new(&object.namespace, &object.name));
            }
            entries.insert(
                (object.kind.clone(), entry_name(object, &spec_map, mode)),
                spec,
            );
        }
        let registry = Registry::new(state, &self.options, virtual_services, std::iter::empty());
        let chain = Chain {
            state,
            entries,
            registry,
            options: &self.options,
        };
        chain.evaluate(request)
    }
}

impl Chain<'_> {
    fn entry(&self, kind: &str, service: &ConsulName) -> Option<&Value> {
        self.entries.get(&(kind.to_string(), service.clone()))
    }

    fn protocol(&self, service: &ConsulName) -> &str {
        self.entry("ServiceDefaults", service)
            .and_then(|s| s.get("protocol"))
            .and_then(Value::as_str)
            .unwrap_or("tcp")
    }

    fn evaluate(&self, request: &Request) -> Result<Outcome, String> {
        let Some(service) = self.state.services.get(&request.to) else {
            return Err(format!("Service `{}` does not exist", request.to));
        };
        if !service.ports.iter().any(|p| p.port == request.port) {
            return Err(format!(
                "Service `{}` has no port {}",
                request.to, request.port
            ));
        }
        let entry = ConsulName::of_service(&self.options.namespaces, &request.to);
        let configured = ["ServiceRouter", "ServiceSplitter", "ServiceResolver"]
            .iter()
            .any(|k| self.entry(k, &entry).is_some());
        if !self.registry.registers(&request.to) && !configured {
            return Err(format!(
                "Service `{}` is neither registered in Consul nor a virtual service",
                request.to
            ));
        }
        let protocol = self.protocol(&entry).to_string();
        // The listener of an HTTP service parses HTTP: a raw connection reaches no application
        // (counted as reaching the service's own instances, denied).
        let unparsable = !request.is_http() && HTTP_PROTOCOLS.contains(&protocol.as_str());
        let routed = if unparsable {
            vec![(
                self.resolve(
                    Target {
                        service: entry.clone(),
                        subset: None,
                    },
                    0,
                )?,
                1.0,
            )]
        } else {
            self.route(&entry, &protocol, request)?
        };
        let mut outcome = Outcome::default();
        for (resolved, share) in routed {
            if share <= 0.0 {
                continue;
            }
            let name = self.receiver(&resolved, &request.to.namespace)?;
            let allowed = !unparsable && self.authorize(&resolved.target.service, request)?;
            let delivery = outcome.deliveries.entry(name).or_insert((0.0, allowed));
            if delivery.1 != allowed {
                return Err(
                    "one Service is both allowed and denied for the same request".to_string(),
                );
            }
            delivery.0 += share;
        }
        Ok(outcome)
    }

    /// Router, then splitter, then resolver.
    fn route(
        &self,
        service: &ConsulName,
        protocol: &str,
        request: &Request,
    ) -> Result<Vec<(Resolved, f64)>, String> {
        let http = HTTP_PROTOCOLS.contains(&protocol);
        let mut target = Target {
            service: service.clone(),
            subset: None,
        };
        if let (true, Some(router)) = (http, self.entry("ServiceRouter", service)) {
            for route in router
                .get("routes")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let criteria = route.get("match").and_then(|m| m.get("http"));
                if criteria
                    .map(|c| http_matches(c, request))
                    .transpose()?
                    .unwrap_or(true)
                {
                    target = self.target(route.get("destination").unwrap_or(&Value::Null), service);
                    break;
                }
            }
        }
        let mut resolved = Vec::new();
        self.split(target, 1.0, http, 0, &mut resolved)?;
        Ok(resolved)
    }

    fn target(&self, value: &Value, default: &ConsulName) -> Target {
        let field = |f: &str| {
            value
                .get(f)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let service = field("service")
            .map(|s| ConsulName {
                name: s.to_string(),
                ..default.clone()
            })
            .unwrap_or_else(|| default.clone());
        Target {
            service,
            subset: field("serviceSubset").map(str::to_string),
        }
    }

    fn split(
        &self,
        target: Target,
        share: f64,
        http: bool,
        depth: usize,
        out: &mut Vec<(Resolved, f64)>,
    ) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!("the discovery chain of `{}` loops", target.service));
        }
        let splitter = if http && target.subset.is_none() {
            self.entry("ServiceSplitter", &target.service)
        } else {
            None
        };
        let Some(splitter) = splitter else {
            out.push((self.resolve(target, 0)?, share));
            return Ok(());
        };
        for split in splitter
            .get("splits")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let weight = split.get("weight").and_then(Value::as_f64).unwrap_or(0.0) / 100.0;
            let next = self.target(split, &target.service);
            if next.subset.is_none() && next.service != target.service {
                self.split(next, share * weight, http, depth + 1, out)?;
            } else {
                out.push((self.resolve(next, 0)?, share * weight));
            }
        }
        Ok(())
    }

    fn resolve(&self, target: Target, depth: usize) -> Result<Resolved, String> {
        if depth > MAX_DEPTH {
            return Err(format!("the redirects of `{}` loop", target.service));
        }
        let resolver = self.entry("ServiceResolver", &target.service);
        if let Some(redirect) = resolver.and_then(|r| r.get("redirect")) {
            return self.resolve(self.target(redirect, &target.service), depth + 1);
        }
        let default = resolver
            .and_then(|r| r.get("defaultSubset"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let Some(subset) = target.subset.clone().or(default) else {
            return Ok(Resolved {
                target,
                filter: None,
            });
        };
        let Some(definition) = resolver
            .and_then(|r| r.get("subsets"))
            .and_then(|s| s.get(&subset))
        else {
            return Err(format!(
                "subset `{subset}` of `{}` is not defined",
                target.service
            ));
        };
        let filter = definition
            .get("filter")
            .and_then(Value::as_str)
            .map(SubsetFilter::parse)
            .transpose()?;
        Ok(Resolved {
            target: Target {
                subset: Some(subset),
                ..target
            },
            filter,
        })
    }

    /// The Kubernetes Service whose endpoints the resolved instances are.
    fn receiver(&self, resolved: &Resolved, namespace: &str) -> Result<String, String> {
        let mut workloads: BTreeSet<WorkloadKey> = BTreeSet::new();
        for (workload, registered_by) in self.registry.instances(&resolved.target.service) {
            let accepted = match &resolved.filter {
                Some(filter) => filter.accepts(&registered_by.name, &sample_pod_name(workload))?,
                None => true,
            };
            if accepted {
                workloads.insert(workload.clone());
            }
        }
        // Without Consul namespaces, instances may come from same-named Services of several
        // Kubernetes namespaces: each namespace's share must be that namespace's Service.
        let mut by_namespace: BTreeMap<String, BTreeSet<WorkloadKey>> = BTreeMap::new();
        for workload in &workloads {
            by_namespace
                .entry(workload.key.namespace.clone())
                .or_default()
                .insert(workload.clone());
        }
        if by_namespace.is_empty() {
            by_namespace.insert(namespace.to_string(), BTreeSet::new());
        }
        let candidates = resolved
            .target
            .subset
            .iter()
            .chain(std::iter::once(&resolved.target.service.name));
        for candidate in candidates {
            let endpoints_match = by_namespace.iter().all(|(ns, group)| {
                let key = ObjectKey::new(ns, candidate);
                self.state.services.contains_key(&key)
                    && selected_workloads(self.state, &key) == *group
            });
            if endpoints_match {
                return Ok(candidate.clone());
            }
        }
        Err(format!(
            "the instances of `{}` (subset {:?}) are the endpoints of no Kubernetes Service: {workloads:?}",
            resolved.target.service, resolved.target.subset
        ))
    }

    /// The intentions of the receiving service, for every Consul name of the source.
    fn authorize(&self, destination: &ConsulName, request: &Request) -> Result<bool, String> {
        let Some(intentions) = self.entry("ServiceIntentions", destination) else {
            return Ok(true);
        };
        let sources = intentions
            .get("sources")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let decisions: BTreeSet<bool> = self
            .registry
            .identity_names(&request.from)
            .0
            .iter()
            .map(|name| decide(&sources, name, request))
            .collect::<Result<_, _>>()?;
        match decisions.len() {
            1 => Ok(decisions.contains(&true)),
            _ => Err(format!(
                "the Consul services of `{}` are treated differently",
                request.from
            )),
        }
    }
}

/// The decision of one ServiceIntentions entry for one source service.
fn decide(sources: &[Value], source: &ConsulName, request: &Request) -> Result<bool, String> {
    let field = |s: &Value, f: &str| s.get(f).and_then(Value::as_str).map(str::to_string);
    let exact = sources.iter().find(|s| {
        field(s, "name").as_deref() == Some(source.name.as_str())
            && field(s, "namespace") == source.namespace
    });
    let wildcard = sources.iter().find(|s| {
        field(s, "name").as_deref() == Some("*")
            && (field(s, "namespace").is_none_or(|ns| ns == "*" || Some(ns) == source.namespace))
    });
    let Some(entry) = exact.or(wildcard) else {
        return Ok(true);
    };
    if let Some(action) = field(entry, "action") {
        return Ok(action == "allow");
    }
    if !request.is_http() {
        return Ok(false);
    }
    for permission in entry
        .get("permissions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if http_matches(permission.get("http").unwrap_or(&Value::Null), request)? {
            return Ok(field(permission, "action").as_deref() == Some("allow"));
        }
    }
    Ok(true)
}

/// Whether Consul HTTP criteria (router match or permission) hold for a request.
fn http_matches(http: &Value, request: &Request) -> Result<bool, String> {
    let text = |f: &str| http.get(f).and_then(Value::as_str);
    let path = request.path.as_str();
    if text("pathExact").is_some_and(|p| p != path)
        || text("pathPrefix").is_some_and(|p| !path.starts_with(p))
    {
        return Ok(false);
    }
    if let Some(regex) = text("pathRegex")
        && !full_match(regex, path)?
    {
        return Ok(false);
    }
    if let Some(methods) = http.get("methods").and_then(Value::as_array)
        && !methods
            .iter()
            .any(|m| m.as_str() == Some(request.method.as_str()))
    {
        return Ok(false);
    }
    for header in http
        .get("header")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = header
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let value = request
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str());
        let criterion = |f: &str| header.get(f).and_then(Value::as_str);
        let holds = match value {
            None => false,
            Some(value) => {
                if header.get("present").and_then(Value::as_bool) == Some(true) {
                    true
                } else if let Some(exact) = criterion("exact") {
                    value == exact
                } else if let Some(prefix) = criterion("prefix") {
                    value.starts_with(prefix)
                } else if let Some(suffix) = criterion("suffix") {
                    value.ends_with(suffix)
                } else if let Some(contains) = criterion("contains") {
                    value.contains(contains)
                } else if let Some(regex) = criterion("regex") {
                    full_match(regex, value)?
                } else {
                    return Err(format!("header criterion without a match type: {header}"));
                }
            }
        };
        let inverted = header.get("invert").and_then(Value::as_bool) == Some(true);
        if holds == inverted {
            return Ok(false);
        }
    }
    Ok(true)
}

//! A request oracle shared by every backend: a table of behaviour cases — SMI objects and the
//! cluster objects they refer to, requests, and what must happen to each request — and the
//! interface each backend implements to interpret its own native objects.
//!
//! The cases live in `crates/smi-translate/cases/*.yaml`, one file per case, so every backend is
//! tested against the same behaviour rather than against snapshots of its own output. They
//! include the public SMI conformance steps (files `conformance-*.yaml`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::backend::Backend;
use crate::input::{LoadedInput, load_objects};
use crate::keys::{Identity, ObjectKey, SmiKind, SmiRef};
use crate::native::NativeObject;
use crate::report::ConditionType;
use crate::state::{ClusterState, WorkloadKey};
use crate::{TranslateOptions, render};

/// Directory of the case table.
pub fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("cases")
}

/// A behaviour case.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Short unique name (the file name without `.yaml`).
    #[serde(default)]
    pub name: String,
    /// What the case shows.
    pub description: String,
    /// Kubernetes objects: SMI objects at any version, Namespaces, Services, workloads.
    pub objects: Vec<Value>,
    /// Requests and their expected outcomes.
    #[serde(default)]
    pub checks: Vec<Check>,
    /// Conditions the core must report (mesh-independent).
    #[serde(default)]
    pub conditions: Vec<ExpectedCondition>,
}

/// A request and what must happen to it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// The request.
    pub request: Request,
    /// The expected outcome on every mesh…
    pub expect: Expectation,
    /// …unless a mesh is listed here: a mesh that cannot express the rule reports it and errs
    /// on the side of less traffic, which the override records together with the reason.
    #[serde(default)]
    pub overrides: BTreeMap<String, Override>,
}

/// A mesh-specific expected outcome.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Override {
    /// The outcome on that mesh.
    pub expect: Expectation,
    /// Why it differs.
    pub because: String,
}

/// A request from a source identity to a Service port.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// Source identity, `namespace/serviceaccount`.
    #[serde(deserialize_with = "de_identity")]
    pub from: Identity,
    /// The Service addressed, `namespace/name`.
    #[serde(deserialize_with = "de_key")]
    pub to: ObjectKey,
    /// The Service port addressed.
    pub port: u16,
    /// `tcp` for a plain TCP connection, `udp` for a datagram, else an HTTP method.
    #[serde(default = "default_method")]
    pub method: String,
    /// HTTP path.
    #[serde(default = "default_path")]
    pub path: String,
    /// HTTP headers (names are matched case-insensitively).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

impl Request {
    /// True for an HTTP request (not a bare TCP connection or UDP datagram).
    pub fn is_http(&self) -> bool {
        !matches!(self.method.as_str(), "tcp" | "udp")
    }
}

fn default_method() -> String {
    "GET".to_string()
}

fn default_path() -> String {
    "/".to_string()
}

fn de_identity<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Identity, D::Error> {
    let s = String::deserialize(d)?;
    let (ns, sa) = s.split_once('/').ok_or_else(|| {
        serde::de::Error::custom(format!("`{s}` is not namespace/serviceaccount"))
    })?;
    Ok(Identity::new(ns, sa))
}

fn de_key<'de, D: serde::Deserializer<'de>>(d: D) -> Result<ObjectKey, D::Error> {
    let s = String::deserialize(d)?;
    let (ns, name) = s
        .split_once('/')
        .ok_or_else(|| serde::de::Error::custom(format!("`{s}` is not namespace/name")))?;
    Ok(ObjectKey::new(ns, name))
}

/// The expected outcome of a request.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// Share of the request's traffic each Service receives (shares of 0 may be omitted).
    pub routes: BTreeMap<String, f64>,
    /// Whether the receiving pods allow it.
    pub allowed: bool,
}

/// A condition the core must report.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedCondition {
    /// `Kind/namespace/name` of the SMI object.
    pub object: String,
    /// `Accepted`, `ResolvedRefs` or `Programmed`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Expected status.
    pub status: bool,
    /// Expected reason.
    pub reason: String,
}

impl ExpectedCondition {
    /// The SMI object it names.
    pub fn object_ref(&self) -> Result<SmiRef, String> {
        let mut parts = self.object.splitn(3, '/');
        let (Some(kind), Some(ns), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!("`{}` is not Kind/namespace/name", self.object));
        };
        let kind = SmiKind::from_kind(kind).ok_or_else(|| format!("unknown SMI kind `{kind}`"))?;
        Ok(SmiRef::new(kind, ns, name))
    }

    /// The condition type it names.
    pub fn condition_type(&self) -> Result<ConditionType, String> {
        [
            ConditionType::Accepted,
            ConditionType::ResolvedRefs,
            ConditionType::Programmed,
        ]
        .into_iter()
        .find(|t| t.as_str() == self.type_)
        .ok_or_else(|| format!("unknown condition type `{}`", self.type_))
    }
}

/// What happened to a request in a mesh, per receiving Service.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    /// Receiving Service name → (share of the traffic, allowed by its pods).
    pub deliveries: BTreeMap<String, (f64, bool)>,
}

/// Interprets a backend's native objects the way its mesh would, following the mesh's
/// documented matching rules.
pub trait Evaluator {
    /// What the mesh does with `request`, given the cluster and the native objects emitted.
    /// An error means the objects are not something the mesh would accept or could interpret.
    fn evaluate(
        &self,
        state: &ClusterState,
        objects: &[NativeObject],
        request: &Request,
    ) -> Result<Outcome, String>;
}

/// A pod port that a Service port forwards to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The workload whose pods receive the traffic.
    pub workload: WorkloadKey,
    /// The identity those pods run as.
    pub identity: Identity,
    /// Their labels.
    pub labels: BTreeMap<String, String>,
    /// The pod port (the Service port's `targetPort`, resolved).
    pub pod_port: u16,
}

/// The pods behind a Service port, as kube-proxy would forward to them (shared by evaluators).
pub fn endpoints(state: &ClusterState, service: &ObjectKey, port: u16) -> Vec<Endpoint> {
    let Some(svc) = state.services.get(service) else {
        return Vec::new();
    };
    let (Some(selector), Some(svc_port)) =
        (&svc.selector, svc.ports.iter().find(|p| p.port == port))
    else {
        return Vec::new();
    };
    state
        .workloads_selected(&service.namespace, selector)
        .filter_map(|(key, w)| {
            Some(Endpoint {
                workload: key.clone(),
                identity: w.identity(&service.namespace),
                labels: w.pod_labels.clone(),
                pod_port: w.resolve_target_port(&svc_port.target_port)?,
            })
        })
        .collect()
}

/// Whether a full-match regular expression matches a whole value (shared by evaluators).
pub fn full_match(regex: &str, value: &str) -> Result<bool, String> {
    let anchored = format!("^(?:{regex})$");
    regex::Regex::new(&anchored)
        .map(|r| r.is_match(value))
        .map_err(|e| format!("regex `{regex}` does not compile: {e}"))
}

/// Shares that differ by less than this count as equal (percent rounding in some meshes).
pub const SHARE_TOLERANCE: f64 = 0.011;

/// One failed expectation.
#[derive(Clone, Debug)]
pub struct CaseFailure {
    /// Case name.
    pub case: String,
    /// What went wrong.
    pub detail: String,
}

impl std::fmt::Display for CaseFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "case `{}`: {}", self.case, self.detail)
    }
}

/// Loads every case of the table.
pub fn load_cases() -> Result<Vec<Case>, String> {
    let dir = cases_dir();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("reading {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let mut case: Case =
                serde_yaml_ng::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            case.name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            Ok(case)
        })
        .collect()
}

/// Loads a case's objects into a cluster state.
pub fn case_input(case: &Case) -> Result<LoadedInput, String> {
    load_objects(
        case.objects
            .iter()
            .cloned()
            .map(|o| ("case".to_string(), o)),
    )
    .map_err(|e| format!("case `{}`: {e}", case.name))
}

/// What a backend covers, and so which expectations the oracle compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Routing and access.
    Full,
    /// Routing only (a backend that does not express TrafficTargets): shares are compared,
    /// allowed/denied is not.
    RoutingOnly,
}

/// Runs every case through a backend and its evaluator; returns the failures (empty = pass).
pub fn run_cases(
    backend: &dyn Backend,
    evaluator: &dyn Evaluator,
) -> Result<Vec<CaseFailure>, String> {
    run_cases_scoped(backend, evaluator, Scope::Full)
}

/// [`run_cases`] for a backend with a narrower [`Scope`].
pub fn run_cases_scoped(
    backend: &dyn Backend,
    evaluator: &dyn Evaluator,
    scope: Scope,
) -> Result<Vec<CaseFailure>, String> {
    let mut failures = Vec::new();
    for case in load_cases()? {
        let input = match case_input(&case) {
            Ok(input) => input,
            Err(detail) => {
                // One broken case must not hide the results of the others.
                failures.push(CaseFailure {
                    case: case.name.clone(),
                    detail,
                });
                continue;
            }
        };
        let rendered = render(&input.state, backend, &TranslateOptions::default());
        for (index, check) in case.checks.iter().enumerate() {
            let expected = check
                .overrides
                .get(backend.name())
                .map(|o| &o.expect)
                .unwrap_or(&check.expect);
            let fail = |detail: String| CaseFailure {
                case: case.name.clone(),
                detail: format!(
                    "check #{index} ({} {} to {}:{}): {detail}",
                    check.request.method, check.request.path, check.request.to, check.request.port
                ),
            };
            match evaluator.evaluate(&input.state, &rendered.objects, &check.request) {
                Err(e) => failures.push(fail(format!("evaluation failed: {e}"))),
                Ok(outcome) => {
                    let expected = match scope {
                        Scope::Full => expected.clone(),
                        Scope::RoutingOnly => Expectation {
                            allowed: true,
                            ..expected.clone()
                        },
                    };
                    let outcome = match scope {
                        Scope::Full => outcome,
                        Scope::RoutingOnly => Outcome {
                            deliveries: outcome
                                .deliveries
                                .into_iter()
                                .map(|(k, (share, _))| (k, (share, true)))
                                .collect(),
                        },
                    };
                    if let Some(problem) = compare(&expected, &outcome) {
                        failures.push(fail(problem));
                    }
                }
            }
        }
    }
    Ok(failures)
}

/// Compares an outcome with an expectation; `None` when they agree.
pub fn compare(expected: &Expectation, outcome: &Outcome) -> Option<String> {
    let mut services: Vec<&String> = expected
        .routes
        .keys()
        .chain(outcome.deliveries.keys())
        .collect();
    services.sort();
    services.dedup();
    for service in services {
        let want = expected.routes.get(service).copied().unwrap_or(0.0);
        let (got, allowed) = outcome
            .deliveries
            .get(service)
            .copied()
            .unwrap_or((0.0, false));
        if (want - got).abs() > SHARE_TOLERANCE {
            return Some(format!(
                "expected {service} to receive {want:.3} of the traffic, got {got:.3} (outcome {outcome:?})"
            ));
        }
        if got > SHARE_TOLERANCE && allowed != expected.allowed {
            return Some(format!(
                "expected the request to be {} at {service}, it was {}",
                if expected.allowed {
                    "allowed"
                } else {
                    "denied"
                },
                if allowed { "allowed" } else { "denied" }
            ));
        }
    }
    None
}

/// Renders every case with a backend and compares the YAML with the golden file
/// `<dir>/<case>.yaml`. With `UPDATE_GOLDEN=1` in the environment the files are (re)written
/// instead. Returns the cases whose output differs.
pub fn check_golden(backend: &dyn Backend, dir: &Path) -> Result<Vec<String>, String> {
    let update = std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1");
    let mut differing = Vec::new();
    for case in load_cases()? {
        let input = case_input(&case)?;
        let rendered = render(&input.state, backend, &TranslateOptions::default());
        let mut text = crate::native::to_yaml_stream(&rendered.objects);
        text.push_str(&status_comment(&rendered.report));
        let path = dir.join(format!("{}.yaml", case.name));
        if update {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            std::fs::write(&path, &text).map_err(|e| format!("{}: {e}", path.display()))?;
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            differing.push(format!(
                "{} (regenerate with UPDATE_GOLDEN=1 cargo test -p <this crate> golden)",
                path.display()
            ));
        }
    }
    Ok(differing)
}

/// The report as YAML comments, appended to golden files so status changes show in review.
pub fn status_comment(report: &crate::Report) -> String {
    let mut out = String::new();
    for (object, status) in &report.statuses {
        for c in &status.conditions {
            out.push_str(&format!(
                "# {object}: {}={} {}: {}\n",
                c.type_.as_str(),
                if c.status { "True" } else { "False" },
                c.reason,
                c.message
            ));
        }
    }
    out
}

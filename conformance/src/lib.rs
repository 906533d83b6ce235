//! The public SMI conformance suite (layer5io/learn-layer5 `smi-conformance`, SMI v0.6.0: 24
//! steps in the suites traffic-access, traffic-spec and traffic-split), run against a cluster
//! where smi-bridge programs a mesh.
//!
//! Each suite runs in a fresh namespace labelled `smi-bridge.io/mesh=<mesh>` (and with the mesh's
//! injection label, as the upstream runner adds it). Its steps are the upstream ones, in order:
//!
//! - **CRD** steps check that the SMI CRD is served with its short name;
//! - **install** steps apply the step's objects with server-side apply (and delete the SMI
//!   objects of earlier steps the step no longer has), then wait until smi-bridge has processed
//!   every SMI object's current generation and reports the conditions the step expects;
//! - **traffic** steps read the native objects smi-bridge wrote into the namespace back from
//!   the API server and decide each request of the step as the mesh's documented matching rules
//!   do (the mesh's evaluator, the same one the request oracle uses), until they agree with
//!   the step's expectations or the timeout passes.
//!
//! Traffic steps check the mesh configuration in the cluster, not packets: no sample application
//! runs and no request is sent. Scoring follows upstream: a suite stops at its first failed step
//! and is `FULL` when every step passed, `HALF` when at least half passed before the failure,
//! `NONE` otherwise.
//!
//! The steps' objects and expectations are the `conformance-*` cases of the request oracle
//! (`crates/smi-translate/cases`), embedded in the binary.
#![warn(missing_docs)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::{Api, Client};
use serde::Serialize;
use serde_json::{Map, Value, json};
use smi_operator::watch::{native_resource, smi_resource};
use smi_translate::keys::SmiKind;
use smi_translate::oracle::{Case, Evaluator, case_input, compare};
use smi_translate::state::ClusterState;
use smi_translate::{Backend, NativeObject};

/// The field manager of the objects the suite applies.
pub const FIELD_MANAGER: &str = "smi-conformance";

/// The label that picks a namespace's mesh in smi-bridge.
const MESH_LABEL: &str = "smi-bridge.io/mesh";

/// The oracle cases the steps are made of, embedded (name, YAML).
const CASES: &[(&str, &str)] = &[
    (
        "conformance-access-default-deny",
        include_str!("../../crates/smi-translate/cases/conformance-access-default-deny.yaml"),
    ),
    (
        "conformance-access-tcp-allowed",
        include_str!("../../crates/smi-translate/cases/conformance-access-tcp-allowed.yaml"),
    ),
    (
        "conformance-spec-path",
        include_str!("../../crates/smi-translate/cases/conformance-spec-path.yaml"),
    ),
    (
        "conformance-spec-method",
        include_str!("../../crates/smi-translate/cases/conformance-spec-method.yaml"),
    ),
    (
        "conformance-split-default",
        include_str!("../../crates/smi-translate/cases/conformance-split-default.yaml"),
    ),
    (
        "conformance-split-only-b",
        include_str!("../../crates/smi-translate/cases/conformance-split-only-b.yaml"),
    ),
    (
        "conformance-split-only-c",
        include_str!("../../crates/smi-translate/cases/conformance-split-only-c.yaml"),
    ),
    (
        "conformance-split-b-greater",
        include_str!("../../crates/smi-translate/cases/conformance-split-b-greater.yaml"),
    ),
    (
        "conformance-split-c-greater",
        include_str!("../../crates/smi-translate/cases/conformance-split-c-greater.yaml"),
    ),
];

/// Why the suite could not run at all (a failed step is a result, not an error).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An embedded case does not parse: a build defect.
    #[error("embedded case `{case}` is invalid: {detail}")]
    Case {
        /// The case.
        case: String,
        /// What is wrong.
        detail: String,
    },
    /// The API server refused a request the suite needs to set up or clean up.
    #[error("{action}: {source}")]
    Kube {
        /// What the suite was doing.
        action: String,
        /// The client error.
        source: kube::Error,
    },
}

/// What a step does.
#[derive(Clone, Copy, Debug)]
pub enum Action {
    /// The CRD is served, with this short name.
    Crd {
        /// The CRD's name.
        name: &'static str,
        /// The short name upstream asserts.
        short_name: &'static str,
    },
    /// Apply the case's objects; its SMI objects are processed and report its conditions.
    Install(&'static str),
    /// The case's requests behave as it expects, read from the native objects in the cluster.
    Traffic(&'static str),
}

/// One upstream step.
#[derive(Clone, Copy, Debug)]
pub struct Step {
    /// The upstream test ID (e.g. `TA-1.2.3`).
    pub id: &'static str,
    /// What upstream checks in it.
    pub description: &'static str,
    /// How this suite checks it.
    pub action: Action,
}

/// One upstream suite.
#[derive(Clone, Debug)]
pub struct Suite {
    /// `traffic-access`, `traffic-spec` or `traffic-split`.
    pub name: &'static str,
    /// The SMI version upstream reports it as.
    pub version: &'static str,
    /// The namespace the suite's cases are written in (replaced by a fresh one).
    pub case_namespace: &'static str,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

const fn step(id: &'static str, description: &'static str, action: Action) -> Step {
    Step {
        id,
        description,
        action,
    }
}

/// The three upstream suites, 24 steps.
pub fn suites() -> Vec<Suite> {
    use Action::{Crd, Install, Traffic};
    let deny = "conformance-access-default-deny";
    let allow = "conformance-access-tcp-allowed";
    vec![
        Suite {
            name: "traffic-access",
            version: "v0.6.0/v1alpha3",
            case_namespace: "conformance",
            steps: vec![
                step(
                    "TA-1.1.1",
                    "TrafficTarget CRD served (short name tt)",
                    Crd {
                        name: "traffictargets.access.smi-spec.io",
                        short_name: "tt",
                    },
                ),
                step(
                    "TA-1.1.2",
                    "apps and ServiceAccounts installed",
                    Install(deny),
                ),
                step(
                    "TA-1.2.3",
                    "default deny: app-a to app-b fails",
                    Traffic(deny),
                ),
                step(
                    "TA-1.2.4",
                    "TCPRoute and TrafficTarget installed",
                    Install(allow),
                ),
                step("TA-1.2.5", "app-a to app-b allowed", Traffic(allow)),
                step(
                    "TA-1.2.6",
                    "TCPRoute and TrafficTarget deleted",
                    Install(deny),
                ),
                step("TA-1.2.7", "app-a to app-b blocked again", Traffic(deny)),
            ],
        },
        Suite {
            name: "traffic-spec",
            version: "v0.6.0/v1alpha4",
            case_namespace: "conformance",
            steps: vec![
                step(
                    "TSC-1.1.1",
                    "HTTPRouteGroup CRD served (short name htr)",
                    Crd {
                        name: "httproutegroups.specs.smi-spec.io",
                        short_name: "htr",
                    },
                ),
                step(
                    "TSC-1.1.2",
                    "apps and ServiceAccounts installed",
                    Install(deny),
                ),
                step(
                    "TSC-1.2.3",
                    "HTTPRouteGroup (pathRegex /metrics) and TrafficTarget installed",
                    Install("conformance-spec-path"),
                ),
                step(
                    "TSC-1.2.4",
                    "GET /metrics allowed, GET /echo denied",
                    Traffic("conformance-spec-path"),
                ),
                step(
                    "TSC-1.2.5",
                    "HTTPRouteGroup changed to GET on any path",
                    Install("conformance-spec-method"),
                ),
                step(
                    "TSC-1.2.6",
                    "GET /echo allowed, POST /echo denied",
                    Traffic("conformance-spec-method"),
                ),
            ],
        },
        Suite {
            name: "traffic-split",
            version: "v0.6.0/v1alpha4",
            case_namespace: "conformance-split",
            steps: vec![
                step(
                    "TS-1.1.1",
                    "TrafficSplit CRD served (short name ts)",
                    Crd {
                        name: "trafficsplits.split.smi-spec.io",
                        short_name: "ts",
                    },
                ),
                step(
                    "TS-1.1.2",
                    "apps installed",
                    Install("conformance-split-default"),
                ),
                step(
                    "TS-1.2.3",
                    "no TrafficSplit: app-svc reaches app-b and app-c",
                    Traffic("conformance-split-default"),
                ),
                step(
                    "TS-1.2.4",
                    "TrafficSplit app-b 1, app-c 0",
                    Install("conformance-split-only-b"),
                ),
                step(
                    "TS-1.2.5",
                    "everything to app-b",
                    Traffic("conformance-split-only-b"),
                ),
                step(
                    "TS-1.2.6",
                    "TrafficSplit app-b 0, app-c 1",
                    Install("conformance-split-only-c"),
                ),
                step(
                    "TS-1.2.7",
                    "everything to app-c",
                    Traffic("conformance-split-only-c"),
                ),
                step(
                    "TS-1.2.8",
                    "TrafficSplit app-b 75, app-c 25",
                    Install("conformance-split-b-greater"),
                ),
                step(
                    "TS-1.2.9",
                    "app-b receives more than app-c",
                    Traffic("conformance-split-b-greater"),
                ),
                step(
                    "TS-1.2.10",
                    "TrafficSplit app-b 25, app-c 75",
                    Install("conformance-split-c-greater"),
                ),
                step(
                    "TS-1.2.11",
                    "app-c receives more than app-b",
                    Traffic("conformance-split-c-greater"),
                ),
            ],
        },
    ]
}

/// Upstream's capability grades.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Capability {
    /// Every step passed.
    Full,
    /// The first failure came after at least half of the steps.
    Half,
    /// It came earlier.
    None,
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Capability::Full => "FULL",
            Capability::Half => "HALF",
            Capability::None => "NONE",
        })
    }
}

/// The result of one step.
#[derive(Clone, Debug, Serialize)]
pub struct StepResult {
    /// The upstream test ID.
    pub id: &'static str,
    /// What it checks.
    pub description: &'static str,
    /// `passed`, `failed` or `not run` (after an earlier failure).
    pub result: &'static str,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// How long it took, in milliseconds.
    pub millis: u128,
}

/// The result of one suite.
#[derive(Clone, Debug, Serialize)]
pub struct SuiteResult {
    /// The suite.
    pub suite: &'static str,
    /// The SMI version upstream reports.
    pub version: &'static str,
    /// The namespace it ran in.
    pub namespace: String,
    /// The grade.
    pub capability: Capability,
    /// Every step, in order.
    pub steps: Vec<StepResult>,
    /// A problem deleting the namespace afterwards.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cleanup: Option<String>,
}

impl SuiteResult {
    /// Steps that passed.
    pub fn passed(&self) -> usize {
        self.steps.iter().filter(|s| s.result == "passed").count()
    }
}

/// Grades a suite from the number of steps and the index of its first failure.
pub fn capability(steps: usize, first_failure: Option<usize>) -> Capability {
    match first_failure {
        None => Capability::Full,
        Some(index) if index * 2 >= steps => Capability::Half,
        Some(_) => Capability::None,
    }
}

/// Runs suites against a cluster for one mesh.
pub struct Runner {
    client: Client,
    mesh: String,
    backend: Box<dyn Backend>,
    evaluator: Box<dyn Evaluator>,
    /// How long an install or traffic step may take to converge.
    pub timeout: Duration,
    /// How long to wait for a suite's namespace to be deleted before the next suite starts.
    pub cleanup_timeout: Duration,
    /// Keep each suite's namespace afterwards (for inspection).
    pub keep_namespaces: bool,
}

impl Runner {
    /// A runner for `mesh`: `backend` names the native kinds to read back and `evaluator`
    /// decides the requests, both configured as smi-bridge is. Every expectation counts: a mesh
    /// that expresses no access (`gamma`) fails the access steps, as upstream would find.
    pub fn new(
        client: Client,
        mesh: &str,
        backend: Box<dyn Backend>,
        evaluator: Box<dyn Evaluator>,
    ) -> Self {
        Runner {
            client,
            mesh: mesh.to_string(),
            backend,
            evaluator,
            timeout: Duration::from_secs(60),
            cleanup_timeout: Duration::from_secs(120),
            keep_namespaces: false,
        }
    }

    /// Runs one suite in a fresh namespace and deletes it afterwards (unless kept).
    pub async fn run(&self, suite: &Suite) -> Result<SuiteResult, Error> {
        let namespace = self.create_namespace(suite.name).await?;
        let mut run = SuiteRun {
            runner: self,
            suite,
            namespace: namespace.clone(),
            applied: BTreeSet::new(),
        };
        let mut steps = Vec::new();
        let mut first_failure = None;
        for (index, step) in suite.steps.iter().enumerate() {
            if first_failure.is_some() {
                steps.push(StepResult {
                    id: step.id,
                    description: step.description,
                    result: "not run",
                    detail: None,
                    millis: 0,
                });
                continue;
            }
            let started = Instant::now();
            let outcome = run.step(step.action).await?;
            if outcome.is_some() {
                first_failure = Some(index);
            }
            steps.push(StepResult {
                id: step.id,
                description: step.description,
                result: if outcome.is_some() {
                    "failed"
                } else {
                    "passed"
                },
                detail: outcome,
                millis: started.elapsed().as_millis(),
            });
        }
        let cleanup = if self.keep_namespaces {
            None
        } else {
            self.delete_namespace(&namespace).await?
        };
        Ok(SuiteResult {
            suite: suite.name,
            version: suite.version,
            namespace,
            capability: capability(suite.steps.len(), first_failure),
            steps,
            cleanup,
        })
    }

    /// Deletes a suite's namespace and waits until it is gone, so that the next suite's
    /// same-named Services do not meet its objects (Consul without namespaces would merge them).
    /// Returns a note when it is still there after the timeout.
    async fn delete_namespace(&self, namespace: &str) -> Result<Option<String>, Error> {
        let api = Api::<Namespace>::all(self.client.clone());
        api.delete(namespace, &DeleteParams::default())
            .await
            .map_err(|source| Error::Kube {
                action: format!("deleting namespace {namespace}"),
                source,
            })?;
        let started = Instant::now();
        while started.elapsed() < self.cleanup_timeout {
            match api.get_opt(namespace).await {
                Ok(None) => return Ok(None),
                Ok(Some(_)) => tokio::time::sleep(Duration::from_millis(250)).await,
                Err(source) => {
                    return Err(Error::Kube {
                        action: format!("reading namespace {namespace}"),
                        source,
                    });
                }
            }
        }
        Ok(Some(format!(
            "namespace {namespace} was still being deleted after {:?}; later suites may meet its objects",
            self.cleanup_timeout
        )))
    }

    async fn create_namespace(&self, suite: &str) -> Result<String, Error> {
        let api = Api::<Namespace>::all(self.client.clone());
        let mut labels = BTreeMap::from([(MESH_LABEL.to_string(), self.mesh.clone())]);
        let mut annotations = BTreeMap::new();
        // What the upstream runner adds so that the mesh injects the sample apps.
        match self.mesh.as_str() {
            "istio" => {
                labels.insert("istio-injection".into(), "enabled".into());
            }
            "linkerd" => {
                annotations.insert("linkerd.io/inject".into(), "enabled".into());
            }
            _ => {}
        }
        let namespace = Namespace {
            metadata: kube::api::ObjectMeta {
                generate_name: Some(format!("smi-conformance-{suite}-")),
                labels: Some(labels),
                annotations: Some(annotations),
                ..Default::default()
            },
            ..Default::default()
        };
        let created = api
            .create(&Default::default(), &namespace)
            .await
            .map_err(|source| Error::Kube {
                action: format!("creating a namespace for suite {suite}"),
                source,
            })?;
        Ok(created.metadata.name.unwrap_or_default())
    }
}

/// One suite in progress.
struct SuiteRun<'a> {
    runner: &'a Runner,
    suite: &'a Suite,
    namespace: String,
    /// SMI objects applied by earlier steps.
    applied: BTreeSet<(SmiKind, String)>,
}

impl SuiteRun<'_> {
    /// Runs one step: `None` when it passed, else why it failed.
    async fn step(&mut self, action: Action) -> Result<Option<String>, Error> {
        match action {
            Action::Crd { name, short_name } => Ok(self.crd(name, short_name).await),
            Action::Install(case) => {
                let case = self.case(case)?;
                Ok(self.install(&case).await)
            }
            Action::Traffic(case) => {
                let case = self.case(case)?;
                Ok(self.traffic(&case).await)
            }
        }
    }

    /// The embedded case, moved into this run's namespace.
    fn case(&self, name: &str) -> Result<Case, Error> {
        let invalid = |detail: String| Error::Case {
            case: name.to_string(),
            detail,
        };
        let text = CASES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, text)| *text)
            .ok_or_else(|| invalid("not embedded".into()))?;
        let from = self.suite.case_namespace;
        let to = &self.namespace;
        let moved = text
            .replace(&format!("\"{from}\""), &format!("\"{to}\""))
            .replace(&format!("\"{from}/"), &format!("\"{to}/"));
        let mut case: Case = serde_yaml_ng::from_str(&moved).map_err(|e| invalid(e.to_string()))?;
        case.name = name.to_string();
        Ok(case)
    }

    async fn crd(&self, name: &str, short_name: &str) -> Option<String> {
        let crds = Api::<CustomResourceDefinition>::all(self.runner.client.clone());
        match crds.get_opt(name).await {
            Err(e) => Some(format!("reading CRD {name}: {e}")),
            Ok(None) => Some(format!("CRD {name} is not installed")),
            Ok(Some(crd)) => {
                let short_names = crd.spec.names.short_names.unwrap_or_default();
                let served = crd.spec.versions.iter().any(|v| v.served);
                if !served {
                    Some(format!("CRD {name} serves no version"))
                } else if !short_names.iter().any(|s| s == short_name) {
                    Some(format!(
                        "CRD {name} has short names {short_names:?}, not `{short_name}`"
                    ))
                } else {
                    None
                }
            }
        }
    }

    /// Applies the case's objects, deletes SMI objects it no longer has, and waits until
    /// smi-bridge reports the case's conditions on the current generation of each SMI object.
    async fn install(&mut self, case: &Case) -> Option<String> {
        let mut wanted = BTreeSet::new();
        for object in &case.objects {
            let kind = object["kind"].as_str().unwrap_or_default();
            let name = object["metadata"]["name"].as_str().unwrap_or_default();
            let applied = if kind == "Namespace" {
                self.label_namespace(object).await
            } else {
                self.apply(object).await
            };
            if let Err(problem) = applied {
                return Some(format!("applying {kind} {name}: {problem}"));
            }
            if let Some(smi) = SmiKind::from_kind(kind) {
                wanted.insert((smi, name.to_string()));
            }
        }
        for (kind, name) in self
            .applied
            .difference(&wanted)
            .cloned()
            .collect::<Vec<_>>()
        {
            let api = self.smi_api(kind);
            if let Err(e) = api.delete(&name, &DeleteParams::default()).await {
                return Some(format!("deleting {kind} {name}: {e}"));
            }
        }
        let gone: Vec<(SmiKind, String)> = self.applied.difference(&wanted).cloned().collect();
        self.applied = wanted.clone();
        let expected: Vec<_> = case.conditions.clone();
        self.poll(|| async {
            for (kind, name) in &gone {
                match self.smi_api(*kind).get_opt(name).await {
                    Ok(None) => {}
                    Ok(Some(_)) => return Some(format!("{kind} {name} is not deleted yet")),
                    Err(e) => return Some(format!("reading {kind} {name}: {e}")),
                }
            }
            for (kind, name) in &wanted {
                if let Some(problem) = self.processed(*kind, name).await {
                    return Some(problem);
                }
            }
            for condition in &expected {
                let Ok(reference) = condition.object_ref() else {
                    return Some(format!("the case names no object in {}", condition.object));
                };
                let conditions = match self
                    .smi_api(reference.kind)
                    .get_opt(&reference.key.name)
                    .await
                {
                    Ok(Some(object)) => object.data["status"]["conditions"].clone(),
                    Ok(None) => return Some(format!("{} is missing", condition.object)),
                    Err(e) => return Some(format!("reading {}: {e}", condition.object)),
                };
                let status = if condition.status { "True" } else { "False" };
                let holds = conditions.as_array().is_some_and(|all| {
                    all.iter().any(|c| {
                        c["type"] == condition.type_.as_str()
                            && c["status"] == status
                            && c["reason"] == condition.reason.as_str()
                    })
                });
                if !holds {
                    return Some(format!(
                        "{} does not report {}={status} ({}); its conditions: {conditions}",
                        condition.object, condition.type_, condition.reason
                    ));
                }
            }
            None
        })
        .await
    }

    /// `None` once smi-bridge wrote a Programmed condition for the object's current generation.
    async fn processed(&self, kind: SmiKind, name: &str) -> Option<String> {
        let object = match self.smi_api(kind).get_opt(name).await {
            Ok(Some(object)) => object,
            Ok(None) => return Some(format!("{kind} {name} is missing")),
            Err(e) => return Some(format!("reading {kind} {name}: {e}")),
        };
        let generation = object.metadata.generation;
        let programmed = object.data["status"]["conditions"]
            .as_array()
            .and_then(|all| all.iter().find(|c| c["type"] == "Programmed"))
            .cloned();
        match programmed {
            Some(condition) if condition["observedGeneration"].as_i64() == generation => None,
            Some(condition) => Some(format!(
                "{kind} {name}: smi-bridge has not processed generation {generation:?} yet (Programmed: {condition})"
            )),
            None => Some(format!(
                "{kind} {name} has no Programmed condition: is smi-bridge running and programming mesh `{}` in this namespace?",
                self.runner.mesh
            )),
        }
    }

    /// Polls the case's requests against the native objects in the namespace until they
    /// behave as expected.
    async fn traffic(&self, case: &Case) -> Option<String> {
        let state = match case_input(case) {
            Ok(input) => input.state,
            Err(e) => return Some(e),
        };
        let problem = self
            .poll(|| async {
                let objects = match self.natives().await {
                    Ok(objects) => objects,
                    Err(problem) => return Some(problem),
                };
                self.checks(case, &state, &objects)
            })
            .await?;
        Some(format!("{problem}{}", self.not_programmed().await))
    }

    /// What smi-bridge reports on the SMI objects of the step that are not Programmed.
    async fn not_programmed(&self) -> String {
        let mut out = String::new();
        for (kind, name) in &self.applied {
            let Ok(Some(object)) = self.smi_api(*kind).get_opt(name).await else {
                continue;
            };
            let programmed = object.data["status"]["conditions"]
                .as_array()
                .and_then(|all| all.iter().find(|c| c["type"] == "Programmed"))
                .cloned();
            if let Some(condition) = programmed.filter(|c| c["status"] != "True") {
                out.push_str(&format!(
                    "; smi-bridge reports {kind} {name} Programmed=False ({}): {}",
                    condition["reason"].as_str().unwrap_or_default(),
                    condition["message"].as_str().unwrap_or_default()
                ));
            }
        }
        out
    }

    /// The first request of the case that does not behave as expected.
    fn checks(
        &self,
        case: &Case,
        state: &ClusterState,
        objects: &[NativeObject],
    ) -> Option<String> {
        let runner = self.runner;
        for check in &case.checks {
            let request = &check.request;
            let expected = check
                .overrides
                .get(&runner.mesh)
                .map(|o| &o.expect)
                .unwrap_or(&check.expect);
            let label = format!(
                "{} {} from {} to {}:{}",
                request.method, request.path, request.from, request.to, request.port
            );
            let outcome = match runner.evaluator.evaluate(state, objects, request) {
                Ok(outcome) => outcome,
                Err(e) => return Some(format!("{label}: the mesh cannot read the objects: {e}")),
            };
            if let Some(problem) = compare(expected, &outcome) {
                return Some(format!("{label}: {problem}"));
            }
        }
        None
    }

    /// The objects of the backend's native kinds in every namespace (a mesh reads them all:
    /// Consul without namespaces merges same-named services of every namespace); a kind the
    /// API server does not serve has none.
    async fn natives(&self) -> Result<Vec<NativeObject>, String> {
        let mut objects = Vec::new();
        for kind in self.runner.backend.native_kinds() {
            let api: Api<DynamicObject> =
                Api::all_with(self.runner.client.clone(), &native_resource(&kind));
            let list = match api.list(&ListParams::default()).await {
                Ok(list) => list,
                Err(kube::Error::Api(status)) if status.code == 404 => continue,
                Err(e) => return Err(format!("listing {}: {e}", kind.plural)),
            };
            objects.extend(
                list.items
                    .into_iter()
                    .map(|o| native_object(&kind.api_version(), &kind.kind, o)),
            );
        }
        Ok(objects)
    }

    /// Sets the case Namespace's labels on this run's namespace (the mesh label stays).
    async fn label_namespace(&self, object: &Value) -> Result<(), String> {
        let mut labels = object["metadata"]["labels"].clone();
        if !labels.is_object() {
            labels = json!({});
        }
        labels[MESH_LABEL] = json!(self.runner.mesh);
        let patch = json!({"metadata": {"labels": labels}});
        Api::<Namespace>::all(self.runner.client.clone())
            .patch(
                &self.namespace,
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Server-side applies one object into the namespace.
    async fn apply(&self, object: &Value) -> Result<(), String> {
        let api_version = object["apiVersion"].as_str().unwrap_or_default();
        let kind = object["kind"].as_str().unwrap_or_default();
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (resource, _) = kube::discovery::pinned_kind(&self.runner.client, &gvk)
            .await
            .map_err(|e| format!("the API server does not serve {api_version} {kind}: {e}"))?;
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.runner.client.clone(), &self.namespace, &resource);
        let mut body = object.clone();
        body["metadata"]["namespace"] = json!(self.namespace);
        api.patch(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&body),
        )
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
    }

    fn smi_api(&self, kind: SmiKind) -> Api<DynamicObject> {
        Api::namespaced_with(
            self.runner.client.clone(),
            &self.namespace,
            &smi_resource(kind),
        )
    }

    /// Calls `check` until it returns `None` or the timeout passes; returns its last answer.
    async fn poll<F, Fut>(&self, mut check: F) -> Option<String>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<String>>,
    {
        let started = Instant::now();
        loop {
            let problem = check().await?;
            if started.elapsed() >= self.runner.timeout {
                return Some(format!("not within {:?}: {problem}", self.runner.timeout));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// A native object read from the API server, as the evaluators take it.
fn native_object(api_version: &str, kind: &str, object: DynamicObject) -> NativeObject {
    let mut native = NativeObject::new(
        api_version,
        kind,
        object.metadata.namespace.clone().unwrap_or_default(),
        object.metadata.name.clone().unwrap_or_default(),
        Value::Null,
    );
    native.labels = object.metadata.labels.clone().unwrap_or_default();
    native.annotations = object.metadata.annotations.clone().unwrap_or_default();
    native.body = match object.data {
        Value::Object(fields) => fields
            .into_iter()
            .filter(|(field, _)| field != "status")
            .collect(),
        _ => Map::new(),
    };
    native
}

/// The suites' results as a text table.
pub fn report(mesh: &str, results: &[SuiteResult]) -> String {
    let mut out = String::new();
    let total: usize = results.iter().map(|r| r.steps.len()).sum();
    let passed: usize = results.iter().map(SuiteResult::passed).sum();
    for result in results {
        out.push_str(&format!(
            "{} {} ({}): {} ({}/{} steps) in namespace {}\n",
            mesh,
            result.suite,
            result.version,
            result.capability,
            result.passed(),
            result.steps.len(),
            result.namespace
        ));
        for step in &result.steps {
            out.push_str(&format!(
                "  {:<10} {:<8} {:>6} ms  {}\n",
                step.id, step.result, step.millis, step.description
            ));
            if let Some(detail) = &step.detail {
                out.push_str(&format!("             {detail}\n"));
            }
        }
        if let Some(cleanup) = &result.cleanup {
            out.push_str(&format!("  cleanup: {cleanup}\n"));
        }
    }
    let percent = if total == 0 {
        0.0
    } else {
        passed as f64 * 100.0 / total as f64
    };
    out.push_str(&format!(
        "{mesh}: {passed}/{total} steps passed ({percent:.1}%)\n"
    ));
    out
}

/// The results as JSON (upstream's fields: capability per suite, steps passed, pass percent).
pub fn report_json(mesh: &str, results: &[SuiteResult]) -> Value {
    let total: usize = results.iter().map(|r| r.steps.len()).sum();
    let passed: usize = results.iter().map(SuiteResult::passed).sum();
    let by_suite: BTreeMap<&str, &SuiteResult> = results.iter().map(|r| (r.suite, r)).collect();
    json!({
        "mesh": mesh,
        "casespassed": passed,
        "cases": total,
        "passpercent": if total == 0 { 0.0 } else { passed as f64 * 100.0 / total as f64 },
        "suites": by_suite,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grades_follow_upstream() {
        assert_eq!(capability(7, None), Capability::Full);
        assert_eq!(capability(7, Some(4)), Capability::Half);
        assert_eq!(capability(6, Some(3)), Capability::Half);
        assert_eq!(capability(6, Some(2)), Capability::None);
        assert_eq!(capability(11, Some(0)), Capability::None);
    }

    #[test]
    fn there_are_24_steps_and_every_case_is_embedded_and_parses() {
        let suites = suites();
        assert_eq!(suites.iter().map(|s| s.steps.len()).sum::<usize>(), 24);
        for suite in &suites {
            for step in &suite.steps {
                if let Action::Install(case) | Action::Traffic(case) = step.action {
                    let text = CASES
                        .iter()
                        .find(|(n, _)| *n == case)
                        .map(|(_, t)| *t)
                        .unwrap_or_else(|| panic!("{case} is not embedded"));
                    let parsed: Case =
                        serde_yaml_ng::from_str(text).unwrap_or_else(|e| panic!("{case}: {e}"));
                    assert!(
                        parsed.objects.iter().all(|o| o["kind"] == "Namespace"
                            || o["metadata"]["namespace"] == suite.case_namespace),
                        "{case} is not written in namespace {}",
                        suite.case_namespace
                    );
                }
            }
        }
    }
}

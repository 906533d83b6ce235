//! Helpers of the operator's integration tests: an operator running in-process as a minted user
//! with exactly the documented RBAC, polling, and the expected output of the core.
#![allow(dead_code)] // each test binary uses a different part

use std::collections::BTreeSet;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta};
use kube::api::{DynamicObject, ListParams, Patch, PatchParams};
use kube::{Api, Client};
use serde_json::Value;
use smi_operator::watch::{native_resource, smi_resource};
use smi_operator::{MeshChoice, Meshes, Operator, OperatorConfig};
use smi_testenv::{ApplyMode, TestEnv, User, apply_yaml, parse_documents};
use smi_translate::{Backend, NativeKind, Rendered, SmiKind, TranslateOptions};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long anything may take to converge.
pub const CONVERGE: Duration = Duration::from_secs(30);

/// Mints a user bound to a ClusterRole with exactly [`smi_operator::rbac::rules`] for these
/// backends.
pub async fn operator_user(env: &TestEnv, name: &str, backends: &[&dyn Backend]) -> User {
    let native: BTreeSet<NativeKind> = backends.iter().flat_map(|b| b.native_kinds()).collect();
    let claims: BTreeSet<NativeKind> = backends.iter().flat_map(|b| b.claim_kinds()).collect();
    let user = env
        .mint_user(name, &[])
        .unwrap_or_else(|e| panic!("minting {name}: {e}"));
    let admin = env
        .client()
        .await
        .unwrap_or_else(|e| panic!("admin client: {e}"));
    let role_name = format!("smi-bridge-{name}");
    let role = ClusterRole {
        metadata: ObjectMeta {
            name: Some(role_name.clone()),
            ..ObjectMeta::default()
        },
        rules: Some(smi_operator::rbac::rules(&native, &claims)),
        ..ClusterRole::default()
    };
    let binding = ClusterRoleBinding {
        metadata: ObjectMeta {
            name: Some(role_name.clone()),
            ..ObjectMeta::default()
        },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: role_name.clone(),
        },
        subjects: Some(vec![Subject {
            kind: "User".into(),
            name: name.into(),
            api_group: Some("rbac.authorization.k8s.io".into()),
            ..Subject::default()
        }]),
    };
    let params = PatchParams::apply("smi-operator-tests").force();
    Api::<ClusterRole>::all(admin.clone())
        .patch(&role_name, &params, &Patch::Apply(&role))
        .await
        .unwrap_or_else(|e| panic!("ClusterRole {role_name}: {e}"));
    Api::<ClusterRoleBinding>::all(admin)
        .patch(&role_name, &params, &Patch::Apply(&binding))
        .await
        .unwrap_or_else(|e| panic!("ClusterRoleBinding {role_name}: {e}"));
    user
}

/// An operator running in this process.
pub struct Running {
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<(), smi_operator::Error>>,
    /// Where /metrics is served.
    pub http: SocketAddr,
}

impl Running {
    /// Starts an operator as `user`, watching only `namespace` (its Lease is there too), with
    /// short lease timings.
    pub async fn start(
        user: &User,
        namespace: &str,
        backends: Vec<Arc<dyn Backend>>,
        mesh: MeshChoice,
    ) -> Running {
        let client = user
            .client_in(namespace)
            .await
            .unwrap_or_else(|e| panic!("client of {}: {e}", user.name()));
        let meshes = Meshes::new(backends, mesh.clone()).unwrap_or_else(|e| panic!("{e}"));
        let mut config = OperatorConfig::new(mesh, user.name(), namespace);
        config.namespace = Some(namespace.to_string());
        config.lease.duration = Duration::from_secs(4);
        config.lease.renew_interval = Duration::from_millis(500);
        config.debounce = Duration::from_millis(50);
        config.http_addr = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        let operator = Operator::new(client, config, meshes)
            .await
            .unwrap_or_else(|e| panic!("operator: {e}"));
        let http = operator
            .http_addr()
            .unwrap_or_else(|| panic!("no HTTP address"));
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(operator.run(stopped));
        Running { stop, task, http }
    }

    /// Stops it as SIGTERM would, and checks it ended cleanly.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        match tokio::time::timeout(Duration::from_secs(20), self.task).await {
            Ok(Ok(Ok(()))) => {}
            other => panic!("the operator did not stop cleanly: {other:?}"),
        }
    }

    /// The value of a metric line (`name{labels}` as printed), if present.
    pub async fn metric(&self, line: &str) -> Option<f64> {
        let text = http_get(self.http, "/metrics").await?;
        text.lines().find_map(|l| {
            l.strip_prefix(line)
                .and_then(|rest| rest.trim().parse().ok())
        })
    }
}

impl Running {
    /// Every write so far (the sum of `smi_bridge_writes_total`).
    pub async fn writes(&self) -> f64 {
        let text = http_get(self.http, "/metrics").await.unwrap_or_default();
        text.lines()
            .filter(|l| l.starts_with("smi_bridge_writes_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// Checks that the operator stopped writing: a diff that never settles (defaults, field
    /// order) would write again on every echo.
    pub async fn assert_settled(&self) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let before = self.writes().await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let after = self.writes().await;
        assert_eq!(
            before, after,
            "the operator keeps writing after convergence"
        );
    }
}

/// A plain HTTP GET on loopback; the body.
pub async fn http_get(addr: SocketAddr, path: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
}

/// Polls `check` every 100 ms until it returns `Ok`, panicking with its last `Err` after
/// `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let started = Instant::now();
    loop {
        match check().await {
            Ok(value) => return value,
            Err(last) if started.elapsed() > timeout => {
                panic!("{what}: not reached within {timeout:?}; last: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Applies a YAML stream in a namespace (server-side apply as the admin).
pub async fn apply(client: &Client, namespace: &str, yaml: &str) {
    apply_yaml(client, yaml, Some(namespace), ApplyMode::Apply)
        .await
        .unwrap_or_else(|e| panic!("applying test objects: {e}"));
}

/// The objects of a native kind in a namespace.
pub async fn natives(
    client: &Client,
    namespace: &str,
    kind: &NativeKind,
) -> Result<Vec<Value>, String> {
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), namespace, &native_resource(kind));
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(|e| format!("listing {}: {e}", kind.plural))?;
    list.items
        .iter()
        .map(|o| serde_json::to_value(o).map_err(|e| e.to_string()))
        .collect()
}

/// An SMI object as JSON.
pub async fn smi_object(
    client: &Client,
    namespace: &str,
    kind: SmiKind,
    name: &str,
) -> Result<Value, String> {
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), namespace, &smi_resource(kind));
    let object = api
        .get(name)
        .await
        .map_err(|e| format!("{kind} {name}: {e}"))?;
    serde_json::to_value(object).map_err(|e| e.to_string())
}

/// The conditions of an SMI object.
pub async fn conditions(
    client: &Client,
    namespace: &str,
    kind: SmiKind,
    name: &str,
) -> Result<Vec<Condition>, String> {
    let object = smi_object(client, namespace, kind, name).await?;
    let conditions = object
        .pointer("/status/conditions")
        .cloned()
        .unwrap_or(Value::Array(Vec::new()));
    serde_json::from_value(conditions).map_err(|e| e.to_string())
}

/// The condition of a type, if the object has it with this status and reason.
pub async fn has_condition(
    client: &Client,
    namespace: &str,
    kind: SmiKind,
    name: &str,
    type_: &str,
    status: &str,
    reason: &str,
) -> Result<Condition, String> {
    let all = conditions(client, namespace, kind, name).await?;
    all.iter()
        .find(|c| c.type_ == type_ && c.status == status && c.reason == reason)
        .cloned()
        .ok_or_else(|| format!("{kind} {name}: no {type_}={status} ({reason}) in {all:?}"))
}

/// What the core renders for a YAML stream put in `namespace` (plus the Namespace itself).
pub fn rendered(yaml: &str, namespace: &str, backend: &dyn Backend) -> Rendered {
    let mut objects = vec![(
        "namespace".to_string(),
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}),
    )];
    for mut object in parse_documents(yaml, "test objects").unwrap_or_else(|e| panic!("{e}")) {
        object["metadata"]["namespace"] = Value::String(namespace.to_string());
        objects.push(("test".to_string(), object));
    }
    let loaded = smi_translate::input::load_objects(objects).unwrap_or_else(|e| panic!("{e}"));
    smi_translate::render(&loaded.state, backend, &TranslateOptions::default())
}

/// Whether the cluster holds exactly the rendered native objects (by kind and name), each with
/// every field the core sets; the reason when not.
pub async fn matches_rendered(
    client: &Client,
    namespace: &str,
    backend: &dyn Backend,
    expected: &Rendered,
) -> Result<(), String> {
    for kind in backend.native_kinds() {
        let actual = natives(client, namespace, &kind).await?;
        let want: Vec<Value> = expected
            .objects
            .iter()
            .filter(|o| o.kind == kind.kind && o.api_version == kind.api_version())
            .map(|o| o.to_json())
            .collect();
        let name = |v: &Value| {
            v["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        let want_names: BTreeSet<String> = want.iter().map(name).collect();
        let have_names: BTreeSet<String> = actual.iter().map(name).collect();
        if want_names != have_names {
            return Err(format!(
                "{}: want {want_names:?}, have {have_names:?}",
                kind.kind
            ));
        }
        for object in &want {
            let live = actual.iter().find(|a| name(a) == name(object));
            if !live.is_some_and(|live| smi_operator::diff::contains(live, object, "")) {
                return Err(format!(
                    "{} {}: want {object}, have {live:?}",
                    kind.kind,
                    name(object)
                ));
            }
        }
    }
    Ok(())
}

//! Two `smi-bridge run` replicas (child processes of this binary, each a minted user with the
//! documented RBAC): only the leader writes; when the leader is stopped (SIGSTOP) past its
//! lease, the other takes over and converges; the old leader, resumed (SIGCONT), writes nothing.
//! Writes are counted per user in the API server's audit log.
//!
//! It lives in the smi-bridge package because `CARGO_BIN_EXE_smi-bridge` is only set for the
//! tests of the package that builds the binary.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DynamicObject, ListParams, Patch, PatchParams};
use kube::{Api, Client};
use smi_bridge_istio::IstioBackend;
use smi_operator::watch::native_resource;
use smi_testenv::fixtures::WEB_CANARY;
use smi_testenv::{
    ApplyMode, AuditLog, Mesh, TestEnv, User, apply_yaml, install_smi_crds, install_upstream,
    require_env,
};
use smi_translate::{Backend, NativeKind};
use tokio::process::{Child, Command};

const TIMEOUT: Duration = Duration::from_secs(30);

fn split(v1: i64, v2: i64) -> String {
    format!(
        "apiVersion: split.smi-spec.io/v1alpha4\nkind: TrafficSplit\nmetadata: {{name: web-split}}\n\
         spec: {{service: web, backends: [{{service: web-v1, weight: {v1}}}, {{service: web-v2, \
         weight: {v2}}}]}}\n"
    )
}

/// A user bound to a ClusterRole with exactly the operator's documented rules.
async fn replica_user(env: &TestEnv, name: &str, kinds: &BTreeSet<NativeKind>) -> User {
    let claims: BTreeSet<NativeKind> = IstioBackend::default().claim_kinds().into_iter().collect();
    let user = env.mint_user(name, &[]).expect("a minted user");
    let admin = env.client().await.expect("an admin client");
    let meta = ObjectMeta {
        name: Some(format!("smi-bridge-{name}")),
        ..ObjectMeta::default()
    };
    let role = ClusterRole {
        metadata: meta.clone(),
        rules: Some(smi_operator::rbac::rules(kinds, &claims)),
        ..ClusterRole::default()
    };
    let binding = ClusterRoleBinding {
        metadata: meta.clone(),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: format!("smi-bridge-{name}"),
        },
        subjects: Some(vec![Subject {
            kind: "User".into(),
            name: name.into(),
            api_group: Some("rbac.authorization.k8s.io".into()),
            ..Subject::default()
        }]),
    };
    let params = PatchParams::apply("leader-election-test").force();
    let role_name = format!("smi-bridge-{name}");
    Api::<ClusterRole>::all(admin.clone())
        .patch(&role_name, &params, &Patch::Apply(&role))
        .await
        .expect("the ClusterRole");
    Api::<ClusterRoleBinding>::all(admin)
        .patch(&role_name, &params, &Patch::Apply(&binding))
        .await
        .expect("the ClusterRoleBinding");
    user
}

fn replica(user: &User, namespace: &str, log_dir: &Path) -> Child {
    let log =
        std::fs::File::create(log_dir.join(format!("{}.log", user.name()))).expect("a log file");
    Command::new(env!("CARGO_BIN_EXE_smi-bridge"))
        .args([
            "run",
            "--meshes",
            "istio",
            "--mesh",
            "istio",
            "--namespace",
            namespace,
        ])
        .arg("--kubeconfig")
        .arg(user.kubeconfig_path())
        .args(["--identity", user.name()])
        .args(["--lease-duration", "3s", "--lease-renew-interval", "500ms"])
        .args([
            "--debounce",
            "50ms",
            "--http-addr",
            "none",
            "--webhook-addr",
            "none",
        ])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("smi-bridge run starts")
}

fn signal(child: &Child, signal: &str) {
    let pid = child.id().expect("the replica is running");
    let status = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {signal} {pid} failed");
}

async fn holder(client: &Client, namespace: &str) -> Option<String> {
    let lease = Api::<Lease>::namespaced(client.clone(), namespace)
        .get_opt("smi-bridge")
        .await
        .ok()??;
    lease.spec?.holder_identity.filter(|h| !h.is_empty())
}

async fn wait_for<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < TIMEOUT,
            "{what}: not within {TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The weights of the VirtualService's first route, if it exists.
async fn weights(client: &Client, namespace: &str) -> Option<Vec<i64>> {
    let kind = NativeKind::new(
        "networking.istio.io",
        "v1",
        "VirtualService",
        "virtualservices",
    );
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), namespace, &native_resource(&kind));
    let list = api.list(&ListParams::default()).await.ok()?;
    let vs = list.items.first()?;
    let route = vs.data.pointer("/spec/http/0/route")?.as_array()?;
    Some(route.iter().filter_map(|r| r["weight"].as_i64()).collect())
}

/// Write requests by `user` so far: a marker request is made and awaited first, so every
/// earlier request is in the log.
async fn writes(
    audit: &AuditLog,
    client: &Client,
    namespace: &str,
    user: &str,
    round: u32,
) -> Vec<String> {
    let marker = format!("marker-{namespace}-{round}");
    let _ = Api::<ConfigMap>::namespaced(client.clone(), namespace)
        .get_opt(&marker)
        .await;
    let events = audit
        .wait_for(TIMEOUT, |e| e.request_uri.contains(&marker))
        .await
        .expect("the marker in the audit log");
    events
        .iter()
        .filter(|e| e.user.username == user && e.is_write())
        .map(|e| format!("{} {} ({})", e.verb, e.request_uri, e.code()))
        .collect()
}

#[tokio::test]
async fn only_the_leader_writes_and_a_resumed_old_leader_writes_nothing() {
    let env = require_env!();
    let audit = env.audit_log().expect("the audit log is on");
    let ns = env.namespace("leader").await.expect("a test namespace");
    let (client, name) = (ns.client(), ns.name());
    install_smi_crds(client).await.expect("SMI CRDs");
    install_upstream(client, Mesh::Istio)
        .await
        .expect("Istio CRDs");
    let kinds: BTreeSet<NativeKind> = IstioBackend::default().native_kinds().into_iter().collect();
    let a = replica_user(env, "replica-a", &kinds).await;
    let b = replica_user(env, "replica-b", &kinds).await;
    let objects = format!("{WEB_CANARY}---\n{}", split(90, 10));
    apply_yaml(client, &objects, Some(name), ApplyMode::Apply)
        .await
        .expect("test objects");
    let logs = tempfile::tempdir().expect("a log directory");

    let mut first = replica(&a, name, logs.path());
    wait_for("replica-a leads", || async {
        holder(client, name).await.as_deref() == Some("replica-a")
    })
    .await;
    wait_for("replica-a converges", || async {
        weights(client, name).await == Some(vec![90, 10])
    })
    .await;
    let mut second = replica(&b, name, logs.path());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(holder(client, name).await.as_deref(), Some("replica-a"));
    assert_eq!(
        writes(&audit, client, name, b.name(), 1).await,
        Vec::<String>::new(),
        "the follower wrote"
    );

    signal(&first, "-STOP");
    let before = writes(&audit, client, name, a.name(), 2).await;
    assert!(!before.is_empty(), "the leader never wrote");
    wait_for("replica-b takes over", || async {
        holder(client, name).await.as_deref() == Some("replica-b")
    })
    .await;
    apply_yaml(client, &split(30, 70), Some(name), ApplyMode::Apply)
        .await
        .expect("a change");
    wait_for("replica-b converges", || async {
        weights(client, name).await == Some(vec![30, 70])
    })
    .await;

    signal(&first, "-CONT");
    tokio::time::sleep(Duration::from_secs(4)).await;
    let after = writes(&audit, client, name, a.name(), 3).await;
    let log = |user: &User| {
        std::fs::read_to_string(logs.path().join(format!("{}.log", user.name())))
            .unwrap_or_default()
    };
    assert_eq!(
        after[before.len().min(after.len())..].to_vec(),
        Vec::<String>::new(),
        "the resumed old leader wrote; its log:\n{}",
        log(&a)
    );
    assert_eq!(after.len(), before.len());
    assert_eq!(holder(client, name).await.as_deref(), Some("replica-b"));
    assert_eq!(weights(client, name).await, Some(vec![30, 70]));

    for child in [&mut first, &mut second] {
        signal(child, "-TERM");
        let status = tokio::time::timeout(TIMEOUT, child.wait())
            .await
            .expect("the replica stops on SIGTERM")
            .expect("its exit status");
        assert!(
            status.success(),
            "exit {status}; logs:\n{}\n{}",
            log(&a),
            log(&b)
        );
    }
    wait_for("the lease is released", || async {
        holder(client, name).await.is_none()
    })
    .await;
}

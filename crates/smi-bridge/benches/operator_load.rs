//! Operator load on a real API server: `SMI_BRIDGE_LOAD_APPS` apps (default 1,000), each two
//! Deployments, three Services and a TrafficSplit, in one namespace; `smi-bridge run` (this
//! package's binary, Istio backend) is started cold and measured:
//!
//! - cold start: time until every TrafficSplit has its VirtualService and a Programmed
//!   condition for its generation, the writes it took (audit log), and the process's RSS;
//! - change latency: one TrafficSplit's weights changed at a time, time until its
//!   VirtualService shows them (polled every 10 ms), p50 / p90 / max over 50 changes;
//! - restart: writes other than the Lease after a restart in the converged cluster (should be 0).
//!
//! `cargo bench -p smi-bridge --bench operator_load`; extra `smi-bridge run` flags (e.g.
//! `--qps=200 --burst=400`) come from `SMI_BRIDGE_LOAD_ARGS`. Needs the control plane programs
//! (`tools/build.sh`); prints figures, asserts nothing about time.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use kube::api::{DynamicObject, ListParams, Patch, PatchParams};
use kube::{Api, Client};
use serde_json::{Value, json};
use smi_operator::watch::{native_resource, smi_resource};
use smi_testenv::{
    AuditEvent, AuditLog, Config, TestEnv, User, install_smi_crds, install_upstream,
};
use smi_translate::{NativeKind, SmiKind};
use tokio::process::{Child, Command};

const NAMESPACE: &str = "load";
const CHANGES: usize = 50;
const TIMEOUT: Duration = Duration::from_secs(1800);

fn apps() -> usize {
    std::env::var("SMI_BRIDGE_LOAD_APPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

fn extra_args() -> Vec<String> {
    std::env::var("SMI_BRIDGE_LOAD_ARGS")
        .map(|v| v.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// The objects of app `i`.
fn app_objects(i: usize) -> Vec<Value> {
    let app = format!("app-{i}");
    let mut objects = Vec::new();
    for version in ["v1", "v2"] {
        let labels = json!({"app": app, "version": version});
        objects.push(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": format!("{app}-{version}")},
            "spec": {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels},
                "spec": {"serviceAccountName": app, "containers": [{"name": "app", "image": "example/app",
                    "ports": [{"containerPort": 8080}]}]}}}
        }));
        objects.push(json!({
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": format!("{app}-{version}")},
            "spec": {"selector": labels, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}
        }));
    }
    objects.push(json!({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": app},
        "spec": {"selector": {"app": app}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}
    }));
    objects.push(split(&app, 90, 10));
    objects
}

fn split(app: &str, v1: i64, v2: i64) -> Value {
    json!({
        "apiVersion": "split.smi-spec.io/v1alpha4", "kind": "TrafficSplit", "metadata": {"name": app},
        "spec": {"service": app, "backends": [
            {"service": format!("{app}-v1"), "weight": v1},
            {"service": format!("{app}-v2"), "weight": v2}]}
    })
}

async fn apply(client: &Client, object: &Value) {
    let (resource, name) = match object["kind"].as_str() {
        Some("Deployment") => ("deployments", "apps/v1"),
        Some("Service") => ("services", "v1"),
        _ => ("trafficsplits", "split.smi-spec.io/v1alpha4"),
    };
    let (group, version) = name.rsplit_once('/').unwrap_or(("", name));
    let api_resource = kube::api::ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: name.into(),
        kind: object["kind"].as_str().unwrap_or_default().into(),
        plural: resource.into(),
    };
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), NAMESPACE, &api_resource);
    let object_name = object["metadata"]["name"].as_str().unwrap_or_default();
    api.patch(
        object_name,
        &PatchParams::apply("operator-load").force(),
        &Patch::Apply(object),
    )
    .await
    .unwrap_or_else(|e| panic!("applying {object_name}: {e}"));
}

fn virtual_services(client: &Client) -> Api<DynamicObject> {
    Api::namespaced_with(
        client.clone(),
        NAMESPACE,
        &native_resource(&NativeKind::new(
            "networking.istio.io",
            "v1",
            "VirtualService",
            "virtualservices",
        )),
    )
}

fn weights(vs: &DynamicObject) -> Vec<i64> {
    vs.data
        .pointer("/spec/http/0/route")
        .and_then(Value::as_array)
        .map(|routes| routes.iter().filter_map(|r| r["weight"].as_i64()).collect())
        .unwrap_or_default()
}

/// (VirtualServices with 90/10, TrafficSplits with Programmed for their generation).
async fn progress(client: &Client) -> (usize, usize) {
    let routed = virtual_services(client)
        .list(&ListParams::default())
        .await
        .map(|l| l.items.iter().filter(|vs| weights(vs) == [90, 10]).count())
        .unwrap_or(0);
    let splits: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        NAMESPACE,
        &smi_resource(SmiKind::TrafficSplit),
    );
    let programmed = splits
        .list(&ListParams::default())
        .await
        .map(|l| {
            l.items
                .iter()
                .filter(|s| {
                    s.data["status"]["conditions"].as_array().is_some_and(|c| {
                        c.iter().any(|c| {
                            c["type"] == "Programmed"
                                && c["observedGeneration"].as_i64() == s.metadata.generation
                        })
                    })
                })
                .count()
        })
        .unwrap_or(0);
    (routed, programmed)
}

fn start_operator(user: &User, http_port: u16, log: &std::path::Path) -> Child {
    let log = std::fs::File::create(log).expect("a log file");
    Command::new(env!("CARGO_BIN_EXE_smi-bridge"))
        .args(["run", "--mesh", "istio", "--meshes", "istio"])
        .arg(format!("--http-addr=127.0.0.1:{http_port}"))
        .args(["--webhook-addr", "none", "--lease-namespace", "default"])
        .arg("--kubeconfig")
        .arg(user.kubeconfig_path())
        .args(extra_args())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("smi-bridge run starts")
}

/// (VmRSS, VmHWM) of a process, in MiB.
fn memory(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map(|kib| kib / 1024.0)
            .unwrap_or(f64::NAN)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Every audited request so far (a marker request is awaited first).
async fn audited(audit: &AuditLog, client: &Client, marker: &str) -> Vec<AuditEvent> {
    let _ = Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(client.clone(), NAMESPACE)
        .get_opt(marker)
        .await;
    audit
        .wait_for(Duration::from_secs(60), |e| e.request_uri.contains(marker))
        .await
        .expect("the marker in the audit log")
}

/// The user's writes, counted by resource (and subresource).
fn writes(events: &[AuditEvent], user: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for event in events
        .iter()
        .filter(|e| e.user.username == user && e.is_write())
    {
        let resource = event
            .object_ref
            .as_ref()
            .map(|r| match &r.subresource {
                Some(sub) => format!("{}/{sub}", r.resource),
                None => r.resource.clone(),
            })
            .unwrap_or_else(|| "?".into());
        *counts.entry(resource).or_insert(0) += 1;
    }
    counts
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

async fn stop(mut child: Child) {
    if let Some(pid) = child.id() {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
    }
    let _ = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;
}

#[tokio::main]
async fn main() {
    let n = apps();
    let env = TestEnv::start(Config::default())
        .await
        .expect("the control plane starts (tools/build.sh builds its programs)");
    let audit = env.audit_log().expect("the audit log is on");
    let admin = env.client().await.expect("an admin client");
    install_smi_crds(&admin).await.expect("SMI CRDs");
    install_upstream(&admin, smi_testenv::Mesh::Istio)
        .await
        .expect("Istio CRDs");
    env.kubectl(&["create", "namespace", NAMESPACE], None)
        .await
        .expect("the namespace");

    let created = Instant::now();
    let objects: Vec<Value> = (0..n).flat_map(app_objects).collect();
    stream::iter(objects.iter())
        .map(|o| apply(&admin, o))
        .buffer_unordered(32)
        .collect::<Vec<()>>()
        .await;
    let creation = created.elapsed();
    println!(
        "created {} objects ({n} apps) in {:.1} s ({:.0} objects/s)",
        objects.len(),
        creation.as_secs_f64(),
        objects.len() as f64 / creation.as_secs_f64()
    );

    let user = env
        .mint_user("smi-bridge-load", &["system:masters"])
        .expect("a user");
    let logs = tempfile::tempdir().expect("a log directory");
    let log_path = logs.path().join("operator.log");
    let started = Instant::now();
    let operator = start_operator(&user, free_port(), &log_path);
    let pid = operator.id().unwrap_or_default();
    loop {
        let (routed, programmed) = progress(&admin).await;
        if routed == n && programmed == n {
            break;
        }
        assert!(
            started.elapsed() < TIMEOUT,
            "not converged: {routed}/{n} VirtualServices, {programmed}/{n} statuses; log:\n{}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let cold = started.elapsed();
    let (rss, peak) = memory(pid);
    let cold_writes = writes(&audited(&audit, &admin, "marker-cold").await, user.name());
    let total: usize = cold_writes.values().sum();
    println!(
        "cold start: converged in {:.1} s; {total} writes ({:.0}/s) {cold_writes:?}; RSS {rss:.1} MiB, peak {peak:.1} MiB",
        cold.as_secs_f64(),
        total as f64 / cold.as_secs_f64()
    );

    let vs_api = virtual_services(&admin);
    let mut latencies = Vec::new();
    for i in 0..CHANGES {
        let app = format!("app-{}", i * n / CHANGES);
        let changed = Instant::now();
        apply(&admin, &split(&app, 50, 50)).await;
        loop {
            let vs = vs_api.get_opt(&format!("smi-{app}")).await.ok().flatten();
            if vs.as_ref().map(weights).as_deref() == Some(&[50, 50][..]) {
                break;
            }
            assert!(
                changed.elapsed() < Duration::from_secs(60),
                "{app} not changed"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        latencies.push(changed.elapsed());
    }
    latencies.sort();
    println!(
        "change → VirtualService ({CHANGES} changes, one at a time): p50 {:.0} ms, p90 {:.0} ms, max {:.0} ms",
        percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.9).as_secs_f64() * 1000.0,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1000.0
    );

    stop(operator).await;
    let before = writes(
        &audited(&audit, &admin, "marker-stopped").await,
        user.name(),
    );
    let restarted = Instant::now();
    let operator = start_operator(&user, free_port(), &log_path);
    // Converged already: wait for the new replica to lead, then give it time to recompute.
    tokio::time::sleep(Duration::from_secs(20)).await;
    let after = writes(
        &audited(&audit, &admin, "marker-restarted").await,
        user.name(),
    );
    let mut extra: BTreeMap<String, usize> = BTreeMap::new();
    for (resource, count) in &after {
        let new = count - before.get(resource).copied().unwrap_or(0);
        if new > 0 {
            extra.insert(resource.clone(), new);
        }
    }
    let (rss, peak) = memory(operator.id().unwrap_or_default());
    println!(
        "restart in the converged cluster: writes in the first {:.0} s {extra:?} (leases only is right); RSS {rss:.1} MiB, peak {peak:.1} MiB",
        restarted.elapsed().as_secs_f64()
    );
    stop(operator).await;
    let _ = std::fs::remove_dir_all(logs.path());
    drop(env);
}

//! The operator on a real control plane (no kube-controller-manager): each test runs its own
//! operator in-process, scoped to a fresh namespace, as a minted user holding exactly the
//! documented RBAC rules.

mod support;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::events::v1::Event;
use kube::api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;
use smi_bridge_consul::ConsulBackend;
use smi_bridge_gamma::GammaBackend;
use smi_bridge_istio::IstioBackend;
use smi_bridge_linkerd::LinkerdBackend;
use smi_operator::watch::{native_resource, smi_resource};
use smi_operator::{ADOPT_ANNOTATION, MeshChoice};
use smi_testenv::{Mesh, install_smi_crds, install_upstream, require_env};
use smi_translate::native::MANAGED_BY_LABEL;
use smi_translate::{Backend, NativeKind, SmiKind};
use support::{
    CONVERGE, Running, apply, eventually, has_condition, matches_rendered, natives, operator_user,
    rendered, smi_object,
};

/// Workloads, Services, an HTTPRouteGroup, a TrafficTarget and a TrafficSplit.
fn objects(namespace: &str, v1: i64, v2: i64) -> String {
    let deployment = |name: &str, sa: &str, labels: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}}}\nspec: {{selector: \
             {{matchLabels: {labels}}}, template: {{metadata: {{labels: {labels}}}, spec: \
             {{serviceAccountName: {sa}, containers: [{{name: app, image: example/app, ports: \
             [{{containerPort: 8080}}]}}]}}}}}}\n---\n"
        )
    };
    let service = |name: &str, selector: &str| {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\nspec: {{selector: {selector}, \
             ports: [{{name: http, port: 80, targetPort: 8080}}]}}\n---\n"
        )
    };
    let mut yaml = String::new();
    yaml += &deployment("client", "client", "{app: client}");
    yaml += &deployment("web-v1", "web", "{app: web, version: v1}");
    yaml += &deployment("web-v2", "web", "{app: web, version: v2}");
    yaml += &service("web", "{app: web}");
    yaml += &service("web-v1", "{app: web, version: v1}");
    yaml += &service("web-v2", "{app: web, version: v2}");
    yaml += "apiVersion: specs.smi-spec.io/v1alpha4\nkind: HTTPRouteGroup\nmetadata: {name: web-routes}\n\
             spec: {matches: [{name: api, pathRegex: /api, methods: [GET]}]}\n---\n";
    yaml += &format!(
        "apiVersion: access.smi-spec.io/v1alpha3\nkind: TrafficTarget\nmetadata: {{name: web-access}}\n\
         spec: {{destination: {{kind: ServiceAccount, name: web}}, sources: [{{kind: ServiceAccount, \
         name: client, namespace: {namespace}}}], rules: [{{kind: HTTPRouteGroup, name: web-routes, \
         matches: [api]}}]}}\n---\n"
    );
    yaml += &split("web-split", v1, v2);
    yaml
}

fn split(name: &str, v1: i64, v2: i64) -> String {
    format!(
        "apiVersion: split.smi-spec.io/v1alpha4\nkind: TrafficSplit\nmetadata: {{name: {name}}}\n\
         spec: {{service: web, backends: [{{service: web-v1, weight: {v1}}}, {{service: web-v2, \
         weight: {v2}}}]}}\n"
    )
}

async fn converged(client: &Client, ns: &str, backend: &dyn Backend, yaml: &str) {
    let expected = rendered(yaml, ns, backend);
    assert!(
        !expected.objects.is_empty(),
        "the core renders nothing for the test objects"
    );
    eventually(
        "the native objects equal the core's output",
        CONVERGE,
        || matches_rendered(client, ns, backend, &expected),
    )
    .await;
}

/// Create → natives appear and equal the core's output; change → they follow; a Flagger-style
/// full update keeps the status; delete → they go (pruned, no garbage collector here).
async fn natives_follow_smi_objects(upstream: &[Mesh], backend: Arc<dyn Backend>, user: &str) {
    let env = require_env!();
    let ns = env.namespace(user).await.expect("a test namespace");
    let (client, name) = (ns.client(), ns.name());
    install_smi_crds(client).await.expect("SMI CRDs");
    for mesh in upstream {
        install_upstream(client, *mesh).await.expect("mesh CRDs");
    }
    let user = operator_user(env, user, &[backend.as_ref()]).await;
    let mesh = MeshChoice::Named(backend.name().to_string());
    let operator = Running::start(&user, name, vec![backend.clone()], mesh).await;

    let yaml = objects(name, 90, 10);
    apply(client, name, &yaml).await;
    converged(client, name, backend.as_ref(), &yaml).await;
    let original = smi_object(client, name, SmiKind::TrafficSplit, "web-split")
        .await
        .expect("the TrafficSplit");
    let programmed = eventually("the TrafficSplit's status", CONVERGE, || {
        has_condition(
            client,
            name,
            SmiKind::TrafficSplit,
            "web-split",
            "Accepted",
            "True",
            "Accepted",
        )
    })
    .await;
    assert_eq!(programmed.observed_generation, Some(1));
    operator.assert_settled().await;
    for kind in backend.native_kinds() {
        for object in natives(client, name, &kind).await.expect("natives") {
            let owners = object["metadata"]["ownerReferences"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            assert!(
                !owners.is_empty(),
                "{kind:?} without owner references: {object}"
            );
            assert_eq!(object["metadata"]["labels"][MANAGED_BY_LABEL], "smi-bridge");
            if object["metadata"]["annotations"]["smi-bridge.io/sources"]
                .as_str()
                .is_some_and(|s| s == format!("TrafficSplit/{name}/web-split"))
            {
                assert_eq!(owners[0]["uid"], original["metadata"]["uid"]);
                assert_eq!(owners[0]["controller"], true);
            }
        }
    }

    // Change (server-side apply): the natives follow.
    let changed = objects(name, 50, 50);
    apply(client, name, &split("web-split", 50, 50)).await;
    converged(client, name, backend.as_ref(), &changed).await;

    // Flagger replaces the whole object (PUT) without status: the status subresource keeps it.
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), name, &smi_resource(SmiKind::TrafficSplit));
    // Like Flagger (client-go's RetryOnConflict): read, modify, replace; again on 409 (the
    // operator may write the status in between).
    let replaced = eventually("a full update", CONVERGE, || async {
        let mut current = api.get("web-split").await.map_err(|e| e.to_string())?;
        current.data["spec"]["backends"] = json!([
            {"service": "web-v1", "weight": 20},
            {"service": "web-v2", "weight": 80},
        ]);
        current.data.as_object_mut().map(|o| o.remove("status"));
        api.replace("web-split", &PostParams::default(), &current)
            .await
            .map_err(|e| e.to_string())
    })
    .await;
    assert!(
        replaced.data.pointer("/status/conditions").is_some(),
        "a full update dropped the status: {:?}",
        replaced.data
    );
    converged(client, name, backend.as_ref(), &objects(name, 20, 80)).await;
    eventually(
        "the status follows the new generation",
        CONVERGE,
        || async {
            let c = has_condition(
                client,
                name,
                SmiKind::TrafficSplit,
                "web-split",
                "Accepted",
                "True",
                "Accepted",
            )
            .await?;
            (c.observed_generation == replaced.metadata.generation)
                .then_some(())
                .ok_or_else(|| format!("observedGeneration {:?}", c.observed_generation))
        },
    )
    .await;

    // Delete the SMI objects: their natives are pruned.
    for (kind, object) in [
        (SmiKind::TrafficSplit, "web-split"),
        (SmiKind::TrafficTarget, "web-access"),
        (SmiKind::HTTPRouteGroup, "web-routes"),
    ] {
        Api::<DynamicObject>::namespaced_with(client.clone(), name, &smi_resource(kind))
            .delete(object, &DeleteParams::default())
            .await
            .expect("deleting an SMI object");
    }
    eventually("the natives are pruned", CONVERGE, || async {
        for kind in backend.native_kinds() {
            let left = natives(client, name, &kind).await?;
            if !left.is_empty() {
                return Err(format!("{} left: {}", kind.kind, left.len()));
            }
        }
        Ok(())
    })
    .await;
    operator.stop().await;
}

#[tokio::test]
async fn istio_natives_follow_smi_objects() {
    natives_follow_smi_objects(
        &[Mesh::Istio],
        Arc::new(IstioBackend::default()),
        "op-istio",
    )
    .await;
}

#[tokio::test]
async fn gamma_natives_follow_smi_objects() {
    natives_follow_smi_objects(
        &[Mesh::GatewayApi],
        Arc::new(GammaBackend::default()),
        "op-gamma",
    )
    .await;
}

#[tokio::test]
async fn consul_natives_follow_smi_objects() {
    natives_follow_smi_objects(
        &[Mesh::Consul],
        Arc::new(ConsulBackend::default()),
        "op-consul",
    )
    .await;
}

#[tokio::test]
async fn linkerd_natives_follow_smi_objects() {
    let backend = Arc::new(LinkerdBackend::default());
    natives_follow_smi_objects(&[Mesh::GatewayApi, Mesh::Linkerd], backend, "op-linkerd").await;
}

fn virtual_services() -> NativeKind {
    NativeKind::new(
        "networking.istio.io",
        "v1",
        "VirtualService",
        "virtualservices",
    )
}

/// A VirtualService smi-bridge did not create, with the name it wants: a Conflict and an Event,
/// left untouched; annotated for adoption, it is taken over.
#[tokio::test]
async fn foreign_objects_are_conflicts_until_adopted() {
    let env = require_env!();
    let ns = env
        .namespace("op-conflict")
        .await
        .expect("a test namespace");
    let (client, name) = (ns.client(), ns.name());
    install_smi_crds(client).await.expect("SMI CRDs");
    install_upstream(client, Mesh::Istio)
        .await
        .expect("Istio CRDs");
    let backend: Arc<dyn Backend> = Arc::new(IstioBackend::default());
    let user = operator_user(env, "op-conflict", &[backend.as_ref()]).await;
    let vs: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), name, &native_resource(&virtual_services()));
    let foreign = json!({
        "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
        "metadata": {"name": "smi-web-split", "namespace": name},
        "spec": {"hosts": ["web.example"], "http": [{"route": [{"destination": {"host": "web.example"}}]}]},
    });
    let created = vs
        .create(
            &PostParams::default(),
            &serde_json::from_value(foreign).expect("an object"),
        )
        .await
        .expect("the foreign VirtualService");
    let yaml = objects(name, 90, 10);
    apply(client, name, &yaml).await;
    let operator = Running::start(&user, name, vec![backend.clone()], MeshChoice::Auto).await;

    let conflict = eventually("a Conflict condition", CONVERGE, || {
        has_condition(
            client,
            name,
            SmiKind::TrafficSplit,
            "web-split",
            "Programmed",
            "False",
            "Conflict",
        )
    })
    .await;
    assert!(
        conflict.message.contains("smi-web-split"),
        "{}",
        conflict.message
    );
    let events: Api<Event> = Api::namespaced(client.clone(), name);
    eventually("a Conflict Event", CONVERGE, || async {
        let list = events
            .list(&ListParams::default())
            .await
            .map_err(|e| e.to_string())?;
        list.items
            .iter()
            .find(|e| {
                e.reason.as_deref() == Some("Conflict")
                    && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("web-split")
            })
            .map(drop)
            .ok_or_else(|| format!("{} events, none a Conflict on web-split", list.items.len()))
    })
    .await;
    // The rest of the namespace is served: the AuthorizationPolicy exists.
    let expected = rendered(&yaml, name, backend.as_ref());
    let policies = NativeKind::new(
        "security.istio.io",
        "v1",
        "AuthorizationPolicy",
        "authorizationpolicies",
    );
    eventually("the AuthorizationPolicy", CONVERGE, || async {
        let n = natives(client, name, &policies).await?.len();
        let want = expected
            .objects
            .iter()
            .filter(|o| o.kind == "AuthorizationPolicy")
            .count();
        (n == want)
            .then_some(())
            .ok_or_else(|| format!("{n} of {want}"))
    })
    .await;
    let untouched = vs
        .get("smi-web-split")
        .await
        .expect("the foreign VirtualService");
    assert_eq!(
        untouched.metadata.resource_version,
        created.metadata.resource_version
    );

    // Adoption.
    let annotate = json!({"metadata": {"annotations": {ADOPT_ANNOTATION: "true"}}});
    vs.patch(
        "smi-web-split",
        &PatchParams::default(),
        &Patch::Merge(&annotate),
    )
    .await
    .expect("annotating");
    converged(client, name, backend.as_ref(), &yaml).await;
    eventually("Programmed after adoption", CONVERGE, || {
        has_condition(
            client,
            name,
            SmiKind::TrafficSplit,
            "web-split",
            "Programmed",
            "True",
            "Programmed",
        )
    })
    .await;
    operator.stop().await;
}

/// A VirtualService smi-bridge did not create, under another name but for the root's host (Istio
/// would pick one of the two): a Conflict, left untouched, and nothing written for that host
/// until it is gone.
#[tokio::test]
async fn foreign_objects_for_the_same_host_are_conflicts() {
    let env = require_env!();
    let ns = env.namespace("op-host").await.expect("a test namespace");
    let (client, name) = (ns.client(), ns.name());
    install_smi_crds(client).await.expect("SMI CRDs");
    install_upstream(client, Mesh::Istio)
        .await
        .expect("Istio CRDs");
    let backend: Arc<dyn Backend> = Arc::new(IstioBackend::default());
    let user = operator_user(env, "op-host", &[backend.as_ref()]).await;
    let vs: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), name, &native_resource(&virtual_services()));
    let foreign = json!({
        "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
        "metadata": {"name": "hand-written", "namespace": name},
        "spec": {"hosts": ["web"], "http": [{"route": [{"destination": {"host": "web-v1"}}]}]},
    });
    let created = vs
        .create(
            &PostParams::default(),
            &serde_json::from_value(foreign).expect("an object"),
        )
        .await
        .expect("the foreign VirtualService");
    let yaml = objects(name, 90, 10);
    apply(client, name, &yaml).await;
    let operator = Running::start(&user, name, vec![backend.clone()], MeshChoice::Auto).await;
    let conflict = eventually("a Conflict condition", CONVERGE, || {
        has_condition(
            client,
            name,
            SmiKind::TrafficSplit,
            "web-split",
            "Programmed",
            "False",
            "Conflict",
        )
    })
    .await;
    let host = format!("host:web.{name}.svc.cluster.local");
    assert!(
        conflict.message.contains("hand-written") && conflict.message.contains(&host),
        "{}",
        conflict.message
    );
    assert!(
        vs.get_opt("smi-web-split").await.expect("a get").is_none(),
        "no second VirtualService for the host"
    );
    let untouched = vs
        .get("hand-written")
        .await
        .expect("the foreign VirtualService");
    assert_eq!(
        untouched.metadata.resource_version,
        created.metadata.resource_version
    );
    // Once it is gone, smi-bridge programs the host.
    vs.delete("hand-written", &Default::default())
        .await
        .expect("deleting the foreign VirtualService");
    converged(client, name, backend.as_ref(), &yaml).await;
    operator.stop().await;
}

/// Objects the core refuses get a condition naming the problem; the others are served.
#[tokio::test]
async fn invalid_objects_get_conditions_and_others_are_served() {
    let env = require_env!();
    let ns = env.namespace("op-invalid").await.expect("a test namespace");
    let (client, name) = (ns.client(), ns.name());
    install_smi_crds(client).await.expect("SMI CRDs");
    install_upstream(client, Mesh::Istio)
        .await
        .expect("Istio CRDs");
    let backend: Arc<dyn Backend> = Arc::new(IstioBackend::default());
    let user = operator_user(env, "op-invalid", &[backend.as_ref()]).await;
    let operator = Running::start(
        &user,
        name,
        vec![backend.clone()],
        MeshChoice::Named("istio".into()),
    )
    .await;
    let mut yaml = objects(name, 90, 10);
    yaml += "---\n";
    yaml += &split("zero", 0, 0);
    yaml += "---\napiVersion: specs.smi-spec.io/v1alpha4\nkind: HTTPRouteGroup\nmetadata: {name: broken}\n\
             spec: {matches: [{name: bad, pathRegex: '/a(', methods: [GET]}]}\n";
    apply(client, name, &yaml).await;
    converged(client, name, backend.as_ref(), &yaml).await;
    let zero = eventually("the zero-weight split's condition", CONVERGE, || {
        has_condition(
            client,
            name,
            SmiKind::TrafficSplit,
            "zero",
            "Accepted",
            "False",
            "ZeroTotalWeight",
        )
    })
    .await;
    assert!(zero.message.contains("sum to 0"), "{}", zero.message);
    let broken = eventually("the broken group's condition", CONVERGE, || {
        has_condition(
            client,
            name,
            SmiKind::HTTPRouteGroup,
            "broken",
            "Accepted",
            "False",
            "Invalid",
        )
    })
    .await;
    assert!(broken.message.contains("/a("), "{}", broken.message);
    has_condition(
        client,
        name,
        SmiKind::TrafficSplit,
        "web-split",
        "Programmed",
        "True",
        "Programmed",
    )
    .await
    .expect("the valid split is programmed");
    operator.stop().await;
}

/// A new replica in a converged cluster writes nothing but its Lease (audit log).
#[tokio::test]
async fn a_restart_in_a_converged_cluster_writes_only_the_lease() {
    let env = require_env!();
    let audit = env.audit_log().expect("the audit log is on");
    let ns = env.namespace("op-restart").await.expect("a test namespace");
    let (client, name) = (ns.client(), ns.name());
    install_smi_crds(client).await.expect("SMI CRDs");
    install_upstream(client, Mesh::Istio)
        .await
        .expect("Istio CRDs");
    let backend: Arc<dyn Backend> = Arc::new(IstioBackend::default());
    let first = operator_user(env, "op-restart-a", &[backend.as_ref()]).await;
    let second = operator_user(env, "op-restart-b", &[backend.as_ref()]).await;
    let yaml = objects(name, 90, 10) + "---\n" + &split("zero", 0, 0);
    apply(client, name, &yaml).await;
    let operator = Running::start(&first, name, vec![backend.clone()], MeshChoice::Auto).await;
    converged(client, name, backend.as_ref(), &yaml).await;
    eventually("statuses written", CONVERGE, || {
        has_condition(
            client,
            name,
            SmiKind::TrafficSplit,
            "zero",
            "Accepted",
            "False",
            "ZeroTotalWeight",
        )
    })
    .await;
    operator.assert_settled().await;
    operator.stop().await;

    let operator = Running::start(&second, name, vec![backend.clone()], MeshChoice::Auto).await;
    eventually(
        "the new replica leads and has reconciled",
        CONVERGE,
        || async {
            let leader = operator.metric("smi_bridge_leader ").await;
            let rounds = operator.metric("smi_bridge_reconciles_total ").await;
            match (leader, rounds) {
                (Some(l), Some(r)) if l == 1.0 && r >= 2.0 => Ok(()),
                other => Err(format!("leader, reconciles: {other:?}")),
            }
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    operator.stop().await;
    let marker = format!("marker-{name}");
    let _ = Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(client.clone(), name)
        .get_opt(&marker)
        .await;
    let events = audit
        .wait_for(CONVERGE, |e| e.request_uri.contains(&marker))
        .await
        .expect("the marker in the audit log");
    let writes: Vec<String> = events
        .iter()
        .filter(|e| e.user.username == second.name() && e.is_write())
        .filter(|e| e.object_ref.as_ref().is_none_or(|o| o.resource != "leases"))
        .map(|e| format!("{} {}", e.verb, e.request_uri))
        .collect();
    assert!(
        writes.is_empty(),
        "the restarted replica wrote: {writes:#?}"
    );
    let lease_writes = events
        .iter()
        .filter(|e| e.user.username == second.name() && e.is_write())
        .count();
    assert!(
        lease_writes > 0,
        "the restarted replica never took the lease"
    );
}

/// The namespace label `smi-bridge.io/mesh` overrides `--mesh`; switching it moves the namespace
/// to the other backend and prunes the first backend's objects.
#[tokio::test]
async fn the_namespace_label_chooses_the_mesh() {
    let env = require_env!();
    let ns = env.namespace("op-label").await.expect("a test namespace");
    let (client, name) = (ns.client(), ns.name());
    install_smi_crds(client).await.expect("SMI CRDs");
    install_upstream(client, Mesh::Istio)
        .await
        .expect("Istio CRDs");
    install_upstream(client, Mesh::GatewayApi)
        .await
        .expect("Gateway API CRDs");
    let istio: Arc<dyn Backend> = Arc::new(IstioBackend::default());
    let gamma: Arc<dyn Backend> = Arc::new(GammaBackend::default());
    let user = operator_user(env, "op-label", &[istio.as_ref(), gamma.as_ref()]).await;
    let label =
        |mesh: Option<&str>| json!({"metadata": {"labels": {smi_operator::MESH_LABEL: mesh}}});
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    namespaces
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(&label(Some("gamma"))),
        )
        .await
        .expect("labelling the namespace");
    let yaml = objects(name, 90, 10);
    apply(client, name, &yaml).await;
    let backends = vec![istio.clone(), gamma.clone()];
    let operator = Running::start(&user, name, backends, MeshChoice::Named("istio".into())).await;
    converged(client, name, gamma.as_ref(), &yaml).await;
    assert!(
        natives(client, name, &virtual_services())
            .await
            .expect("a list")
            .is_empty()
    );

    namespaces
        .patch(name, &PatchParams::default(), &Patch::Merge(&label(None)))
        .await
        .expect("unlabelling the namespace");
    converged(client, name, istio.as_ref(), &yaml).await;
    eventually("the gamma routes are pruned", CONVERGE, || async {
        let mut left = 0;
        for kind in gamma.native_kinds() {
            left += natives(client, name, &kind).await?.len();
        }
        (left == 0)
            .then_some(())
            .ok_or_else(|| format!("{left} left"))
    })
    .await;
    operator.stop().await;
}

//! What routing objects claim, for the operator's conflict detection: the Services a Gateway API
//! route attaches to, and — on Istio, where a VirtualService and an HTTPRoute for one host
//! conflict — the hosts of mesh-bound VirtualServices.

use serde_json::Value;
use smi_translate::{host_claim, service_host_claim};

/// The `host:<fqdn>` claims of a route's Service `parentRefs` (GAMMA): the Services whose
/// traffic it takes. Other parents (Gateways, Linkerd Servers) claim nothing.
pub fn service_parent_claims(object: &Value, cluster_domain: &str) -> Vec<String> {
    let namespace = object["metadata"]["namespace"].as_str().unwrap_or_default();
    object["spec"]["parentRefs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|parent| {
            parent["kind"].as_str() == Some("Service")
                && matches!(parent["group"].as_str(), Some("") | Some("core"))
        })
        .filter_map(|parent| {
            let name = parent["name"].as_str()?;
            let ns = parent["namespace"].as_str().unwrap_or(namespace);
            Some(host_claim(&format!("{name}.{ns}.svc.{cluster_domain}")))
        })
        .collect()
}

/// The hosts an Istio VirtualService bound to the mesh (no `gateways`, or `mesh` among them)
/// claims, as cluster DNS resolves them from its namespace. Istio does not merge two such
/// VirtualServices for one host, nor a VirtualService and an HTTPRoute.
pub fn virtual_service_claims(object: &Value, cluster_domain: &str) -> Vec<String> {
    let spec = &object["spec"];
    let mesh_bound = spec["gateways"]
        .as_array()
        .is_none_or(|g| g.is_empty() || g.iter().any(|x| x == "mesh"));
    if !mesh_bound {
        return Vec::new();
    }
    let namespace = object["metadata"]["namespace"].as_str().unwrap_or_default();
    spec["hosts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| service_host_claim(h.as_str()?, namespace, cluster_domain))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn routes_claim_their_service_parents_only() {
        let route = json!({"metadata": {"namespace": "shop"}, "spec": {"parentRefs": [
            {"group": "", "kind": "Service", "name": "web"},
            {"group": "core", "kind": "Service", "name": "api", "namespace": "other"},
            {"kind": "Gateway", "name": "ingress"},
            {"group": "policy.linkerd.io", "kind": "Server", "name": "web-8080"}]}});
        assert_eq!(
            service_parent_claims(&route, "cluster.local"),
            vec![
                "host:web.shop.svc.cluster.local",
                "host:api.other.svc.cluster.local"
            ]
        );
    }

    #[test]
    fn only_mesh_bound_virtual_services_claim_their_hosts() {
        let mesh =
            json!({"metadata": {"namespace": "shop"}, "spec": {"hosts": ["web", "api.other"]}});
        assert_eq!(
            virtual_service_claims(&mesh, "cluster.local"),
            vec![
                "host:web.shop.svc.cluster.local",
                "host:api.other.svc.cluster.local"
            ]
        );
        let gateway_only = json!({"metadata": {"namespace": "shop"},
            "spec": {"hosts": ["web"], "gateways": ["ingress"]}});
        assert!(virtual_service_claims(&gateway_only, "cluster.local").is_empty());
    }
}

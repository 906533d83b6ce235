//! Linkerd's behaviour, applied to the emitted objects: for the request oracle.
//!
//! **Outbound** (the client's proxy): a ServiceProfile for the Service with `dstOverrides` wins
//! (Linkerd ≥ 2.13 prefers it to HTTPRoutes); otherwise HTTPRoutes attached to the Service port
//! (Gateway API's or `policy.linkerd.io`'s) pick a rule by Linkerd's ranking
//! ([`Precedence::Linkerd`]), then TCPRoutes; otherwise the Service itself.
//!
//! **Inbound** (each receiving pod's proxy): the Server selecting the pod port; none means the
//! default policy `all-unauthenticated` (allow). UDP is not proxied (allowed). A TCP connection,
//! or any traffic on an `opaque` Server, is allowed when an AuthorizationPolicy targeting the
//! Server authorises the client. An HTTP request on a Server with HTTPRoutes is refused when no
//! route matches; otherwise it is allowed when a policy targeting the best-ranked route or the
//! Server authorises the client (`gRPC` Servers take GRPCRoutes, so their HTTPRoutes are
//! ignored). A policy authorises a client when every required authentication holds; a missing
//! authentication object voids the policy. A NetworkAuthentication holds for meshed clients
//! only when it lists `0.0.0.0/0` or `::/0` (client addresses are not modelled).

use std::collections::BTreeMap;

use serde_json::Value;
use smi_bridge_gamma::selection::{Precedence, WeightedService, attached_routes, best_rule};
use smi_bridge_gamma::{GATEWAY_GROUP, RouteGroups, route_request};
use smi_translate::keys::{Identity, ObjectKey};
use smi_translate::oracle::{Endpoint, Evaluator, Outcome, Request, endpoints};
use smi_translate::state::ClusterState;
use smi_translate::{NativeObject, TranslateOptions};

use crate::authorization::identity_string;
use crate::options::{ClientIdentities, LinkerdOptions, POLICY_GROUP};
use crate::validate::{is_server, selected_ports, selects};

/// The routes Linkerd reads: Gateway API's and its own HTTPRoutes, Gateway API TCPRoutes.
const LINKERD_ROUTES: RouteGroups<'static> = RouteGroups {
    http: &[GATEWAY_GROUP, POLICY_GROUP],
    tcp: &[GATEWAY_GROUP],
};

/// Interprets emitted objects as Linkerd does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkerdEvaluator {
    /// The cluster DNS domain, for ServiceProfile names and authorities.
    pub cluster_domain: String,
    /// The control plane namespace in identity strings.
    pub control_plane_namespace: String,
    /// The trust domain in identity strings.
    pub trust_domain: String,
}

impl LinkerdEvaluator {
    /// An evaluator for objects rendered with these options.
    pub fn new(options: &LinkerdOptions, translate: &TranslateOptions) -> Self {
        let (control_plane_namespace, trust_domain) = match &options.client_identities {
            ClientIdentities::IdentityStrings {
                control_plane_namespace,
                trust_domain,
            } => (control_plane_namespace.clone(), trust_domain.clone()),
            ClientIdentities::ServiceAccountRefs => {
                ("linkerd".to_string(), "cluster.local".to_string())
            }
        };
        LinkerdEvaluator {
            cluster_domain: translate.cluster_domain.clone(),
            control_plane_namespace,
            trust_domain,
        }
    }

    fn outbound(
        &self,
        objects: &[NativeObject],
        request: &Request,
    ) -> Result<Vec<(WeightedService, f64)>, String> {
        if request.method != "udp"
            && let Some(split) = self.profile_split(objects, request)?
        {
            return Ok(split);
        }
        route_request(objects, request, LINKERD_ROUTES, Precedence::Linkerd)
    }

    /// The split of a ServiceProfile with `dstOverrides` for the requested Service, if any.
    fn profile_split(
        &self,
        objects: &[NativeObject],
        request: &Request,
    ) -> Result<Option<Vec<(WeightedService, f64)>>, String> {
        let name = format!(
            "{}.{}.svc.{}",
            request.to.name, request.to.namespace, self.cluster_domain
        );
        let Some(profile) = objects.iter().find(|o| {
            o.kind == "ServiceProfile"
                && o.group() == "linkerd.io"
                && o.namespace == request.to.namespace
                && o.name == name
        }) else {
            return Ok(None);
        };
        let overrides = profile
            .spec()
            .and_then(|s| s.get("dstOverrides"))
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        if overrides.is_empty() {
            return Ok(None);
        }
        let mut backends = Vec::new();
        for o in overrides {
            let authority = o
                .get("authority")
                .and_then(Value::as_str)
                .ok_or("dstOverride without an authority")?;
            let (service, port) = self.parse_authority(authority, request.port)?;
            backends.push(WeightedService {
                service,
                port,
                weight: milli_weight(o.get("weight"))?,
            });
        }
        Ok(Some(smi_bridge_gamma::selection::shares(&backends)))
    }

    /// `<svc>.<ns>.svc.<cluster domain>[:<port>]`.
    fn parse_authority(
        &self,
        authority: &str,
        default_port: u16,
    ) -> Result<(ObjectKey, u16), String> {
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (
                host,
                port.parse::<u16>()
                    .map_err(|e| format!("authority `{authority}`: {e}"))?,
            ),
            None => (authority, default_port),
        };
        let suffix = format!(".svc.{}", self.cluster_domain);
        let (service, namespace) = host
            .strip_suffix(&suffix)
            .and_then(|h| h.split_once('.'))
            .ok_or_else(|| format!("authority `{authority}` is not a Service of this cluster"))?;
        Ok((ObjectKey::new(namespace, service), port))
    }

    fn endpoint_allows(
        &self,
        state: &ClusterState,
        objects: &[NativeObject],
        endpoint: &Endpoint,
        request: &Request,
    ) -> Result<bool, String> {
        if request.method == "udp" {
            return Ok(true);
        }
        let namespace = &endpoint.workload.key.namespace;
        let workload = state
            .workloads
            .get(&endpoint.workload)
            .ok_or("endpoint of an unknown workload")?;
        let mut servers = Vec::new();
        for server in objects
            .iter()
            .filter(|o| is_server(o) && &o.namespace == namespace)
        {
            let spec = server.spec().ok_or("Server without spec")?;
            let selector = spec
                .get("podSelector")
                .ok_or("Server without podSelector")?;
            if selects(selector, &endpoint.labels)?
                && selected_ports(spec, workload).contains(&endpoint.pod_port)
            {
                servers.push((server, spec));
            }
        }
        let (server, spec) = match servers.as_slice() {
            [] => return Ok(true),
            [one] => *one,
            _ => {
                return Err(format!(
                    "several Servers select pod port {} of {}: Linkerd would use one arbitrarily",
                    endpoint.pod_port, endpoint.workload.key
                ));
            }
        };
        let server_allows =
            self.authorized(objects, namespace, "Server", &server.name, &request.from)?;
        let protocol = spec
            .get("proxyProtocol")
            .and_then(Value::as_str)
            .unwrap_or("unknown");
        if !request.is_http() || matches!(protocol, "opaque" | "gRPC") {
            return Ok(server_allows);
        }
        let routes = attached_routes(
            objects,
            "HTTPRoute",
            &[POLICY_GROUP, GATEWAY_GROUP],
            |parent, route_namespace| {
                parent.get("group").and_then(Value::as_str) == Some(POLICY_GROUP)
                    && parent.get("kind").and_then(Value::as_str) == Some("Server")
                    && parent.get("name").and_then(Value::as_str) == Some(server.name.as_str())
                    && route_namespace == namespace
            },
        );
        if routes.is_empty() {
            return Ok(server_allows);
        }
        match best_rule(&routes, request, Precedence::Linkerd)? {
            None => Ok(false),
            Some((route, _)) => Ok(server_allows
                || self.authorized(objects, namespace, "HTTPRoute", &route.name, &request.from)?),
        }
    }

    /// Whether an AuthorizationPolicy targeting `kind/name` (or the namespace) authorises `client`.
    fn authorized(
        &self,
        objects: &[NativeObject],
        namespace: &str,
        kind: &str,
        name: &str,
        client: &Identity,
    ) -> Result<bool, String> {
        for policy in objects.iter().filter(|o| {
            o.kind == "AuthorizationPolicy" && o.group() == POLICY_GROUP && o.namespace == namespace
        }) {
            let spec = policy.spec().ok_or("AuthorizationPolicy without spec")?;
            let target = spec
                .get("targetRef")
                .ok_or("AuthorizationPolicy without targetRef")?;
            let target_kind = target
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let target_name = target
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let applies = (target_kind == kind && target_name == name)
                || (kind == "Server" && target_kind == "Namespace" && target_name == namespace);
            if applies && self.policy_authorizes(objects, namespace, spec, client)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn policy_authorizes(
        &self,
        objects: &[NativeObject],
        namespace: &str,
        spec: &Value,
        client: &Identity,
    ) -> Result<bool, String> {
        let refs = spec
            .get("requiredAuthenticationRefs")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        if refs.is_empty() {
            return Err("AuthorizationPolicy without requiredAuthenticationRefs".to_string());
        }
        for r in refs {
            let kind = r.get("kind").and_then(Value::as_str).unwrap_or_default();
            let name = r.get("name").and_then(Value::as_str).unwrap_or_default();
            let ref_namespace = r
                .get("namespace")
                .and_then(Value::as_str)
                .unwrap_or(namespace);
            let find = |kind: &str| {
                objects.iter().find(|o| {
                    o.kind == kind
                        && o.group() == POLICY_GROUP
                        && o.namespace == ref_namespace
                        && o.name == name
                })
            };
            let holds = match kind {
                "ServiceAccount" => {
                    client.service_account == name && client.namespace == ref_namespace
                }
                "MeshTLSAuthentication" => match find(kind).and_then(NativeObject::spec) {
                    Some(authn) => self.mesh_tls_authenticates(authn, ref_namespace, client),
                    None => false,
                },
                "NetworkAuthentication" => {
                    find(kind)
                        .and_then(NativeObject::spec)
                        .is_some_and(|authn| {
                            authn
                                .get("networks")
                                .and_then(Value::as_array)
                                .into_iter()
                                .flatten()
                                .any(|n| {
                                    matches!(
                                        n.get("cidr").and_then(Value::as_str),
                                        Some("0.0.0.0/0" | "::/0")
                                    ) && n
                                        .get("except")
                                        .and_then(Value::as_array)
                                        .is_none_or(|e| e.is_empty())
                                })
                        })
                }
                other => return Err(format!("unknown authentication kind `{other}`")),
            };
            if !holds {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn mesh_tls_authenticates(
        &self,
        authn: &Value,
        authn_namespace: &str,
        client: &Identity,
    ) -> bool {
        let by_ref = authn
            .get("identityRefs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|r| {
                let namespace = r
                    .get("namespace")
                    .and_then(Value::as_str)
                    .unwrap_or(authn_namespace);
                match r.get("kind").and_then(Value::as_str) {
                    Some("ServiceAccount") => {
                        namespace == client.namespace
                            && r.get("name")
                                .and_then(Value::as_str)
                                .is_none_or(|n| n == client.service_account)
                    }
                    Some("Namespace") => {
                        r.get("name").and_then(Value::as_str) == Some(client.namespace.as_str())
                    }
                    _ => false,
                }
            });
        let id = identity_string(client, &self.control_plane_namespace, &self.trust_domain);
        let by_string = authn
            .get("identities")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .any(|s| {
                s == "*"
                    || s == id
                    || s.strip_prefix('*')
                        .is_some_and(|suffix| suffix.starts_with('.') && id.ends_with(suffix))
            });
        by_ref || by_string
    }
}

/// A Quantity weight (`1`, `500m`, `2k`) in milli-units.
fn milli_weight(weight: Option<&Value>) -> Result<u64, String> {
    let text = match weight {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        other => return Err(format!("dstOverride weight {other:?} is not a quantity")),
    };
    let (number, scale) = match text.strip_suffix('m') {
        Some(n) => (n, 1),
        None => match text.strip_suffix('k') {
            Some(n) => (n, 1_000_000),
            None => (text.as_str(), 1000),
        },
    };
    number
        .parse::<u64>()
        .map(|n| n.saturating_mul(scale))
        .map_err(|e| format!("dstOverride weight `{text}`: {e}"))
}

impl Evaluator for LinkerdEvaluator {
    fn evaluate(
        &self,
        state: &ClusterState,
        objects: &[NativeObject],
        request: &Request,
    ) -> Result<Outcome, String> {
        let mut deliveries: BTreeMap<String, (f64, bool)> = BTreeMap::new();
        for (backend, share) in self.outbound(objects, request)? {
            let mut allowed = true;
            for endpoint in endpoints(state, &backend.service, backend.port) {
                allowed &= self.endpoint_allows(state, objects, &endpoint, request)?;
            }
            let entry = deliveries
                .entry(backend.service.name)
                .or_insert((0.0, true));
            entry.0 += share;
            entry.1 &= allowed;
        }
        Ok(Outcome { deliveries })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn evaluator() -> LinkerdEvaluator {
        LinkerdEvaluator::new(&LinkerdOptions::default(), &TranslateOptions::default())
    }

    #[test]
    fn quantities_and_authorities() {
        assert_eq!(milli_weight(Some(&json!("500m"))).unwrap(), 500);
        assert_eq!(milli_weight(Some(&json!(1))).unwrap(), 1000);
        assert_eq!(milli_weight(Some(&json!("2k"))).unwrap(), 2_000_000);
        assert!(milli_weight(Some(&json!("1.5"))).is_err());
        let e = evaluator();
        assert_eq!(
            e.parse_authority("web.shop.svc.cluster.local:8080", 80)
                .unwrap(),
            (ObjectKey::new("shop", "web"), 8080)
        );
        assert_eq!(
            e.parse_authority("web.shop.svc.cluster.local", 80).unwrap(),
            (ObjectKey::new("shop", "web"), 80)
        );
        assert!(e.parse_authority("example.com", 80).is_err());
    }

    #[test]
    fn mesh_tls_identities() {
        let e = evaluator();
        let client = Identity::new("shop", "web");
        assert!(e.mesh_tls_authenticates(
            &json!({"identities": ["web.shop.serviceaccount.identity.linkerd.cluster.local"]}),
            "shop",
            &client
        ));
        assert!(e.mesh_tls_authenticates(
            &json!({"identities": ["*.shop.serviceaccount.identity.linkerd.cluster.local"]}),
            "shop",
            &client
        ));
        assert!(!e.mesh_tls_authenticates(
            &json!({"identities": ["api.shop.serviceaccount.identity.linkerd.cluster.local"]}),
            "shop",
            &client
        ));
        assert!(e.mesh_tls_authenticates(
            &json!({"identityRefs": [{"kind": "ServiceAccount", "name": "web"}]}),
            "shop",
            &client
        ));
        assert!(e.mesh_tls_authenticates(
            &json!({"identityRefs": [{"kind": "ServiceAccount"}]}),
            "shop",
            &client
        ));
        assert!(!e.mesh_tls_authenticates(&json!({"identityRefs": [{"kind": "ServiceAccount", "name": "web", "namespace": "other"}]}), "shop", &client));
    }
}

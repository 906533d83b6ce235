//! TrafficSplits → routing per root Service.

use std::collections::BTreeMap;

use smi_api::hub;

use super::{Context, skipped};
use crate::keys::{ObjectKey, SmiKind, SmiRef};
use crate::model::{HttpMatch, RoutedPort, ServiceRoutes, WeightedBackend};
use crate::report::ConditionType::{Accepted, ResolvedRefs};
use crate::validate;

pub(crate) use crate::validate::service_in_namespace;

fn created(split: &hub::TrafficSplit) -> Option<String> {
    split
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0.to_string())
}

/// Builds the routing of every accepted TrafficSplit. Several splits for one root: the oldest
/// (then the first by name) wins; the others are not Accepted.
pub(super) fn routes(ctx: &mut Context<'_>) -> Vec<ServiceRoutes> {
    let state = ctx.state;
    let mut by_root: BTreeMap<ObjectKey, Vec<(&ObjectKey, &hub::TrafficSplit)>> = BTreeMap::new();
    for (key, split) in &state.traffic_splits {
        if skipped(&split.metadata) {
            continue;
        }
        let object = SmiRef {
            kind: SmiKind::TrafficSplit,
            key: key.clone(),
        };
        let violations =
            validate::traffic_split(split, &key.namespace, &ctx.options.cluster_domain);
        if !violations.is_empty() {
            ctx.reject(&object, &violations);
            continue;
        }
        if let Ok(root) = service_in_namespace(
            &split.spec.service,
            &key.namespace,
            &ctx.options.cluster_domain,
        ) {
            by_root
                .entry(ObjectKey::new(&key.namespace, root))
                .or_default()
                .push((key, split));
        }
    }
    let mut routes = Vec::new();
    for (root, mut splits) in by_root {
        splits.sort_by(|a, b| created(a.1).cmp(&created(b.1)).then(a.0.cmp(b.0)));
        let (winner_key, winner) = splits[0];
        let winner_ref = SmiRef {
            kind: SmiKind::TrafficSplit,
            key: winner_key.clone(),
        };
        for (key, _) in &splits[1..] {
            let object = SmiRef {
                kind: SmiKind::TrafficSplit,
                key: (*key).clone(),
            };
            ctx.condition(
                &object,
                Accepted,
                false,
                "Conflict",
                format!("root Service `{}` is already split by {winner_ref}; only one TrafficSplit per root Service takes effect (the oldest)", root.name),
            );
        }
        if let Some(r) = split_routes(ctx, &winner_ref, &root, winner) {
            routes.push(r);
        }
    }
    routes
}

fn split_routes(
    ctx: &mut Context<'_>,
    object: &SmiRef,
    root: &ObjectKey,
    split: &hub::TrafficSplit,
) -> Option<ServiceRoutes> {
    let state = ctx.state;
    let namespace = &object.key.namespace;
    // The split is valid (`validate::traffic_split`): every backend resolves, no weight is
    // negative, the total is positive.
    let backends: Vec<(String, u64)> = split
        .spec
        .backends
        .iter()
        .filter_map(|backend| {
            let name =
                service_in_namespace(&backend.service, namespace, &ctx.options.cluster_domain)
                    .ok()?;
            Some((name, u64::try_from(backend.weight).ok()?))
        })
        .collect();
    // A/B matches.
    let mut matches: Vec<HttpMatch> = Vec::new();
    let mut sources = vec![object.clone()];
    for (i, m) in split.spec.matches.iter().enumerate() {
        let field = format!("spec.matches[{i}]");
        let key = ObjectKey::new(namespace, &m.name);
        match ctx.groups.get(&key) {
            None => {
                ctx.condition(object, ResolvedRefs, false, "RouteGroupNotFound", format!("{field}: HTTPRouteGroup `{}` does not exist; the split takes effect once it does (until then traffic stays on the root Service)", m.name));
                return None;
            }
            Some(Err(e)) => {
                ctx.condition(object, ResolvedRefs, false, "InvalidRef", format!("{field}: HTTPRouteGroup `{}` is invalid ({e}); traffic stays on the root Service", m.name));
                return None;
            }
            Some(Ok(group_matches)) => {
                matches.extend(group_matches.iter().cloned());
                sources.push(SmiRef {
                    kind: SmiKind::HTTPRouteGroup,
                    key,
                });
            }
        }
    }
    let accepted_message = "valid";
    ctx.condition(object, Accepted, true, "Accepted", accepted_message);
    // References.
    let Some(root_service) = state.services.get(root) else {
        ctx.condition(
            object,
            ResolvedRefs,
            false,
            "RootServiceNotFound",
            format!(
                "root Service `{}` does not exist; nothing is routed until it does",
                root.name
            ),
        );
        return None;
    };
    let mut problems = Vec::new();
    let mut ports = Vec::new();
    for root_port in &root_service.ports {
        let mut port_backends = Vec::new();
        for (name, weight) in &backends {
            let Some(service) = state.services.get(&ObjectKey::new(namespace, name)) else {
                continue;
            };
            if service.ports.iter().any(|p| {
                p.port == root_port.port && p.protocol.eq_ignore_ascii_case(&root_port.protocol)
            }) {
                port_backends.push(WeightedBackend {
                    service: name.clone(),
                    weight: *weight,
                });
            } else {
                problems.push(format!("backend Service `{name}` has no port {} ({}), so it receives no traffic on that port", root_port.port, root_port.protocol));
            }
        }
        if port_backends.iter().all(|b| b.weight == 0) {
            problems.push(format!("no backend with a positive weight has port {}; traffic to that port stays on the root Service", root_port.port));
            continue;
        }
        ports.push(RoutedPort {
            port: root_port.port,
            name: root_port.name.clone(),
            protocol: root_port.declared_protocol(),
            backends: port_backends,
        });
    }
    for (name, weight) in &backends {
        if !state
            .services
            .contains_key(&ObjectKey::new(namespace, name))
        {
            let share = if *weight > 0 {
                "; its share goes to the other backends until it exists"
            } else {
                ""
            };
            problems.insert(0, format!("backend Service `{name}` does not exist{share}"));
        }
    }
    if problems.is_empty() {
        ctx.condition(
            object,
            ResolvedRefs,
            true,
            "ResolvedRefs",
            "the root and every backend Service exist and share the root's ports",
        );
    } else {
        ctx.condition(
            object,
            ResolvedRefs,
            false,
            "BackendNotResolved",
            problems.join("; "),
        );
    }
    if ports.is_empty() {
        return None;
    }
    Some(ServiceRoutes {
        root: root.clone(),
        split: object.clone(),
        sources,
        ports,
        matches,
    })
}

#[cfg(test)]
mod tests {
    use super::service_in_namespace;

    #[test]
    fn service_names_resolve_within_the_namespace_only() {
        assert_eq!(
            service_in_namespace("web", "shop", "cluster.local").unwrap(),
            "web"
        );
        assert_eq!(
            service_in_namespace("web.shop", "shop", "cluster.local").unwrap(),
            "web"
        );
        assert_eq!(
            service_in_namespace("web.shop.svc.cluster.local", "shop", "cluster.local").unwrap(),
            "web"
        );
        assert_eq!(
            service_in_namespace("web.shop.svc.cluster.local.", "shop", "cluster.local").unwrap(),
            "web"
        );
        assert!(
            service_in_namespace("web.other", "shop", "cluster.local")
                .unwrap_err()
                .contains("namespace `other`")
        );
        assert!(service_in_namespace("web.shop.svc.example.org", "shop", "cluster.local").is_err());
        assert!(service_in_namespace("example.com", "shop", "cluster.local").is_err());
    }
}

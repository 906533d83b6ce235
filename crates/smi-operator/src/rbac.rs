//! The RBAC rules `smi-bridge run` needs (the Helm chart renders the same list).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::rbac::v1::PolicyRule;
use smi_translate::NativeKind;

use crate::watch::{SMI_KINDS, smi_resource};

const READ: [&str; 3] = ["get", "list", "watch"];

fn rule(group: &str, resources: Vec<String>, verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec![group.to_string()]),
        resources: Some(resources),
        verbs: verbs.iter().map(|v| v.to_string()).collect(),
        ..PolicyRule::default()
    }
}

/// Every rule, for the native kinds of the configured backends (see
/// [`crate::Meshes::native_kinds`]) and the kinds they only read to find conflicts
/// ([`crate::Meshes::claim_kinds`]). Cluster-wide; the Lease rule may instead be a Role in the
/// lease namespace.
pub fn rules(
    native_kinds: &BTreeSet<NativeKind>,
    claim_kinds: &BTreeSet<NativeKind>,
) -> Vec<PolicyRule> {
    let mut rules = vec![
        rule(
            "",
            vec!["namespaces".into(), "services".into(), "pods".into()],
            &READ,
        ),
        rule(
            "apps",
            ["deployments", "statefulsets", "daemonsets", "replicasets"]
                .map(String::from)
                .to_vec(),
            &READ,
        ),
        rule(
            "apiextensions.k8s.io",
            vec!["customresourcedefinitions".into()],
            &READ,
        ),
    ];
    let mut smi: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for kind in SMI_KINDS {
        let resource = smi_resource(kind);
        smi.entry(resource.group).or_default().push(resource.plural);
    }
    for (group, plurals) in &smi {
        rules.push(rule(group, plurals.clone(), &READ));
        let status = plurals.iter().map(|p| format!("{p}/status")).collect();
        rules.push(rule(group, status, &["get", "patch"]));
    }
    let mut native: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for kind in native_kinds {
        native
            .entry(kind.group.clone())
            .or_default()
            .insert(kind.plural.clone());
    }
    for (group, plurals) in native {
        rules.push(rule(
            &group,
            plurals.into_iter().collect(),
            &["get", "list", "watch", "create", "patch", "delete"],
        ));
    }
    let mut claimed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for kind in claim_kinds.difference(native_kinds) {
        claimed
            .entry(kind.group.clone())
            .or_default()
            .insert(kind.plural.clone());
    }
    for (group, plurals) in claimed {
        rules.push(rule(&group, plurals.into_iter().collect(), &READ));
    }
    rules.push(rule(
        "events.k8s.io",
        vec!["events".into()],
        &["create", "patch"],
    ));
    rules.push(rule(
        "coordination.k8s.io",
        vec!["leases".into()],
        &["get", "create", "patch"],
    ));
    rules
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_cover_status_natives_events_and_leases() {
        let kinds = BTreeSet::from([
            NativeKind::new(
                "networking.istio.io",
                "v1",
                "VirtualService",
                "virtualservices",
            ),
            NativeKind::new(
                "security.istio.io",
                "v1",
                "AuthorizationPolicy",
                "authorizationpolicies",
            ),
        ]);
        let claims = BTreeSet::from([NativeKind::new(
            "gateway.networking.k8s.io",
            "v1",
            "HTTPRoute",
            "httproutes",
        )]);
        let rules = rules(&kinds, &claims);
        let has = |group: &str, resource: &str, verb: &str| {
            rules.iter().any(|r| {
                r.api_groups
                    .as_ref()
                    .is_some_and(|g| g.iter().any(|g| g == group))
                    && r.resources
                        .as_ref()
                        .is_some_and(|x| x.iter().any(|x| x == resource))
                    && r.verbs.iter().any(|v| v == verb)
            })
        };
        assert!(has("split.smi-spec.io", "trafficsplits/status", "patch"));
        assert!(has("specs.smi-spec.io", "udproutes", "watch"));
        assert!(has("networking.istio.io", "virtualservices", "delete"));
        assert!(has("security.istio.io", "authorizationpolicies", "create"));
        assert!(has("events.k8s.io", "events", "create"));
        assert!(has("coordination.k8s.io", "leases", "patch"));
        assert!(!has("networking.istio.io", "virtualservices", "update"));
        // Claim kinds are only read.
        assert!(has("gateway.networking.k8s.io", "httproutes", "watch"));
        assert!(!has("gateway.networking.k8s.io", "httproutes", "patch"));
    }
}

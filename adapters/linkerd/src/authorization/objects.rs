//! Linkerd policy objects.

use serde_json::json;
use smi_translate::NativeObject;
use smi_translate::keys::{Identity, ObjectKey, SmiKind, SmiRef};
use smi_translate::model::{HttpMatch, PathRegex};
use smi_translate::native::bounded_name;

use crate::options::{ClientIdentities, POLICY_GROUP};

use super::{AUTHN_API, Destination};

impl<'a> Destination<'a, '_> {
    pub(super) fn authorization_policy<'s>(
        &self,
        name: &str,
        target_kind: &str,
        target: &str,
        authentication_kind: &str,
        authentication: &str,
        sources: impl IntoIterator<Item = &'s SmiRef>,
    ) -> NativeObject {
        let spec = json!({
            "targetRef": {"group": POLICY_GROUP, "kind": target_kind, "name": target},
            "requiredAuthenticationRefs": [{"group": POLICY_GROUP, "kind": authentication_kind, "name": authentication}],
        });
        NativeObject::new(
            AUTHN_API,
            "AuthorizationPolicy",
            self.namespace(),
            name,
            spec,
        )
        .with_sources(sources)
    }

    pub(super) fn mesh_tls_authentication(
        &self,
        target: &SmiRef,
        sources: &[Identity],
    ) -> NativeObject {
        let spec = match &self.options.client_identities {
            ClientIdentities::ServiceAccountRefs => json!({
                "identityRefs": sources.iter().map(|s| json!({"kind": "ServiceAccount", "name": s.service_account, "namespace": s.namespace})).collect::<Vec<_>>(),
            }),
            ClientIdentities::IdentityStrings {
                control_plane_namespace,
                trust_domain,
            } => json!({
                "identities": sources.iter().map(|s| identity_string(s, control_plane_namespace, trust_domain)).collect::<Vec<_>>(),
            }),
        };
        NativeObject::new(
            AUTHN_API,
            "MeshTLSAuthentication",
            self.namespace(),
            bounded_name(&target.key.name, 253),
            spec,
        )
        .with_sources([target])
    }
}

/// `<sa>.<ns>.serviceaccount.identity.<control plane ns>.<trust domain>`.
pub fn identity_string(
    identity: &Identity,
    control_plane_namespace: &str,
    trust_domain: &str,
) -> String {
    format!(
        "{}.{}.serviceaccount.identity.{control_plane_namespace}.{trust_domain}",
        identity.service_account, identity.namespace
    )
}
/// The HTTPRouteGroups of some matches.
pub(super) fn group_refs(matches: &[HttpMatch]) -> Vec<SmiRef> {
    let mut refs: Vec<SmiRef> = matches
        .iter()
        .filter(|m| !m.group.name.is_empty())
        .map(|m| SmiRef {
            kind: SmiKind::HTTPRouteGroup,
            key: m.group.clone(),
        })
        .collect();
    refs.sort();
    refs.dedup();
    refs
}

/// A match that no HTTPRouteGroup wrote (catch-all, probe paths).
pub(super) fn synthetic_match(
    namespace: &str,
    path: Option<PathRegex>,
    methods: Option<Vec<String>>,
) -> HttpMatch {
    HttpMatch {
        group: ObjectKey::new(namespace, ""),
        name: String::new(),
        path,
        methods,
        headers: Vec::new(),
    }
}

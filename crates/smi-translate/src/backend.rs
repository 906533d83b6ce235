//! The interface a mesh backend implements. Each backend lives in its own crate under `adapters/`;
//! the core never depends on one.

use crate::model::Model;
use crate::native::NativeObject;
use crate::report::Finding;
use crate::state::ClusterState;

/// A mesh backend: turns the mesh-neutral [`Model`] into the mesh's native objects.
///
/// Implementations are pure and deterministic: the same model and state give the same output,
/// in the same order. Whatever the mesh cannot express is reported as a [`Finding`] and left out
/// (never widened into a rule that allows or routes more than asked).
pub trait Backend: Send + Sync {
    /// Short name used on the command line and in labels: `istio`, `linkerd`, `consul`, `gamma`.
    fn name(&self) -> &str;

    /// The native kinds the backend writes: what the operator watches, prunes and needs RBAC
    /// for, and whose CRDs must be served for the backend to be available.
    fn native_kinds(&self) -> Vec<NativeKind>;

    /// The desired native objects and what could not be expressed. The core stamps ownership
    /// labels and annotations afterwards.
    fn render(&self, model: &Model, state: &ClusterState) -> BackendOutput;

    /// Kinds (besides [`Backend::native_kinds`]) whose objects can take the same traffic as the
    /// objects this backend writes under another name — e.g. a ServiceProfile, which overrides
    /// Linkerd's HTTPRoutes for its Service. The operator watches them (read-only) to find
    /// conflicts. Default: none.
    fn claim_kinds(&self) -> Vec<NativeKind> {
        Vec::new()
    }

    /// What an object (of a native or claim kind, as JSON) claims: keys no two objects may
    /// share, such as `host:<fqdn>` for routing of one host or `intentions:<service>` for the
    /// access of one destination. A foreign object claiming a key that a desired object claims is
    /// a conflict, whatever their names. Default: none.
    fn claims(
        &self,
        kind: &NativeKind,
        object: &serde_json::Value,
        cluster_domain: &str,
    ) -> Vec<String> {
        let _ = (kind, object, cluster_domain);
        Vec::new()
    }
}

/// The claim key of routing for a fully qualified host name.
pub fn host_claim(fqdn: &str) -> String {
    format!("host:{}", fqdn.trim_end_matches('.').to_ascii_lowercase())
}

/// The claim key of a host as Kubernetes DNS resolves it from `namespace` (`web`, `web.ns`,
/// `web.ns.svc`, or fully qualified); `None` for wildcards, which claim no single host.
pub fn service_host_claim(host: &str, namespace: &str, cluster_domain: &str) -> Option<String> {
    if host.contains('*') {
        return None;
    }
    let host = host.trim_end_matches('.');
    let fqdn = match host.split('.').count() {
        1 => format!("{host}.{namespace}.svc.{cluster_domain}"),
        2 => format!("{host}.svc.{cluster_domain}"),
        3 if host.ends_with(".svc") => format!("{host}.{cluster_domain}"),
        _ => host.to_string(),
    };
    Some(host_claim(&fqdn))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_normalise_like_cluster_dns() {
        let claim = |h| service_host_claim(h, "shop", "cluster.local");
        let want = Some("host:web.shop.svc.cluster.local".to_string());
        assert_eq!(claim("web"), want);
        assert_eq!(claim("web.shop"), want);
        assert_eq!(claim("web.shop.svc"), want);
        assert_eq!(claim("Web.Shop.svc.cluster.local."), want);
        assert_eq!(claim("*.shop.svc.cluster.local"), None);
    }
}

/// A native kind a backend writes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct NativeKind {
    /// API group.
    pub group: String,
    /// Version written.
    pub version: String,
    /// Kind.
    pub kind: String,
    /// Resource (plural) name.
    pub plural: String,
}

impl NativeKind {
    /// Builds a kind.
    pub fn new(group: &str, version: &str, kind: &str, plural: &str) -> Self {
        NativeKind {
            group: group.to_string(),
            version: version.to_string(),
            kind: kind.to_string(),
            plural: plural.to_string(),
        }
    }

    /// `group/version`.
    pub fn api_version(&self) -> String {
        format!("{}/{}", self.group, self.version)
    }
}

/// What a backend produced.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BackendOutput {
    /// Desired native objects.
    pub objects: Vec<NativeObject>,
    /// What could not be expressed, per SMI object.
    pub findings: Vec<Finding>,
}

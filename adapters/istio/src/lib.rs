//! The Istio backend of smi-bridge.
//!
//! - **TrafficSplit** → one `VirtualService` per root host (Istio does not merge two
//!   VirtualServices for one host): weighted `http` routes to the backend Services, A/B routes
//!   before a catch-all to the root, `tcp` routes for TCP ports ([`routing`]).
//! - **TrafficTarget** (+ HTTPRouteGroup/TCPRoute) → one `AuthorizationPolicy` (action ALLOW) per
//!   destination pod-template label set; a destination with nothing allowed gets an
//!   allow-nothing policy ([`authorization`]). Optionally a `PeerAuthentication` STRICT.
//!
//! **mTLS must be on**: sources are matched by their mTLS principal
//! (`<trust domain>/ns/<namespace>/sa/<service account>`), so a request without a peer
//! certificate never matches an allow rule and is denied. Istio's default (auto mTLS between
//! sidecars, PERMISSIVE servers) is enough; [`IstioOptions::strict_mtls`] makes it explicit.
//!
//! What Istio cannot express is reported as a [`Finding`](smi_translate::Finding) and left out,
//! never widened: path regexes an AuthorizationPolicy cannot match (`NotExpressible`), header
//! regexes other than exact/prefix/suffix/presence (`NotExpressible`), UDP (`NotSupported`:
//! sidecars do not intercept it), selectors that would pick another identity's pods
//! (`AmbiguousSelector`).
#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod authorization;
pub mod evaluator;
mod names;
mod options;
pub mod re2;
pub mod routing;
pub mod validate;

pub use evaluator::IstioEvaluator;
pub use options::{IstioApiVersion, IstioOptions};

use smi_bridge_gamma::{service_parent_claims, virtual_service_claims};
use smi_translate::backend::{Backend, BackendOutput, NativeKind};
use smi_translate::{ClusterState, Finding, Model, SmiRef};

/// The Istio backend.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IstioBackend {
    options: IstioOptions,
}

impl IstioBackend {
    /// A backend with the given options.
    pub fn new(options: IstioOptions) -> Self {
        IstioBackend { options }
    }

    /// The options the backend renders with.
    pub fn options(&self) -> &IstioOptions {
        &self.options
    }
}

impl Backend for IstioBackend {
    fn name(&self) -> &str {
        "istio"
    }

    fn native_kinds(&self) -> Vec<NativeKind> {
        let version = self.options.api_version.as_str();
        let mut kinds = vec![
            NativeKind::new(routing::GROUP, version, routing::KIND, "virtualservices"),
            NativeKind::new(
                authorization::GROUP,
                version,
                authorization::KIND,
                "authorizationpolicies",
            ),
        ];
        if self.options.strict_mtls {
            kinds.push(NativeKind::new(
                authorization::GROUP,
                version,
                authorization::PEER_AUTHENTICATION_KIND,
                "peerauthentications",
            ));
        }
        kinds
    }

    /// Gateway API routes attached to a Service conflict with a VirtualService for its host.
    fn claim_kinds(&self) -> Vec<NativeKind> {
        vec![NativeKind::new(
            "gateway.networking.k8s.io",
            "v1",
            "HTTPRoute",
            "httproutes",
        )]
    }

    /// VirtualServices bound to the mesh claim their hosts (Istio does not merge two for one
    /// host); Gateway API routes claim their parent Services' hosts.
    fn claims(
        &self,
        kind: &NativeKind,
        object: &serde_json::Value,
        cluster_domain: &str,
    ) -> Vec<String> {
        match kind.kind.as_str() {
            routing::KIND => virtual_service_claims(object, cluster_domain),
            "HTTPRoute" => service_parent_claims(object, cluster_domain),
            _ => Vec::new(),
        }
    }

    fn render(&self, model: &Model, state: &ClusterState) -> BackendOutput {
        let mut output = BackendOutput::default();
        routing::render(model, state, &self.options, &mut output);
        authorization::render(model, &self.options, &mut output);
        output.findings.sort_by(|a, b| {
            (&a.object, &a.reason, &a.message).cmp(&(&b.object, &b.reason, &b.message))
        });
        output.findings.dedup();
        output
    }
}

/// A finding on an SMI object.
fn finding(object: &SmiRef, reason: &str, message: impl Into<String>) -> Finding {
    Finding {
        object: object.clone(),
        reason: reason.to_string(),
        message: message.into(),
    }
}

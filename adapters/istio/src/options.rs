//! What the Istio backend can be told (the binary parses flags into [`IstioOptions`]).

/// Options of the Istio backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IstioOptions {
    /// The mesh's trust domain, the first part of every mTLS principal
    /// (`<trust domain>/ns/<namespace>/sa/<service account>`). Default `cluster.local`, Istio's
    /// default; set it to the mesh config's `trustDomain` when that differs.
    pub trust_domain: String,
    /// The API versions written. Default [`IstioApiVersion::V1`].
    pub api_version: IstioApiVersion,
    /// Also write a `PeerAuthentication` with `mtls.mode: STRICT` for every pod set that gets an
    /// AuthorizationPolicy. Default off: the policies already deny requests without a peer
    /// certificate (they carry no principal), and STRICT would also refuse plaintext from
    /// clients outside the mesh (e.g. kubelet probes that Istio does not rewrite) — turn it on
    /// where every client of the protected workloads has a sidecar.
    pub strict_mtls: bool,
}

impl Default for IstioOptions {
    fn default() -> Self {
        IstioOptions {
            trust_domain: "cluster.local".to_string(),
            api_version: IstioApiVersion::V1,
            strict_mtls: false,
        }
    }
}

impl IstioOptions {
    /// Options with a trust domain and API version; PeerAuthentication off.
    pub fn new(trust_domain: impl Into<String>, api_version: IstioApiVersion) -> Self {
        IstioOptions {
            trust_domain: trust_domain.into(),
            api_version,
            strict_mtls: false,
        }
    }

    /// The mTLS principal of a ServiceAccount.
    pub fn principal(&self, namespace: &str, service_account: &str) -> String {
        format!("{}/ns/{namespace}/sa/{service_account}", self.trust_domain)
    }
}

/// The version of `networking.istio.io` and `security.istio.io` written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IstioApiVersion {
    /// `v1`: VirtualService and PeerAuthentication need Istio ≥ 1.22, AuthorizationPolicy
    /// Istio ≥ 1.18. The default.
    #[default]
    V1,
    /// `v1beta1`: served by every Istio from 1.5 (AuthorizationPolicy from 1.4) to today; use
    /// it for Istio 1.5–1.21.
    V1beta1,
}

impl IstioApiVersion {
    /// `v1` or `v1beta1`.
    pub fn as_str(self) -> &'static str {
        match self {
            IstioApiVersion::V1 => "v1",
            IstioApiVersion::V1beta1 => "v1beta1",
        }
    }

    /// Parses [`IstioApiVersion::as_str`].
    pub fn parse(text: &str) -> Option<Self> {
        [IstioApiVersion::V1, IstioApiVersion::V1beta1]
            .into_iter()
            .find(|v| v.as_str() == text)
    }
}

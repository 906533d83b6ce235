//! The mesh backends this binary offers. Adding a mesh means adding its crate under `adapters/`
//! and one entry here; the translation core does not change.

use clap::{Args, ValueEnum};
use smi_bridge_consul::{
    ConsulBackend, ConsulEvaluator, ConsulOptions, IdentityMapping, NamespaceMode,
};
use smi_bridge_gamma::{
    GammaBackend, GammaEvaluator, GammaOptions, HttpRouteVersion, TcpRouteSupport,
};
use smi_bridge_istio::{IstioApiVersion, IstioBackend, IstioEvaluator, IstioOptions};
use smi_bridge_linkerd::{
    ClientIdentities, LATEST_RELEASE, LinkerdBackend, LinkerdEvaluator, LinkerdOptions, Routing,
};
use smi_translate::oracle::Evaluator;
use smi_translate::{Backend, TranslateOptions};

/// The meshes `--mesh` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, ValueEnum)]
pub enum Mesh {
    /// Istio: VirtualService and AuthorizationPolicy.
    Istio,
    /// Linkerd 2: Gateway API HTTPRoute (or ServiceProfile) and policy.linkerd.io authorization.
    Linkerd,
    /// Consul on Kubernetes: consul-k8s config-entry CRDs.
    Consul,
    /// Gateway API mesh routing (GAMMA) only: HTTPRoute attached to Services.
    Gamma,
}

impl Mesh {
    /// The name used in `--mesh`, labels and conditions.
    pub fn name(self) -> &'static str {
        match self {
            Mesh::Istio => "istio",
            Mesh::Linkerd => "linkerd",
            Mesh::Consul => "consul",
            Mesh::Gamma => "gamma",
        }
    }

    /// Parses [`Mesh::name`].
    pub fn from_name(name: &str) -> Option<Mesh> {
        Mesh::value_variants()
            .iter()
            .copied()
            .find(|m| m.name() == name)
    }
}

/// `networking.istio.io` / `security.istio.io` versions, as a flag value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum IstioApiVersionArg {
    /// `v1` (Istio >= 1.22).
    #[default]
    V1,
    /// `v1beta1` (Istio 1.5-1.21).
    V1beta1,
}

/// How ServiceAccounts map to Consul service names, as a flag value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ConsulIdentityArg {
    /// The Kubernetes Services registering the ServiceAccount's pods (else its name).
    #[default]
    SelectingService,
    /// The ServiceAccount's name (consul-k8s's ACL binding rule).
    ServiceAccountName,
}

/// Gateway API HTTPRoute versions, as a flag value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum HttpRouteVersionArg {
    /// `gateway.networking.k8s.io/v1`.
    #[default]
    V1,
    /// `gateway.networking.k8s.io/v1beta1`.
    V1beta1,
}

/// Whether and at which version the cluster serves Gateway API TCPRoute, as a flag value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum TcpRouteArg {
    /// Not served: splits of TCP ports are reported NotSupported.
    #[default]
    NotServed,
    /// `gateway.networking.k8s.io/v1alpha2` (experimental channel before v1.6).
    V1alpha2,
    /// `gateway.networking.k8s.io/v1` (Gateway API v1.6 and later).
    V1,
}

/// How Linkerd's TrafficSplits are written, as a flag value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LinkerdRoutingArg {
    /// Gateway API HTTPRoutes (Linkerd >= 2.14).
    Httproute,
    /// `policy.linkerd.io/v1beta2` HTTPRoutes (Linkerd 2.13).
    PolicyHttproute,
    /// ServiceProfile dstOverrides, as linkerd-smi wrote them (every Linkerd 2.x).
    Serviceprofile,
}

/// Options of the backends, as flags. Each flag is prefixed with its mesh's name.
#[derive(Args, Clone, Debug)]
pub struct BackendArgs {
    /// Istio: the mesh's trust domain (the first part of mTLS principals).
    #[arg(long, default_value = "cluster.local")]
    pub istio_trust_domain: String,
    /// Istio: the API version of the networking and security objects written.
    #[arg(long, value_enum, default_value_t)]
    pub istio_api_version: IstioApiVersionArg,
    /// Istio: also write a STRICT PeerAuthentication for every protected pod set.
    #[arg(long)]
    pub istio_strict_mtls: bool,
    /// Consul: mirror Kubernetes namespaces into Consul Enterprise namespaces with this prefix
    /// (`connectInject.consulNamespaces.mirroringK8S`); unset for Consul open source.
    #[arg(long)]
    pub consul_namespace_mirroring_prefix: Option<String>,
    /// Consul: how ServiceAccounts map to Consul service names.
    #[arg(long, value_enum, default_value_t)]
    pub consul_identity: ConsulIdentityArg,
    /// Linkerd: the 2.x minor release targeted (picks the API versions written).
    #[arg(long, default_value_t = LATEST_RELEASE)]
    pub linkerd_release: u32,
    /// Linkerd: how TrafficSplits are written (default: the newest the release supports).
    #[arg(long, value_enum)]
    pub linkerd_routing: Option<LinkerdRoutingArg>,
    /// Linkerd: name clients by identity strings in this control-plane namespace instead of by
    /// ServiceAccount references.
    #[arg(long)]
    pub linkerd_identity_namespace: Option<String>,
    /// Linkerd: the trust domain of identity strings.
    #[arg(long, default_value = "cluster.local")]
    pub linkerd_trust_domain: String,
    /// Linkerd: an HTTP path kubelet probes (repeatable); ports with HTTP access rules get a
    /// route for it authorised for the probe networks.
    #[arg(long = "linkerd-probe-path")]
    pub linkerd_probe_paths: Vec<String>,
    /// Gateway API (gamma, and Linkerd's httproute mode): the HTTPRoute version written.
    #[arg(long, value_enum, default_value_t)]
    pub gateway_httproute_version: HttpRouteVersionArg,
    /// Gateway API (gamma, and Linkerd's route modes): whether the cluster serves TCPRoute.
    #[arg(long, value_enum, default_value_t)]
    pub gateway_tcproute: TcpRouteArg,
}

impl Default for BackendArgs {
    fn default() -> Self {
        BackendArgs {
            istio_trust_domain: "cluster.local".to_string(),
            istio_api_version: IstioApiVersionArg::V1,
            istio_strict_mtls: false,
            consul_namespace_mirroring_prefix: None,
            consul_identity: ConsulIdentityArg::SelectingService,
            linkerd_release: LATEST_RELEASE,
            linkerd_routing: None,
            linkerd_identity_namespace: None,
            linkerd_trust_domain: "cluster.local".to_string(),
            linkerd_probe_paths: Vec::new(),
            gateway_httproute_version: HttpRouteVersionArg::V1,
            gateway_tcproute: TcpRouteArg::NotServed,
        }
    }
}

impl BackendArgs {
    /// The backend for a mesh, configured from the flags.
    pub fn build(&self, mesh: Mesh) -> Box<dyn Backend> {
        match mesh {
            Mesh::Istio => Box::new(IstioBackend::new(self.istio_options())),
            Mesh::Consul => Box::new(ConsulBackend::new(self.consul_options())),
            Mesh::Linkerd => Box::new(LinkerdBackend::new(self.linkerd_options())),
            Mesh::Gamma => Box::new(GammaBackend::new(GammaOptions::new(
                self.http_route_version(),
                self.tcp_routes(),
            ))),
        }
    }

    /// The mesh's evaluator for the objects [`BackendArgs::build`]'s backend writes: it decides
    /// requests as the mesh's documented matching rules do.
    pub fn evaluator(&self, mesh: Mesh, translate: &TranslateOptions) -> Box<dyn Evaluator> {
        match mesh {
            Mesh::Istio => Box::new(IstioEvaluator::new(&self.istio_options(), translate)),
            Mesh::Consul => Box::new(ConsulEvaluator::new(self.consul_options())),
            Mesh::Linkerd => Box::new(LinkerdEvaluator::new(&self.linkerd_options(), translate)),
            Mesh::Gamma => Box::new(GammaEvaluator::default()),
        }
    }

    fn istio_options(&self) -> IstioOptions {
        let api_version = match self.istio_api_version {
            IstioApiVersionArg::V1 => IstioApiVersion::V1,
            IstioApiVersionArg::V1beta1 => IstioApiVersion::V1beta1,
        };
        let mut options = IstioOptions::new(self.istio_trust_domain.clone(), api_version);
        options.strict_mtls = self.istio_strict_mtls;
        options
    }

    fn consul_options(&self) -> ConsulOptions {
        let namespaces = match &self.consul_namespace_mirroring_prefix {
            None => NamespaceMode::Disabled,
            Some(prefix) => NamespaceMode::Mirroring {
                prefix: prefix.clone(),
            },
        };
        let identities = match self.consul_identity {
            ConsulIdentityArg::SelectingService => IdentityMapping::SelectingService,
            ConsulIdentityArg::ServiceAccountName => IdentityMapping::ServiceAccountName,
        };
        ConsulOptions::new(namespaces, identities)
    }
}

impl BackendArgs {
    fn http_route_version(&self) -> HttpRouteVersion {
        match self.gateway_httproute_version {
            HttpRouteVersionArg::V1 => HttpRouteVersion::V1,
            HttpRouteVersionArg::V1beta1 => HttpRouteVersion::V1beta1,
        }
    }

    fn tcp_routes(&self) -> TcpRouteSupport {
        match self.gateway_tcproute {
            TcpRouteArg::NotServed => TcpRouteSupport::NotServed,
            TcpRouteArg::V1alpha2 => TcpRouteSupport::V1alpha2,
            TcpRouteArg::V1 => TcpRouteSupport::V1,
        }
    }

    fn linkerd_options(&self) -> LinkerdOptions {
        let mut options = LinkerdOptions::for_release(self.linkerd_release);
        match self.linkerd_routing {
            None => {}
            Some(LinkerdRoutingArg::Httproute) => {
                options.routing = Routing::HttpRoute(self.http_route_version())
            }
            Some(LinkerdRoutingArg::PolicyHttproute) => options.routing = Routing::PolicyHttpRoute,
            Some(LinkerdRoutingArg::Serviceprofile) => options.routing = Routing::ServiceProfile,
        }
        options.tcp_routes = self.tcp_routes();
        if let Some(namespace) = &self.linkerd_identity_namespace {
            options.client_identities = ClientIdentities::IdentityStrings {
                control_plane_namespace: namespace.clone(),
                trust_domain: self.linkerd_trust_domain.clone(),
            };
        }
        options.probe_paths = self.linkerd_probe_paths.clone();
        options
    }
}

//! The SMI kinds smi-bridge serves, with their API groups and versions.

/// An SMI kind, with its API group and versions.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum SmiKind {
    /// `split.smi-spec.io` TrafficSplit.
    TrafficSplit,
    /// `access.smi-spec.io` TrafficTarget.
    TrafficTarget,
    /// `specs.smi-spec.io` HTTPRouteGroup.
    HTTPRouteGroup,
    /// `specs.smi-spec.io` TCPRoute.
    TCPRoute,
    /// `specs.smi-spec.io` UDPRoute.
    UDPRoute,
}

impl SmiKind {
    /// Every SMI kind smi-bridge serves.
    pub const ALL: [SmiKind; 5] = [
        SmiKind::TrafficSplit,
        SmiKind::TrafficTarget,
        SmiKind::HTTPRouteGroup,
        SmiKind::TCPRoute,
        SmiKind::UDPRoute,
    ];

    /// The kind's name, e.g. `TrafficSplit`.
    pub fn as_str(self) -> &'static str {
        match self {
            SmiKind::TrafficSplit => "TrafficSplit",
            SmiKind::TrafficTarget => "TrafficTarget",
            SmiKind::HTTPRouteGroup => "HTTPRouteGroup",
            SmiKind::TCPRoute => "TCPRoute",
            SmiKind::UDPRoute => "UDPRoute",
        }
    }

    /// The kind's API group, e.g. `split.smi-spec.io`.
    pub fn group(self) -> &'static str {
        match self {
            SmiKind::TrafficSplit => "split.smi-spec.io",
            SmiKind::TrafficTarget => "access.smi-spec.io",
            SmiKind::HTTPRouteGroup | SmiKind::TCPRoute | SmiKind::UDPRoute => "specs.smi-spec.io",
        }
    }

    /// The kind's versions, oldest first; the last is the hub.
    pub fn versions(self) -> &'static [&'static str] {
        match self {
            SmiKind::TrafficSplit | SmiKind::HTTPRouteGroup | SmiKind::TCPRoute => {
                &["v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4"]
            }
            SmiKind::TrafficTarget => &["v1alpha1", "v1alpha2", "v1alpha3"],
            SmiKind::UDPRoute => &["v1alpha4"],
        }
    }

    /// The hub (storage) version, e.g. `v1alpha4`.
    pub fn hub_version(self) -> &'static str {
        self.versions().last().copied().unwrap_or_default()
    }

    /// The kind with this name and API group.
    pub fn find(group: &str, kind: &str) -> Option<SmiKind> {
        Self::ALL
            .into_iter()
            .find(|candidate| candidate.group() == group && candidate.as_str() == kind)
    }

    /// The kind with this name (`HTTPRouteGroup`, `TCPRoute`, …), in whatever group.
    pub fn from_kind(kind: &str) -> Option<SmiKind> {
        Self::ALL
            .into_iter()
            .find(|candidate| candidate.as_str() == kind)
    }

    /// Every `group/version` of the kind, comma-separated, for error messages.
    pub(crate) fn known_api_versions(self) -> String {
        let group = self.group();
        self.versions()
            .iter()
            .map(|version| format!("{group}/{version}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl std::fmt::Display for SmiKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

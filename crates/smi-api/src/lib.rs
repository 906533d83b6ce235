//! Service Mesh Interface API types, for every published version of every SMI kind.
//!
//! Each group has a *hub* — its latest version, which smi-bridge stores and translates — and
//! *spokes*, the older versions users and tools still write.
//!
//! - [`split`], [`access`], [`specs`]: one module per version, field-exact to the published spec;
//!   [`hub`] re-exports the hub versions.
//! - [`convert`]: lossless conversion between every version and its hub, typed
//!   ([`convert::Convertible`]) or untyped ([`convert::convert`], [`convert::to_hub`]).
//! - [`quantity`]: exact Kubernetes Quantity parsing for TrafficSplit v1alpha1 weights.
//! - [`crd`]: the CustomResourceDefinitions, generated from the types (`crdgen` writes them to
//!   `crds/`).
#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod access;
pub mod convert;
pub mod crd;
mod kind;
pub mod quantity;
pub mod specs;
pub mod split;
pub mod status;
mod top_level;

pub use kind::SmiKind;

/// The hub (storage) versions, which the rest of smi-bridge works with.
pub mod hub {
    pub use crate::access::v1alpha3::{
        IdentityBindingSubject, TrafficTarget, TrafficTargetRule, TrafficTargetSpec,
    };
    pub use crate::specs::headers::HttpHeaders;
    pub use crate::specs::v1alpha4::{
        HTTPMatch, HTTPRouteGroup, HTTPRouteGroupSpec, PortMatch, TCPRoute, TCPRouteSpec, UDPRoute,
        UDPRouteSpec,
    };
    pub use crate::split::v1alpha4::{
        TrafficSplit, TrafficSplitBackend, TrafficSplitMatch, TrafficSplitSpec,
    };
    pub use crate::status::SmiStatus;
}

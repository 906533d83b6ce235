//! Lossless conversion between every SMI version and its group's hub (storage) version.
//!
//! Each version implements [`Convertible`] (pure spoke → hub and hub → spoke functions);
//! [`to_hub`], [`from_hub`] and [`convert`] do the same for untyped objects of any apiVersion
//! and kind, as the conversion webhook and the offline renderer need. A field that one version
//! has and the other lacks travels in an annotation; all such annotations are listed in
//! [`annotations`](self#constants) (`*_ANNOTATION`).

mod access;
mod annotations;
mod dynamic;
mod error;
mod specs;
mod split;

use kube::core::Resource;

pub use access::destination_port;
pub use annotations::{
    DESTINATION_PORT_ANNOTATION, HUB_ANNOTATIONS, MATCH_HEADERS_ANNOTATION,
    SOURCE_PORTS_ANNOTATION, SPLIT_MATCHES_ANNOTATION, SPOKE_ANNOTATIONS,
    TCP_ROUTE_MATCHES_ANNOTATION, V1ALPHA1_WEIGHTS_ANNOTATION,
};
pub use dynamic::{HubObject, convert, from_hub, to_hub};
pub use error::{ConversionError, ObjectName};

/// A version of an SMI kind that converts to and from its group's hub version. Converting to
/// the hub and back returns the original object.
pub trait Convertible: Sized {
    /// The hub (storage) version of the kind.
    type Hub;

    /// Converts to the hub version; fields the hub lacks go to annotations.
    fn to_hub(&self) -> Result<Self::Hub, ConversionError>;

    /// Converts from the hub version; fields this version lacks go to annotations.
    fn from_hub(hub: &Self::Hub) -> Result<Self, ConversionError>;
}

/// The name of a typed object, for error messages.
fn object_name<K: Resource<DynamicType = ()>>(object: &K) -> ObjectName {
    ObjectName::new(&K::kind(&()), object.meta())
}

//! `access.smi-spec.io`: TrafficTarget. v1alpha3 is the hub.

pub mod v1alpha1;
pub mod v1alpha2;
pub mod v1alpha3;

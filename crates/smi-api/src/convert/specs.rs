//! HTTPRouteGroup (v1alpha1–v1alpha3) and TCPRoute (v1alpha1–v1alpha3) ↔ the v1alpha4 hub.
//! UDPRoute exists only as the hub.
//!
//! Older versions lack fields of the hub: v1alpha1 HTTPRouteGroup match `headers` travel in
//! [`MATCH_HEADERS_ANNOTATION`], TCPRoute `spec.matches` in [`TCP_ROUTE_MATCHES_ANNOTATION`].

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

use crate::convert::annotations::{self, MATCH_HEADERS_ANNOTATION, TCP_ROUTE_MATCHES_ANNOTATION};
use crate::convert::error::{ConversionError, ObjectName};
use crate::convert::{Convertible, object_name};
use crate::specs::headers::HttpHeaders;
use crate::specs::{v1alpha1, v1alpha2, v1alpha3, v1alpha4 as hub};
use crate::status::SmiStatus;

/// The headers of the `index`-th match, valid while that match is still named `name`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
struct MatchHeaders {
    index: usize,
    name: String,
    headers: HttpHeaders,
}

fn hub_route_group(
    metadata: ObjectMeta,
    matches: Vec<hub::HTTPMatch>,
    status: &Option<SmiStatus>,
) -> hub::HTTPRouteGroup {
    hub::HTTPRouteGroup {
        metadata,
        spec: hub::HTTPRouteGroupSpec { matches },
        status: status.clone(),
    }
}

impl Convertible for v1alpha1::HTTPRouteGroup {
    type Hub = hub::HTTPRouteGroup;

    fn to_hub(&self) -> Result<hub::HTTPRouteGroup, ConversionError> {
        let object = object_name(self);
        let mut metadata = self.metadata.clone();
        let headers: Vec<MatchHeaders> =
            annotations::take_json(&mut metadata, MATCH_HEADERS_ANNOTATION, &object)?
                .unwrap_or_default();
        let matches = self
            .matches
            .iter()
            .enumerate()
            .map(|(index, http_match)| hub::HTTPMatch {
                name: http_match.name.clone(),
                path_regex: http_match.path_regex.clone(),
                methods: http_match.methods.clone(),
                headers: headers
                    .iter()
                    .find(|entry| entry.index == index && entry.name == http_match.name)
                    .map(|entry| entry.headers.clone()),
            })
            .collect();
        Ok(hub_route_group(metadata, matches, &self.status))
    }

    fn from_hub(hub: &hub::HTTPRouteGroup) -> Result<Self, ConversionError> {
        let mut metadata = hub.metadata.clone();
        annotations::take(&mut metadata, MATCH_HEADERS_ANNOTATION);
        let headers: Vec<MatchHeaders> = hub
            .spec
            .matches
            .iter()
            .enumerate()
            .filter_map(|(index, http_match)| {
                let headers = http_match.headers.clone()?;
                Some(MatchHeaders {
                    index,
                    name: http_match.name.clone(),
                    headers,
                })
            })
            .collect();
        if !headers.is_empty() {
            annotations::put_json(&mut metadata, MATCH_HEADERS_ANNOTATION, &headers);
        }
        let matches = hub
            .spec
            .matches
            .iter()
            .map(|http_match| v1alpha1::HTTPMatch {
                name: http_match.name.clone(),
                path_regex: http_match.path_regex.clone(),
                methods: http_match.methods.clone(),
            })
            .collect();
        Ok(v1alpha1::HTTPRouteGroup {
            metadata,
            matches,
            status: hub.status.clone(),
        })
    }
}

impl Convertible for v1alpha2::HTTPRouteGroup {
    type Hub = hub::HTTPRouteGroup;

    fn to_hub(&self) -> Result<hub::HTTPRouteGroup, ConversionError> {
        Ok(hub_route_group(
            self.metadata.clone(),
            self.matches.clone(),
            &self.status,
        ))
    }

    fn from_hub(hub: &hub::HTTPRouteGroup) -> Result<Self, ConversionError> {
        Ok(v1alpha2::HTTPRouteGroup {
            metadata: hub.metadata.clone(),
            matches: hub.spec.matches.clone(),
            status: hub.status.clone(),
        })
    }
}

impl Convertible for v1alpha3::HTTPRouteGroup {
    type Hub = hub::HTTPRouteGroup;

    fn to_hub(&self) -> Result<hub::HTTPRouteGroup, ConversionError> {
        Ok(hub_route_group(
            self.metadata.clone(),
            self.spec.matches.clone(),
            &self.status,
        ))
    }

    fn from_hub(hub: &hub::HTTPRouteGroup) -> Result<Self, ConversionError> {
        Ok(v1alpha3::HTTPRouteGroup {
            metadata: hub.metadata.clone(),
            spec: v1alpha3::HTTPRouteGroupSpec {
                matches: hub.spec.matches.clone(),
            },
            status: hub.status.clone(),
        })
    }
}

impl Convertible for hub::HTTPRouteGroup {
    type Hub = hub::HTTPRouteGroup;

    fn to_hub(&self) -> Result<hub::HTTPRouteGroup, ConversionError> {
        Ok(self.clone())
    }

    fn from_hub(hub: &hub::HTTPRouteGroup) -> Result<Self, ConversionError> {
        Ok(hub.clone())
    }
}

/// A hub TCPRoute from the metadata and status of an older version, whose `spec.matches`
/// come back from the annotation.
fn hub_tcp_route(
    metadata: &ObjectMeta,
    status: &Option<SmiStatus>,
    object: &ObjectName,
) -> Result<hub::TCPRoute, ConversionError> {
    let mut metadata = metadata.clone();
    let matches = annotations::take_json(&mut metadata, TCP_ROUTE_MATCHES_ANNOTATION, object)?;
    Ok(hub::TCPRoute {
        metadata,
        spec: hub::TCPRouteSpec { matches },
        status: status.clone(),
    })
}

/// The metadata of an older TCPRoute: the hub's with `spec.matches` in the annotation.
fn spoke_tcp_route_metadata(hub: &hub::TCPRoute) -> ObjectMeta {
    let mut metadata = hub.metadata.clone();
    annotations::take(&mut metadata, TCP_ROUTE_MATCHES_ANNOTATION);
    if let Some(matches) = &hub.spec.matches {
        annotations::put_json(&mut metadata, TCP_ROUTE_MATCHES_ANNOTATION, matches);
    }
    metadata
}

impl Convertible for v1alpha1::TCPRoute {
    type Hub = hub::TCPRoute;

    fn to_hub(&self) -> Result<hub::TCPRoute, ConversionError> {
        hub_tcp_route(&self.metadata, &self.status, &object_name(self))
    }

    fn from_hub(hub: &hub::TCPRoute) -> Result<Self, ConversionError> {
        Ok(v1alpha1::TCPRoute {
            metadata: spoke_tcp_route_metadata(hub),
            status: hub.status.clone(),
        })
    }
}

impl Convertible for v1alpha2::TCPRoute {
    type Hub = hub::TCPRoute;

    fn to_hub(&self) -> Result<hub::TCPRoute, ConversionError> {
        hub_tcp_route(&self.metadata, &self.status, &object_name(self))
    }

    fn from_hub(hub: &hub::TCPRoute) -> Result<Self, ConversionError> {
        Ok(v1alpha2::TCPRoute {
            metadata: spoke_tcp_route_metadata(hub),
            status: hub.status.clone(),
        })
    }
}

impl Convertible for v1alpha3::TCPRoute {
    type Hub = hub::TCPRoute;

    fn to_hub(&self) -> Result<hub::TCPRoute, ConversionError> {
        hub_tcp_route(&self.metadata, &self.status, &object_name(self))
    }

    fn from_hub(hub: &hub::TCPRoute) -> Result<Self, ConversionError> {
        Ok(v1alpha3::TCPRoute {
            metadata: spoke_tcp_route_metadata(hub),
            spec: v1alpha3::TCPRouteSpec {},
            status: hub.status.clone(),
        })
    }
}

impl Convertible for hub::TCPRoute {
    type Hub = hub::TCPRoute;

    fn to_hub(&self) -> Result<hub::TCPRoute, ConversionError> {
        Ok(self.clone())
    }

    fn from_hub(hub: &hub::TCPRoute) -> Result<Self, ConversionError> {
        Ok(hub.clone())
    }
}

impl Convertible for hub::UDPRoute {
    type Hub = hub::UDPRoute;

    fn to_hub(&self) -> Result<hub::UDPRoute, ConversionError> {
        Ok(self.clone())
    }

    fn from_hub(hub: &hub::UDPRoute) -> Result<Self, ConversionError> {
        Ok(hub.clone())
    }
}

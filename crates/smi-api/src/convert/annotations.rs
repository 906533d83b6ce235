//! The annotations conversion uses to carry a field that exists in one version and not in
//! another. **Every such field is listed here**; nothing else is copied into annotations, and
//! never a whole object. Each key is written by exactly one direction of conversion and removed
//! again by the opposite one; other versions pass it through as ordinary metadata. The keys are
//! reserved: a value a user writes there may be replaced.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::convert::error::{ConversionError, ObjectName};

/// On a hub TrafficTarget: `destination.port` of a v1alpha1/v1alpha2 TrafficTarget, as a
/// decimal integer (`"8080"`). Read it with [`crate::convert::destination_port`].
pub const DESTINATION_PORT_ANNOTATION: &str = "access.smi-bridge.io/destination-port";

/// On a hub TrafficTarget: the `port` of v1alpha1/v1alpha2 sources, as a JSON list of
/// `{"index": <position in sources>, "name": <source name>, "port": <port>}`; an entry whose
/// source no longer has that name at that position is stale and ignored.
pub const SOURCE_PORTS_ANNOTATION: &str = "access.smi-bridge.io/source-ports";

/// On a hub TrafficSplit: the original v1alpha1 weight strings (a JSON list, one per backend),
/// kept only when one of them is not the plain integer the hub weight converts back to
/// (`"500m"`, `"1k"`, `"2e3"`). Used on the way back only while they still yield the hub
/// weights; after an edit at another version they are stale and ignored.
pub const V1ALPHA1_WEIGHTS_ANNOTATION: &str = "split.smi-bridge.io/v1alpha1-weights";

/// On a v1alpha1/v1alpha2 TrafficSplit: the hub's `spec.matches` (a JSON list), which those
/// versions lack.
pub const SPLIT_MATCHES_ANNOTATION: &str = "split.smi-bridge.io/matches";

/// On a v1alpha1 HTTPRouteGroup: the hub's match `headers`, which v1alpha1 lacks, as a JSON
/// list of `{"index": <position in matches>, "name": <match name>, "headers": {…}}`; an entry
/// whose match no longer has that name at that position is stale and ignored.
pub const MATCH_HEADERS_ANNOTATION: &str = "specs.smi-bridge.io/match-headers";

/// On a v1alpha1–v1alpha3 TCPRoute: the hub's `spec.matches` (`{"ports": […]}`), which those
/// versions lack.
pub const TCP_ROUTE_MATCHES_ANNOTATION: &str = "specs.smi-bridge.io/tcproute-matches";

/// Annotations conversion may write on hub objects.
pub const HUB_ANNOTATIONS: [&str; 3] = [
    DESTINATION_PORT_ANNOTATION,
    SOURCE_PORTS_ANNOTATION,
    V1ALPHA1_WEIGHTS_ANNOTATION,
];

/// Annotations conversion may write on older (spoke) versions.
pub const SPOKE_ANNOTATIONS: [&str; 3] = [
    SPLIT_MATCHES_ANNOTATION,
    MATCH_HEADERS_ANNOTATION,
    TCP_ROUTE_MATCHES_ANNOTATION,
];

/// Removes `key` from the metadata, dropping the annotation map when it becomes empty.
pub(crate) fn take(metadata: &mut ObjectMeta, key: &str) -> Option<String> {
    let annotations = metadata.annotations.as_mut()?;
    let value = annotations.remove(key);
    if value.is_some() && annotations.is_empty() {
        metadata.annotations = None;
    }
    value
}

/// Sets `key` to `value`.
pub(crate) fn put(metadata: &mut ObjectMeta, key: &str, value: String) {
    metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(key.to_owned(), value);
}

/// Sets `key` to the JSON of `value`.
pub(crate) fn put_json(metadata: &mut ObjectMeta, key: &str, value: &impl Serialize) {
    // Serializing these plain data types to JSON cannot fail.
    if let Ok(json) = serde_json::to_string(value) {
        put(metadata, key, json);
    }
}

/// Removes `key` and parses its JSON value, if present.
pub(crate) fn take_json<T: DeserializeOwned>(
    metadata: &mut ObjectMeta,
    key: &str,
    object: &ObjectName,
) -> Result<Option<T>, ConversionError> {
    take(metadata, key)
        .map(|json| parse_json(&json, key, object))
        .transpose()
}

/// Parses the JSON value of annotation `key`.
pub(crate) fn parse_json<T: DeserializeOwned>(
    json: &str,
    key: &str,
    object: &ObjectName,
) -> Result<T, ConversionError> {
    serde_json::from_str(json).map_err(|error| {
        ConversionError::invalid(object, annotation_path(key), &json, error.to_string())
    })
}

/// The field path of annotation `key`, for error messages.
pub(crate) fn annotation_path(key: &str) -> String {
    format!("metadata.annotations[\"{key}\"]")
}

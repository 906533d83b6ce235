//! `specs.smi-spec.io`: HTTPRouteGroup, TCPRoute, UDPRoute. v1alpha4 is the hub (and the only
//! version of UDPRoute).

pub mod headers;
pub mod v1alpha1;
pub mod v1alpha2;
pub mod v1alpha3;
pub mod v1alpha4;

/// The HTTP methods an HTTPRouteGroup match may list; `*` means any method.
pub const HTTP_METHODS: [&str; 10] = [
    "*", "GET", "HEAD", "PUT", "POST", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// Schema transform: `matches` is required (the Rust types read a missing list as empty).
pub(crate) fn require_matches(schema: &mut schemars::Schema) {
    require_fields(schema, &["matches"]);
}

/// Marks properties of an object schema required, dropping their `default` (which the API
/// server would otherwise fill in before checking `required`).
pub(crate) fn require_fields(schema: &mut schemars::Schema, fields: &[&str]) {
    if let Some(properties) = schema.get_mut("properties").and_then(|p| p.as_object_mut()) {
        for field in fields {
            if let Some(property) = properties.get_mut(*field).and_then(|p| p.as_object_mut()) {
                property.remove("default");
            }
        }
    }
    let object = schema.ensure_object();
    let required = object
        .entry("required")
        .or_insert_with(|| serde_json::json!([]));
    if let Some(required) = required.as_array_mut() {
        for field in fields {
            if !required.iter().any(|name| name == field) {
                required.push((*field).into());
            }
        }
    }
}

/// Schema of a match's `methods`: a list of [`HTTP_METHODS`].
pub(crate) fn http_methods_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "description": "HTTP methods (`GET`, `POST`, …); `*` means any method.",
        "type": "array",
        "items": { "type": "string", "enum": HTTP_METHODS }
    })
}

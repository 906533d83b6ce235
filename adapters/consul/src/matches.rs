//! HTTPRouteGroup matches as Consul HTTP match criteria (`ServiceRouter` `routes[].match.http`
//! and `ServiceIntentions` `permissions[].http`).

use serde_json::{Map, Value, json};
use smi_translate::model::{HeaderMatch, HttpMatch, PathShape, ValueShape};

/// Where the criteria are used: routers have no `contains` header match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchFlavor {
    /// `ServiceRouter` route match.
    Router,
    /// `ServiceIntentions` permission.
    Intention,
}

/// The criteria matching every HTTP request (every path starts with `/`).
pub fn any_request() -> Value {
    json!({"pathPrefix": "/"})
}

/// The Consul criteria for one SMI match: one path field, methods, headers (all must hold).
pub fn http_criteria(m: &HttpMatch, flavor: MatchFlavor) -> Value {
    let mut http = Map::new();
    if let Some(path) = &m.path {
        let (field, value) = match &path.shape {
            PathShape::Any => ("", String::new()),
            PathShape::Prefix(p) if p.starts_with('/') => ("pathPrefix", p.clone()),
            PathShape::Exact(p) if p.starts_with('/') => ("pathExact", p.clone()),
            _ => ("pathRegex", path.full_match()),
        };
        if !field.is_empty() {
            http.insert(field.to_string(), Value::String(value));
        }
    }
    if let Some(methods) = &m.methods {
        http.insert("methods".to_string(), json!(methods));
    }
    if !m.headers.is_empty() {
        let headers: Vec<Value> = m.headers.iter().map(|h| header(h, flavor)).collect();
        http.insert("header".to_string(), Value::Array(headers));
    }
    if http.is_empty() {
        return any_request();
    }
    Value::Object(http)
}

fn header(h: &HeaderMatch, flavor: MatchFlavor) -> Value {
    let (field, value) = match &h.shape {
        ValueShape::Present => ("present", Value::Bool(true)),
        // Consul counts a criterion as set only when it is non-empty.
        ValueShape::Exact(v) if v.is_empty() => ("regex", Value::String("^$".to_string())),
        ValueShape::Exact(v) => ("exact", Value::String(v.clone())),
        ValueShape::Prefix(v) => ("prefix", Value::String(v.clone())),
        ValueShape::Suffix(v) => ("suffix", Value::String(v.clone())),
        ValueShape::Contains(v) if flavor == MatchFlavor::Intention => {
            ("contains", Value::String(v.clone()))
        }
        ValueShape::Contains(_) | ValueShape::Regex => ("regex", Value::String(h.regex.clone())),
    };
    let mut header = Map::new();
    header.insert("name".to_string(), Value::String(h.name.clone()));
    header.insert(field.to_string(), value);
    Value::Object(header)
}

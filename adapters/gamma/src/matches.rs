//! HTTPRouteGroup matches as Gateway API `HTTPRouteMatch`es.
//!
//! - **Path.** SMI's `pathRegex` is anchored at the start only. Gateway API's `PathPrefix`
//!   matches whole path segments and ignores a trailing slash (`/api` does not match `/apix`,
//!   `/api/` matches `/api`), so no SMI prefix but `/` is equivalent to a `PathPrefix`: prefixes
//!   become `RegularExpression` `<escaped prefix>.*`. Exact shapes become `Exact` when the path is
//!   one the schema accepts (else an escaped literal expression); any other expression its
//!   full-match form `(?:<regex>).*`.
//! - **Methods.** `method` takes one value: a match with several methods becomes one
//!   `HTTPRouteMatch` per method.
//! - **Headers.** Exact values become `Exact`; the rest `RegularExpression` written as
//!   `^(?:<regex>)$`, so engines that search for a match and then check that it spans the whole
//!   value (Linkerd) agree with full-match engines (Envoy) even for alternations like `a|ab`.

use serde_json::{Value, json};
use smi_translate::model::{HeaderMatch, HttpMatch, PathRegex, PathShape, ValueShape};

use crate::options::RouteLimits;

/// Longest `path.value` the schema accepts.
pub const MAX_PATH_LENGTH: usize = 1024;
/// Longest header `value` the schema accepts.
pub const MAX_HEADER_VALUE_LENGTH: usize = 4096;

/// The match that selects every request (`PathPrefix /`).
pub fn match_everything() -> Value {
    json!({"path": path_prefix_root()})
}

fn path_prefix_root() -> Value {
    json!({"type": "PathPrefix", "value": "/"})
}

/// `HTTPRouteGroup <ns>/<name> match <match>`, for messages.
pub fn describe(m: &HttpMatch) -> String {
    format!("HTTPRouteGroup {} match `{}`", m.group, m.name)
}

/// The `HTTPRouteMatch`es equivalent to one SMI match (one per method), or why there are none.
pub fn route_matches(m: &HttpMatch, limits: &RouteLimits) -> Result<Vec<Value>, String> {
    if m.headers.len() > limits.headers_per_match {
        return Err(format!(
            "{} has {} header conditions; a route match takes at most {}",
            describe(m),
            m.headers.len(),
            limits.headers_per_match
        ));
    }
    let path = path_match(m.path.as_ref());
    if path["value"]
        .as_str()
        .is_some_and(|v| v.len() > MAX_PATH_LENGTH)
    {
        return Err(format!(
            "{}: the path expression is longer than {MAX_PATH_LENGTH} characters",
            describe(m)
        ));
    }
    let mut headers = Vec::with_capacity(m.headers.len());
    for header in &m.headers {
        let value = header_match(header);
        if value["value"]
            .as_str()
            .is_some_and(|v| v.len() > MAX_HEADER_VALUE_LENGTH)
        {
            return Err(format!(
                "{}: the expression for header `{}` is longer than {MAX_HEADER_VALUE_LENGTH} characters",
                describe(m),
                header.name
            ));
        }
        headers.push(value);
    }
    let base = |method: Option<&str>| {
        let mut object = serde_json::Map::new();
        object.insert("path".to_string(), path.clone());
        if !headers.is_empty() {
            object.insert("headers".to_string(), Value::Array(headers.clone()));
        }
        if let Some(method) = method {
            object.insert("method".to_string(), Value::String(method.to_string()));
        }
        Value::Object(object)
    };
    Ok(match &m.methods {
        None => vec![base(None)],
        Some(methods) => methods.iter().map(|method| base(Some(method))).collect(),
    })
}

/// The `path` of a match.
pub fn path_match(path: Option<&PathRegex>) -> Value {
    let Some(path) = path else {
        return path_prefix_root();
    };
    match &path.shape {
        PathShape::Any => path_prefix_root(),
        PathShape::Prefix(prefix) if prefix == "/" => path_prefix_root(),
        PathShape::Exact(exact) if is_plain_path(exact) => json!({"type": "Exact", "value": exact}),
        PathShape::Exact(exact) => regular_expression(regex::escape(exact)),
        PathShape::Prefix(prefix) => regular_expression(format!("{}.*", regex::escape(prefix))),
        PathShape::Regex => regular_expression(path.full_match()),
    }
}

fn regular_expression(value: String) -> Value {
    json!({"type": "RegularExpression", "value": value})
}

/// A header condition.
pub fn header_match(header: &HeaderMatch) -> Value {
    match &header.shape {
        ValueShape::Exact(value) => json!({"name": header.name, "type": "Exact", "value": value}),
        _ => {
            json!({"name": header.name, "type": "RegularExpression", "value": format!("^(?:{})$", header.regex)})
        }
    }
}

/// Whether the schema's CEL rules accept `path` as an `Exact` or `PathPrefix` value: absolute,
/// no `//`, `/./`, `/../`, `%2f`, `#`, no trailing `/.` or `/..`, only URI path characters.
pub fn is_plain_path(path: &str) -> bool {
    let forbidden = ["//", "/./", "/../", "%2f", "%2F", "#"];
    path.starts_with('/')
        && has_only_path_characters(path)
        && !forbidden.iter().any(|f| path.contains(f))
        && !path.ends_with("/..")
        && !path.ends_with("/.")
}

/// `^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$`
fn has_only_path_characters(path: &str) -> bool {
    let mut bytes = path.bytes();
    while let Some(b) = bytes.next() {
        let ok = if b == b'%' {
            bytes.next().is_some_and(|h| h.is_ascii_hexdigit())
                && bytes.next().is_some_and(|h| h.is_ascii_hexdigit())
        } else {
            b.is_ascii_alphanumeric() || b"-/._~!$&'()*+,;=:@".contains(&b)
        };
        if !ok {
            return false;
        }
    }
    !path.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use smi_translate::ObjectKey;

    fn m(
        path: Option<(&str, PathShape)>,
        methods: Option<Vec<&str>>,
        headers: Vec<HeaderMatch>,
    ) -> HttpMatch {
        HttpMatch {
            group: ObjectKey::new("ns", "g"),
            name: "m".into(),
            path: path.map(|(regex, shape)| PathRegex {
                regex: regex.into(),
                shape,
            }),
            methods: methods.map(|ms| ms.into_iter().map(String::from).collect()),
            headers,
        }
    }

    #[test]
    fn prefixes_other_than_root_are_regular_expressions() {
        let api = m(
            Some(("/api", PathShape::Prefix("/api".into()))),
            None,
            vec![],
        );
        assert_eq!(
            route_matches(&api, &RouteLimits::GATEWAY).unwrap(),
            vec![json!({"path": {"type": "RegularExpression", "value": "/api.*"}})]
        );
        let segment = m(
            Some(("/v1.0/.*", PathShape::Prefix("/v1.0/".into()))),
            None,
            vec![],
        );
        assert_eq!(
            route_matches(&segment, &RouteLimits::GATEWAY).unwrap()[0]["path"]["value"],
            r"/v1\.0/.*"
        );
        let alternation = m(Some(("/a|/b", PathShape::Regex)), None, vec![]);
        assert_eq!(
            route_matches(&alternation, &RouteLimits::GATEWAY).unwrap()[0]["path"]["value"],
            "(?:/a|/b).*"
        );
        let root = m(Some(("/", PathShape::Prefix("/".into()))), None, vec![]);
        assert_eq!(
            route_matches(&root, &RouteLimits::GATEWAY).unwrap(),
            vec![match_everything()]
        );
        let any = m(Some((".*", PathShape::Any)), None, vec![]);
        assert_eq!(
            route_matches(&any, &RouteLimits::GATEWAY).unwrap(),
            vec![match_everything()]
        );
    }

    #[test]
    fn exact_paths_the_schema_accepts() {
        let exact = m(
            Some(("/metrics$", PathShape::Exact("/metrics".into()))),
            None,
            vec![],
        );
        assert_eq!(
            route_matches(&exact, &RouteLimits::GATEWAY).unwrap()[0]["path"],
            json!({"type": "Exact", "value": "/metrics"})
        );
        for bad in [
            "", "metrics", "/a//b", "/a/./b", "/a/..", "/a#b", "/a b", "/%zz", "/a%2fb",
        ] {
            assert!(!is_plain_path(bad), "{bad}");
        }
        for good in ["/", "/a/b", "/a%20b", "/v1/items;x=1", "/~user/@me"] {
            assert!(is_plain_path(good), "{good}");
        }
        let odd = m(
            Some(("/a b$", PathShape::Exact("/a b".into()))),
            None,
            vec![],
        );
        assert_eq!(
            route_matches(&odd, &RouteLimits::GATEWAY).unwrap()[0]["path"]["value"],
            "/a b"
        );
    }

    #[test]
    fn one_match_per_method_and_anchored_header_expressions() {
        let headers = vec![
            HeaderMatch {
                name: "x-tier".into(),
                regex: "gold".into(),
                shape: ValueShape::Exact("gold".into()),
            },
            HeaderMatch {
                name: "user-agent".into(),
                regex: "a|ab".into(),
                shape: ValueShape::Regex,
            },
        ];
        let both = m(None, Some(vec!["GET", "POST"]), headers);
        let matches = route_matches(&both, &RouteLimits::GATEWAY).unwrap();
        assert_eq!(matches.len(), 2);
        assert_eq!(matches[1]["method"], "POST");
        assert_eq!(
            matches[0]["headers"],
            json!([
                {"name": "x-tier", "type": "Exact", "value": "gold"},
                {"name": "user-agent", "type": "RegularExpression", "value": "^(?:a|ab)$"}
            ])
        );
    }

    #[test]
    fn over_the_limits_is_an_error() {
        let many: Vec<HeaderMatch> = (0..17)
            .map(|i| HeaderMatch {
                name: format!("h{i}"),
                regex: "x".into(),
                shape: ValueShape::Exact("x".into()),
            })
            .collect();
        assert!(
            route_matches(&m(None, None, many), &RouteLimits::GATEWAY)
                .unwrap_err()
                .contains("at most 16")
        );
        let long = "/a".repeat(600);
        let path = m(Some((&long, PathShape::Regex)), None, vec![]);
        assert!(
            route_matches(&path, &RouteLimits::GATEWAY)
                .unwrap_err()
                .contains("longer than 1024")
        );
    }
}

//! How a mesh picks the route rule for a request, for evaluators of emitted routes.
//!
//! Every rule of every route attached to the same parent competes; the best-ranked matching
//! rule wins, ties going to the earlier route (oldest, then by name — emitted objects have no
//! creation time, so by name), then the earlier rule and match. The ranking is the mesh's:
//! Gateway API fixes it only for `Exact` and `PathPrefix` paths, see [`Precedence`].

use std::cmp::Ordering;

use serde_json::Value;
use smi_translate::NativeObject;
use smi_translate::keys::ObjectKey;
use smi_translate::oracle::{Request, full_match};

/// How matching rules are ranked (and regular expressions applied).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precedence {
    /// Gateway API's order — `Exact` path, then the longest `PathPrefix`, then method, then the
    /// most header matches — with the implementation-specific parts as Istio does them:
    /// `RegularExpression` paths after every prefix, longer expressions first; rules without
    /// matches last. Expressions must match the whole value.
    GatewayApi,
    /// Linkerd's order: the longest matched path length (an `Exact` or `PathPrefix` value's
    /// length, `1` for `/`; the whole request path for a `RegularExpression`), then header
    /// count, query parameter count, method. A rule without matches counts as `PathPrefix /`.
    /// An expression matches when its leftmost match spans the whole value.
    Linkerd,
}

/// Ranking of one match; greater is better.
type Score = [i64; 6];

/// Routes of `kind` in one of `groups` with a parentRef `attaches` accepts, in tie-break order.
pub fn attached_routes<'a>(
    objects: &'a [NativeObject],
    kind: &str,
    groups: &[&str],
    attaches: impl Fn(&Value, &str) -> bool,
) -> Vec<&'a NativeObject> {
    let mut routes: Vec<&NativeObject> = objects
        .iter()
        .filter(|o| o.kind == kind && groups.contains(&o.group()))
        .filter(|o| {
            o.spec()
                .and_then(|s| s.get("parentRefs"))
                .and_then(Value::as_array)
                .is_some_and(|refs| refs.iter().any(|r| attaches(r, &o.namespace)))
        })
        .collect();
    routes.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    routes
}

/// A parentRef test for a Service port: group `""` (or Linkerd's `core`), kind `Service`, the
/// name and namespace, and the port (a parentRef without one attaches to every port).
pub fn service_parent(service: &ObjectKey, port: u16) -> impl Fn(&Value, &str) -> bool + '_ {
    move |parent, route_namespace| {
        let group = parent
            .get("group")
            .and_then(Value::as_str)
            .unwrap_or("gateway.networking.k8s.io");
        let namespace = parent
            .get("namespace")
            .and_then(Value::as_str)
            .unwrap_or(route_namespace);
        matches!(group, "" | "core")
            && parent.get("kind").and_then(Value::as_str) == Some("Service")
            && parent.get("name").and_then(Value::as_str) == Some(service.name.as_str())
            && namespace == service.namespace
            && parent
                .get("port")
                .and_then(Value::as_u64)
                .is_none_or(|p| p == u64::from(port))
    }
}

/// The route and rule of `routes` that handle `request`, `None` when no rule matches it.
pub fn best_rule<'a>(
    routes: &[&'a NativeObject],
    request: &Request,
    precedence: Precedence,
) -> Result<Option<(&'a NativeObject, &'a Value)>, String> {
    let mut best: Option<(Score, &NativeObject, &Value)> = None;
    for route in routes {
        let rules = route
            .spec()
            .and_then(|s| s.get("rules"))
            .and_then(Value::as_array)
            .ok_or_else(|| {
                format!(
                    "{} {}/{} has no spec.rules",
                    route.kind, route.namespace, route.name
                )
            })?;
        for rule in rules {
            let Some(score) = rule_score(rule, request, precedence)? else {
                continue;
            };
            if best
                .as_ref()
                .is_none_or(|(b, _, _)| score.cmp(b) == Ordering::Greater)
            {
                best = Some((score, route, rule));
            }
        }
    }
    Ok(best.map(|(_, route, rule)| (route, rule)))
}

fn rule_score(
    rule: &Value,
    request: &Request,
    precedence: Precedence,
) -> Result<Option<Score>, String> {
    let default_match = crate::matches::match_everything();
    let matches: Vec<&Value> = match rule.get("matches") {
        // The schema defaults an omitted list to `PathPrefix /`.
        None | Some(Value::Null) => vec![&default_match],
        Some(Value::Array(list)) if list.is_empty() => {
            return Ok(Some(match precedence {
                Precedence::GatewayApi => [0; 6],
                Precedence::Linkerd => [1, 0, 0, 0, 0, 0],
            }));
        }
        Some(Value::Array(list)) => list.iter().collect(),
        Some(other) => return Err(format!("rule matches is not a list: {other}")),
    };
    let mut best: Option<Score> = None;
    for m in matches {
        if let Some(score) = match_score(m, request, precedence)? {
            best = Some(best.map_or(score, |b| b.max(score)));
        }
    }
    Ok(best)
}

fn match_score(
    m: &Value,
    request: &Request,
    precedence: Precedence,
) -> Result<Option<Score>, String> {
    if m.get("queryParams")
        .and_then(Value::as_array)
        .is_some_and(|q| !q.is_empty())
    {
        return Err("queryParams matches are not interpreted".to_string());
    }
    let root = serde_json::json!({"type": "PathPrefix", "value": "/"});
    let path = m.get("path").unwrap_or(&root);
    let path_type = path
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("PathPrefix");
    let value = path.get("value").and_then(Value::as_str).unwrap_or("/");
    let (rank, matched_length) = match path_type {
        "Exact" if request.path == value => (3, value.len()),
        "PathPrefix" => match prefix_length(value, &request.path) {
            Some(length) => (2, length),
            None => return Ok(None),
        },
        "RegularExpression" if regex_matches(value, &request.path, precedence)? => {
            (1, request.path.len())
        }
        "Exact" | "RegularExpression" => return Ok(None),
        other => return Err(format!("unknown path match type `{other}`")),
    };
    let method = match m.get("method").and_then(Value::as_str) {
        Some(method) if method != request.method => return Ok(None),
        Some(_) => 1,
        None => 0,
    };
    let headers = m
        .get("headers")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for header in headers {
        if !header_matches(header, request, precedence)? {
            return Ok(None);
        }
    }
    let headers = headers.len() as i64;
    Ok(Some(match precedence {
        Precedence::GatewayApi => [1, rank, value.len() as i64, method, headers, 0],
        Precedence::Linkerd => [matched_length as i64, headers, 0, method, 0, 0],
    }))
}

/// The length a `PathPrefix` match counts for, when `prefix` matches `path` element-wise
/// (`/api` matches `/api`, `/api/` and `/api/x`, not `/apix`; a trailing slash is ignored).
pub fn prefix_length(prefix: &str, path: &str) -> Option<usize> {
    if prefix == "/" {
        return Some(1);
    }
    let prefix = prefix.trim_end_matches('/');
    let rest = path.trim_end_matches('/').strip_prefix(prefix)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(prefix.len())
}

/// Whether an expression matches a whole value, the way the mesh applies it.
pub fn regex_matches(regex: &str, value: &str, precedence: Precedence) -> Result<bool, String> {
    match precedence {
        Precedence::GatewayApi => full_match(regex, value),
        Precedence::Linkerd => {
            let compiled = regex::Regex::new(regex)
                .map_err(|e| format!("regex `{regex}` does not compile: {e}"))?;
            Ok(compiled
                .find(value)
                .is_some_and(|m| m.start() == 0 && m.end() == value.len()))
        }
    }
}

fn header_matches(
    header: &Value,
    request: &Request,
    precedence: Precedence,
) -> Result<bool, String> {
    let name = header
        .get("name")
        .and_then(Value::as_str)
        .ok_or("header match without a name")?;
    let expected = header
        .get("value")
        .and_then(Value::as_str)
        .ok_or("header match without a value")?;
    let Some(actual) = request
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
    else {
        return Ok(false);
    };
    match header
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("Exact")
    {
        "Exact" => Ok(actual == expected),
        "RegularExpression" => regex_matches(expected, actual, precedence),
        other => Err(format!("unknown header match type `{other}`")),
    }
}

/// A backend of a rule and its weight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeightedService {
    /// The Service.
    pub service: ObjectKey,
    /// Its port.
    pub port: u16,
    /// Relative weight.
    pub weight: u64,
}

/// The backendRefs of a rule (Services only).
pub fn rule_backends(rule: &Value, route_namespace: &str) -> Result<Vec<WeightedService>, String> {
    let refs = rule
        .get("backendRefs")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    refs.iter()
        .map(|r| {
            let group = r.get("group").and_then(Value::as_str).unwrap_or("");
            let kind = r.get("kind").and_then(Value::as_str).unwrap_or("Service");
            if !matches!(group, "" | "core") || kind != "Service" {
                return Err(format!("backendRef to {group}/{kind} is not a Service"));
            }
            let name = r
                .get("name")
                .and_then(Value::as_str)
                .ok_or("backendRef without a name")?;
            let port = r
                .get("port")
                .and_then(Value::as_u64)
                .and_then(|p| u16::try_from(p).ok())
                .ok_or_else(|| format!("backendRef to Service `{name}` has no port"))?;
            let namespace = r
                .get("namespace")
                .and_then(Value::as_str)
                .unwrap_or(route_namespace);
            let weight = r
                .get("weight")
                .map_or(Some(1), Value::as_u64)
                .ok_or_else(|| format!("backendRef to `{name}` has a bad weight"))?;
            Ok(WeightedService {
                service: ObjectKey::new(namespace, name),
                port,
                weight,
            })
        })
        .collect()
}

/// Each backend's share of the traffic (empty when the weights sum to zero: the request fails).
pub fn shares(backends: &[WeightedService]) -> Vec<(WeightedService, f64)> {
    let total: u64 = backends.iter().map(|b| b.weight).sum();
    if total == 0 {
        return Vec::new();
    }
    backends
        .iter()
        .filter(|b| b.weight > 0)
        .map(|b| (b.clone(), b.weight as f64 / total as f64))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use smi_translate::keys::Identity;

    fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> Request {
        Request {
            from: Identity::new("ns", "client"),
            to: ObjectKey::new("ns", "web"),
            port: 80,
            method: method.into(),
            path: path.into(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn route(name: &str, rules: Value) -> NativeObject {
        NativeObject::new(
            "gateway.networking.k8s.io/v1",
            "HTTPRoute",
            "ns",
            name,
            json!({"parentRefs": [{"group": "", "kind": "Service", "name": "web", "port": 80}], "rules": rules}),
        )
    }

    fn pick(objects: &[NativeObject], r: &Request, p: Precedence) -> Option<String> {
        let routes = attached_routes(
            objects,
            "HTTPRoute",
            &["gateway.networking.k8s.io"],
            service_parent(&r.to, r.port),
        );
        best_rule(&routes, r, p)
            .unwrap()
            .map(|(_, rule)| rule["backendRefs"][0]["name"].as_str().unwrap().to_string())
    }

    fn to(name: &str) -> Value {
        json!([{"group": "", "kind": "Service", "name": name, "port": 80}])
    }

    #[test]
    fn prefixes_match_whole_segments() {
        assert_eq!(prefix_length("/api", "/api"), Some(4));
        assert_eq!(prefix_length("/api", "/api/x"), Some(4));
        assert_eq!(prefix_length("/api/", "/api"), Some(4));
        assert_eq!(prefix_length("/api", "/apix"), None);
        assert_eq!(prefix_length("/", "/anything"), Some(1));
    }

    #[test]
    fn regular_expressions_and_catch_alls_rank_differently_per_mesh() {
        let objects = [route(
            "r",
            json!([
                {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}], "backendRefs": to("prefix")},
                {"matches": [{"path": {"type": "RegularExpression", "value": "(?:/a).*"}}], "backendRefs": to("regex")},
            ]),
        )];
        let r = request("GET", "/a/x", &[]);
        assert_eq!(
            pick(&objects, &r, Precedence::GatewayApi).as_deref(),
            Some("prefix")
        );
        assert_eq!(
            pick(&objects, &r, Precedence::Linkerd).as_deref(),
            Some("regex")
        );
        // A rule without matches loses to the regular expression in both.
        let objects = [route(
            "r",
            json!([
                {"matches": [], "backendRefs": to("catch-all")},
                {"matches": [{"path": {"type": "RegularExpression", "value": "(?:/a).*"}}], "backendRefs": to("regex")},
            ]),
        )];
        assert_eq!(
            pick(&objects, &r, Precedence::GatewayApi).as_deref(),
            Some("regex")
        );
        assert_eq!(
            pick(&objects, &r, Precedence::Linkerd).as_deref(),
            Some("regex")
        );
        assert_eq!(
            pick(&objects, &request("GET", "/b", &[]), Precedence::Linkerd).as_deref(),
            Some("catch-all")
        );
    }

    #[test]
    fn exact_beats_prefix_and_more_headers_win_ties() {
        let objects = [
            route(
                "a",
                json!([{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}], "backendRefs": to("plain")}]),
            ),
            route(
                "b",
                json!([
                    {"matches": [{"path": {"type": "PathPrefix", "value": "/"}, "headers": [{"name": "X-Beta", "type": "Exact", "value": "yes"}]}], "backendRefs": to("beta")},
                    {"matches": [{"path": {"type": "Exact", "value": "/health"}}], "backendRefs": to("exact")},
                ]),
            ),
        ];
        for p in [Precedence::GatewayApi, Precedence::Linkerd] {
            assert_eq!(
                pick(&objects, &request("GET", "/", &[("x-beta", "yes")]), p).as_deref(),
                Some("beta")
            );
            assert_eq!(
                pick(&objects, &request("GET", "/", &[]), p).as_deref(),
                Some("plain")
            );
            assert_eq!(
                pick(
                    &objects,
                    &request("GET", "/health", &[("x-beta", "yes")]),
                    p
                )
                .as_deref(),
                Some("exact")
            );
        }
    }

    #[test]
    fn linkerd_searches_then_checks_the_span() {
        assert!(!regex_matches("a|ab", "ab", Precedence::Linkerd).unwrap());
        assert!(regex_matches("a|ab", "ab", Precedence::GatewayApi).unwrap());
        assert!(regex_matches("^(?:a|ab)$", "ab", Precedence::Linkerd).unwrap());
    }

    #[test]
    fn routes_attach_by_service_and_port() {
        let other_port = NativeObject::new(
            "gateway.networking.k8s.io/v1",
            "HTTPRoute",
            "ns",
            "p",
            json!({"parentRefs": [{"group": "", "kind": "Service", "name": "web", "port": 81}], "rules": []}),
        );
        let no_port = NativeObject::new(
            "gateway.networking.k8s.io/v1",
            "HTTPRoute",
            "ns",
            "q",
            json!({"parentRefs": [{"group": "core", "kind": "Service", "name": "web"}], "rules": []}),
        );
        let objects = [other_port, no_port];
        let attached = attached_routes(
            &objects,
            "HTTPRoute",
            &["gateway.networking.k8s.io"],
            service_parent(&ObjectKey::new("ns", "web"), 80),
        );
        assert_eq!(
            attached.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(),
            vec!["q"]
        );
    }

    #[test]
    fn shares_follow_relative_weights() {
        let rule = json!({"backendRefs": [{"name": "a", "port": 80, "weight": 1}, {"name": "b", "port": 80, "weight": 3}, {"name": "c", "port": 80, "weight": 0}]});
        let s = shares(&rule_backends(&rule, "ns").unwrap());
        assert_eq!(
            s.iter()
                .map(|(b, x)| (b.service.name.clone(), *x))
                .collect::<Vec<_>>(),
            vec![("a".to_string(), 0.25), ("b".to_string(), 0.75)]
        );
        assert!(
            shares(
                &rule_backends(
                    &json!({"backendRefs": [{"name": "a", "port": 80, "weight": 0}]}),
                    "ns"
                )
                .unwrap()
            )
            .is_empty()
        );
    }
}

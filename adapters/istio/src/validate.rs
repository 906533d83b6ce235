//! Istio's own admission checks that its CRD schemas do not carry (Istio runs them in its
//! validating webhook, or its analyzer reports them), applied to the backend's output:
//!
//! - VirtualService regexes compile as RE2 ([`re2::check`]); header names are lower-case;
//!   every `route` has integer weights from 0 to 100 summing to 100; at most one
//!   VirtualService per host across the output (IST0109: sidecars take one of them).
//! - AuthorizationPolicy: a non-empty selector (smi-bridge never writes namespace-wide
//!   policies), `when` keys `request.headers[<lower-case name>]`, ports that are port numbers,
//!   paths without templates, and `*` only at either end of a policy string.

use std::collections::BTreeMap;

use serde_json::Value;
use smi_translate::NativeObject;

use crate::{authorization, re2, routing};

/// Every problem found in the objects, each naming the object and the field.
pub fn validate(objects: &[NativeObject]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut hosts: BTreeMap<String, String> = BTreeMap::new();
    for object in objects {
        let id = format!("{} {}/{}", object.kind, object.namespace, object.name);
        let spec = object.spec().cloned().unwrap_or(Value::Null);
        let mut report =
            |field: String, problem: String| problems.push(format!("{id}: {field}: {problem}"));
        match (object.group(), object.kind.as_str()) {
            (routing::GROUP, routing::KIND) => {
                for (i, host) in strings(&spec["hosts"]).into_iter().enumerate() {
                    if let Some(other) = hosts.insert(host.to_string(), id.clone()) {
                        report(
                            format!("spec.hosts[{i}]"),
                            format!("host `{host}` is also a host of {other}"),
                        );
                    }
                }
                virtual_service(&spec, &mut report);
            }
            (authorization::GROUP, authorization::KIND) => authorization_policy(&spec, &mut report),
            (authorization::GROUP, authorization::PEER_AUTHENTICATION_KIND) => {
                selector(&spec, &mut report)
            }
            _ => report("kind".into(), "not a kind the Istio backend writes".into()),
        }
    }
    problems
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn items(value: &Value) -> &[Value] {
    value.as_array().map(Vec::as_slice).unwrap_or_default()
}

fn virtual_service(spec: &Value, report: &mut impl FnMut(String, String)) {
    for section in ["http", "tcp"] {
        for (i, route) in items(&spec[section]).iter().enumerate() {
            let field = format!("spec.{section}[{i}]");
            for (j, request) in items(&route["match"]).iter().enumerate() {
                let field = format!("{field}.match[{j}]");
                for key in ["uri", "method"] {
                    string_match(&request[key], &format!("{field}.{key}"), report);
                }
                if let Some(headers) = request["headers"].as_object() {
                    for (name, value) in headers {
                        if name.chars().any(|c| c.is_ascii_uppercase()) {
                            report(
                                format!("{field}.headers"),
                                format!("header name `{name}` is not lower-case"),
                            );
                        }
                        string_match(value, &format!("{field}.headers.{name}"), report);
                    }
                }
            }
            weights(items(&route["route"]), &format!("{field}.route"), report);
        }
    }
}

fn string_match(value: &Value, field: &str, report: &mut impl FnMut(String, String)) {
    if let Some(regex) = value["regex"].as_str()
        && let Err(e) = re2::check(regex)
    {
        report(format!("{field}.regex"), e);
    }
}

fn weights(destinations: &[Value], field: &str, report: &mut impl FnMut(String, String)) {
    if destinations.is_empty() {
        report(field.to_string(), "no destination".into());
        return;
    }
    let mut sum = 0;
    for (i, destination) in destinations.iter().enumerate() {
        if destination["destination"]["host"]
            .as_str()
            .is_none_or(str::is_empty)
        {
            report(format!("{field}[{i}].destination.host"), "missing".into());
        }
        match destination["weight"].as_u64() {
            Some(weight) if weight <= 100 => sum += weight,
            _ => report(
                format!("{field}[{i}].weight"),
                format!(
                    "`{}` is not an integer from 0 to 100",
                    destination["weight"]
                ),
            ),
        }
    }
    if sum != 100 {
        report(field.to_string(), format!("weights sum to {sum}, not 100"));
    }
}

fn selector(spec: &Value, report: &mut impl FnMut(String, String)) {
    if spec["selector"]["matchLabels"]
        .as_object()
        .is_none_or(|labels| labels.is_empty())
    {
        report(
            "spec.selector.matchLabels".into(),
            "empty: the policy would apply to the whole namespace".into(),
        );
    }
}

fn authorization_policy(spec: &Value, report: &mut impl FnMut(String, String)) {
    selector(spec, report);
    if spec["action"] != "ALLOW" {
        report(
            "spec.action".into(),
            format!("`{}` is not ALLOW", spec["action"]),
        );
    }
    for (i, rule) in items(&spec["rules"]).iter().enumerate() {
        let field = format!("spec.rules[{i}]");
        for (j, from) in items(&rule["from"]).iter().enumerate() {
            let principals = strings(&from["source"]["principals"]);
            if principals.is_empty() {
                report(
                    format!("{field}.from[{j}].source.principals"),
                    "empty".into(),
                );
            }
            for principal in principals {
                wildcard_at_ends(
                    principal,
                    &format!("{field}.from[{j}].source.principals"),
                    report,
                );
            }
        }
        for (j, to) in items(&rule["to"]).iter().enumerate() {
            let field = format!("{field}.to[{j}].operation");
            for port in strings(&to["operation"]["ports"]) {
                if port.parse::<u16>().map_or(true, |p| p == 0) {
                    report(
                        format!("{field}.ports"),
                        format!("`{port}` is not a port number"),
                    );
                }
            }
            for path in strings(&to["operation"]["paths"]) {
                if path.contains(['{', '}']) {
                    report(
                        format!("{field}.paths"),
                        format!("`{path}` is a path template"),
                    );
                }
                wildcard_at_ends(path, &format!("{field}.paths"), report);
            }
        }
        for (j, condition) in items(&rule["when"]).iter().enumerate() {
            let field = format!("{field}.when[{j}]");
            let key = condition["key"].as_str().unwrap_or_default();
            let header = key
                .strip_prefix("request.headers[")
                .and_then(|k| k.strip_suffix(']'));
            match header {
                Some(name) if !name.is_empty() && !name.chars().any(|c| c.is_ascii_uppercase()) => {
                }
                _ => report(
                    format!("{field}.key"),
                    format!("`{key}` is not `request.headers[<lower-case name>]`"),
                ),
            }
            for value in strings(&condition["values"]) {
                wildcard_at_ends(value, &format!("{field}.values"), report);
            }
        }
    }
}

/// Istio reads `*` only as a whole value or at either end of a policy string.
fn wildcard_at_ends(value: &str, field: &str, report: &mut impl FnMut(String, String)) {
    let inner = value.strip_prefix('*').unwrap_or(value);
    let inner = inner.strip_suffix('*').unwrap_or(inner);
    if value.is_empty() || inner.contains('*') {
        report(
            field.to_string(),
            format!("`{value}` is empty or has `*` inside"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(kind: &str, group: &str, name: &str, spec: Value) -> NativeObject {
        NativeObject::new(format!("{group}/v1"), kind, "ns", name, spec)
    }

    fn route(weights: &[u64]) -> Value {
        json!(
            weights
                .iter()
                .map(|w| json!({"destination": {"host": "a.ns.svc.cluster.local"}, "weight": w}))
                .collect::<Vec<_>>()
        )
    }

    #[test]
    fn virtual_service_problems_are_found() {
        let bad = object(
            routing::KIND,
            routing::GROUP,
            "bad",
            json!({
                "hosts": ["web.ns.svc.cluster.local"],
                "http": [
                    {"match": [{"uri": {"regex": "(?x)/a b"}, "headers": {"User-Agent": {"exact": "x"}}}], "route": route(&[50, 40])},
                    {"route": route(&[101, 0])},
                ],
            }),
        );
        let twin = object(
            routing::KIND,
            routing::GROUP,
            "twin",
            json!({
                "hosts": ["web.ns.svc.cluster.local"], "tcp": [{"route": route(&[100])}],
            }),
        );
        let problems = validate(&[bad, twin]);
        for expected in [
            "uri.regex",
            "`User-Agent` is not lower-case",
            "sum to 90",
            "`101`",
            "also a host of VirtualService ns/bad",
        ] {
            assert!(
                problems.iter().any(|p| p.contains(expected)),
                "{expected} not in {problems:#?}"
            );
        }
        assert_eq!(problems.len(), 6, "{problems:#?}");
    }

    #[test]
    fn authorization_policy_problems_are_found() {
        let bad = object(
            authorization::KIND,
            authorization::GROUP,
            "bad",
            json!({
                "action": "ALLOW",
                "rules": [{
                    "from": [{"source": {"principals": []}}],
                    "to": [{"operation": {"ports": ["0", "http"], "paths": ["/a*b", "/{*}"]}}],
                    "when": [{"key": "request.headers[X-Tier]", "values": ["g*o*"]}],
                }],
            }),
        );
        let problems = validate(&[bad]);
        for expected in [
            "matchLabels",
            "principals: empty",
            "`0`",
            "`http`",
            "`/a*b`",
            "`/{*}` is a path template",
            "X-Tier",
            "`g*o*`",
        ] {
            assert!(
                problems.iter().any(|p| p.contains(expected)),
                "{expected} not in {problems:#?}"
            );
        }
    }

    #[test]
    fn valid_objects_pass() {
        let vs = object(
            routing::KIND,
            routing::GROUP,
            "ok",
            json!({
                "hosts": ["web.ns.svc.cluster.local"],
                "http": [{"match": [{"uri": {"regex": "(?:/a|/b).*"}, "headers": {"x": {"prefix": "v"}}}], "route": route(&[0, 100])}],
            }),
        );
        let ap = object(
            authorization::KIND,
            authorization::GROUP,
            "ok",
            json!({
                "selector": {"matchLabels": {"app": "api"}},
                "action": "ALLOW",
                "rules": [{"from": [{"source": {"principals": ["cluster.local/ns/a/sa/b"]}}], "to": [{"operation": {"ports": ["8080"], "paths": ["/api*", "*"]}}], "when": [{"key": "request.headers[x]", "values": ["*v"]}]}],
            }),
        );
        assert_eq!(validate(&[vs, ap]), Vec::<String>::new());
    }
}

//! Consul's own rules for config entries that the consul-k8s CRD schemas do not carry (Consul or
//! the consul-k8s webhook reject violations only when the entry is written or compiled).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};
use smi_translate::NativeObject;

use crate::filter::SubsetFilter;
use crate::names::ConsulName;
use crate::{API_VERSION, NamespaceMode};

/// The HTTP methods Consul accepts in routes and permissions.
pub const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE",
];

/// Protocols that allow splitting, routing and L7 intentions.
pub const HTTP_PROTOCOLS: [&str; 3] = ["http", "http2", "grpc"];

/// Checks every object; returns one message per violation (empty: Consul accepts them all).
///
/// Checked: one config entry per kind and Consul name (one ServiceIntentions per destination,
/// cluster-wide), splitter weights of at most two decimals summing to exactly 100, one path field
/// per match with exact and prefix paths starting with `/`, valid and unique methods, one
/// criterion per header, compiling regular expressions, `action` or `permissions` per source,
/// subsets and protocols that the referring entries need.
pub fn validate(objects: &[NativeObject], mode: &NamespaceMode) -> Vec<String> {
    let mut problems = Vec::new();
    let mut entries: BTreeMap<(String, ConsulName), &NativeObject> = BTreeMap::new();
    for object in objects {
        let at = format!("{} {}/{}", object.kind, object.namespace, object.name);
        if object.api_version != API_VERSION {
            problems.push(format!(
                "{at}: apiVersion `{}` is not `{API_VERSION}`",
                object.api_version
            ));
        }
        let spec = object
            .spec()
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let name = entry_name(object, &spec, mode);
        if entries
            .insert((object.kind.clone(), name.clone()), object)
            .is_some()
        {
            problems.push(format!(
                "{at}: a second {} for the Consul service `{name}`",
                object.kind
            ));
        }
        let mut report = |p: String| problems.push(format!("{at}: {p}"));
        match object.kind.as_str() {
            "ServiceDefaults" => protocol_of(&spec, &mut report),
            "ServiceSplitter" => splits(&spec, &mut report),
            "ServiceRouter" => routes(&spec, &mut report),
            "ServiceResolver" => resolver(&spec, &mut report),
            "ServiceIntentions" => intentions(&spec, &mut report),
            other => report(format!("`{other}` is not a kind smi-bridge writes")),
        }
    }
    problems.extend(references(&entries, mode));
    problems
}

/// The Consul name an object configures (`spec.destination` for intentions).
pub(crate) fn entry_name(
    object: &NativeObject,
    spec: &Map<String, Value>,
    mode: &NamespaceMode,
) -> ConsulName {
    let mut name = ConsulName::new(mode, &object.namespace, &object.name);
    if object.kind == "ServiceIntentions" {
        let destination = spec.get("destination");
        let field = |f: &str| {
            destination
                .and_then(|d| d.get(f))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        name.name = field("name").unwrap_or_default();
        if let Some(ns) = field("namespace") {
            name.namespace = Some(ns);
        }
    }
    name
}

fn str_field<'v>(value: &'v Value, field: &str) -> Option<&'v str> {
    value.get(field).and_then(Value::as_str)
}

fn protocol_of(spec: &Map<String, Value>, report: &mut impl FnMut(String)) {
    match spec.get("protocol").and_then(Value::as_str) {
        Some(p) if p == "tcp" || HTTP_PROTOCOLS.contains(&p) => {}
        other => report(format!(
            "protocol {other:?} is not tcp, http, http2 or grpc"
        )),
    }
}

fn splits(spec: &Map<String, Value>, report: &mut impl FnMut(String)) {
    let splits = spec
        .get("splits")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if splits.is_empty() {
        report("a splitter needs at least one split".to_string());
    }
    let mut total: i64 = 0;
    for (i, split) in splits.iter().enumerate() {
        let Some(weight) = split.get("weight").and_then(Value::as_f64) else {
            report(format!("splits[{i}].weight is missing"));
            continue;
        };
        let hundredths = weight * 100.0;
        if !(0.0..=100.0).contains(&weight) || (hundredths - hundredths.round()).abs() > 1e-6 {
            report(format!(
                "splits[{i}].weight {weight} is not a percentage with at most two decimals"
            ));
        }
        total += hundredths.round() as i64;
        if str_field(split, "service").is_none_or(str::is_empty) {
            report(format!("splits[{i}].service is empty"));
        }
    }
    if total != 10_000 {
        report(format!(
            "the split weights sum to {}, not exactly 100",
            total as f64 / 100.0
        ));
    }
}

fn routes(spec: &Map<String, Value>, report: &mut impl FnMut(String)) {
    let routes = spec
        .get("routes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (i, route) in routes.iter().enumerate() {
        if let Some(http) = route.get("match").and_then(|m| m.get("http")) {
            http_criteria(http, false, &format!("routes[{i}].match.http"), report);
        }
        if route
            .get("destination")
            .and_then(|d| str_field(d, "service"))
            .is_none_or(str::is_empty)
        {
            report(format!("routes[{i}].destination.service is empty"));
        }
    }
}

fn resolver(spec: &Map<String, Value>, report: &mut impl FnMut(String)) {
    let subsets = spec.get("subsets").and_then(Value::as_object);
    if spec.contains_key("redirect") && subsets.is_some() {
        report("a resolver with a redirect ignores its subsets".to_string());
    }
    for (name, subset) in subsets.into_iter().flatten() {
        if let Some(filter) = str_field(subset, "filter")
            && let Err(e) = SubsetFilter::parse(filter).and_then(|f| f.accepts("", "").map(|_| ()))
        {
            report(format!("subsets.{name}: {e}"));
        }
    }
}

fn intentions(spec: &Map<String, Value>, report: &mut impl FnMut(String)) {
    if spec
        .get("destination")
        .and_then(|d| str_field(d, "name"))
        .is_none_or(str::is_empty)
    {
        report("destination.name is empty".to_string());
    }
    let sources = spec
        .get("sources")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut seen = BTreeSet::new();
    for (i, source) in sources.iter().enumerate() {
        let key = (str_field(source, "name"), str_field(source, "namespace"));
        if !seen.insert(key) {
            report(format!(
                "sources[{i}] names the source {key:?} a second time"
            ));
        }
        let permissions = source.get("permissions").and_then(Value::as_array);
        match (str_field(source, "action"), permissions) {
            (Some("allow" | "deny"), None) => {}
            (None, Some(permissions)) if !permissions.is_empty() => {
                for (j, permission) in permissions.iter().enumerate() {
                    let at = format!("sources[{i}].permissions[{j}]");
                    if !matches!(str_field(permission, "action"), Some("allow" | "deny")) {
                        report(format!("{at}.action must be allow or deny"));
                    }
                    match permission.get("http") {
                        Some(http) => http_criteria(http, true, &format!("{at}.http"), report),
                        None => report(format!("{at}.http is missing")),
                    }
                }
            }
            _ => report(format!(
                "sources[{i}] needs either action (allow or deny) or permissions, not both"
            )),
        }
    }
}

fn http_criteria(http: &Value, intention: bool, at: &str, report: &mut impl FnMut(String)) {
    let paths: Vec<&str> = ["pathExact", "pathPrefix", "pathRegex"]
        .into_iter()
        .filter(|f| http.get(*f).is_some())
        .collect();
    if paths.len() > 1 {
        report(format!(
            "{at} sets {} path fields ({}); one at most",
            paths.len(),
            paths.join(", ")
        ));
    }
    for field in ["pathExact", "pathPrefix"] {
        if let Some(path) = str_field(http, field)
            && !path.starts_with('/')
        {
            report(format!("{at}.{field} `{path}` does not start with `/`"));
        }
    }
    if let Some(regex) = str_field(http, "pathRegex") {
        compiles(regex, &format!("{at}.pathRegex"), report);
    }
    if let Some(methods) = http.get("methods").and_then(Value::as_array) {
        let mut seen = BTreeSet::new();
        for method in methods {
            let method = method.as_str().unwrap_or_default();
            if !METHODS.contains(&method) {
                report(format!(
                    "{at}.methods: `{method}` is not a method Consul knows"
                ));
            }
            if !seen.insert(method) {
                report(format!("{at}.methods: `{method}` is listed twice"));
            }
        }
    }
    let criteria: &[&str] = if intention {
        &["exact", "prefix", "suffix", "contains", "regex", "present"]
    } else {
        &["exact", "prefix", "suffix", "regex", "present"]
    };
    for (i, header) in http
        .get("header")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        if str_field(header, "name").is_none_or(str::is_empty) {
            report(format!("{at}.header[{i}].name is empty"));
        }
        let set: Vec<&&str> = criteria
            .iter()
            .filter(|c| match header.get(**c) {
                Some(Value::String(s)) => !s.is_empty(),
                Some(Value::Bool(b)) => *b,
                _ => false,
            })
            .collect();
        if set.len() != 1 {
            report(format!(
                "{at}.header[{i}] needs exactly one of {}",
                criteria.join(", ")
            ));
        }
        if let Some(regex) = str_field(header, "regex") {
            compiles(regex, &format!("{at}.header[{i}].regex"), report);
        }
    }
}

fn compiles(regex: &str, at: &str, report: &mut impl FnMut(String)) {
    if let Err(e) = regex::Regex::new(regex) {
        report(format!(
            "{at} `{regex}` is not a valid regular expression: {e}"
        ));
    }
}

/// Subsets referenced by routers and splitters exist; routed services and L7 destinations are
/// HTTP.
fn references(
    entries: &BTreeMap<(String, ConsulName), &NativeObject>,
    mode: &NamespaceMode,
) -> Vec<String> {
    let mut problems = Vec::new();
    let get = |kind: &str, name: &ConsulName| entries.get(&(kind.to_string(), name.clone()));
    let protocol = |name: &ConsulName| {
        get("ServiceDefaults", name)
            .and_then(|o| o.spec())
            .and_then(|s| str_field(s, "protocol"))
            .unwrap_or("tcp")
            .to_string()
    };
    for ((kind, name), object) in entries {
        let spec = object.spec().cloned().unwrap_or(Value::Null);
        let mut targets: Vec<(String, Option<String>)> = Vec::new();
        match kind.as_str() {
            "ServiceSplitter" => {
                for split in spec
                    .get("splits")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    targets.push(target(split, &name.name));
                }
            }
            "ServiceRouter" => {
                for route in spec
                    .get("routes")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    targets.push(target(
                        route.get("destination").unwrap_or(&Value::Null),
                        &name.name,
                    ));
                }
            }
            "ServiceIntentions" => {
                let l7 = spec
                    .get("sources")
                    .and_then(Value::as_array)
                    .is_some_and(|s| s.iter().any(|s| s.get("permissions").is_some()));
                if l7 && !HTTP_PROTOCOLS.contains(&protocol(name).as_str()) {
                    problems.push(format!("ServiceIntentions for `{name}` has L7 permissions but the service's protocol is not http"));
                }
                continue;
            }
            _ => continue,
        }
        if !HTTP_PROTOCOLS.contains(&protocol(name).as_str()) {
            problems.push(format!(
                "{kind} `{name}` needs ServiceDefaults with protocol http, http2 or grpc"
            ));
        }
        for (service, subset) in targets {
            let service = ConsulName::new(mode, &object.namespace, &service);
            if protocol(&service) != protocol(name) {
                problems.push(format!(
                    "{kind} `{name}` sends traffic to `{service}`, whose protocol differs"
                ));
            }
            let Some(subset) = subset else { continue };
            let defined = get("ServiceResolver", &service)
                .and_then(|o| o.spec())
                .and_then(|s| s.get("subsets"))
                .is_some_and(|s| s.get(&subset).is_some());
            if !defined {
                problems.push(format!("{kind} `{name}` refers to subset `{subset}` of `{service}`, which no ServiceResolver defines"));
            }
        }
    }
    problems
}

fn target(value: &Value, default: &str) -> (String, Option<String>) {
    let service = str_field(value, "service")
        .filter(|s| !s.is_empty())
        .unwrap_or(default);
    (
        service.to_string(),
        str_field(value, "serviceSubset").map(str::to_string),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(kind: &str, name: &str, spec: Value) -> NativeObject {
        NativeObject::new(API_VERSION, kind, "shop", name, spec)
    }

    fn http_defaults(name: &str) -> NativeObject {
        object("ServiceDefaults", name, json!({"protocol": "http"}))
    }

    fn check(objects: &[NativeObject]) -> Vec<String> {
        validate(objects, &NamespaceMode::Disabled)
    }

    #[test]
    fn splits_must_sum_to_exactly_100_with_two_decimals() {
        let ok = object(
            "ServiceSplitter",
            "web",
            json!({"splits": [{"service": "a", "weight": 0.1}, {"service": "b", "weight": 99.9}]}),
        );
        let defaults = [http_defaults("web"), http_defaults("a"), http_defaults("b")];
        let mut objects = defaults.to_vec();
        objects.push(ok);
        assert_eq!(check(&objects), Vec::<String>::new());
        let rounded = object(
            "ServiceSplitter",
            "web",
            json!({"splits": [{"service": "a", "weight": 0}, {"service": "b", "weight": 99.99}]}),
        );
        let mut objects = defaults.to_vec();
        objects.push(rounded);
        assert!(
            check(&objects).iter().any(|p| p.contains("sum to 99.99")),
            "{:?}",
            check(&objects)
        );
        let fine = object(
            "ServiceSplitter",
            "web",
            json!({"splits": [{"service": "a", "weight": 33.333}, {"service": "b", "weight": 66.667}]}),
        );
        let mut objects = defaults.to_vec();
        objects.push(fine);
        assert!(check(&objects).iter().any(|p| p.contains("two decimals")));
    }

    #[test]
    fn one_intentions_entry_per_destination() {
        let first = object(
            "ServiceIntentions",
            "api",
            json!({"destination": {"name": "api"}, "sources": [{"name": "*", "action": "deny"}]}),
        );
        let mut second = first.clone();
        second.namespace = "other".to_string();
        let problems = check(&[first.clone(), second.clone()]);
        assert!(
            problems
                .iter()
                .any(|p| p.contains("a second ServiceIntentions")),
            "{problems:?}"
        );
        let mirrored = validate(
            &[first, second],
            &NamespaceMode::Mirroring {
                prefix: String::new(),
            },
        );
        assert!(mirrored.is_empty(), "{mirrored:?}");
    }

    #[test]
    fn matches_have_one_path_valid_methods_and_one_header_criterion() {
        let router = object(
            "ServiceRouter",
            "web",
            json!({"routes": [
                {"match": {"http": {"pathPrefix": "/a", "pathRegex": "/b.*", "methods": ["GET", "GET", "FETCH"],
                                    "header": [{"name": "x", "exact": "1", "prefix": "2"}, {"name": "y", "regex": "("}]}},
                 "destination": {"service": "web", "serviceSubset": "nope"}}
            ]}),
        );
        let problems = check(&[router, http_defaults("web")]);
        for expected in [
            "2 path fields",
            "`GET` is listed twice",
            "`FETCH` is not a method",
            "header[0] needs exactly one",
            "header[1].regex",
            "subset `nope`",
        ] {
            assert!(
                problems.iter().any(|p| p.contains(expected)),
                "{expected}: {problems:?}"
            );
        }
    }

    #[test]
    fn sources_have_action_or_permissions_and_l7_needs_http() {
        let intentions = object(
            "ServiceIntentions",
            "api",
            json!({"destination": {"name": "api"}, "sources": [
                {"name": "a", "action": "allow", "permissions": [{"action": "allow", "http": {"pathPrefix": "/"}}]},
                {"name": "b", "permissions": [{"action": "allow", "http": {"pathExact": "x"}}]},
            ]}),
        );
        let problems = check(&[intentions]);
        for expected in [
            "sources[0] needs either",
            "pathExact `x`",
            "protocol is not http",
        ] {
            assert!(
                problems.iter().any(|p| p.contains(expected)),
                "{expected}: {problems:?}"
            );
        }
    }
}

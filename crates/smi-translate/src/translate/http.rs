//! HTTPRouteGroup matches: validation, normalisation and shape analysis of the expressions.

use regex_syntax::hir::{Class, Hir, HirKind, Look};

use crate::keys::ObjectKey;
use crate::model::{HeaderMatch, HttpMatch, PathRegex, PathShape, ValueShape};
use smi_api::hub;

/// The HTTP methods SMI allows besides `*`.
pub const METHODS: [&str; 9] = [
    "GET", "HEAD", "PUT", "POST", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// Validates and normalises every match of an HTTPRouteGroup. Errors name the field path and
/// the value; several invalid matches are reported together, separated by `; `.
pub fn group_matches(
    key: &ObjectKey,
    group: &hub::HTTPRouteGroup,
) -> Result<Vec<HttpMatch>, String> {
    let (matches, errors) = checked_matches(key, group);
    if errors.is_empty() {
        Ok(matches)
    } else {
        Err(errors.join("; "))
    }
}

/// The problems of every invalid match of an HTTPRouteGroup, one per match.
pub fn match_errors(group: &hub::HTTPRouteGroup) -> Vec<String> {
    checked_matches(&ObjectKey::new("", ""), group).1
}

/// The valid matches, normalised, and one error per invalid match.
fn checked_matches(key: &ObjectKey, group: &hub::HTTPRouteGroup) -> (Vec<HttpMatch>, Vec<String>) {
    let mut seen = std::collections::BTreeSet::new();
    let mut matches = Vec::new();
    let mut errors = Vec::new();
    for (index, m) in group.spec.matches.iter().enumerate() {
        let field = format!("spec.matches[{index}]");
        let checked = if m.name.is_empty() {
            Err(format!("{field}.name is empty: every match needs a name"))
        } else if !seen.insert(m.name.as_str()) {
            Err(format!(
                "{field}.name `{}` is used by an earlier match",
                m.name
            ))
        } else {
            normalise(key, m, &field)
        };
        match checked {
            Ok(normalised) => matches.push(normalised),
            Err(error) => errors.push(error),
        }
    }
    (matches, errors)
}

fn normalise(key: &ObjectKey, m: &hub::HTTPMatch, field: &str) -> Result<HttpMatch, String> {
    let path = match m.path_regex.as_deref() {
        None | Some("") => None,
        Some(regex) => {
            let hir = parse(regex).map_err(|e| {
                format!("{field}.pathRegex `{regex}` is not a valid regular expression: {e}")
            })?;
            Some(PathRegex {
                regex: regex.to_string(),
                shape: path_shape(&hir),
            })
        }
    };
    let methods = match &m.methods {
        None => None,
        Some(methods) if methods.is_empty() || methods.iter().any(|x| x == "*") => None,
        Some(methods) => {
            let mut normalised = Vec::with_capacity(methods.len());
            for (i, method) in methods.iter().enumerate() {
                let upper = method.to_ascii_uppercase();
                if !METHODS.contains(&upper.as_str()) {
                    return Err(format!(
                        "{field}.methods[{i}] `{method}` is not an HTTP method (one of `*`, {})",
                        METHODS.join(", ")
                    ));
                }
                normalised.push(upper);
            }
            normalised.sort();
            normalised.dedup();
            Some(normalised)
        }
    };
    let mut headers = Vec::new();
    for (name, regex) in m.headers.iter().flat_map(|h| h.0.iter()) {
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(format!(
                "{field}.headers: `{name}` is not a valid header name"
            ));
        }
        let hir = parse(regex).map_err(|e| {
            format!("{field}.headers.{name} `{regex}` is not a valid regular expression: {e}")
        })?;
        headers.push(HeaderMatch {
            name: name.to_ascii_lowercase(),
            regex: regex.clone(),
            shape: value_shape(&hir),
        });
    }
    headers.sort_by(|a, b| a.name.cmp(&b.name));
    headers.dedup_by(|a, b| a.name == b.name && a.regex == b.regex);
    Ok(HttpMatch {
        group: key.clone(),
        name: m.name.clone(),
        path,
        methods,
        headers,
    })
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn parse(regex: &str) -> Result<Hir, Box<regex_syntax::Error>> {
    regex_syntax::ParserBuilder::new()
        .build()
        .parse(regex)
        .map_err(Box::new)
}

/// The parts of a concatenation (a lone expression is a one-part concatenation).
fn parts(hir: &Hir) -> Vec<&Hir> {
    match hir.kind() {
        HirKind::Concat(parts) => parts.iter().collect(),
        HirKind::Empty => Vec::new(),
        _ => vec![hir],
    }
}

fn literal(hir: &Hir) -> Option<String> {
    match hir.kind() {
        HirKind::Literal(lit) => String::from_utf8(lit.0.to_vec()).ok(),
        _ => None,
    }
}

/// `.*` (with or without the `s` flag).
fn is_any_star(hir: &Hir) -> bool {
    let HirKind::Repetition(rep) = hir.kind() else {
        return false;
    };
    if rep.min != 0 || rep.max.is_some() {
        return false;
    }
    match rep.sub.kind() {
        HirKind::Class(Class::Unicode(class)) => {
            let ranges = class.ranges();
            // Any character, or any character but `\n`.
            let all =
                ranges.len() == 1 && ranges[0].start() == '\0' && ranges[0].end() == char::MAX;
            let all_but_newline = ranges.len() == 2
                && ranges[0].start() == '\0'
                && ranges[0].end() == '\x09'
                && ranges[1].start() == '\x0B'
                && ranges[1].end() == char::MAX;
            all || all_but_newline
        }
        _ => false,
    }
}

fn is_start(hir: &Hir) -> bool {
    matches!(
        hir.kind(),
        HirKind::Look(Look::Start | Look::StartLF | Look::StartCRLF)
    )
}

fn is_end(hir: &Hir) -> bool {
    matches!(
        hir.kind(),
        HirKind::Look(Look::End | Look::EndLF | Look::EndCRLF)
    )
}

/// Concatenated literals as one string (regex-syntax may keep `a\.b` as several literals).
fn join_literals(hirs: &[&Hir]) -> Option<String> {
    if hirs.is_empty() {
        return None;
    }
    hirs.iter()
        .map(|h| literal(h))
        .collect::<Option<Vec<_>>>()
        .map(|v| v.concat())
}

/// What a start-anchored path expression amounts to.
fn path_shape(hir: &Hir) -> PathShape {
    let mut parts = parts(hir);
    if parts.first().is_some_and(|p| is_start(p)) {
        parts.remove(0);
    }
    let ends_with_any = parts.last().is_some_and(|p| is_any_star(p));
    if ends_with_any {
        parts.pop();
    }
    let anchored_end = !ends_with_any && parts.last().is_some_and(|p| is_end(p));
    if anchored_end {
        parts.pop();
    }
    if parts.is_empty() {
        return if anchored_end {
            PathShape::Exact(String::new())
        } else {
            PathShape::Any
        };
    }
    match join_literals(&parts) {
        Some(lit) if anchored_end => PathShape::Exact(lit),
        Some(lit) => PathShape::Prefix(lit),
        None => PathShape::Regex,
    }
}

/// What a full-match value expression amounts to.
fn value_shape(hir: &Hir) -> ValueShape {
    let mut parts = parts(hir);
    if parts.first().is_some_and(|p| is_start(p)) {
        parts.remove(0);
    }
    if parts.last().is_some_and(|p| is_end(p)) {
        parts.pop();
    }
    let leading_any = parts.first().is_some_and(|p| is_any_star(p));
    if leading_any {
        parts.remove(0);
    }
    if parts.is_empty() {
        return if leading_any {
            ValueShape::Present
        } else {
            ValueShape::Exact(String::new())
        };
    }
    let trailing_any = parts.last().is_some_and(|p| is_any_star(p));
    if trailing_any {
        parts.pop();
    }
    match (join_literals(&parts), leading_any, trailing_any) {
        (Some(lit), false, false) => ValueShape::Exact(lit),
        (Some(lit), false, true) => ValueShape::Prefix(lit),
        (Some(lit), true, false) => ValueShape::Suffix(lit),
        (Some(lit), true, true) => ValueShape::Contains(lit),
        (None, _, _) => ValueShape::Regex,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(re: &str) -> PathShape {
        path_shape(&parse(re).unwrap())
    }

    fn value(re: &str) -> ValueShape {
        value_shape(&parse(re).unwrap())
    }

    #[test]
    fn path_shapes() {
        assert_eq!(path("/api"), PathShape::Prefix("/api".into()));
        assert_eq!(path("/api/.*"), PathShape::Prefix("/api/".into()));
        assert_eq!(path("^/api"), PathShape::Prefix("/api".into()));
        assert_eq!(path("/metrics$"), PathShape::Exact("/metrics".into()));
        assert_eq!(path("/v1\\.0/x"), PathShape::Prefix("/v1.0/x".into()));
        assert_eq!(path(".*"), PathShape::Any);
        assert_eq!(path("/a|/b"), PathShape::Regex);
        assert_eq!(path("/api/v[0-9]+"), PathShape::Regex);
        assert_eq!(path("(?i)/api"), PathShape::Regex);
    }

    #[test]
    fn value_shapes() {
        assert_eq!(value(".*"), ValueShape::Present);
        assert_eq!(value("gold"), ValueShape::Exact("gold".into()));
        assert_eq!(value("v1.*"), ValueShape::Prefix("v1".into()));
        assert_eq!(value(".*Android"), ValueShape::Suffix("Android".into()));
        assert_eq!(value(".*Android.*"), ValueShape::Contains("Android".into()));
        assert_eq!(value(".*Firefox.*|.*Chrome.*"), ValueShape::Regex);
        assert_eq!(value("a.b"), ValueShape::Regex);
    }

    fn group(matches: Vec<hub::HTTPMatch>) -> hub::HTTPRouteGroup {
        hub::HTTPRouteGroup::new("g", hub::HTTPRouteGroupSpec { matches })
    }

    #[test]
    fn full_match_wraps_alternations() {
        let g = group(vec![hub::HTTPMatch {
            name: "m".into(),
            path_regex: Some("/a|/b".into()),
            ..Default::default()
        }]);
        let m = group_matches(&ObjectKey::new("ns", "g"), &g).unwrap();
        assert_eq!(m[0].path.as_ref().unwrap().full_match(), "(?:/a|/b).*");
    }

    #[test]
    fn methods_star_means_any_and_are_normalised() {
        let g = group(vec![
            hub::HTTPMatch {
                name: "any".into(),
                methods: Some(vec!["GET".into(), "*".into()]),
                ..Default::default()
            },
            hub::HTTPMatch {
                name: "two".into(),
                methods: Some(vec!["post".into(), "GET".into(), "GET".into()]),
                ..Default::default()
            },
        ]);
        let m = group_matches(&ObjectKey::new("ns", "g"), &g).unwrap();
        assert_eq!(m[0].methods, None);
        assert_eq!(
            m[1].methods,
            Some(vec!["GET".to_string(), "POST".to_string()])
        );
    }

    #[test]
    fn invalid_input_names_the_field() {
        let bad_regex = group(vec![hub::HTTPMatch {
            name: "m".into(),
            path_regex: Some("/a(".into()),
            ..Default::default()
        }]);
        let err = group_matches(&ObjectKey::new("ns", "g"), &bad_regex).unwrap_err();
        assert!(err.contains("spec.matches[0].pathRegex `/a(`"), "{err}");
        let bad_method = group(vec![hub::HTTPMatch {
            name: "m".into(),
            methods: Some(vec!["FETCH".into()]),
            ..Default::default()
        }]);
        let err = group_matches(&ObjectKey::new("ns", "g"), &bad_method).unwrap_err();
        assert!(err.contains("spec.matches[0].methods[0] `FETCH`"), "{err}");
        let dup = group(vec![
            hub::HTTPMatch {
                name: "m".into(),
                ..Default::default()
            },
            hub::HTTPMatch {
                name: "m".into(),
                ..Default::default()
            },
        ]);
        assert!(
            group_matches(&ObjectKey::new("ns", "g"), &dup)
                .unwrap_err()
                .contains("spec.matches[1].name")
        );
    }

    #[test]
    fn header_names_are_lowercased() {
        let mut headers = std::collections::BTreeMap::new();
        headers.insert("User-Agent".to_string(), ".*Firefox.*".to_string());
        let g = group(vec![hub::HTTPMatch {
            name: "m".into(),
            headers: Some(hub::HttpHeaders(headers)),
            ..Default::default()
        }]);
        let m = group_matches(&ObjectKey::new("ns", "g"), &g).unwrap();
        assert_eq!(m[0].headers[0].name, "user-agent");
        assert_eq!(
            m[0].headers[0].shape,
            ValueShape::Contains("Firefox".into())
        );
    }
}

//! Set relations between HTTP matches, for routes attached to one Server.
//!
//! Linkerd authorises an HTTP request by the one route that ranks best for it (plus the
//! Server's own authorisations). When two TrafficTargets' rules overlap, the request is decided
//! by one route only, so the backend authorises each route also for the TrafficTargets whose
//! rules **cover** it (match every request it matches), and reports overlaps it cannot resolve
//! that way. Both relations are conservative: `covers` may say no to a real cover (nothing is
//! widened), `may_overlap` may say yes to disjoint matches (a spurious report).

use smi_translate::model::{HttpMatch, PathRegex, PathShape, ValueShape};
use smi_translate::oracle::full_match;

/// Whether `outer` matches every request one of `inner` matches.
pub fn covers(outer: &[HttpMatch], inner: &[HttpMatch]) -> bool {
    !inner.is_empty()
        && inner
            .iter()
            .all(|i| outer.iter().any(|o| match_covers(o, i)))
}

/// Whether some request may match one of `a` and one of `b`.
pub fn may_overlap(a: &[HttpMatch], b: &[HttpMatch]) -> bool {
    a.iter()
        .any(|x| b.iter().any(|y| matches_may_overlap(x, y)))
}

fn match_covers(outer: &HttpMatch, inner: &HttpMatch) -> bool {
    let methods = match (&outer.methods, &inner.methods) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(o), Some(i)) => i.iter().all(|m| o.contains(m)),
    };
    let headers = outer.headers.iter().all(|o| {
        inner
            .headers
            .iter()
            .any(|i| i.name == o.name && (i.regex == o.regex || o.shape == ValueShape::Present))
    });
    methods && headers && path_covers(outer.path.as_ref(), inner.path.as_ref())
}

fn is_any(path: Option<&PathRegex>) -> bool {
    path.is_none_or(|p| p.shape == PathShape::Any)
}

fn path_covers(outer: Option<&PathRegex>, inner: Option<&PathRegex>) -> bool {
    let (Some(o), Some(i)) = (outer, inner) else {
        return is_any(outer);
    };
    if is_any(outer) || o.regex == i.regex {
        return true;
    }
    match (&o.shape, &i.shape) {
        (PathShape::Prefix(p), PathShape::Prefix(q) | PathShape::Exact(q)) => {
            q.starts_with(p.as_str())
        }
        (PathShape::Exact(e), PathShape::Exact(q)) => e == q,
        (PathShape::Regex, PathShape::Exact(q)) => full_match(&o.full_match(), q).unwrap_or(false),
        _ => false,
    }
}

fn matches_may_overlap(a: &HttpMatch, b: &HttpMatch) -> bool {
    if let (Some(x), Some(y)) = (&a.methods, &b.methods)
        && !x.iter().any(|m| y.contains(m))
    {
        return false;
    }
    let conflicting_header = a.headers.iter().any(|h| {
        b.headers.iter().any(|k| {
            h.name == k.name && matches!((&h.shape, &k.shape), (ValueShape::Exact(x), ValueShape::Exact(y)) if x != y)
        })
    });
    !conflicting_header && paths_may_overlap(a.path.as_ref(), b.path.as_ref())
}

fn paths_may_overlap(a: Option<&PathRegex>, b: Option<&PathRegex>) -> bool {
    let (Some(a), Some(b)) = (a, b) else {
        return true;
    };
    match (&a.shape, &b.shape) {
        (PathShape::Exact(x), PathShape::Exact(y)) => x == y,
        (PathShape::Exact(x), PathShape::Prefix(p))
        | (PathShape::Prefix(p), PathShape::Exact(x)) => x.starts_with(p.as_str()),
        (PathShape::Prefix(p), PathShape::Prefix(q)) => {
            p.starts_with(q.as_str()) || q.starts_with(p.as_str())
        }
        (PathShape::Exact(x), PathShape::Regex) => full_match(&b.full_match(), x).unwrap_or(true),
        (PathShape::Regex, PathShape::Exact(x)) => full_match(&a.full_match(), x).unwrap_or(true),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smi_translate::ObjectKey;
    use smi_translate::model::HeaderMatch;

    fn m(
        path: Option<(&str, PathShape)>,
        methods: Option<&[&str]>,
        headers: &[(&str, &str, ValueShape)],
    ) -> HttpMatch {
        HttpMatch {
            group: ObjectKey::new("ns", "g"),
            name: "m".into(),
            path: path.map(|(r, shape)| PathRegex {
                regex: r.into(),
                shape,
            }),
            methods: methods.map(|ms| ms.iter().map(|s| s.to_string()).collect()),
            headers: headers
                .iter()
                .map(|(n, r, s)| HeaderMatch {
                    name: n.to_string(),
                    regex: r.to_string(),
                    shape: s.clone(),
                })
                .collect(),
        }
    }

    fn prefix(p: &str) -> Option<(&str, PathShape)> {
        Some((p, PathShape::Prefix(p.to_string())))
    }

    #[test]
    fn everything_covers_everything() {
        let all = [m(None, None, &[])];
        assert!(covers(
            &all,
            &[m(
                prefix("/a"),
                Some(&["GET"]),
                &[("x", "1", ValueShape::Exact("1".into()))]
            )]
        ));
        assert!(!covers(&[m(prefix("/a"), None, &[])], &all));
        assert!(!covers(&all, &[]));
    }

    #[test]
    fn prefixes_methods_and_headers() {
        let api_reads = [m(prefix("/api"), Some(&["GET", "HEAD"]), &[])];
        assert!(covers(
            &api_reads,
            &[m(prefix("/api/v1"), Some(&["GET"]), &[])]
        ));
        assert!(!covers(&api_reads, &[m(prefix("/api/v1"), None, &[])]));
        assert!(!covers(
            &api_reads,
            &[m(prefix("/ap"), Some(&["GET"]), &[])]
        ));
        let present = [m(None, None, &[("x-user", ".*", ValueShape::Present)])];
        assert!(covers(
            &present,
            &[m(
                None,
                None,
                &[("x-user", "bob", ValueShape::Exact("bob".into()))]
            )]
        ));
        assert!(!covers(&present, &[m(None, None, &[])]));
    }

    #[test]
    fn regular_expressions_cover_the_exact_paths_they_match() {
        let versioned = [m(Some(("/v[0-9]+/items", PathShape::Regex)), None, &[])];
        assert!(covers(
            &versioned,
            &[m(
                Some(("/v2/items$", PathShape::Exact("/v2/items".into()))),
                Some(&["GET"]),
                &[]
            )]
        ));
        assert!(!covers(
            &versioned,
            &[m(
                Some(("/vx/items$", PathShape::Exact("/vx/items".into()))),
                None,
                &[]
            )]
        ));
        assert!(!covers(&versioned, &[m(prefix("/v2/items"), None, &[])]));
    }

    #[test]
    fn overlaps_unless_provably_disjoint() {
        let balance = [m(prefix("/balance"), Some(&["GET"]), &[])];
        assert!(!may_overlap(
            &balance,
            &[m(
                Some(("/metrics$", PathShape::Exact("/metrics".into()))),
                None,
                &[]
            )]
        ));
        assert!(!may_overlap(&balance, &[m(prefix("/metrics"), None, &[])]));
        assert!(!may_overlap(&balance, &[m(None, Some(&["POST"]), &[])]));
        assert!(may_overlap(&balance, &[m(prefix("/bal"), None, &[])]));
        assert!(may_overlap(
            &balance,
            &[m(Some(("/b.*", PathShape::Regex)), None, &[])]
        ));
        let gold = [m(
            None,
            None,
            &[("x-tier", "gold", ValueShape::Exact("gold".into()))],
        )];
        assert!(!may_overlap(
            &gold,
            &[m(
                None,
                None,
                &[("x-tier", "silver", ValueShape::Exact("silver".into()))]
            )]
        ));
    }
}

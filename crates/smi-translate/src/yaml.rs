//! A small, deterministic YAML emitter for JSON values.
//!
//! Kubernetes tools still read YAML 1.1, where `yes`, `on`, `y` and friends are booleans; a
//! generic YAML 1.2 serialiser writes those strings unquoted and `kubectl apply` then sends a
//! boolean. This emitter quotes every string a YAML 1.1 or 1.2 reader could take for anything but
//! a string, and writes block style with keys in the value's order (sorted for `serde_json` maps).

use serde_json::Value;

/// Serialises a value as a YAML document (without the `---` marker), ending in a newline.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => emit_map(map, 0, &mut out),
        Value::Array(items) if !items.is_empty() => emit_seq(items, 0, &mut out),
        scalar => {
            out.push_str(&inline(scalar));
            out.push('\n');
        }
    }
    out
}

fn emit_map(map: &serde_json::Map<String, Value>, indent: usize, out: &mut String) {
    for (key, value) in map {
        out.push_str(&" ".repeat(indent));
        out.push_str(&scalar_string(key));
        out.push(':');
        emit_value_after_key(value, indent, out);
    }
}

fn emit_value_after_key(value: &Value, indent: usize, out: &mut String) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            emit_map(map, indent + 2, out);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            emit_seq(items, indent, out);
        }
        scalar => {
            out.push(' ');
            out.push_str(&inline(scalar));
            out.push('\n');
        }
    }
}

fn emit_seq(items: &[Value], indent: usize, out: &mut String) {
    for item in items {
        out.push_str(&" ".repeat(indent));
        out.push('-');
        match item {
            Value::Object(map) if !map.is_empty() => {
                // The first entry shares the dash's line; the rest align under it.
                let mut entries = map.iter();
                if let Some((key, value)) = entries.next() {
                    out.push(' ');
                    out.push_str(&scalar_string(key));
                    out.push(':');
                    emit_value_after_key(value, indent + 2, out);
                }
                for (key, value) in entries {
                    out.push_str(&" ".repeat(indent + 2));
                    out.push_str(&scalar_string(key));
                    out.push(':');
                    emit_value_after_key(value, indent + 2, out);
                }
            }
            Value::Array(nested) if !nested.is_empty() => {
                out.push('\n');
                emit_seq(nested, indent + 2, out);
            }
            scalar => {
                out.push(' ');
                out.push_str(&inline(scalar));
                out.push('\n');
            }
        }
    }
}

/// A scalar or an empty collection on one line.
fn inline(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => scalar_string(s),
        Value::Array(_) => "[]".to_string(),
        Value::Object(_) => "{}".to_string(),
    }
}

/// A string as a plain scalar when that is unambiguous, else double-quoted (JSON escaping is
/// valid YAML).
fn scalar_string(s: &str) -> String {
    if needs_quotes(s) {
        serde_json::Value::String(s.to_string()).to_string()
    } else {
        s.to_string()
    }
}

fn needs_quotes(s: &str) -> bool {
    const RESERVED: [&str; 22] = [
        "y", "yes", "n", "no", "true", "false", "on", "off", "null", "~", "=", "<<", ".inf",
        "-.inf", "+.inf", ".nan", "yes.", "no.", "true.", "false.", "on.", "off.",
    ];
    let Some(first) = s.chars().next() else {
        return true;
    };
    let last = s.chars().last().unwrap_or(first);
    RESERVED.contains(&s.to_ascii_lowercase().as_str())
        || first.is_ascii_digit()
        || "-?:,[]{}#&*!|>'\"%@`+. ".contains(first)
        || last == ':'
        || last == ' '
        || s.contains(": ")
        || s.contains(" #")
        || s.chars()
            .any(|c| c.is_control() || matches!(c, '[' | ']' | '{' | '}' | ',' | '"' | '\\' | '\''))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ambiguous_strings_are_quoted() {
        for s in [
            "yes", "No", "on", "OFF", "y", "true", "null", "~", "", "1", "1.5", "0x1F", "-1", "+1",
            ".5", "a: b", "x #y", "*", "!x", "[a]", "v1,v2", "é\n",
        ] {
            let yaml = to_yaml(&json!({ "k": s }));
            let back: Value = serde_yaml_ng::from_str(&yaml).unwrap();
            assert_eq!(back, json!({ "k": s }), "{yaml}");
            assert!(yaml.starts_with("k: \""), "`{s}` must be quoted: {yaml}");
        }
        for s in [
            "gold",
            "/api/v1",
            "(?:/a|/b).*",
            "cluster.local/ns/x/sa/y",
            "request.headers[x-tier]",
        ] {
            let yaml = to_yaml(&json!({ "k": s }));
            let back: Value = serde_yaml_ng::from_str(&yaml).unwrap();
            assert_eq!(back, json!({ "k": s }), "{yaml}");
        }
    }

    #[test]
    fn nested_structures_round_trip() {
        let value = json!({
            "apiVersion": "networking.istio.io/v1",
            "metadata": {"labels": {"a": "b"}, "annotations": {}},
            "spec": {"hosts": ["web.shop.svc.cluster.local"], "http": [
                {"match": [{"headers": {"x-beta": {"exact": "yes"}}, "port": 80}],
                 "route": [{"destination": {"host": "web-v1"}, "weight": 0}, {"destination": {"host": "web-v2"}, "weight": 100}]},
                {"route": [[1, 2], []]}
            ], "empty": []}
        });
        let yaml = to_yaml(&value);
        let back: Value = serde_yaml_ng::from_str(&yaml).unwrap();
        assert_eq!(back, value, "{yaml}");
        assert!(yaml.contains("exact: \"yes\""), "{yaml}");
    }
}

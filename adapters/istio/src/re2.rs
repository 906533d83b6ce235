//! Whether a regular expression is one Istio accepts: Envoy compiles VirtualService regexes with
//! Google RE2, and Istio's admission webhook rejects what RE2 cannot compile.
//!
//! The check is an approximation with the `regex` crate's parser (RE2 and Rust regex share most
//! syntax): an expression must parse, and must not use what Rust accepts but RE2 does not —
//! class set operations (`[a&&b]`, `[a--b]`, `[a~~b]`), nested classes (`[a[bc]]`), `\<`, `\>`
//! and `\b{start}`-style word boundaries, the `x`, `R` and `u` flags, `(?<name>…)` groups (older
//! RE2 only knows `(?P<name>…)`) and repetition counts above 1000. Look-around and
//! back-references are rejected by both. Not checked: RE2's program-size limit (Envoy's
//! `re2.max_program_size.error_level`), and semantic differences that compile either way (RE2's
//! `\d`, `\w` and `\s` are ASCII-only, Rust's are Unicode).

use regex_syntax::ast::{self, Ast, ClassSetItem, Flag, GroupKind, RepetitionRange, Visitor};

/// RE2's largest repetition count.
const MAX_REPEAT: u32 = 1000;

/// `Ok` when RE2 compiles the expression as Rust's `regex` does; otherwise what is not RE2.
pub fn check(regex: &str) -> Result<(), String> {
    let ast = ast::parse::Parser::new()
        .parse(regex)
        .map_err(|e| format!("`{regex}` is not a valid regular expression: {}", e.kind()))?;
    regex::Regex::new(regex).map_err(|e| format!("`{regex}` does not compile: {e}"))?;
    ast::visit(&ast, Re2Only)
        .map_err(|what| format!("`{regex}` uses {what}, which RE2 does not support"))
}

/// Finds the first construct RE2 lacks.
struct Re2Only;

impl Visitor for Re2Only {
    type Output = ();
    type Err = String;

    fn finish(self) -> Result<(), String> {
        Ok(())
    }

    fn visit_pre(&mut self, ast: &Ast) -> Result<(), String> {
        match ast {
            Ast::Assertion(assertion) => match assertion.kind {
                ast::AssertionKind::WordBoundaryStart
                | ast::AssertionKind::WordBoundaryEnd
                | ast::AssertionKind::WordBoundaryStartAngle
                | ast::AssertionKind::WordBoundaryEndAngle
                | ast::AssertionKind::WordBoundaryStartHalf
                | ast::AssertionKind::WordBoundaryEndHalf => {
                    Err("a start/end-of-word assertion".to_string())
                }
                _ => Ok(()),
            },
            Ast::Group(group) => match &group.kind {
                GroupKind::CaptureName {
                    starts_with_p: false,
                    ..
                } => Err("a `(?<name>…)` group (write `(?P<name>…)`)".to_string()),
                GroupKind::NonCapturing(flags) => check_flags(flags),
                _ => Ok(()),
            },
            Ast::Flags(flags) => check_flags(&flags.flags),
            Ast::Repetition(repetition) => match repetition.op.kind {
                ast::RepetitionKind::Range(
                    RepetitionRange::Exactly(n)
                    | RepetitionRange::AtLeast(n)
                    | RepetitionRange::Bounded(_, n),
                ) if n > MAX_REPEAT => Err(format!("a repetition count above {MAX_REPEAT}")),
                _ => Ok(()),
            },
            _ => Ok(()),
        }
    }

    fn visit_class_set_item_pre(&mut self, item: &ClassSetItem) -> Result<(), String> {
        match item {
            ClassSetItem::Bracketed(_) => Err("a nested character class".to_string()),
            _ => Ok(()),
        }
    }

    fn visit_class_set_binary_op_pre(&mut self, _op: &ast::ClassSetBinaryOp) -> Result<(), String> {
        Err("a character class set operation (`&&`, `--` or `~~`)".to_string())
    }
}

fn check_flags(flags: &ast::Flags) -> Result<(), String> {
    for item in &flags.items {
        if let ast::FlagsItemKind::Flag(
            flag @ (Flag::IgnoreWhitespace | Flag::CRLF | Flag::Unicode),
        ) = item.kind
        {
            let letter = match flag {
                Flag::IgnoreWhitespace => 'x',
                Flag::CRLF => 'R',
                _ => 'u',
            };
            return Err(format!("the `{letter}` flag"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn re2_syntax_is_accepted() {
        for ok in [
            "(?:/a|/b).*",
            ".*Firefox.*",
            "(?i)/api",
            "[a-z]+",
            "(?P<v>v[0-9]{1,3})",
            r"\bx\b",
            "a{1000}",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn what_re2_lacks_is_rejected() {
        for (bad, why) in [
            ("[[a-z]]", "nested"),
            ("[a-z&&[^q]]", "class"),
            ("[a-z--q]", "set operation"),
            (r"\<word\>", "start/end-of-word"),
            (r"\b{start}x", "start/end-of-word"),
            ("(?x)a b", "`x` flag"),
            ("(?<v>a)", "(?P<name>"),
            ("a{1001}", "repetition count"),
            ("(?=a)", "not a valid regular expression"),
            (r"(a)\1", "not a valid regular expression"),
        ] {
            let err = check(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}

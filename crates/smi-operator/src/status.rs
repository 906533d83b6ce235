//! Status of SMI objects: the core's conditions as `metav1.Condition`s, written only when they
//! change, and the Events worth sending.
//!
//! Conditions compare on type, status, reason, message and observedGeneration, as a set;
//! `lastTransitionTime` is kept from the observed condition of the same type while its status
//! stays the same.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use serde_json::{Value, json};
use smi_translate::{ConditionSpec, ObjectStatus, SmiRef};

/// Longest condition message the API allows.
const MAX_MESSAGE: usize = 32 * 1024;
/// Longest Event note the API allows.
const MAX_NOTE: usize = 1024;

/// A Warning Event to send about an SMI object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventSpec {
    /// CamelCase reason (the condition's).
    pub reason: String,
    /// `<type>: <message>`, cut to the API's limit.
    pub note: String,
}

/// The conditions to write for a status, keeping observed transition times.
pub fn conditions(desired: &ObjectStatus, observed: &[Condition], now: &Time) -> Vec<Condition> {
    desired
        .conditions
        .iter()
        .map(|c| {
            let status = status_string(c).to_string();
            let last_transition_time = observed
                .iter()
                .find(|o| o.type_ == c.type_.as_str() && o.status == status)
                .map(|o| o.last_transition_time.clone())
                .unwrap_or_else(|| now.clone());
            Condition {
                type_: c.type_.as_str().to_string(),
                status,
                reason: c.reason.clone(),
                message: cut(&c.message, MAX_MESSAGE),
                observed_generation: desired.observed_generation,
                last_transition_time,
            }
        })
        .collect()
}

fn status_string(c: &ConditionSpec) -> &'static str {
    if c.status { "True" } else { "False" }
}

/// Whether two condition lists say the same, ignoring order and transition times.
pub fn same(a: &[Condition], b: &[Condition]) -> bool {
    let key = |c: &Condition| {
        (
            c.type_.clone(),
            c.status.clone(),
            c.reason.clone(),
            c.message.clone(),
            c.observed_generation,
        )
    };
    let mut a: Vec<_> = a.iter().map(key).collect();
    let mut b: Vec<_> = b.iter().map(key).collect();
    a.sort();
    b.sort();
    a == b
}

/// The Events for False conditions that are new or changed since `observed`.
pub fn events(desired: &[Condition], observed: &[Condition]) -> Vec<EventSpec> {
    desired
        .iter()
        .filter(|c| c.status == "False")
        .filter(|c| {
            !observed.iter().any(|o| {
                o.type_ == c.type_
                    && o.status == c.status
                    && o.reason == c.reason
                    && o.message == c.message
            })
        })
        .map(|c| EventSpec {
            reason: c.reason.clone(),
            note: cut(&format!("{}: {}", c.type_, c.message), MAX_NOTE),
        })
        .collect()
}

/// The server-side apply body of an SMI object's status.
pub fn apply_body(object: &SmiRef, conditions: &[Condition]) -> Value {
    json!({
        "apiVersion": format!("{}/{}", object.kind.group(), object.kind.hub_version()),
        "kind": object.kind.as_str(),
        "metadata": {"name": object.key.name, "namespace": object.key.namespace},
        "status": {"conditions": conditions},
    })
}

fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max.saturating_sub(3);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;
    use smi_translate::ConditionType;

    fn status(programmed: bool, generation: i64) -> ObjectStatus {
        let mut s = ObjectStatus {
            observed_generation: Some(generation),
            conditions: Vec::new(),
        };
        s.set(ConditionType::Accepted, true, "Accepted", "valid");
        if programmed {
            s.set(ConditionType::Programmed, true, "Programmed", "istio: ok");
        } else {
            s.set(
                ConditionType::Programmed,
                false,
                "Conflict",
                "VirtualService x exists",
            );
        }
        s
    }

    fn time(seconds: i64) -> Time {
        Time(Timestamp::from_second(seconds).unwrap_or(Timestamp::UNIX_EPOCH))
    }

    #[test]
    fn unchanged_conditions_keep_their_transition_time_and_need_no_write() {
        let first = conditions(&status(true, 1), &[], &time(100));
        let again = conditions(&status(true, 1), &first, &time(200));
        assert_eq!(first, again);
        assert!(same(&first, &again));
        let mut reversed = again.clone();
        reversed.reverse();
        assert!(same(&first, &reversed));
    }

    #[test]
    fn a_changed_status_moves_only_its_condition() {
        let first = conditions(&status(true, 1), &[], &time(100));
        let second = conditions(&status(false, 2), &first, &time(200));
        assert!(!same(&first, &second));
        let accepted = second.iter().find(|c| c.type_ == "Accepted");
        let programmed = second.iter().find(|c| c.type_ == "Programmed");
        assert_eq!(
            accepted.map(|c| c.last_transition_time.clone()),
            Some(time(100))
        );
        assert_eq!(
            programmed.map(|c| c.last_transition_time.clone()),
            Some(time(200))
        );
        assert_eq!(programmed.and_then(|c| c.observed_generation), Some(2));
    }

    #[test]
    fn events_only_for_new_false_conditions() {
        let good = conditions(&status(true, 1), &[], &time(100));
        let bad = conditions(&status(false, 1), &good, &time(200));
        let sent = events(&bad, &good);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].reason, "Conflict");
        assert!(sent[0].note.starts_with("Programmed: "));
        assert!(events(&bad, &bad).is_empty());
        assert!(events(&good, &bad).is_empty());
    }

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        let text = "é".repeat(2000);
        let out = cut(&text, MAX_NOTE);
        assert!(out.len() <= MAX_NOTE && out.ends_with("..."));
    }
}

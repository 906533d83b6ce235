//! Status for every SMI object: conditions and the messages worth an Event.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::keys::SmiRef;

/// The condition types smi-bridge writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum ConditionType {
    /// The object is valid and smi-bridge acts on it.
    Accepted,
    /// Everything it refers to exists.
    ResolvedRefs,
    /// The selected mesh backend expressed it in native objects (fully).
    Programmed,
}

impl ConditionType {
    /// The condition `type` string.
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionType::Accepted => "Accepted",
            ConditionType::ResolvedRefs => "ResolvedRefs",
            ConditionType::Programmed => "Programmed",
        }
    }
}

/// One condition, without the timestamps the status writer adds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConditionSpec {
    /// The condition type.
    pub type_: ConditionType,
    /// True or False.
    pub status: bool,
    /// CamelCase reason, e.g. `ZeroTotalWeight`.
    pub reason: String,
    /// Human-readable detail: what is wrong and what to do.
    pub message: String,
}

/// The status of one SMI object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ObjectStatus {
    /// `metadata.generation` the status was computed for.
    pub observed_generation: Option<i64>,
    /// Conditions, one per type, in type order.
    pub conditions: Vec<ConditionSpec>,
}

impl ObjectStatus {
    /// Sets a condition, replacing one of the same type. A False condition is never replaced by
    /// a True one: the first problem found stays visible.
    pub fn set(
        &mut self,
        type_: ConditionType,
        status: bool,
        reason: &str,
        message: impl Into<String>,
    ) {
        let condition = ConditionSpec {
            type_,
            status,
            reason: reason.to_string(),
            message: message.into(),
        };
        match self.conditions.iter_mut().find(|c| c.type_ == type_) {
            None => {
                self.conditions.push(condition);
                self.conditions.sort_by_key(|c| c.type_);
            }
            Some(existing) if existing.status => *existing = condition,
            Some(existing) => {
                if !condition.status && !existing.message.contains(&condition.message) {
                    existing.message = format!("{}; {}", existing.message, condition.message);
                }
            }
        }
    }

    /// The condition of a type, if set.
    pub fn get(&self, type_: ConditionType) -> Option<&ConditionSpec> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }

    /// True when the object is Accepted.
    pub fn accepted(&self) -> bool {
        self.get(ConditionType::Accepted).is_some_and(|c| c.status)
    }
}

/// Statuses of all SMI objects of one translation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Status by object.
    pub statuses: BTreeMap<SmiRef, ObjectStatus>,
}

impl Report {
    /// The status of an object, created empty on first use.
    pub fn status_mut(&mut self, object: &SmiRef) -> &mut ObjectStatus {
        self.statuses.entry(object.clone()).or_default()
    }

    /// Conditions that are False: each is worth a Warning Event on its object.
    pub fn problems(&self) -> impl Iterator<Item = (&SmiRef, &ConditionSpec)> {
        self.statuses.iter().flat_map(|(r, s)| {
            s.conditions
                .iter()
                .filter(|c| !c.status)
                .map(move |c| (r, c))
        })
    }
}

/// Something a backend could not express, reported on the SMI object it concerns: it makes that
/// object's `Programmed` condition False. The backend never widens a rule instead.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The SMI object concerned.
    pub object: SmiRef,
    /// CamelCase reason: `NotSupported`, `NotExpressible`, `AmbiguousSelector`, `Conflict`, …
    pub reason: String,
    /// What could not be expressed and what to do about it.
    pub message: String,
}

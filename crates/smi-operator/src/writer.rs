//! The one writer: applies a [`Plan`] with bounded concurrency, a client-side rate limit and
//! per-object exponential backoff, and only while this replica is the leader.
//!
//! - Creates are server-side applies carrying `resourceVersion: "0"`, which the API server
//!   refuses when the object exists: smi-bridge never merges into an object someone else just
//!   created.
//! - Updates and adoptions are forced server-side applies (field manager `smi-bridge`)
//!   conditional on the resourceVersion observed when the decision was made; deletes are
//!   conditional on the observed uid and resourceVersion. A 409 is retried soon (100 ms → 5 s):
//!   the watch catches up and the next reconcile decides again.
//! - Status is a forced server-side apply to `/status` (field manager `smi-bridge-status`),
//!   followed by the Events of that change.
//! - Leadership is checked right before each request, after waiting for the rate limit.
//! - A write the API server has not yet echoed through the watch is not repeated: the writer
//!   remembers what it wrote on top of which observed resourceVersion.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, Preconditions};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Api, Client};
use serde_json::Value;
use smi_translate::SmiRef;
use tokio::sync::watch;
use tracing::Instrument;

use crate::compute::{NativeAction, NativeId, NativeOp, Plan, StatusOp};
use crate::config::{EVENT_CONTROLLER, FIELD_MANAGER, STATUS_FIELD_MANAGER, WriteConfig};
use crate::diff::hash;
use crate::error::WriteErrorClass;
use crate::lease::Leadership;
use crate::metrics::Metrics;
use crate::throttle::{Backoffs, CONFLICT_BACKOFF, ERROR_BACKOFF, RateLimiter};
use crate::watch::{native_resource, smi_resource};

/// What a write is about.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum OpKey {
    Native(NativeId),
    Status(SmiRef),
}

/// How long a write is trusted to show up in the watch before it is repeated anyway (e.g. the
/// object was changed and changed back, or created and deleted, between two reconciles).
const MEMO_TTL: Duration = Duration::from_secs(10);

/// A write that succeeded and is not yet seen through the watch.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Memo {
    /// The resourceVersion observed when the write was decided.
    observed: Option<String>,
    /// What was written.
    hash: String,
    /// When.
    at: Instant,
}

impl Memo {
    fn covers(&self, observed: &Option<String>, hash: &str, now: Instant) -> bool {
        self.observed == *observed && self.hash == hash && now.duration_since(self.at) < MEMO_TTL
    }
}

#[derive(Debug, Default)]
struct State {
    backoffs: Backoffs<OpKey>,
    memo: BTreeMap<OpKey, Memo>,
    failures: BTreeMap<NativeId, String>,
    /// The hash last applied to each native object, to notice fights.
    applied: BTreeMap<NativeId, String>,
    /// Objects whose identical content had to be applied again (another writer or a mutating
    /// webhook changes what smi-bridge sets): each repeat waits longer (250 ms → 60 s), so a
    /// fight cannot become a hot loop. A different desired content is written at once.
    fights: Backoffs<NativeId>,
}

impl State {
    /// Records a successful native write; returns how long an identical re-apply must wait
    /// when this one repeated the previous content.
    fn applied(&mut self, op: &NativeOp, now: Instant) -> Option<Duration> {
        if op.action == NativeAction::Delete {
            self.applied.remove(&op.id);
            self.fights.succeeded(&op.id);
            return None;
        }
        let hash = op_hash(op);
        if self.applied.get(&op.id) == Some(&hash) {
            return Some(self.fights.failed(&op.id, ERROR_BACKOFF, now));
        }
        self.applied.insert(op.id.clone(), hash);
        self.fights.succeeded(&op.id);
        None
    }

    /// Whether an identical re-apply of a fought-over object must still wait.
    fn fighting(&self, op: &NativeOp, now: Instant) -> bool {
        self.fights.not_before(&op.id, now).is_some()
            && self.applied.get(&op.id) == Some(&op_hash(op))
    }
}

/// The writes of a plan that are due now.
#[derive(Debug, Default)]
struct Selected {
    natives: Vec<NativeOp>,
    statuses: Vec<StatusOp>,
    /// When the first remembered write expires (and is repeated if still needed).
    memo_due: Option<Instant>,
    /// Writes waiting in backoff.
    waiting: usize,
}

impl State {
    /// Drops the writes in backoff and those already made but not yet echoed by the watch;
    /// forgets failures and remembered writes the plan no longer needs.
    fn select(&mut self, plan: Plan, now: Instant) -> Selected {
        let wanted: BTreeSet<NativeId> = plan.natives.iter().map(|op| op.id.clone()).collect();
        self.failures.retain(|id, _| wanted.contains(id));
        let fighting: BTreeSet<NativeId> = plan
            .natives
            .iter()
            .filter(|op| self.fighting(op, now))
            .map(|op| op.id.clone())
            .collect();
        let mut memo = BTreeMap::new();
        let mut memo_due: Option<Instant> = None;
        let backoffs = &self.backoffs;
        let old = &self.memo;
        let mut due = |key: OpKey, observed: &Option<String>, hash: String| {
            if let Some(entry) = old.get(&key)
                && entry.covers(observed, &hash, now)
            {
                let expires = entry.at + MEMO_TTL;
                memo_due = Some(memo_due.map_or(expires, |d| d.min(expires)));
                memo.insert(key, entry.clone());
                return false;
            }
            backoffs.not_before(&key, now).is_none()
        };
        let natives = plan
            .natives
            .into_iter()
            .filter(|op| {
                due(
                    OpKey::Native(op.id.clone()),
                    &op.resource_version,
                    op_hash(op),
                ) && !fighting.contains(&op.id)
            })
            .collect();
        let statuses = plan
            .statuses
            .into_iter()
            .filter(|op| {
                due(
                    OpKey::Status(op.object.clone()),
                    &op.resource_version,
                    hash(&op.body),
                )
            })
            .collect();
        self.memo = memo;
        Selected {
            natives,
            statuses,
            memo_due,
            waiting: self.backoffs.waiting(now) + fighting.len(),
        }
    }
}

/// What executing a plan left behind.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// When a write in backoff may be tried again.
    pub next_due: Option<Instant>,
    /// The set of failed native writes changed (statuses need recomputing).
    pub failures_changed: bool,
}

/// The writer.
pub struct Writer {
    client: Client,
    leadership: Leadership,
    limiter: RateLimiter,
    config: WriteConfig,
    recorder: Recorder,
    metrics: Arc<Metrics>,
    state: Mutex<State>,
    shutdown: watch::Receiver<bool>,
}

impl Writer {
    /// A writer for one replica.
    pub fn new(
        client: Client,
        leadership: Leadership,
        config: WriteConfig,
        identity: &str,
        metrics: Arc<Metrics>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let reporter = Reporter {
            controller: EVENT_CONTROLLER.to_string(),
            instance: Some(identity.to_string()),
        };
        Writer {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            leadership,
            limiter: RateLimiter::new(config.qps, config.burst),
            config,
            metrics,
            state: Mutex::new(State::default()),
            shutdown,
        }
    }

    /// The last error of every native write that is failing.
    pub fn failures(&self) -> BTreeMap<NativeId, String> {
        self.lock().failures.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn may_write(&self) -> bool {
        !*self.shutdown.borrow() && self.leadership.is_leader()
    }

    /// Applies a plan: native objects first, then statuses and their Events.
    pub async fn execute(&self, plan: Plan) -> Outcome {
        let (before, selected) = {
            let mut state = self.lock();
            let before = state.failures.clone();
            let selected = state.select(plan, Instant::now());
            (before, selected)
        };
        let Selected {
            natives,
            statuses,
            memo_due,
            waiting,
        } = selected;
        self.metrics
            .set_queue_depth(natives.len() + statuses.len() + waiting);
        let limit = self.config.concurrency;
        futures::stream::iter(natives)
            .for_each_concurrent(limit, |op| self.native(op))
            .await;
        futures::stream::iter(statuses)
            .for_each_concurrent(limit, |op| self.status(op))
            .await;
        let state = self.lock();
        let now = Instant::now();
        self.metrics.set_queue_depth(state.backoffs.waiting(now));
        let next_due = [
            state.backoffs.next_due(now),
            state.fights.next_due(now),
            memo_due,
        ]
        .into_iter()
        .flatten()
        .min();
        Outcome {
            next_due,
            failures_changed: state.failures != before,
        }
    }

    async fn native(&self, op: NativeOp) {
        self.limiter.acquire().await;
        if !self.may_write() {
            return;
        }
        let (kind, key) = &op.id;
        let span = tracing::info_span!(
            "write",
            verb = op.action.verb(),
            kind = %kind.kind,
            namespace = %key.namespace,
            object = %key.name,
        );
        let result = tokio::time::timeout(self.config.timeout, self.send_native(&op))
            .instrument(span.clone())
            .await
            .unwrap_or_else(|_| Err(timeout_error()));
        let op_key = OpKey::Native(op.id.clone());
        let _entered = span.enter();
        match result {
            Ok(()) => {
                self.metrics.wrote(op.action.verb(), &kind.kind);
                tracing::info!("written");
                let mut state = self.lock();
                state.backoffs.succeeded(&op_key);
                state.failures.remove(&op.id);
                if let Some(delay) = state.applied(&op, Instant::now()) {
                    self.metrics.error("fight");
                    tracing::warn!(
                        next_in = ?delay,
                        "re-applied unchanged content: another writer or a mutating webhook \
                         changes the fields smi-bridge sets"
                    );
                }
                state.memo.insert(
                    op_key,
                    Memo {
                        observed: op.resource_version.clone(),
                        hash: op_hash(&op),
                        at: Instant::now(),
                    },
                );
            }
            Err(error) => {
                let class = classify(&op, &error);
                if class == WriteErrorClass::NotFound && op.action == NativeAction::Delete {
                    self.lock().backoffs.succeeded(&op_key);
                    return;
                }
                self.metrics.error(class.label());
                let mut state = self.lock();
                let policy = if class == WriteErrorClass::Conflict {
                    CONFLICT_BACKOFF
                } else {
                    ERROR_BACKOFF
                };
                let delay = state.backoffs.failed(&op_key, policy, Instant::now());
                if class != WriteErrorClass::Conflict && op.action != NativeAction::Delete {
                    state.failures.insert(op.id.clone(), message(&error));
                }
                tracing::warn!(reason = class.label(), retry_in = ?delay, error = %message(&error), "write failed");
            }
        }
    }

    async fn send_native(&self, op: &NativeOp) -> Result<(), kube::Error> {
        let (kind, key) = &op.id;
        let resource = native_resource(kind);
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), &key.namespace, &resource);
        match op.action {
            NativeAction::Delete => {
                let params = DeleteParams {
                    preconditions: Some(Preconditions {
                        uid: op.uid.clone(),
                        resource_version: op.resource_version.clone(),
                    }),
                    ..DeleteParams::default()
                };
                api.delete(&key.name, &params).await.map(drop)
            }
            NativeAction::Create | NativeAction::Update | NativeAction::Adopt => {
                let mut body = op.body.clone().unwrap_or(Value::Null);
                let version = match op.action {
                    NativeAction::Create => "0".to_string(),
                    _ => op.resource_version.clone().unwrap_or_default(),
                };
                body["metadata"]["resourceVersion"] = Value::String(version);
                let params = PatchParams::apply(FIELD_MANAGER).force();
                api.patch(&key.name, &params, &Patch::Apply(body))
                    .await
                    .map(drop)
            }
        }
    }

    async fn status(&self, op: StatusOp) {
        self.limiter.acquire().await;
        if !self.may_write() {
            return;
        }
        let span = tracing::info_span!(
            "write",
            verb = "status",
            kind = %op.object.kind,
            namespace = %op.object.key.namespace,
            object = %op.object.key.name,
        );
        let kind = op.object.kind;
        let resource = smi_resource(kind);
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), &op.object.key.namespace, &resource);
        let params = PatchParams::apply(STATUS_FIELD_MANAGER).force();
        let result = tokio::time::timeout(
            self.config.timeout,
            api.patch_status(&op.object.key.name, &params, &Patch::Apply(&op.body)),
        )
        .instrument(span.clone())
        .await
        .unwrap_or_else(|_| Err(timeout_error()));
        let key = OpKey::Status(op.object.clone());
        let _entered = span.enter();
        match result {
            Ok(_) => {
                self.metrics.wrote("status", kind.as_str());
                tracing::info!("status written");
                {
                    let mut state = self.lock();
                    state.backoffs.succeeded(&key);
                    state.memo.insert(
                        key,
                        Memo {
                            observed: op.resource_version.clone(),
                            hash: hash(&op.body),
                            at: Instant::now(),
                        },
                    );
                }
                self.events(&op, &resource).await;
            }
            Err(error) => {
                let class = WriteErrorClass::of(&error);
                if class == WriteErrorClass::NotFound {
                    return;
                }
                self.metrics.error(class.label());
                let policy = if class == WriteErrorClass::Conflict {
                    CONFLICT_BACKOFF
                } else {
                    ERROR_BACKOFF
                };
                let delay = self.lock().backoffs.failed(&key, policy, Instant::now());
                tracing::warn!(reason = class.label(), retry_in = ?delay, error = %message(&error), "status write failed");
            }
        }
    }

    async fn events(&self, op: &StatusOp, resource: &ApiResource) {
        let reference = ObjectReference {
            api_version: Some(resource.api_version.clone()),
            kind: Some(resource.kind.clone()),
            name: Some(op.object.key.name.clone()),
            namespace: Some(op.object.key.namespace.clone()),
            uid: op.uid.clone(),
            ..ObjectReference::default()
        };
        for spec in &op.events {
            self.limiter.acquire().await;
            if !self.may_write() {
                return;
            }
            let event = Event {
                type_: EventType::Warning,
                reason: spec.reason.clone(),
                note: Some(spec.note.clone()),
                action: "Reconcile".to_string(),
                secondary: None,
            };
            match tokio::time::timeout(
                self.config.timeout,
                self.recorder.publish(&event, &reference),
            )
            .await
            .unwrap_or_else(|_| Err(timeout_error()))
            {
                Ok(()) => self.metrics.wrote("event", resource.kind.as_str()),
                Err(error) => {
                    self.metrics.error(WriteErrorClass::of(&error).label());
                    tracing::warn!(error = %message(&error), "could not send an Event");
                }
            }
        }
    }
}

/// What a native op writes, for the memo.
fn op_hash(op: &NativeOp) -> String {
    match &op.body {
        Some(body) => hash(body),
        None => "delete".to_string(),
    }
}

/// A create refused because the object exists (`resourceVersion: "0"` on an existing object
/// gives 422 on metadata.resourceVersion) is a conflict: the watch will show the object.
fn classify(op: &NativeOp, error: &kube::Error) -> WriteErrorClass {
    let class = WriteErrorClass::of(error);
    if op.action == NativeAction::Create
        && class == WriteErrorClass::Invalid
        && let kube::Error::Api(status) = error
        && status.message.contains("metadata.resourceVersion")
    {
        return WriteErrorClass::Conflict;
    }
    class
}

fn message(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) if !status.message.is_empty() => status.message.clone(),
        other => other.to_string(),
    }
}

fn timeout_error() -> kube::Error {
    kube::Error::Service(Box::new(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "the request timed out",
    )))
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use smi_translate::{NativeKind, ObjectKey};

    use super::*;
    use crate::throttle::ERROR_BACKOFF;

    fn op(version: &str, weight: i64) -> NativeOp {
        NativeOp {
            id: (
                NativeKind::new("g", "v1", "K", "ks"),
                ObjectKey::new("ns", "a"),
            ),
            action: NativeAction::Update,
            body: Some(json!({"spec": {"weight": weight}})),
            uid: None,
            resource_version: Some(version.to_string()),
        }
    }

    fn plan(op: NativeOp) -> Plan {
        Plan {
            natives: vec![op],
            ..Plan::default()
        }
    }

    fn remember(state: &mut State, op: &NativeOp, at: Instant) {
        state.memo.insert(
            OpKey::Native(op.id.clone()),
            Memo {
                observed: op.resource_version.clone(),
                hash: op_hash(op),
                at,
            },
        );
    }

    #[test]
    fn a_write_not_yet_echoed_is_not_repeated_until_it_expires() {
        let now = Instant::now();
        let mut state = State::default();
        remember(&mut state, &op("5", 1), now);
        let selected = state.select(plan(op("5", 1)), now);
        assert!(selected.natives.is_empty());
        assert_eq!(selected.memo_due, Some(now + MEMO_TTL));
        // The watch moved on, or the write is different: write.
        assert_eq!(state.select(plan(op("6", 1)), now).natives.len(), 1);
        remember(&mut state, &op("5", 1), now);
        assert_eq!(state.select(plan(op("5", 2)), now).natives.len(), 1);
        // Expired: written again.
        remember(&mut state, &op("5", 1), now);
        let later = now + MEMO_TTL + Duration::from_millis(1);
        assert_eq!(state.select(plan(op("5", 1)), later).natives.len(), 1);
    }

    #[test]
    fn re_applying_identical_content_backs_off_but_new_content_goes_at_once() {
        let now = Instant::now();
        let mut state = State::default();
        assert_eq!(state.applied(&op("5", 1), now), None);
        assert_eq!(state.select(plan(op("6", 1)), now).natives.len(), 1);
        // The same content again: someone keeps changing it.
        assert_eq!(
            state.applied(&op("6", 1), now),
            Some(Duration::from_millis(250))
        );
        let selected = state.select(plan(op("7", 1)), now);
        assert!(selected.natives.is_empty());
        assert_eq!(selected.waiting, 1);
        assert_eq!(state.select(plan(op("7", 2)), now).natives.len(), 1);
        let later = now + Duration::from_millis(300);
        assert_eq!(state.select(plan(op("7", 1)), later).natives.len(), 1);
        assert_eq!(
            state.applied(&op("7", 1), later),
            Some(Duration::from_millis(500))
        );
        assert_eq!(state.applied(&op("8", 2), later), None);
        assert_eq!(state.select(plan(op("9", 2)), later).natives.len(), 1);
    }

    #[test]
    fn writes_in_backoff_wait_and_stale_failures_are_forgotten() {
        let now = Instant::now();
        let mut state = State::default();
        let key = OpKey::Native(op("5", 1).id);
        state.backoffs.failed(&key, ERROR_BACKOFF, now);
        let other = (
            NativeKind::new("g", "v1", "K", "ks"),
            ObjectKey::new("ns", "gone"),
        );
        state.failures.insert(other.clone(), "refused".into());
        let selected = state.select(plan(op("5", 1)), now);
        assert!(selected.natives.is_empty());
        assert_eq!(selected.waiting, 1);
        assert!(!state.failures.contains_key(&other));
        let after = now + Duration::from_secs(1);
        assert_eq!(state.select(plan(op("5", 1)), after).natives.len(), 1);
    }
}

//! Prometheus metrics (`/metrics`), all prefixed `smi_bridge_`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of a write.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WriteLabels {
    /// `create`, `update`, `adopt`, `delete`, `status` or `event`.
    pub verb: String,
    /// The object's kind.
    pub kind: String,
}

/// Labels of an error.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// What went wrong (see [`crate::WriteErrorClass::label`], or `watch`).
    pub reason: String,
}

/// Labels of a watch.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WatchLabels {
    /// The watched kind.
    pub kind: String,
}

/// The operator's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    reconciles: Counter,
    reconcile_duration: Histogram,
    writes: Family<WriteLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
    queue_depth: Gauge,
    watch_restarts: Family<WatchLabels, Counter>,
    leader: Gauge,
    desired: Gauge,
    conflicts: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// The registry, for components that serve their metrics on the operator's `/metrics`.
    pub(crate) fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("smi_bridge");
        let reconciles = Counter::default();
        let reconcile_duration = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        let writes = Family::<WriteLabels, Counter>::default();
        let errors = Family::<ErrorLabels, Counter>::default();
        let queue_depth = Gauge::default();
        let watch_restarts = Family::<WatchLabels, Counter>::default();
        let leader = Gauge::default();
        let desired = Gauge::default();
        let conflicts = Gauge::default();
        registry.register(
            "reconciles",
            "Recomputations of the desired native objects and statuses",
            reconciles.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Time to recompute and write one reconcile",
            reconcile_duration.clone(),
        );
        registry.register(
            "writes",
            "Successful writes to the API server by verb and kind",
            writes.clone(),
        );
        registry.register(
            "errors",
            "Failed requests and watches by reason",
            errors.clone(),
        );
        registry.register(
            "queue_depth",
            "Writes waiting: in the current reconcile or in backoff",
            queue_depth.clone(),
        );
        registry.register(
            "watch_restarts",
            "Watches that had to list again (after an error or an expired resourceVersion)",
            watch_restarts.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the lease",
            leader.clone(),
        );
        registry.register(
            "desired_objects",
            "Native objects the SMI objects ask for",
            desired.clone(),
        );
        registry.register(
            "conflicts",
            "Desired native objects blocked by objects smi-bridge did not create",
            conflicts.clone(),
        );
        Metrics {
            registry,
            reconciles,
            reconcile_duration,
            writes,
            errors,
            queue_depth,
            watch_restarts,
            leader,
            desired,
            conflicts,
        }
    }

    /// The text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    /// Counts a reconcile and its duration.
    pub fn reconciled(&self, seconds: f64, desired: usize, conflicts: usize) {
        self.reconciles.inc();
        self.reconcile_duration.observe(seconds);
        self.desired.set(i64::try_from(desired).unwrap_or(i64::MAX));
        self.conflicts
            .set(i64::try_from(conflicts).unwrap_or(i64::MAX));
    }

    /// Counts a successful write.
    pub fn wrote(&self, verb: &str, kind: &str) {
        self.writes
            .get_or_create(&WriteLabels {
                verb: verb.to_string(),
                kind: kind.to_string(),
            })
            .inc();
    }

    /// Counts an error.
    pub fn error(&self, reason: &str) {
        self.errors
            .get_or_create(&ErrorLabels {
                reason: reason.to_string(),
            })
            .inc();
    }

    /// Counts a watch that lists again.
    pub fn watch_restarted(&self, kind: &str) {
        self.watch_restarts
            .get_or_create(&WatchLabels {
                kind: kind.to_string(),
            })
            .inc();
    }

    /// Sets the number of waiting writes.
    pub fn set_queue_depth(&self, depth: usize) {
        self.queue_depth
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
    }

    /// Sets the leader state.
    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_exposed_with_its_prefix() {
        let metrics = Metrics::new();
        metrics.reconciled(0.01, 3, 1);
        metrics.wrote("create", "VirtualService");
        metrics.error("conflict");
        metrics.watch_restarted("Service");
        metrics.set_queue_depth(2);
        metrics.set_leader(true);
        let text = metrics.encode();
        for name in [
            "smi_bridge_reconciles_total 1",
            "smi_bridge_reconcile_duration_seconds_count 1",
            "smi_bridge_writes_total{verb=\"create\",kind=\"VirtualService\"} 1",
            "smi_bridge_errors_total{reason=\"conflict\"} 1",
            "smi_bridge_watch_restarts_total{kind=\"Service\"} 1",
            "smi_bridge_queue_depth 2",
            "smi_bridge_leader 1",
            "smi_bridge_desired_objects 3",
            "smi_bridge_conflicts 1",
        ] {
            assert!(text.contains(name), "{name} missing in\n{text}");
        }
    }
}

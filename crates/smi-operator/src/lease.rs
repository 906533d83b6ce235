//! Leader election with a `coordination.k8s.io/v1` Lease: every replica watches and computes,
//! only the holder writes.
//!
//! The holder renews every `renew_interval` with a server-side apply conditional on the
//! resourceVersion it read (a concurrent change makes it fail with 409). Another replica takes
//! the lease when it has seen the same resourceVersion for the lease's duration (measured on
//! its own monotonic clock, so clocks need not agree) or when the holder released it.
//!
//! [`Leadership::is_leader`] is checked before every write: it is true only while the last
//! successful renewal (timed from before its request was sent) is younger than the lease
//! duration less a margin. A holder that was paused (SIGSTOP, a long GC-like stall) therefore
//! stops writing before anyone else may take over, and writes nothing when it wakes up: its
//! next step reads the Lease before writing and finds another holder.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;
use tokio::sync::{Notify, watch};

use crate::config::{LEASE_FIELD_MANAGER, LeaseConfig};
use crate::metrics::Metrics;

/// Whether this replica may write now. Cheap to clone and to check.
#[derive(Clone, Debug)]
pub struct Leadership {
    renewed: Arc<Mutex<Option<Instant>>>,
    window: Duration,
}

impl Leadership {
    /// A replica that does not hold the lease; writes are allowed for `window` after each
    /// successful renewal.
    pub fn new(window: Duration) -> Self {
        Leadership {
            renewed: Arc::new(Mutex::new(None)),
            window,
        }
    }

    /// True while this replica holds the lease and its last renewal is younger than the window.
    pub fn is_leader(&self) -> bool {
        self.renewed
            .lock()
            .map(|r| r.is_some_and(|at| at.elapsed() < self.window))
            .unwrap_or(false)
    }

    fn renewed_at(&self, at: Instant) {
        if let Ok(mut r) = self.renewed.lock() {
            *r = Some(at);
        }
    }

    fn lost(&self) {
        if let Ok(mut r) = self.renewed.lock() {
            *r = None;
        }
    }
}

/// The lease loop of one replica.
pub struct Elector {
    api: Api<Lease>,
    config: LeaseConfig,
    leadership: Leadership,
    /// resourceVersion of the Lease and when it was first seen.
    seen: Option<(String, Instant)>,
    changed: Arc<Notify>,
    metrics: Arc<Metrics>,
}

impl Elector {
    /// An elector for `config`, reporting through `leadership`, notifying `changed` when this
    /// replica becomes or stops being the leader.
    pub fn new(
        client: kube::Client,
        config: LeaseConfig,
        leadership: Leadership,
        changed: Arc<Notify>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Elector {
            api: Api::namespaced(client, &config.namespace),
            config,
            leadership,
            seen: None,
            changed,
            metrics,
        }
    }

    /// Runs until `shutdown` turns true, then releases the lease if held.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        loop {
            let was = self.leadership.is_leader();
            if let Err(error) = self.step().await {
                tracing::warn!(
                    lease = %self.config.name,
                    namespace = %self.config.namespace,
                    %error,
                    "leader election: request failed; retrying"
                );
            }
            let is = self.leadership.is_leader();
            self.metrics.set_leader(is);
            if was != is {
                tracing::info!(identity = %self.config.identity, leader = is, "leadership changed");
                self.changed.notify_one();
            }
            tokio::select! {
                _ = tokio::time::sleep(self.config.renew_interval) => {}
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
        }
        if let Err(error) = self.release().await {
            tracing::warn!(%error, "could not release the lease; another replica takes over when it expires");
        }
        self.metrics.set_leader(false);
    }

    /// Reads the Lease and creates, renews or acquires it as due.
    async fn step(&mut self) -> Result<(), kube::Error> {
        let before = Instant::now();
        let lease = self.api.get_opt(&self.config.name).await?;
        let after = Instant::now();
        let Some(lease) = lease else {
            return self.create(before).await;
        };
        let version = lease.metadata.resource_version.clone().unwrap_or_default();
        if self.seen.as_ref().is_none_or(|(v, _)| *v != version) {
            self.seen = Some((version.clone(), after));
        }
        let spec = lease.spec.unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let duration = spec
            .lease_duration_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map(Duration::from_secs)
            .unwrap_or(self.config.duration);
        let mine = holder.as_deref() == Some(self.config.identity.as_str());
        let expired = self
            .seen
            .as_ref()
            .is_some_and(|(_, since)| since.elapsed() >= duration);
        if !mine && holder.is_some() && !expired {
            self.leadership.lost();
            return Ok(());
        }
        // Never write on a stale read: this replica may have been paused since.
        if before.elapsed() > self.config.renew_interval {
            return Ok(());
        }
        let transitions = spec.lease_transitions.unwrap_or(0);
        let (acquire_time, transitions) = if mine {
            (spec.acquire_time, transitions)
        } else {
            (None, transitions.saturating_add(1))
        };
        self.write(&version, acquire_time, transitions).await
    }

    async fn write(
        &mut self,
        version: &str,
        acquire_time: Option<MicroTime>,
        transitions: i32,
    ) -> Result<(), kube::Error> {
        let now = MicroTime(Timestamp::now());
        let body = json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": self.config.name,
                "namespace": self.config.namespace,
                "resourceVersion": version,
            },
            "spec": {
                "holderIdentity": self.config.identity,
                "leaseDurationSeconds": self.duration_seconds(),
                "acquireTime": acquire_time.unwrap_or_else(|| now.clone()),
                "renewTime": now,
                "leaseTransitions": transitions,
            },
        });
        let sent = Instant::now();
        let params = PatchParams::apply(LEASE_FIELD_MANAGER).force();
        match self
            .api
            .patch(&self.config.name, &params, &Patch::Apply(body))
            .await
        {
            Ok(lease) => {
                self.leadership.renewed_at(sent);
                if let Some(v) = lease.metadata.resource_version {
                    self.seen = Some((v, Instant::now()));
                }
                Ok(())
            }
            Err(kube::Error::Api(status)) if status.code == 409 => {
                self.leadership.lost();
                Ok(())
            }
            Err(error) => Err(error),
        }
    }

    async fn create(&mut self, before: Instant) -> Result<(), kube::Error> {
        let now = MicroTime(Timestamp::now());
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(self.config.name.clone()),
                namespace: Some(self.config.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(self.config.identity.clone()),
                lease_duration_seconds: Some(self.duration_seconds()),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        let params = PostParams {
            field_manager: Some(LEASE_FIELD_MANAGER.to_string()),
            ..PostParams::default()
        };
        match self.api.create(&params, &lease).await {
            Ok(_) => {
                self.leadership.renewed_at(before);
                Ok(())
            }
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Gives the lease up so another replica takes over at once.
    async fn release(&mut self) -> Result<(), kube::Error> {
        if !self.leadership.is_leader() {
            return Ok(());
        }
        self.leadership.lost();
        let Some(lease) = self.api.get_opt(&self.config.name).await? else {
            return Ok(());
        };
        let spec = lease.spec.unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return Ok(());
        }
        let body = json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": self.config.name,
                "namespace": self.config.namespace,
                "resourceVersion": lease.metadata.resource_version,
            },
            "spec": {
                "holderIdentity": "",
                "leaseDurationSeconds": self.duration_seconds(),
                "acquireTime": spec.acquire_time,
                "renewTime": MicroTime(Timestamp::now()),
                "leaseTransitions": spec.lease_transitions.unwrap_or(0),
            },
        });
        let params = PatchParams::apply(LEASE_FIELD_MANAGER).force();
        self.api
            .patch(&self.config.name, &params, &Patch::Apply(body))
            .await?;
        tracing::info!(identity = %self.config.identity, "released the lease");
        Ok(())
    }

    fn duration_seconds(&self) -> i32 {
        i32::try_from(self.config.duration.as_secs().max(1)).unwrap_or(i32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leadership_expires_after_the_window_without_renewal() {
        let leadership = Leadership::new(Duration::from_millis(50));
        assert!(!leadership.is_leader());
        leadership.renewed_at(Instant::now());
        assert!(leadership.is_leader());
        std::thread::sleep(Duration::from_millis(60));
        assert!(!leadership.is_leader());
        leadership.renewed_at(Instant::now());
        leadership.lost();
        assert!(!leadership.is_leader());
    }
}

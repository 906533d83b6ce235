//! Wiring: watchers → index → compute → one writer, and the reconcile loop.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tracing::Instrument;

use crate::compute::{Inputs, plan};
use crate::config::OperatorConfig;
use crate::error::Error;
use crate::http::{Readiness, serve};
use crate::index::Index;
use crate::lease::{Elector, Leadership};
use crate::mesh::Meshes;
use crate::metrics::Metrics;
use crate::watch::{NativeWatchers, Shared, core_sources, spawn_core};
use crate::writer::Writer;

/// The operator of one replica.
pub struct Operator {
    client: Client,
    config: OperatorConfig,
    meshes: Meshes,
    listener: Option<TcpListener>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Operator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operator")
            .field("config", &self.config)
            .field("meshes", &self.meshes)
            .finish_non_exhaustive()
    }
}

impl Operator {
    /// Checks the configuration and binds the HTTP endpoint (if configured).
    pub async fn new(
        client: Client,
        config: OperatorConfig,
        meshes: Meshes,
    ) -> Result<Self, Error> {
        config.validate()?;
        let listener = match config.http_addr {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| Error::Listen { addr, source })?,
            ),
            None => None,
        };
        Ok(Operator {
            client,
            config,
            meshes,
            listener,
            metrics: Arc::new(Metrics::new()),
        })
    }

    /// Registers further metrics (e.g. the webhooks') to be served on `/metrics`, whose
    /// registry is prefixed `smi_bridge`. Call before [`Operator::run`].
    pub fn register_metrics(
        &mut self,
        register: impl FnOnce(&mut prometheus_client::registry::Registry),
    ) {
        if let Some(metrics) = Arc::get_mut(&mut self.metrics) {
            register(metrics.registry_mut());
        }
    }

    /// The address `/healthz`, `/readyz` and `/metrics` are served on.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Runs until `shutdown` turns true: then stops writing, releases the lease and returns.
    pub async fn run(self, shutdown: watch::Receiver<bool>) -> Result<(), Error> {
        let Operator {
            client,
            config,
            meshes,
            listener,
            metrics,
        } = self;
        let changed = Arc::new(Notify::new());
        let shared = Arc::new(Shared {
            index: RwLock::new(Index::default()),
            changed: changed.clone(),
            metrics: metrics.clone(),
        });
        let readiness = Arc::new(Readiness::default());
        if let Some(listener) = listener {
            tokio::spawn(serve(
                listener,
                readiness.clone(),
                metrics.clone(),
                shutdown.clone(),
            ));
        }
        let watchers = spawn_core(&client, config.namespace.as_deref(), &shared);
        let mut natives =
            NativeWatchers::new(client.clone(), config.namespace.clone(), shared.clone());
        let leadership = Leadership::new(config.lease.write_window());
        let elector = Elector::new(
            client.clone(),
            config.lease.clone(),
            leadership.clone(),
            changed.clone(),
            metrics.clone(),
        );
        let lease_task = tokio::spawn(elector.run(shutdown.clone()));
        let writer = Writer::new(
            client,
            leadership.clone(),
            config.writes.clone(),
            &config.lease.identity,
            metrics.clone(),
            shutdown.clone(),
        );
        tracing::info!(
            identity = %config.lease.identity,
            meshes = ?meshes.names(),
            default = ?config.mesh,
            namespace = ?config.namespace,
            "smi-bridge operator starting"
        );
        let result = reconcile_loop(Loop {
            config: &config,
            meshes: &meshes,
            shared: &shared,
            natives: &mut natives,
            writer: &writer,
            leadership: &leadership,
            readiness: &readiness,
            lease_task: &lease_task,
            shutdown,
        })
        .await;
        readiness.set(false);
        for task in &watchers {
            task.abort();
        }
        drop(natives);
        if let Err(error) = lease_task.await
            && result.is_ok()
        {
            return Err(Error::Task {
                task: "leader election",
                message: error.to_string(),
            });
        }
        tracing::info!("smi-bridge operator stopped");
        result
    }
}

struct Loop<'a> {
    config: &'a OperatorConfig,
    meshes: &'a Meshes,
    shared: &'a Arc<Shared>,
    natives: &'a mut NativeWatchers,
    writer: &'a Writer,
    leadership: &'a Leadership,
    readiness: &'a Readiness,
    lease_task: &'a tokio::task::JoinHandle<()>,
    shutdown: watch::Receiver<bool>,
}

/// Waits for a change (or a retry, or the resync), debounces, recomputes and — on the leader —
/// writes. Level-based: every round starts from the whole index.
async fn reconcile_loop(mut l: Loop<'_>) -> Result<(), Error> {
    let kinds = l.meshes.watched_kinds();
    let sources = core_sources();
    let mut next_due: Option<Instant> = None;
    let mut round: u64 = 0;
    loop {
        let resync = Instant::now() + l.config.resync;
        let deadline = next_due.map_or(resync, |due| due.min(resync));
        tokio::select! {
            _ = l.shared.changed.notified() => {}
            _ = tokio::time::sleep_until(deadline.into()) => {}
            _ = l.shutdown.wait_for(|stop| *stop) => return Ok(()),
        }
        tokio::select! {
            _ = tokio::time::sleep(l.config.debounce) => {}
            _ = l.shutdown.wait_for(|stop| *stop) => return Ok(()),
        }
        if l.lease_task.is_finished() {
            return Err(Error::Task {
                task: "leader election",
                message: "it ended before shutdown".into(),
            });
        }
        l.natives.sync(&kinds);
        let ready = {
            let index = l.shared.read();
            sources.iter().all(|s| index.synced(s))
        };
        l.readiness.set(ready);
        if !ready {
            continue;
        }
        round += 1;
        let started = Instant::now();
        let failures = l.writer.failures();
        let now = Time(Timestamp::now());
        let plan = {
            let index = l.shared.read();
            plan(
                &index,
                Inputs {
                    meshes: l.meshes,
                    options: &l.config.translate,
                    failures: &failures,
                    now: &now,
                },
            )
        };
        let (desired, conflicts) = (plan.desired, plan.conflicts);
        let leader = l.leadership.is_leader();
        let span = tracing::info_span!(
            "reconcile",
            round,
            leader,
            desired,
            conflicts,
            native_writes = plan.natives.len(),
            status_writes = plan.statuses.len(),
        );
        if leader {
            let outcome = l.writer.execute(plan).instrument(span).await;
            next_due = outcome.next_due;
            if outcome.failures_changed {
                l.shared.changed.notify_one();
            }
        } else {
            let _entered = span.enter();
            l.shared
                .metrics
                .set_queue_depth(plan.natives.len() + plan.statuses.len());
            tracing::debug!("not the leader: nothing written");
            next_due = None;
        }
        l.shared
            .metrics
            .reconciled(started.elapsed().as_secs_f64(), desired, conflicts);
    }
}

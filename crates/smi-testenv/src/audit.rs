//! The API server's audit log: every request at Metadata level, one JSON event per line.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::error::{Error, Result};

/// The audit policy: Metadata level for every request, one event per request (the
/// `ResponseComplete` stage, or `Panic`), so counting events counts requests.
pub(crate) const AUDIT_POLICY: &str = "\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived, ResponseStarted]
rules:
- level: Metadata
";

/// The verbs that change objects.
pub const WRITE_VERBS: [&str; 5] = ["create", "update", "patch", "delete", "deletecollection"];

/// One audit event (the fields tests look at; see `audit.k8s.io/v1` `Event`).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// The request's unique id.
    #[serde(rename = "auditID")]
    pub audit_id: String,
    /// The stage (`ResponseComplete` or `Panic` with this policy).
    pub stage: String,
    /// The Kubernetes verb: get, list, watch, create, update, patch, delete, deletecollection.
    pub verb: String,
    /// The request URI.
    #[serde(rename = "requestURI")]
    pub request_uri: String,
    /// Who made the request.
    pub user: AuditUser,
    /// The object the request was about, for resource requests.
    #[serde(default)]
    pub object_ref: Option<AuditObjectRef>,
    /// The response's status, if any.
    #[serde(default)]
    pub response_status: Option<AuditStatus>,
}

/// The authenticated user of an [`AuditEvent`].
#[derive(Clone, Debug, Deserialize)]
pub struct AuditUser {
    /// The user name.
    #[serde(default)]
    pub username: String,
    /// The groups.
    #[serde(default)]
    pub groups: Vec<String>,
}

/// The object an [`AuditEvent`] refers to.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditObjectRef {
    /// The resource (plural), e.g. `configmaps`.
    #[serde(default)]
    pub resource: String,
    /// The namespace, if namespaced.
    #[serde(default)]
    pub namespace: Option<String>,
    /// The object's name, if the request named one.
    #[serde(default)]
    pub name: Option<String>,
    /// The API group (empty for core).
    #[serde(default)]
    pub api_group: Option<String>,
    /// The subresource, e.g. `status`.
    #[serde(default)]
    pub subresource: Option<String>,
}

/// The response status of an [`AuditEvent`].
#[derive(Clone, Debug, Deserialize)]
pub struct AuditStatus {
    /// The HTTP status code.
    #[serde(default)]
    pub code: u16,
}

impl AuditEvent {
    /// Whether the verb changes objects (see [`WRITE_VERBS`]).
    pub fn is_write(&self) -> bool {
        WRITE_VERBS.contains(&self.verb.as_str())
    }

    /// The response's HTTP status code (0 when unknown).
    pub fn code(&self) -> u16 {
        self.response_status.as_ref().map_or(0, |s| s.code)
    }
}

/// Reads the audit log of a [`crate::TestEnv`] started with [`crate::Config::audit_log`].
#[derive(Clone, Debug)]
pub struct AuditLog {
    path: PathBuf,
}

impl AuditLog {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self { path }
    }

    /// The log file.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Every complete event written so far (a line still being written is skipped).
    pub fn events(&self) -> Result<Vec<AuditEvent>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("reading the audit log", &self.path, e)),
        };
        let complete = text.rfind('\n').map_or("", |end| &text[..end]);
        complete
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                serde_json::from_str(line).map_err(|e| Error::Yaml {
                    source_name: self.path.display().to_string(),
                    reason: format!("an audit event did not parse: {e}: {line}"),
                })
            })
            .collect()
    }

    /// The events of requests made by `user`.
    pub fn events_by(&self, user: &str) -> Result<Vec<AuditEvent>> {
        Ok(self
            .events()?
            .into_iter()
            .filter(|e| e.user.username == user)
            .collect())
    }

    /// The write requests (create, update, patch, delete, deletecollection) made by `user`,
    /// whatever their outcome.
    pub fn writes_by(&self, user: &str) -> Result<Vec<AuditEvent>> {
        Ok(self
            .events_by(user)?
            .into_iter()
            .filter(AuditEvent::is_write)
            .collect())
    }

    /// Waits until some event satisfies `found`, polling every 100 ms, and returns all events.
    ///
    /// Use it with a marker request made last: once its event is there, so are the events of
    /// the requests made before it.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        found: impl Fn(&AuditEvent) -> bool,
    ) -> Result<Vec<AuditEvent>> {
        let started = Instant::now();
        loop {
            let events = self.events()?;
            if events.iter().any(&found) {
                return Ok(events);
            }
            if started.elapsed() > timeout {
                return Err(Error::Timeout {
                    what: format!("an audit event in {}", self.path.display()),
                    timeout,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

//! Errors of the operator: each says what failed, where, and what to do.

use std::net::SocketAddr;

/// What can stop the operator. Errors of single writes are not here: they are retried with
/// backoff, counted in the metrics and reported in the SMI objects' status.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The HTTP endpoint for probes and metrics could not listen.
    #[error(
        "cannot listen on {addr} for /healthz, /readyz and /metrics: {source}; \
         choose another address with --http-addr"
    )]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The configuration is inconsistent.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A task of the operator ended unexpectedly.
    #[error("the {task} task stopped unexpectedly: {message}")]
    Task {
        /// Which task.
        task: &'static str,
        /// What happened.
        message: String,
    },
}

/// Why one request to the API server failed, as a metric label and for the retry policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WriteErrorClass {
    /// 409: someone changed the object since we read it (or it exists already): retry soon.
    Conflict,
    /// 404: the object is gone.
    NotFound,
    /// 422 or 400: the API server refused the object.
    Invalid,
    /// 401/403: missing RBAC permissions.
    Forbidden,
    /// 429: the API server throttles us.
    Throttled,
    /// 5xx.
    Server,
    /// The request did not get an answer (connection, TLS, timeout).
    Transport,
}

impl WriteErrorClass {
    /// The `reason` label of the error metric.
    pub fn label(self) -> &'static str {
        match self {
            WriteErrorClass::Conflict => "conflict",
            WriteErrorClass::NotFound => "not_found",
            WriteErrorClass::Invalid => "invalid",
            WriteErrorClass::Forbidden => "forbidden",
            WriteErrorClass::Throttled => "throttled",
            WriteErrorClass::Server => "server",
            WriteErrorClass::Transport => "transport",
        }
    }

    /// Classifies a client error.
    pub fn of(error: &kube::Error) -> Self {
        match error {
            kube::Error::Api(status) => match status.code {
                409 => WriteErrorClass::Conflict,
                404 => WriteErrorClass::NotFound,
                400 | 422 => WriteErrorClass::Invalid,
                401 | 403 => WriteErrorClass::Forbidden,
                429 => WriteErrorClass::Throttled,
                _ => WriteErrorClass::Server,
            },
            _ => WriteErrorClass::Transport,
        }
    }
}

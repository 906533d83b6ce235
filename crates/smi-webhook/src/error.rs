//! Errors of the webhook server, its TLS sources and the migration.

use std::path::PathBuf;

/// What failed, where, and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The listen address could not be bound.
    #[error("cannot listen on {address}: {source}; choose a free port or address")]
    Bind {
        /// The address asked for.
        address: std::net::SocketAddr,
        /// The socket error.
        source: std::io::Error,
    },
    /// A certificate or key file could not be read.
    #[error("cannot read {}: {source}; check the path and the mounted Secret", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A certificate or key is not usable for serving TLS.
    #[error("invalid TLS material ({what}): {problem}")]
    InvalidTls {
        /// Which certificate or key, e.g. `tls.crt of Secret smi-bridge/smi-bridge-webhook-tls`.
        what: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A certificate could not be generated.
    #[error("cannot generate {what}: {source}")]
    Generate {
        /// The certificate being generated.
        what: String,
        /// rcgen's error.
        source: rcgen::Error,
    },
    /// A Kubernetes API request failed.
    #[error("{action}: {source}")]
    Kube {
        /// What was being done, e.g. `reading Secret smi-bridge/smi-bridge-webhook-tls`.
        action: String,
        /// The client error.
        source: Box<kube::Error>,
    },
    /// A CRD cannot be taken over or migrated safely.
    #[error("{crd}: {problem}")]
    Migration {
        /// The CRD's name.
        crd: String,
        /// What prevents it, and what to do.
        problem: String,
    },
    /// Waited too long for the API server.
    #[error("timed out after {seconds} s {waiting_for}")]
    Timeout {
        /// What was awaited.
        waiting_for: String,
        /// How long.
        seconds: u64,
    },
}

impl Error {
    /// A Kubernetes API error while doing `action`.
    pub(crate) fn kube(action: impl Into<String>, source: kube::Error) -> Self {
        Error::Kube {
            action: action.into(),
            source: Box::new(source),
        }
    }

    /// Invalid TLS material.
    pub(crate) fn tls(what: impl Into<String>, problem: impl ToString) -> Self {
        Error::InvalidTls {
            what: what.into(),
            problem: problem.to_string(),
        }
    }
}

/// The result of fallible webhook operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// True when a Kubernetes error is the API server answering `code`.
pub(crate) fn is_status(error: &kube::Error, code: u16) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == code)
}

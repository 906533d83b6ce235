//! The error type of the test environment.

use std::path::PathBuf;
use std::time::Duration;

/// What went wrong while starting or using the test control plane.
///
/// Every message names what failed and where, and says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The control plane's programs could not be found or built.
    #[error(
        "the control plane programs are unavailable: {reason}; set SMI_BRIDGE_BIN_DIR to a \
         directory holding etcd, kube-apiserver, kube-controller-manager, kubectl and helm, or \
         install Go >= 1.24 so that tools/build.sh can build them"
    )]
    BinariesUnavailable {
        /// Why the programs are missing.
        reason: String,
    },

    /// A component exited while the control plane was starting or running.
    #[error("{component} exited unexpectedly ({status}); logs:\n{logs}")]
    ComponentExited {
        /// The component's name, e.g. `etcd`.
        component: String,
        /// How it exited.
        status: String,
        /// The tails of every component's log.
        logs: String,
    },

    /// A component did not become ready in time.
    #[error(
        "{component} did not become ready within {}s (raise SMI_TESTENV_START_TIMEOUT on a slow \
         machine); last probe: {last_probe}; logs:\n{logs}",
        timeout.as_secs()
    )]
    NotReady {
        /// The component's name.
        component: String,
        /// How long we waited.
        timeout: Duration,
        /// The outcome of the last readiness probe.
        last_probe: String,
        /// The tails of every component's log.
        logs: String,
    },

    /// Something did not reach the expected state in time.
    #[error("timed out after {}s waiting for {what}", timeout.as_secs())]
    Timeout {
        /// What we waited for.
        what: String,
        /// How long we waited.
        timeout: Duration,
    },

    /// A file or process operation failed.
    #[error("{action} ({}): {source}", path.display())]
    Io {
        /// What we tried to do.
        action: &'static str,
        /// The file or program involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// Generating a key or certificate failed.
    #[error("generating the {what} failed: {source}")]
    Certificate {
        /// The key or certificate being generated.
        what: String,
        /// The underlying error.
        #[source]
        source: rcgen::Error,
    },

    /// A minted user was given more groups than a client certificate can carry here.
    #[error(
        "user {user:?} was given {groups} groups but at most {} fit in its client certificate; \
         bind roles to fewer groups",
        crate::certs::MAX_ORGANIZATIONS
    )]
    TooManyGroups {
        /// The user name.
        user: String,
        /// How many groups were asked for.
        groups: usize,
    },

    /// A request to the API server failed (including rejections by validation or admission).
    #[error("{action} failed: {source}")]
    Kube {
        /// What we asked the API server to do.
        action: String,
        /// The underlying error; [`Error::status_code`] extracts the HTTP status.
        #[source]
        source: kube::Error,
    },

    /// A kubeconfig could not be turned into a client.
    #[error("building a client from the kubeconfig of {user:?} failed: {reason}")]
    ClientConfig {
        /// The user the kubeconfig is for.
        user: String,
        /// The underlying error.
        reason: String,
    },

    /// A YAML document could not be parsed or lacks required fields.
    #[error("invalid YAML in {source_name}: {reason}")]
    Yaml {
        /// Where the YAML came from (a file path or a description).
        source_name: String,
        /// What is wrong with it.
        reason: String,
    },

    /// No CRD files were found where some were expected.
    #[error("no *.yaml files in {}; {hint}", dir.display())]
    NoCrds {
        /// The directory searched.
        dir: PathBuf,
        /// What to do about it.
        hint: &'static str,
    },

    /// A command-line tool run against the environment failed.
    #[error("`{command}` exited with {status}; stderr:\n{stderr}")]
    Tool {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// Its standard error.
        stderr: String,
    },

    /// The shared environment failed to start (every test asking for it gets this).
    #[error("the shared test control plane failed to start: {message}")]
    SharedStartFailed {
        /// The start error's message.
        message: String,
        /// Whether it failed because the programs are unavailable.
        programs_missing: bool,
    },

    /// The shared environment was already started with another configuration.
    #[error(
        "the shared test control plane was started with {existing:?} but {requested:?} was \
         requested; one test binary has one control plane: put tests needing another \
         configuration in their own file under tests/"
    )]
    SharedConfigMismatch {
        /// The configuration it runs with.
        existing: Box<crate::Config>,
        /// The configuration asked for.
        requested: Box<crate::Config>,
    },
}

impl Error {
    /// The HTTP status code of an API server rejection (e.g. 422 for a validation failure).
    pub fn status_code(&self) -> Option<u16> {
        match self {
            Error::Kube {
                source: kube::Error::Api(status),
                ..
            } => Some(status.code),
            _ => None,
        }
    }

    /// The API server's message for a rejected request.
    pub fn status_message(&self) -> Option<&str> {
        match self {
            Error::Kube {
                source: kube::Error::Api(status),
                ..
            } => Some(&status.message),
            _ => None,
        }
    }

    pub(crate) fn kube(action: impl Into<String>, source: kube::Error) -> Self {
        Error::Kube {
            action: action.into(),
            source,
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn cert(what: impl Into<String>, source: rcgen::Error) -> Self {
        Error::Certificate {
            what: what.into(),
            source,
        }
    }
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

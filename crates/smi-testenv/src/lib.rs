//! A real Kubernetes control plane for smi-bridge's tests and local use: etcd and kube-apiserver
//! (optionally kube-controller-manager) built from source by `tools/build.sh`, started on free
//! loopback ports with throw-away certificates. No Docker, no kubelet.
//!
//! ```no_run
//! # async fn demo() -> smi_testenv::Result<()> {
//! // In a #[tokio::test]: one control plane per test binary, one namespace per test.
//! let env = smi_testenv::shared().await?;
//! let ns = env.namespace("my-test").await?;
//! smi_testenv::install_upstream(ns.client(), smi_testenv::Mesh::Istio).await?;
//! # Ok(()) }
//! ```
//!
//! Tests call [`require_env!`], which fails the test when `CI=true` and skips it (with a
//! message) elsewhere when the programs cannot be found or built. See `docs/control-plane.md`.

#![warn(missing_docs)]

mod aggregation;
mod apply;
mod audit;
mod binaries;
mod certs;
mod crds;
mod env;
mod error;
pub mod fixtures;
mod process;

use std::sync::atomic::{AtomicU64, Ordering};

pub use aggregation::{AggregatedApi, ApiServiceGuard};
pub use apply::{
    ApplyMode, CRD_TIMEOUT, FIELD_MANAGER, apply_json, apply_yaml, install_crd_files, install_crds,
    parse_documents, wait_for_crds, yaml_files,
};
pub use audit::{AuditEvent, AuditLog, AuditObjectRef, AuditStatus, AuditUser, WRITE_VERBS};
pub use binaries::{PROGRAMS, bin_dir, repo_root};
pub use certs::{CertificateAuthority, IssuedCert, MAX_ORGANIZATIONS};
pub use crds::{Mesh, install_smi_crds, install_upstream, smi_crds_dir, upstream_dir};
pub use env::{ADMIN_USER, CONTROLLERS, Config, FRONT_PROXY_CLIENT, TestEnv, TestNamespace, User};
pub use error::{Error, Result};

/// The shared control plane of this test binary, started on first use with
/// [`Config::default`] (audit log on, no kube-controller-manager).
pub async fn shared() -> Result<&'static TestEnv> {
    shared_with(Config::default()).await
}

/// The shared control plane of this test binary, started on first use with `config`; every
/// later call must ask for the same configuration ([`Error::SharedConfigMismatch`]).
///
/// Its processes are killed and its temp directory removed when the binary exits (an `atexit`
/// handler), and the kernel kills them if the binary dies any other way.
pub async fn shared_with(config: Config) -> Result<&'static TestEnv> {
    static SHARED: tokio::sync::OnceCell<Result<TestEnv, (String, bool)>> =
        tokio::sync::OnceCell::const_new();
    let started = SHARED
        .get_or_init(|| async {
            let result = TestEnv::start(config.clone()).await;
            if result.is_ok() {
                register_exit_cleanup(cleanup_shared);
            }
            result.map_err(|e| {
                (
                    e.to_string(),
                    matches!(e, Error::BinariesUnavailable { .. }),
                )
            })
        })
        .await;
    extern "C" fn cleanup_shared() {
        if let Some(Ok(env)) = SHARED.get() {
            env.kill_all();
            if crate::env::keep_dir() {
                eprintln!("smi-testenv: kept {}", env.dir().display());
            } else {
                let _ = std::fs::remove_dir_all(env.dir());
            }
        }
    }
    match started {
        Ok(env) if *env.config() == config => Ok(env),
        Ok(env) => Err(Error::SharedConfigMismatch {
            existing: Box::new(env.config().clone()),
            requested: Box::new(config),
        }),
        Err((message, programs_missing)) => Err(Error::SharedStartFailed {
            message: message.clone(),
            programs_missing: *programs_missing,
        }),
    }
}

fn register_exit_cleanup(handler: extern "C" fn()) {
    // SAFETY: `handler` is a plain function that only kills and reaps our children and removes
    // a directory; statics are never dropped, so this is the only cleanup at normal exit.
    if unsafe { libc::atexit(handler) } != 0 {
        tracing::warn!("could not register the exit cleanup; the temp directory will remain");
    }
}

/// Whether this is CI (`CI=true` or `CI=1`): tests must then fail, never skip.
pub fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// Whether a test may skip instead of failing on `err`: only outside CI, and only when the
/// programs are unavailable (a control plane that fails to start is always a failure).
pub fn may_skip(err: &Error) -> bool {
    !is_ci()
        && match err {
            Error::BinariesUnavailable { .. } => true,
            Error::SharedStartFailed {
                programs_missing, ..
            } => *programs_missing,
            _ => false,
        }
}

/// Gets the shared control plane in a test (`require_env!()` or `require_env!(config)`),
/// returning from the test with a `SKIPPED` message when [`may_skip`] allows it and panicking
/// with the error otherwise. Use in `async` tests returning `()`.
#[macro_export]
macro_rules! require_env {
    () => {
        $crate::require_env!($crate::Config::default())
    };
    ($config:expr) => {
        match $crate::shared_with($config).await {
            Ok(env) => env,
            Err(err) if $crate::may_skip(&err) => {
                eprintln!("SKIPPED (not CI, no control plane): {err}");
                return;
            }
            Err(err) => panic!("the test control plane is unavailable: {err}"),
        }
    };
}

/// `<prefix>-<6 random hex digits>`, lower-cased and trimmed to a valid DNS label.
pub fn unique_name(prefix: &str) -> String {
    use std::hash::{BuildHasher, RandomState};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let random = RandomState::new().hash_one((n, std::process::id(), std::time::SystemTime::now()));
    let mut base: String = prefix
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    base.truncate(55);
    let base = base.trim_matches('-');
    let base = if base.is_empty() { "test" } else { base };
    format!("{base}-{:06x}", random & 0xff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_are_dns_labels() {
        let a = unique_name("My_Test.Case");
        let b = unique_name("My_Test.Case");
        assert_ne!(a, b);
        assert!(a.starts_with("my-test-case-"), "{a}");
        let long = unique_name(&"x".repeat(100));
        assert!(long.len() <= 63, "{long}");
        assert!(unique_name("--").starts_with("test-"));
    }

    #[test]
    fn skipping_is_only_for_missing_programs_outside_ci() {
        let missing = Error::BinariesUnavailable {
            reason: "no go".into(),
        };
        let shared_missing = Error::SharedStartFailed {
            message: missing.to_string(),
            programs_missing: true,
        };
        let crashed = Error::SharedStartFailed {
            message: "etcd exited".into(),
            programs_missing: false,
        };
        if is_ci() {
            assert!(!may_skip(&missing) && !may_skip(&shared_missing));
        } else {
            assert!(may_skip(&missing) && may_skip(&shared_missing));
        }
        assert!(!may_skip(&crashed));
    }
}

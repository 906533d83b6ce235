//! Finding (or building) etcd, kube-apiserver, kube-controller-manager, kubectl and helm.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::error::{Error, Result};

/// The programs a bin directory must hold.
pub const PROGRAMS: [&str; 5] = [
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kubectl",
    "helm",
];

/// The repository root (this crate lives in `<repo>/crates/smi-testenv`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The directory holding the control plane's programs: `$SMI_BRIDGE_BIN_DIR` if set, else the
/// directory printed by `<repo>/tools/build.sh`, which builds missing programs from the pinned
/// Go modules (minutes on a fresh machine, instant afterwards). Resolved once per process.
///
/// Blocking: call it from a blocking context (the async start does so).
pub fn bin_dir() -> Result<PathBuf> {
    static BIN_DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN_DIR
        .get_or_init(|| resolve().map_err(|e| e.to_string()))
        .clone()
        .map_err(|reason| Error::BinariesUnavailable { reason })
}

fn resolve() -> Result<PathBuf, String> {
    let dir = match std::env::var_os("SMI_BRIDGE_BIN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => build()?,
    };
    let missing: Vec<&str> = PROGRAMS
        .into_iter()
        .filter(|p| !dir.join(p).is_file())
        .collect();
    if missing.is_empty() {
        Ok(dir)
    } else {
        Err(format!("{} lacks {}", dir.display(), missing.join(", ")))
    }
}

fn build() -> Result<PathBuf, String> {
    let script = repo_root().join("tools/build.sh");
    tracing::info!(script = %script.display(), "locating the control plane programs (a cold build takes minutes)");
    // stderr goes to the terminal so that a cold build shows its progress.
    let output = Command::new("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("running {} failed: {e}", script.display()))?;
    if !output.status.success() {
        return Err(format!(
            "{} failed ({}); see its messages above",
            script.display(),
            output.status
        ));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    match stdout.lines().last().map(str::trim) {
        Some(line) if !line.is_empty() => Ok(PathBuf::from(line)),
        _ => Err(format!("{} printed no bin directory", script.display())),
    }
}

//! Writes the SMI CRDs generated from the types into `crds/` at the workspace root and into the
//! Helm chart's `charts/smi-bridge/crds/` (Helm installs that directory before the templates).
//!
//! `crdgen` rewrites every file; `crdgen --check` writes nothing and exits non-zero, listing
//! each file that differs from what the code generates.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let check = match std::env::args().nth(1).as_deref() {
        None => false,
        Some("--check") => true,
        Some(other) => {
            eprintln!("crdgen: unknown argument `{other}`; usage: crdgen [--check]");
            return ExitCode::from(2);
        }
    };
    let result = crds_directories()
        .iter()
        .try_fold(Vec::new(), |mut drifted, directory| {
            drifted.extend(run(directory, check)?);
            Ok::<_, Box<dyn std::error::Error>>(drifted)
        });
    match result {
        Ok(drifted) if drifted.is_empty() => ExitCode::SUCCESS,
        Ok(drifted) => {
            eprintln!("crdgen: these files differ from the generated CRDs:");
            for path in drifted {
                eprintln!("  {}", path.display());
            }
            eprintln!("run `cargo run -p smi-api --bin crdgen` to regenerate them");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("crdgen: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `crds/` at the workspace root (two levels above this crate) and the chart's `crds/`.
fn crds_directories() -> [PathBuf; 2] {
    let manifest_directory = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = manifest_directory
        .ancestors()
        .nth(2)
        .unwrap_or(manifest_directory);
    [
        workspace.join("crds"),
        workspace.join("charts/smi-bridge/crds"),
    ]
}

/// Writes (or, with `check`, compares) every CRD file; returns the files that differed.
fn run(directory: &Path, check: bool) -> Result<Vec<PathBuf>, Box<dyn std::error::Error>> {
    if !check {
        std::fs::create_dir_all(directory)?;
    }
    let mut drifted = Vec::new();
    for definition in smi_api::crd::all_crds() {
        let path = directory.join(smi_api::crd::file_name(&definition));
        let generated = smi_api::crd::to_yaml(&definition)?;
        let current = std::fs::read_to_string(&path).ok();
        if current.as_deref() == Some(generated.as_str()) {
            continue;
        }
        if check {
            drifted.push(path);
        } else {
            std::fs::write(&path, generated)?;
            println!("wrote {}", path.display());
        }
    }
    Ok(drifted)
}

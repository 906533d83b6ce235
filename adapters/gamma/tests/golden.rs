//! Golden files: the `gamma` backend's output for every case of the table (regenerate with
//! `UPDATE_GOLDEN=1 cargo test -p smi-bridge-gamma --test golden`, then review every diff).

use std::path::Path;

use smi_bridge_gamma::{GammaBackend, GammaOptions, HttpRouteVersion, TcpRouteSupport};
use smi_translate::oracle::check_golden;

#[test]
fn golden_files_match() {
    let backend = GammaBackend::new(GammaOptions::new(
        HttpRouteVersion::V1,
        TcpRouteSupport::V1alpha2,
    ));
    let differing = check_golden(
        &backend,
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden")),
    )
    .expect("the case table renders");
    assert!(
        differing.is_empty(),
        "golden files differ:\n{}",
        differing.join("\n")
    );
}

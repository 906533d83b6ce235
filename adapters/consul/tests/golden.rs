//! Golden files: the Consul objects and statuses of every case (`UPDATE_GOLDEN=1` rewrites them).

use std::path::Path;

use smi_bridge_consul::ConsulBackend;
use smi_translate::oracle::check_golden;

#[test]
fn golden() {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden"));
    let differing = check_golden(&ConsulBackend::default(), dir).expect("the case table loads");
    assert!(
        differing.is_empty(),
        "golden files differ:\n{}",
        differing.join("\n")
    );
}

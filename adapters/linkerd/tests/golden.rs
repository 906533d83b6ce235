//! Golden files: the `linkerd` backend's output for every case of the table, in both routing
//! modes (regenerate with `UPDATE_GOLDEN=1 cargo test -p smi-bridge-linkerd --test golden`, then
//! review every diff).
//!
//! - `golden/httproute`: the defaults (Linkerd ≥ 2.18), with TCPRoute served and probe paths
//!   `/healthz` and `/ready`.
//! - `golden/serviceprofile`: ServiceProfiles, and identity strings in MeshTLSAuthentications.

use std::path::Path;

use smi_bridge_gamma::TcpRouteSupport;
use smi_bridge_linkerd::{ClientIdentities, LinkerdBackend, LinkerdOptions, Routing};
use smi_translate::oracle::check_golden;

fn check(backend: &LinkerdBackend, dir: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(dir);
    let differing = check_golden(backend, &dir).expect("the case table renders");
    assert!(
        differing.is_empty(),
        "golden files differ:\n{}",
        differing.join("\n")
    );
}

#[test]
fn httproute_mode() {
    let options = LinkerdOptions {
        tcp_routes: TcpRouteSupport::V1alpha2,
        probe_paths: vec!["/healthz".to_string(), "/ready".to_string()],
        ..LinkerdOptions::default()
    };
    check(&LinkerdBackend::new(options), "httproute");
}

#[test]
fn serviceprofile_mode() {
    let options = LinkerdOptions {
        routing: Routing::ServiceProfile,
        client_identities: ClientIdentities::default_strings(),
        ..LinkerdOptions::default()
    };
    check(&LinkerdBackend::new(options), "serviceprofile");
}

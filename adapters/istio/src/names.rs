//! Names of the objects the backend writes.

use std::collections::BTreeMap;

use smi_translate::native::bounded_name;

/// Longest object name Kubernetes allows (a DNS subdomain).
const MAX_NAME: usize = 253;

/// The VirtualService of a TrafficSplit: `smi-<split>`.
pub(crate) fn virtual_service(split: &str) -> String {
    bounded_name(&format!("smi-{split}"), MAX_NAME)
}

/// A policy for one pod-template label set of a destination: `<prefix>-<sa>-<labels hash>`.
/// The hash keeps the name stable when other label sets of the same ServiceAccount come and go
/// (a rename would delete and recreate the policy, opening the pods in between).
pub(crate) fn pod_set_policy(
    prefix: &str,
    service_account: &str,
    labels: &BTreeMap<String, String>,
) -> String {
    bounded_name(
        &format!("{prefix}-{service_account}-{}", labels_hash(labels)),
        MAX_NAME,
    )
}

/// FNV-1a (64 bit, folded to 32) of the label set, as 8 hex digits: stable across releases and platforms.
fn labels_hash(labels: &BTreeMap<String, String>) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (key, value) in labels {
        for byte in key
            .bytes()
            .chain([b'='])
            .chain(value.bytes())
            .chain([b'\n'])
        {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{:08x}", (hash >> 32) ^ (hash & 0xffff_ffff))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_set_names_depend_on_the_labels_only() {
        let a = BTreeMap::from([("app".to_string(), "api".to_string())]);
        let b = BTreeMap::from([
            ("app".to_string(), "api".to_string()),
            ("v".to_string(), "2".to_string()),
        ]);
        assert_eq!(
            pod_set_policy("smi-access", "api", &a),
            pod_set_policy("smi-access", "api", &a)
        );
        assert_ne!(
            pod_set_policy("smi-access", "api", &a),
            pod_set_policy("smi-access", "api", &b)
        );
        assert!(pod_set_policy("smi-access", "api", &a).starts_with("smi-access-api-"));
        assert_eq!(
            pod_set_policy("smi-access", "api", &a).len(),
            "smi-access-api-".len() + 8
        );
    }

    #[test]
    fn long_names_are_bounded() {
        assert!(virtual_service(&"x".repeat(300)).len() <= MAX_NAME);
    }
}

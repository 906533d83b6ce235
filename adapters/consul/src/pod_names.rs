//! Pod names of workloads, as the Kubernetes controllers generate them.
//!
//! consul-k8s records each instance's pod name in the service meta `pod-name`; it records no pod
//! labels. A ServiceResolver subset that must hold the pods of some workloads only (a backend
//! Service that selects part of the root's pods) therefore filters on the pod name, which the
//! workload controllers derive from the workload's name.

use smi_translate::state::{WorkloadKey, WorkloadKind};

/// Characters of generated name parts (`pod-template-hash`, random suffixes): a superset of the
/// alphabet Kubernetes uses (`bcdfghjklmnpqrstvwxz2456789`).
const GENERATED: &str = "[0-9a-z]";

/// Kubernetes cuts a `generateName` base to this length before adding 5 random characters.
const MAX_GENERATE_BASE: usize = 58;

/// The longest `pod-template-hash`.
const MAX_TEMPLATE_HASH: usize = 10;

/// A full-match regular expression for the names of the pods of one workload, or why there is
/// none (names long enough to be cut by the API server).
pub fn pod_name_pattern(workload: &WorkloadKey) -> Result<String, String> {
    let name = &workload.key.name;
    let escaped = escape(name);
    let (pattern, base_len) = match workload.kind {
        WorkloadKind::Deployment => (
            format!("{escaped}-{GENERATED}{{1,{MAX_TEMPLATE_HASH}}}-{GENERATED}{{5}}"),
            name.len() + 2 + MAX_TEMPLATE_HASH,
        ),
        WorkloadKind::DaemonSet | WorkloadKind::ReplicaSet => {
            (format!("{escaped}-{GENERATED}{{5}}"), name.len() + 1)
        }
        WorkloadKind::StatefulSet => (format!("{escaped}-[0-9]+"), 0),
        WorkloadKind::Pod => (escaped, 0),
    };
    if base_len > MAX_GENERATE_BASE {
        return Err(format!(
            "the pod names of {:?} `{name}` are cut by the API server (name longer than {} characters), so no pod-name filter can select them",
            workload.kind,
            MAX_GENERATE_BASE - (base_len - name.len())
        ));
    }
    Ok(pattern)
}

/// Escapes a Kubernetes name for a regular expression (`.` is its only special character;
/// anything else unusual is escaped too).
fn escape(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c.to_string()
            } else {
                regex::escape(&c.to_string())
            }
        })
        .collect()
}

/// A realistic name of one pod of a workload (for checks and for the evaluator).
pub fn sample_pod_name(workload: &WorkloadKey) -> String {
    let name = &workload.key.name;
    match workload.kind {
        WorkloadKind::Deployment => format!("{name}-5d8f7c9b6d-x2k9p"),
        WorkloadKind::DaemonSet | WorkloadKind::ReplicaSet => format!("{name}-x2k9p"),
        WorkloadKind::StatefulSet => format!("{name}-0"),
        WorkloadKind::Pod => name.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smi_translate::ObjectKey;

    fn key(kind: WorkloadKind, name: &str) -> WorkloadKey {
        WorkloadKey {
            key: ObjectKey::new("ns", name),
            kind,
        }
    }

    fn matches(pattern: &str, name: &str) -> bool {
        regex::Regex::new(&format!("^(?:{pattern})$"))
            .unwrap()
            .is_match(name)
    }

    #[test]
    fn patterns_match_their_own_pods_only() {
        let web = key(WorkloadKind::Deployment, "web");
        let web_v1 = key(WorkloadKind::Deployment, "web-v1");
        let web_v1_ds = key(WorkloadKind::DaemonSet, "web-v1");
        let pattern = pod_name_pattern(&web).unwrap();
        assert!(matches(&pattern, &sample_pod_name(&web)));
        assert!(!matches(&pattern, &sample_pod_name(&web_v1)));
        // A DaemonSet `web-v1` has pods `web-v1-xxxxx`, which look like pods of Deployment `web`:
        // callers must check samples of the other workloads.
        assert!(matches(&pattern, &sample_pod_name(&web_v1_ds)));
        let set = key(WorkloadKind::StatefulSet, "db.v1");
        let pattern = pod_name_pattern(&set).unwrap();
        assert!(matches(&pattern, "db.v1-12"));
        assert!(!matches(&pattern, "dbxv1-12"));
    }

    #[test]
    fn long_deployment_names_have_no_pattern() {
        let long = key(WorkloadKind::Deployment, &"a".repeat(47));
        assert!(
            pod_name_pattern(&long)
                .unwrap_err()
                .contains("cut by the API server")
        );
        assert!(pod_name_pattern(&key(WorkloadKind::Deployment, &"a".repeat(46))).is_ok());
    }
}

//! ServiceResolver subset filters (Consul's filter expression language), in the two forms
//! smi-bridge writes.

/// Service meta consul-k8s sets to the name of the Kubernetes Service that registered the
/// instance.
pub const KUBERNETES_SERVICE_META: &str = "k8s-service-name";
/// Service meta consul-k8s sets to the instance's pod name.
pub const POD_NAME_META: &str = "pod-name";

/// A subset filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubsetFilter {
    /// Instances registered by this Kubernetes Service (all instances of the Consul service).
    RegisteredBy(String),
    /// Instances whose pod name fully matches this expression.
    PodName(String),
}

impl SubsetFilter {
    /// A filter for pods whose names fully match one of the patterns.
    pub fn pod_names(patterns: &[String]) -> Self {
        SubsetFilter::PodName(format!("^(?:{})$", patterns.join("|")))
    }

    /// The filter expression.
    pub fn expression(&self) -> String {
        let (meta, operator, value) = match self {
            SubsetFilter::RegisteredBy(name) => (KUBERNETES_SERVICE_META, "==", name),
            SubsetFilter::PodName(regex) => (POD_NAME_META, "matches", regex),
        };
        format!("Service.Meta[\"{meta}\"] {operator} {}", quote(value))
    }

    /// Parses an expression written by [`SubsetFilter::expression`].
    pub fn parse(expression: &str) -> Result<Self, String> {
        let unsupported =
            || format!("subset filter `{expression}` is not a form smi-bridge writes");
        for (meta, operator) in [(KUBERNETES_SERVICE_META, "=="), (POD_NAME_META, "matches")] {
            let prefix = format!("Service.Meta[\"{meta}\"] {operator} ");
            if let Some(value) = expression.strip_prefix(&prefix) {
                let value: String = serde_json::from_str(value).map_err(|_| unsupported())?;
                return Ok(if meta == KUBERNETES_SERVICE_META {
                    SubsetFilter::RegisteredBy(value)
                } else {
                    SubsetFilter::PodName(value)
                });
            }
        }
        Err(unsupported())
    }

    /// Whether an instance with this registering Service and pod name passes the filter.
    pub fn accepts(&self, registered_by: &str, pod_name: &str) -> Result<bool, String> {
        match self {
            SubsetFilter::RegisteredBy(name) => Ok(name == registered_by),
            SubsetFilter::PodName(regex) => regex::Regex::new(regex)
                .map(|r| r.is_match(pod_name))
                .map_err(|e| format!("subset filter regex `{regex}` does not compile: {e}")),
        }
    }
}

/// A double-quoted string literal (the escapes of JSON, which the filter language shares).
fn quote(value: &str) -> String {
    serde_json::Value::String(value.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_round_trip() {
        for filter in [
            SubsetFilter::RegisteredBy("web".into()),
            SubsetFilter::pod_names(&["web\\-v1-[0-9a-z]{5}".into(), "db-[0-9]+".into()]),
        ] {
            assert_eq!(SubsetFilter::parse(&filter.expression()).unwrap(), filter);
        }
        assert_eq!(
            SubsetFilter::RegisteredBy("web".into()).expression(),
            r#"Service.Meta["k8s-service-name"] == "web""#
        );
        assert!(SubsetFilter::parse("Service.Meta.version == v1").is_err());
    }

    #[test]
    fn pod_name_filters_are_anchored() {
        let filter = SubsetFilter::pod_names(&["a-[0-9]+".into(), "b".into()]);
        assert!(filter.accepts("x", "a-1").unwrap());
        assert!(filter.accepts("x", "b").unwrap());
        assert!(!filter.accepts("x", "xa-1").unwrap());
        assert!(!filter.accepts("x", "bb").unwrap());
    }
}

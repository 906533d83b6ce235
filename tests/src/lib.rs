//! End-to-end tests across smi-bridge's crates. Helpers shared by the tests in `tests/`.
#![warn(missing_docs)]

use serde_json::Value;
use smi_bridge::files::read_inputs;
use smi_translate::ClusterState;
use smi_translate::input::load_objects;
use smi_translate::oracle::{case_input, load_cases};

/// Every input the project renders in its tests: each case of the oracle's table and the
/// examples, by name.
pub fn all_inputs() -> Result<Vec<(String, ClusterState)>, String> {
    let mut inputs = Vec::new();
    for case in load_cases()? {
        let input = case_input(&case)?;
        inputs.push((format!("case {}", case.name), input.state));
    }
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples").to_string();
    let objects = read_inputs(&[examples]).map_err(|e| format!("{e:#}"))?;
    let loaded = load_objects(objects).map_err(|e| e.to_string())?;
    inputs.push(("examples".to_string(), loaded.state));
    Ok(inputs)
}

/// The object with its namespace replaced (so objects from many inputs can be checked in one
/// test namespace).
pub fn in_namespace(object: &Value, namespace: &str) -> Value {
    let mut object = object.clone();
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert(
            "namespace".to_string(),
            Value::String(namespace.to_string()),
        );
    }
    object
}

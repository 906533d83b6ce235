//! Collects the objects and findings of one render.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use smi_translate::native::bounded_name;
use smi_translate::{BackendOutput, Finding, NativeObject, SmiRef};

use crate::API_VERSION;
use crate::names::ConsulName;

/// A `ServiceDefaults` someone needs: the protocol and who asked.
struct ProtocolNeed {
    namespace: String,
    protocol: &'static str,
    sources: BTreeSet<SmiRef>,
}

/// Objects and findings of one render.
#[derive(Default)]
pub struct Output {
    objects: Vec<NativeObject>,
    defaults: BTreeMap<ConsulName, ProtocolNeed>,
    findings: Vec<Finding>,
}

impl Output {
    /// Reports something Consul cannot express (or a conflict) on an SMI object.
    pub fn finding(&mut self, object: &SmiRef, reason: &str, message: String) {
        self.findings.push(Finding {
            object: object.clone(),
            reason: reason.to_string(),
            message,
        });
    }

    /// Adds a config-entry custom resource (`metadata.name` is the config entry's name).
    pub fn object(
        &mut self,
        kind: &str,
        namespace: &str,
        name: &str,
        spec: Value,
        sources: &[SmiRef],
    ) {
        let object = NativeObject::new(API_VERSION, kind, namespace, bounded_name(name, 253), spec)
            .with_sources(sources);
        self.objects.push(object);
    }

    /// Asks for `ServiceDefaults` with this protocol for a Consul service. The first request sets
    /// the protocol (routing asks first); later ones only add their sources.
    pub fn protocol(
        &mut self,
        service: &ConsulName,
        namespace: &str,
        protocol: &'static str,
        sources: &[SmiRef],
    ) {
        let need = self
            .defaults
            .entry(service.clone())
            .or_insert_with(|| ProtocolNeed {
                namespace: namespace.to_string(),
                protocol,
                sources: BTreeSet::new(),
            });
        need.sources.extend(sources.iter().cloned());
    }

    /// The objects (with one `ServiceDefaults` per Consul service) and the findings, deduplicated.
    pub fn finish(mut self) -> BackendOutput {
        let defaults = std::mem::take(&mut self.defaults);
        for (service, need) in defaults {
            let sources: Vec<SmiRef> = need.sources.into_iter().collect();
            let spec = json!({"protocol": need.protocol});
            self.object(
                "ServiceDefaults",
                &need.namespace,
                &service.name,
                spec,
                &sources,
            );
        }
        self.findings.sort_by(|a, b| {
            (&a.object, &a.reason, &a.message).cmp(&(&b.object, &b.reason, &b.message))
        });
        self.findings.dedup();
        BackendOutput {
            objects: self.objects,
            findings: self.findings,
        }
    }
}

//! TrafficTarget: v1alpha1 (top-level fields), v1alpha2 ↔ the v1alpha3 hub.
//!
//! v1alpha1 and v1alpha2 subjects may carry a `port`, which the hub lacks: the destination's
//! port is kept in [`DESTINATION_PORT_ANNOTATION`] (read by [`destination_port`]), source ports
//! in [`SOURCE_PORTS_ANNOTATION`].

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

use crate::access::v1alpha2::{IdentityBindingSubject, TrafficTargetRule};
use crate::access::{v1alpha1, v1alpha2, v1alpha3 as hub};
use crate::convert::annotations::{self, DESTINATION_PORT_ANNOTATION, SOURCE_PORTS_ANNOTATION};
use crate::convert::error::{ConversionError, ObjectName};
use crate::convert::{Convertible, object_name};

/// The port of the `index`-th source, valid while that source is still named `name`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
struct SourcePort {
    index: usize,
    name: String,
    port: i32,
}

/// The port v1alpha1/v1alpha2 TrafficTargets restricted the destination to, kept on the hub in
/// [`DESTINATION_PORT_ANNOTATION`]; `None` means every port. Errors when the annotation does not
/// hold a port number (1–65535).
pub fn destination_port(target: &hub::TrafficTarget) -> Result<Option<u16>, ConversionError> {
    let object = object_name(target);
    let Some(text) = target
        .metadata
        .annotations
        .as_ref()
        .and_then(|annotations| annotations.get(DESTINATION_PORT_ANNOTATION))
    else {
        return Ok(None);
    };
    match text.parse::<u16>() {
        Ok(port) if port > 0 => Ok(Some(port)),
        _ => Err(ConversionError::invalid(
            &object,
            annotations::annotation_path(DESTINATION_PORT_ANNOTATION),
            text,
            "must be a port number from 1 to 65535",
        )),
    }
}

/// Rejects a subject port outside 1–65535.
fn check_port(
    subject: &IdentityBindingSubject,
    path: &str,
    object: &ObjectName,
) -> Result<(), ConversionError> {
    match subject.port {
        Some(port) if !(1..=65535).contains(&port) => Err(ConversionError::invalid(
            object,
            format!("{path}.port"),
            &port,
            "must be a port number from 1 to 65535",
        )),
        _ => Ok(()),
    }
}

fn hub_subject(subject: &IdentityBindingSubject) -> hub::IdentityBindingSubject {
    hub::IdentityBindingSubject {
        kind: subject.kind.clone(),
        name: subject.name.clone(),
        namespace: subject.namespace.clone(),
    }
}

fn spoke_subject(
    subject: &hub::IdentityBindingSubject,
    port: Option<i32>,
) -> IdentityBindingSubject {
    IdentityBindingSubject {
        kind: subject.kind.clone(),
        name: subject.name.clone(),
        namespace: subject.namespace.clone(),
        port,
    }
}

fn hub_rule(rule: &TrafficTargetRule) -> hub::TrafficTargetRule {
    hub::TrafficTargetRule {
        kind: rule.kind.clone(),
        name: rule.name.clone(),
        matches: rule.matches.clone(),
    }
}

fn spoke_rule(rule: &hub::TrafficTargetRule) -> TrafficTargetRule {
    TrafficTargetRule {
        kind: rule.kind.clone(),
        name: rule.name.clone(),
        matches: rule.matches.clone(),
    }
}

/// The fields of a v1alpha1/v1alpha2 TrafficTarget, wherever the version puts them.
struct SpokeFields {
    metadata: ObjectMeta,
    destination: IdentityBindingSubject,
    sources: Vec<IdentityBindingSubject>,
    rules: Vec<TrafficTargetRule>,
}

/// Hub metadata and spec from the fields of a spoke; ports go to annotations. `prefix` is
/// where the spoke's fields sit: `""` (v1alpha1) or `"spec."` (v1alpha2).
fn spoke_to_hub(
    fields: SpokeFields,
    prefix: &str,
    object: &ObjectName,
) -> Result<(ObjectMeta, hub::TrafficTargetSpec), ConversionError> {
    let SpokeFields {
        mut metadata,
        destination,
        sources,
        rules,
    } = fields;
    check_port(&destination, &format!("{prefix}destination"), object)?;
    for (index, source) in sources.iter().enumerate() {
        check_port(source, &format!("{prefix}sources[{index}]"), object)?;
    }
    annotations::take(&mut metadata, DESTINATION_PORT_ANNOTATION);
    annotations::take(&mut metadata, SOURCE_PORTS_ANNOTATION);
    if let Some(port) = destination.port {
        annotations::put(&mut metadata, DESTINATION_PORT_ANNOTATION, port.to_string());
    }
    let source_ports: Vec<SourcePort> = sources
        .iter()
        .enumerate()
        .filter_map(|(index, source)| {
            source.port.map(|port| SourcePort {
                index,
                name: source.name.clone(),
                port,
            })
        })
        .collect();
    if !source_ports.is_empty() {
        annotations::put_json(&mut metadata, SOURCE_PORTS_ANNOTATION, &source_ports);
    }
    let spec = hub::TrafficTargetSpec {
        destination: hub_subject(&destination),
        sources: sources.iter().map(hub_subject).collect(),
        rules: rules.iter().map(hub_rule).collect(),
    };
    Ok((metadata, spec))
}

/// The fields of a spoke, with ports read back from (and removed from) the hub's annotations.
/// Stale source ports are dropped.
fn hub_to_spoke(target: &hub::TrafficTarget) -> Result<SpokeFields, ConversionError> {
    let object = object_name(target);
    let destination_port = destination_port(target)?.map(i32::from);
    let mut metadata = target.metadata.clone();
    annotations::take(&mut metadata, DESTINATION_PORT_ANNOTATION);
    let source_ports: Vec<SourcePort> =
        annotations::take_json(&mut metadata, SOURCE_PORTS_ANNOTATION, &object)?
            .unwrap_or_default();
    let spec = &target.spec;
    let sources = spec
        .sources
        .iter()
        .enumerate()
        .map(|(index, source)| {
            let port = source_ports
                .iter()
                .find(|entry| entry.index == index && entry.name == source.name)
                .map(|entry| entry.port);
            spoke_subject(source, port)
        })
        .collect();
    Ok(SpokeFields {
        metadata,
        destination: spoke_subject(&spec.destination, destination_port),
        sources,
        rules: spec.rules.iter().map(spoke_rule).collect(),
    })
}

impl Convertible for v1alpha1::TrafficTarget {
    type Hub = hub::TrafficTarget;

    fn to_hub(&self) -> Result<hub::TrafficTarget, ConversionError> {
        let fields = SpokeFields {
            metadata: self.metadata.clone(),
            destination: self.destination.clone(),
            sources: self.sources.clone(),
            rules: self.specs.clone(),
        };
        let (metadata, spec) = spoke_to_hub(fields, "", &object_name(self))?;
        Ok(hub::TrafficTarget {
            metadata,
            spec,
            status: self.status.clone(),
        })
    }

    fn from_hub(hub: &hub::TrafficTarget) -> Result<Self, ConversionError> {
        let SpokeFields {
            metadata,
            destination,
            sources,
            rules,
        } = hub_to_spoke(hub)?;
        Ok(v1alpha1::TrafficTarget {
            metadata,
            destination,
            sources,
            specs: rules,
            status: hub.status.clone(),
        })
    }
}

impl Convertible for v1alpha2::TrafficTarget {
    type Hub = hub::TrafficTarget;

    fn to_hub(&self) -> Result<hub::TrafficTarget, ConversionError> {
        let fields = SpokeFields {
            metadata: self.metadata.clone(),
            destination: self.spec.destination.clone(),
            sources: self.spec.sources.clone(),
            rules: self.spec.rules.clone(),
        };
        let (metadata, spec) = spoke_to_hub(fields, "spec.", &object_name(self))?;
        Ok(hub::TrafficTarget {
            metadata,
            spec,
            status: self.status.clone(),
        })
    }

    fn from_hub(hub: &hub::TrafficTarget) -> Result<Self, ConversionError> {
        let SpokeFields {
            metadata,
            destination,
            sources,
            rules,
        } = hub_to_spoke(hub)?;
        Ok(v1alpha2::TrafficTarget {
            metadata,
            spec: v1alpha2::TrafficTargetSpec {
                destination,
                sources,
                rules,
            },
            status: hub.status.clone(),
        })
    }
}

impl Convertible for hub::TrafficTarget {
    type Hub = hub::TrafficTarget;

    fn to_hub(&self) -> Result<hub::TrafficTarget, ConversionError> {
        Ok(self.clone())
    }

    fn from_hub(hub: &hub::TrafficTarget) -> Result<Self, ConversionError> {
        Ok(hub.clone())
    }
}

//! Conversion of untyped objects (`serde_json::Value`) of any SMI apiVersion and kind.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::convert::Convertible;
use crate::convert::error::{ConversionError, ObjectName, render_value};
use crate::{SmiKind, access, hub, specs, split};

/// An SMI object at its hub version.
#[derive(Debug, Clone, PartialEq)]
pub enum HubObject {
    /// A TrafficSplit.
    TrafficSplit(hub::TrafficSplit),
    /// A TrafficTarget.
    TrafficTarget(hub::TrafficTarget),
    /// An HTTPRouteGroup.
    HTTPRouteGroup(hub::HTTPRouteGroup),
    /// A TCPRoute.
    TCPRoute(hub::TCPRoute),
    /// A UDPRoute.
    UDPRoute(hub::UDPRoute),
}

impl HubObject {
    /// The object's kind.
    pub fn kind(&self) -> SmiKind {
        match self {
            HubObject::TrafficSplit(_) => SmiKind::TrafficSplit,
            HubObject::TrafficTarget(_) => SmiKind::TrafficTarget,
            HubObject::HTTPRouteGroup(_) => SmiKind::HTTPRouteGroup,
            HubObject::TCPRoute(_) => SmiKind::TCPRoute,
            HubObject::UDPRoute(_) => SmiKind::UDPRoute,
        }
    }

    fn name(&self) -> ObjectName {
        let metadata = match self {
            HubObject::TrafficSplit(object) => &object.metadata,
            HubObject::TrafficTarget(object) => &object.metadata,
            HubObject::HTTPRouteGroup(object) => &object.metadata,
            HubObject::TCPRoute(object) => &object.metadata,
            HubObject::UDPRoute(object) => &object.metadata,
        };
        ObjectName::new(self.kind().as_str(), metadata)
    }
}

/// Converts an SMI object of any apiVersion to `desired_api_version` (e.g.
/// `split.smi-spec.io/v1alpha1`) of the same group, through the hub.
pub fn convert(object: &Value, desired_api_version: &str) -> Result<Value, ConversionError> {
    from_hub(&to_hub(object)?, desired_api_version)
}

/// Reads an SMI object of any apiVersion and converts it to its hub version.
pub fn to_hub(object: &Value) -> Result<HubObject, ConversionError> {
    let name = ObjectName::of_value(object);
    let api_version = required_string(object, "apiVersion", &name)?;
    let kind_name = required_string(object, "kind", &name)?;
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let kind = find_kind(group, kind_name, api_version, &name)?;
    let unknown_version = || unknown_api_version(kind, api_version, &name);
    let hub = match kind {
        SmiKind::TrafficSplit => HubObject::TrafficSplit(match version {
            "v1alpha1" => read::<split::v1alpha1::TrafficSplit>(object, &name)?,
            "v1alpha2" => read::<split::v1alpha2::TrafficSplit>(object, &name)?,
            "v1alpha3" => read::<split::v1alpha3::TrafficSplit>(object, &name)?,
            "v1alpha4" => read::<hub::TrafficSplit>(object, &name)?,
            _ => return Err(unknown_version()),
        }),
        SmiKind::TrafficTarget => HubObject::TrafficTarget(match version {
            "v1alpha1" => read::<access::v1alpha1::TrafficTarget>(object, &name)?,
            "v1alpha2" => read::<access::v1alpha2::TrafficTarget>(object, &name)?,
            "v1alpha3" => read::<hub::TrafficTarget>(object, &name)?,
            _ => return Err(unknown_version()),
        }),
        SmiKind::HTTPRouteGroup => HubObject::HTTPRouteGroup(match version {
            "v1alpha1" => read::<specs::v1alpha1::HTTPRouteGroup>(object, &name)?,
            "v1alpha2" => read::<specs::v1alpha2::HTTPRouteGroup>(object, &name)?,
            "v1alpha3" => read::<specs::v1alpha3::HTTPRouteGroup>(object, &name)?,
            "v1alpha4" => read::<hub::HTTPRouteGroup>(object, &name)?,
            _ => return Err(unknown_version()),
        }),
        SmiKind::TCPRoute => HubObject::TCPRoute(match version {
            "v1alpha1" => read::<specs::v1alpha1::TCPRoute>(object, &name)?,
            "v1alpha2" => read::<specs::v1alpha2::TCPRoute>(object, &name)?,
            "v1alpha3" => read::<specs::v1alpha3::TCPRoute>(object, &name)?,
            "v1alpha4" => read::<hub::TCPRoute>(object, &name)?,
            _ => return Err(unknown_version()),
        }),
        SmiKind::UDPRoute => HubObject::UDPRoute(match version {
            "v1alpha4" => read::<hub::UDPRoute>(object, &name)?,
            _ => return Err(unknown_version()),
        }),
    };
    Ok(hub)
}

/// Converts a hub object to `api_version` (e.g. `split.smi-spec.io/v1alpha1`) of its group.
pub fn from_hub(hub: &HubObject, api_version: &str) -> Result<Value, ConversionError> {
    let kind = hub.kind();
    let name = hub.name();
    let version = match api_version.split_once('/') {
        Some((group, version)) if group == kind.group() => version,
        _ => return Err(unknown_api_version(kind, api_version, &name)),
    };
    let unknown_version = || unknown_api_version(kind, api_version, &name);
    match hub {
        HubObject::TrafficSplit(hub) => match version {
            "v1alpha1" => write::<split::v1alpha1::TrafficSplit>(hub, &name),
            "v1alpha2" => write::<split::v1alpha2::TrafficSplit>(hub, &name),
            "v1alpha3" => write::<split::v1alpha3::TrafficSplit>(hub, &name),
            "v1alpha4" => write::<hub::TrafficSplit>(hub, &name),
            _ => Err(unknown_version()),
        },
        HubObject::TrafficTarget(hub) => match version {
            "v1alpha1" => write::<access::v1alpha1::TrafficTarget>(hub, &name),
            "v1alpha2" => write::<access::v1alpha2::TrafficTarget>(hub, &name),
            "v1alpha3" => write::<hub::TrafficTarget>(hub, &name),
            _ => Err(unknown_version()),
        },
        HubObject::HTTPRouteGroup(hub) => match version {
            "v1alpha1" => write::<specs::v1alpha1::HTTPRouteGroup>(hub, &name),
            "v1alpha2" => write::<specs::v1alpha2::HTTPRouteGroup>(hub, &name),
            "v1alpha3" => write::<specs::v1alpha3::HTTPRouteGroup>(hub, &name),
            "v1alpha4" => write::<hub::HTTPRouteGroup>(hub, &name),
            _ => Err(unknown_version()),
        },
        HubObject::TCPRoute(hub) => match version {
            "v1alpha1" => write::<specs::v1alpha1::TCPRoute>(hub, &name),
            "v1alpha2" => write::<specs::v1alpha2::TCPRoute>(hub, &name),
            "v1alpha3" => write::<specs::v1alpha3::TCPRoute>(hub, &name),
            "v1alpha4" => write::<hub::TCPRoute>(hub, &name),
            _ => Err(unknown_version()),
        },
        HubObject::UDPRoute(hub) => match version {
            "v1alpha4" => write::<hub::UDPRoute>(hub, &name),
            _ => Err(unknown_version()),
        },
    }
}

/// Deserializes `object` as `T`, with the path of the offending field on error, and converts
/// it to the hub.
fn read<T: DeserializeOwned + Convertible>(
    object: &Value,
    name: &ObjectName,
) -> Result<T::Hub, ConversionError> {
    let typed: T = serde_path_to_error::deserialize(object)
        .map_err(|error| deserialization_error(&error, object, name))?;
    typed.to_hub()
}

fn write<T: Serialize + Convertible>(
    hub: &T::Hub,
    name: &ObjectName,
) -> Result<Value, ConversionError> {
    let spoke = T::from_hub(hub)?;
    serde_json::to_value(&spoke).map_err(|error| ConversionError::Unserializable {
        object: Box::new(name.clone()),
        problem: error.to_string(),
    })
}

fn deserialization_error(
    error: &serde_path_to_error::Error<serde_json::Error>,
    object: &Value,
    name: &ObjectName,
) -> ConversionError {
    let mut path = error.path().to_string();
    let problem = error.inner().to_string();
    let missing_field = problem
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'));
    let value = match missing_field {
        Some(field) => {
            path = if path == "." {
                field.to_owned()
            } else {
                format!("{path}.{field}")
            };
            None
        }
        None => value_at(object, error.path()).map(render_value),
    };
    ConversionError::InvalidField {
        object: Box::new(name.clone()),
        path,
        value,
        problem,
    }
}

/// The value a deserialization path points at, if it exists in `object`.
fn value_at<'a>(object: &'a Value, path: &serde_path_to_error::Path) -> Option<&'a Value> {
    path.iter()
        .try_fold(object, |value, segment| match segment {
            serde_path_to_error::Segment::Seq { index } => value.get(*index),
            serde_path_to_error::Segment::Map { key } => value.get(key),
            serde_path_to_error::Segment::Enum { .. } | serde_path_to_error::Segment::Unknown => {
                Some(value)
            }
        })
}

fn required_string<'a>(
    object: &'a Value,
    field: &str,
    name: &ObjectName,
) -> Result<&'a str, ConversionError> {
    match object.get(field) {
        Some(Value::String(text)) => Ok(text),
        found => Err(ConversionError::InvalidField {
            object: Box::new(name.clone()),
            path: field.to_owned(),
            value: found.map(render_value),
            problem: "an SMI object needs a string `apiVersion` and `kind`".to_owned(),
        }),
    }
}

fn find_kind(
    group: &str,
    kind: &str,
    api_version: &str,
    name: &ObjectName,
) -> Result<SmiKind, ConversionError> {
    if let Some(found) = SmiKind::find(group, kind) {
        return Ok(found);
    }
    let kinds_of_group: Vec<&str> = SmiKind::ALL
        .iter()
        .filter(|candidate| candidate.group() == group)
        .map(|candidate| candidate.as_str())
        .collect();
    if kinds_of_group.is_empty() {
        let known = SmiKind::ALL
            .iter()
            .map(|candidate| candidate.known_api_versions())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(ConversionError::UnknownApiVersion {
            object: Box::new(name.clone()),
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            known,
        });
    }
    Err(ConversionError::UnknownKind {
        object: Box::new(name.clone()),
        kind: kind.to_owned(),
        api_version: api_version.to_owned(),
        known: kinds_of_group.join(", "),
    })
}

fn unknown_api_version(kind: SmiKind, api_version: &str, name: &ObjectName) -> ConversionError {
    ConversionError::UnknownApiVersion {
        object: Box::new(name.clone()),
        api_version: api_version.to_owned(),
        kind: kind.as_str().to_owned(),
        known: kind.known_api_versions(),
    }
}

//! TrafficSplit: v1alpha1 (Quantity weights), v1alpha2, v1alpha3 ↔ the v1alpha4 hub.
//!
//! v1alpha1 weights are parsed exactly into milli-units. When every weight of an object is a
//! whole number, the hub weights are those whole numbers (Flagger's `"100"`/`"0"` become
//! 100/0); otherwise they are the milli-units (`"1"`/`"500m"` become 1000/500), which keeps the
//! ratio exact. Back to v1alpha1, weights are written as plain integers unless the original
//! strings, kept in [`V1ALPHA1_WEIGHTS_ANNOTATION`], still yield the hub weights.

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::convert::annotations::{self, SPLIT_MATCHES_ANNOTATION, V1ALPHA1_WEIGHTS_ANNOTATION};
use crate::convert::error::{ConversionError, ObjectName};
use crate::convert::{Convertible, object_name};
use crate::quantity::parse_milli_units;
use crate::split::{v1alpha1, v1alpha2, v1alpha3, v1alpha4 as hub};

const MILLI_UNITS_PER_UNIT: u128 = 1000;

fn weight_path(index: usize) -> String {
    format!("spec.backends[{index}].weight")
}

/// Rejects negative integer weights.
fn check_weights(
    backends: &[hub::TrafficSplitBackend],
    object: &ObjectName,
) -> Result<(), ConversionError> {
    match backends.iter().position(|backend| backend.weight < 0) {
        Some(index) => Err(ConversionError::invalid(
            object,
            weight_path(index),
            &backends[index].weight,
            "a weight must be zero or more",
        )),
        None => Ok(()),
    }
}

/// The hub weights of v1alpha1 Quantity weights: whole units when all are whole, else milli-units.
fn hub_weights(weights: &[&Quantity], object: &ObjectName) -> Result<Vec<i64>, ConversionError> {
    let milli_units = weights
        .iter()
        .enumerate()
        .map(|(index, weight)| {
            parse_milli_units(&weight.0).map_err(|error| {
                ConversionError::invalid(object, weight_path(index), weight, error.to_string())
            })
        })
        .collect::<Result<Vec<u128>, _>>()?;
    let all_whole = milli_units
        .iter()
        .all(|milli| milli % MILLI_UNITS_PER_UNIT == 0);
    let divisor = if all_whole { MILLI_UNITS_PER_UNIT } else { 1 };
    milli_units
        .iter()
        .zip(weights)
        .enumerate()
        .map(|(index, (milli, weight))| {
            i64::try_from(milli / divisor).map_err(|_| {
                ConversionError::invalid(
                    object,
                    weight_path(index),
                    weight,
                    "the weight is too large",
                )
            })
        })
        .collect()
}

/// The hub's `matches`, kept in an annotation of versions that lack the field.
fn take_matches(
    metadata: &mut ObjectMeta,
    object: &ObjectName,
) -> Result<Vec<hub::TrafficSplitMatch>, ConversionError> {
    Ok(annotations::take_json(metadata, SPLIT_MATCHES_ANNOTATION, object)?.unwrap_or_default())
}

fn put_matches(metadata: &mut ObjectMeta, matches: &[hub::TrafficSplitMatch]) {
    annotations::take(metadata, SPLIT_MATCHES_ANNOTATION);
    if !matches.is_empty() {
        annotations::put_json(metadata, SPLIT_MATCHES_ANNOTATION, &matches);
    }
}

impl Convertible for v1alpha1::TrafficSplit {
    type Hub = hub::TrafficSplit;

    fn to_hub(&self) -> Result<hub::TrafficSplit, ConversionError> {
        let object = object_name(self);
        let originals: Vec<&Quantity> = self.spec.backends.iter().map(|b| &b.weight).collect();
        let weights = hub_weights(&originals, &object)?;
        let mut metadata = self.metadata.clone();
        let matches = take_matches(&mut metadata, &object)?;
        annotations::take(&mut metadata, V1ALPHA1_WEIGHTS_ANNOTATION);
        let plain = originals
            .iter()
            .zip(&weights)
            .all(|(original, weight)| original.0 == weight.to_string());
        if !plain {
            let strings: Vec<&str> = originals.iter().map(|weight| weight.0.as_str()).collect();
            annotations::put_json(&mut metadata, V1ALPHA1_WEIGHTS_ANNOTATION, &strings);
        }
        let backends = self
            .spec
            .backends
            .iter()
            .zip(weights)
            .map(|(backend, weight)| hub::TrafficSplitBackend {
                service: backend.service.clone(),
                weight,
            })
            .collect();
        Ok(hub::TrafficSplit {
            metadata,
            spec: hub::TrafficSplitSpec {
                service: self.spec.service.clone(),
                backends,
                matches,
            },
            status: self.status.clone(),
        })
    }

    fn from_hub(hub: &hub::TrafficSplit) -> Result<Self, ConversionError> {
        let object = object_name(hub);
        check_weights(&hub.spec.backends, &object)?;
        let mut metadata = hub.metadata.clone();
        let weights = original_weights(&mut metadata, &hub.spec.backends, &object)?;
        put_matches(&mut metadata, &hub.spec.matches);
        let backends = hub
            .spec
            .backends
            .iter()
            .zip(weights)
            .map(|(backend, weight)| v1alpha1::TrafficSplitBackend {
                service: backend.service.clone(),
                weight,
            })
            .collect();
        Ok(v1alpha1::TrafficSplit {
            metadata,
            spec: v1alpha1::TrafficSplitSpec {
                service: hub.spec.service.clone(),
                backends,
            },
            status: hub.status.clone(),
        })
    }
}

/// The v1alpha1 weights of hub backends: the annotated original strings while they still yield
/// the hub weights, else plain integers. Removes the annotation from `metadata`.
fn original_weights(
    metadata: &mut ObjectMeta,
    backends: &[hub::TrafficSplitBackend],
    object: &ObjectName,
) -> Result<Vec<Quantity>, ConversionError> {
    let hub_values: Vec<i64> = backends.iter().map(|backend| backend.weight).collect();
    let annotated: Option<Vec<String>> =
        annotations::take_json(metadata, V1ALPHA1_WEIGHTS_ANNOTATION, object)?;
    if let Some(strings) = annotated {
        let quantities: Vec<Quantity> = strings.into_iter().map(Quantity).collect();
        let references: Vec<&Quantity> = quantities.iter().collect();
        let still_agree = quantities.len() == backends.len()
            && hub_weights(&references, object).is_ok_and(|weights| weights == hub_values);
        if still_agree {
            return Ok(quantities);
        }
    }
    Ok(hub_values
        .iter()
        .map(|weight| Quantity(weight.to_string()))
        .collect())
}

impl Convertible for v1alpha2::TrafficSplit {
    type Hub = hub::TrafficSplit;

    fn to_hub(&self) -> Result<hub::TrafficSplit, ConversionError> {
        let object = object_name(self);
        check_weights(&self.spec.backends, &object)?;
        let mut metadata = self.metadata.clone();
        let matches = take_matches(&mut metadata, &object)?;
        Ok(hub::TrafficSplit {
            metadata,
            spec: hub::TrafficSplitSpec {
                service: self.spec.service.clone(),
                backends: self.spec.backends.clone(),
                matches,
            },
            status: self.status.clone(),
        })
    }

    fn from_hub(hub: &hub::TrafficSplit) -> Result<Self, ConversionError> {
        check_weights(&hub.spec.backends, &object_name(hub))?;
        let mut metadata = hub.metadata.clone();
        put_matches(&mut metadata, &hub.spec.matches);
        Ok(v1alpha2::TrafficSplit {
            metadata,
            spec: v1alpha2::TrafficSplitSpec {
                service: hub.spec.service.clone(),
                backends: hub.spec.backends.clone(),
            },
            status: hub.status.clone(),
        })
    }
}

impl Convertible for v1alpha3::TrafficSplit {
    type Hub = hub::TrafficSplit;

    fn to_hub(&self) -> Result<hub::TrafficSplit, ConversionError> {
        check_weights(&self.spec.backends, &object_name(self))?;
        Ok(hub::TrafficSplit {
            metadata: self.metadata.clone(),
            spec: hub::TrafficSplitSpec {
                service: self.spec.service.clone(),
                backends: self.spec.backends.clone(),
                matches: self.spec.matches.clone(),
            },
            status: self.status.clone(),
        })
    }

    fn from_hub(hub: &hub::TrafficSplit) -> Result<Self, ConversionError> {
        check_weights(&hub.spec.backends, &object_name(hub))?;
        Ok(v1alpha3::TrafficSplit {
            metadata: hub.metadata.clone(),
            spec: v1alpha3::TrafficSplitSpec {
                service: hub.spec.service.clone(),
                backends: hub.spec.backends.clone(),
                matches: hub.spec.matches.clone(),
            },
            status: hub.status.clone(),
        })
    }
}

impl Convertible for hub::TrafficSplit {
    type Hub = hub::TrafficSplit;

    fn to_hub(&self) -> Result<hub::TrafficSplit, ConversionError> {
        check_weights(&self.spec.backends, &object_name(self))?;
        Ok(self.clone())
    }

    fn from_hub(hub: &hub::TrafficSplit) -> Result<Self, ConversionError> {
        hub.to_hub()
    }
}

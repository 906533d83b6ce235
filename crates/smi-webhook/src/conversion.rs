//! The conversion webhook: `apiextensions.k8s.io/v1` ConversionReview in, every object converted
//! to the desired apiVersion with smi-api's pure, lossless conversions out.
//!
//! Conversion is all or nothing: when one object of the list cannot be converted the response
//! is `Failure` with that object's error (which names the object, the field path and the value),
//! and the API server fails the request that needed it.

use kube::core::Status;
use kube::core::conversion::{ConversionRequest, ConversionResponse, ConversionReview};
use serde_json::Value;
use smi_api::convert::convert;

/// The webhook path (also `smi_api::crd::WEBHOOK_PATH`, which the CRDs name).
pub const PATH: &str = smi_api::crd::WEBHOOK_PATH;

/// The outcome of one review, for metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The kind of the (first) object, or `unknown`.
    pub kind: String,
    /// The version asked for, e.g. `v1alpha1`.
    pub desired_version: String,
    /// Whether every object converted.
    pub converted: bool,
}

/// Answers a ConversionReview.
pub fn review(review: ConversionReview) -> (ConversionReview, Outcome) {
    let request = match ConversionRequest::from_review(review) {
        Ok(request) => request,
        Err(_) => {
            let status = Status::failure(
                "the ConversionReview has no `request`; smi-bridge answers apiextensions.k8s.io/v1 ConversionReviews sent by the API server",
                "BadRequest",
            );
            let outcome = Outcome {
                kind: "unknown".to_owned(),
                desired_version: "unknown".to_owned(),
                converted: false,
            };
            return (ConversionResponse::invalid(status).into_review(), outcome);
        }
    };
    let kind = request
        .objects
        .first()
        .and_then(|o| o.get("kind"))
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_owned();
    let desired_version = request
        .desired_api_version
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let desired = request.desired_api_version.clone();
    let converted: Result<Vec<Value>, _> = request
        .objects
        .iter()
        .map(|object| convert_one(object, &desired))
        .collect();
    let response = ConversionResponse::for_request(request);
    let (response, ok) = match converted {
        Ok(objects) => (response.success(objects), true),
        Err(message) => {
            tracing::warn!(%message, "conversion failed");
            (
                response.failure(Status::failure(&message, "ConversionFailed")),
                false,
            )
        }
    };
    let outcome = Outcome {
        kind,
        desired_version,
        converted: ok,
    };
    (response.into_review(), outcome)
}

/// Converts one object; an object already at the desired version is returned unchanged.
fn convert_one(object: &Value, desired: &str) -> Result<Value, String> {
    if object.get("apiVersion").and_then(Value::as_str) == Some(desired) {
        return Ok(object.clone());
    }
    let mut converted = convert(object, desired).map_err(|e| e.to_string())?;
    // The API server requires metadata other than labels and annotations to stay as it was:
    // carry it over verbatim (conversion itself only rewrites annotations).
    if let (Some(original), Some(Value::Object(target))) = (
        object.get("metadata").and_then(Value::as_object),
        converted.get_mut("metadata"),
    ) {
        let annotations = target.remove("annotations");
        let labels = target.remove("labels");
        *target = original.clone();
        target.remove("annotations");
        target.remove("labels");
        if let Some(annotations) = annotations {
            target.insert("annotations".to_owned(), annotations);
        }
        if let Some(labels) = labels {
            target.insert("labels".to_owned(), labels);
        }
    }
    Ok(converted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn review_of(objects: Vec<Value>, desired: &str) -> ConversionReview {
        serde_json::from_value(json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
            "request": {"uid": "u-1", "desiredAPIVersion": desired, "objects": objects}
        }))
        .unwrap()
    }

    fn split(version: &str, weight: Value) -> Value {
        json!({"apiVersion": format!("split.smi-spec.io/{version}"), "kind": "TrafficSplit",
               "metadata": {"name": "web", "namespace": "shop", "uid": "x", "resourceVersion": "7",
                            "managedFields": [{"manager": "kubectl", "operation": "Update"}]},
               "spec": {"service": "web", "backends": [{"service": "v1", "weight": weight}]}})
    }

    #[test]
    fn converts_a_list_and_keeps_metadata() {
        let (answer, outcome) = review(review_of(
            vec![
                split("v1alpha1", json!("500m")),
                split("v1alpha4", json!(3)),
            ],
            "split.smi-spec.io/v1alpha2",
        ));
        let response = answer.response.unwrap();
        assert_eq!(response.uid, "u-1");
        assert!(response.result.is_success(), "{:?}", response.result);
        assert_eq!(response.converted_objects.len(), 2);
        let first = &response.converted_objects[0];
        assert_eq!(first["apiVersion"], "split.smi-spec.io/v1alpha2");
        assert_eq!(first["metadata"]["resourceVersion"], "7");
        assert_eq!(first["metadata"]["managedFields"][0]["manager"], "kubectl");
        assert_eq!(
            response.converted_objects[1]["spec"]["backends"][0]["weight"],
            3
        );
        assert!(outcome.converted && outcome.kind == "TrafficSplit");
        assert_eq!(outcome.desired_version, "v1alpha2");
    }

    #[test]
    fn one_bad_object_fails_the_review_with_its_field() {
        let (answer, outcome) = review(review_of(
            vec![split("v1alpha2", json!(1)), split("v1alpha1", json!("1u"))],
            "split.smi-spec.io/v1alpha4",
        ));
        let response = answer.response.unwrap();
        assert!(response.result.is_failure());
        assert!(
            response.result.message.contains("spec.backends[0].weight"),
            "{}",
            response.result.message
        );
        assert!(response.converted_objects.is_empty());
        assert!(!outcome.converted);
    }

    #[test]
    fn a_review_without_request_is_refused() {
        let empty: ConversionReview = serde_json::from_value(json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview"
        }))
        .unwrap();
        let (answer, _) = review(empty);
        assert!(answer.response.unwrap().result.is_failure());
    }
}

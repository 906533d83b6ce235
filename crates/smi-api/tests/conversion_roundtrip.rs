//! Property tests: every version converts to its hub and back unchanged, and every pair of
//! versions of a group agrees on the hub.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta, Time};
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use smi_api::convert::{self, Convertible, HubObject};
use smi_api::hub::HttpHeaders;
use smi_api::status::SmiStatus;
use smi_api::{SmiKind, access, specs, split};

// ---------------------------------------------------------------------------------------------
// Generators

fn word() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,7}"
}

fn metadata() -> impl Strategy<Value = ObjectMeta> {
    // Reserved smi-bridge.io annotation keys never appear: they belong to conversion.
    let annotations = option::of(btree_map(
        "[a-z]{1,6}(\\.example\\.com/[a-z]{1,6})?",
        ".{0,12}",
        1..3,
    ));
    let labels = option::of(btree_map("[a-z]{1,6}", "[a-z0-9]{0,6}", 1..3));
    (
        option::of(word()),
        option::of(word()),
        annotations,
        labels,
        option::of(1i64..100),
    )
        .prop_map(
            |(name, namespace, annotations, labels, generation)| ObjectMeta {
                name,
                namespace,
                annotations,
                labels,
                generation,
                ..Default::default()
            },
        )
}

fn status() -> impl Strategy<Value = Option<SmiStatus>> {
    let condition = (
        word(),
        prop::sample::select(vec!["True", "False", "Unknown"]),
        word(),
        ".{0,16}",
        0i64..2_000_000_000,
        option::of(0i64..9),
    )
        .prop_map(
            |(type_, status, reason, message, seconds, observed_generation)| Condition {
                type_,
                status: status.to_owned(),
                reason,
                message,
                last_transition_time: Time(
                    k8s_openapi::jiff::Timestamp::from_second(seconds).unwrap(),
                ),
                observed_generation,
            },
        );
    option::of(vec(condition, 0..3).prop_map(|conditions| SmiStatus { conditions }))
}

/// Quantities in every notation, all whole milli-units.
fn quantity() -> impl Strategy<Value = Quantity> {
    prop_oneof![
        (0u64..100_000).prop_map(|units| units.to_string()),
        (0u64..10_000_000).prop_map(|milli| format!("{milli}m")),
        (0u64..1000, 0u64..1000).prop_map(|(units, milli)| format!("{units}.{milli:03}")),
        (0u64..1000, 1u64..10).prop_map(|(units, tenths)| format!("{units}.{tenths}")),
        (0u64..1000).prop_map(|kilo| format!("{kilo}k")),
        (0u64..100, 0u32..5).prop_map(|(mantissa, exponent)| format!("{mantissa}e{exponent}")),
        (0u64..100).prop_map(|kibi| format!("{kibi}Ki")),
        Just("0".to_owned()),
    ]
    .prop_map(Quantity)
}

fn split_backend() -> impl Strategy<Value = split::v1alpha4::TrafficSplitBackend> {
    (word(), prop_oneof![0i64..1000, 0i64..i64::MAX])
        .prop_map(|(service, weight)| split::v1alpha4::TrafficSplitBackend { service, weight })
}

fn split_match() -> impl Strategy<Value = split::v1alpha4::TrafficSplitMatch> {
    (word(), option::of(Just("specs.smi-spec.io".to_owned()))).prop_map(|(name, api_group)| {
        split::v1alpha4::TrafficSplitMatch {
            kind: "HTTPRouteGroup".to_owned(),
            name,
            api_group,
        }
    })
}

fn split_v1alpha1() -> impl Strategy<Value = split::v1alpha1::TrafficSplit> {
    let backend = (word(), quantity())
        .prop_map(|(service, weight)| split::v1alpha1::TrafficSplitBackend { service, weight });
    (metadata(), word(), vec(backend, 0..4), status()).prop_map(
        |(metadata, service, backends, status)| split::v1alpha1::TrafficSplit {
            metadata,
            spec: split::v1alpha1::TrafficSplitSpec { service, backends },
            status,
        },
    )
}

fn split_v1alpha2() -> impl Strategy<Value = split::v1alpha2::TrafficSplit> {
    (metadata(), word(), vec(split_backend(), 0..4), status()).prop_map(
        |(metadata, service, backends, status)| split::v1alpha2::TrafficSplit {
            metadata,
            spec: split::v1alpha2::TrafficSplitSpec { service, backends },
            status,
        },
    )
}

fn split_v1alpha3() -> impl Strategy<Value = split::v1alpha3::TrafficSplit> {
    (
        metadata(),
        word(),
        vec(split_backend(), 0..4),
        vec(split_match(), 0..3),
        status(),
    )
        .prop_map(|(metadata, service, backends, matches, status)| {
            split::v1alpha3::TrafficSplit {
                metadata,
                spec: split::v1alpha3::TrafficSplitSpec {
                    service,
                    backends,
                    matches,
                },
                status,
            }
        })
}

fn split_hub() -> impl Strategy<Value = split::v1alpha4::TrafficSplit> {
    (
        metadata(),
        word(),
        vec(split_backend(), 0..4),
        vec(split_match(), 0..3),
        status(),
    )
        .prop_map(|(metadata, service, backends, matches, status)| {
            split::v1alpha4::TrafficSplit {
                metadata,
                spec: split::v1alpha4::TrafficSplitSpec {
                    service,
                    backends,
                    matches,
                },
                status,
            }
        })
}

fn port_subject() -> impl Strategy<Value = access::v1alpha2::IdentityBindingSubject> {
    (word(), option::of(word()), option::of(1i32..=65535)).prop_map(|(name, namespace, port)| {
        access::v1alpha2::IdentityBindingSubject {
            kind: "ServiceAccount".to_owned(),
            name,
            namespace,
            port,
        }
    })
}

fn hub_subject() -> impl Strategy<Value = access::v1alpha3::IdentityBindingSubject> {
    (word(), option::of(word())).prop_map(|(name, namespace)| {
        access::v1alpha3::IdentityBindingSubject {
            kind: "ServiceAccount".to_owned(),
            name,
            namespace,
        }
    })
}

fn rule_parts() -> impl Strategy<Value = (String, String, Option<Vec<String>>)> {
    (
        prop::sample::select(vec!["HTTPRouteGroup", "TCPRoute", "UDPRoute"]),
        word(),
        option::of(vec(word(), 0..3)),
    )
        .prop_map(|(kind, name, matches)| (kind.to_owned(), name, matches))
}

fn spoke_rule() -> impl Strategy<Value = access::v1alpha2::TrafficTargetRule> {
    rule_parts().prop_map(
        |(kind, name, matches)| access::v1alpha2::TrafficTargetRule {
            kind,
            name,
            matches,
        },
    )
}

fn access_v1alpha1() -> impl Strategy<Value = access::v1alpha1::TrafficTarget> {
    (
        metadata(),
        port_subject(),
        vec(port_subject(), 0..4),
        vec(spoke_rule(), 0..3),
        status(),
    )
        .prop_map(|(metadata, destination, sources, specs, status)| {
            access::v1alpha1::TrafficTarget {
                metadata,
                destination,
                sources,
                specs,
                status,
            }
        })
}

fn access_v1alpha2() -> impl Strategy<Value = access::v1alpha2::TrafficTarget> {
    (
        metadata(),
        port_subject(),
        vec(port_subject(), 0..4),
        vec(spoke_rule(), 0..3),
        status(),
    )
        .prop_map(|(metadata, destination, sources, rules, status)| {
            access::v1alpha2::TrafficTarget {
                metadata,
                spec: access::v1alpha2::TrafficTargetSpec {
                    destination,
                    sources,
                    rules,
                },
                status,
            }
        })
}

fn access_hub() -> impl Strategy<Value = access::v1alpha3::TrafficTarget> {
    let rule = rule_parts().prop_map(
        |(kind, name, matches)| access::v1alpha3::TrafficTargetRule {
            kind,
            name,
            matches,
        },
    );
    (
        metadata(),
        hub_subject(),
        vec(hub_subject(), 0..4),
        vec(rule, 0..3),
        status(),
    )
        .prop_map(|(metadata, destination, sources, rules, status)| {
            access::v1alpha3::TrafficTarget {
                metadata,
                spec: access::v1alpha3::TrafficTargetSpec {
                    destination,
                    sources,
                    rules,
                },
                status,
            }
        })
}

fn methods() -> impl Strategy<Value = Option<Vec<String>>> {
    option::of(vec(
        prop::sample::select(vec!["*", "GET", "POST", "DELETE"]).prop_map(str::to_owned),
        0..3,
    ))
}

fn http_match() -> impl Strategy<Value = specs::v1alpha4::HTTPMatch> {
    let headers = option::of(btree_map("[a-z-]{1,8}", ".{0,8}", 0..3).prop_map(HttpHeaders));
    (word(), option::of("/[a-z]{0,6}"), methods(), headers).prop_map(
        |(name, path_regex, methods, headers)| specs::v1alpha4::HTTPMatch {
            name,
            path_regex,
            methods,
            headers,
        },
    )
}

fn http_v1alpha1() -> impl Strategy<Value = specs::v1alpha1::HTTPRouteGroup> {
    let http_match =
        (word(), option::of("/[a-z]{0,6}"), methods()).prop_map(|(name, path_regex, methods)| {
            specs::v1alpha1::HTTPMatch {
                name,
                path_regex,
                methods,
            }
        });
    (metadata(), vec(http_match, 0..4), status()).prop_map(|(metadata, matches, status)| {
        specs::v1alpha1::HTTPRouteGroup {
            metadata,
            matches,
            status,
        }
    })
}

fn http_v1alpha2() -> impl Strategy<Value = specs::v1alpha2::HTTPRouteGroup> {
    (metadata(), vec(http_match(), 0..4), status()).prop_map(|(metadata, matches, status)| {
        specs::v1alpha2::HTTPRouteGroup {
            metadata,
            matches,
            status,
        }
    })
}

fn http_v1alpha3() -> impl Strategy<Value = specs::v1alpha3::HTTPRouteGroup> {
    (metadata(), vec(http_match(), 0..4), status()).prop_map(|(metadata, matches, status)| {
        specs::v1alpha3::HTTPRouteGroup {
            metadata,
            spec: specs::v1alpha3::HTTPRouteGroupSpec { matches },
            status,
        }
    })
}

fn http_hub() -> impl Strategy<Value = specs::v1alpha4::HTTPRouteGroup> {
    (metadata(), vec(http_match(), 0..4), status()).prop_map(|(metadata, matches, status)| {
        specs::v1alpha4::HTTPRouteGroup {
            metadata,
            spec: specs::v1alpha4::HTTPRouteGroupSpec { matches },
            status,
        }
    })
}

fn port_match() -> impl Strategy<Value = Option<specs::v1alpha4::PortMatch>> {
    option::of(vec(1i32..65536, 0..4).prop_map(|ports| specs::v1alpha4::PortMatch { ports }))
}

fn tcp_v1alpha1() -> impl Strategy<Value = specs::v1alpha1::TCPRoute> {
    (metadata(), status())
        .prop_map(|(metadata, status)| specs::v1alpha1::TCPRoute { metadata, status })
}

fn tcp_v1alpha2() -> impl Strategy<Value = specs::v1alpha2::TCPRoute> {
    (metadata(), status())
        .prop_map(|(metadata, status)| specs::v1alpha2::TCPRoute { metadata, status })
}

fn tcp_v1alpha3() -> impl Strategy<Value = specs::v1alpha3::TCPRoute> {
    (metadata(), status()).prop_map(|(metadata, status)| specs::v1alpha3::TCPRoute {
        metadata,
        spec: specs::v1alpha3::TCPRouteSpec {},
        status,
    })
}

fn tcp_hub() -> impl Strategy<Value = specs::v1alpha4::TCPRoute> {
    (metadata(), port_match(), status()).prop_map(|(metadata, matches, status)| {
        specs::v1alpha4::TCPRoute {
            metadata,
            spec: specs::v1alpha4::TCPRouteSpec { matches },
            status,
        }
    })
}

fn udp_hub() -> impl Strategy<Value = specs::v1alpha4::UDPRoute> {
    (metadata(), port_match(), status()).prop_map(|(metadata, matches, status)| {
        specs::v1alpha4::UDPRoute {
            metadata,
            spec: specs::v1alpha4::UDPRouteSpec { matches },
            status,
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Properties

/// Typed: spoke → hub → spoke is the identity. Untyped: the same through JSON and the dynamic
/// entry points, back to the object's own apiVersion.
fn assert_round_trip<S>(spoke: &S) -> Result<(), TestCaseError>
where
    S: Convertible + Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let hub = spoke
        .to_hub()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(
        &S::from_hub(&hub).map_err(|e| TestCaseError::fail(e.to_string()))?,
        spoke
    );

    let json = serde_json::to_value(spoke).unwrap();
    let api_version = json["apiVersion"].as_str().unwrap().to_owned();
    let back =
        convert::convert(&json, &api_version).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&serde_json::from_value::<S>(back).unwrap(), spoke);
    Ok(())
}

/// For a group: A → hub → B → hub gives the same hub, for every version B.
fn assert_versions_agree(object: Value, kind: SmiKind) -> Result<(), TestCaseError> {
    let hub = convert::to_hub(&object).map_err(|e| TestCaseError::fail(e.to_string()))?;
    for version in kind.versions() {
        let api_version = format!("{}/{version}", kind.group());
        let other = convert::from_hub(&hub, &api_version)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(other["apiVersion"].as_str(), Some(api_version.as_str()));
        let again: HubObject =
            convert::to_hub(&other).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(
            &again,
            &hub,
            "{} → hub → {} → hub",
            object["apiVersion"],
            api_version
        );
    }
    Ok(())
}

fn json(object: impl Serialize) -> Value {
    serde_json::to_value(object).unwrap()
}

proptest! {
    #[test]
    fn split_v1alpha1_round_trips(object in split_v1alpha1()) { assert_round_trip(&object)?; }
    #[test]
    fn split_v1alpha2_round_trips(object in split_v1alpha2()) { assert_round_trip(&object)?; }
    #[test]
    fn split_v1alpha3_round_trips(object in split_v1alpha3()) { assert_round_trip(&object)?; }
    #[test]
    fn split_hub_round_trips(object in split_hub()) { assert_round_trip(&object)?; }

    #[test]
    fn access_v1alpha1_round_trips(object in access_v1alpha1()) { assert_round_trip(&object)?; }
    #[test]
    fn access_v1alpha2_round_trips(object in access_v1alpha2()) { assert_round_trip(&object)?; }
    #[test]
    fn access_hub_round_trips(object in access_hub()) { assert_round_trip(&object)?; }

    #[test]
    fn http_v1alpha1_round_trips(object in http_v1alpha1()) { assert_round_trip(&object)?; }
    #[test]
    fn http_v1alpha2_round_trips(object in http_v1alpha2()) { assert_round_trip(&object)?; }
    #[test]
    fn http_v1alpha3_round_trips(object in http_v1alpha3()) { assert_round_trip(&object)?; }
    #[test]
    fn http_hub_round_trips(object in http_hub()) { assert_round_trip(&object)?; }

    #[test]
    fn tcp_v1alpha1_round_trips(object in tcp_v1alpha1()) { assert_round_trip(&object)?; }
    #[test]
    fn tcp_v1alpha2_round_trips(object in tcp_v1alpha2()) { assert_round_trip(&object)?; }
    #[test]
    fn tcp_v1alpha3_round_trips(object in tcp_v1alpha3()) { assert_round_trip(&object)?; }
    #[test]
    fn tcp_hub_round_trips(object in tcp_hub()) { assert_round_trip(&object)?; }

    #[test]
    fn udp_hub_round_trips(object in udp_hub()) { assert_round_trip(&object)?; }

    #[test]
    fn split_versions_agree(object in prop_oneof![
        split_v1alpha1().prop_map(json),
        split_v1alpha2().prop_map(json),
        split_v1alpha3().prop_map(json),
        split_hub().prop_map(json),
    ]) {
        assert_versions_agree(object, SmiKind::TrafficSplit)?;
    }

    #[test]
    fn access_versions_agree(object in prop_oneof![
        access_v1alpha1().prop_map(json),
        access_v1alpha2().prop_map(json),
        access_hub().prop_map(json),
    ]) {
        assert_versions_agree(object, SmiKind::TrafficTarget)?;
    }

    #[test]
    fn http_versions_agree(object in prop_oneof![
        http_v1alpha1().prop_map(json),
        http_v1alpha2().prop_map(json),
        http_v1alpha3().prop_map(json),
        http_hub().prop_map(json),
    ]) {
        assert_versions_agree(object, SmiKind::HTTPRouteGroup)?;
    }

    #[test]
    fn tcp_versions_agree(object in prop_oneof![
        tcp_v1alpha1().prop_map(json),
        tcp_v1alpha2().prop_map(json),
        tcp_v1alpha3().prop_map(json),
        tcp_hub().prop_map(json),
    ]) {
        assert_versions_agree(object, SmiKind::TCPRoute)?;
    }

    #[test]
    fn udp_versions_agree(object in udp_hub().prop_map(json)) {
        assert_versions_agree(object, SmiKind::UDPRoute)?;
    }
}

#[test]
fn generators_never_use_reserved_annotations() {
    // The round-trip properties rely on this: conversion owns these keys.
    let reserved: BTreeMap<&str, ()> = convert::HUB_ANNOTATIONS
        .iter()
        .chain(&convert::SPOKE_ANNOTATIONS)
        .map(|key| (*key, ()))
        .collect();
    assert!(reserved.keys().all(|key| key.contains("smi-bridge.io/")));
}

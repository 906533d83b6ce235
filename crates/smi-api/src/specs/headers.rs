//! HTTP header matches of an HTTPRouteGroup, accepted in both shapes found in the wild.
//!
//! The SMI docs up to v0.6.0 and smi-sdk-go write a list of single-key maps
//! (`- user-agent: ".*Android.*"`); later docs and smi-controller-sdk use a plain map. smi-bridge
//! reads both and always writes the **map** shape. Because a structural CRD schema cannot say
//! "array or object", the field's schema carries `x-kubernetes-preserve-unknown-fields` and no
//! type, so the API server accepts both shapes and smi-bridge validates them.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Header name → regular expression on the header value. All must match (AND).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpHeaders(pub BTreeMap<String, String>);

impl HttpHeaders {
    /// True when no header is constrained.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for HttpHeaders {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for HttpHeaders {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(HeadersVisitor)
    }
}

struct HeadersVisitor;

impl<'de> Visitor<'de> for HeadersVisitor {
    type Value = HttpHeaders;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map of header name to regex, or a list of single-key maps")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<HttpHeaders, A::Error> {
        let mut headers = BTreeMap::new();
        while let Some((name, value)) = map.next_entry::<String, String>()? {
            if headers.insert(name.clone(), value).is_some() {
                return Err(de::Error::custom(format!(
                    "header `{name}` is listed twice"
                )));
            }
        }
        Ok(HttpHeaders(headers))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<HttpHeaders, A::Error> {
        let mut headers = BTreeMap::new();
        let mut index = 0usize;
        while let Some(entry) = seq.next_element::<BTreeMap<String, String>>()? {
            if entry.len() != 1 {
                return Err(de::Error::custom(format!(
                    "headers[{index}] must hold exactly one `name: regex` pair, found {}",
                    entry.len()
                )));
            }
            for (name, value) in entry {
                if headers.insert(name.clone(), value).is_some() {
                    return Err(de::Error::custom(format!(
                        "header `{name}` is listed twice (headers[{index}])"
                    )));
                }
            }
            index += 1;
        }
        Ok(HttpHeaders(headers))
    }

    fn visit_unit<E: de::Error>(self) -> Result<HttpHeaders, E> {
        Ok(HttpHeaders::default())
    }
}

impl JsonSchema for HttpHeaders {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "HttpHeaders".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "Header name to a regular expression on its value; all must match. \
                Either a map or a list of single-key maps (both shapes exist in the wild); \
                smi-bridge writes the map shape.",
            "x-kubernetes-preserve-unknown-fields": true
        })
    }
}

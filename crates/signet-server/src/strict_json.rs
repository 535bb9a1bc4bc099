//! JSON read strictly, for request bodies: an object where a struct is
//! expected, and each key at most once.
//!
//! serde's derived `Deserialize` for a struct also accepts a JSON array and
//! binds its elements to the fields by position, so that
//! `["arrayop",["admin"],[],true,[],null,false]` reads as an operator with
//! the role `admin`: a body that skips every field name (and whatever checks
//! or logs look for them). serde_json also lets the last of two equal keys
//! win in a map. Here the body is first parsed into a [`Node`] tree (which
//! refuses a repeated key), then the typed value is read from that tree by a
//! deserializer that refuses anything but an object for a struct, at every
//! depth.

use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::forward_to_deserialize_any;
use std::collections::BTreeSet;
use std::fmt;

/// One parsed JSON value; an object keeps its keys in order, each once.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Node>),
    Object(Vec<(String, Node)>),
}

impl Node {
    /// What this value is, as serde names unexpected input in its messages.
    fn unexpected(&self) -> de::Unexpected<'_> {
        match self {
            Node::Null => de::Unexpected::Unit,
            Node::Bool(b) => de::Unexpected::Bool(*b),
            Node::Number(_) => de::Unexpected::Other("a number"),
            Node::String(s) => de::Unexpected::Str(s),
            Node::Array(_) => de::Unexpected::Seq,
            Node::Object(_) => de::Unexpected::Map,
        }
    }
}

impl<'de> de::Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        de::Deserialize::deserialize(d)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        serde_json::Number::from_f64(v).map(Node::Number).ok_or_else(|| E::custom("a number that is not finite"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::String(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Node, E> {
        Ok(Node::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut seen = BTreeSet::new();
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format!("duplicate key `{}`", signet_model::names::shorten(&key))));
            }
            entries.push((key, map.next_value()?));
        }
        Ok(Node::Object(entries))
    }
}

/// Reads a typed value from a [`Node`], refusing an array (or anything but
/// an object) where a struct is expected.
pub struct Strict(pub Node);

impl<'de> Deserializer<'de> for Strict {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Node::Null => visitor.visit_unit(),
            Node::Bool(b) => visitor.visit_bool(b),
            Node::Number(n) => n.deserialize_any(visitor),
            Node::String(s) => visitor.visit_string(s),
            Node::Array(items) => visitor.visit_seq(StrictSeq(items.into_iter())),
            Node::Object(entries) => visitor.visit_map(StrictMap { entries: entries.into_iter(), value: None }),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Node::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    /// The point of this type: a struct is read from an object only.
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.0 {
            Node::Object(entries) => visitor.visit_map(StrictMap { entries: entries.into_iter(), value: None }),
            other => Err(de::Error::invalid_type(other.unexpected(), &"a JSON object")),
        }
    }

    /// An enum (none in the request bodies so far): unit variants only, named by a string.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.0 {
            Node::String(s) => visitor.visit_enum(s.into_deserializer()),
            other => Err(de::Error::invalid_type(other.unexpected(), &"a string naming a variant")),
        }
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map identifier ignored_any
    }
}

struct StrictSeq(std::vec::IntoIter<Node>);

impl<'de> SeqAccess<'de> for StrictSeq {
    type Error = serde_json::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Self::Error> {
        self.0.next().map(|item| seed.deserialize(Strict(item))).transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct StrictMap {
    entries: std::vec::IntoIter<(String, Node)>,
    /// The value of the key just handed out.
    value: Option<Node>,
}

impl<'de> MapAccess<'de> for StrictMap {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Self::Error> {
        let Some((key, value)) = self.entries.next() else { return Ok(None) };
        self.value = Some(value);
        seed.deserialize(Strict(Node::String(key))).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Self::Error> {
        let value = self.value.take().ok_or_else(|| <serde_json::Error as de::Error>::custom("a value without its key"))?;
        seed.deserialize(Strict(value))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: failing loudly is the point
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Inner {
        a: u32,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Outer {
        name: String,
        #[serde(default)]
        inner: Option<Inner>,
        #[serde(default)]
        list: Vec<Inner>,
    }

    fn read<T: de::DeserializeOwned>(json: &str) -> Result<T, String> {
        let node: Node = serde_json::from_str(json).map_err(|e| e.to_string())?;
        T::deserialize(Strict(node)).map_err(|e| e.to_string())
    }

    #[test]
    fn objects_are_read_as_serde_json_would() {
        let v: Outer = read(r#"{"name":"x","inner":{"a":1},"list":[{"a":2}]}"#).unwrap();
        assert_eq!(v, Outer { name: "x".into(), inner: Some(Inner { a: 1 }), list: vec![Inner { a: 2 }] });
        let v: Outer = read(r#"{"name":"x","inner":null}"#).unwrap();
        assert_eq!(v.inner, None);
        let v: serde_json::Value = read(r#"[1,"a",{"b":null}]"#).unwrap();
        assert_eq!(v, serde_json::json!([1, "a", { "b": null }]));
    }

    #[test]
    fn an_array_is_not_a_struct_at_any_depth() {
        for json in [r#"["x"]"#, r#"{"name":"x","inner":[1]}"#, r#"{"name":"x","list":[[2]]}"#, r#""x""#, "1", "null"] {
            let e = read::<Outer>(json).unwrap_err();
            assert!(e.contains("expected a JSON object"), "{json}: {e}");
        }
    }

    #[test]
    fn a_repeated_key_is_refused() {
        let e = read::<Outer>(r#"{"name":"x","name":"admin"}"#).unwrap_err();
        assert!(e.contains("duplicate key `name`"), "{e}");
        let e = read::<serde_json::Value>(r#"{"a":{"b":1,"b":2}}"#).unwrap_err();
        assert!(e.contains("duplicate key `b`"), "{e}");
    }
}

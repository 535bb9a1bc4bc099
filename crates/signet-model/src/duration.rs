//! A lifetime as a request body gives it (`ttl`): a JSON string (`"24h"`,
//! `"3600"`) or a JSON integer number of seconds (`3600`).

use crate::FieldError;
use crate::profile::parse_duration_secs;
use serde::{Deserialize, Deserializer, Serialize, de};
use std::fmt;

/// The text of a duration, from a JSON string or a JSON number; checked by
/// [`DurationInput::seconds`], which is where every rule of
/// [`parse_duration_secs`] applies (positive, whole seconds, at most 100
/// years), to both forms alike.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct DurationInput(String);

impl DurationInput {
    /// The duration in seconds, or the reason it is not one, naming `field`.
    pub fn seconds(&self, field: &str) -> Result<i64, FieldError> {
        parse_duration_secs(field, &self.0)
    }
}

impl From<&str> for DurationInput {
    fn from(s: &str) -> Self {
        DurationInput(s.to_string())
    }
}

impl<'de> Deserialize<'de> for DurationInput {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DurationVisitor)
    }
}

struct DurationVisitor;

impl de::Visitor<'_> for DurationVisitor {
    type Value = DurationInput;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration: a number of seconds, or a string such as \"24h\"")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<DurationInput, E> {
        Ok(DurationInput(v.to_string()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<DurationInput, E> {
        Ok(DurationInput(v.to_string()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<DurationInput, E> {
        Ok(DurationInput(v.to_string()))
    }

    /// `1.5`, `3600.0`: kept as written, refused by [`DurationInput::seconds`]
    /// (not whole seconds). An integer too large for 64 bits (serde_json reads
    /// it as a float) or `1e30`: its digits, refused as too long (or not positive).
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<DurationInput, E> {
        if v.fract() == 0.0 && v.abs() >= 9.0e18 {
            return Ok(DurationInput(format!("{v:.0}")));
        }
        Ok(DurationInput(format!("{v:?}")))
    }
}

impl utoipa::PartialSchema for DurationInput {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1)).description(Some("seconds")))
            .item(ObjectBuilder::new().schema_type(Type::String).description(Some("seconds, or a number with s, m, h or d (`24h`)")))
            .description(Some("a duration: `3600` or `\"1h\"`"))
            .into()
    }
}
impl utoipa::ToSchema for DurationInput {}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: failing loudly is the point
    use super::*;

    fn seconds(json: &str) -> Result<i64, String> {
        let d: DurationInput = serde_json::from_str(json).map_err(|e| e.to_string())?;
        d.seconds("ttl").map_err(|e| {
            assert_eq!(e.field, "ttl");
            e.reason
        })
    }

    #[test]
    fn a_number_of_seconds_and_a_string_are_the_same_duration() {
        assert_eq!(seconds("3600"), Ok(3600));
        assert_eq!(seconds("\"3600\""), Ok(3600));
        assert_eq!(seconds("\"1h\""), Ok(3600));
        assert_eq!(seconds("1"), Ok(1));
        assert_eq!(seconds(&(100_i64 * 365 * 86400).to_string()), Ok(100 * 365 * 86400));
    }

    #[test]
    fn bad_numbers_are_refused_naming_the_field() {
        for (json, words) in [
            ("0", "must be positive"),
            ("-5", "must be positive"),
            ("-9223372036854775809", "must be positive"),
            ("1.5", "whole number of seconds"),
            ("3600.0", "whole number of seconds"),
            ("-0.5", "whole number of seconds"),
            ("3153600001", "longer than 100 years"),
            ("9223372036854775807", "longer than 100 years"),
            ("18446744073709551615", "longer than 100 years"),
            ("1e30", "longer than 100 years"),
            ("-1e30", "must be positive"),
            ("\"99999999999999999999999d\"", "longer than 100 years"),
        ] {
            let reason = seconds(json).unwrap_err();
            assert!(reason.contains(words), "{json}: {reason}");
        }
        for json in ["true", "null", "[3600]", "{}"] {
            assert!(seconds(json).unwrap_err().contains("expected a duration"), "{json}");
        }
    }
}

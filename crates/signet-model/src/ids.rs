//! Identifiers. Each is a prefixed, lower-case hex string of 128 bits: a
//! 48-bit millisecond timestamp then 80 bits from the `Rng` port (the layout
//! of a UUIDv7). Time-ordered ids make every insert an append at the right
//! edge of its index, instead of a write to a random page; 80 random bits
//! keep them unique. Parsed strictly at the edge.

use crate::FieldError;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A new id for something created at `now`, from 16 bytes of
            /// CSPRNG output (10 of which are used).
            pub fn generate(now: time::OffsetDateTime, random: [u8; 16]) -> Self {
                Self::from_random(time_prefixed::<6>(now, random))
            }

            /// Build from 16 bytes as they are (tests, and ids read back).
            pub fn from_random(bytes: [u8; 16]) -> Self {
                let mut s = String::with_capacity(Self::PREFIX.len() + 32);
                s.push_str(Self::PREFIX);
                for b in bytes {
                    s.push_str(&format!("{b:02x}"));
                }
                Self(s)
            }

            /// Parse an id received from outside; `field` names it in the error.
            pub fn parse(field: &str, s: &str) -> Result<Self, FieldError> {
                let hex = s.strip_prefix(Self::PREFIX).ok_or_else(|| {
                    FieldError::new(field, format!("`{}` is not a valid id: it must start with `{}`", crate::names::shorten(s), Self::PREFIX))
                })?;
                if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
                    return Err(FieldError::new(field, format!("`{}` is not a valid id: expected `{}` and 32 lower-case hex digits", crate::names::shorten(s), Self::PREFIX)));
                }
                Ok(Self(s.to_string()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse("id", &s).map_err(|e| serde::de::Error::custom(e.reason))
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .pattern(Some(concat!("^", $prefix, "[0-9a-f]{32}$")))
                    .into()
            }
        }
        impl utoipa::ToSchema for $name {}
    };
}

prefixed_id!(
    /// A subject's id, `sub_…`.
    SubjectId, "sub_"
);
prefixed_id!(
    /// A request's id, `req_…`.
    RequestId, "req_"
);
prefixed_id!(
    /// A credential's id, `crd_…`.
    CredentialId, "crd_"
);
prefixed_id!(
    /// An operator token's id, `tok_…` (the token itself is secret; the id is not).
    TokenId, "tok_"
);
prefixed_id!(
    /// An authority (CA) key's id, `ca_…`.
    AuthorityId, "ca_"
);
prefixed_id!(
    /// An operator's id, `op_…`: a human or machine caller of the operator API.
    OperatorId, "op_"
);
prefixed_id!(
    /// A privileged grant waiting for a second admin, `grt_…`.
    GrantId, "grt_"
);

/// `N` big-endian bytes of time (milliseconds for 6, seconds for 4) and the
/// rest from `random`.
fn time_prefixed<const N: usize>(now: time::OffsetDateTime, random: [u8; 16]) -> [u8; 16] {
    let t: u64 = if N >= 6 { (now.unix_timestamp_nanos() / 1_000_000) as u64 } else { now.unix_timestamp() as u64 };
    let mut out = random;
    out[..N].copy_from_slice(&t.to_be_bytes()[8 - N..]);
    out
}

/// A certificate serial number, 16 octets: a fixed `0x40` octet (positive,
/// and no leading zero, so the DER INTEGER is exactly 16 octets), 32 bits of
/// issuance time in seconds (so serials are appended to their index in
/// order), then 88 bits of CSPRNG output — above the 64 bits RFC 5280 and
/// the CA/Browser Forum ask for.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Serial([u8; 16]);

impl Serial {
    /// A new serial for a certificate issued at `now`.
    pub fn generate(now: time::OffsetDateTime, random: [u8; 16]) -> Self {
        let mut bytes = [0u8; 16];
        bytes[0] = 0x40;
        bytes[1..5].copy_from_slice(&(now.unix_timestamp() as u32).to_be_bytes());
        bytes[5..].copy_from_slice(&random[..11]);
        Self(bytes)
    }

    /// A serial from 16 random bytes: top bit cleared, second bit set.
    pub fn from_random(mut bytes: [u8; 16]) -> Self {
        bytes[0] &= 0x7f;
        bytes[0] |= 0x40;
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Lower-case hex, the form used on the wire and in the store.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Parse hex (optionally with `:` separators, any case), as openssl prints serials.
    pub fn parse_hex(field: &str, s: &str) -> Result<Self, FieldError> {
        let clean: String = s.chars().filter(|c| *c != ':').collect::<String>().to_ascii_lowercase();
        let err = || FieldError::new(field, format!("`{}` is not a serial: expected 32 hex digits", crate::names::shorten(s)));
        if clean.len() != 32 {
            return Err(err());
        }
        let mut out = [0u8; 16];
        for (i, chunk) in clean.as_bytes().chunks(2).enumerate() {
            let hex = std::str::from_utf8(chunk).map_err(|_| err())?;
            out[i] = u8::from_str_radix(hex, 16).map_err(|_| err())?;
        }
        Ok(Self(out))
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Serial({})", self.to_hex())
    }
}

impl Serialize for Serial {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Serial {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse_hex("serial", &s).map_err(|e| serde::de::Error::custom(e.reason))
    }
}

impl utoipa::PartialSchema for Serial {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new().schema_type(utoipa::openapi::schema::Type::String).pattern(Some("^[0-9a-f]{32}$")).into()
    }
}
impl utoipa::ToSchema for Serial {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_garbage() {
        let id = SubjectId::from_random([0xab; 16]);
        assert_eq!(SubjectId::parse("subject", id.as_str()).unwrap(), id);
        assert!(SubjectId::parse("subject", "req_abababababababababababababababab").is_err());
        assert!(SubjectId::parse("subject", "sub_ABABABABABABABABABABABABABABABAB").is_err());
        assert!(SubjectId::parse("subject", "sub_ab").is_err());
        let e = SubjectId::parse("subject", "nope").unwrap_err();
        assert_eq!(e.field, "subject");
        assert!(e.reason.contains("`nope`"));
    }

    #[test]
    fn generated_ids_and_serials_sort_by_time() {
        let t0 = time::macros::datetime!(2026-11-23 12:00 UTC);
        let t1 = t0 + time::Duration::milliseconds(1);
        let a = SubjectId::generate(t0, [0xff; 16]);
        let b = SubjectId::generate(t1, [0x00; 16]);
        assert!(a < b);
        assert!(a.as_str().ends_with(&"ff".repeat(10)));
        let s0 = Serial::generate(t0, [0xff; 16]);
        let s1 = Serial::generate(t0 + time::Duration::seconds(1), [0x00; 16]);
        assert!(s0.as_bytes() < s1.as_bytes());
        assert_eq!(s0.as_bytes()[0], 0x40);
        assert_eq!(&s0.as_bytes()[5..], &[0xff; 11]);
    }

    #[test]
    fn serial_is_positive_and_sixteen_octets() {
        let s = Serial::from_random([0xff; 16]);
        assert_eq!(s.as_bytes()[0], 0x7f);
        let s = Serial::from_random([0x00; 16]);
        assert_eq!(s.as_bytes()[0], 0x40);
        assert_eq!(Serial::parse_hex("serial", &s.to_hex()).unwrap(), s);
        let colon = s.as_bytes().iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":");
        assert_eq!(Serial::parse_hex("serial", &colon).unwrap(), s);
        assert!(Serial::parse_hex("serial", "zz").is_err());
    }
}

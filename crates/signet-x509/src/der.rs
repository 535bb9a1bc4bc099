//! The few DER primitives rcgen and x509-parser do not give us: writing a
//! TLV (for the AIA extension, for assembling a signed certificate, and for
//! CRLs and OCSP responses, which we write by hand), times, extensions, and
//! splitting a TLV off a buffer.

use time::{OffsetDateTime, UtcOffset};

/// Encode one DER TLV with a single-byte tag.
pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// One TLV split off the front of `input`.
pub(crate) struct Tlv<'a> {
    pub tag: u8,
    /// The whole encoding: tag, length and content.
    pub whole: &'a [u8],
    pub content: &'a [u8],
    pub rest: &'a [u8],
}

/// Split the first TLV off `input` (single-byte tags, definite lengths only).
pub(crate) fn split_tlv(input: &[u8]) -> Option<Tlv<'_>> {
    let tag = *input.first()?;
    let first = *input.get(1)?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let len = input.get(2..2 + n)?.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, 2 + n)
    };
    let end = header.checked_add(len)?;
    let whole = input.get(..end)?;
    Some(Tlv { tag, whole, content: whole.get(header..)?, rest: input.get(end..)? })
}

/// The content octets of a DER INTEGER holding the unsigned big-endian
/// `bytes`: leading zeros stripped, one zero prepended if the top bit is set.
pub(crate) fn positive_integer_content(bytes: &[u8]) -> Vec<u8> {
    let start = bytes.iter().take_while(|b| **b == 0).count();
    let trimmed = &bytes[start..];
    match trimmed.first() {
        None => vec![0],
        Some(b) if b & 0x80 != 0 => [&[0u8][..], trimmed].concat(),
        Some(_) => trimmed.to_vec(),
    }
}

/// `SEQUENCE { tbs, signatureAlgorithm, signature BIT STRING }`: the shape
/// of a signed certificate, CRL and BasicOCSPResponse (without its certs).
pub(crate) fn signed(tbs: &[u8], sig_alg: &[u8], signature: &[u8]) -> Vec<u8> {
    let bits = [&[0u8][..], signature].concat(); // no unused bits
    tlv(0x30, &[tbs, sig_alg, &tlv(0x03, &bits)].concat())
}

/// One `Extension ::= SEQUENCE { extnID, critical DEFAULT FALSE, extnValue }`.
pub(crate) fn extension(oid: &[u8], critical: bool, value: &[u8]) -> Vec<u8> {
    let critical: &[u8] = if critical { &[0x01, 0x01, 0xff] } else { &[] };
    tlv(0x30, &[&tlv(0x06, oid), critical, &tlv(0x04, value)].concat())
}

/// GeneralizedTime `YYYYMMDDHHMMSSZ` (UTC, whole seconds; fractions dropped).
pub(crate) fn generalized_time(t: OffsetDateTime) -> Vec<u8> {
    let t = t.to_offset(UtcOffset::UTC);
    let s = format!("{:04}{:02}{:02}{:02}{:02}{:02}Z", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute(), t.second());
    tlv(0x18, s.as_bytes())
}

/// RFC 5280 `Time`: UTCTime `YYMMDDHHMMSSZ` for 1950 through 2049,
/// GeneralizedTime otherwise (RFC 5280 4.1.2.5, 5.1.2.4).
pub(crate) fn x509_time(t: OffsetDateTime) -> Vec<u8> {
    let t = t.to_offset(UtcOffset::UTC);
    if !(1950..2050).contains(&t.year()) {
        return generalized_time(t);
    }
    let s = format!("{:02}{:02}{:02}{:02}{:02}{:02}Z", t.year() % 100, u8::from(t.month()), t.day(), t.hour(), t.minute(), t.second());
    tlv(0x17, s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tlv_round_trips_short_and_long_lengths() {
        for len in [0usize, 1, 127, 128, 255, 256, 70_000] {
            let content = vec![0xab; len];
            let enc = tlv(0x30, &content);
            let t = split_tlv(&enc).unwrap();
            assert_eq!(t.tag, 0x30);
            assert_eq!(t.content, &content[..]);
            assert!(t.rest.is_empty());
        }
        assert!(split_tlv(&[0x30, 0x05, 1, 2]).is_none());
        assert!(split_tlv(&[0x30, 0x80]).is_none());
        assert!(split_tlv(&[]).is_none());
    }

    #[test]
    fn times() {
        let t = time::macros::datetime!(2026-03-01 12:34:56.789 UTC);
        assert_eq!(generalized_time(t), tlv(0x18, b"20260301123456Z"));
        assert_eq!(x509_time(t), tlv(0x17, b"260301123456Z"));
        assert_eq!(x509_time(time::macros::datetime!(2050-01-01 00:00:00 UTC)), tlv(0x18, b"20500101000000Z"));
        assert_eq!(x509_time(time::macros::datetime!(2026-03-01 13:00:00 +01:00)), tlv(0x17, b"260301120000Z"));
    }

    #[test]
    fn integer_content_is_minimal_and_positive() {
        assert_eq!(positive_integer_content(&[0, 0, 0x12]), vec![0x12]);
        assert_eq!(positive_integer_content(&[0x80, 1]), vec![0, 0x80, 1]);
        assert_eq!(positive_integer_content(&[0, 0]), vec![0]);
    }
}

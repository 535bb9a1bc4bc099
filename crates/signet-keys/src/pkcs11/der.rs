//! The little DER a token's raw values need to become X.509 values: public
//! keys into SubjectPublicKeyInfo, raw ECDSA `r‖s` into `Ecdsa-Sig-Value`.

/// DER of the named-curve OIDs, as CKA_EC_PARAMS holds them.
pub(super) const P256_PARAMS: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
pub(super) const P384_PARAMS: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
/// id-Ed25519 (RFC 8410), as CKA_EC_PARAMS of an Edwards key.
pub(super) const ED25519_PARAMS: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
const EC_PUBLIC_KEY_OID: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const RSA_ENCRYPTION_OID: &[u8] = &[0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const NULL: &[u8] = &[0x05, 0x00];

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
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

fn sequence(parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

/// A non-negative INTEGER from big-endian magnitude bytes.
fn unsigned_integer(magnitude: &[u8]) -> Vec<u8> {
    let trimmed: &[u8] = match magnitude.iter().position(|b| *b != 0) {
        Some(i) => &magnitude[i..],
        None => &[0],
    };
    let mut content = Vec::with_capacity(trimmed.len() + 1);
    if trimmed[0] & 0x80 != 0 {
        content.push(0);
    }
    content.extend_from_slice(trimmed);
    tlv(0x02, &content)
}

fn bit_string(bytes: &[u8]) -> Vec<u8> {
    let mut content = Vec::with_capacity(bytes.len() + 1);
    content.push(0);
    content.extend_from_slice(bytes);
    tlv(0x03, &content)
}

/// The uncompressed point (or Ed25519 public key) of a CKA_EC_POINT value.
/// PKCS#11 says the value is a DER OCTET STRING; some tokens return the raw
/// point. `len` is the expected length of the point.
pub(super) fn unwrap_ec_point(value: &[u8], len: usize) -> Option<&[u8]> {
    let header = if len < 0x80 { 2 } else { 3 };
    if value.len() == len + header && value[0] == 0x04 {
        let ok = if len < 0x80 { value[1] as usize == len } else { value[1] == 0x81 && value[2] as usize == len };
        return ok.then(|| &value[header..]);
    }
    (value.len() == len).then_some(value)
}

/// SubjectPublicKeyInfo of an EC public key on the curve `params`.
pub(super) fn ec_spki(params: &[u8], point: &[u8]) -> Vec<u8> {
    sequence(&[&sequence(&[EC_PUBLIC_KEY_OID, params]), &bit_string(point)])
}

/// SubjectPublicKeyInfo of an Ed25519 public key (RFC 8410).
pub(super) fn ed25519_spki(public: &[u8]) -> Vec<u8> {
    sequence(&[&sequence(&[ED25519_PARAMS]), &bit_string(public)])
}

/// SubjectPublicKeyInfo of an RSA public key (an RFC 8017 RSAPublicKey inside).
pub(super) fn rsa_spki(modulus: &[u8], exponent: &[u8]) -> Vec<u8> {
    let pkcs1 = sequence(&[&unsigned_integer(modulus), &unsigned_integer(exponent)]);
    sequence(&[&sequence(&[RSA_ENCRYPTION_OID, NULL]), &bit_string(&pkcs1)])
}

/// A raw ECDSA signature `r‖s` (what CKM_ECDSA returns) as the DER
/// `Ecdsa-Sig-Value` X.509 wants. `None` if it is not two equal halves.
pub(super) fn ecdsa_raw_to_der(raw: &[u8], scalar_len: usize) -> Option<Vec<u8>> {
    if raw.len() != 2 * scalar_len {
        return None;
    }
    let (r, s) = raw.split_at(scalar_len);
    Some(sequence(&[&unsigned_integer(r), &unsigned_integer(s)]))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn integers_are_minimal_and_positive() {
        assert_eq!(unsigned_integer(&[0, 0, 0x7f]), vec![0x02, 1, 0x7f]);
        assert_eq!(unsigned_integer(&[0, 0x80]), vec![0x02, 2, 0, 0x80]);
        assert_eq!(unsigned_integer(&[0, 0]), vec![0x02, 1, 0]);
    }

    #[test]
    fn long_lengths_use_the_long_form() {
        let t = tlv(0x04, &[1u8; 300]);
        assert_eq!(&t[..4], &[0x04, 0x82, 0x01, 0x2c]);
        let t = tlv(0x04, &[1u8; 200]);
        assert_eq!(&t[..3], &[0x04, 0x81, 200]);
    }

    #[test]
    fn ec_points_are_unwrapped_from_der_or_taken_raw() {
        let point = [0x04u8; 65];
        let mut wrapped = vec![0x04, 65];
        wrapped.extend_from_slice(&point);
        assert_eq!(unwrap_ec_point(&wrapped, 65), Some(&point[..]));
        assert_eq!(unwrap_ec_point(&point, 65), Some(&point[..]));
        let point = [0x04u8; 133];
        let mut wrapped = vec![0x04, 0x81, 133];
        wrapped.extend_from_slice(&point);
        assert_eq!(unwrap_ec_point(&wrapped, 133), Some(&point[..]));
        assert_eq!(unwrap_ec_point(&[0x04, 3, 1, 2, 3], 65), None);
    }

    #[test]
    fn ecdsa_signatures_become_der() {
        let mut raw = vec![0u8; 64];
        raw[0] = 0x80;
        raw[63] = 1;
        let der = ecdsa_raw_to_der(&raw, 32).unwrap();
        assert_eq!(&der[..5], &[0x30, 38, 0x02, 33, 0x00]);
        assert_eq!(&der[der.len() - 3..], &[0x02, 1, 1]);
        assert!(ecdsa_raw_to_der(&raw, 48).is_none());
    }
}

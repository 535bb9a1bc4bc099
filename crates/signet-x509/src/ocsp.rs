//! OCSP (RFC 6960): parsing requests and writing responses, by hand in DER.
//!
//! ```text
//! request DER ──▶ parse_request ──▶ OcspRequest { questions: CertID + serial if it names this CA, nonce }
//!                                          │ (the server looks each serial up: CertStatus)
//!                                          ▼
//! build_response: lint (each CertID re-parsed and re-matched, statuses consistent)
//!   ──▶ ResponseData ──▶ AuthoritySigner signs ──▶ verify back ──▶ OCSPResponse DER
//! ```
//!
//! The issuing CA signs its responses itself (no delegated responder):
//! responderID byKey, producedAt = thisUpdate = now, nextUpdate = now +
//! [`OCSP_VALIDITY`], the request's nonce echoed. A CertID naming another
//! issuer, or a serial Signet cannot have issued, is answered `unknown`
//! (RFC 6960 §2.2), never refused as a whole. A request that does not parse
//! is answered with an unsigned `malformedRequest` ([`unsuccessful_response`]).
//! Request signatures are not required and not checked.

use crate::der::{Tlv, extension, generalized_time, signed, split_tlv, tlv};
use crate::key::{PublicKeyInfo, SignatureError, signature_algorithm_der, verify_signature};
use crate::template::cert_time;
use aws_lc_rs::digest::{SHA1_FOR_LEGACY_USE_ONLY, SHA256, digest};
use signet_core::mint::{CertStatus, MalformedOcspRequest, MintError, OcspQuestion, OcspRequest};
use signet_core::ports::AuthoritySigner;
use signet_model::ids::Serial;
use time::{Duration, OffsetDateTime};
use x509_parser::oid_registry::{OID_HASH_SHA1, OID_NIST_HASH_SHA256};
use x509_parser::prelude::FromDer;
use x509_parser::x509::AlgorithmIdentifier;

/// How long a response is valid: nextUpdate = thisUpdate + this.
pub const OCSP_VALIDITY: Duration = Duration::hours(1);
/// The largest request accepted (POST body, or decoded GET path).
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// The most CertIDs one request may ask about; more is `malformedRequest`.
pub const MAX_CERT_IDS: usize = 16;
/// The longest nonce extnValue echoed: a 32-octet nonce in its OCTET STRING
/// (RFC 8954 §2.1). A longer one is left out of the response.
const MAX_NONCE_VALUE: usize = 34;

/// id-pkix-ocsp-nonce, 1.3.6.1.5.5.7.48.1.2.
const OID_NONCE: [u8; 9] = [0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02];
/// id-pkix-ocsp-basic, 1.3.6.1.5.5.7.48.1.1.
const OID_BASIC: [u8; 9] = [0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01];

/// The OCSPResponseStatus values of a response without a signed body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnsuccessfulStatus {
    MalformedRequest = 1,
    InternalError = 2,
    TryLater = 3,
    Unauthorized = 6,
}

/// `OCSPResponse { responseStatus }` without responseBytes: unsigned, as
/// RFC 6960 §2.3 has error responses.
pub fn unsuccessful_response(status: UnsuccessfulStatus) -> Vec<u8> {
    tlv(0x30, &tlv(0x0a, &[status as u8]))
}

/// How a CertID names an issuer: hashes of its subject name and of its
/// public key (the subjectPublicKey bits), under SHA-1 and SHA-256.
#[derive(Debug, Clone)]
pub(crate) struct IssuerHashes {
    sha1: (Vec<u8>, Vec<u8>),
    sha256: (Vec<u8>, Vec<u8>),
}

impl IssuerHashes {
    pub fn of(subject_raw: &[u8], key: &PublicKeyInfo) -> Self {
        let sha1 = |d: &[u8]| digest(&SHA1_FOR_LEGACY_USE_ONLY, d).as_ref().to_vec();
        let sha256 = |d: &[u8]| digest(&SHA256, d).as_ref().to_vec();
        Self { sha1: (sha1(subject_raw), sha1(&key.raw)), sha256: (sha256(subject_raw), sha256(&key.raw)) }
    }

    /// The responderID byKey: SHA-1 of the key (RFC 6960 §4.2.1).
    fn key_sha1(&self) -> &[u8] {
        &self.sha1.1
    }
}

/// One parsed CertID, and its canonical re-encoding.
struct CertId<'a> {
    /// `(issuerNameHash, issuerKeyHash)` under a hash we know, else `None`.
    hashes: Option<(&'a [u8], &'a [u8], HashAlg)>,
    serial: &'a [u8],
    der: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HashAlg {
    Sha1,
    Sha256,
}

impl CertId<'_> {
    /// The serial, if this CertID names the issuer with `issuer` hashes and
    /// the serial is one Signet issues (16 octets, positive).
    fn serial_for(&self, issuer: &IssuerHashes) -> Option<Serial> {
        let (name, key, alg) = self.hashes?;
        let (want_name, want_key) = match alg {
            HashAlg::Sha1 => &issuer.sha1,
            HashAlg::Sha256 => &issuer.sha256,
        };
        if name != want_name.as_slice() || key != want_key.as_slice() || self.serial.len() != 16 || self.serial[0] & 0x80 != 0 {
            return None;
        }
        Serial::parse_hex("serial", &signet_core::authority::hex(self.serial)).ok()
    }
}

fn malformed(why: &str) -> MalformedOcspRequest {
    MalformedOcspRequest(why.to_string())
}

/// Split one TLV with tag `tag` off `input`.
fn take<'a>(input: &'a [u8], tag: u8, what: &str) -> Result<Tlv<'a>, MalformedOcspRequest> {
    match split_tlv(input) {
        Some(t) if t.tag == tag => Ok(t),
        _ => Err(MalformedOcspRequest(format!("expected {what}"))),
    }
}

/// `CertID ::= SEQUENCE { hashAlgorithm, issuerNameHash, issuerKeyHash, serialNumber }`.
fn parse_cert_id(input: &[u8]) -> Result<(CertId<'_>, &[u8]), MalformedOcspRequest> {
    let seq = take(input, 0x30, "a CertID")?;
    let alg = take(seq.content, 0x30, "a hash AlgorithmIdentifier")?;
    let oid = take(alg.content, 0x06, "a hash algorithm OID")?;
    let params = match oid.rest {
        [] => None,
        p => {
            let t = split_tlv(p).filter(|t| t.rest.is_empty()).ok_or_else(|| malformed("bad hash algorithm parameters"))?;
            Some(t.whole)
        }
    };
    let name = take(alg.rest, 0x04, "issuerNameHash")?;
    let key = take(name.rest, 0x04, "issuerKeyHash")?;
    let serial = take(key.rest, 0x02, "serialNumber")?;
    if !serial.rest.is_empty() || serial.content.is_empty() {
        return Err(malformed("bad serialNumber"));
    }
    let null_or_absent = params.is_none_or(|p| p == [0x05, 0x00]);
    let alg_kind = if oid.content == OID_HASH_SHA1.as_bytes() && null_or_absent {
        Some(HashAlg::Sha1)
    } else if oid.content == OID_NIST_HASH_SHA256.as_bytes() && null_or_absent {
        Some(HashAlg::Sha256)
    } else {
        None
    };
    let alg_der = tlv(0x30, &[oid.whole, params.unwrap_or_default()].concat());
    let der = tlv(0x30, &[alg_der, tlv(0x04, name.content), tlv(0x04, key.content), tlv(0x02, serial.content)].concat());
    let hashes = alg_kind.map(|a| (name.content, key.content, a));
    Ok((CertId { hashes, serial: serial.content, der }, seq.rest))
}

/// The nonce in `Extensions` (the content of requestExtensions [2]).
fn parse_nonce(extensions: &[u8]) -> Result<Option<Vec<u8>>, MalformedOcspRequest> {
    let list = take(extensions, 0x30, "request Extensions")?;
    if !list.rest.is_empty() {
        return Err(malformed("trailing data after the request extensions"));
    }
    let mut nonce = None;
    let mut rest = list.content;
    while !rest.is_empty() {
        let ext = take(rest, 0x30, "an Extension")?;
        rest = ext.rest;
        let oid = take(ext.content, 0x06, "an extension OID")?;
        let after_critical = match split_tlv(oid.rest) {
            Some(t) if t.tag == 0x01 => t.rest,
            _ => oid.rest,
        };
        let value = take(after_critical, 0x04, "an extnValue")?;
        if !value.rest.is_empty() {
            return Err(malformed("trailing data in an extension"));
        }
        if oid.content == OID_NONCE {
            if nonce.is_some() {
                return Err(malformed("two nonce extensions"));
            }
            nonce = Some(value.content);
        }
    }
    Ok(nonce.filter(|n| !n.is_empty() && n.len() <= MAX_NONCE_VALUE).map(<[u8]>::to_vec))
}

/// Parse an `OCSPRequest` and match its CertIDs against `issuer`.
pub(crate) fn parse_request(der: &[u8], issuer: &IssuerHashes) -> Result<OcspRequest, MalformedOcspRequest> {
    if der.len() > MAX_REQUEST_BYTES {
        return Err(malformed("the request is too large"));
    }
    let outer = take(der, 0x30, "an OCSPRequest")?;
    if !outer.rest.is_empty() {
        return Err(malformed("trailing data after the OCSPRequest"));
    }
    let tbs = take(outer.content, 0x30, "a TBSRequest")?;
    if !tbs.rest.is_empty() {
        // optionalSignature [0] EXPLICIT: accepted, not checked.
        let sig = take(tbs.rest, 0xa0, "optionalSignature")?;
        if !sig.rest.is_empty() {
            return Err(malformed("trailing data after optionalSignature"));
        }
    }
    let mut rest = tbs.content;
    if let Some(version) = split_tlv(rest).filter(|t| t.tag == 0xa0) {
        if version.content != [0x02, 0x01, 0x00] {
            return Err(malformed("only OCSP version 1 is supported"));
        }
        rest = version.rest;
    }
    if let Some(requestor) = split_tlv(rest).filter(|t| t.tag == 0xa1) {
        rest = requestor.rest;
    }
    let list = take(rest, 0x30, "a requestList")?;
    let nonce = match list.rest {
        [] => None,
        r => {
            let ext = take(r, 0xa2, "requestExtensions")?;
            if !ext.rest.is_empty() {
                return Err(malformed("trailing data after requestExtensions"));
            }
            parse_nonce(ext.content)?
        }
    };
    let mut questions = Vec::new();
    let mut items = list.content;
    while !items.is_empty() {
        if questions.len() == MAX_CERT_IDS {
            return Err(MalformedOcspRequest(format!("more than {MAX_CERT_IDS} CertIDs")));
        }
        let request = take(items, 0x30, "a Request")?;
        items = request.rest;
        let (cert_id, after) = parse_cert_id(request.content)?;
        if !after.is_empty() {
            // singleRequestExtensions [0] EXPLICIT: none is acted on.
            let ext = take(after, 0xa0, "singleRequestExtensions")?;
            if !ext.rest.is_empty() {
                return Err(malformed("trailing data in a Request"));
            }
        }
        questions.push(OcspQuestion { serial: cert_id.serial_for(issuer), cert_id_der: cert_id.der });
    }
    if questions.is_empty() {
        return Err(malformed("the request asks about no certificate"));
    }
    Ok(OcspRequest { questions, nonce })
}

/// The `CertStatus` CHOICE.
fn cert_status_der(status: CertStatus) -> Vec<u8> {
    match status {
        CertStatus::Good => vec![0x80, 0x00],
        CertStatus::Unknown => vec![0x82, 0x00],
        CertStatus::Revoked { revoked_at, on_hold } => {
            let mut info = generalized_time(revoked_at);
            if on_hold {
                info.extend(tlv(0xa0, &tlv(0x0a, &[6]))); // revocationReason certificateHold
            }
            tlv(0xa1, &info)
        }
    }
}

/// Rules on what the response will say, before anything is signed: one
/// status per question, each CertID well-formed and naming this issuer
/// exactly when it carries a serial, and only `unknown` for the others.
fn lint(issuer: &IssuerHashes, request: &OcspRequest, statuses: &[CertStatus], now: OffsetDateTime) -> Result<(), String> {
    if request.questions.is_empty() || request.questions.len() > MAX_CERT_IDS {
        return Err(format!("a response answers 1 to {MAX_CERT_IDS} CertIDs"));
    }
    if statuses.len() != request.questions.len() {
        return Err(format!("{} statuses for {} CertIDs", statuses.len(), request.questions.len()));
    }
    if request.nonce.as_ref().is_some_and(|n| n.is_empty() || n.len() > MAX_NONCE_VALUE) {
        return Err("the nonce is empty or too long".into());
    }
    for (q, status) in request.questions.iter().zip(statuses) {
        let (id, rest) = parse_cert_id(&q.cert_id_der).map_err(|e| e.0)?;
        if !rest.is_empty() || id.der != q.cert_id_der {
            return Err("a CertID is not in canonical DER".into());
        }
        if id.serial_for(issuer) != q.serial {
            return Err("a CertID's serial does not match what was asked of this issuer".into());
        }
        match (&q.serial, status) {
            (None, CertStatus::Good | CertStatus::Revoked { .. }) => {
                return Err("a certificate of another issuer can only be `unknown`".into());
            }
            (_, CertStatus::Revoked { revoked_at, .. }) if *revoked_at > now => {
                return Err(format!("a revocation time {revoked_at} is in the future"));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Build, lint, sign and verify back the `successful` OCSPResponse to
/// `request`, signed by `signer` (the issuing CA key `key`).
pub(crate) fn build_response(
    signer: &dyn AuthoritySigner,
    key: &PublicKeyInfo,
    issuer: &IssuerHashes,
    request: &OcspRequest,
    statuses: &[CertStatus],
    now: OffsetDateTime,
) -> Result<Vec<u8>, MintError> {
    if signer.public_key_spki_der() != key.spki_der.as_slice() || signer.algorithm() != key.algorithm {
        return Err(MintError::Build("the signer's key is not the issuing CA's key".into()));
    }
    let now = cert_time(now);
    lint(issuer, request, statuses, now).map_err(MintError::Lint)?;
    let next_update = now.checked_add(OCSP_VALIDITY).ok_or_else(|| MintError::Lint("nextUpdate is out of range".into()))?;

    let single = |q: &OcspQuestion, s: CertStatus| {
        let when = [generalized_time(now), tlv(0xa0, &generalized_time(next_update))].concat();
        tlv(0x30, &[q.cert_id_der.as_slice(), &cert_status_der(s), &when].concat())
    };
    let responses: Vec<u8> = request.questions.iter().zip(statuses).flat_map(|(q, s)| single(q, *s)).collect();
    let mut data = [
        tlv(0xa2, &tlv(0x04, issuer.key_sha1())), // responderID byKey [2] EXPLICIT KeyHash
        generalized_time(now),                    // producedAt
        tlv(0x30, &responses),
    ]
    .concat();
    if let Some(nonce) = &request.nonce {
        data.extend(tlv(0xa1, &tlv(0x30, &extension(&OID_NONCE, false, nonce)))); // responseExtensions [1] EXPLICIT
    }
    let tbs = tlv(0x30, &data);

    let sig_alg = signature_algorithm_der(key.algorithm);
    let signature = signer.sign(&tbs)?;
    let basic = signed(&tbs, &sig_alg, &signature);
    let der = tlv(0x30, &[tlv(0x0a, &[0]), tlv(0xa0, &tlv(0x30, &[tlv(0x06, &OID_BASIC), tlv(0x04, &basic)].concat()))].concat());
    verify_back(&der, &tbs, key)?;
    Ok(der)
}

/// Parse the response back down to the BasicOCSPResponse; check it carries
/// exactly `tbs` and that its signature verifies under `key`.
fn verify_back(der: &[u8], tbs: &[u8], key: &PublicKeyInfo) -> Result<(), MintError> {
    let fail = |why: &str| MintError::VerifyBack(why.to_string());
    let basic = (|| {
        let outer = split_tlv(der).filter(|t| t.tag == 0x30 && t.rest.is_empty())?;
        let status = split_tlv(outer.content).filter(|t| t.tag == 0x0a && t.content == [0])?;
        let bytes = split_tlv(status.rest).filter(|t| t.tag == 0xa0 && t.rest.is_empty())?;
        let seq = split_tlv(bytes.content).filter(|t| t.tag == 0x30 && t.rest.is_empty())?;
        let kind = split_tlv(seq.content).filter(|t| t.tag == 0x06 && t.content == OID_BASIC)?;
        let octets = split_tlv(kind.rest).filter(|t| t.tag == 0x04 && t.rest.is_empty())?;
        let basic = split_tlv(octets.content).filter(|t| t.tag == 0x30 && t.rest.is_empty())?;
        let data = split_tlv(basic.content).filter(|t| t.tag == 0x30)?;
        let alg = split_tlv(data.rest).filter(|t| t.tag == 0x30)?;
        let sig = split_tlv(alg.rest).filter(|t| t.tag == 0x03 && t.rest.is_empty())?;
        Some((data.whole, alg.whole, sig.content))
    })();
    let (data, alg, sig) = basic.ok_or_else(|| fail("the response is not a successful BasicOCSPResponse"))?;
    if data != tbs {
        return Err(fail("the response does not carry exactly the linted ResponseData"));
    }
    let (rest, alg) = AlgorithmIdentifier::from_der(alg).map_err(|_| fail("the signature algorithm does not parse"))?;
    let signature = match sig {
        [0, signature @ ..] if rest.is_empty() => signature,
        _ => return Err(fail("the signature bit string is malformed")),
    };
    verify_signature(key, &alg, signature, data).map_err(|e| match e {
        SignatureError::Invalid => fail("the response signature does not verify under the issuing CA key"),
        SignatureError::Unsupported(oid) => MintError::VerifyBack(format!("unexpected signature algorithm `{oid}`")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::PublicKeyData;

    fn issuer() -> (IssuerHashes, PublicKeyInfo) {
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let key = PublicKeyInfo::from_spki_der(&kp.subject_public_key_info()).unwrap();
        (IssuerHashes::of(b"\x30\x00", &key), key)
    }

    fn cert_id(alg: &[u8], name: &[u8], key: &[u8], serial: &[u8]) -> Vec<u8> {
        tlv(0x30, &[alg, &tlv(0x04, name), &tlv(0x04, key), &tlv(0x02, serial)].concat())
    }

    fn request(cert_ids: &[Vec<u8>], extensions: Option<Vec<u8>>) -> Vec<u8> {
        let list: Vec<u8> = cert_ids.iter().flat_map(|c| tlv(0x30, c)).collect();
        let mut tbs = tlv(0x30, &list);
        if let Some(e) = extensions {
            tbs.extend(tlv(0xa2, &tlv(0x30, &e)));
        }
        tlv(0x30, &tlv(0x30, &tbs))
    }

    #[test]
    fn cert_ids_match_under_sha1_and_sha256_only_for_this_issuer() {
        let (h, _) = issuer();
        let serial = [0x40; 16];
        let sha1 = tlv(0x30, &[tlv(0x06, OID_HASH_SHA1.as_bytes()), vec![0x05, 0x00]].concat());
        let sha256 = tlv(0x30, &tlv(0x06, OID_NIST_HASH_SHA256.as_bytes()));
        let ids = [
            cert_id(&sha1, &h.sha1.0, &h.sha1.1, &serial),
            cert_id(&sha256, &h.sha256.0, &h.sha256.1, &serial),
            cert_id(&sha1, &h.sha1.0, &[0; 20], &serial),        // another key
            cert_id(&sha256, &h.sha1.0, &h.sha1.1, &serial),     // SHA-1 hashes labelled SHA-256
            cert_id(&sha1, &h.sha1.0, &h.sha1.1, &[0x12, 0x34]), // a serial we never issue
            cert_id(&sha1, &h.sha1.0, &h.sha1.1, &[0xc0; 16]),   // negative
        ];
        let nonce = tlv(0x04, &[7; 16]);
        let req = request(&ids, Some(extension(&OID_NONCE, false, &nonce)));
        let parsed = parse_request(&req, &h).unwrap();
        let want = Serial::parse_hex("s", &"40".repeat(16)).unwrap();
        let got: Vec<_> = parsed.questions.iter().map(|q| q.serial.clone()).collect();
        assert_eq!(got, [Some(want.clone()), Some(want), None, None, None, None]);
        assert_eq!(parsed.nonce, Some(nonce));
        for (q, id) in parsed.questions.iter().zip(&ids) {
            assert_eq!(&q.cert_id_der, id);
        }
    }

    #[test]
    fn malformed_requests_are_refused_without_panicking() {
        let (h, _) = issuer();
        let sha1 = tlv(0x30, &tlv(0x06, OID_HASH_SHA1.as_bytes()));
        let good = request(&[cert_id(&sha1, &[1; 20], &[2; 20], &[1])], None);
        assert!(parse_request(&good, &h).is_ok());
        let mut cases: Vec<Vec<u8>> = vec![
            vec![],
            b"garbage".to_vec(),
            request(&[], None),
            request(&vec![cert_id(&sha1, &[1; 20], &[2; 20], &[1]); MAX_CERT_IDS + 1], None),
            request(&[cert_id(&sha1, &[1; 20], &[2; 20], &[])], None),
            [good.clone(), vec![0]].concat(),
            vec![0x30; 100_000],
        ];
        // Every truncation of a good request.
        cases.extend((0..good.len()).map(|n| good[..n].to_vec()));
        for c in cases {
            assert!(parse_request(&c, &h).is_err(), "{c:02x?}");
        }
    }

    #[test]
    fn responses_are_signed_and_linted() {
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        struct Signer(rcgen::KeyPair, Vec<u8>);
        impl AuthoritySigner for Signer {
            fn algorithm(&self) -> signet_model::profile::KeyAlgorithm {
                signet_model::profile::KeyAlgorithm::EcdsaP256
            }
            fn public_key_spki_der(&self) -> &[u8] {
                &self.1
            }
            fn sign(&self, message: &[u8]) -> Result<Vec<u8>, signet_core::ports::KeyError> {
                Ok(rcgen::SigningKey::sign(&self.0, message).unwrap())
            }
        }
        let spki = kp.subject_public_key_info();
        let signer = Signer(kp, spki.clone());
        let key = PublicKeyInfo::from_spki_der(&spki).unwrap();
        let h = IssuerHashes::of(b"\x30\x00", &key);
        let sha1 = tlv(0x30, &tlv(0x06, OID_HASH_SHA1.as_bytes()));
        let req = request(&[cert_id(&sha1, &h.sha1.0, &h.sha1.1, &[0x41; 16]), cert_id(&sha1, &[0; 20], &[0; 20], &[0x41; 16])], None);
        let parsed = parse_request(&req, &h).unwrap();
        let now = time::macros::datetime!(2026-03-01 12:00:00 UTC);
        let revoked = CertStatus::Revoked { revoked_at: now - Duration::hours(1), on_hold: true };
        let der = build_response(&signer, &key, &h, &parsed, &[revoked, CertStatus::Unknown], now).unwrap();
        assert_eq!(der[..2], [0x30, 0x82]);

        // Lint: a foreign CertID cannot be good; statuses must match the questions.
        let lint_err = |r: Result<Vec<u8>, MintError>| matches!(r, Err(MintError::Lint(_)));
        assert!(lint_err(build_response(&signer, &key, &h, &parsed, &[CertStatus::Good, CertStatus::Good], now)));
        assert!(lint_err(build_response(&signer, &key, &h, &parsed, &[CertStatus::Good], now)));
        let future = CertStatus::Revoked { revoked_at: now + Duration::hours(1), on_hold: false };
        assert!(lint_err(build_response(&signer, &key, &h, &parsed, &[future, CertStatus::Unknown], now)));
        let mut forged = parsed.clone();
        forged.questions[1].serial = forged.questions[0].serial.clone();
        assert!(lint_err(build_response(&signer, &key, &h, &forged, &[CertStatus::Good, CertStatus::Good], now)));
    }

    #[test]
    fn unsuccessful_responses() {
        assert_eq!(unsuccessful_response(UnsuccessfulStatus::MalformedRequest), [0x30, 0x03, 0x0a, 0x01, 0x01]);
        assert_eq!(unsuccessful_response(UnsuccessfulStatus::Unauthorized), [0x30, 0x03, 0x0a, 0x01, 0x06]);
    }
}

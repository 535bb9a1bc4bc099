//! The certificate revocation list of an issuing CA (RFC 5280 §5), written
//! by hand in DER:
//!
//! ```text
//! revoked (serial, time) + now ──▶ CrlTemplate ──▶ TBSCertList ──▶ lint (parse back, check every field)
//!                                                                        │
//!   DER CRL ◀── verify back (parse, signature, every field) ◀── AuthoritySigner signs the linted bytes
//! ```
//!
//! v2, signed by the issuing CA key, with thisUpdate = now, nextUpdate =
//! now + [`CRL_VALIDITY`], an authorityKeyIdentifier (the issuing CA's
//! subjectKeyIdentifier) and a cRLNumber: the unix time of thisUpdate, which
//! increases with every CRL as long as the clock does not go back and CRLs
//! are at least a second apart (the server reuses one for half its lifetime).

use crate::der::{extension, signed, tlv, x509_time};
use crate::key::{PublicKeyInfo, SignatureError, signature_algorithm_der, signature_oid, verify_signature};
use crate::template::{IssuerCa, cert_time};
use signet_core::mint::MintError;
use signet_core::ports::AuthoritySigner;
use signet_model::ids::Serial;
use std::collections::HashSet;
use time::{Duration, OffsetDateTime};
use x509_parser::extensions::ParsedExtension;
use x509_parser::oid_registry::{OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER, OID_X509_EXT_CRL_NUMBER};
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::{CertificateRevocationList, TbsCertList};
use x509_parser::x509::X509Version;

/// How long a CRL is valid: nextUpdate = thisUpdate + this.
pub const CRL_VALIDITY: Duration = Duration::hours(1);

/// Everything one CRL will say, decided before any bytes exist.
struct CrlTemplate<'a> {
    ca: &'a IssuerCa,
    key: &'a PublicKeyInfo,
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
    number: u64,
    /// Content octets of each serial INTEGER, and its revocation date.
    revoked: Vec<(Vec<u8>, OffsetDateTime)>,
}

impl<'a> CrlTemplate<'a> {
    /// Rules on the content itself: times in order, no serial twice.
    fn new(ca: &'a IssuerCa, key: &'a PublicKeyInfo, revoked: &[(Serial, OffsetDateTime)], now: OffsetDateTime) -> Result<Self, String> {
        let this_update = cert_time(now);
        let next_update = this_update.checked_add(CRL_VALIDITY).ok_or("nextUpdate is out of range")?;
        let number = u64::try_from(this_update.unix_timestamp()).map_err(|_| "thisUpdate is before 1970: no CRL number")?;
        let mut seen = HashSet::new();
        let mut entries = Vec::with_capacity(revoked.len());
        for (serial, at) in revoked {
            if !seen.insert(serial) {
                return Err(format!("serial `{serial}` is listed twice"));
            }
            let at = cert_time(*at);
            if at > this_update {
                return Err(format!("serial `{serial}` is revoked at {at}, after thisUpdate {this_update}"));
            }
            entries.push((crate::der::positive_integer_content(serial.as_bytes()), at));
        }
        Ok(Self { ca, key, this_update, next_update, number, revoked: entries })
    }

    /// The DER TBSCertList.
    fn tbs_der(&self) -> Vec<u8> {
        let entries: Vec<u8> =
            self.revoked.iter().flat_map(|(serial, at)| tlv(0x30, &[tlv(0x02, serial), x509_time(*at)].concat())).collect();
        let aki = tlv(0x30, &tlv(0x80, &self.ca.key_id)); // keyIdentifier [0] IMPLICIT
        let number = tlv(0x02, &crate::der::positive_integer_content(&self.number.to_be_bytes()));
        let extensions = [
            extension(OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER.as_bytes(), false, &aki),
            extension(OID_X509_EXT_CRL_NUMBER.as_bytes(), false, &number),
        ]
        .concat();
        let mut body = [
            tlv(0x02, &[1]), // v2
            signature_algorithm_der(self.key.algorithm),
            self.ca.subject_raw.clone(),
            x509_time(self.this_update),
            x509_time(self.next_update),
        ]
        .concat();
        if !entries.is_empty() {
            // revokedCertificates is absent, not empty, when nothing is revoked.
            body.extend(tlv(0x30, &entries));
        }
        body.extend(tlv(0xa0, &tlv(0x30, &extensions))); // crlExtensions [0] EXPLICIT
        tlv(0x30, &body)
    }

    /// Check a parsed TBSCertList against the template, field by field.
    fn check(&self, tbs: &TbsCertList<'_>) -> Result<(), String> {
        if tbs.version != Some(X509Version::V2) {
            return Err("the CRL is not version 2".into());
        }
        if tbs.signature.algorithm != signature_oid(self.key.algorithm) {
            return Err("the signature algorithm does not match the issuer key".into());
        }
        if tbs.issuer.as_raw() != self.ca.subject_raw.as_slice() {
            return Err("the issuer name differs from the issuing CA's subject".into());
        }
        if tbs.this_update.to_datetime() != self.this_update || tbs.next_update.map(|t| t.to_datetime()) != Some(self.next_update) {
            return Err("thisUpdate or nextUpdate differs from the template".into());
        }
        if tbs.revoked_certificates.len() != self.revoked.len() {
            return Err("the CRL does not list exactly the revoked serials".into());
        }
        for (entry, (serial, at)) in tbs.revoked_certificates.iter().zip(&self.revoked) {
            if entry.raw_serial() != serial.as_slice() || entry.revocation_date.to_datetime() != *at || !entry.extensions().is_empty() {
                return Err(format!("the entry for serial `{}` differs from the template", entry.raw_serial_as_string()));
            }
        }
        let [aki, number] = tbs.extensions() else {
            return Err("the CRL must have exactly two extensions: authorityKeyIdentifier and cRLNumber".into());
        };
        let aki_ok = aki.oid == OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER
            && !aki.critical
            && matches!(aki.parsed_extension(), ParsedExtension::AuthorityKeyIdentifier(a)
                if a.key_identifier.as_ref().map(|k| k.0) == Some(self.ca.key_id.as_slice())
                    && a.authority_cert_issuer.is_none()
                    && a.authority_cert_serial.is_none());
        if !aki_ok {
            return Err("authorityKeyIdentifier differs from the issuing CA's subjectKeyIdentifier".into());
        }
        let number_ok = number.oid == OID_X509_EXT_CRL_NUMBER
            && !number.critical
            && matches!(number.parsed_extension(), ParsedExtension::CRLNumber(n) if n.to_u64_digits() == [self.number]);
        if !number_ok {
            return Err("cRLNumber differs from the template".into());
        }
        Ok(())
    }
}

/// Build, lint, sign and verify back the CRL of the CA `ca` (whose key is
/// `key`, held by `signer`) at `now`, listing `revoked`.
pub(crate) fn build_crl(
    signer: &dyn AuthoritySigner,
    key: &PublicKeyInfo,
    ca: &IssuerCa,
    revoked: &[(Serial, OffsetDateTime)],
    now: OffsetDateTime,
) -> Result<Vec<u8>, MintError> {
    if signer.public_key_spki_der() != key.spki_der.as_slice() || signer.algorithm() != key.algorithm {
        return Err(MintError::Build("the signer's key is not the issuing CA's key".into()));
    }
    let template = CrlTemplate::new(ca, key, revoked, now).map_err(MintError::Lint)?;

    // Lint: the bytes to be signed parse back to exactly the template.
    let tbs_der = template.tbs_der();
    let (rest, tbs) = TbsCertList::from_der(&tbs_der).map_err(|e| MintError::Lint(format!("the to-be-signed CRL does not parse: {e}")))?;
    if !rest.is_empty() {
        return Err(MintError::Lint("trailing data after the to-be-signed CRL".into()));
    }
    template.check(&tbs).map_err(MintError::Lint)?;

    // Sign the linted bytes.
    let signature = signer.sign(&tbs_der)?;
    let der = signed(&tbs_der, &signature_algorithm_der(key.algorithm), &signature);

    // Verify back: parse, the signature under the CA key, every field.
    let fail = |why: String| MintError::VerifyBack(why);
    let (rest, crl) = CertificateRevocationList::from_der(&der).map_err(|e| fail(format!("the CRL does not parse: {e}")))?;
    if !rest.is_empty() || crl.tbs_cert_list.as_ref() != tbs_der.as_slice() {
        return Err(fail("the CRL does not carry exactly the linted to-be-signed bytes".into()));
    }
    if crl.signature_value.unused_bits != 0 {
        return Err(fail("the signature bit string is malformed".into()));
    }
    verify_signature(key, &crl.signature_algorithm, &crl.signature_value.data, crl.tbs_cert_list.as_ref()).map_err(|e| match e {
        SignatureError::Invalid => fail("the CRL signature does not verify under the issuing CA key".into()),
        SignatureError::Unsupported(oid) => fail(format!("unexpected signature algorithm `{oid}`")),
    })?;
    template.check(&crl.tbs_cert_list).map_err(fail)?;
    Ok(der)
}

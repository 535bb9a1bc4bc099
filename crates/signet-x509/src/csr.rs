//! Certificate signing requests (PKCS#10, RFC 2986): untrusted input.
//!
//! [`parse_csr`] checks the proof of possession (the CSR's signature under
//! its own key) and keeps three things: the public key, the requested SANs
//! and the common name. Every other requested extension is ignored: a CSR
//! that asks for `CA:true`, key usages or anything else influences nothing.

use crate::key::{PublicKeyInfo, SignatureError, sha256_hex, verify_signature};
use crate::pem::pem_decode_one;
use signet_core::mint::BoundKey;
use signet_model::FieldError;
use signet_model::names::{SanSet, shorten};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::cri_attributes::ParsedCriAttribute;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::oid_registry::{OID_PKCS9_EXTENSION_REQUEST, OID_X509_EXT_SUBJECT_ALT_NAME};
use x509_parser::prelude::FromDer;
use x509_parser::x509::X509Version;

/// The largest CSR accepted, PEM or DER.
pub const MAX_CSR_BYTES: usize = 64 * 1024;

const FIELD: &str = "csr";

/// What a CSR contributes to a request once its proof of possession checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedCsr {
    /// The public key, proven to be held by the requester.
    pub key: BoundKey,
    /// The SANs the CSR asks for (from its extensionRequest), validated.
    pub names: SanSet,
    /// The subject common name the CSR asks for, if any.
    pub common_name: Option<String>,
}

fn err(reason: impl Into<String>) -> FieldError {
    FieldError::new(FIELD, reason)
}

const NOT_A_CSR: &str = "not a PEM or DER certificate signing request";

/// Parse and check a CSR, PEM (`CERTIFICATE REQUEST` or `NEW CERTIFICATE
/// REQUEST`) or DER, at most [`MAX_CSR_BYTES`].
pub fn parse_csr(input: &[u8]) -> Result<ParsedCsr, FieldError> {
    if input.len() > MAX_CSR_BYTES {
        return Err(err(format!("the CSR is larger than {} KiB", MAX_CSR_BYTES / 1024)));
    }
    let der = to_der(input)?;
    let (rest, csr) = X509CertificationRequest::from_der(&der).map_err(|_| err(NOT_A_CSR))?;
    if !rest.is_empty() {
        return Err(err("trailing data after the certificate signing request"));
    }
    let info = &csr.certification_request_info;
    if info.version != X509Version(0) {
        return Err(err(format!("unsupported CSR version {}", info.version.0)));
    }

    let key = PublicKeyInfo::from_parsed(&info.subject_pki).map_err(err)?;
    if csr.signature_value.unused_bits != 0 {
        return Err(err("the CSR signature is malformed"));
    }
    verify_signature(&key, &csr.signature_algorithm, &csr.signature_value.data, info.raw).map_err(|e| match e {
        SignatureError::Invalid => err("the CSR signature does not verify: proof of possession failed"),
        SignatureError::Unsupported(oid) => err(format!("unsupported signature algorithm `{oid}` for a {} key", key.algorithm)),
    })?;

    let names = requested_names(&csr)?;
    let common_name = common_name(&csr)?;
    let fingerprint = sha256_hex(&key.spki_der);
    Ok(ParsedCsr { key: BoundKey { spki_der: key.spki_der, algorithm: key.algorithm, fingerprint }, names, common_name })
}

fn to_der(input: &[u8]) -> Result<Vec<u8>, FieldError> {
    let start = input.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(input.len());
    if input[start..].starts_with(b"-----BEGIN ") {
        let text = std::str::from_utf8(input).map_err(|_| err(NOT_A_CSR))?;
        return pem_decode_one(text, &["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"]).ok_or_else(|| err(NOT_A_CSR));
    }
    if input.first() == Some(&0x30) {
        return Ok(input.to_vec());
    }
    Err(err(NOT_A_CSR))
}

/// The SANs of the extensionRequest attribute, and nothing else from it.
fn requested_names(csr: &X509CertificationRequest<'_>) -> Result<SanSet, FieldError> {
    let (mut dns, mut ip, mut uri, mut email) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut seen_request = false;
    let mut seen_san = false;
    for attr in csr.certification_request_info.iter_attributes() {
        if attr.oid != OID_PKCS9_EXTENSION_REQUEST {
            continue;
        }
        if seen_request {
            return Err(err("the CSR has more than one extensionRequest attribute"));
        }
        seen_request = true;
        let ParsedCriAttribute::ExtensionRequest(request) = attr.parsed_attribute() else {
            return Err(err("the CSR extensionRequest attribute is malformed"));
        };
        for ext in request.extensions.iter().filter(|e| e.oid == OID_X509_EXT_SUBJECT_ALT_NAME) {
            if seen_san {
                return Err(err("the CSR asks for more than one subjectAltName extension"));
            }
            seen_san = true;
            let ParsedExtension::SubjectAlternativeName(san) = ext.parsed_extension() else {
                return Err(err("the CSR subjectAltName extension is malformed"));
            };
            for name in &san.general_names {
                match name {
                    GeneralName::DNSName(s) => dns.push(s.to_string()),
                    GeneralName::URI(s) => uri.push(s.to_string()),
                    GeneralName::RFC822Name(s) => email.push(s.to_string()),
                    GeneralName::IPAddress(bytes) => ip.push(ip_from_bytes(bytes)?.to_string()),
                    _ => {
                        return Err(err(
                            "the CSR asks for a subject alternative name of an unsupported type: use DNS, IP, URI or email names",
                        ));
                    }
                }
            }
        }
    }
    SanSet::parse("csr.names", &dns, &ip, &uri, &email)
}

fn ip_from_bytes(bytes: &[u8]) -> Result<IpAddr, FieldError> {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        return Ok(IpAddr::V4(Ipv4Addr::from(v4)));
    }
    if let Ok(v6) = <[u8; 16]>::try_from(bytes) {
        return Ok(IpAddr::V6(Ipv6Addr::from(v6)));
    }
    Err(err("the CSR asks for a malformed IP address name"))
}

fn common_name(csr: &X509CertificationRequest<'_>) -> Result<Option<String>, FieldError> {
    let mut cns = csr.certification_request_info.subject.iter_common_name();
    let Some(first) = cns.next() else {
        return Ok(None);
    };
    if cns.next().is_some() {
        return Err(err("the CSR subject has more than one common name"));
    }
    let cn = first.as_str().map_err(|_| err("the CSR subject common name is not a string"))?;
    if cn.chars().count() > 64 {
        return Err(err(format!("the CSR common name `{}` is longer than 64 characters", shorten(cn))));
    }
    if cn.chars().any(char::is_control) {
        return Err(err("the CSR common name contains control characters"));
    }
    Ok(if cn.is_empty() { None } else { Some(cn.to_string()) })
}

//! CA bootstrap: the self-signed root and the issuing CA under it.
//!
//! Both go through the same prepare → sign → verify-back path as every
//! other certificate. Defaults the caller passes: root 10 years, issuing
//! CA 5 years.

use crate::ca::bind_own_key;
use crate::certificate::{SignerRef, parse_issuer_ca, prepare};
use crate::key::PublicKeyInfo;
use crate::template::{IssuerTemplate, Template, cert_time, key_usages_for};
use signet_core::mint::MintError;
use signet_core::ports::{AuthoritySigner, KeyStore};
use signet_model::ids::Serial;
use signet_model::names::SanSet;
use signet_model::profile::KeyAlgorithm;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

fn ca_template(
    common_name: &str,
    serial: &Serial,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    path_len: u8,
    subject_key: PublicKeyInfo,
    issuer: IssuerTemplate,
) -> Template {
    Template {
        serial: crate::der::positive_integer_content(serial.as_bytes()),
        not_before,
        not_after,
        common_name: Some(common_name.to_string()),
        names: SanSet::default(),
        ca: Some(Some(path_len)),
        key_usages: key_usages_for(true, subject_key.algorithm),
        ext_key_usages: Vec::new(),
        subject_key,
        issuer,
        urls: None,
    }
}

fn check_request(common_name: &str, validity: Duration) -> Result<(), MintError> {
    if common_name.is_empty() || common_name.chars().count() > 64 || common_name.chars().any(char::is_control) {
        return Err(MintError::Lint("the CA common name must be 1-64 characters without control characters".into()));
    }
    if validity <= Duration::ZERO {
        return Err(MintError::Lint("the CA validity must be positive".into()));
    }
    Ok(())
}

fn end_of(now: OffsetDateTime, validity: Duration) -> Result<OffsetDateTime, MintError> {
    now.checked_add(validity).map(cert_time).ok_or_else(|| MintError::Lint("the CA validity is out of range".into()))
}

fn public_key_of(signer: &dyn AuthoritySigner) -> Result<PublicKeyInfo, MintError> {
    bind_own_key(signer)?;
    PublicKeyInfo::from_spki_der(signer.public_key_spki_der()).map_err(|e| MintError::Build(format!("the new key: {e}")))
}

/// Generate the root key `key_ref` in `keys` and its self-signed
/// certificate: CA:true with path length 1 (critical), keyCertSign and
/// cRLSign (critical), a subjectKeyIdentifier. Returns the DER certificate
/// and the signer.
pub fn create_root(
    keys: &dyn KeyStore,
    key_ref: &str,
    alg: KeyAlgorithm,
    common_name: &str,
    serial: &Serial,
    now: OffsetDateTime,
    validity: Duration,
) -> Result<(Vec<u8>, Arc<dyn AuthoritySigner>), MintError> {
    check_request(common_name, validity)?;
    let not_before = cert_time(now);
    let not_after = end_of(not_before, validity)?;
    let signer = keys.generate(key_ref, alg)?;
    let key = public_key_of(signer.as_ref())?;
    let issuer = IssuerTemplate { key: key.clone(), ca: None };
    let template = ca_template(common_name, serial, not_before, not_after, 1, key, issuer);
    let der = prepare(template, SignerRef::Borrowed(signer.as_ref()))?.sign()?.verify_back()?;
    Ok((der, signer))
}

/// Generate the issuing CA key `key_ref` in `keys` and its certificate,
/// signed by the root: CA:true with path length 0 (critical), keyCertSign
/// and cRLSign (critical), SKI, AKI = the root's SKI. The validity is
/// clipped to the root's.
#[allow(clippy::too_many_arguments)] // the bootstrap interface: each argument is a distinct input
pub fn create_issuing(
    keys: &dyn KeyStore,
    key_ref: &str,
    alg: KeyAlgorithm,
    common_name: &str,
    serial: &Serial,
    now: OffsetDateTime,
    validity: Duration,
    root_cert_der: &[u8],
    root_signer: &dyn AuthoritySigner,
) -> Result<(Vec<u8>, Arc<dyn AuthoritySigner>), MintError> {
    check_request(common_name, validity)?;
    let (root, root_key) = parse_issuer_ca(root_cert_der)?;
    if root_key.spki_der != root_signer.public_key_spki_der() {
        return Err(MintError::Build("the root certificate's public key is not the root signer's key".into()));
    }
    let not_before = cert_time(now).max(root.not_before);
    let not_after = end_of(cert_time(now), validity)?.min(root.not_after);
    let signer = keys.generate(key_ref, alg)?;
    let key = public_key_of(signer.as_ref())?;
    let issuer = IssuerTemplate { key: root_key, ca: Some(root) };
    let template = ca_template(common_name, serial, not_before, not_after, 0, key, issuer);
    let der = prepare(template, SignerRef::Borrowed(root_signer))?.sign()?.verify_back()?;
    Ok((der, signer))
}

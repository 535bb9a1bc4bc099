//! Public keys: recognising a SubjectPublicKeyInfo as one of our
//! [`KeyAlgorithm`]s, verifying signatures under it (one allow-list for CSRs
//! and for verify-back), and the rcgen adapters over it.

use crate::der::tlv;
use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA384_ASN1, ECDSA_P384_SHA256_ASN1, ECDSA_P384_SHA384_ASN1, ED25519, RSA_PKCS1_2048_8192_SHA256,
    RSA_PKCS1_2048_8192_SHA384, RSA_PKCS1_2048_8192_SHA512, UnparsedPublicKey, VerificationAlgorithm,
};
use rcgen::{PublicKeyData, SignatureAlgorithm, SigningKey};
use signet_model::profile::KeyAlgorithm;
use std::cell::RefCell;
use x509_parser::der_parser::oid::Oid;
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_PKCS1_RSAENCRYPTION, OID_PKCS1_SHA256WITHRSA, OID_PKCS1_SHA384WITHRSA,
    OID_PKCS1_SHA512WITHRSA, OID_SIG_ECDSA_WITH_SHA256, OID_SIG_ECDSA_WITH_SHA384, OID_SIG_ED25519,
};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::{AlgorithmIdentifier, SubjectPublicKeyInfo};

/// SHA-256 over `data`.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, data).as_ref());
    out
}

/// Lower-case hex of SHA-256 over `data`.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    digest(&SHA256, data).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// The key identifier rcgen derives (and we expect): the first 160 bits of
/// SHA-256 over the DER SubjectPublicKeyInfo.
pub(crate) fn key_identifier(spki_der: &[u8]) -> Vec<u8> {
    digest(&SHA256, spki_der).as_ref()[..20].to_vec()
}

/// A public key we support, in canonical DER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PublicKeyInfo {
    pub algorithm: KeyAlgorithm,
    /// The canonical DER SubjectPublicKeyInfo.
    pub spki_der: Vec<u8>,
    /// The subjectPublicKey bits: an EC point, an Ed25519 key, or a PKCS#1 RSAPublicKey.
    pub raw: Vec<u8>,
}

impl PublicKeyInfo {
    /// Parse DER SubjectPublicKeyInfo, nothing after it.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, String> {
        let (rest, spki) =
            SubjectPublicKeyInfo::from_der(der).map_err(|_| "the public key is not a DER SubjectPublicKeyInfo".to_string())?;
        if !rest.is_empty() {
            return Err("trailing data after the public key".into());
        }
        Self::from_parsed(&spki)
    }

    /// Recognise a parsed SubjectPublicKeyInfo. Refuses keys outside
    /// [`KeyAlgorithm`] and encodings that are not the canonical DER.
    pub fn from_parsed(spki: &SubjectPublicKeyInfo<'_>) -> Result<Self, String> {
        if spki.subject_public_key.unused_bits != 0 {
            return Err("the public key bit string is malformed".into());
        }
        let raw = spki.subject_public_key.data.to_vec();
        let oid = &spki.algorithm.algorithm;
        let algorithm = if *oid == OID_KEY_TYPE_EC_PUBLIC_KEY {
            let curve = spki.algorithm.parameters.as_ref().and_then(|p| p.as_oid().ok()).ok_or("the EC public key names no curve")?;
            let (alg, len) = if curve == OID_EC_P256 {
                (KeyAlgorithm::EcdsaP256, 65)
            } else if curve == OID_NIST_EC_P384 {
                (KeyAlgorithm::EcdsaP384, 97)
            } else {
                return Err(format!("unsupported elliptic curve `{}`: use P-256 or P-384", curve.to_id_string()));
            };
            if raw.len() != len || raw.first() != Some(&0x04) {
                return Err("the EC public key must be an uncompressed point".into());
            }
            alg
        } else if *oid == OID_SIG_ED25519 {
            if raw.len() != 32 {
                return Err("the Ed25519 public key is malformed".into());
            }
            KeyAlgorithm::Ed25519
        } else if *oid == OID_PKCS1_RSAENCRYPTION {
            let Ok(PublicKey::RSA(rsa)) = spki.parsed() else {
                return Err("the RSA public key is malformed".into());
            };
            match rsa_modulus_bits(rsa.modulus) {
                2048 => KeyAlgorithm::Rsa2048,
                3072 => KeyAlgorithm::Rsa3072,
                4096 => KeyAlgorithm::Rsa4096,
                bits => return Err(format!("RSA key size {bits} is not allowed: use 2048, 3072 or 4096 bits")),
            }
        } else {
            return Err(format!("unsupported key algorithm `{}`: use ECDSA P-256 or P-384, Ed25519 or RSA", oid.to_id_string()));
        };
        let mut key = Self { algorithm, spki_der: Vec::new(), raw };
        key.spki_der = key.subject_public_key_info();
        if key.spki_der != spki.raw {
            return Err("the public key is not in canonical DER form".into());
        }
        Ok(key)
    }
}

fn rsa_modulus_bits(modulus: &[u8]) -> usize {
    let start = modulus.iter().take_while(|b| **b == 0).count();
    match modulus.get(start) {
        None => 0,
        Some(first) => (modulus.len() - start) * 8 - first.leading_zeros() as usize,
    }
}

/// The rcgen algorithm for a key: its SPKI algorithm identifier and, when it
/// signs, the signature scheme `AuthoritySigner::sign` uses.
pub(crate) fn rcgen_algorithm(alg: KeyAlgorithm) -> &'static SignatureAlgorithm {
    match alg {
        KeyAlgorithm::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
        KeyAlgorithm::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
        KeyAlgorithm::Ed25519 => &rcgen::PKCS_ED25519,
        KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => &rcgen::PKCS_RSA_SHA256,
    }
}

/// The subject key of a certificate, for rcgen.
impl PublicKeyData for PublicKeyInfo {
    fn der_bytes(&self) -> &[u8] {
        &self.raw
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        rcgen_algorithm(self.algorithm)
    }
}

/// The issuer key, for rcgen: it holds the issuer's public key and records
/// the to-be-signed bytes rcgen asks it to sign, returning an empty
/// signature. The real signature is made later, by the `AuthoritySigner`,
/// over exactly the bytes that were linted.
pub(crate) struct TbsCapture<'a> {
    pub public: &'a PublicKeyInfo,
    pub captured: RefCell<Option<Vec<u8>>>,
}

impl<'a> TbsCapture<'a> {
    pub fn new(public: &'a PublicKeyInfo) -> Self {
        Self { public, captured: RefCell::new(None) }
    }
}

impl PublicKeyData for TbsCapture<'_> {
    fn der_bytes(&self) -> &[u8] {
        &self.public.raw
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        rcgen_algorithm(self.public.algorithm)
    }
}

impl SigningKey for TbsCapture<'_> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        *self.captured.borrow_mut() = Some(msg.to_vec());
        Ok(Vec::new())
    }
}

/// The X.509 signature algorithm an `AuthoritySigner` of `alg` signs with.
pub(crate) fn signature_oid(alg: KeyAlgorithm) -> Oid<'static> {
    match alg {
        KeyAlgorithm::EcdsaP256 => OID_SIG_ECDSA_WITH_SHA256,
        KeyAlgorithm::EcdsaP384 => OID_SIG_ECDSA_WITH_SHA384,
        KeyAlgorithm::Ed25519 => OID_SIG_ED25519,
        KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => OID_PKCS1_SHA256WITHRSA,
    }
}

/// The DER AlgorithmIdentifier of [`signature_oid`], as rcgen writes it:
/// parameters absent for ECDSA and Ed25519 (RFC 5758, 8410), NULL for RSA
/// (RFC 4055).
pub(crate) fn signature_algorithm_der(alg: KeyAlgorithm) -> Vec<u8> {
    let oid = tlv(0x06, signature_oid(alg).as_bytes());
    match alg {
        KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => tlv(0x30, &[oid.as_slice(), &[0x05, 0x00]].concat()),
        KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 | KeyAlgorithm::Ed25519 => tlv(0x30, &oid),
    }
}

/// Why a signature did not verify.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SignatureError {
    /// The signature algorithm is not allowed for this key.
    Unsupported(String),
    /// The signature is wrong.
    Invalid,
}

/// Verify `signature` over `message` under `key`. The allow-list: ECDSA
/// with SHA-256 or SHA-384 on P-256 and P-384 (DER signatures), Ed25519,
/// RSA PKCS#1 v1.5 with SHA-256, SHA-384 or SHA-512.
pub(crate) fn verify_signature(
    key: &PublicKeyInfo,
    alg: &AlgorithmIdentifier<'_>,
    signature: &[u8],
    message: &[u8],
) -> Result<(), SignatureError> {
    let oid = &alg.algorithm;
    let unsupported = || SignatureError::Unsupported(oid.to_id_string());
    let params_absent = alg.parameters.is_none();
    let params_null_or_absent = alg.parameters.as_ref().is_none_or(|p| p.as_null().is_ok());
    let ecdsa_sha256 = *oid == OID_SIG_ECDSA_WITH_SHA256 && params_absent;
    let ecdsa_sha384 = *oid == OID_SIG_ECDSA_WITH_SHA384 && params_absent;
    let verifier: &'static dyn VerificationAlgorithm = match key.algorithm {
        KeyAlgorithm::EcdsaP256 if ecdsa_sha256 => &ECDSA_P256_SHA256_ASN1,
        KeyAlgorithm::EcdsaP256 if ecdsa_sha384 => &ECDSA_P256_SHA384_ASN1,
        KeyAlgorithm::EcdsaP384 if ecdsa_sha256 => &ECDSA_P384_SHA256_ASN1,
        KeyAlgorithm::EcdsaP384 if ecdsa_sha384 => &ECDSA_P384_SHA384_ASN1,
        KeyAlgorithm::Ed25519 if *oid == OID_SIG_ED25519 && params_absent => &ED25519,
        KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 if params_null_or_absent => {
            if *oid == OID_PKCS1_SHA256WITHRSA {
                &RSA_PKCS1_2048_8192_SHA256
            } else if *oid == OID_PKCS1_SHA384WITHRSA {
                &RSA_PKCS1_2048_8192_SHA384
            } else if *oid == OID_PKCS1_SHA512WITHRSA {
                &RSA_PKCS1_2048_8192_SHA512
            } else {
                return Err(unsupported());
            }
        }
        _ => return Err(unsupported()),
    };
    UnparsedPublicKey::new(verifier, &key.raw).verify(message, signature).map_err(|_| SignatureError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modulus_bits_ignore_leading_zeros() {
        let mut m = vec![0u8];
        m.extend(vec![0xff; 256]);
        assert_eq!(rsa_modulus_bits(&m), 2048);
        assert_eq!(rsa_modulus_bits(&[0x01, 0xff]), 9);
        assert_eq!(rsa_modulus_bits(&[0, 0]), 0);
    }

    #[test]
    fn rcgen_keys_are_recognised_and_canonical() {
        for (alg, rc) in [
            (KeyAlgorithm::EcdsaP256, &rcgen::PKCS_ECDSA_P256_SHA256),
            (KeyAlgorithm::EcdsaP384, &rcgen::PKCS_ECDSA_P384_SHA384),
            (KeyAlgorithm::Ed25519, &rcgen::PKCS_ED25519),
        ] {
            let kp = rcgen::KeyPair::generate_for(rc).unwrap();
            let spki = kp.subject_public_key_info();
            let key = PublicKeyInfo::from_spki_der(&spki).unwrap();
            assert_eq!(key.algorithm, alg);
            assert_eq!(key.spki_der, spki);
        }
        let mut bad = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap().subject_public_key_info();
        bad.push(0);
        assert!(PublicKeyInfo::from_spki_der(&bad).is_err());
    }
}

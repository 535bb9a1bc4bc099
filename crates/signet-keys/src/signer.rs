//! A software signer over an aws-lc-rs private key.

use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
use signet_core::ports::{AuthoritySigner, KeyError};
use signet_model::profile::KeyAlgorithm;
use std::fmt;

enum Inner {
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    Rsa(RsaKeyPair),
}

/// A private key held in memory, signing with the X.509 scheme of its
/// algorithm: ECDSA P-256/SHA-256 or P-384/SHA-384 (ASN.1 DER signatures),
/// Ed25519, RSA PKCS#1 v1.5 with SHA-256.
pub struct SoftwareSigner {
    algorithm: KeyAlgorithm,
    spki_der: Vec<u8>,
    inner: Inner,
}

impl fmt::Debug for SoftwareSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftwareSigner").field("algorithm", &self.algorithm).field("private_key", &"[redacted]").finish()
    }
}

fn backend(what: &str) -> KeyError {
    KeyError::Backend(what.to_string())
}

fn spki(public: &impl AsDer<PublicKeyX509Der<'static>>) -> Result<Vec<u8>, KeyError> {
    public.as_der().map(|d| d.as_ref().to_vec()).map_err(|_| backend("cannot encode the public key"))
}

/// Generate a new private key; returns its PKCS#8 DER.
pub(crate) fn generate_pkcs8(algorithm: KeyAlgorithm) -> Result<Vec<u8>, KeyError> {
    let fail = |_| backend("key generation failed");
    let der = match algorithm {
        KeyAlgorithm::EcdsaP256 => {
            EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).and_then(|k| k.to_pkcs8v1()).map_err(fail)?.as_ref().to_vec()
        }
        KeyAlgorithm::EcdsaP384 => {
            EcdsaKeyPair::generate(&ECDSA_P384_SHA384_ASN1_SIGNING).and_then(|k| k.to_pkcs8v1()).map_err(fail)?.as_ref().to_vec()
        }
        KeyAlgorithm::Ed25519 => Ed25519KeyPair::generate().and_then(|k| k.to_pkcs8v1()).map_err(fail)?.as_ref().to_vec(),
        KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
            let size = match algorithm {
                KeyAlgorithm::Rsa2048 => KeySize::Rsa2048,
                KeyAlgorithm::Rsa3072 => KeySize::Rsa3072,
                _ => KeySize::Rsa4096,
            };
            let key = RsaKeyPair::generate(size).map_err(fail)?;
            let der: aws_lc_rs::encoding::Pkcs8V1Der<'static> = key.as_der().map_err(fail)?;
            der.as_ref().to_vec()
        }
    };
    Ok(der)
}

impl SoftwareSigner {
    /// Load a private key from PKCS#8 DER, recognising its algorithm. Only the
    /// algorithms of [`KeyAlgorithm`] are accepted (RSA: 2048, 3072 or 4096 bits).
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, KeyError> {
        if let Ok(k) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8) {
            return Ok(Self { algorithm: KeyAlgorithm::EcdsaP256, spki_der: spki(k.public_key())?, inner: Inner::Ecdsa(k) });
        }
        if let Ok(k) = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_ASN1_SIGNING, pkcs8) {
            return Ok(Self { algorithm: KeyAlgorithm::EcdsaP384, spki_der: spki(k.public_key())?, inner: Inner::Ecdsa(k) });
        }
        if let Ok(k) = Ed25519KeyPair::from_pkcs8(pkcs8) {
            return Ok(Self { algorithm: KeyAlgorithm::Ed25519, spki_der: spki(k.public_key())?, inner: Inner::Ed25519(k) });
        }
        if let Ok(k) = RsaKeyPair::from_pkcs8(pkcs8) {
            let algorithm = match k.public_modulus_len() * 8 {
                2048 => KeyAlgorithm::Rsa2048,
                3072 => KeyAlgorithm::Rsa3072,
                4096 => KeyAlgorithm::Rsa4096,
                bits => return Err(KeyError::Backend(format!("RSA key size {bits} is not supported"))),
            };
            return Ok(Self { algorithm, spki_der: spki(k.public_key())?, inner: Inner::Rsa(k) });
        }
        Err(backend("the key file does not hold a supported PKCS#8 private key"))
    }
}

impl AuthoritySigner for SoftwareSigner {
    fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    fn public_key_spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// In memory; only an RSA signature takes long enough to matter.
    fn may_block(&self) -> bool {
        matches!(self.inner, Inner::Rsa(_))
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let fail = |_| backend("signing failed");
        match &self.inner {
            Inner::Ecdsa(k) => Ok(k.sign(&SystemRandom::new(), message).map_err(fail)?.as_ref().to_vec()),
            Inner::Ed25519(k) => Ok(k.try_sign(message).map_err(fail)?.as_ref().to_vec()),
            Inner::Rsa(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), message, &mut sig).map_err(fail)?;
                Ok(sig)
            }
        }
    }
}

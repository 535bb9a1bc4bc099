//! The Signet server's own HTTPS identity.

use crate::key::sha256_hex;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use signet_core::mint::{BoundKey, MintError, X509Issuer};
use signet_model::ids::Serial;
use signet_model::names::SanSet;
use signet_model::profile::{ExtendedKeyUsage, KeyAlgorithm};
use std::fmt;
use time::{Duration, OffsetDateTime};

/// A TLS server certificate chain and its private key.
pub struct ServerIdentity {
    /// Leaf, issuing CA, root.
    pub chain_der: Vec<Vec<u8>>,
    /// The leaf's private key, PKCS#8 DER. Held in memory only.
    pub key_pkcs8_der: Vec<u8>,
}

impl fmt::Debug for ServerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerIdentity").field("chain_len", &self.chain_der.len()).field("key_pkcs8_der", &"[redacted]").finish()
    }
}

/// A fresh P-256 key for a server certificate, generated in memory (never
/// written to disk): its public half to bind, and the private key (PKCS#8 DER).
pub fn server_key() -> Result<(BoundKey, Vec<u8>), MintError> {
    let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).map_err(|_| MintError::Build("key generation failed".into()))?;
    let pkcs8 = key.to_pkcs8v1().map_err(|_| MintError::Build("cannot encode the server key".into()))?;
    let spki = key.public_key().as_der().map_err(|_| MintError::Build("cannot encode the server public key".into()))?;
    let spki_der = spki.as_ref().to_vec();
    let bound = BoundKey { fingerprint: sha256_hex(&spki_der), spki_der, algorithm: KeyAlgorithm::EcdsaP256 };
    Ok((bound, pkcs8.as_ref().to_vec()))
}

/// Issue a TLS server certificate for `names` from `issuer`, for a fresh
/// P-256 key generated in memory (never written to disk). CN = the first
/// DNS name; EKU serverAuth; valid from `now` for `ttl`, clipped to the
/// issuer's expiry.
pub fn server_identity(
    issuer: &dyn X509Issuer,
    names: &SanSet,
    serial: &Serial,
    now: OffsetDateTime,
    ttl: Duration,
) -> Result<ServerIdentity, MintError> {
    if names.is_empty() {
        return Err(MintError::Lint("a server identity needs at least one name".into()));
    }
    let (bound, key_pkcs8_der) = server_key()?;
    let not_after = now
        .checked_add(ttl)
        .ok_or_else(|| MintError::Lint("the server certificate lifetime is out of range".into()))?
        .min(issuer.issuer_not_after());
    let grant = crate::credential::X509Params::grant(
        &names.dns.first().cloned().unwrap_or_default(),
        names.clone(),
        KeyAlgorithm::EcdsaP256,
        now,
        not_after,
        vec![ExtendedKeyUsage::ServerAuth],
        false,
        None,
    );
    let leaf = issuer.mint(&grant, &bound, serial)?;
    let mut chain_der = Vec::with_capacity(issuer.chain_der().len() + 1);
    chain_der.push(leaf);
    chain_der.extend(issuer.chain_der().iter().cloned());
    Ok(ServerIdentity { chain_der, key_pkcs8_der })
}

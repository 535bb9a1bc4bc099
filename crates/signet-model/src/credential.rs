//! Credentials: what was minted.

use crate::FieldError;
use crate::ids::{AuthorityId, CredentialId, RequestId, Serial, SubjectId};
use crate::names::SanSet;
use crate::profile::{CredentialType, KeyAlgorithm};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CredentialStatus {
    Active,
    Suspended,
    Revoked,
}

impl CredentialStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Revoked => "revoked",
        }
    }

    pub fn parse(field: &str, s: &str) -> Result<Self, FieldError> {
        match s {
            "active" => Ok(Self::Active),
            "suspended" => Ok(Self::Suspended),
            "revoked" => Ok(Self::Revoked),
            _ => Err(FieldError::new(field, format!("`{}` is not a credential status", crate::names::shorten(s)))),
        }
    }
}

/// A minted credential, as recorded. `der` is the credential itself, as its
/// type encodes it (X.509: the DER certificate; JWT: the compact JWS, ASCII).
/// `serial` is unique across every type (X.509 serial number, JWT `jti`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Credential {
    pub id: CredentialId,
    pub credential_type: CredentialType,
    pub serial: Serial,
    pub subject_id: SubjectId,
    pub profile: String,
    pub request_id: RequestId,
    /// The authority key that signed it.
    pub issuer_id: AuthorityId,
    /// The algorithm of the holder key it is bound to; `None` for a bearer
    /// credential (a JWT without `cnf`).
    pub key_algorithm: Option<KeyAlgorithm>,
    /// SHA-256 of the bound key's DER SubjectPublicKeyInfo, lower-case hex;
    /// empty for a bearer credential.
    pub key_fingerprint: String,
    pub names: SanSet,
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    pub status: CredentialStatus,
    #[serde(skip)]
    pub der: Vec<u8>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// An authority key's role in the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthorityRole {
    Root,
    Issuing,
    /// Signs JWTs (access tokens); its record holds the public key (DER
    /// SubjectPublicKeyInfo) in place of a certificate.
    TokenSigning,
}

impl AuthorityRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Root => "root",
            Self::Issuing => "issuing",
            Self::TokenSigning => "token_signing",
        }
    }

    pub fn parse(field: &str, s: &str) -> Result<Self, FieldError> {
        match s {
            "root" => Ok(Self::Root),
            "issuing" => Ok(Self::Issuing),
            "token_signing" => Ok(Self::TokenSigning),
            _ => Err(FieldError::new(field, format!("`{}` is not an authority role", crate::names::shorten(s)))),
        }
    }
}

/// An authority key of this Signet (a CA, a token-signing key): its
/// certificate (for a token-signing key: its DER SubjectPublicKeyInfo) and
/// where its private key lives (a `KeyStore` reference, never the key itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authority {
    pub id: AuthorityId,
    pub role: AuthorityRole,
    pub key_algorithm: KeyAlgorithm,
    /// The KeyStore's name for the private key.
    pub key_ref: String,
    pub certificate_der: Vec<u8>,
    /// Where the key is in its rotation: only an `active` key signs new
    /// credentials; a `retired` one still states the status of what it signed.
    pub state: KeyState,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it was retired (a rollover made another key active).
    #[serde(with = "time::serde::rfc3339::option")]
    pub retired_at: Option<OffsetDateTime>,
    /// When its private key was destroyed; the certificate stays on record.
    #[serde(with = "time::serde::rfc3339::option")]
    pub destroyed_at: Option<OffsetDateTime>,
}

impl Authority {
    /// Signs new credentials now.
    pub fn is_active(&self) -> bool {
        self.state == KeyState::Active
    }
}

/// The rotation slot of an authority key: `prepared → active → retired →
/// destroyed`, forward only. A `prepared` key exists and is published but
/// signs nothing yet; an `active` key signs new credentials (one per role);
/// a `retired` key signs only status (CRL, OCSP) for what it issued and is
/// still published; a `destroyed` key is gone from the keystore and only
/// its public record remains. The same slots serve every kind of
/// authority key (issuing CAs today, token-signing keys later).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    Prepared,
    Active,
    Retired,
    Destroyed,
}

impl KeyState {
    pub const ALL: [KeyState; 4] = [Self::Prepared, Self::Active, Self::Retired, Self::Destroyed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Prepared => "prepared",
            Self::Active => "active",
            Self::Retired => "retired",
            Self::Destroyed => "destroyed",
        }
    }

    pub fn parse(field: &str, s: &str) -> Result<Self, FieldError> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| FieldError::new(field, format!("`{}` is not a key state", crate::names::shorten(s))))
    }

    /// The transitions the slot allows: one step forward, or straight from
    /// `prepared` to `retired` (a prepared key abandoned before use).
    pub fn may_become(self, next: KeyState) -> bool {
        matches!(
            (self, next),
            (Self::Prepared, Self::Active)
                | (Self::Prepared, Self::Retired)
                | (Self::Active, Self::Retired)
                | (Self::Retired, Self::Destroyed)
        )
    }

    /// Its private key is still in the keystore, and its certificate (or
    /// public key) is still published.
    pub fn is_published(self) -> bool {
        self != Self::Destroyed
    }
}

impl std::fmt::Display for KeyState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod key_state_tests {
    use super::KeyState::{self, *};

    #[test]
    fn slots_only_move_forward() {
        let allowed = [(Prepared, Active), (Prepared, Retired), (Active, Retired), (Retired, Destroyed)];
        for from in KeyState::ALL {
            for to in KeyState::ALL {
                assert_eq!(from.may_become(to), allowed.contains(&(from, to)), "{from} -> {to}");
            }
            assert_eq!(KeyState::parse("state", from.as_str()).unwrap(), from);
        }
        assert!(KeyState::parse("state", "revoked").is_err());
        assert!(!Destroyed.is_published() && Retired.is_published());
    }
}

//! Authority keys: list them, roll the issuing CA over, destroy a retired
//! one (docs/KEY-ROLLOVER.md). The rules are `signet_core::rollover`'s; this
//! module parses, calls the authority, republishes `DATA/ca.pem`, and
//! implements [`IssuingCaFactory`] over `signet-x509` and the keystore.

use crate::AppState;
use crate::api::ctx;
use crate::bootstrap::Keys;
use crate::extract::{Authed, RequestIdExt};
use crate::problem::{ApiResult, Problem};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Serialize;
use signet_core::authority::{hex, sha256};
use signet_core::mint::{MintError, X509Issuer};
use signet_core::ports::KeyError;
use signet_core::rollover::{AuthorityView, IssuingCaFactory};
use signet_model::credential::{Authority as CaRecord, AuthorityRole, KeyState};
use signet_model::ids::{AuthorityId, Serial};
use signet_model::profile::KeyAlgorithm;
use std::sync::Arc;
use time::OffsetDateTime;

/// How long a new issuing CA certificate is valid (clipped to the root's).
pub const ISSUING_VALIDITY: time::Duration = time::Duration::days(1825);

/// Makes issuing CAs under the root, in the configured keystore.
pub struct CaFactory {
    pub keys: Keys,
    pub root: CaRecord,
    pub algorithm: KeyAlgorithm,
    /// The base of the AIA and CRL distribution point URLs its CAs put in
    /// the certificates they sign (`ServerConfig::status_url`).
    pub status_url: String,
}

impl IssuingCaFactory for CaFactory {
    fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// The new CA is named `Signet Issuing CA <id>`: a name no earlier CA has.
    fn create(&self, id: &AuthorityId, key_ref: &str, serial: &Serial, now: OffsetDateTime) -> Result<Vec<u8>, MintError> {
        let keys = self.keys.key_store();
        // The root signs the new CA: its key is loaded for this, and dropped after.
        let root_signer = keys.load(&self.root.key_ref)?;
        let (der, _) = signet_x509::create_issuing(
            keys,
            key_ref,
            self.algorithm,
            &format!("Signet Issuing CA {id}"),
            serial,
            now,
            ISSUING_VALIDITY,
            &self.root.certificate_der,
            root_signer.as_ref(),
        )?;
        Ok(der)
    }

    fn load(&self, record: &CaRecord) -> Result<Arc<dyn X509Issuer>, MintError> {
        let signer = self.keys.key_store().load(&record.key_ref).map_err(|e| MintError::Build(format!("its key: {e}")))?;
        let issuer = signet_x509::X509Authority::new(
            record.id.clone(),
            record.certificate_der.clone(),
            signer,
            vec![record.certificate_der.clone(), self.root.certificate_der.clone()],
            self.status_url.clone(),
        )?;
        Ok(Arc::new(issuer))
    }

    fn destroy_key(&self, key_ref: &str) -> Result<(), KeyError> {
        self.keys.key_store().destroy(key_ref)
    }

    fn keystore(&self) -> serde_json::Value {
        match &self.keys {
            Keys::Sealed(k) => serde_json::json!({ "kind": "sealed", "seal_id": k.config().seal_id_hex() }),
            Keys::Pkcs11(k) => serde_json::json!({ "kind": "pkcs11", "token": k.token_label() }),
        }
    }
}

/// An authority key as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuthorityOut {
    pub id: AuthorityId,
    pub role: AuthorityRole,
    pub state: KeyState,
    pub key_algorithm: KeyAlgorithm,
    pub key_ref: String,
    /// SHA-256 of the certificate (DER), hex.
    pub certificate_sha256: String,
    pub certificate_pem: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub retired_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub destroyed_at: Option<OffsetDateTime>,
    /// Issuing CAs: when the last certificate it signed expires.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_certificate_expires_at: Option<OffsetDateTime>,
    /// Retired keys: from when `destroy` is accepted.
    #[serde(with = "time::serde::rfc3339::option")]
    pub destroyable_after: Option<OffsetDateTime>,
}

fn out(v: AuthorityView) -> AuthorityOut {
    let r = v.record;
    AuthorityOut {
        certificate_sha256: hex(&sha256(&r.certificate_der)),
        certificate_pem: signet_x509::pem::pem_encode("CERTIFICATE", &r.certificate_der),
        id: r.id,
        role: r.role,
        state: r.state,
        key_algorithm: r.key_algorithm,
        key_ref: r.key_ref,
        created_at: r.created_at,
        retired_at: r.retired_at,
        destroyed_at: r.destroyed_at,
        last_certificate_expires_at: v.last_certificate_expires,
        destroyable_after: v.destroyable_after,
    }
}

fn plain(record: CaRecord) -> AuthorityOut {
    out(AuthorityView { record, last_certificate_expires: None, destroyable_after: None })
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuthorityList {
    pub items: Vec<AuthorityOut>,
}

/// Every authority key with its state (`authority.read`), newest first.
#[utoipa::path(get, path = "/v1/authorities", tag = "authorities",
    responses((status = 200, body = AuthorityList), (status = 401, body = Problem), (status = 403, body = Problem)), security(("bearer" = [])))]
pub async fn list_authorities(
    State(s): State<Arc<AppState>>,
    caller: Authed,
    Extension(rid): Extension<RequestIdExt>,
) -> ApiResult<Json<AuthorityList>> {
    let items = s.authority.list_authorities(ctx(&caller, &rid)).await?.into_iter().map(out).collect();
    Ok(Json(AuthorityList { items }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RolloverOut {
    /// The new issuing CA, now signing new certificates.
    pub active: AuthorityOut,
    /// The previous one: retired, still published.
    pub retired: AuthorityOut,
    /// The CA bundle now published at `/ca.pem`.
    pub ca_bundle_pem: String,
}

/// Roll the issuing CA over (`authority.rotate`): a new issuing CA under
/// the same root signs from now on; the previous one is retired but stays
/// published (CA bundle, its CRL, OCSP) until it is destroyed.
#[utoipa::path(post, path = "/v1/authorities/issuing/rollover", tag = "authorities",
    responses((status = 201, body = RolloverOut), (status = 403, body = Problem), (status = 409, body = Problem)), security(("bearer" = [])))]
pub async fn rotate_issuing(
    State(s): State<Arc<AppState>>,
    caller: Authed,
    Extension(rid): Extension<RequestIdExt>,
) -> ApiResult<(StatusCode, Json<RolloverOut>)> {
    let rotated = s.authority.rotate_issuing(ctx(&caller, &rid)).await?;
    let bundle = republish(&s);
    Ok((StatusCode::CREATED, Json(RolloverOut { active: plain(rotated.active), retired: plain(rotated.retired), ca_bundle_pem: bundle })))
}

/// Destroy a retired issuing CA's key (`authority.destroy`): refused (409)
/// during the overlap and while any certificate it signed is still valid.
#[utoipa::path(post, path = "/v1/authorities/{id}/destroy", tag = "authorities", params(("id" = String, Path, description = "authority id, `ca_…`")),
    responses((status = 200, body = AuthorityOut), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn destroy_authority(
    State(s): State<Arc<AppState>>,
    caller: Authed,
    Extension(rid): Extension<RequestIdExt>,
    Path(id): Path<String>,
) -> ApiResult<Json<AuthorityOut>> {
    let id = AuthorityId::parse("id", &id)
        .map_err(|_| Problem::not_found(format!("authority `{}` not found", signet_model::names::shorten(&id))))?;
    let destroyed = s.authority.destroy_authority(ctx(&caller, &rid), &id).await?;
    republish(&s);
    Ok(Json(plain(destroyed)))
}

/// Write the CA bundle now published to `DATA/ca.pem`; returns it. A
/// failure to write is logged: `/ca.pem` is the reference.
fn republish(s: &AppState) -> String {
    let bundle = s.ca_bundle_pem();
    if let Err(e) = std::fs::write(s.data_dir.join("ca.pem"), &bundle) {
        tracing::error!(error = %e, "cannot rewrite DATA/ca.pem after a key rollover");
    }
    bundle
}

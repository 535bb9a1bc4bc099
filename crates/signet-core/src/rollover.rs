//! Key rollover: the rotation slots of authority keys
//! (`prepared → active → retired → destroyed`, see
//! [`signet_model::credential::KeyState`]) applied to the issuing CA.
//!
//! ```text
//! rotate:  authorise (authority.rotate) ─▶ new key + certificate under the root (IssuingCaFactory)
//!          ─▶ load it back from the keystore ─▶ one transaction: old active → retired, new inserted
//!             active, `authority.created` + `authority.rotated` ─▶ new issuance uses the new CA;
//!             the old one keeps signing CRLs and OCSP answers for what it issued
//! destroy: authorise (authority.destroy) ─▶ retired, overlap elapsed, no certificate of it still
//!          valid ─▶ one transaction: retired → destroyed + `key.destroyed` ─▶ stop publishing it
//!          ─▶ destroy the key in the keystore (retried by a second destroy if the keystore failed)
//! ```
//!
//! The X.509 and keystore work the core cannot do itself sits behind
//! [`IssuingCaFactory`] (implemented by the server over `signet-x509` and the
//! `KeyStore`). A later token-signing key reuses the slots, the store's
//! `rotate_authority` / `destroy_authority` and the destruction rule
//! [`destroyable_after`].

use crate::authority::{Authority, Ctx, hex, sha256};
use crate::error::CoreError;
use crate::mint::{MintError, X509Issuer};
use crate::ports::KeyError;
use signet_model::FieldError;
use signet_model::credential::{Authority as AuthorityRecord, AuthorityRole, KeyState};
use signet_model::event::EventType;
use signet_model::ids::{AuthorityId, Serial};
use signet_model::profile::KeyAlgorithm;
use signet_policy::{Action, ResourceCtx};
use std::sync::{Arc, RwLock};
use time::{Duration, OffsetDateTime};

/// The issuing CAs this process signs with: the active one (new
/// certificates) and the retired ones still published (their CRLs and OCSP
/// answers).
#[derive(Clone)]
pub struct Issuers {
    pub active: Arc<dyn X509Issuer>,
    pub retired: Vec<Arc<dyn X509Issuer>>,
}

/// The issuing CAs, shared between the authority (which rolls them over)
/// and the X.509 credential type (which prepares certificates with the
/// active one).
pub struct IssuerSet(RwLock<Issuers>);

impl IssuerSet {
    pub fn new(active: Arc<dyn X509Issuer>) -> Self {
        Self(RwLock::new(Issuers { active, retired: Vec::new() }))
    }

    /// The active issuing CA: the one new certificates are signed by.
    pub fn active(&self) -> Arc<dyn X509Issuer> {
        match self.0.read() {
            Ok(i) => i.active.clone(),
            Err(p) => p.into_inner().active.clone(),
        }
    }

    /// The active and the retired ones.
    pub fn current(&self) -> Issuers {
        match self.0.read() {
            Ok(i) => i.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    pub(crate) fn replace(&self, issuers: Issuers) {
        match self.0.write() {
            Ok(mut i) => *i = issuers,
            Err(p) => *p.into_inner() = issuers,
        }
    }
}

/// Makes, loads and destroys issuing CAs for a rollover.
pub trait IssuingCaFactory: Send + Sync {
    /// The algorithm of the keys [`IssuingCaFactory::create`] makes.
    fn algorithm(&self) -> KeyAlgorithm;
    /// Generate the key `key_ref` in the keystore and the certificate of
    /// the issuing CA `id` for it, signed by the root, valid from `now`.
    /// Its subject name must differ from every earlier CA's (relying parties
    /// look CRL issuers up by name). Returns the DER.
    fn create(&self, id: &AuthorityId, key_ref: &str, serial: &Serial, now: OffsetDateTime) -> Result<Vec<u8>, MintError>;
    /// The issuer of a stored issuing CA, its key loaded from the keystore.
    fn load(&self, record: &AuthorityRecord) -> Result<Arc<dyn X509Issuer>, MintError>;
    /// Destroy a key in the keystore ([`KeyError::NotFound`] if it is not there).
    fn destroy_key(&self, key_ref: &str) -> Result<(), KeyError>;
    /// What the key ceremony record says about the keystore (kind, seal id or token).
    fn keystore(&self) -> serde_json::Value;
}

/// Rollover settings: the factory and the overlap.
#[derive(Clone)]
pub struct Rollover {
    pub factory: Arc<dyn IssuingCaFactory>,
    /// The least time a retired key stays published (and its key kept),
    /// even when every certificate it signed has expired.
    pub overlap: Duration,
}

/// An authority key with what its destruction waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorityView {
    pub record: AuthorityRecord,
    /// The latest expiry of the certificates it signed (issuing CAs).
    pub last_certificate_expires: Option<OffsetDateTime>,
    /// From when it may be destroyed (retired keys only).
    pub destroyable_after: Option<OffsetDateTime>,
}

/// What a rollover did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotated {
    pub retired: AuthorityRecord,
    pub active: AuthorityRecord,
}

/// When a key retired at `retired_at`, whose certificates expire at the
/// latest at `last_not_after`, may be destroyed: once the overlap has
/// passed and no certificate it signed is still valid (revoked ones
/// included: they stay on its CRL until they expire).
pub fn destroyable_after(retired_at: OffsetDateTime, overlap: Duration, last_not_after: Option<OffsetDateTime>) -> OffsetDateTime {
    let end = retired_at.saturating_add(overlap);
    match last_not_after {
        Some(t) if t > end => t,
        _ => end,
    }
}

fn conflict(field: &str, reason: String) -> CoreError {
    CoreError::Conflict(FieldError::new(field, reason))
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// The ceremony record of one key: id, key ref, certificate fingerprint.
fn key_facts(r: &AuthorityRecord) -> serde_json::Value {
    serde_json::json!({
        "authority_id": r.id, "role": r.role, "key_algorithm": r.key_algorithm, "key_ref": r.key_ref,
        "certificate_sha256": hex(&sha256(&r.certificate_der)),
    })
}

impl Authority {
    /// Enable rollovers, with the retired issuing CAs still published (loaded at start).
    pub fn with_rollover(mut self, rollover: Rollover, retired: Vec<Arc<dyn X509Issuer>>) -> Self {
        self.rollover = Some(rollover);
        let active = self.issuers.active();
        self.issuers.replace(Issuers { active, retired });
        self
    }

    fn rollover(&self) -> Result<&Rollover, CoreError> {
        self.rollover.as_ref().ok_or_else(|| CoreError::Internal("key rollover is not configured in this process".into()))
    }

    fn current_issuers(&self) -> Issuers {
        self.issuers.current()
    }

    fn replace_issuers(&self, issuers: Issuers) {
        let active = issuers.active.issuer_id().clone();
        self.issuers.replace(issuers);
        self.active_issuer.send_if_modified(|id| {
            let changed = *id != active;
            *id = active;
            changed
        });
    }

    /// Told whenever another issuing CA becomes the active one (a rollover
    /// in this process, or one picked up from another): the server renews
    /// its own certificate from it at once.
    pub fn watch_active_issuer(&self) -> tokio::sync::watch::Receiver<AuthorityId> {
        self.active_issuer.subscribe()
    }

    /// Every published issuing CA: the active one first, then the retired ones.
    pub fn status_issuers(&self) -> Vec<Arc<dyn X509Issuer>> {
        let i = self.current_issuers();
        std::iter::once(i.active).chain(i.retired).collect()
    }

    /// The published issuing CA `id`, if it is one.
    pub fn status_issuer(&self, id: &AuthorityId) -> Option<Arc<dyn X509Issuer>> {
        self.status_issuers().into_iter().find(|i| i.issuer_id() == id)
    }

    /// Every authority key with its rotation state (`authority.read`).
    pub async fn list_authorities(&self, ctx: Ctx<'_>) -> Result<Vec<AuthorityView>, CoreError> {
        self.authorize(ctx, Action::AuthorityRead, &ResourceCtx::Authority).await?;
        let overlap = self.rollover.as_ref().map_or(Duration::ZERO, |r| r.overlap);
        let mut out = Vec::new();
        for record in self.store().list_authorities().await? {
            let last = match record.role {
                AuthorityRole::Issuing | AuthorityRole::TokenSigning => self.store().last_not_after(&record.id).await?,
                AuthorityRole::Root => None,
            };
            let destroyable = (record.state == KeyState::Retired).then(|| {
                let retired_at = record.retired_at.unwrap_or(record.created_at);
                destroyable_after(retired_at, overlap, last)
            });
            out.push(AuthorityView { record, last_certificate_expires: last, destroyable_after: destroyable });
        }
        Ok(out)
    }

    async fn authority_record(&self, id: &AuthorityId) -> Result<AuthorityRecord, CoreError> {
        self.store()
            .list_authorities()
            .await?
            .into_iter()
            .find(|a| a.id == *id)
            .ok_or_else(|| CoreError::NotFound { entity: "authority", id: id.to_string() })
    }

    /// Reload the published issuing CAs from the store (after another
    /// process rotated them).
    async fn reload_issuers(&self, rollover: &Rollover) -> Result<(), CoreError> {
        let records = self.store().list_authorities().await?;
        let mut active = None;
        let mut retired = Vec::new();
        for r in records.iter().filter(|r| r.role == AuthorityRole::Issuing) {
            match r.state {
                KeyState::Active => active = Some(rollover.factory.load(r)?),
                KeyState::Retired => retired.push(rollover.factory.load(r)?),
                KeyState::Prepared | KeyState::Destroyed => {}
            }
        }
        let active = active.ok_or_else(|| CoreError::Internal("the store has no active issuing CA".into()))?;
        self.replace_issuers(Issuers { active, retired });
        Ok(())
    }

    /// Pick up a rollover or destruction made by another server process
    /// sharing the store: reload the published issuing CAs if the store's
    /// differ from this process's. True when they were reloaded.
    pub async fn sync_issuers(&self) -> Result<bool, CoreError> {
        let Some(rollover) = self.rollover.as_ref() else { return Ok(false) };
        let _one = self.rotation.lock().await;
        let records = self.store().list_authorities().await?;
        let current = self.current_issuers();
        let stored_active = records.iter().find(|r| r.role == AuthorityRole::Issuing && r.state == KeyState::Active).map(|r| &r.id);
        let mut stored_retired: Vec<&AuthorityId> =
            records.iter().filter(|r| r.role == AuthorityRole::Issuing && r.state == KeyState::Retired).map(|r| &r.id).collect();
        let mut ours: Vec<&AuthorityId> = current.retired.iter().map(|i| i.issuer_id()).collect();
        stored_retired.sort();
        ours.sort();
        if stored_active == Some(current.active.issuer_id()) && stored_retired == ours {
            return Ok(false);
        }
        self.reload_issuers(rollover).await?;
        Ok(true)
    }

    /// Roll the issuing CA over (`authority.rotate`): a new key and
    /// certificate under the root become active; the old CA is retired but
    /// still published, and keeps answering for what it issued.
    pub async fn rotate_issuing(&self, ctx: Ctx<'_>) -> Result<Rotated, CoreError> {
        self.authorize(ctx, Action::AuthorityRotate, &ResourceCtx::Authority).await?;
        let rollover = self.rollover()?.clone();
        let _one = self.rotation.lock().await;
        let now = self.now();
        let current = self.current_issuers();
        let old = self.authority_record(current.active.issuer_id()).await?;
        if old.state != KeyState::Active {
            // Another process rotated: pick its result up, and let the caller decide again.
            self.reload_issuers(&rollover).await?;
            return Err(conflict("authority", "the issuing CA was rolled over by another server process; look again and retry".into()));
        }

        // A new key and certificate under the root, then loaded back as the keystore holds it.
        let id = AuthorityId::generate(now, self.rng().bytes16());
        let key_ref = format!("issuing-{}", &id.as_str()[3..]);
        let serial = Serial::generate(now, self.rng().bytes16());
        let factory = rollover.factory.clone();
        let (made_id, made_ref) = (id.clone(), key_ref.clone());
        let certificate_der = tokio::task::spawn_blocking(move || factory.create(&made_id, &made_ref, &serial, now))
            .await
            .map_err(|e| CoreError::Internal(format!("the key generation task failed: {e}")))??;
        let new = AuthorityRecord {
            id,
            role: AuthorityRole::Issuing,
            key_algorithm: rollover.factory.algorithm(),
            key_ref,
            certificate_der,
            state: KeyState::Active,
            created_at: now,
            retired_at: None,
            destroyed_at: None,
        };
        let issuer = match rollover.factory.load(&new) {
            Ok(i) => i,
            Err(e) => {
                self.forget_new_key(&rollover, &new.key_ref);
                return Err(e.into());
            }
        };

        // Record: both in one transaction, or neither.
        let mut created = self.event(ctx, EventType::AuthorityCreated, now);
        created.reason = Some("rollover".into());
        created.details = key_facts(&new);
        let mut rotated = self.event(ctx, EventType::AuthorityRotated, now);
        rotated.details = serde_json::json!({
            "old": key_facts(&old), "new": key_facts(&new),
            "old_state": KeyState::Retired, "new_state": KeyState::Active,
            "keystore": rollover.factory.keystore(),
        });
        let mut retired = old.clone();
        retired.state = KeyState::Retired;
        retired.retired_at = Some(now);
        match self.store().rotate_authority(&old.id, &new, now, &[created, rotated]).await {
            Ok(true) => {}
            Ok(false) => {
                // Nothing was written: the new key is nobody's.
                self.forget_new_key(&rollover, &new.key_ref);
                self.reload_issuers(&rollover).await?;
                return Err(conflict("authority", "the issuing CA was rolled over by another server process; look again and retry".into()));
            }
            // The outcome is unknown (the commit may have happened): keep the key.
            Err(e) => return Err(e.into()),
        }
        let mut published = current.retired;
        published.insert(0, current.active);
        self.replace_issuers(Issuers { active: issuer, retired: published });
        tracing::info!(old = %old.id, new = %new.id, "rolled the issuing CA over");
        Ok(Rotated { retired, active: new })
    }

    fn forget_new_key(&self, rollover: &Rollover, key_ref: &str) {
        if let Err(e) = rollover.factory.destroy_key(key_ref) {
            tracing::warn!(key_ref, error = %e, "cannot remove the key of an abandoned rollover");
        }
    }

    /// Destroy a retired authority key (`authority.destroy`): refused (409)
    /// while its overlap runs or a certificate it signed is still valid.
    /// The record (certificate included) stays; the key is destroyed in the
    /// keystore. Destroying a destroyed key again retries the keystore
    /// deletion, in case the keystore failed the first time.
    pub async fn destroy_authority(&self, ctx: Ctx<'_>, id: &AuthorityId) -> Result<AuthorityRecord, CoreError> {
        self.authorize(ctx, Action::AuthorityDestroy, &ResourceCtx::Authority).await?;
        let rollover = self.rollover()?.clone();
        let _one = self.rotation.lock().await;
        let record = self.authority_record(id).await?;
        if record.role == AuthorityRole::Root {
            return Err(conflict("id", format!("`{id}` is the root CA: only retired issuing CAs are destroyed")));
        }
        match record.state {
            KeyState::Active => return Err(conflict("id", format!("`{id}` is the active issuing CA: roll it over first"))),
            KeyState::Prepared => return Err(conflict("id", format!("`{id}` is prepared, not retired"))),
            KeyState::Destroyed => {
                self.destroy_key(&rollover, &record.key_ref)?;
                return Ok(record);
            }
            KeyState::Retired => {}
        }
        let now = self.now();
        let retired_at = record.retired_at.unwrap_or(record.created_at);
        let overlap_end = retired_at.saturating_add(rollover.overlap);
        if now < overlap_end {
            return Err(conflict(
                "id",
                format!("`{id}` is in its overlap period until {}: a retired CA stays published at least that long", rfc3339(overlap_end)),
            ));
        }
        let last = self.store().last_not_after(id).await?;
        if let Some(last) = last.filter(|t| *t > now) {
            return Err(conflict(
                "id",
                format!("certificates signed by `{id}` are valid until {}: destroy it once they have expired", rfc3339(last)),
            ));
        }

        let mut ev = self.event(ctx, EventType::KeyDestroyed, now);
        let mut details = key_facts(&record);
        if let Some(obj) = details.as_object_mut() {
            obj.insert("retired_at".into(), serde_json::json!(retired_at.unix_timestamp()));
            obj.insert("last_certificate_expired_at".into(), serde_json::json!(last.map(|t| t.unix_timestamp())));
            obj.insert("old_state".into(), serde_json::json!(KeyState::Retired));
            obj.insert("new_state".into(), serde_json::json!(KeyState::Destroyed));
            obj.insert("keystore".into(), rollover.factory.keystore());
        }
        ev.details = details;
        if !self.store().destroy_authority(id, now, &ev).await? {
            return Err(conflict("id", format!("`{id}` is no longer retired")));
        }
        // Stop publishing it, then destroy the key.
        let mut issuers = self.current_issuers();
        issuers.retired.retain(|i| i.issuer_id() != id);
        self.replace_issuers(issuers);
        self.destroy_key(&rollover, &record.key_ref)?;
        tracing::info!(authority = %id, "destroyed a retired issuing CA key");
        let mut destroyed = record;
        destroyed.state = KeyState::Destroyed;
        destroyed.destroyed_at = Some(now);
        Ok(destroyed)
    }

    fn destroy_key(&self, rollover: &Rollover, key_ref: &str) -> Result<(), CoreError> {
        match rollover.factory.destroy_key(key_ref) {
            Ok(()) | Err(KeyError::NotFound(_)) => Ok(()),
            Err(e) => Err(CoreError::Internal(format!(
                "the key `{key_ref}` is recorded destroyed but the keystore failed to destroy it ({e}); destroy it again to retry"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retired_key_waits_for_the_overlap_and_its_last_certificate() {
        let t = time::macros::datetime!(2026-03-01 12:00:00 UTC);
        let day = Duration::days(1);
        assert_eq!(destroyable_after(t, day, None), t + day);
        assert_eq!(destroyable_after(t, day, Some(t + Duration::hours(1))), t + day);
        assert_eq!(destroyable_after(t, day, Some(t + Duration::days(30))), t + Duration::days(30));
        assert_eq!(destroyable_after(t, Duration::ZERO, Some(t - Duration::days(1))), t);
    }
}

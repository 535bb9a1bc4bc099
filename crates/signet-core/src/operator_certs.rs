//! Client certificates for operators: Signet issues them through the normal
//! pipeline, and accepts them as operator credentials on the API (mTLS).
//!
//! ```text
//!  POST /v1/operators/{id}/certificates (CSR, proof of possession checked at the edge)
//!    ─▶ authorise `token.create` on the operator, by the operator itself only (sod.own-credentials-only)
//!    ─▶ the operator exists and is not disabled
//!    ─▶ its certificate subject (`service_account`, id derived from the operator id) exists, or is enrolled now
//!    ─▶ the issuance pipeline from `Authorized` (crate::issuance): decide (the Cedar issuance policy, the
//!       profile `operator-client`) ─▶ record intent ─▶ sign ─▶ commit credential + log entry
//!
//!  TLS handshake: the client certificate chains to Signet's root (rustls, in the server)
//!    ─▶ authenticate_certificate: the exact certificate is a credential row of profile `operator-client`,
//!       `active`, within its validity, bound to the subject of the operator its URI SAN names;
//!       that subject is active; the operator exists and is not disabled ─▶ Caller (with the serial)
//! ```
//!
//! Why a dedicated subject rather than the operator's linked person subject:
//! every operator can get one (the bootstrap admin and machine operators have
//! no person subject, and nobody may change their own operator record to link
//! one); the person's other credentials and the separation-of-duties rules
//! that refer to it stay untouched; and suspending or revoking that one
//! subject cuts off every certificate of the operator at once, without
//! touching anything else. Its id is derived from the operator id, so it is
//! found again without a lookup table, and its name is the operator id.

use crate::authority::{Authority, Caller, Ctx, sha256};
use crate::credential_type::TypedAsk;
use crate::error::CoreError;
use crate::issuance::Submitted;
use crate::mint::BoundKey;
use signet_model::FieldError;
use signet_model::credential::CredentialStatus;
use signet_model::ids::{OperatorId, Serial, SubjectId};
use signet_model::names::SanSet;
use signet_model::profile::{NamesInput, ProfileInput};
use signet_model::subject::{AssuranceLevel, Subject, SubjectKind, SubjectStatus};
use signet_policy::{Action, ResourceCtx};

/// The built-in profile of operator client certificates.
pub const OPERATOR_CLIENT_PROFILE: &str = "operator-client";

/// The URI SAN that names the operator a client certificate authenticates.
pub const OPERATOR_URI_PREFIX: &str = "urn:signet:operator:";

/// `urn:signet:operator:op_…`
pub fn operator_uri(id: &OperatorId) -> String {
    format!("{OPERATOR_URI_PREFIX}{id}")
}

/// The built-in `operator-client` profile: TLS client authentication only,
/// 24 hours by default, 30 days at most, one URI SAN equal to
/// `urn:signet:operator:` and the subject's name (the operator id).
pub fn operator_client_profile() -> ProfileInput {
    ProfileInput {
        name: OPERATOR_CLIENT_PROFILE.into(),
        description: "client certificates that authenticate operators to the operator API (mTLS); issued only through \
                      POST /v1/operators/{id}/certificates"
            .into(),
        credential_type: "x509".into(),
        key_algorithms: vec!["ecdsa-p256".into(), "ecdsa-p384".into(), "ed25519".into(), "rsa-3072".into()],
        default_ttl: Some("24h".into()),
        max_ttl: "30d".into(),
        names: NamesInput {
            dns: vec![],
            ip: vec![],
            uri: vec![format!("{OPERATOR_URI_PREFIX}{{subject}}")],
            email: vec![],
            allow_wildcards: false,
        },
        require_names: true,
        ext_key_usages: vec!["client_auth".into()],
        is_ca: false,
        path_len: None,
        required_assurance: None,
        subject_kinds: vec![SubjectKind::ServiceAccount.as_str().into()],
        allowed_scopes: vec![],
        approvals: None,
        params: Default::default(),
    }
}

/// The id of the subject an operator's client certificates are issued to:
/// derived from the operator id, so it never needs a lookup table.
pub fn operator_subject_id(id: &OperatorId) -> SubjectId {
    let digest = sha256(format!("signet operator certificate subject\0{id}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    SubjectId::from_random(bytes)
}

/// A client certificate as presented in a TLS handshake that verified it
/// against Signet's root: its DER and its serial (parsed at the edge).
#[derive(Debug, Clone)]
pub struct PresentedCertificate<'a> {
    pub der: &'a [u8],
    /// `None`: the serial is not of the form Signet issues (16 octets).
    pub serial: Option<Serial>,
}

impl Authority {
    /// Create the `operator-client` profile when it does not exist: at the
    /// first start, and at every start of a data directory made before it
    /// existed. An existing profile (perhaps tuned by an admin) is kept.
    pub async fn ensure_operator_client_profile(&self) -> Result<(), CoreError> {
        if self.store().get_profile(OPERATOR_CLIENT_PROFILE).await?.is_some() {
            return Ok(());
        }
        let system = Caller::system();
        match self.apply_profile(Ctx { caller: &system, trace_id: None }, &operator_client_profile()).await {
            Ok(_) => Ok(()),
            // Another server on the same store created it first.
            Err(CoreError::Conflict(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Issue a client certificate to an operator, for the key its CSR proved.
    /// Authorised like creating one of its API tokens (`token.create`, and
    /// only by the operator itself: `sod.own-credentials-only`), then decided and minted by
    /// the normal pipeline under the `operator-client` profile. The
    /// certificate names the operator by its URI SAN only; the CSR's names are
    /// ignored.
    pub async fn issue_operator_certificate(
        &self,
        ctx: Ctx<'_>,
        operator_id: &OperatorId,
        key: BoundKey,
        ttl_seconds: Option<i64>,
    ) -> Result<Submitted, CoreError> {
        let now = self.now();
        let names = SanSet { uri: vec![operator_uri(operator_id)], ..Default::default() };
        let ask = TypedAsk { names, names_field: "names", key: Some(key), key_field: "csr", params: signet_model::request::empty_object() };
        // Authorise before anything is read or written.
        let token_like = format!("{}/certificate", operator_id);
        let resource = ResourceCtx::Token { id: token_like, owner: operator_id.to_string() };
        self.authorize(ctx, Action::TokenCreate, &resource).await?;
        self.require_own_credentials(ctx, operator_id, Action::TokenCreate, &resource).await?;
        let operator = self
            .store()
            .get_operator(operator_id)
            .await?
            .ok_or_else(|| CoreError::NotFound { entity: "operator", id: operator_id.to_string() })?;
        if operator.disabled {
            return Err(CoreError::Conflict(FieldError::new(
                "id",
                format!("operator `{}` is disabled: a disabled operator gets no certificate", operator.name),
            )));
        }
        let subject = self.operator_subject(ctx, &operator.id, &operator.name).await?;
        let profile = self
            .store()
            .get_profile(OPERATOR_CLIENT_PROFILE)
            .await?
            .ok_or_else(|| CoreError::Internal(format!("the built-in profile `{OPERATOR_CLIENT_PROFILE}` is missing")))?;
        let request = self.new_request(ctx, &ask, &subject, &profile, ttl_seconds, &[], false, now);
        let authorized = self.enter(request, ask, subject, profile)?;
        self.process(ctx, authorized, None, now).await
    }

    /// The operator's certificate subject, enrolled (and recorded) on first use.
    async fn operator_subject(&self, ctx: Ctx<'_>, operator_id: &OperatorId, operator_name: &str) -> Result<Subject, CoreError> {
        let now = self.now();
        let subject = Subject {
            id: operator_subject_id(operator_id),
            name: operator_id.to_string(),
            kind: SubjectKind::ServiceAccount,
            owner: Some(operator_id.to_string()),
            purpose: Some(format!("client certificates that authenticate operator `{operator_name}` to the operator API")),
            assurance: AssuranceLevel::Ial1,
            attributes: [("operator_id".to_string(), operator_id.to_string())].into_iter().collect(),
            site: signet_model::operator::DEFAULT_SITE.into(),
            status: SubjectStatus::Active,
            created_at: now,
            updated_at: now,
        };
        self.enrol_builtin_subject(ctx, subject, "operator_id", operator_id.as_str()).await
    }

    /// Turn a client certificate (already verified by TLS against Signet's
    /// root) into a caller, or refuse. The certificate must be, byte for
    /// byte, a credential this authority issued under `operator-client`;
    /// `active` (so a revocation or suspension takes effect at once, not only
    /// through the CRL); within its validity; and bound by its URI SAN and
    /// subject to an operator that exists and is not disabled, whose
    /// certificate subject is active.
    pub async fn authenticate_certificate(&self, cert: &PresentedCertificate<'_>) -> Result<Caller, CoreError> {
        let refuse = |why: String| CoreError::Unauthenticated(why);
        let not_ours = || refuse("the client certificate was not issued by this authority".into());
        let serial = cert.serial.clone().ok_or_else(not_ours)?;
        let credential = self.store().get_credential_by_serial(&serial).await?.ok_or_else(not_ours)?;
        if credential.der != cert.der {
            return Err(not_ours());
        }
        let hex = serial.to_hex();
        if credential.profile != OPERATOR_CLIENT_PROFILE {
            return Err(refuse(format!(
                "the client certificate `{hex}` is not an operator certificate (profile `{}`)",
                credential.profile
            )));
        }
        match credential.status {
            CredentialStatus::Active => {}
            CredentialStatus::Suspended => return Err(refuse(format!("the client certificate `{hex}` is suspended"))),
            CredentialStatus::Revoked => return Err(refuse(format!("the client certificate `{hex}` has been revoked"))),
        }
        let now = self.now();
        if now < credential.not_before {
            return Err(refuse(format!("the client certificate `{hex}` is not valid yet")));
        }
        if now >= credential.not_after {
            return Err(refuse(format!("the client certificate `{hex}` has expired")));
        }
        let mut operators = credential.names.uri.iter().filter_map(|u| u.strip_prefix(OPERATOR_URI_PREFIX));
        let (Some(op), None) = (operators.next(), operators.next()) else {
            return Err(refuse(format!("the client certificate `{hex}` does not name exactly one operator")));
        };
        let operator_id =
            OperatorId::parse("uri", op).map_err(|_| refuse(format!("the client certificate `{hex}` does not name an operator id")))?;
        if credential.subject_id != operator_subject_id(&operator_id) {
            return Err(refuse(format!("the client certificate `{hex}` is not bound to operator `{operator_id}`")));
        }
        let subject = self
            .store()
            .get_subject(&credential.subject_id)
            .await?
            .ok_or_else(|| refuse(format!("the client certificate `{hex}` names a missing subject")))?;
        if subject.status != SubjectStatus::Active {
            return Err(refuse(format!("the certificate subject of operator `{operator_id}` is {}", subject.status.as_str())));
        }
        let operator = self
            .store()
            .get_operator(&operator_id)
            .await?
            .ok_or_else(|| refuse(format!("the client certificate's operator `{operator_id}` no longer exists")))?;
        if operator.disabled {
            return Err(refuse("the operator is disabled".into()));
        }
        Ok(Caller::operator_by_certificate(&operator, serial))
    }
}

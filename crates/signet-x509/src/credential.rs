//! X.509 certificates as a credential type: [`X509Type`] implements
//! [`CredentialType`] for the pipeline.
//!
//! ```text
//!  body { csr, names? } ──parse_ask──▶ TypedAsk { names (given, else the CSR's), key (the CSR's, proven) }
//!  decide ──▶ validity backdated for skew, never outside the issuing CA's; X509Params { CN, EKUs, CA } from the profile
//!  prepare ──▶ the active issuing CA builds and lints the TBSCertificate (crate::ca) ──▶ sign ──▶ verify back
//!  present ──▶ `certificate_pem`, and `chain_pem` (certificate, issuing CA, root)
//! ```

use crate::csr::parse_csr;
use serde::{Deserialize, Serialize};
use signet_core::credential_type::{AskContext, CredentialType, PreparedCredential, Presentation, Refusal, TypedAsk};
use signet_core::mint::{BoundKey, MintError};
use signet_core::rollover::IssuerSet;
use signet_model::FieldError;
use signet_model::credential::Credential;
use signet_model::ids::Serial;
use signet_model::names::SanSet;
use signet_model::profile::{CredentialType as TypeName, ExtendedKeyUsage, Profile, ProfileSpec};
use signet_model::request::Grant;
use signet_model::subject::Subject;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

/// Certificates are backdated this much to tolerate clock skew on relying parties.
pub const BACKDATE: Duration = Duration::seconds(60);

/// The rule that keeps a certificate inside its issuing CA's validity.
pub const RULE_ISSUER_VALIDITY: &str = "x509.issuer-validity";

/// The X.509 part of a grant (`Grant::params`): what only a certificate has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct X509Params {
    /// The name put in the certificate subject (CN).
    pub common_name: String,
    pub ext_key_usages: Vec<ExtendedKeyUsage>,
    /// A sub-CA certificate: only from a sub-CA profile.
    pub is_ca: bool,
    pub path_len: Option<u8>,
}

impl X509Params {
    /// The X.509 part of `grant`: a grant of another type is a bug, never signed.
    pub fn of(grant: &Grant) -> Result<Self, MintError> {
        if grant.credential_type != TypeName::X509 {
            return Err(MintError::Lint(format!("a `{}` grant given to the X.509 issuer", grant.credential_type)));
        }
        serde_json::from_value(grant.params.clone()).map_err(|e| MintError::Lint(format!("the grant's X.509 part: {e}")))
    }

    /// A whole X.509 grant from its parts (tools, tests, the CA ceremony).
    #[allow(clippy::too_many_arguments)]
    pub fn grant(
        common_name: &str,
        names: SanSet,
        key_algorithm: signet_model::profile::KeyAlgorithm,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
        ext_key_usages: Vec<ExtendedKeyUsage>,
        is_ca: bool,
        path_len: Option<u8>,
    ) -> Grant {
        let params = X509Params { common_name: common_name.to_string(), ext_key_usages, is_ca, path_len };
        Grant {
            credential_type: TypeName::X509,
            subject_name: common_name.to_string(),
            names,
            scopes: Vec::new(),
            key_algorithm: Some(key_algorithm),
            not_before,
            not_after,
            params: serde_json::to_value(params).unwrap_or_default(),
        }
    }
}

/// The X.509 credential type: certificates from CSRs, signed by the active
/// issuing CA of the shared [`IssuerSet`] (which rollovers replace).
pub struct X509Type {
    issuers: Arc<IssuerSet>,
}

impl X509Type {
    pub fn new(issuers: Arc<IssuerSet>) -> Self {
        Self { issuers }
    }
}

impl std::fmt::Debug for X509Type {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("X509Type").finish_non_exhaustive()
    }
}

/// `names`: `{ "dns": [...], "ip": [...], "uri": [...], "email": [...] }`, each optional.
fn parse_names(value: &serde_json::Value) -> Result<SanSet, FieldError> {
    let obj = value.as_object().ok_or_else(|| FieldError::new("names", "expected a JSON object with dns, ip, uri, email"))?;
    let mut lists: [Vec<String>; 4] = Default::default();
    for (key, v) in obj {
        let slot = match key.as_str() {
            "dns" => 0,
            "ip" => 1,
            "uri" => 2,
            "email" => 3,
            other => {
                return Err(FieldError::new(
                    format!("names.{}", signet_model::names::shorten(other)),
                    "unknown field; expected dns, ip, uri or email",
                ));
            }
        };
        let field = format!("names.{key}");
        let items = v.as_array().ok_or_else(|| FieldError::new(&field, "expected an array of strings"))?;
        if items.len() > 100 {
            return Err(FieldError::new(&field, "at most 100 names"));
        }
        for (i, item) in items.iter().enumerate() {
            let s = item.as_str().ok_or_else(|| FieldError::new(format!("{field}[{i}]"), "expected a string"))?;
            lists[slot].push(s.to_string());
        }
    }
    let [dns, ip, uri, email] = lists;
    SanSet::parse("names", &dns, &ip, &uri, &email)
}

impl CredentialType for X509Type {
    fn name(&self) -> TypeName {
        TypeName::X509
    }

    /// `csr` (PEM or DER in a string; its signature is the proof of
    /// possession) and optional `names` that replace the CSR's.
    fn parse_ask(&self, body: &serde_json::Map<String, serde_json::Value>, _cx: &AskContext<'_>) -> Result<TypedAsk, FieldError> {
        if let Some(unknown) = body.keys().find(|k| !matches!(k.as_str(), "csr" | "names")) {
            let hint = match unknown.as_str() {
                "audience" | "key_proof" => " (a field of a `jwt` profile's request)",
                _ => "",
            };
            return Err(FieldError::new(
                signet_model::names::shorten(unknown),
                format!("unknown field `{}` for an x509 request; expected csr, names{hint}", signet_model::names::shorten(unknown)),
            ));
        }
        // `null` is the same as absent, as for every optional field of a body.
        let field = |name: &str| body.get(name).filter(|v| !v.is_null());
        let csr = match field("csr") {
            Some(serde_json::Value::String(s)) => s,
            Some(_) => return Err(FieldError::new("csr", "expected a PEM certificate signing request in a string")),
            None => return Err(FieldError::new("csr", "is required: the PKCS#10 certificate signing request, PEM")),
        };
        let names = field("names").map(parse_names).transpose()?;
        let csr = parse_csr(csr.as_bytes())?;
        let (names, names_field) = match names {
            Some(n) => (n, "names"),
            None => (csr.names, "csr.names"),
        };
        Ok(TypedAsk { names, names_field, key: Some(csr.key), key_field: "csr", params: signet_model::request::empty_object() })
    }

    fn check_profile(&self, profile: &ProfileSpec) -> Result<(), FieldError> {
        if let Some(key) = profile.params.keys().next() {
            return Err(FieldError::new(
                format!("params.{}", signet_model::names::shorten(key)),
                "an x509 profile takes no params: its rules are names, ext_key_usages, is_ca and path_len",
            ));
        }
        Ok(())
    }

    fn decide(&self, ask: &TypedAsk, profile: &Profile, subject: &Subject, grant: &mut Grant, now: OffsetDateTime) -> Result<(), Refusal> {
        if ask.key.is_none() {
            return Err(Refusal::new("x509.key", ask.key_field, "an X.509 certificate is bound to a key: send a CSR"));
        }
        let issuer = self.issuers.active();
        if grant.not_after > issuer.issuer_not_after() {
            return Err(Refusal::new(RULE_ISSUER_VALIDITY, "ttl", "the certificate would outlive the issuing CA; ask for a shorter ttl"));
        }
        // Backdated for clock skew, but never before the issuer itself.
        grant.not_before = (now - BACKDATE).max(issuer.issuer_not_before());
        let names = &grant.names;
        let common_name = names
            .dns
            .iter()
            .find(|d| !d.starts_with("*."))
            .cloned()
            .or_else(|| names.dns.first().cloned())
            .unwrap_or_else(|| subject.name.clone());
        let params =
            X509Params { common_name, ext_key_usages: profile.ext_key_usages.clone(), is_ca: profile.is_ca, path_len: profile.path_len };
        grant.params = serde_json::to_value(params)
            .map_err(|e| Refusal::new("x509.params", "profile", format!("the grant's X.509 part cannot be written: {e}")))?;
        Ok(())
    }

    fn prepare(&self, grant: &Grant, key: Option<&BoundKey>, serial: &Serial) -> Result<Box<dyn PreparedCredential>, MintError> {
        let key = key.ok_or_else(|| MintError::Lint("an X.509 grant without a bound key".into()))?;
        self.issuers.active().prepare(grant, key, serial)
    }

    fn present(&self, credential: &Credential) -> Presentation {
        let certificate_pem = crate::pem::pem_encode("CERTIFICATE", &credential.der);
        // The chain of the CA that signed it (the active one, unless a
        // rollover happened in between): issuing CA, root.
        let issuers = self.issuers.current();
        let chain = std::iter::once(&issuers.active)
            .chain(issuers.retired.iter())
            .find(|i| i.issuer_id() == &credential.issuer_id)
            .map(|i| crate::pem::chain_pem(i.chain_der()))
            .unwrap_or_default();
        let mut p = Presentation::default();
        p.response.insert("chain_pem".into(), serde_json::Value::String(format!("{certificate_pem}{chain}")));
        p.credential.insert("certificate_pem".into(), serde_json::Value::String(certificate_pem));
        p
    }
}

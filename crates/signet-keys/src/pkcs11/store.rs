//! The PKCS#11 keystore: authority keys generated inside a token, marked
//! sensitive and non-extractable, used through the token's sign operation.

use super::config::{Pkcs11Config, Pkcs11Pin, TokenSelector};
use super::der;
use super::{Pkcs11Error, module};
use crate::validate_key_ref;
use aws_lc_rs::digest::{SHA256, SHA384, digest};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, ECDSA_P384_SHA384_ASN1, ED25519, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use cryptoki::context::Pkcs11;
use cryptoki::error::{Error, RvError};
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeInfo, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::{AuthPin, Ulong};
use signet_core::ports::{AuthoritySigner, KeyError, KeyStore};
use signet_model::profile::KeyAlgorithm;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

/// Most idle sessions kept for signing; more concurrent signers open more
/// sessions, and those beyond this are closed after use.
const MAX_IDLE_SESSIONS: usize = 16;
/// Signed and verified at generation and at load: proves that the public key
/// Signet reports belongs to the private key in the token.
const PROBE: &[u8] = b"signet pkcs11 key check";

/// What the token says about a private key's protection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyProtection {
    /// CKA_SENSITIVE: the secret value can never be read in the clear.
    pub sensitive: bool,
    /// CKA_EXTRACTABLE: the key may be wrapped out of the token.
    pub extractable: bool,
    /// CKA_ALWAYS_SENSITIVE: sensitive since it was created.
    pub always_sensitive: bool,
    /// CKA_NEVER_EXTRACTABLE: never was extractable.
    pub never_extractable: bool,
    /// Whether reading the private value (CKA_VALUE, or CKA_PRIVATE_EXPONENT
    /// for RSA) succeeded. Always false for a key Signet accepts.
    pub value_readable: bool,
}

/// One token, logged in. The first (read-write) session holds the login for
/// as long as the keystore lives: PKCS#11 logs the whole process out when
/// its last session on the token closes.
struct Token {
    context: Pkcs11,
    slot: Slot,
    label: String,
    admin: Mutex<Session>,
    /// Idle read-only sessions for signing. A `Session` is `Send` but not
    /// `Sync`: each is used by one thread at a time, taken out of the pool.
    pool: Mutex<Vec<Session>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Sessions hold no invariant a panic could break halfway.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Token {
    fn fail(&self, operation: &'static str) -> impl Fn(Error) -> Pkcs11Error + '_ {
        move |e| Pkcs11Error::Token { token: self.label.clone(), operation, reason: reason(&e) }
    }

    /// Run `f` on an idle session (or a new one), returning it to the pool on success.
    fn with_session<T>(&self, f: impl FnOnce(&Session) -> Result<T, Pkcs11Error>) -> Result<T, Pkcs11Error> {
        let idle = lock(&self.pool).pop();
        let session = match idle {
            Some(s) => s,
            None => self.context.open_ro_session(self.slot).map_err(self.fail("open session"))?,
        };
        let out = f(&session)?;
        let mut pool = lock(&self.pool);
        if pool.len() < MAX_IDLE_SESSIONS {
            pool.push(session);
        }
        Ok(out)
    }

    fn mechanisms(&self) -> Result<Vec<MechanismType>, Pkcs11Error> {
        self.context.get_mechanism_list(self.slot).map_err(self.fail("mechanism list"))
    }

    fn require(&self, algorithm: KeyAlgorithm, needed: &[MechanismType]) -> Result<(), Pkcs11Error> {
        let have = self.mechanisms()?;
        match needed.iter().find(|m| !have.contains(m)) {
            None => Ok(()),
            Some(missing) => Err(Pkcs11Error::Unsupported {
                token: self.label.clone(),
                algorithm: algorithm.to_string(),
                mechanism: missing.to_string(),
            }),
        }
    }
}

fn reason(e: &Error) -> String {
    match e {
        Error::Pkcs11(RvError::UserNotLoggedIn, _) => "the token is no longer logged in (was it removed or reset?)".into(),
        Error::Pkcs11(RvError::DeviceRemoved | RvError::TokenNotPresent, _) => "the token was removed".into(),
        Error::Pkcs11(rv, _) => format!("{rv:?}"),
        other => other.to_string(),
    }
}

/// Authority keys in a PKCS#11 token (an HSM, or SoftHSM2 for tests).
///
/// Keys are generated inside the token (CKA_TOKEN, CKA_PRIVATE,
/// CKA_SENSITIVE, not CKA_EXTRACTABLE, CKA_SIGN only), labelled and ID'd
/// with their key reference, and never leave it: Signet gets signatures. A
/// key that the token reports as readable or extractable is refused.
#[derive(Clone)]
pub struct Pkcs11KeyStore {
    token: Arc<Token>,
}

impl fmt::Debug for Pkcs11KeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11KeyStore").field("token", &self.token.label).field("slot", &self.token.slot.id()).finish()
    }
}

fn token_label(context: &Pkcs11, slot: Slot) -> Option<String> {
    context.get_token_info(slot).ok().map(|i| i.label().trim_end().to_string())
}

fn find_slot(context: &Pkcs11, module: &std::path::Path, selector: &TokenSelector) -> Result<(Slot, String), Pkcs11Error> {
    let slots = context
        .get_slots_with_token()
        .map_err(|e| Pkcs11Error::ModuleLoad { path: module.to_path_buf(), reason: format!("cannot list slots: {}", reason(&e)) })?;
    let tokens: Vec<(Slot, String)> = slots.into_iter().filter_map(|s| token_label(context, s).map(|l| (s, l))).collect();
    match selector {
        TokenSelector::Label(label) => {
            let mut matching = tokens.iter().filter(|(_, l)| l == label);
            match (matching.next(), matching.next()) {
                (Some((slot, l)), None) => Ok((*slot, l.clone())),
                (Some(_), Some(_)) => Err(Pkcs11Error::TokenAmbiguous(label.clone())),
                (None, _) => Err(Pkcs11Error::TokenNotFound {
                    label: label.clone(),
                    module: module.to_path_buf(),
                    present: tokens.into_iter().map(|(_, l)| l).collect(),
                }),
            }
        }
        TokenSelector::Slot(id) => match tokens.iter().find(|(s, _)| s.id() == *id) {
            Some((slot, l)) => Ok((*slot, l.clone())),
            None => Err(Pkcs11Error::SlotNotFound {
                slot: *id,
                module: module.to_path_buf(),
                present: tokens.into_iter().map(|(s, l)| format!("{} ({l})", s.id())).collect(),
            }),
        },
    }
}

fn login(session: &Session, module: &std::path::Path, slot: Slot, label: &str, pin: &Pkcs11Pin) -> Result<(), Pkcs11Error> {
    let auth = AuthPin::from(pin.expose());
    match session.login(UserType::User, Some(&auth)) {
        Ok(()) => {
            module::record_login(module, slot.id(), pin.expose());
            Ok(())
        }
        Err(Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) if module::same_login(module, slot.id(), pin.expose()) => Ok(()),
        Err(Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Err(Pkcs11Error::PinMismatch(label.to_string())),
        Err(Error::Pkcs11(RvError::PinIncorrect | RvError::PinInvalid | RvError::PinLenRange, _)) => {
            Err(Pkcs11Error::PinIncorrect(label.to_string()))
        }
        Err(Error::Pkcs11(RvError::PinLocked, _)) => Err(Pkcs11Error::PinLocked(label.to_string())),
        Err(e) => Err(Pkcs11Error::Token { token: label.to_string(), operation: "login", reason: reason(&e) }),
    }
}

impl Pkcs11KeyStore {
    /// Load the module (once per process), find the token and log in. Every
    /// failure (missing module, unknown token, wrong or locked PIN) happens
    /// here, before anything is written to the token.
    pub fn open(config: Pkcs11Config) -> Result<Self, Pkcs11Error> {
        let context = module::context(&config.module)?;
        let (slot, label) = find_slot(&context, &config.module, &config.token)?;
        if context.get_token_info(slot).map(|i| i.user_pin_locked()).unwrap_or(false) {
            return Err(Pkcs11Error::PinLocked(label));
        }
        let admin = context.open_rw_session(slot).map_err(|e| Pkcs11Error::Token {
            token: label.clone(),
            operation: "open session",
            reason: reason(&e),
        })?;
        login(&admin, &config.module, slot, &label, &config.pin)?;
        Ok(Self { token: Arc::new(Token { context, slot, label, admin: Mutex::new(admin), pool: Mutex::new(Vec::new()) }) })
    }

    /// Whether the token offers the mechanisms to generate and sign with
    /// `algorithm` keys; the error names the first missing one. Lets a caller
    /// check every algorithm it will need before it creates anything.
    pub fn check_supports(&self, algorithm: KeyAlgorithm) -> Result<(), Pkcs11Error> {
        self.token.require(algorithm, &mechanisms(algorithm))
    }

    /// The label of the token in use.
    pub fn token_label(&self) -> &str {
        &self.token.label
    }

    /// What the token reports about the protection of key `key_ref`.
    pub fn protection(&self, key_ref: &str) -> Result<KeyProtection, KeyError> {
        validate_key_ref(key_ref)?;
        let admin = lock(&self.token.admin);
        let key = find_one(&self.token, &admin, key_ref, ObjectClass::PRIVATE_KEY)?;
        Ok(protection(&self.token, &admin, key)?)
    }
}

fn find(token: &Token, session: &Session, key_ref: &str, class: Option<ObjectClass>) -> Result<Vec<ObjectHandle>, Pkcs11Error> {
    let mut template = vec![Attribute::Label(key_ref.as_bytes().to_vec())];
    if let Some(c) = class {
        template.push(Attribute::Class(c));
    }
    session.find_objects(&template).map_err(token.fail("find objects"))
}

fn find_one(token: &Token, session: &Session, key_ref: &str, class: ObjectClass) -> Result<ObjectHandle, KeyError> {
    let found = find(token, session, key_ref, Some(class))?;
    match found.as_slice() {
        [one] => Ok(*one),
        [] if class == ObjectClass::PRIVATE_KEY => Err(KeyError::NotFound(key_ref.to_string())),
        [] => Err(bad_key(token, key_ref, "its public key object is missing").into()),
        _ => Err(bad_key(token, key_ref, "several objects of one class carry this label").into()),
    }
}

fn bad_key(token: &Token, key_ref: &str, reason: &str) -> Pkcs11Error {
    Pkcs11Error::BadKey { key_ref: key_ref.to_string(), token: token.label.clone(), reason: reason.to_string() }
}

fn protection(token: &Token, session: &Session, key: ObjectHandle) -> Result<KeyProtection, Pkcs11Error> {
    let attrs = session
        .get_attributes(
            key,
            &[AttributeType::Sensitive, AttributeType::Extractable, AttributeType::AlwaysSensitive, AttributeType::NeverExtractable],
        )
        .map_err(token.fail("read key attributes"))?;
    let flag = |want: AttributeType| {
        attrs.iter().find_map(|a| match (a, want) {
            (Attribute::Sensitive(v), AttributeType::Sensitive)
            | (Attribute::Extractable(v), AttributeType::Extractable)
            | (Attribute::AlwaysSensitive(v), AttributeType::AlwaysSensitive)
            | (Attribute::NeverExtractable(v), AttributeType::NeverExtractable) => Some(*v),
            _ => None,
        })
    };
    // An attribute the token does not report counts against the key.
    let readable = session
        .get_attribute_info(key, &[AttributeType::Value, AttributeType::PrivateExponent])
        .map_err(token.fail("read key attributes"))?
        .iter()
        .any(|i| matches!(i, AttributeInfo::Available(_)));
    Ok(KeyProtection {
        sensitive: flag(AttributeType::Sensitive) == Some(true),
        extractable: flag(AttributeType::Extractable) != Some(false),
        always_sensitive: flag(AttributeType::AlwaysSensitive) == Some(true),
        never_extractable: flag(AttributeType::NeverExtractable) == Some(true),
        value_readable: readable,
    })
}

fn require_protected(token: &Token, key_ref: &str, p: &KeyProtection) -> Result<(), Pkcs11Error> {
    let reason = if !p.sensitive {
        "CKA_SENSITIVE is not true"
    } else if p.extractable {
        "CKA_EXTRACTABLE is not false"
    } else if p.value_readable {
        "its private value can be read"
    } else {
        return Ok(());
    };
    Err(Pkcs11Error::NotProtected { key_ref: key_ref.to_string(), token: token.label.clone(), reason: reason.to_string() })
}

/// The mechanisms a key of `algorithm` needs: generation, then signing.
fn mechanisms(algorithm: KeyAlgorithm) -> [MechanismType; 2] {
    match algorithm {
        KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 => [MechanismType::ECC_KEY_PAIR_GEN, MechanismType::ECDSA],
        KeyAlgorithm::Ed25519 => [MechanismType::ECC_EDWARDS_KEY_PAIR_GEN, MechanismType::EDDSA],
        KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
            [MechanismType::RSA_PKCS_KEY_PAIR_GEN, MechanismType::SHA256_RSA_PKCS]
        }
    }
}

impl KeyStore for Pkcs11KeyStore {
    fn generate(&self, key_ref: &str, algorithm: KeyAlgorithm) -> Result<Arc<dyn AuthoritySigner>, KeyError> {
        validate_key_ref(key_ref)?;
        let token = &self.token;
        token.require(algorithm, &mechanisms(algorithm))?;
        let admin = lock(&token.admin);
        if !find(token, &admin, key_ref, None)?.is_empty() {
            return Err(KeyError::Exists(key_ref.to_string()));
        }
        let label = Attribute::Label(key_ref.as_bytes().to_vec());
        let id = Attribute::Id(key_ref.as_bytes().to_vec());
        let mut public = vec![Attribute::Token(true), Attribute::Private(false), Attribute::Verify(true), label.clone(), id.clone()];
        let private = vec![
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Decrypt(false),
            Attribute::Unwrap(false),
            Attribute::Derive(false),
            label,
            id,
        ];
        let mechanism = match algorithm {
            KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 => {
                let params = if algorithm == KeyAlgorithm::EcdsaP256 { der::P256_PARAMS } else { der::P384_PARAMS };
                public.push(Attribute::EcParams(params.to_vec()));
                Mechanism::EccKeyPairGen
            }
            KeyAlgorithm::Ed25519 => {
                public.push(Attribute::EcParams(der::ED25519_PARAMS.to_vec()));
                Mechanism::EccEdwardsKeyPairGen
            }
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
                let bits: u64 = match algorithm {
                    KeyAlgorithm::Rsa2048 => 2048,
                    KeyAlgorithm::Rsa3072 => 3072,
                    _ => 4096,
                };
                public.push(Attribute::ModulusBits(Ulong::from(bits)));
                public.push(Attribute::PublicExponent(vec![0x01, 0x00, 0x01]));
                Mechanism::RsaPkcsKeyPairGen
            }
        };
        let (public_key, private_key) = admin.generate_key_pair(&mechanism, &public, &private).map_err(token.fail("key generation"))?;
        let checked = protection(token, &admin, private_key)
            .and_then(|p| require_protected(token, key_ref, &p))
            .and_then(|()| signer(token, &admin, key_ref, private_key, public_key));
        match checked {
            Ok(signer) if signer.algorithm == algorithm => Ok(Arc::new(signer)),
            other => {
                // Leave nothing behind that Signet would refuse to load.
                let _ = admin.destroy_object(private_key);
                let _ = admin.destroy_object(public_key);
                match other {
                    Err(e) => Err(e.into()),
                    Ok(s) => {
                        Err(bad_key(token, key_ref, &format!("the token generated a {} key for a {algorithm} request", s.algorithm)).into())
                    }
                }
            }
        }
    }

    /// `C_DestroyObject` on the private and public key objects labelled `key_ref`.
    fn destroy(&self, key_ref: &str) -> Result<(), KeyError> {
        validate_key_ref(key_ref)?;
        let token = &self.token;
        let admin = lock(&token.admin);
        let objects = find(token, &admin, key_ref, None)?;
        if objects.is_empty() {
            return Err(KeyError::NotFound(key_ref.to_string()));
        }
        for object in objects {
            admin.destroy_object(object).map_err(token.fail("destroy object"))?;
        }
        Ok(())
    }

    fn load(&self, key_ref: &str) -> Result<Arc<dyn AuthoritySigner>, KeyError> {
        validate_key_ref(key_ref)?;
        let token = &self.token;
        let admin = lock(&token.admin);
        let private_key = find_one(token, &admin, key_ref, ObjectClass::PRIVATE_KEY)?;
        require_protected(token, key_ref, &protection(token, &admin, private_key)?)?;
        let public_key = find_one(token, &admin, key_ref, ObjectClass::PUBLIC_KEY)?;
        let signer = signer(token, &admin, key_ref, private_key, public_key)?;
        token.require(signer.algorithm, &mechanisms(signer.algorithm))?;
        Ok(Arc::new(signer))
    }
}

/// The key's algorithm and its public key as a SubjectPublicKeyInfo.
fn public_key(
    token: &Token,
    session: &Session,
    key_ref: &str,
    private_key: ObjectHandle,
    public_key: ObjectHandle,
) -> Result<(KeyAlgorithm, Vec<u8>), Pkcs11Error> {
    let bad = |reason: &str| bad_key(token, key_ref, reason);
    let key_type = session
        .get_attributes(private_key, &[AttributeType::KeyType])
        .map_err(token.fail("read key attributes"))?
        .into_iter()
        .find_map(|a| if let Attribute::KeyType(t) = a { Some(t) } else { None })
        .ok_or_else(|| bad("the token does not report its key type"))?;
    let attrs = session
        .get_attributes(
            public_key,
            &[AttributeType::EcParams, AttributeType::EcPoint, AttributeType::Modulus, AttributeType::PublicExponent],
        )
        .map_err(token.fail("read public key"))?;
    let get = |want: AttributeType| {
        attrs.iter().find_map(|a| match (a, want) {
            (Attribute::EcParams(v), AttributeType::EcParams)
            | (Attribute::EcPoint(v), AttributeType::EcPoint)
            | (Attribute::Modulus(v), AttributeType::Modulus)
            | (Attribute::PublicExponent(v), AttributeType::PublicExponent) => Some(v.as_slice()),
            _ => None,
        })
    };
    if key_type == KeyType::EC || key_type == KeyType::EC_EDWARDS {
        let params = get(AttributeType::EcParams).ok_or_else(|| bad("its public key has no CKA_EC_PARAMS"))?;
        let point = get(AttributeType::EcPoint).ok_or_else(|| bad("its public key has no CKA_EC_POINT"))?;
        // "edwards25519" as a PrintableString, the older way to name the curve.
        const ED25519_NAME: &[u8] = b"\x13\x0cedwards25519";
        let (algorithm, len) = match params {
            p if key_type == KeyType::EC && p == der::P256_PARAMS => (KeyAlgorithm::EcdsaP256, 65),
            p if key_type == KeyType::EC && p == der::P384_PARAMS => (KeyAlgorithm::EcdsaP384, 97),
            p if key_type == KeyType::EC_EDWARDS && (p == der::ED25519_PARAMS || p == ED25519_NAME) => (KeyAlgorithm::Ed25519, 32),
            _ => return Err(bad("its curve is not P-256, P-384 or Ed25519")),
        };
        let point = der::unwrap_ec_point(point, len).ok_or_else(|| bad("its CKA_EC_POINT is malformed"))?;
        let spki = match algorithm {
            KeyAlgorithm::Ed25519 => der::ed25519_spki(point),
            KeyAlgorithm::EcdsaP256 => der::ec_spki(der::P256_PARAMS, point),
            _ => der::ec_spki(der::P384_PARAMS, point),
        };
        Ok((algorithm, spki))
    } else if key_type == KeyType::RSA {
        let modulus = get(AttributeType::Modulus).ok_or_else(|| bad("its public key has no CKA_MODULUS"))?;
        let exponent = get(AttributeType::PublicExponent).ok_or_else(|| bad("its public key has no CKA_PUBLIC_EXPONENT"))?;
        let bits = modulus.iter().skip_while(|b| **b == 0).count() * 8;
        let algorithm = match bits {
            2048 => KeyAlgorithm::Rsa2048,
            3072 => KeyAlgorithm::Rsa3072,
            4096 => KeyAlgorithm::Rsa4096,
            _ => return Err(bad(&format!("its RSA modulus has {bits} bits (2048, 3072 or 4096 are supported)"))),
        };
        Ok((algorithm, der::rsa_spki(modulus, exponent)))
    } else {
        Err(bad(&format!("its key type {key_type} is not EC, EC Edwards or RSA")))
    }
}

fn signer(
    token: &Arc<Token>,
    session: &Session,
    key_ref: &str,
    private_key: ObjectHandle,
    public: ObjectHandle,
) -> Result<Pkcs11Signer, Pkcs11Error> {
    let (algorithm, spki_der) = public_key(token, session, key_ref, private_key, public)?;
    let signer = Pkcs11Signer { token: token.clone(), key_ref: key_ref.to_string(), key: private_key, algorithm, spki_der };
    let signature = signer.sign_with(session, PROBE)?;
    let verify_alg: &dyn aws_lc_rs::signature::VerificationAlgorithm = match algorithm {
        KeyAlgorithm::EcdsaP256 => &ECDSA_P256_SHA256_ASN1,
        KeyAlgorithm::EcdsaP384 => &ECDSA_P384_SHA384_ASN1,
        KeyAlgorithm::Ed25519 => &ED25519,
        _ => &RSA_PKCS1_2048_8192_SHA256,
    };
    // aws-lc parses the SubjectPublicKeyInfo itself: this also checks its encoding.
    UnparsedPublicKey::new(verify_alg, &signer.spki_der)
        .verify(PROBE, &signature)
        .map_err(|_| bad_key(token, key_ref, "a test signature does not verify with its public key"))?;
    Ok(signer)
}

/// A private key in a token, signing with the X.509 scheme of its algorithm.
/// Holds a handle, never key material.
pub struct Pkcs11Signer {
    token: Arc<Token>,
    key_ref: String,
    key: ObjectHandle,
    algorithm: KeyAlgorithm,
    spki_der: Vec<u8>,
}

impl fmt::Debug for Pkcs11Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Signer")
            .field("token", &self.token.label)
            .field("key_ref", &self.key_ref)
            .field("algorithm", &self.algorithm)
            .finish()
    }
}

impl Pkcs11Signer {
    fn sign_with(&self, session: &Session, message: &[u8]) -> Result<Vec<u8>, Pkcs11Error> {
        let token = &self.token;
        let raw_ecdsa = |hash: &[u8], scalar_len: usize| -> Result<Vec<u8>, Pkcs11Error> {
            let raw = session.sign(&Mechanism::Ecdsa, self.key, hash).map_err(token.fail("signing"))?;
            der::ecdsa_raw_to_der(&raw, scalar_len)
                .ok_or_else(|| bad_key(token, &self.key_ref, &format!("the token returned a {}-byte ECDSA signature", raw.len())))
        };
        match self.algorithm {
            // CKM_ECDSA signs a hash the caller computed, and returns r‖s.
            KeyAlgorithm::EcdsaP256 => raw_ecdsa(digest(&SHA256, message).as_ref(), 32),
            KeyAlgorithm::EcdsaP384 => raw_ecdsa(digest(&SHA384, message).as_ref(), 48),
            KeyAlgorithm::Ed25519 => session
                .sign(&Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure)), self.key, message)
                .map_err(token.fail("signing")),
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
                session.sign(&Mechanism::Sha256RsaPkcs, self.key, message).map_err(token.fail("signing"))
            }
        }
    }
}

impl AuthoritySigner for Pkcs11Signer {
    fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    fn public_key_spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        Ok(self.token.with_session(|session| self.sign_with(session, message))?)
    }
}

//! First start and every start: open the store and keystore, create the CAs,
//! the default profile and the bootstrap admin token when the store is empty,
//! and assemble the authority.

use crate::AppState;
use crate::config::{KeystoreConfig, PinSource, Pkcs11Settings, ServerConfig};
use crate::serve::ServerCert;
use signet_core::Authority;
use signet_core::authority::{Caller, Ctx};
use signet_core::clock::{SystemClock, SystemRng};
use signet_core::mint::X509Issuer;
use signet_core::ports::{Clock, KeyError, KeyStore, Rng, Store, StoreError};
use signet_core::rollover::IssuingCaFactory;
use signet_keys::pkcs11::{Pkcs11Config, Pkcs11KeyStore, Pkcs11Pin};
use signet_keys::sealed::{self, SealConfig, SealedKeyStore};
use signet_model::credential::{Authority as CaRecord, AuthorityRole, KeyState};
use signet_model::event::{EventType, NewEvent};
use signet_model::ids::{AuthorityId, Serial};
use signet_model::names::SanSet;
use signet_model::profile::{KeyAlgorithm, NamesInput, ProfileInput};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use time::Duration;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BootError(pub String);

fn boot<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> BootError + '_ {
    move |e| BootError(format!("{what}: {e}"))
}

/// The running authority and what `signet serve` prints at start.
pub struct Started {
    pub state: Arc<AppState>,
    pub server_cert: Arc<ServerCert>,
    /// Where the bootstrap admin token was written, when this start created it.
    pub admin_token_path: Option<PathBuf>,
    /// The keystore was unsealed from the local unseal key file (single trusted machine only).
    pub local_unseal: bool,
    pub ca_pem_path: PathBuf,
    pub database: String,
}

const ROOT_VALIDITY: Duration = Duration::days(3650);
/// The KeyStore name of the log's signing key.
pub const LOG_KEY_REF: &str = "log";
/// How often the sequencer grows the tree and signs a checkpoint (when entries arrived).
pub const SEQUENCER_PERIOD: std::time::Duration = std::time::Duration::from_millis(500);
/// The longest pause of a sequencer whose store fails.
pub const SEQUENCER_MAX_BACKOFF: std::time::Duration = std::time::Duration::from_secs(30);
use crate::authorities::ISSUING_VALIDITY;

/// The default profile, so the quick start needs no profile file.
pub fn default_tls_server_profile() -> ProfileInput {
    ProfileInput {
        name: "tls-server".into(),
        description: "TLS server certificates for services on internal names (localhost, *.internal, *.test) and loopback addresses".into(),
        credential_type: "x509".into(),
        key_algorithms: vec!["ecdsa-p256".into(), "ecdsa-p384".into(), "ed25519".into(), "rsa-3072".into()],
        default_ttl: Some("24h".into()),
        max_ttl: "30d".into(),
        names: NamesInput {
            dns: vec!["localhost".into(), "**.localhost".into(), "**.internal".into(), "**.test".into()],
            ip: vec!["127.0.0.0/8".into(), "::1".into()],
            uri: vec![],
            email: vec![],
            allow_wildcards: false,
        },
        require_names: true,
        ext_key_usages: vec!["server_auth".into()],
        is_ca: false,
        path_len: None,
        required_assurance: None,
        subject_kinds: vec![],
        allowed_scopes: vec![],
        approvals: None,
        params: Default::default(),
    }
}

/// Create a directory (and parents) readable only by us.
fn private_dir(dir: &Path) -> Result<(), BootError> {
    std::fs::create_dir_all(dir).map_err(boot("cannot create the data directory"))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(boot("cannot restrict the data directory"))?;
    }
    Ok(())
}

/// Write a file readable only by us (mode 0600), replacing any old one
/// atomically: the contents go to `NAME.tmp`, are synced, and the temporary
/// file is renamed over `path`, so a start that stops halfway leaves the old
/// file or the new one, never a torn one.
pub(crate) fn write_private(path: &Path, contents: &[u8]) -> Result<(), BootError> {
    let mut tmp_name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp).map_err(boot("cannot write a private file"))?;
    f.write_all(contents).map_err(boot("cannot write a private file"))?;
    f.sync_all().map_err(boot("cannot sync a private file"))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(boot("cannot write a private file"))?;
    // The rename itself must survive a power cut.
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(boot("cannot sync the data directory"))?;
    }
    Ok(())
}

/// The store and the keystore, opened. The keystore is unsealed only in the
/// quick start (local unseal key file); a keystore sealed with shares stays
/// sealed until [`crate::seal::SealGate`] receives enough of them.
pub struct Opened {
    pub store: Arc<dyn Store>,
    pub keys: Keys,
    /// The keystore was unsealed from the local unseal key file (single trusted machine only).
    pub local_unseal: bool,
    /// The database URL, password hidden.
    pub database: String,
}

/// What [`finish`] makes once the keystore is unsealed: the running
/// authority and the server's TLS identity issued by its CA.
pub struct Unsealed {
    pub state: Arc<AppState>,
    pub identity: signet_x509::tls::ServerIdentity,
    /// Where the bootstrap admin token was written, when this start created it.
    pub admin_token_path: Option<PathBuf>,
    pub ca_pem_path: PathBuf,
}

/// Start a data directory whose keystore unseals by itself (the quick start).
/// A keystore sealed with shares is refused here: serve it through
/// [`crate::seal::SealGate::launch`], which waits for the shares.
pub async fn start(config: &ServerConfig) -> Result<Started, BootError> {
    let opened = open(config).await?;
    if opened.keys.is_sealed() {
        return Err(BootError("the keystore is sealed with Shamir shares: start it through the seal gate and unseal it".into()));
    }
    let unsealed = finish(config, opened.store, &opened.keys).await?;
    let server_cert = Arc::new(ServerCert::new(&unsealed.identity.chain_der, &unsealed.identity.key_pkcs8_der).map_err(BootError)?);
    trust_operator_clients(&server_cert, &unsealed.state)?;
    Ok(Started {
        state: unsealed.state,
        server_cert,
        admin_token_path: unsealed.admin_token_path,
        local_unseal: opened.local_unseal,
        ca_pem_path: unsealed.ca_pem_path,
        database: opened.database,
    })
}

/// Ask TLS clients for operator certificates chaining to this authority's root.
pub fn trust_operator_clients(cert: &ServerCert, state: &AppState) -> Result<(), BootError> {
    // Every published issuing CA: a client that sends only its leaf is completed with its issuer.
    let issuing: Vec<Vec<u8>> = state.authority.status_issuers().iter().filter_map(|i| i.chain_der().first().cloned()).collect();
    cert.trust_clients_of(&state.root_der, &issuing).map_err(BootError)
}

/// Open the store and the keystore, and record the keystore's
/// `keystore.initialized` event the first time a server runs on this seal
/// (`signet init` runs offline, without the store). The store is not
/// encrypted, so this works while the keystore is sealed.
pub async fn open(config: &ServerConfig) -> Result<Opened, BootError> {
    private_dir(&config.data_dir)?;
    // The keystore first: a wrong PIN or a missing module stops the start before the store is touched.
    let (keys, local_unseal) = open_keystore(config)?;
    let database = match &config.database {
        Some(url) => url.clone(),
        None => format!("sqlite://{}", config.data_dir.join("signet.db").display()),
    };
    let store: Arc<dyn Store> = signet_store::open_store(&database).await.map_err(boot("cannot open the store"))?;
    if let Some(seal) = keys.seal_config() {
        record_initialized(store.as_ref(), seal, &SystemClock).await?;
    }
    Ok(Opened { store, keys, local_unseal, database: redact_url(&database) })
}

/// Record `keystore.initialized` for this seal unless the log already has it.
/// Once the authority exists its first start has recorded it, so the
/// search runs only on a store without authorities (a small one).
async fn record_initialized(store: &dyn Store, seal: &SealConfig, clock: &dyn Clock) -> Result<(), BootError> {
    if !store.list_authorities().await.map_err(boot("cannot read the authorities"))?.is_empty() {
        return Ok(());
    }
    let seal_id = seal.seal_id_hex();
    let mut after = -1;
    loop {
        let filter =
            signet_core::ports::EventFilter { event_type: Some(EventType::KeystoreInitialized), after, limit: 500, ..Default::default() };
        let page = store.search_events(&filter).await.map_err(boot("cannot read the key ceremony events"))?;
        if page.iter().any(|e| e.details.get("seal_id").and_then(|v| v.as_str()) == Some(seal_id.as_str())) {
            return Ok(());
        }
        match page.last() {
            Some(last) if page.len() == 500 => after = last.index,
            _ => break,
        }
    }
    let details = match seal.share_scheme() {
        Some((n, m)) => serde_json::json!({ "seal_id": seal_id, "unseal": "shares", "shares": n, "threshold": m }),
        None => serde_json::json!({ "seal_id": seal_id, "unseal": "local-key-file" }),
    };
    let event = NewEvent {
        event_type: EventType::KeystoreInitialized,
        actor: "system".into(),
        subject_id: None,
        request_id: None,
        credential_id: None,
        reason: Some("first server start on this seal".into()),
        details,
        trace_id: None,
        time: clock.now(),
    };
    store.record_events(&[event]).await.map_err(boot("cannot record the keystore initialisation"))
}

/// Finish the start once the keystore is unsealed: on the first start (an
/// empty store) create the CAs, the log key, the default profile and the
/// bootstrap admin token; on every start load the keys and assemble the
/// authority. Called again after every unseal (keys dropped by a seal are
/// loaded again). Fails, naming the key, if a sealed key file was altered.
pub async fn finish(config: &ServerConfig, store: Arc<dyn Store>, keys: &Keys) -> Result<Unsealed, BootError> {
    let keys_handle = keys;
    let keys = keys.key_store();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let rng: Arc<dyn Rng> = Arc::new(SystemRng);

    let mut cas = store.list_authorities().await.map_err(boot("cannot read the authorities"))?;
    if cas.is_empty() {
        cas = create_authorities(store.as_ref(), keys, clock.as_ref(), rng.as_ref(), config).await?;
    }
    let root = cas
        .iter()
        .find(|a| a.role == AuthorityRole::Root && a.is_active())
        .ok_or_else(|| BootError("the store has no active root CA".into()))?;
    // The active issuing CA signs new certificates; the retired ones (not
    // yet destroyed) are loaded too, to sign status for what they issued.
    let factory = Arc::new(crate::authorities::CaFactory {
        keys: keys_handle.clone(),
        root: root.clone(),
        algorithm: config.ca_key_algorithm,
        status_url: config.status_url.clone(),
    });
    let issuing = cas
        .iter()
        .find(|a| a.role == AuthorityRole::Issuing && a.is_active())
        .ok_or_else(|| BootError("the store has no active issuing CA".into()))?;
    let x509: Arc<dyn X509Issuer> = factory.load(issuing).map_err(boot("cannot load the issuing CA key"))?;
    let mut retired = Vec::new();
    for r in cas.iter().filter(|a| a.role == AuthorityRole::Issuing && a.state == KeyState::Retired) {
        retired.push(factory.load(r).map_err(|e| BootError(format!("cannot load the retired issuing CA key of `{}`: {e}", r.id)))?);
    }

    // The log key: Ed25519, in the keystore like every authority key. The
    // origin names this log in every checkpoint; it is fixed by the root CA.
    let log_signer = keys.load(LOG_KEY_REF).map_err(boot("cannot load the log key"))?;
    let log_key = Arc::new(signet_core::log::LogKey::new(log_signer, &log_origin(&root.id)).map_err(boot("the log key"))?);
    std::fs::write(config.data_dir.join("log.pub"), format!("{}\n", log_key.verifier_key())).map_err(boot("cannot write log.pub"))?;

    let rollover = signet_core::rollover::Rollover { factory, overlap: config.rollover_overlap };
    let authority =
        Authority::new(store.clone(), clock.clone(), rng.clone(), x509.clone(), config.commit_batch).with_rollover(rollover, retired);
    // The credential types this server issues: each is one implementation
    // of `CredentialType` (docs/ARCHITECTURE.md, "Adding a credential type").
    let x509_type = Arc::new(signet_x509::X509Type::new(authority.x509_issuers()));
    let authority = Arc::new(authority.with_credential_type(x509_type));
    // Every start: data directories made before operator certificates existed get the profile too.
    authority.ensure_operator_client_profile().await.map_err(boot("cannot create the operator-client profile"))?;
    let admin_token_path = complete_first_start(&authority, &config.data_dir).await?;

    let identity = issue_server_identity(&authority, config).await?;
    // The log against its latest signed checkpoint, and the entries after it
    // (the older ones: the sequencer's audit). After the server's identity:
    // a log that fails leaves a server that answers, not ready, refusing
    // every issuance and change (503 `log-integrity`).
    match signet_core::integrity::verify_head(store.as_ref(), &log_key).await {
        Ok(()) => {}
        Err(signet_core::CoreError::LogIntegrity(reason)) => authority.log_integrity_failed(&reason).await,
        Err(e) => return Err(BootError(format!("cannot verify the log: {e}"))),
    }

    let state = Arc::new(AppState {
        authority,
        rng,
        root_der: root.certificate_der.clone(),
        data_dir: config.data_dir.clone(),
        openapi_json: crate::openapi::document_json(),
        metrics: crate::metrics::Metrics::default(),
        log_key,
        stopping: tokio::sync::watch::Sender::new(false),
    });
    // The CA bundle: every published issuing CA, then the root.
    let ca_pem_path = config.data_dir.join("ca.pem");
    std::fs::write(&ca_pem_path, state.ca_bundle_pem()).map_err(boot("cannot write ca.pem"))?;
    Ok(Unsealed { state, identity, admin_token_path, ca_pem_path })
}

/// The steps of a first start after the authorities: the default profile,
/// then the bootstrap admin and its token. The admin is the last step, so
/// until it exists the first start is not complete (it may have been
/// interrupted: killed, a power cut) and the steps still missing are done now.
/// Returns where the admin token was written, when it was.
async fn complete_first_start(authority: &Authority, data_dir: &Path) -> Result<Option<PathBuf>, BootError> {
    let store = authority.store();
    if !store.list_operators().await.map_err(boot("cannot read the operators"))?.is_empty() {
        return Ok(None);
    }
    let system = Caller::system();
    let ctx = Ctx { caller: &system, trace_id: None };
    let profile = default_tls_server_profile();
    if store.get_profile(&profile.name).await.map_err(boot("cannot read the profiles"))?.is_none() {
        authority.apply_profile(ctx, &profile).await.map_err(boot("cannot create the default profile"))?;
    }
    // The token file is written before the admin is committed: if the start
    // stops in between, the next one writes a new token for a new admin.
    let path = data_dir.join("admin-token");
    authority
        .bootstrap_admin("admin", |secret| {
            write_private(&path, format!("{secret}\n").as_bytes()).map_err(|e| signet_core::CoreError::Internal(e.0))
        })
        .await
        .map_err(boot("cannot create the bootstrap admin"))?;
    tracing::info!(path = %path.display(), "created the bootstrap admin token (keep it secret)");
    Ok(Some(path))
}

/// The configured keystore, behind which every authority key lives.
#[derive(Clone)]
pub enum Keys {
    /// The sealed software keystore (the default): sealed and unsealed with
    /// Shamir shares, or unsealed from the local unseal key file.
    Sealed(SealedKeyStore),
    /// A PKCS#11 token, logged in at start. The token guards the keys;
    /// Signet has no seal of its own over them.
    Pkcs11(Arc<Pkcs11KeyStore>),
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Keys::Sealed(k) => f.debug_tuple("Sealed").field(k).finish(),
            Keys::Pkcs11(k) => f.debug_tuple("Pkcs11").field(&k.token_label()).finish(),
        }
    }
}

impl Keys {
    /// Where the authority's keys are used.
    pub fn key_store(&self) -> &dyn KeyStore {
        match self {
            Keys::Sealed(k) => k,
            Keys::Pkcs11(k) => k.as_ref(),
        }
    }

    /// Waiting for shares?
    pub fn is_sealed(&self) -> bool {
        matches!(self, Keys::Sealed(k) if k.is_sealed())
    }

    /// The seal (sealed keystore only).
    pub fn seal_config(&self) -> Option<&SealConfig> {
        match self {
            Keys::Sealed(k) => Some(k.config()),
            Keys::Pkcs11(_) => None,
        }
    }

    /// Drop every key from memory (sealed keystore; a token keeps its keys).
    pub fn seal(&self) {
        if let Keys::Sealed(k) = self {
            k.seal();
        }
    }

    /// The sealed keystore, if that is what this is.
    pub fn sealed(&self) -> Option<&SealedKeyStore> {
        match self {
            Keys::Sealed(k) => Some(k),
            Keys::Pkcs11(_) => None,
        }
    }
}

/// Open the configured keystore: sealed (the default) or PKCS#11. Also says
/// whether it was unsealed from the local unseal key file.
fn open_keystore(config: &ServerConfig) -> Result<(Keys, bool), BootError> {
    match &config.keystore {
        KeystoreConfig::Sealed => {
            let (keys, local_unseal) = open_sealed_keystore(&config.data_dir)?;
            Ok((Keys::Sealed(keys), local_unseal))
        }
        KeystoreConfig::Pkcs11(settings) => {
            let keys = open_pkcs11_keystore(settings)?;
            // Every algorithm a first start needs, checked before anything is created.
            for alg in [config.ca_key_algorithm, KeyAlgorithm::Ed25519] {
                keys.check_supports(alg).map_err(boot("keystore"))?;
            }
            Ok((Keys::Pkcs11(Arc::new(keys)), false))
        }
    }
}

/// Log in to the PKCS#11 token. The PIN is read now, used for the login, and dropped (zeroized).
pub(crate) fn open_pkcs11_keystore(settings: &Pkcs11Settings) -> Result<Pkcs11KeyStore, BootError> {
    let pin = match &settings.pin {
        PinSource::File(path) => Pkcs11Pin::from_file(path),
        PinSource::Env(var) => Pkcs11Pin::from_env(var),
    }
    .map_err(boot("keystore"))?;
    let config = Pkcs11Config { module: settings.module.clone(), token: settings.token.clone(), pin };
    let keys = Pkcs11KeyStore::open(config).map_err(boot("keystore"))?;
    tracing::info!(token = keys.token_label(), module = %settings.module.display(), "authority keys are in a PKCS#11 token");
    Ok(keys)
}

/// Open the sealed keystore (every authority key encrypted at rest under a
/// master key). A new data directory gets a seal whose master key is kept in
/// a local unseal key file (`DATA/unseal-key`, mode 0600), and is unsealed
/// from it: the zero-configuration quick start, for a single trusted
/// machine. A keystore made by `signet init` (Shamir shares) stays sealed.
fn open_sealed_keystore(data_dir: &Path) -> Result<(SealedKeyStore, bool), BootError> {
    let config_path = data_dir.join("seal.json");
    let key_path = data_dir.join("unseal-key");
    if !config_path.exists() {
        // No seal yet: a new data directory. An unseal key without a seal is
        // what a first start leaves when it stops between writing the two;
        // with no key sealed under it (`keys/` empty) it protects nothing and
        // is replaced. Next to sealed keys it is kept, and the start fails.
        if key_path.exists() && dir_is_empty(&data_dir.join("keys"))? {
            tracing::warn!(path = %key_path.display(), "replacing the unseal key left by an interrupted first start");
            std::fs::remove_file(&key_path).map_err(boot("cannot remove the unseal key of an interrupted first start"))?;
        }
        let (seal, master) = sealed::init_local().map_err(boot("cannot create the keystore seal"))?;
        sealed::write_local_unseal_key(&key_path, &master).map_err(boot("cannot write the local unseal key"))?;
        write_private(&config_path, seal.to_json().as_bytes())?;
    }
    let text = std::fs::read_to_string(&config_path).map_err(boot("cannot read seal.json"))?;
    let seal = SealConfig::from_json(&text).map_err(boot("seal.json"))?;
    let keys = SealedKeyStore::open(data_dir.join("keys"), seal.clone()).map_err(boot("cannot open the keystore"))?;
    if !seal.uses_local_key_file() {
        // Sealed with shares: it stays sealed until `signet unseal`.
        return Ok((keys, false));
    }
    let master = sealed::read_local_unseal_key(&key_path).map_err(boot("cannot read the local unseal key"))?;
    keys.unseal(master).map_err(boot("cannot unseal the keystore"))?;
    tracing::warn!("{}", sealed::LOCAL_UNSEAL_WARNING);
    Ok((keys, true))
}

/// Is `dir` missing or empty?
fn dir_is_empty(dir: &Path) -> Result<bool, BootError> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(BootError(format!("cannot read `{}`: {e}", dir.display()))),
    }
}

/// The PEM file (in the data directory) of the CA behind the certificate a
/// sealed server presents: give it to `signet unseal --ca-file`.
pub const UNSEAL_CA_PEM: &str = "unseal-ca.pem";
/// Directory of the unseal TLS CA's key (plain PKCS#8, 0600) and certificate.
const UNSEAL_TLS_DIR: &str = "unseal-tls";
const UNSEAL_CA_KEY_REF: &str = "unseal-tls-ca";
const UNSEAL_CA_DER: &str = "ca.der";
const UNSEAL_CA_VALIDITY: Duration = Duration::days(3650);

/// The issuer of the TLS certificates a sealed server presents, and the CA
/// file clients trust for it.
pub struct SealedTls {
    pub issuer: Arc<dyn X509Issuer>,
    /// `DATA/unseal-ca.pem`.
    pub ca_pem_path: PathBuf,
    /// SHA-256 of the unseal TLS CA certificate (DER), hex.
    pub ca_sha256: String,
}

/// The unseal TLS CA: a small self-signed CA, independent of the sealed
/// keystore (its key is an unencrypted PKCS#8 file, mode 0600, in
/// `DATA/unseal-tls/`), created at the first sealed start. While the
/// keystore is sealed the authority's own CA keys are unusable, so the
/// server presents a short-lived certificate from this CA instead; after
/// unsealing it switches to a certificate from the issuing CA.
pub fn sealed_tls(config: &ServerConfig, rng: &dyn Rng, now: time::OffsetDateTime) -> Result<SealedTls, BootError> {
    let dir = config.data_dir.join(UNSEAL_TLS_DIR);
    let keys = signet_keys::SoftwareKeyStore::new(dir.clone()).map_err(boot("cannot open the unseal TLS directory"))?;
    let der_path = dir.join(UNSEAL_CA_DER);
    let (der, signer) = if der_path.exists() {
        let der = std::fs::read(&der_path).map_err(boot("cannot read the unseal TLS CA certificate"))?;
        let signer = keys.load(UNSEAL_CA_KEY_REF).map_err(boot("cannot load the unseal TLS CA key"))?;
        (der, signer)
    } else {
        let serial = Serial::generate(now, rng.bytes16());
        let (der, signer) = signet_x509::create_root(
            &keys,
            UNSEAL_CA_KEY_REF,
            KeyAlgorithm::EcdsaP256,
            "Signet Unseal TLS CA",
            &serial,
            now,
            UNSEAL_CA_VALIDITY,
        )
        .map_err(boot("cannot create the unseal TLS CA (if a previous attempt left DATA/unseal-tls behind, remove it)"))?;
        write_private(&der_path, &der)?;
        (der, signer)
    };
    let issuer = signet_x509::X509Authority::new(
        AuthorityId::generate(now, rng.bytes16()),
        der.clone(),
        signer,
        vec![der.clone()],
        config.public_url.clone(),
    )
    .map_err(boot("the unseal TLS CA"))?;
    let ca_pem_path = config.data_dir.join(UNSEAL_CA_PEM);
    std::fs::write(&ca_pem_path, signet_x509::pem::pem_encode("CERTIFICATE", &der)).map_err(boot("cannot write unseal-ca.pem"))?;
    let ca_sha256 = signet_core::authority::hex(&signet_core::authority::sha256(&der));
    Ok(SealedTls { issuer: Arc::new(issuer), ca_pem_path, ca_sha256 })
}

/// The name of this log in every checkpoint: fixed by the root CA.
pub(crate) fn log_origin(root: &AuthorityId) -> String {
    format!("signet/{root}")
}

/// Create the root and issuing CA keys and certificates and the log key, and
/// record them (the authorities and the three keys' events) in one
/// transaction: the first step of a first start.
async fn create_authorities(
    store: &dyn Store,
    keys: &dyn KeyStore,
    clock: &dyn Clock,
    rng: &dyn Rng,
    config: &ServerConfig,
) -> Result<Vec<CaRecord>, BootError> {
    let now = clock.now();
    let alg = config.ca_key_algorithm;
    let root_id = AuthorityId::generate(now, rng.bytes16());
    let issuing_id = AuthorityId::generate(now, rng.bytes16());
    let root_ref = format!("root-{}", &root_id.as_str()[3..]);
    let origin = log_origin(&root_id);
    let issuing_ref = format!("issuing-{}", &issuing_id.as_str()[3..]);
    let (root_der, root_signer) =
        signet_x509::create_root(keys, &root_ref, alg, "Signet Root CA", &Serial::generate(now, rng.bytes16()), now, ROOT_VALIDITY)
            .map_err(boot("cannot create the root CA"))?;
    let (issuing_der, _) = signet_x509::create_issuing(
        keys,
        &issuing_ref,
        alg,
        "Signet Issuing CA",
        &Serial::generate(now, rng.bytes16()),
        now,
        ISSUING_VALIDITY,
        &root_der,
        root_signer.as_ref(),
    )
    .map_err(boot("cannot create the issuing CA"))?;
    let records = vec![
        CaRecord {
            id: root_id,
            role: AuthorityRole::Root,
            key_algorithm: alg,
            key_ref: root_ref,
            certificate_der: root_der,
            state: KeyState::Active,
            created_at: now,
            retired_at: None,
            destroyed_at: None,
        },
        CaRecord {
            id: issuing_id,
            role: AuthorityRole::Issuing,
            key_algorithm: alg,
            key_ref: issuing_ref,
            certificate_der: issuing_der,
            state: KeyState::Active,
            created_at: now,
            retired_at: None,
            destroyed_at: None,
        },
    ];
    // The log key (Ed25519). One left by a first start that stopped before
    // this transaction committed is taken over: with no authority recorded,
    // nothing was ever signed with it.
    let log_signer = match keys.load(LOG_KEY_REF) {
        Ok(signer) => signer,
        Err(KeyError::NotFound(_)) => match keys.generate(LOG_KEY_REF, KeyAlgorithm::Ed25519) {
            Ok(signer) => signer,
            // Created since the load, by another process starting on the same data directory.
            Err(KeyError::Exists(_)) => return Err(raced()),
            Err(e) => return Err(BootError(format!("cannot create the log key: {e}"))),
        },
        Err(e) => return Err(BootError(format!("cannot read the log key: {e}"))),
    };
    let log_public = signet_core::log::LogKey::new(log_signer, &origin).map_err(boot("the log key"))?.verifier_key();
    let mut events: Vec<NewEvent> = records
        .iter()
        .map(|r| NewEvent {
            event_type: EventType::AuthorityCreated,
            actor: "system".into(),
            subject_id: None,
            request_id: None,
            credential_id: None,
            reason: None,
            details: serde_json::json!({
                "authority_id": r.id, "role": r.role, "key_algorithm": r.key_algorithm, "key_ref": r.key_ref,
                "certificate_sha256": signet_core::authority::hex(&signet_core::authority::sha256(&r.certificate_der)),
            }),
            trace_id: None,
            time: now,
        })
        .collect();
    events.push(NewEvent {
        event_type: EventType::KeyCreated,
        actor: "system".into(),
        subject_id: None,
        request_id: None,
        credential_id: None,
        reason: None,
        details: serde_json::json!({ "key_ref": LOG_KEY_REF, "algorithm": "ed25519", "purpose": "log checkpoints", "public_key": log_public }),
        trace_id: None,
        time: now,
    });
    match store.insert_authorities(&records, &events).await {
        Ok(()) => Ok(records),
        Err(StoreError::Conflict { .. }) => {
            // Never recorded, so never to be used: best effort, the error below is what matters.
            for r in &records {
                let _ = keys.destroy(&r.key_ref);
            }
            Err(raced())
        }
        Err(e) => Err(BootError(format!("cannot record the authorities: {e}"))),
    }
}

/// Another server process on the same store created its authorities first:
/// this one's are not recorded (the store keeps one active key per role), and
/// the next start uses the other's.
fn raced() -> BootError {
    BootError("another server process created this store's authorities at the same time: start again to use them".into())
}

/// The names the server's own certificate carries: loopback, plus the host
/// of the public URL.
fn server_names(config: &ServerConfig) -> SanSet {
    let mut dns = vec!["localhost".to_string()];
    let mut ip = vec!["127.0.0.1".to_string(), "::1".to_string()];
    let host = config.public_url.split("://").nth(1).unwrap_or("").split('/').next().unwrap_or("");
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.parse::<std::net::IpAddr>().is_ok() {
        if !ip.iter().any(|i| i == host) {
            ip.push(host.to_string());
        }
    } else if !host.is_empty() && !dns.iter().any(|d| d == host) {
        dns.push(host.to_string());
    }
    if !config.listen.ip().is_unspecified() {
        let l = config.listen.ip().to_string();
        if !ip.contains(&l) {
            ip.push(l);
        }
    }
    SanSet::parse("public_url", &dns, &ip, &[], &[]).unwrap_or_default()
}

/// The certificate a sealed server presents, from the unseal TLS CA
/// ([`sealed_tls`]): the authority's own CA keys are unusable while sealed.
pub fn sealed_server_identity(
    unseal_ca: &dyn X509Issuer,
    config: &ServerConfig,
    rng: &dyn Rng,
    now: time::OffsetDateTime,
) -> Result<signet_x509::tls::ServerIdentity, BootError> {
    signet_x509::tls::server_identity(unseal_ca, &server_names(config), &Serial::generate(now, rng.bytes16()), now, config.server_cert_ttl)
        .map_err(boot("cannot issue the sealed server's TLS certificate"))
}

/// The server's own TLS certificate from the issuing CA, for a fresh key
/// held in memory only: issued through the pipeline (a credential of the
/// built-in `signet-server` profile, with its log entry), like every
/// certificate the authority signs.
pub async fn issue_server_identity(authority: &Authority, config: &ServerConfig) -> Result<signet_x509::tls::ServerIdentity, BootError> {
    let (key, key_pkcs8_der) = signet_x509::tls::server_key().map_err(boot("cannot make the server's TLS key"))?;
    let (issued, chain) = authority
        .issue_server_certificate(&server_names(config), key, config.server_cert_ttl.whole_seconds())
        .await
        .map_err(boot("cannot issue the server's TLS certificate"))?;
    let mut chain_der = Vec::with_capacity(chain.len() + 1);
    chain_der.push(issued.credential.der);
    chain_der.extend(chain);
    Ok(signet_x509::tls::ServerIdentity { chain_der, key_pkcs8_der })
}

/// The server's own TLS certificate is renewed at half of its lifetime.
pub fn renewal_period(config: &ServerConfig) -> std::time::Duration {
    std::time::Duration::from_secs((config.server_cert_ttl.whole_seconds() / 2).unsigned_abs())
}

/// Renew the server's TLS certificate every half of its lifetime, and at
/// once when another issuing CA becomes active (so that the retired one
/// stops being needed two days sooner).
pub async fn renew_server_cert(cert: Arc<ServerCert>, state: Arc<AppState>, config: ServerConfig) {
    let period = renewal_period(&config);
    let mut active_issuer = state.authority.watch_active_issuer();
    active_issuer.mark_unchanged();
    loop {
        tokio::select! {
            () = tokio::time::sleep(period) => {}
            changed = active_issuer.changed() => {
                if changed.is_err() {
                    return; // the authority is gone
                }
                tracing::info!("the issuing CA changed: renewing the server's TLS certificate from the new one");
            }
        }
        match issue_server_identity(&state.authority, &config).await {
            Ok(id) => match cert.replace(&id.chain_der, &id.key_pkcs8_der) {
                Ok(()) => tracing::info!("renewed the server's TLS certificate"),
                Err(e) => tracing::error!(error = %e, "cannot install the renewed TLS certificate"),
            },
            Err(e) => tracing::error!(error = %e, "cannot renew the server's TLS certificate"),
        }
    }
}

/// Hide a password in a database URL before printing it.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Expire pending requests whose time for approvals ran out, pick up a
/// rollover made by another server process sharing the store, and log the
/// refusals the rate limits counted but left out of the log, every few seconds.
pub async fn run_expiry(state: Arc<AppState>) {
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        match state.authority.sync_issuers().await {
            Ok(true) => tracing::info!("picked up an issuing CA rollover made by another server process"),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "cannot check the issuing CAs for a rollover"),
        }
        // Nothing more is recorded while the log fails verification.
        if state.authority.log_integrity().failure().is_some() {
            continue;
        }
        state.authority.report_suppressed_refusals().await;
        match state.authority.expire_pending_requests().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(expired = n, "pending requests expired"),
            Err(e) => tracing::warn!(error = %e, "cannot expire pending requests"),
        }
    }
}

/// The sequencer: grow the log tree and sign a checkpoint whenever entries
/// arrived, at most every [`SEQUENCER_PERIOD`], and audit the log in the
/// background ([`signet_core::integrity::LogAuditor`]). Safe to run in every
/// server process sharing a store: a step applies only if no other process
/// grew the tree first. When the log fails verification it stops: nothing
/// more is signed, and it does not retry (a restart verifies again); when
/// the store fails it backs off, up to [`SEQUENCER_MAX_BACKOFF`].
pub async fn run_sequencer(state: Arc<AppState>) {
    use signet_core::CoreError;
    let authority = &state.authority;
    let store = authority.store().as_ref();
    let mut auditor = signet_core::integrity::LogAuditor::default();
    let mut last_pass: Option<tokio::time::Instant> = None;
    let mut auditing = false;
    let mut pause = SEQUENCER_PERIOD;
    loop {
        if authority.log_integrity().failure().is_some() {
            // Halted: the alarm was raised once, where the failure was found.
            tokio::time::sleep(SEQUENCER_MAX_BACKOFF).await;
            continue;
        }
        let grown = signet_core::log::grow_tree(store, &state.log_key, authority.now()).await;
        // An audit step: a pass at most every AUDIT_PASS_INTERVAL, then in batches until it ends.
        let audited = if auditing || last_pass.is_none_or(|t| t.elapsed() >= signet_core::integrity::AUDIT_PASS_INTERVAL) {
            if !auditing {
                last_pass = Some(tokio::time::Instant::now());
            }
            let step = auditor.step(store, &state.log_key, signet_core::integrity::AUDIT_BATCH).await;
            auditing = matches!(step, Ok(false));
            step.map(|_| ())
        } else {
            Ok(())
        };
        let mut failed = false;
        for result in [grown.map(|c| c.map(|c| c.tree_size)), audited.map(|()| None)] {
            match result {
                Ok(Some(tree_size)) => tracing::debug!(tree_size, "signed a log checkpoint"),
                Ok(None) => {}
                Err(CoreError::LogIntegrity(reason)) => authority.log_integrity_failed(&reason).await,
                Err(e) => {
                    tracing::error!(error = %e, "the log sequencer failed");
                    failed = true;
                }
            }
        }
        pause = if failed { (pause * 2).min(SEQUENCER_MAX_BACKOFF) } else { SEQUENCER_PERIOD };
        tokio::time::sleep(pause).await;
    }
}

/// Forward every log entry, in order, to NATS JetStream, resuming after the
/// last entry the stream acknowledged (the position is kept in the store).
/// Each message is the entry's exact bytes with `Nats-Msg-Id` set to
/// `<origin>/<index>`, so JetStream drops a redelivery after a crash.
pub async fn run_forwarder(state: Arc<AppState>, events: crate::config::EventsConfig) {
    const SINK: &str = "nats";
    const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
    let store = state.authority.store().clone();
    let origin = state.log_key.origin().to_string();
    loop {
        let publisher = match signet_nats::Publisher::connect(&events.url, TIMEOUT).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "cannot reach NATS; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                continue;
            }
        };
        if let Err(e) = publisher.ensure_stream(&events.stream, &[events.subject.as_str()]).await {
            tracing::error!(error = %e, stream = %events.stream, "cannot set up the JetStream stream; retrying");
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            continue;
        }
        tracing::info!(subject = %events.subject, "forwarding the log to NATS JetStream");
        if let Err(e) = forward(&publisher, store.as_ref(), &origin, &events.subject, SINK).await {
            tracing::warn!(error = %e, "log forwarding interrupted; reconnecting");
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    }
}

async fn forward(publisher: &signet_nats::Publisher, store: &dyn Store, origin: &str, subject: &str, sink: &str) -> Result<(), String> {
    loop {
        let position = store.forwarding_position(sink).await.map_err(|e| e.to_string())?;
        let entries = store.log_entries(position + 1, 256).await.map_err(|e| e.to_string())?;
        let Some(last) = entries.last().map(|e| e.index) else {
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            continue;
        };
        // Publish the page concurrently (acks are pipelined on one connection),
        // then record the position only once every entry of it was acknowledged.
        let sends = entries.iter().map(|e| {
            let id = format!("{origin}/{}", e.index);
            async move { publisher.publish(subject, &id, &e.entry).await }
        });
        for r in futures_util::future::join_all(sends).await {
            r.map_err(|e| e.to_string())?;
        }
        store.set_forwarding_position(sink, last).await.map_err(|e| e.to_string())?;
    }
}

#[cfg(test)]
mod tests {
    //! A first start stopped at any point (killed, a power cut) completes at
    //! the next start: each case below builds what an interrupted start
    //! leaves behind, then starts again.
    use super::*;
    use crate::config::ConfigFile;
    use signet_model::credential::AuthorityRole;

    fn config(dir: &Path) -> ServerConfig {
        ServerConfig::resolve(ConfigFile { data_dir: Some(dir.join("data")), ..Default::default() }).unwrap()
    }

    fn admin_token(config: &ServerConfig) -> String {
        std::fs::read_to_string(config.data_dir.join("admin-token")).unwrap().trim().to_string()
    }

    /// What a complete first start guarantees: one root and one issuing CA,
    /// the log key recorded once, the default profile, and one admin whose
    /// token (from the file) authenticates.
    async fn assert_complete(started: &Started, config: &ServerConfig) {
        let authority = &started.state.authority;
        let store = authority.store();
        let cas = store.list_authorities().await.unwrap();
        assert_eq!(cas.iter().filter(|a| a.role == AuthorityRole::Root).count(), 1);
        assert_eq!(cas.iter().filter(|a| a.role == AuthorityRole::Issuing).count(), 1);
        let key_events = store
            .search_events(&signet_core::ports::EventFilter {
                event_type: Some(EventType::KeyCreated),
                after: -1,
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(key_events.len(), 1, "the log key is recorded once");
        assert_eq!(key_events[0].details["public_key"], started.state.log_key.verifier_key());
        assert!(store.get_profile("tls-server").await.unwrap().is_some());
        assert_eq!(store.list_operators().await.unwrap().len(), 1);
        let caller = authority.authenticate(&admin_token(config)).await.expect("the admin token in the file authenticates");
        assert_eq!(caller.actor, store.list_operators().await.unwrap()[0].id.to_string());
    }

    #[tokio::test]
    async fn a_complete_first_start_is_not_repeated() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path());
        let first = start(&config).await.unwrap();
        assert!(first.admin_token_path.is_some());
        assert_complete(&first, &config).await;
        let token = admin_token(&config);
        drop(first);

        let again = start(&config).await.unwrap();
        assert!(again.admin_token_path.is_none(), "no second admin token");
        assert_eq!(admin_token(&config), token);
        assert_complete(&again, &config).await;
    }

    #[tokio::test]
    async fn stopped_between_the_unseal_key_and_the_seal() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path());
        std::fs::create_dir_all(&config.data_dir).unwrap();
        let (_, master) = sealed::init_local().unwrap();
        sealed::write_local_unseal_key(&config.data_dir.join("unseal-key"), &master).unwrap();

        let started = start(&config).await.unwrap();
        assert_complete(&started, &config).await;
    }

    #[tokio::test]
    async fn an_unseal_key_beside_sealed_keys_is_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path());
        std::fs::create_dir_all(config.data_dir.join("keys")).unwrap();
        std::fs::write(config.data_dir.join("keys/root-x.key"), b"sealed key").unwrap();
        let (_, master) = sealed::init_local().unwrap();
        sealed::write_local_unseal_key(&config.data_dir.join("unseal-key"), &master).unwrap();
        let before = std::fs::read(config.data_dir.join("unseal-key")).unwrap();

        let err = start(&config).await.err().expect("refused");
        assert!(err.0.contains("refusing to overwrite"), "{err}");
        assert_eq!(std::fs::read(config.data_dir.join("unseal-key")).unwrap(), before);
    }

    #[tokio::test]
    async fn stopped_after_the_log_key_before_the_authorities_were_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path());
        let opened = open(&config).await.unwrap();
        let left = opened.keys.key_store().generate(LOG_KEY_REF, KeyAlgorithm::Ed25519).unwrap();
        drop(opened);

        let started = start(&config).await.unwrap();
        assert_complete(&started, &config).await;
        let log_key = &started.state.log_key;
        let left = signet_core::log::LogKey::new(left, log_key.origin()).unwrap();
        assert_eq!(left.verifier_key(), log_key.verifier_key(), "the key left behind is taken over");
    }

    fn authority_ids(v: &[CaRecord]) -> std::collections::BTreeSet<AuthorityId> {
        v.iter().map(|a| a.id.clone()).collect()
    }

    #[tokio::test]
    async fn a_second_process_creating_authorities_at_the_same_time_is_refused_and_leaves_no_keys() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path());
        let opened = open(&config).await.unwrap();
        let (store, keys) = (opened.store.as_ref(), opened.keys.key_store());
        let first = create_authorities(store, keys, &SystemClock, &SystemRng, &config).await.unwrap();
        let key_files = || std::fs::read_dir(config.data_dir.join("keys")).unwrap().count();
        let before = key_files();
        // The other process saw an empty store too, and commits second.
        let err = create_authorities(store, keys, &SystemClock, &SystemRng, &config).await.expect_err("refused");
        assert!(err.0.contains("another server process") && err.0.contains("start again"), "{err}");
        assert_eq!(key_files(), before, "its CA keys are removed");
        assert_eq!(authority_ids(&store.list_authorities().await.unwrap()), authority_ids(&first));
        drop(opened);
        // Started again, it uses the first one's.
        let started = start(&config).await.unwrap();
        assert_complete(&started, &config).await;
    }

    #[tokio::test]
    async fn stopped_after_the_authorities_were_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path());
        let opened = open(&config).await.unwrap();
        let cas = create_authorities(opened.store.as_ref(), opened.keys.key_store(), &SystemClock, &SystemRng, &config).await.unwrap();
        drop(opened);

        let started = start(&config).await.unwrap();
        assert_complete(&started, &config).await;
        assert_eq!(
            authority_ids(&started.state.authority.store().list_authorities().await.unwrap()),
            authority_ids(&cas),
            "the CAs made first are kept"
        );
    }

    #[tokio::test]
    async fn stopped_after_writing_the_token_file_before_the_admin_was_committed() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path());
        let opened = open(&config).await.unwrap();
        create_authorities(opened.store.as_ref(), opened.keys.key_store(), &SystemClock, &SystemRng, &config).await.unwrap();
        drop(opened);
        let stale = "signet_never-committed";
        write_private(&config.data_dir.join("admin-token"), format!("{stale}\n").as_bytes()).unwrap();

        let started = start(&config).await.unwrap();
        assert_complete(&started, &config).await;
        assert_ne!(admin_token(&config), stale);
        assert!(started.state.authority.authenticate(stale).await.is_err());
    }

    #[test]
    fn private_files_are_replaced_whole_and_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        write_private(&path, b"old").unwrap();
        write_private(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert!(!dir.path().join("secret.tmp").exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
}

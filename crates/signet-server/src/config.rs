//! Server configuration: defaults, overridden by a TOML file (`--config`),
//! overridden by environment variables and flags (`SIGNET_*`, `--…`).

use serde::Deserialize;
use signet_model::FieldError;
use signet_model::profile::KeyAlgorithm;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Every option, all optional: the shape of the TOML file and of the
/// environment/flag overrides alike.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Where the embedded store, keys, `admin-token` and `ca.pem` live. Default `./signet-data`.
    pub data_dir: Option<PathBuf>,
    /// `ADDR:PORT` to listen on. Default `127.0.0.1:8443`.
    pub listen: Option<String>,
    /// `postgres://…` to use PostgreSQL; default: SQLite at `DATA/signet.db`.
    pub database: Option<String>,
    /// Serve plain HTTP (loopback addresses only). Default false.
    pub insecure_http: Option<bool>,
    /// The URL clients reach this server at; also the base of certificates'
    /// AIA and CRL distribution point URLs unless `status_url` or
    /// `status_listen` says otherwise. Default `https://LISTEN`.
    pub public_url: Option<String>,
    /// `ADDR:PORT` of a second, plain-HTTP listener that serves only what is
    /// public and signed: the CRLs, the OCSP responder and the CA
    /// certificates. Default: none.
    pub status_listen: Option<String>,
    /// The base URL that new certificates' AIA (OCSP, CA issuers) and CRL
    /// distribution point extensions carry. Default `http://STATUS_LISTEN`
    /// with `status_listen`, else `public_url`.
    pub status_url: Option<String>,
    /// Algorithm for the CA keys created at first start: `ecdsa-p256`
    /// (default), `ecdsa-p384`, `ed25519` or `rsa-3072`.
    pub ca_key_algorithm: Option<String>,
    /// `text` (default) or `json` log lines.
    pub log_format: Option<String>,
    /// Most issuance writes committed in one transaction. Default 512.
    pub commit_batch: Option<usize>,
    /// Forward every log entry to NATS JetStream at this `nats://` URL.
    pub events: Option<String>,
    /// The NATS subject log entries are published on. Default `signet.log`.
    pub events_subject: Option<String>,
    /// The JetStream stream that captures them (created if missing). Default `SIGNET_LOG`.
    pub events_stream: Option<String>,
    /// `[keystore]`: where the authority keys live.
    pub keystore: Option<KeystoreFile>,
    /// The least time a retired issuing CA stays published (CA bundle, CRL,
    /// OCSP) before its key may be destroyed, even when every certificate
    /// it signed has expired: `0`, or a duration such as `7d`. Default `7d`.
    pub rollover_overlap: Option<String>,
    /// Lifetime of the server's own HTTPS certificate (renewed at half of
    /// it): a duration from `10s` to `30d`. Default `2d`. Values of a few
    /// minutes or less are for tests: every renewal is a credential and a
    /// log entry.
    pub server_cert_ttl: Option<String>,
}

/// The `[keystore]` section: `kind = "sealed"` (default: keys encrypted at
/// rest in the data directory) or `kind = "pkcs11"` (keys in an HSM token).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeystoreFile {
    /// `sealed` (default) or `pkcs11`.
    pub kind: Option<String>,
    /// PKCS#11: path of the module (the vendor's shared library).
    pub module: Option<PathBuf>,
    /// PKCS#11: label of the token holding the keys.
    pub token: Option<String>,
    /// PKCS#11: slot id of the token, instead of its label.
    pub slot: Option<u64>,
    /// PKCS#11: file holding the user PIN (one trailing newline ignored).
    pub pin_file: Option<PathBuf>,
    /// PKCS#11: environment variable holding the user PIN. Default `SIGNET_PKCS11_PIN`.
    pub pin_env: Option<String>,
}

impl KeystoreFile {
    /// `self` wins over `other` field by field.
    pub fn or(self, other: KeystoreFile) -> KeystoreFile {
        KeystoreFile {
            kind: self.kind.or(other.kind),
            module: self.module.or(other.module),
            token: self.token.or(other.token),
            slot: self.slot.or(other.slot),
            pin_file: self.pin_file.or(other.pin_file),
            pin_env: self.pin_env.or(other.pin_env),
        }
    }
}

/// The environment variable the PKCS#11 PIN is read from when neither
/// `pin_file` nor `pin_env` is configured.
pub const DEFAULT_PIN_ENV: &str = "SIGNET_PKCS11_PIN";

/// Where the authority keys live, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeystoreConfig {
    /// Encrypted at rest in `DATA/keys`, unsealed from `DATA/unseal-key`.
    Sealed,
    /// In a PKCS#11 token.
    Pkcs11(Pkcs11Settings),
}

/// A PKCS#11 token and where its PIN comes from. The PIN itself is read
/// only when the keystore is opened, and is never part of the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pkcs11Settings {
    pub module: PathBuf,
    pub token: signet_keys::pkcs11::TokenSelector,
    pub pin: PinSource,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinSource {
    File(PathBuf),
    Env(String),
}

impl KeystoreConfig {
    fn resolve(k: KeystoreFile) -> Result<Self, FieldError> {
        use signet_keys::pkcs11::TokenSelector;
        match k.kind.as_deref() {
            None | Some("sealed") => {
                let set = [
                    ("module", k.module.is_some()),
                    ("token", k.token.is_some()),
                    ("slot", k.slot.is_some()),
                    ("pin_file", k.pin_file.is_some()),
                    ("pin_env", k.pin_env.is_some()),
                ];
                match set.iter().find(|(_, is_set)| *is_set) {
                    Some((name, _)) => Err(FieldError::new(
                        format!("keystore.{name}"),
                        "is a PKCS#11 setting, but `keystore.kind` is not `pkcs11`".to_string(),
                    )),
                    None => Ok(KeystoreConfig::Sealed),
                }
            }
            Some("pkcs11") => {
                let module = k.module.ok_or_else(|| FieldError::new("keystore.module", "the PKCS#11 module path is required"))?;
                let token = match (k.token, k.slot) {
                    (Some(label), None) if !label.is_empty() => TokenSelector::Label(label),
                    (None, Some(slot)) => TokenSelector::Slot(slot),
                    (Some(_), Some(_)) => return Err(FieldError::new("keystore.slot", "give the token label or the slot id, not both")),
                    _ => return Err(FieldError::new("keystore.token", "the PKCS#11 token label (or `keystore.slot`) is required")),
                };
                let pin = match (k.pin_file, k.pin_env) {
                    (Some(_), Some(_)) => return Err(FieldError::new("keystore.pin_env", "give `pin_file` or `pin_env`, not both")),
                    (Some(path), None) => PinSource::File(path),
                    (None, Some(var)) if !var.is_empty() => PinSource::Env(var),
                    (None, Some(_)) => return Err(FieldError::new("keystore.pin_env", "names no environment variable")),
                    (None, None) => PinSource::Env(DEFAULT_PIN_ENV.to_string()),
                };
                Ok(KeystoreConfig::Pkcs11(Pkcs11Settings { module, token, pin }))
            }
            Some(other) => Err(FieldError::new(
                "keystore.kind",
                format!("`{}` is not a keystore: use `sealed` or `pkcs11`", signet_model::names::shorten(other)),
            )),
        }
    }
}

impl ConfigFile {
    pub fn load(path: &Path) -> Result<Self, FieldError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| FieldError::new("config", format!("cannot read `{}`: {e}", path.display())))?;
        toml::from_str(&text)
            .map_err(|e| FieldError::new("config", format!("`{}` is not a valid config file: {}", path.display(), e.message())))
    }

    /// `self` wins over `other` field by field.
    pub fn or(self, other: ConfigFile) -> ConfigFile {
        ConfigFile {
            data_dir: self.data_dir.or(other.data_dir),
            listen: self.listen.or(other.listen),
            database: self.database.or(other.database),
            insecure_http: self.insecure_http.or(other.insecure_http),
            public_url: self.public_url.or(other.public_url),
            status_listen: self.status_listen.or(other.status_listen),
            status_url: self.status_url.or(other.status_url),
            ca_key_algorithm: self.ca_key_algorithm.or(other.ca_key_algorithm),
            log_format: self.log_format.or(other.log_format),
            commit_batch: self.commit_batch.or(other.commit_batch),
            events: self.events.or(other.events),
            events_subject: self.events_subject.or(other.events_subject),
            events_stream: self.events_stream.or(other.events_stream),
            rollover_overlap: self.rollover_overlap.or(other.rollover_overlap),
            server_cert_ttl: self.server_cert_ttl.or(other.server_cert_ttl),
            keystore: match (self.keystore, other.keystore) {
                (Some(a), Some(b)) => Some(a.or(b)),
                (a, b) => a.or(b),
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The resolved, checked configuration.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub database: Option<String>,
    pub insecure_http: bool,
    pub public_url: String,
    /// The plain-HTTP listener for the public status endpoints, if any.
    pub status_listen: Option<SocketAddr>,
    /// The base of the AIA and CRL distribution point URLs in new certificates.
    pub status_url: String,
    pub ca_key_algorithm: KeyAlgorithm,
    pub log_format: LogFormat,
    pub commit_batch: usize,
    /// NATS JetStream forwarding of the log: URL and subject.
    pub events: Option<EventsConfig>,
    /// Where the authority keys live.
    pub keystore: KeystoreConfig,
    /// The least time a retired issuing CA stays published before its key may be destroyed.
    pub rollover_overlap: time::Duration,
    /// Lifetime of the server's own HTTPS certificate; renewed at half of it.
    pub server_cert_ttl: time::Duration,
}

/// The default of `rollover_overlap`.
pub const DEFAULT_ROLLOVER_OVERLAP: time::Duration = time::Duration::days(7);

/// The default of `server_cert_ttl`.
pub const DEFAULT_SERVER_CERT_TTL: time::Duration = time::Duration::days(2);
/// The bounds of `server_cert_ttl`.
const SERVER_CERT_TTL_RANGE: (time::Duration, time::Duration) = (time::Duration::seconds(10), time::Duration::days(30));

#[derive(Debug, Clone)]
pub struct EventsConfig {
    pub url: String,
    pub subject: String,
    pub stream: String,
}

impl ServerConfig {
    pub fn resolve(c: ConfigFile) -> Result<Self, FieldError> {
        let listen_text = c.listen.unwrap_or_else(|| "127.0.0.1:8443".into());
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            FieldError::new(
                "listen",
                format!("`{}` is not an `ADDR:PORT` such as `127.0.0.1:8443`", signet_model::names::shorten(&listen_text)),
            )
        })?;
        let insecure_http = c.insecure_http.unwrap_or(false);
        if insecure_http && !listen.ip().is_loopback() {
            return Err(FieldError::new(
                "insecure_http",
                format!("plain HTTP is refused on the non-loopback address `{listen}`; serve HTTPS or listen on 127.0.0.1"),
            ));
        }
        let scheme = if insecure_http { "http" } else { "https" };
        let public_url = match c.public_url {
            Some(u) => base_url("public_url", &u)?,
            None => url_of(scheme, listen),
        };
        let status_listen = match c.status_listen {
            None => None,
            Some(text) => {
                let addr: SocketAddr = text.parse().map_err(|_| {
                    FieldError::new(
                        "status_listen",
                        format!("`{}` is not an `ADDR:PORT` such as `0.0.0.0:8080`", signet_model::names::shorten(&text)),
                    )
                })?;
                let same_port = addr.port() == listen.port();
                let same_ip = addr.ip() == listen.ip() || addr.ip().is_unspecified() || listen.ip().is_unspecified();
                if same_port && same_ip {
                    return Err(FieldError::new("status_listen", format!("`{addr}` is where `listen` already serves the API")));
                }
                Some(addr)
            }
        };
        let status_url = match (c.status_url, status_listen) {
            (Some(u), _) => base_url("status_url", &u)?,
            (None, Some(addr)) => url_of("http", addr),
            (None, None) => public_url.clone(),
        };
        let ca_key_algorithm = match c.ca_key_algorithm.as_deref() {
            None => KeyAlgorithm::EcdsaP256,
            Some(s) => match KeyAlgorithm::parse("ca_key_algorithm", s)? {
                a @ (KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 | KeyAlgorithm::Ed25519 | KeyAlgorithm::Rsa3072) => a,
                other => {
                    return Err(FieldError::new(
                        "ca_key_algorithm",
                        format!("`{other}` is not offered for CA keys; use ecdsa-p256, ecdsa-p384, ed25519 or rsa-3072"),
                    ));
                }
            },
        };
        let log_format = match c.log_format.as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(FieldError::new("log_format", format!("`{}` is not `text` or `json`", signet_model::names::shorten(other))));
            }
        };
        let commit_batch = c.commit_batch.unwrap_or(512);
        if commit_batch == 0 || commit_batch > 10_000 {
            return Err(FieldError::new("commit_batch", "must be between 1 and 10000"));
        }
        if let Some(db) = &c.database
            && !(db.starts_with("postgres://") || db.starts_with("postgresql://") || db.starts_with("sqlite://"))
        {
            return Err(FieldError::new("database", "must be a `postgres://…` or `sqlite://…` URL"));
        }
        let events = match c.events {
            None => {
                if c.events_subject.is_some() || c.events_stream.is_some() {
                    return Err(FieldError::new("events", "`events_subject`/`events_stream` are set but `events` (the NATS URL) is not"));
                }
                None
            }
            Some(url) => {
                signet_nats::NatsUrl::parse(&url).map_err(|e| FieldError::new("events", e.to_string()))?;
                let subject = c.events_subject.unwrap_or_else(|| "signet.log".into());
                signet_nats::Subject::parse(&subject).map_err(|e| FieldError::new("events_subject", e.to_string()))?;
                let stream = c.events_stream.unwrap_or_else(|| "SIGNET_LOG".into());
                signet_nats::StreamName::parse(&stream).map_err(|e| FieldError::new("events_stream", e.to_string()))?;
                Some(EventsConfig { url, subject, stream })
            }
        };
        let keystore = KeystoreConfig::resolve(c.keystore.unwrap_or_default())?;
        let rollover_overlap = match c.rollover_overlap.as_deref().map(str::trim) {
            None => DEFAULT_ROLLOVER_OVERLAP,
            Some("0" | "0s") => time::Duration::ZERO,
            Some(d) => time::Duration::seconds(signet_model::profile::parse_duration_secs("rollover_overlap", d)?),
        };
        let server_cert_ttl = match c.server_cert_ttl.as_deref() {
            None => DEFAULT_SERVER_CERT_TTL,
            Some(d) => {
                let ttl = time::Duration::seconds(signet_model::profile::parse_duration_secs("server_cert_ttl", d.trim())?);
                let (min, max) = SERVER_CERT_TTL_RANGE;
                if ttl < min || ttl > max {
                    return Err(FieldError::new("server_cert_ttl", format!("`{d}` is outside 10s..30d")));
                }
                ttl
            }
        };
        Ok(Self {
            rollover_overlap,
            server_cert_ttl,
            events,
            keystore,
            data_dir: c.data_dir.unwrap_or_else(|| PathBuf::from("signet-data")),
            listen,
            database: c.database,
            insecure_http,
            public_url,
            status_listen,
            status_url,
            ca_key_algorithm,
            log_format,
            commit_batch,
        })
    }
}

/// A configured base URL (`public_url`, `status_url`): `http(s)://host[:port][/path]`
/// in printable ASCII, no query or fragment, without its trailing slashes
/// (what certificates can carry as a base of their AIA and CRL URLs).
fn base_url(field: &str, url: &str) -> Result<String, FieldError> {
    let u = url.trim_end_matches('/');
    let rest = u.strip_prefix("https://").or_else(|| u.strip_prefix("http://"));
    let ok =
        rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/')) && u.bytes().all(|b| b.is_ascii_graphic()) && !u.contains(['?', '#']);
    if !ok {
        return Err(FieldError::new(
            field,
            format!("`{}` is not an http(s) URL such as `http://ca.example.com:8080`", signet_model::names::shorten(u)),
        ));
    }
    Ok(u.to_string())
}

/// The URL of a listener when none is configured: its address, or
/// `localhost` for an unspecified one (`0.0.0.0`, `::`).
fn url_of(scheme: &str, addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() { format!("{scheme}://localhost:{}", addr.port()) } else { format!("{scheme}://{addr}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_nothing() {
        let c = ServerConfig::resolve(ConfigFile::default()).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8443");
        assert_eq!(c.public_url, "https://127.0.0.1:8443");
        assert_eq!(c.data_dir, PathBuf::from("signet-data"));
        assert_eq!(c.ca_key_algorithm, KeyAlgorithm::EcdsaP256);
        assert_eq!(c.rollover_overlap, DEFAULT_ROLLOVER_OVERLAP);
    }

    #[test]
    fn server_cert_ttl_is_bounded() {
        let with = |v: &str| ServerConfig::resolve(ConfigFile { server_cert_ttl: Some(v.into()), ..Default::default() });
        assert_eq!(ServerConfig::resolve(ConfigFile::default()).unwrap().server_cert_ttl, time::Duration::days(2));
        assert_eq!(with("10s").unwrap().server_cert_ttl, time::Duration::seconds(10));
        assert_eq!(with("30d").unwrap().server_cert_ttl, time::Duration::days(30));
        for bad in ["9s", "31d", "0", "soon", ""] {
            assert_eq!(with(bad).unwrap_err().field, "server_cert_ttl", "{bad}");
        }
    }

    #[test]
    fn rollover_overlap_is_a_duration_or_zero() {
        let with = |v: &str| ServerConfig::resolve(ConfigFile { rollover_overlap: Some(v.into()), ..Default::default() });
        assert_eq!(with("0").unwrap().rollover_overlap, time::Duration::ZERO);
        assert_eq!(with("36h").unwrap().rollover_overlap, time::Duration::hours(36));
        for bad in ["-1d", "soon", "1y"] {
            assert_eq!(with(bad).unwrap_err().field, "rollover_overlap", "{bad}");
        }
    }

    /// The defaults with `status_listen` and `status_url` as given.
    fn with_status(listen: Option<&str>, url: Option<&str>) -> Result<ServerConfig, FieldError> {
        ServerConfig::resolve(ConfigFile {
            status_listen: listen.map(str::to_string),
            status_url: url.map(str::to_string),
            ..Default::default()
        })
    }

    #[test]
    fn status_urls_follow_the_status_listener_unless_set() {
        let with = with_status;
        // None: the certificates point at the API's own URL, as before.
        let c = with(None, None).unwrap();
        assert_eq!((c.status_listen, c.status_url.as_str()), (None, "https://127.0.0.1:8443"));
        let c = with(Some("0.0.0.0:8080"), None).unwrap();
        assert_eq!(c.status_listen, Some("0.0.0.0:8080".parse().unwrap()));
        assert_eq!(c.status_url, "http://localhost:8080");
        assert_eq!(with(Some("127.0.0.1:8080"), None).unwrap().status_url, "http://127.0.0.1:8080");
        // Plain HTTP on any address: it serves nothing but signed, public data.
        assert_eq!(with(Some("192.0.2.1:80"), None).unwrap().status_url, "http://192.0.2.1:80");
        let c = with(Some("0.0.0.0:8080"), Some("http://status.example.com/")).unwrap();
        assert_eq!(c.status_url, "http://status.example.com");
        // Served elsewhere (a CDN, a proxy): a URL without a listener of ours.
        assert_eq!(with(None, Some("http://crl.example.com")).unwrap().status_url, "http://crl.example.com");
        assert_eq!(with(None, Some("http://crl.example.com")).unwrap().public_url, "https://127.0.0.1:8443");
    }

    #[test]
    fn bad_status_settings_are_named() {
        let with = |listen, url| with_status(listen, url).unwrap_err();
        for bad in ["8080", "nowhere:80", ""] {
            assert_eq!(with(Some(bad), None).field, "status_listen", "{bad}");
        }
        // The API's own address (the default listen is 127.0.0.1:8443).
        for taken in ["127.0.0.1:8443", "0.0.0.0:8443", "[::]:8443"] {
            let e = with(Some(taken), None);
            assert_eq!(e.field, "status_listen", "{taken}");
            assert!(e.to_string().contains("`listen`"), "{e}");
        }
        for bad in
            ["ldap://crl.example.com", "crl.example.com", "http://crl example.com", "http://", "http:///crl", "http://h/?q", "http://h/#f"]
        {
            assert_eq!(with(Some("127.0.0.1:8080"), Some(bad)).field, "status_url", "{bad}");
        }
    }

    #[test]
    fn plain_http_only_on_loopback() {
        let c = ConfigFile { insecure_http: Some(true), listen: Some("0.0.0.0:8080".into()), ..Default::default() };
        assert_eq!(ServerConfig::resolve(c).unwrap_err().field, "insecure_http");
        let c = ConfigFile { insecure_http: Some(true), listen: Some("127.0.0.1:8080".into()), ..Default::default() };
        assert_eq!(ServerConfig::resolve(c).unwrap().public_url, "http://127.0.0.1:8080");
    }

    #[test]
    fn overrides_win_and_bad_values_are_named() {
        let file: ConfigFile = toml::from_str("listen = \"127.0.0.1:9000\"\nca_key_algorithm = \"ed25519\"").unwrap();
        let env = ConfigFile { listen: Some("127.0.0.1:9001".into()), ..Default::default() };
        let c = ServerConfig::resolve(env.or(file)).unwrap();
        assert_eq!(c.listen.port(), 9001);
        assert_eq!(c.ca_key_algorithm, KeyAlgorithm::Ed25519);
        let bad = ConfigFile { ca_key_algorithm: Some("rsa-2048".into()), ..Default::default() };
        assert_eq!(ServerConfig::resolve(bad).unwrap_err().field, "ca_key_algorithm");
        let bad = ConfigFile { listen: Some("nowhere".into()), ..Default::default() };
        assert_eq!(ServerConfig::resolve(bad).unwrap_err().field, "listen");
        assert!(toml::from_str::<ConfigFile>("lisen = \"x\"").is_err());
    }

    #[test]
    fn the_keystore_is_sealed_unless_pkcs11_is_configured() {
        use signet_keys::pkcs11::TokenSelector;
        assert_eq!(ServerConfig::resolve(ConfigFile::default()).unwrap().keystore, KeystoreConfig::Sealed);
        let file: ConfigFile =
            toml::from_str("[keystore]\nkind = \"pkcs11\"\nmodule = \"/usr/lib/softhsm/libsofthsm2.so\"\ntoken = \"signet\"\npin_file = \"/etc/signet/pin\"")
                .unwrap();
        let want = Pkcs11Settings {
            module: "/usr/lib/softhsm/libsofthsm2.so".into(),
            token: TokenSelector::Label("signet".into()),
            pin: PinSource::File("/etc/signet/pin".into()),
        };
        assert_eq!(ServerConfig::resolve(file.clone()).unwrap().keystore, KeystoreConfig::Pkcs11(want));

        // The environment overrides the file field by field; the PIN defaults to SIGNET_PKCS11_PIN.
        let env = ConfigFile { keystore: Some(KeystoreFile { token: Some("other".into()), ..Default::default() }), ..Default::default() };
        let KeystoreConfig::Pkcs11(p) = ServerConfig::resolve(env.or(file)).unwrap().keystore else { panic!("not pkcs11") };
        assert_eq!(p.token, TokenSelector::Label("other".into()));
        assert_eq!(p.pin, PinSource::File("/etc/signet/pin".into()));
        let only = |k: KeystoreFile| ServerConfig::resolve(ConfigFile { keystore: Some(k), ..Default::default() });
        let p = only(KeystoreFile { kind: Some("pkcs11".into()), module: Some("/m.so".into()), slot: Some(3), ..Default::default() });
        assert_eq!(
            p.unwrap().keystore,
            KeystoreConfig::Pkcs11(Pkcs11Settings {
                module: "/m.so".into(),
                token: TokenSelector::Slot(3),
                pin: PinSource::Env("SIGNET_PKCS11_PIN".into())
            })
        );
    }

    #[test]
    fn bad_keystore_settings_are_named() {
        let only = |k: KeystoreFile| ServerConfig::resolve(ConfigFile { keystore: Some(k), ..Default::default() }).unwrap_err();
        let pkcs11 =
            || KeystoreFile { kind: Some("pkcs11".into()), module: Some("/m.so".into()), token: Some("t".into()), ..Default::default() };
        assert_eq!(only(KeystoreFile { kind: Some("hsm".into()), ..Default::default() }).field, "keystore.kind");
        assert_eq!(only(KeystoreFile { module: Some("/m.so".into()), ..Default::default() }).field, "keystore.module");
        assert_eq!(only(KeystoreFile { module: None, ..pkcs11() }).field, "keystore.module");
        assert_eq!(only(KeystoreFile { token: None, ..pkcs11() }).field, "keystore.token");
        assert_eq!(only(KeystoreFile { slot: Some(1), ..pkcs11() }).field, "keystore.slot");
        assert_eq!(only(KeystoreFile { pin_file: Some("/p".into()), pin_env: Some("P".into()), ..pkcs11() }).field, "keystore.pin_env");
        assert!(toml::from_str::<ConfigFile>("[keystore]\npin = \"1234\"").is_err(), "a PIN in the config file is refused");
    }
}

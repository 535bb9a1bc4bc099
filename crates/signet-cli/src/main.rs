//! `signet`: the server (`signet serve`) and its command-line client.

mod backup;
mod bench;
mod bench_log;
mod client;
mod governance;
mod log;
mod output;
mod recover;
mod seal;

use clap::{Args, Parser, Subcommand};
use client::{Client, ClientError};
use output::Format;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(name = "signet", version, about = "Signet issuance authority: turns verified requests into live credentials")]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct Global {
    /// The Signet server to talk to.
    #[arg(long, global = true, env = "SIGNET_SERVER", default_value = "https://127.0.0.1:8443")]
    pub server: String,
    /// Operator API token (`signet_…`); the bootstrap one is in DATA/admin-token.
    #[arg(long, global = true, env = "SIGNET_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// CA certificate(s) to trust for the server, PEM. Default: ./signet-data/ca.pem and ./signet-data/unseal-ca.pem, those that exist.
    #[arg(long, global = true, env = "SIGNET_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// `table` for people, `json` for scripts.
    #[arg(long, global = true, value_enum, default_value = "table")]
    pub output: Format,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the authority (creates ./signet-data on first start).
    Serve(Box<ServeArgs>),
    /// Production set-up: create the keystore's master key, split into Shamir shares (the server then starts sealed).
    Init(seal::InitArgs),
    /// Give the sealed server one unseal share (read from a hidden prompt, standard input or --share-file).
    Unseal(seal::UnsealArgs),
    /// Seal the running server: drop every key from memory (admin token).
    Seal,
    /// Show whether the server is sealed and the unseal progress.
    SealStatus,
    /// Enrol and inspect subjects.
    #[command(subcommand)]
    Subject(SubjectCmd),
    /// Create, change and inspect profiles.
    #[command(subcommand)]
    Profile(ProfileCmd),
    /// Ask for a credential.
    #[command(subcommand)]
    Issue(IssueCmd),
    /// Inspect issued certificates.
    #[command(subcommand)]
    Cert(CertCmd),
    /// Inspect requests; approve or deny those pending approval.
    #[command(subcommand)]
    Request(RequestCmd),
    /// Emergency issuance: two approvals by admins or security reviewers, a short lifetime, every step logged.
    #[command(subcommand)]
    BreakGlass(governance::BreakGlassCmd),
    /// Read, change and explain the Cedar policy set.
    #[command(subcommand)]
    Policy(governance::PolicyCmd),
    /// Manage operators (the callers of the API), their roles and their API tokens.
    #[command(subcommand)]
    Operator(governance::OperatorCmd),
    /// Revoke API tokens.
    #[command(subcommand)]
    Token(governance::TokenCmd),
    /// Show who the token authenticates as: operator, roles, sites, teams.
    Whoami,
    /// Read, export and verify the tamper-evident log.
    #[command(subcommand)]
    Log(log::LogCmd),
    /// Load generators.
    #[command(subcommand)]
    Bench(bench::BenchCmd),
    /// Write a consistent, encrypted backup of the store and the keystore files (while the server runs).
    Backup(backup::BackupArgs),
    /// Restore a backup into a new data directory and an empty database, or check one (--verify-only).
    Restore(backup::RestoreArgs),
    /// Break-glass for the authority itself, on the host: with the unseal shares, reset the policy set
    /// and/or create an admin (every step logged, high severity). See docs/RECOVERY.md.
    Recover(recover::RecoverArgs),
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// TOML configuration file; environment variables and flags override it.
    #[arg(long, env = "SIGNET_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (embedded store, keys, admin-token, ca.pem). Default ./signet-data.
    #[arg(long = "data", env = "SIGNET_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// ADDR:PORT to listen on. Default 127.0.0.1:8443.
    #[arg(long, env = "SIGNET_LISTEN")]
    listen: Option<String>,
    /// PostgreSQL URL (`postgres://…`); default: embedded SQLite in the data directory.
    #[arg(long, env = "SIGNET_DATABASE", hide_env_values = true)]
    database: Option<String>,
    /// Serve plain HTTP instead of HTTPS (refused on non-loopback addresses).
    #[arg(long, env = "SIGNET_INSECURE_HTTP")]
    insecure_http: bool,
    /// The URL clients reach this server at (and the base of certificate AIA/CRL URLs unless --status-url/--status-listen).
    #[arg(long, env = "SIGNET_PUBLIC_URL")]
    public_url: Option<String>,
    /// ADDR:PORT of a plain-HTTP listener serving only CRLs, OCSP and CA certificates (e.g. 0.0.0.0:8080). Default: none.
    #[arg(long, env = "SIGNET_STATUS_LISTEN")]
    status_listen: Option<String>,
    /// Base URL of the AIA and CRL distribution point URLs in new certificates (default http://STATUS_LISTEN, else the public URL).
    #[arg(long, env = "SIGNET_STATUS_URL")]
    status_url: Option<String>,
    /// CA key algorithm at first start: ecdsa-p256 (default), ecdsa-p384, ed25519, rsa-3072.
    #[arg(long, env = "SIGNET_CA_KEY_ALGORITHM")]
    ca_key_algorithm: Option<String>,
    /// Log format: text (default) or json.
    #[arg(long, env = "SIGNET_LOG_FORMAT")]
    log_format: Option<String>,
    /// Most issuance writes committed per transaction (default 512).
    #[arg(long, env = "SIGNET_COMMIT_BATCH")]
    commit_batch: Option<usize>,
    /// Least time a retired issuing CA stays published before its key may be destroyed (`0`, `7d`; default 7d).
    #[arg(long, env = "SIGNET_ROLLOVER_OVERLAP")]
    rollover_overlap: Option<String>,
    /// Lifetime of the server's own HTTPS certificate, renewed at half of it (`10s`..`30d`; default 2d).
    #[arg(long, env = "SIGNET_SERVER_CERT_TTL")]
    server_cert_ttl: Option<String>,
    /// Forward every log entry to NATS JetStream (`nats://host:4222`).
    #[arg(long, env = "SIGNET_EVENTS", hide_env_values = true)]
    events: Option<String>,
    /// NATS subject for forwarded log entries (default `signet.log`).
    #[arg(long, env = "SIGNET_EVENTS_SUBJECT")]
    events_subject: Option<String>,
    /// JetStream stream capturing that subject, created if missing (default `SIGNET_LOG`).
    #[arg(long, env = "SIGNET_EVENTS_STREAM")]
    events_stream: Option<String>,
    /// Where the authority keys live: sealed (default) or pkcs11.
    #[arg(long, env = "SIGNET_KEYSTORE")]
    keystore: Option<String>,
    /// PKCS#11 module (the HSM vendor's shared library).
    #[arg(long, env = "SIGNET_PKCS11_MODULE")]
    pkcs11_module: Option<PathBuf>,
    /// Label of the PKCS#11 token holding the keys.
    #[arg(long, env = "SIGNET_PKCS11_TOKEN")]
    pkcs11_token: Option<String>,
    /// File holding the token's user PIN (default: the PIN is read from SIGNET_PKCS11_PIN).
    #[arg(long, env = "SIGNET_PKCS11_PIN_FILE")]
    pkcs11_pin_file: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum SubjectCmd {
    /// Enrol a subject.
    Create {
        #[arg(long)]
        name: String,
        /// person, device, workload, service_account, api_client, pipeline, ai_agent
        #[arg(long)]
        kind: String,
        /// Accountable person or team (required for non-person subjects).
        #[arg(long)]
        owner: Option<String>,
        /// Why the subject exists (required for non-person subjects).
        #[arg(long)]
        purpose: Option<String>,
        /// ial1 (default), ial2, ial3
        #[arg(long)]
        assurance: Option<String>,
        /// An attribute, `key=value`; repeatable.
        #[arg(long = "attr", value_name = "KEY=VALUE")]
        attributes: Vec<String>,
    },
    /// List subjects.
    List {
        /// At most this many (1–1000, default 100).
        #[arg(long)]
        limit: Option<u32>,
        /// Start here: the cursor a page before named (`more: …`).
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Show one subject.
    Show { id: String },
    /// Suspend a subject: nothing is issued to it until it is reinstated.
    Suspend {
        id: String,
        /// Why (recorded in the log).
        #[arg(long)]
        reason: String,
    },
    /// Lift a suspension.
    Reinstate {
        id: String,
        #[arg(long)]
        reason: String,
    },
    /// Revoke a subject, for good.
    Revoke {
        id: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand, Debug)]
enum ProfileCmd {
    /// Create or replace a profile from a TOML (or JSON) file.
    Apply {
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
    },
    /// List profiles.
    List,
    /// Show one profile.
    Show { name: String },
}

#[derive(Subcommand, Debug)]
enum IssueCmd {
    /// Issue an X.509 certificate from a PKCS#10 CSR; prints the chain PEM, or, when the
    /// profile requires approvals, the id of the request now pending approval.
    X509 {
        #[command(flatten)]
        ask: governance::X509Ask,
        /// Write the chain PEM here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum CertCmd {
    /// Show one certificate by credential id or serial.
    Show {
        id: String,
        /// Print only the certificate PEM.
        #[arg(long)]
        pem: bool,
    },
    /// List certificates.
    List {
        #[arg(long)]
        subject: Option<String>,
        #[arg(long)]
        profile: Option<String>,
        /// active, suspended, revoked
        #[arg(long)]
        status: Option<String>,
        /// At most this many (1–1000, default 100).
        #[arg(long)]
        limit: Option<u32>,
        /// Start here: the cursor a page before named (`more: …`).
        #[arg(long)]
        cursor: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum RequestCmd {
    /// List requests, newest first.
    List {
        /// Only the requests waiting for approvals (`--state pending_approval`).
        #[arg(long, conflicts_with = "state")]
        pending: bool,
        #[arg(long)]
        subject: Option<String>,
        /// submitted, pending_approval, approved, issued, denied, expired, cancelled
        #[arg(long)]
        state: Option<String>,
        /// At most this many (1–1000, default 100).
        #[arg(long)]
        limit: Option<u32>,
        /// Start here: the cursor a page before named (`more: …`).
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Show one request and the approvals and denials recorded on it.
    Show { id: String },
    /// Approve a request pending approval. When this approval meets the quorum the
    /// certificate is issued: its chain PEM is printed (or written to --out).
    Approve {
        id: String,
        /// Why (required; recorded with the approval and in the log).
        #[arg(long)]
        reason: String,
        /// Write the chain PEM here instead of standard output, if the certificate is issued.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Deny a request pending approval.
    Deny {
        id: String,
        /// Why (required; recorded with the denial and in the log).
        #[arg(long)]
        reason: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), ClientError> {
    let g = cli.global;
    match cli.command {
        Command::Serve(a) => serve(*a).await,
        Command::Init(a) => seal::init(a, g.output),
        Command::Unseal(a) => seal::unseal(a, &g).await,
        Command::Seal => seal::seal(&g).await,
        Command::SealStatus => seal::status(&g).await,
        Command::Log(c) => log::run(c, &g).await,
        Command::Bench(b) => bench::run(b, &g).await.map_err(ClientError::Usage),
        Command::Backup(a) => backup::backup(a).await,
        Command::Restore(a) => backup::restore(a).await,
        Command::Recover(a) => recover::recover(a, g.output).await,
        Command::BreakGlass(c) => governance::break_glass(c, &g).await,
        Command::Policy(c) => governance::policy(c, &g).await,
        Command::Operator(c) => governance::operator(c, &g).await,
        Command::Token(c) => governance::token(c, &g).await,
        Command::Whoami => governance::whoami(&g).await,
        Command::Subject(c) => {
            let client = Client::new(&g)?;
            match c {
                SubjectCmd::Create { name, kind, owner, purpose, assurance, attributes } => {
                    let mut attrs = serde_json::Map::new();
                    for a in attributes {
                        let (k, v) = a.split_once('=').ok_or_else(|| ClientError::Usage(format!("--attr: `{a}` is not KEY=VALUE")))?;
                        attrs.insert(k.to_string(), serde_json::Value::String(v.to_string()));
                    }
                    let body = serde_json::json!({
                        "name": name, "kind": kind, "owner": owner, "purpose": purpose, "assurance": assurance, "attributes": attrs,
                    });
                    let v = client.post("/v1/subjects", &body).await?;
                    output::subject(g.output, &v);
                }
                SubjectCmd::List { limit, cursor } => {
                    let v = client
                        .get(&format!("/v1/subjects{}", client::query(&[("limit", limit.map(|x| x.to_string())), ("cursor", cursor)])))
                        .await?;
                    output::subjects(g.output, &v);
                }
                SubjectCmd::Show { id } => {
                    let v = client.get(&format!("/v1/subjects/{}", client::path_segment(&id))).await?;
                    output::subject(g.output, &v);
                }
                SubjectCmd::Suspend { id, reason } => governance::subject_status(&client, g.output, &id, "suspend", &reason).await?,
                SubjectCmd::Reinstate { id, reason } => governance::subject_status(&client, g.output, &id, "reinstate", &reason).await?,
                SubjectCmd::Revoke { id, reason } => governance::subject_status(&client, g.output, &id, "revoke", &reason).await?,
            }
            Ok(())
        }
        Command::Profile(c) => {
            let client = Client::new(&g)?;
            match c {
                ProfileCmd::Apply { file } => {
                    let body = client::read_profile_file(&file)?;
                    let name = body
                        .get("name")
                        .and_then(|n| n.as_str())
                        .ok_or_else(|| ClientError::Usage(format!("{}: the profile has no `name`", file.display())))?
                        .to_string();
                    let v = client.put(&format!("/v1/profiles/{}", client::path_segment(&name)), &body).await?;
                    output::profile(g.output, &v);
                }
                ProfileCmd::List => output::profiles(g.output, &client.get("/v1/profiles").await?),
                ProfileCmd::Show { name } => {
                    output::profile(g.output, &client.get(&format!("/v1/profiles/{}", client::path_segment(&name))).await?)
                }
            }
            Ok(())
        }
        Command::Issue(IssueCmd::X509 { ask, out }) => {
            let client = Client::new(&g)?;
            let (status, v) = client.post_with_status("/v1/requests", &ask.body()?).await?;
            if status == 202 {
                output::pending(g.output, &v);
                return Ok(());
            }
            governance::deliver_chain(g.output, &v, out.as_deref())
        }
        Command::Cert(c) => {
            let client = Client::new(&g)?;
            match c {
                CertCmd::Show { id, pem } => {
                    let v = client.get(&format!("/v1/credentials/{}", client::path_segment(&id))).await?;
                    if pem {
                        print!("{}", v.get("certificate_pem").and_then(|c| c.as_str()).unwrap_or_default());
                    } else {
                        output::credential(g.output, &v);
                    }
                }
                CertCmd::List { subject, profile, status, limit, cursor } => {
                    let q = client::query(&[
                        ("subject", subject),
                        ("profile", profile),
                        ("status", status),
                        ("limit", limit.map(|x| x.to_string())),
                        ("cursor", cursor),
                    ]);
                    output::credentials(g.output, &client.get(&format!("/v1/credentials{q}")).await?);
                }
            }
            Ok(())
        }
        Command::Request(c) => {
            let client = Client::new(&g)?;
            match c {
                RequestCmd::List { pending, subject, state, limit, cursor } => {
                    let state = if pending { Some("pending_approval".to_string()) } else { state };
                    let q = client::query(&[
                        ("subject", subject),
                        ("state", state),
                        ("limit", limit.map(|x| x.to_string())),
                        ("cursor", cursor),
                    ]);
                    output::requests(g.output, &client.get(&format!("/v1/requests{q}")).await?);
                }
                RequestCmd::Show { id } => governance::show_request(&client, g.output, &id).await?,
                RequestCmd::Approve { id, reason, out } => governance::approve(&client, g.output, &id, &reason, out.as_deref()).await?,
                RequestCmd::Deny { id, reason } => governance::deny(&client, g.output, &id, &reason).await?,
            }
            Ok(())
        }
    }
}

async fn serve(a: ServeArgs) -> Result<(), ClientError> {
    use signet_server::config::{ConfigFile, LogFormat, ServerConfig};
    let file = match &a.config {
        Some(p) => ConfigFile::load(p).map_err(|e| ClientError::Usage(e.to_string()))?,
        None => ConfigFile::default(),
    };
    let overrides = ConfigFile {
        data_dir: a.data_dir,
        listen: a.listen,
        database: a.database,
        insecure_http: a.insecure_http.then_some(true),
        public_url: a.public_url,
        status_listen: a.status_listen,
        status_url: a.status_url,
        ca_key_algorithm: a.ca_key_algorithm,
        log_format: a.log_format,
        commit_batch: a.commit_batch,
        rollover_overlap: a.rollover_overlap,
        server_cert_ttl: a.server_cert_ttl,
        events: a.events,
        events_subject: a.events_subject,
        events_stream: a.events_stream,
        keystore: Some(signet_server::config::KeystoreFile {
            kind: a.keystore,
            module: a.pkcs11_module,
            token: a.pkcs11_token,
            pin_file: a.pkcs11_pin_file,
            ..Default::default()
        }),
    };
    let config = ServerConfig::resolve(overrides.or(file)).map_err(|e| ClientError::Usage(e.to_string()))?;

    let filter = tracing_subscriber::EnvFilter::try_from_env("SIGNET_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    match config.log_format {
        LogFormat::Json => {
            tracing_subscriber::fmt().json().with_current_span(true).with_env_filter(filter).with_writer(std::io::stderr).init()
        }
        LogFormat::Text => tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init(),
    }

    // Both addresses are taken first: a port in use stops the start before
    // anything is created or changed.
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| ClientError::Usage(format!("listen: cannot bind `{}`: {e}", config.listen)))?;
    let status_listener = match config.status_listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| ClientError::Usage(format!("status_listen: cannot bind `{addr}`: {e}")))?,
        ),
        None => None,
    };
    let launched = signet_server::seal::SealGate::launch(config.clone(), signet_server::seal::standard_tasks(config.clone()))
        .await
        .map_err(|e| ClientError::Usage(e.to_string()))?;
    let scheme = if config.insecure_http { "http" } else { "https" };
    println!("Signet is serving {scheme}://{}", config.listen);
    println!("  store:     {}", launched.database);
    match &launched.sealed_tls {
        Some((unseal_ca, sha256)) => {
            let status = launched.gate.status().await;
            println!(
                "  keys:      SEALED (seal {}): give {} of {} shares with `signet unseal`",
                status.seal_id,
                status.threshold.unwrap_or_default(),
                status.shares.unwrap_or_default()
            );
            println!("  while sealed, TLS uses a certificate from {} (SHA-256 {sha256})", unseal_ca.display());
        }
        None => {
            println!("  CA chain:  {}", config.data_dir.join("ca.pem").display());
            match &launched.admin_token_path {
                Some(p) => println!("  admin token (created now, keep it secret): {}", p.display()),
                None => println!("  admin token: created at first start in {}", config.data_dir.join("admin-token").display()),
            }
        }
    }
    if let signet_server::config::KeystoreConfig::Pkcs11(p) = &config.keystore {
        println!("  keys:      in PKCS#11 token `{}` of {}", p.token, p.module.display());
    }
    if launched.local_unseal {
        println!(
            "  keys:      encrypted at rest, unsealed from {} (single trusted machine only)",
            config.data_dir.join("unseal-key").display()
        );
    }
    if let Some(addr) = config.status_listen {
        println!("  status:    http://{addr} (CRLs, OCSP, CA certificates; new certificates point at {})", config.status_url);
    }
    if config.insecure_http {
        println!("  WARNING: plain HTTP (--insecure-http): for local testing only");
    }
    // One stop for both listeners.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };
    let gate = launched.gate.clone();
    tokio::spawn(async move {
        stop_requested().await;
        tracing::info!("shutting down");
        // The event streams would hold their connections open through the drain.
        if let Some(state) = gate.state() {
            state.stop_streams();
        }
        stop_tx.send_replace(true);
    });
    let status = status_listener.map(|listener| {
        let app = signet_server::seal::status_router(launched.gate.clone());
        tokio::spawn(signet_server::serve::serve_plain(listener, app, stopped()))
    });
    let app = signet_server::seal::router(launched.gate.clone());
    let mut result = if config.insecure_http {
        signet_server::serve::serve_plain(listener, app, stopped()).await
    } else {
        let tls = signet_server::serve::tls_config(launched.server_cert.clone()).map_err(ClientError::Usage)?;
        signet_server::serve::serve_tls(listener, app, tls, stopped()).await
    };
    if let Some(task) = status {
        let status_result = task.await.unwrap_or_else(|e| Err(std::io::Error::other(e)));
        result = result.and(status_result);
    }
    if let Some(state) = launched.gate.state() {
        // Refusals counted but not yet in the log go in before the keys are dropped.
        state.authority.report_suppressed_refusals().await;
    }
    launched.gate.shutdown();
    result.map_err(|e| ClientError::Usage(format!("server: {e}")))
}

/// Ctrl-C, or SIGTERM (what `systemctl stop`, `kill` and container runtimes send).
async fn stop_requested() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; stop with Ctrl-C");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}

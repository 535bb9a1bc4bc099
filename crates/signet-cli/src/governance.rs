//! The governance commands: approvals (`request approve|deny`), break-glass,
//! the policy set (`policy show|apply|versions|explain`), operators and
//! their tokens, `whoami`, and subjects' suspension and revocation. Each
//! command is one call (or two) to the REST API; every permission is decided
//! by the server's policy set, and a refusal comes back as a one-line error.

use crate::Global;
use crate::client::{Client, ClientError, path_segment, read_input};
use crate::output::{self, Format};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// What an X.509 request asks for: shared by `issue x509`, `break-glass x509` and `policy explain`.
#[derive(clap::Args, Debug)]
pub struct X509Ask {
    /// Subject id (`sub_…`).
    #[arg(long)]
    subject: String,
    /// Profile name.
    #[arg(long)]
    profile: String,
    /// CSR file, PEM or DER (`-` for standard input).
    #[arg(long)]
    csr: PathBuf,
    /// DNS names to request instead of the CSR's (repeatable).
    #[arg(long)]
    dns: Vec<String>,
    #[arg(long)]
    ip: Vec<String>,
    #[arg(long)]
    uri: Vec<String>,
    #[arg(long)]
    email: Vec<String>,
    /// Lifetime, e.g. `24h` (default: the profile's).
    #[arg(long)]
    ttl: Option<String>,
    /// A scope (entitlement) to ask for; repeatable. Each must be in the profile's `allowed_scopes`.
    #[arg(long = "scope", value_name = "SCOPE")]
    scopes: Vec<String>,
}

impl X509Ask {
    /// The API's request body (`IssueRequestBody`).
    pub fn body(&self) -> Result<Value, ClientError> {
        let csr = read_input(&self.csr)?;
        let names = if self.dns.is_empty() && self.ip.is_empty() && self.uri.is_empty() && self.email.is_empty() {
            Value::Null
        } else {
            json!({ "dns": self.dns, "ip": self.ip, "uri": self.uri, "email": self.email })
        };
        Ok(json!({
            "subject": self.subject, "profile": self.profile, "csr": csr, "names": names, "ttl": self.ttl, "scopes": self.scopes,
        }))
    }
}

/// Hand over an issued certificate (an `IssueResponse`): its chain PEM on
/// standard output, or written to `out` with a summary printed.
pub fn deliver_chain(f: Format, issued: &Value, out: Option<&Path>) -> Result<(), ClientError> {
    let chain = issued.get("chain_pem").and_then(|c| c.as_str()).unwrap_or_default();
    match (out, f) {
        (Some(path), _) => {
            std::fs::write(path, chain).map_err(|e| ClientError::Usage(format!("--out: cannot write `{}`: {e}", path.display())))?;
            output::issued(f, issued);
        }
        (None, Format::Json) => output::json(issued),
        (None, Format::Table) => print!("{chain}"),
    }
    Ok(())
}

// ------------------------------------------------------------ requests

fn request_path(id: &str) -> String {
    format!("/v1/requests/{}", path_segment(id))
}

/// `request show`: the request and the verdicts recorded on it.
pub async fn show_request(client: &Client, f: Format, id: &str) -> Result<(), ClientError> {
    let mut request = client.get(&request_path(id)).await?;
    let approvals = client.get(&format!("{}/approvals", request_path(id))).await?;
    let items = approvals.get("items").cloned().unwrap_or(Value::Array(vec![]));
    if f == Format::Json {
        if let Some(obj) = request.as_object_mut() {
            obj.insert("approvals".into(), items);
        }
        output::json(&request);
        return Ok(());
    }
    output::request(f, &request);
    output::approvals(&items);
    Ok(())
}

/// `request approve`: record an approval; when it meets the quorum the
/// authority mints the certificate, and its chain is handed over.
pub async fn approve(client: &Client, f: Format, id: &str, reason: &str, out: Option<&Path>) -> Result<(), ClientError> {
    let v = client.post(&format!("{}/approve", request_path(id)), &json!({ "reason": reason })).await?;
    match v.get("issued") {
        Some(issued) if !issued.is_null() => {
            if f == Format::Json {
                if let Some(path) = out {
                    let chain = issued.get("chain_pem").and_then(|c| c.as_str()).unwrap_or_default();
                    std::fs::write(path, chain)
                        .map_err(|e| ClientError::Usage(format!("--out: cannot write `{}`: {e}", path.display())))?;
                }
                output::json(&v);
                return Ok(());
            }
            eprintln!("request `{id}` approved ({}): the quorum is met and the certificate was issued", output::approval_count(&v));
            deliver_chain(f, issued, out)
        }
        _ => {
            output::verdict(f, &v, "approved");
            Ok(())
        }
    }
}

/// `request deny`: the request ends denied.
pub async fn deny(client: &Client, f: Format, id: &str, reason: &str) -> Result<(), ClientError> {
    let v = client.post(&format!("{}/deny", request_path(id)), &json!({ "reason": reason })).await?;
    output::verdict(f, &v, "denied");
    Ok(())
}

// ------------------------------------------------------------ break-glass

#[derive(clap::Subcommand, Debug)]
pub enum BreakGlassCmd {
    /// Ask for an emergency X.509 certificate. It waits (at most 30 minutes) for two approvals by
    /// operators allowed `break_glass.approve`, neither of them you, and lives at most one hour.
    X509 {
        #[command(flatten)]
        ask: X509Ask,
        /// Why the normal path cannot be used (required; recorded in a high-severity event).
        #[arg(long)]
        reason: String,
    },
}

pub async fn break_glass(c: BreakGlassCmd, g: &Global) -> Result<(), ClientError> {
    let client = Client::new(g)?;
    let BreakGlassCmd::X509 { ask, reason } = c;
    let mut body = ask.body()?;
    if let Some(obj) = body.as_object_mut() {
        obj.insert("reason".into(), Value::String(reason));
    }
    let v = client.post("/v1/break-glass", &body).await?;
    output::pending(g.output, &v);
    Ok(())
}

// ------------------------------------------------------------ policy

#[derive(clap::Subcommand, Debug)]
pub enum PolicyCmd {
    /// Show the active policy set: its version and Cedar text.
    Show {
        /// Show this applied version instead of the active one.
        #[arg(long)]
        version: Option<i64>,
    },
    /// Validate and activate a Cedar policy set; prints the new version and the diff.
    /// An invalid set, or one under which no enabled operator could still apply policies or create
    /// operators (rule `lockout`), is refused and the active set stays.
    Apply {
        /// The whole policy set, Cedar text; every policy needs a unique `@id("…")`.
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        /// Why it changes (kept with the version and in the log).
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// List every applied policy version, newest first.
    Versions,
    /// Dry run: what a request would get (issue, pending approval, deny), which policies
    /// decided it and which approvals it would need. Nothing is issued or recorded.
    Explain {
        #[command(flatten)]
        ask: X509Ask,
    },
}

pub async fn policy(c: PolicyCmd, g: &Global) -> Result<(), ClientError> {
    let client = Client::new(g)?;
    match c {
        PolicyCmd::Show { version: None } => output::policy(g.output, &client.get("/v1/policy").await?),
        PolicyCmd::Show { version: Some(v) } => output::policy(g.output, &client.get(&format!("/v1/policy/versions/{v}")).await?),
        PolicyCmd::Apply { file, comment } => {
            let text = read_text(&file)?;
            output::policy_applied(g.output, &client.put("/v1/policy", &json!({ "text": text, "comment": comment })).await?);
        }
        PolicyCmd::Versions => output::policy_versions(g.output, &client.get("/v1/policy/versions").await?),
        PolicyCmd::Explain { ask } => output::explain(g.output, &client.post("/v1/policy/explain", &ask.body()?).await?),
    }
    Ok(())
}

/// A text file (or standard input for `-`), which must be UTF-8.
fn read_text(path: &Path) -> Result<String, ClientError> {
    if path == Path::new("-") {
        return read_input(path);
    }
    let bytes = std::fs::read(path).map_err(|e| ClientError::Usage(format!("cannot read `{}`: {e}", path.display())))?;
    String::from_utf8(bytes).map_err(|_| ClientError::Usage(format!("`{}` is not UTF-8 text", path.display())))
}

// ------------------------------------------------------------ operators and tokens

#[derive(clap::Subcommand, Debug)]
pub enum OperatorCmd {
    /// Create an operator (admins).
    Create {
        /// Unique name (lower-case letters, digits, `-`, `_`, `.`).
        name: String,
        /// admin, policy_author, registration_officer, approver, security_reviewer, auditor, site_operator (repeatable).
        #[arg(long = "role", value_name = "ROLE")]
        roles: Vec<String>,
        /// A site it acts on (repeatable).
        #[arg(long = "site", value_name = "SITE")]
        sites: Vec<String>,
        /// It acts on every site.
        #[arg(long)]
        all_sites: bool,
        /// A team it belongs to (repeatable): approval groups and owner-scoped permissions match these.
        #[arg(long = "team", value_name = "TEAM")]
        teams: Vec<String>,
        /// The person subject this operator is (`sub_…`), for separation of duties.
        #[arg(long)]
        subject: Option<String>,
        /// The verifier the new operator's holder printed with `signet operator enrol-code` (64 hex
        /// digits): the holder redeems its secret with `signet operator enrol`. You never see the secret.
        #[arg(long)]
        enrolment_verifier: Option<String>,
        /// How long the enrolment may wait to be redeemed (default `24h`, at most `7d`).
        #[arg(long, requires = "enrolment_verifier")]
        enrolment_ttl: Option<String>,
    },
    /// Make an enrolment secret, locally (no server): keep the secret, give the verifier to an admin.
    EnrolCode,
    /// Redeem an enrolment secret for your first token (no token needed). The secret is read from
    /// `--secret-file` (`-`: standard input) or `SIGNET_ENROLMENT_SECRET`; the token is printed once.
    Enrol {
        /// Your operator id (`op_…`) or name.
        operator: String,
        /// A file holding the enrolment secret (`-`: standard input).
        #[arg(long)]
        secret_file: Option<PathBuf>,
        /// A label for the token.
        #[arg(long, default_value = "enrolment")]
        name: String,
        /// The token's lifetime, e.g. `30d` (at most 366 days); default: no expiry.
        #[arg(long)]
        ttl: Option<String>,
    },
    /// A new enrolment for an operator who lost its credentials (admins; never your own). For an
    /// operator with a privileged role it waits for a second admin when there is one.
    ReEnrol {
        /// Operator id (`op_…`).
        id: String,
        /// The verifier the operator printed with `signet operator enrol-code`.
        #[arg(long)]
        enrolment_verifier: String,
        #[arg(long)]
        enrolment_ttl: Option<String>,
    },
    /// Privileged grants waiting for (or decided by) a second admin.
    #[command(subcommand)]
    Grant(GrantCmd),
    /// List the operators you may read.
    List,
    /// Show one operator.
    Show { id: String },
    /// Change an operator's roles, sites, teams, subject or disabled flag; what is not given stays.
    /// Nobody changes their own.
    Update {
        id: String,
        /// Replace the roles with these (repeatable).
        #[arg(long = "role", value_name = "ROLE")]
        roles: Vec<String>,
        /// Replace the sites with these (repeatable).
        #[arg(long = "site", value_name = "SITE", conflicts_with = "clear_sites")]
        sites: Vec<String>,
        /// Remove every site.
        #[arg(long)]
        clear_sites: bool,
        /// Act on every site.
        #[arg(long, conflicts_with = "no_all_sites")]
        all_sites: bool,
        /// Act only on the listed sites.
        #[arg(long)]
        no_all_sites: bool,
        /// Replace the teams with these (repeatable).
        #[arg(long = "team", value_name = "TEAM", conflicts_with = "clear_teams")]
        teams: Vec<String>,
        /// Remove every team.
        #[arg(long)]
        clear_teams: bool,
        /// The person subject this operator is (`sub_…`).
        #[arg(long, conflicts_with = "clear_subject")]
        subject: Option<String>,
        /// Unlink the subject.
        #[arg(long)]
        clear_subject: bool,
        /// Disable: its tokens stop authenticating.
        #[arg(long, conflicts_with = "enable")]
        disable: bool,
        /// Enable again.
        #[arg(long)]
        enable: bool,
    },
    /// An operator's API tokens.
    #[command(subcommand)]
    Token(OperatorTokenCmd),
}

#[derive(clap::Subcommand, Debug)]
pub enum GrantCmd {
    /// List privileged grants, newest first.
    List,
    /// Approve and apply a grant another admin asked for.
    Approve {
        /// Grant id (`grt_…`).
        id: String,
        #[arg(long)]
        reason: String,
    },
    /// Deny a grant (or withdraw your own).
    Deny {
        id: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum OperatorTokenCmd {
    /// Create an API token for yourself (nobody creates one for another operator). The secret is printed once.
    Create {
        /// Operator id (`op_…`).
        operator_id: String,
        /// A label (`ci deploy`).
        #[arg(long)]
        name: String,
        /// Lifetime, e.g. `30d` (at most 366 days); default: no expiry.
        #[arg(long)]
        ttl: Option<String>,
    },
    /// List an operator's tokens (never their secrets).
    List {
        /// Operator id (`op_…`).
        operator_id: String,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum TokenCmd {
    /// Revoke an API token: it stops working at once (within 2 s on other servers).
    Revoke {
        /// Token id (`tok_…`).
        id: String,
    },
}

fn operator_path(id: &str) -> String {
    format!("/v1/operators/{}", path_segment(id))
}

/// The strings of a JSON array field.
fn strings(v: &Value, k: &str) -> Vec<String> {
    v.get(k).and_then(|a| a.as_array()).map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

/// An operator as created or changed; a privileged part waiting for a second admin is said on standard error.
fn operator_change(f: Format, v: &Value) {
    if let Some(grant) = v.get("pending_grant").and_then(|p| p.get("id")).and_then(|i| i.as_str()) {
        eprintln!(
            "the privileged part of this change waits for a second admin: grant `{grant}` (signet operator grant approve {grant} --reason …)"
        );
    }
    output::operator(f, v);
}

/// `operator enrol-code`: a new enrolment secret and its verifier, made here.
pub fn enrol_code(f: Format) {
    let (secret, verifier) = signet_core::sod::new_enrolment_code(&signet_core::clock::SystemRng);
    let secret = Zeroizing::new(secret);
    match f {
        Format::Json => output::json(&json!({ "secret": secret.as_str(), "verifier": verifier })),
        Format::Table => {
            println!("secret:   {}", secret.as_str());
            println!("verifier: {verifier}");
            eprintln!(
                "keep the secret to yourself; give only the verifier to an admin (signet operator create NAME --enrolment-verifier …), \
                 then redeem the secret with `signet operator enrol NAME`"
            );
        }
    }
}

pub async fn operator(c: OperatorCmd, g: &Global) -> Result<(), ClientError> {
    let client = Client::new(g)?;
    match c {
        OperatorCmd::Create { name, roles, sites, all_sites, teams, subject, enrolment_verifier, enrolment_ttl } => {
            let body = json!({ "name": name, "roles": roles, "sites": sites, "all_sites": all_sites, "teams": teams, "subject_id": subject,
                "enrolment_verifier": enrolment_verifier, "enrolment_ttl": enrolment_ttl });
            operator_change(g.output, &client.post("/v1/operators", &body).await?);
        }
        OperatorCmd::EnrolCode => enrol_code(g.output),
        OperatorCmd::Enrol { operator, secret_file, name, ttl } => {
            let secret = match (secret_file, std::env::var("SIGNET_ENROLMENT_SECRET")) {
                (Some(path), _) => Zeroizing::new(read_input(&path)?.trim().to_string()),
                (None, Ok(s)) => Zeroizing::new(s.trim().to_string()),
                (None, Err(_)) => {
                    return Err(ClientError::Usage("no enrolment secret: pass --secret-file or set SIGNET_ENROLMENT_SECRET".into()));
                }
            };
            let body = json!({ "operator": operator, "secret": secret.as_str(), "token_name": name, "ttl": ttl });
            let mut v = client.post_public("/v1/operators/enrol", &body).await?;
            if g.output == Format::Json {
                output::json(&v);
                return Ok(());
            }
            let secret = match v.get_mut("secret").map(Value::take) {
                Some(Value::String(s)) => Zeroizing::new(s),
                _ => return Err(ClientError::Usage("the server's answer holds no token secret".into())),
            };
            output::token_created(v.get("token").unwrap_or(&Value::Null), &secret);
        }
        OperatorCmd::ReEnrol { id, enrolment_verifier, enrolment_ttl } => {
            let body = json!({ "enrolment_verifier": enrolment_verifier, "enrolment_ttl": enrolment_ttl });
            operator_change(g.output, &client.post(&format!("{}/enrolment", operator_path(&id)), &body).await?);
        }
        OperatorCmd::Grant(GrantCmd::List) => output::grants(g.output, &client.get("/v1/operators/grants").await?),
        OperatorCmd::Grant(GrantCmd::Approve { id, reason }) => {
            let v = client.post(&format!("/v1/operators/grants/{}/approve", path_segment(&id)), &json!({ "reason": reason })).await?;
            output::grant(g.output, &v);
        }
        OperatorCmd::Grant(GrantCmd::Deny { id, reason }) => {
            let v = client.post(&format!("/v1/operators/grants/{}/deny", path_segment(&id)), &json!({ "reason": reason })).await?;
            output::grant(g.output, &v);
        }
        OperatorCmd::List => output::operators(g.output, &client.get("/v1/operators").await?),
        OperatorCmd::Show { id } => output::operator(g.output, &client.get(&operator_path(&id)).await?),
        OperatorCmd::Update {
            id,
            roles,
            sites,
            clear_sites,
            all_sites,
            no_all_sites,
            teams,
            clear_teams,
            subject,
            clear_subject,
            disable,
            enable,
        } => {
            // The API replaces the whole operator: start from what it is now.
            let current = client.get(&operator_path(&id)).await?;
            let pick = |given: Vec<String>, clear: bool, k: &str| {
                if clear {
                    Vec::new()
                } else if given.is_empty() {
                    strings(&current, k)
                } else {
                    given
                }
            };
            let flag = |on: bool, off: bool, k: &str| on || (!off && current.get(k).and_then(|x| x.as_bool()).unwrap_or(false));
            let subject_id = if clear_subject {
                None
            } else {
                subject.or_else(|| current.get("subject_id").and_then(|s| s.as_str()).map(str::to_string))
            };
            let body = json!({
                "name": current.get("name").cloned().unwrap_or(Value::Null),
                "roles": pick(roles, false, "roles"),
                "sites": pick(sites, clear_sites, "sites"),
                "all_sites": flag(all_sites, no_all_sites, "all_sites"),
                "teams": pick(teams, clear_teams, "teams"),
                "subject_id": subject_id,
                "disabled": flag(disable, enable, "disabled"),
            });
            operator_change(g.output, &client.put(&operator_path(&id), &body).await?);
        }
        OperatorCmd::Token(OperatorTokenCmd::Create { operator_id, name, ttl }) => {
            let mut v = client.post(&format!("{}/tokens", operator_path(&operator_id)), &json!({ "name": name, "ttl": ttl })).await?;
            if g.output == Format::Json {
                output::json(&v);
                return Ok(());
            }
            // Shown this once: only its hash is stored. Do not keep a copy longer than needed.
            let secret = match v.get_mut("secret").map(Value::take) {
                Some(Value::String(s)) => Zeroizing::new(s),
                _ => return Err(ClientError::Usage("the server's answer holds no token secret".into())),
            };
            output::token_created(v.get("token").unwrap_or(&Value::Null), &secret);
        }
        OperatorCmd::Token(OperatorTokenCmd::List { operator_id }) => {
            output::tokens(g.output, &client.get(&format!("{}/tokens", operator_path(&operator_id))).await?)
        }
    }
    Ok(())
}

pub async fn token(c: TokenCmd, g: &Global) -> Result<(), ClientError> {
    let client = Client::new(g)?;
    let TokenCmd::Revoke { id } = c;
    client.delete(&format!("/v1/tokens/{}", path_segment(&id))).await?;
    match g.output {
        Format::Json => output::json(&json!({ "id": id, "revoked": true })),
        Format::Table => println!("token `{id}` revoked"),
    }
    Ok(())
}

pub async fn whoami(g: &Global) -> Result<(), ClientError> {
    let client = Client::new(g)?;
    output::whoami(g.output, &client.get("/v1/whoami").await?);
    Ok(())
}

// ------------------------------------------------------------ subjects' lifecycle

/// `subject suspend|reinstate|revoke ID --reason`.
pub async fn subject_status(client: &Client, f: Format, id: &str, action: &str, reason: &str) -> Result<(), ClientError> {
    let v = client.post(&format!("/v1/subjects/{}/{action}", path_segment(id)), &json!({ "reason": reason })).await?;
    output::subject(f, &v);
    Ok(())
}

//! `signet bench issue`: a load generator for end-to-end issuance, of
//! certificates (default) or of JWT access tokens (`--credential-type jwt`).
//!
//! It pre-generates one distinct P-256 key and CSR per request before the
//! clock starts (so no request can be served from a cache of verified CSRs),
//! then runs N concurrent keep-alive HTTPS clients against `POST
//! /v1/requests` for a fixed duration, and reports certificates/s with
//! p50/p99 latency. In the same run it measures the machine's raw P-256 sign
//! and verify rates (aws-lc, the library the server signs with), the
//! reference figure for docs/BENCHMARKS.md.

use crate::client::path_segment;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[derive(clap::Subcommand, Debug)]
pub enum BenchCmd {
    /// Issue credentials as fast as the server allows: P-256 certificates from
    /// distinct CSRs (default), or JWT access tokens (`--credential-type jwt`).
    Issue(IssueBench),
    /// The tamper-evident log on a fresh SQLite store: append, grow the tree,
    /// prove, export and verify offline.
    Log(crate::bench_log::LogBench),
}

#[derive(clap::Args, Debug)]
pub struct IssueBench {
    /// Concurrent keep-alive clients.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Seconds to run (after the CSRs are generated).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// How many distinct CSRs to pre-generate; the run stops early if it uses them all.
    #[arg(long, default_value_t = 150_000)]
    csrs: usize,
    /// Profile to issue under; default `tls-server` (x509), `bench-jwt` (jwt,
    /// applied by the bench when missing: audience `https://api.bench.internal`, 15 min).
    #[arg(long)]
    profile: Option<String>,
    /// What to issue: `x509` (a distinct P-256 CSR per request) or `jwt`
    /// (a bearer access token per request: the pipeline, one ES256 signature
    /// and its verification back).
    #[arg(long, default_value = "x509", value_parser = ["x509", "jwt"])]
    credential_type: String,
    /// Subject to issue to; default: enrol a fresh `bench-…` workload subject.
    #[arg(long)]
    subject: Option<String>,
    /// PID of the server process, to report its peak resident memory (VmHWM).
    #[arg(long)]
    server_pid: Option<u32>,
}

pub async fn run(cmd: BenchCmd, g: &crate::Global) -> Result<(), String> {
    match cmd {
        BenchCmd::Issue(b) => issue(b, g).await,
        BenchCmd::Log(b) => crate::bench_log::run(b).await,
    }
}

struct Sample {
    latency: Duration,
    ok: bool,
}

async fn issue(b: IssueBench, g: &crate::Global) -> Result<(), String> {
    if b.clients == 0 || b.duration == 0 || b.csrs == 0 {
        return Err("--clients, --duration and --csrs must be positive".into());
    }
    let token = g.token.clone().ok_or("no token: pass --token or set SIGNET_TOKEN")?;
    let http = http_client(g.ca_file.clone(), b.clients)?;
    let base = g.server.trim_end_matches('/').to_string();

    let subject = match b.subject {
        Some(s) => s,
        None => enrol_subject(&http, &base, &token).await?,
    };

    let jwt = b.credential_type == "jwt";
    let profile = b.profile.clone().unwrap_or_else(|| if jwt { JWT_PROFILE.into() } else { "tls-server".into() });
    let bodies = if jwt {
        ensure_jwt_profile(&http, &base, &token, &profile).await?;
        let body = serde_json::json!({ "subject": subject, "profile": profile, "ttl": "15m" });
        let body = bytes::Bytes::from(serde_json::to_vec(&body).map_err(|e| e.to_string())?);
        Arc::new(vec![body; b.csrs])
    } else {
        eprintln!("generating {} distinct P-256 keys and CSRs…", b.csrs);
        let started = Instant::now();
        let bodies = generate_bodies(b.csrs, &subject, &profile).await?;
        eprintln!("  done in {:.1}s", started.elapsed().as_secs_f64());
        Arc::new(bodies)
    };
    let what = if jwt { "tokens" } else { "certificates" };

    eprintln!("measuring raw P-256 sign/verify rates (aws-lc, one core)…");
    let (sign_rate, verify_rate) = tokio::task::spawn_blocking(raw_p256_rates).await.map_err(|e| e.to_string())??;

    // Warm up the connections: one request per client.
    let next = Arc::new(AtomicUsize::new(0));
    eprintln!("running {} clients for {}s against {base}…", b.clients, b.duration);
    let deadline = Instant::now() + Duration::from_secs(b.duration);
    let url = format!("{base}/v1/requests");
    let server_cpu_before = b.server_pid.and_then(cpu_seconds);
    let own_cpu_before = cpu_seconds(std::process::id());
    let run_started = Instant::now();
    let mut tasks = Vec::with_capacity(b.clients);
    for _ in 0..b.clients {
        let (http, url, token, bodies, next) = (http.clone(), url.clone(), token.clone(), bodies.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::with_capacity(4096);
            let mut first_error: Option<String> = None;
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { break };
                let t = Instant::now();
                let resp = http.post(&url).bearer_auth(&token).header("content-type", "application/json").body(body.clone()).send().await;
                let ok = match resp {
                    Ok(r) if r.status() == reqwest::StatusCode::CREATED => r.bytes().await.is_ok(),
                    Ok(r) => {
                        let status = r.status();
                        let text = r.text().await.unwrap_or_default();
                        first_error.get_or_insert_with(|| format!("HTTP {status}: {text}"));
                        false
                    }
                    Err(e) => {
                        first_error.get_or_insert_with(|| e.to_string());
                        false
                    }
                };
                samples.push(Sample { latency: t.elapsed(), ok });
            }
            (samples, first_error)
        }));
    }
    let mut samples = Vec::new();
    let mut first_error = None;
    for t in tasks {
        let (s, e) = t.await.map_err(|e| e.to_string())?;
        samples.extend(s);
        if first_error.is_none() {
            first_error = e;
        }
    }
    let elapsed = run_started.elapsed().as_secs_f64();
    let server_cpu = b.server_pid.and_then(cpu_seconds).zip(server_cpu_before).map(|(after, before)| after - before);
    let own_cpu = cpu_seconds(std::process::id()).zip(own_cpu_before).map(|(after, before)| after - before);
    let exhausted = next.load(Ordering::Relaxed) >= bodies.len();

    let ok: Vec<Duration> = samples.iter().filter(|s| s.ok).map(|s| s.latency).collect();
    let errors = samples.len() - ok.len();
    let mut lat = ok.clone();
    lat.sort_unstable();
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return 0.0;
        }
        let idx = ((lat.len() as f64 - 1.0) * p).round() as usize;
        lat[idx.min(lat.len() - 1)].as_secs_f64() * 1000.0
    };
    let rate = ok.len() as f64 / elapsed;
    println!(
        "signet bench issue: {} {}, {} clients, {:.1}s{}",
        b.credential_type,
        what,
        b.clients,
        elapsed,
        if exhausted { " (stopped early: all request bodies used)" } else { "" }
    );
    println!("  {what} issued   {}", ok.len());
    println!("  errors                {errors}");
    println!("  {what}/s        {rate:.0}");
    println!("  latency p50           {:.2} ms", pct(0.50));
    println!("  latency p99           {:.2} ms", pct(0.99));
    println!("  latency max           {:.2} ms", pct(1.0));
    println!("  raw P-256 sign/s      {sign_rate:.0}  (aws-lc, one core, same run)");
    println!("  raw P-256 verify/s    {verify_rate:.0}  (aws-lc, one core, same run)");
    // X.509: the server checks the CSR's signature, signs, and verifies what
    // it signed. JWT (bearer): it signs and verifies what it signed.
    let verifies = if jwt { 1.0 } else { 2.0 };
    let floor_micros = 1e6 / sign_rate + verifies * 1e6 / verify_rate;
    let per_cert = |cpu: f64| if ok.is_empty() { 0.0 } else { cpu * 1e6 / ok.len() as f64 };
    if let Some(cpu) = server_cpu {
        println!(
            "  server CPU/{}       {:.0} µs  ({:.0}% of a core; P-256 floor 1 sign + {verifies} verif{} = {floor_micros:.0} µs)",
            if jwt { "token" } else { "cert" },
            per_cert(cpu),
            cpu * 100.0 / elapsed,
            if jwt { "y" } else { "ies" }
        );
    }
    if let Some(cpu) = own_cpu {
        println!("  load generator CPU/cert {:.0} µs  ({:.0}% of a core)", per_cert(cpu), cpu * 100.0 / elapsed);
    }
    if let Some(pid) = b.server_pid {
        match peak_rss_mib(pid) {
            Some(mib) => println!("  server peak RSS       {mib:.1} MiB (VmHWM of pid {pid})"),
            None => println!("  server peak RSS       unknown (cannot read /proc/{pid}/status)"),
        }
    }
    if let Some(e) = first_error {
        println!("  first error           {e}");
    }
    if ok.is_empty() {
        return Err(format!("no {} was issued", if jwt { "token" } else { "certificate" }));
    }
    Ok(())
}

fn http_client(ca_file: Option<PathBuf>, clients: usize) -> Result<reqwest::Client, String> {
    let ca_file = ca_file.or_else(|| {
        let d = PathBuf::from("signet-data/ca.pem");
        d.exists().then_some(d)
    });
    let mut builder = reqwest::Client::builder().pool_max_idle_per_host(clients).timeout(Duration::from_secs(30));
    if let Some(path) = ca_file {
        let pem = std::fs::read(&path).map_err(|e| format!("--ca-file: cannot read `{}`: {e}", path.display()))?;
        for c in reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| format!("--ca-file: {e}"))? {
            builder = builder.add_root_certificate(c);
        }
    }
    builder.build().map_err(|e| e.to_string())
}

async fn enrol_subject(http: &reqwest::Client, base: &str, token: &str) -> Result<String, String> {
    let mut suffix = [0u8; 4];
    signet_core::ports::Rng::fill(&signet_core::clock::SystemRng, &mut suffix);
    let name = format!("bench-{}", signet_core::authority::hex(&suffix));
    let body = serde_json::json!({ "name": name, "kind": "workload", "owner": "signet-bench", "purpose": "load test" });
    let resp = http
        .post(format!("{base}/v1/subjects"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("cannot reach {base}: {e}"))?;
    let status = resp.status();
    let v: serde_json::Value = resp.json().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("cannot enrol the bench subject: HTTP {status}: {v}"));
    }
    let id = v.get("id").and_then(|i| i.as_str()).ok_or("no subject id in the answer")?;
    eprintln!("enrolled subject {name} ({})", path_segment(id));
    Ok(id.to_string())
}

/// The profile `--credential-type jwt` issues under when none is named.
const JWT_PROFILE: &str = "bench-jwt";

/// Apply the bench's JWT profile unless a profile of that name exists.
async fn ensure_jwt_profile(http: &reqwest::Client, base: &str, token: &str, name: &str) -> Result<(), String> {
    let url = format!("{base}/v1/profiles/{}", path_segment(name));
    let resp = http.get(&url).bearer_auth(token).send().await.map_err(|e| format!("cannot reach {base}: {e}"))?;
    if resp.status().is_success() {
        return Ok(());
    }
    if name != JWT_PROFILE {
        return Err(format!("profile `{name}` does not exist"));
    }
    let body = serde_json::json!({
        "name": name, "credential_type": "jwt", "max_ttl": "1h", "default_ttl": "15m",
        "description": "signet bench issue --credential-type jwt",
        "params": { "audiences": ["https://api.bench.internal"] },
    });
    let resp = http.put(&url).bearer_auth(token).json(&body).send().await.map_err(|e| e.to_string())?;
    let status = resp.status();
    if !status.is_success() {
        let text = resp.text().await.unwrap_or_default();
        return Err(format!("cannot apply the bench profile `{name}`: HTTP {status}: {text}"));
    }
    Ok(())
}

/// One JSON request body per CSR, generated on every core.
async fn generate_bodies(n: usize, subject: &str, profile: &str) -> Result<Vec<bytes::Bytes>, String> {
    let workers = std::thread::available_parallelism().map(|p| p.get()).unwrap_or(2);
    let per = n.div_ceil(workers);
    let mut handles = Vec::new();
    for w in 0..workers {
        let (subject, profile) = (subject.to_string(), profile.to_string());
        let range = (w * per)..((w + 1) * per).min(n);
        handles.push(tokio::task::spawn_blocking(move || -> Result<Vec<bytes::Bytes>, String> {
            let mut out = Vec::with_capacity(range.len());
            for i in range {
                let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| e.to_string())?;
                let params = rcgen::CertificateParams::new(vec![format!("bench-{i}.internal")]).map_err(|e| e.to_string())?;
                let csr = params.serialize_request(&key).map_err(|e| e.to_string())?.pem().map_err(|e| e.to_string())?;
                let body = serde_json::json!({ "subject": subject, "profile": profile, "csr": csr, "ttl": "1h" });
                out.push(bytes::Bytes::from(serde_json::to_vec(&body).map_err(|e| e.to_string())?));
            }
            Ok(out)
        }));
    }
    let mut all = Vec::with_capacity(n);
    for h in handles {
        all.extend(h.await.map_err(|e| e.to_string())??);
    }
    Ok(all)
}

/// Raw ECDSA P-256 (SHA-256) sign and verify operations per second, one core.
fn raw_p256_rates() -> Result<(f64, f64), String> {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair, UnparsedPublicKey};
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).map_err(|e| e.to_string())?;
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).map_err(|e| e.to_string())?;
    let msg = [0x5au8; 512];
    let window = Duration::from_secs(1);
    let t = Instant::now();
    let mut signs = 0u64;
    let mut sig = key.sign(&rng, &msg).map_err(|e| e.to_string())?;
    while t.elapsed() < window {
        sig = key.sign(&rng, &msg).map_err(|e| e.to_string())?;
        signs += 1;
    }
    let sign_rate = signs as f64 / t.elapsed().as_secs_f64();
    let public = UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, key.public_key().as_ref().to_vec());
    let t = Instant::now();
    let mut verifies = 0u64;
    while t.elapsed() < window {
        public.verify(&msg, sig.as_ref()).map_err(|_| "verify failed")?;
        verifies += 1;
    }
    Ok((sign_rate, verifies as f64 / t.elapsed().as_secs_f64()))
}

/// CPU time (user + system, all threads) a process has used so far, seconds,
/// from `/proc/PID/stat` (fields 14 and 15, in Linux's fixed 100 Hz clock ticks).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Peak resident set size of a process, MiB (Linux `VmHWM`).
fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

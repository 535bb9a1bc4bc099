//! Serving: HTTPS through rustls (TLS 1.2 and 1.3, aws-lc), or plain HTTP
//! (on loopback when explicitly asked for, `insecure_http`; and for the
//! public status listener, `status_listen`), by one accept loop
//! ([`serve_with`]) with the same timeouts and the same stop.
//!
//! The TLS server asks for a client certificate but does not require one. A
//! certificate that is presented must chain to Signet's own root (rustls
//! `WebPkiClientVerifier`, validity and the clientAuth EKU checked), or the
//! handshake fails; a verified certificate reaches each request of the
//! connection as a [`ClientCertificate`] extension, and
//! [`crate::extract::Authed`] decides whether it authenticates an operator.

use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rustls::DistinguishedName;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;

/// The server's own certificate, swappable while serving (renewal), and
/// the CA its clients' certificates must chain to (none while sealed: no
/// client certificate is asked for then).
#[derive(Debug)]
pub struct ServerCert {
    key: RwLock<Arc<CertifiedKey>>,
    clients: RwLock<Option<ClientTrust>>,
}

/// Signet's root, as the trust anchor of client certificates, and its issuing
/// CA certificates, added to the chain of a client that sent only its leaf.
#[derive(Debug, Clone)]
struct ClientTrust {
    verifier: Arc<dyn ClientCertVerifier>,
    intermediates: Arc<Vec<CertificateDer<'static>>>,
}

impl ServerCert {
    pub fn new(chain_der: &[Vec<u8>], key_pkcs8_der: &[u8]) -> Result<Self, String> {
        Ok(Self { key: RwLock::new(Arc::new(certified_key(chain_der, key_pkcs8_der)?)), clients: RwLock::new(None) })
    }

    pub fn replace(&self, chain_der: &[Vec<u8>], key_pkcs8_der: &[u8]) -> Result<(), String> {
        let ck = Arc::new(certified_key(chain_der, key_pkcs8_der)?);
        match self.key.write() {
            Ok(mut g) => *g = ck,
            Err(p) => *p.into_inner() = ck,
        }
        Ok(())
    }

    /// Ask TLS clients for a certificate chaining to `root_der` (through one
    /// of `issuing_ders`), from the next handshake on. Without a certificate a
    /// client is still served (tokens, public endpoints).
    pub fn trust_clients_of(&self, root_der: &[u8], issuing_ders: &[Vec<u8>]) -> Result<(), String> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from(root_der.to_vec())).map_err(|e| format!("client CA: {e}"))?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .allow_unauthenticated()
            .build()
            .map_err(|e| format!("client certificate verifier: {e}"))?;
        let intermediates = Arc::new(issuing_ders.iter().map(|d| CertificateDer::from(d.clone())).collect());
        let trust = ClientTrust { verifier, intermediates };
        match self.clients.write() {
            Ok(mut g) => *g = Some(trust),
            Err(p) => *p.into_inner() = Some(trust),
        }
        Ok(())
    }

    fn client_trust(&self) -> Option<ClientTrust> {
        match self.clients.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
}

fn certified_key(chain_der: &[Vec<u8>], key_pkcs8_der: &[u8]) -> Result<CertifiedKey, String> {
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pkcs8_der.to_vec()));
    let signing_key = provider.key_provider.load_private_key(key).map_err(|e| format!("server key: {e}"))?;
    let chain = chain_der.iter().map(|c| CertificateDer::from(c.clone())).collect();
    Ok(CertifiedKey::new(chain, signing_key))
}

impl ResolvesServerCert for ServerCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        match self.key.read() {
            Ok(g) => Some(g.clone()),
            Err(p) => Some(p.into_inner().clone()),
        }
    }
}

/// Client certificates, verified against the trust [`ServerCert`] holds now.
#[derive(Debug)]
struct ClientVerifier {
    cert: Arc<ServerCert>,
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for ClientVerifier {
    fn offer_client_auth(&self) -> bool {
        self.cert.client_trust().is_some()
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // No hints: clients send the certificate they were configured with.
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let trust = self.cert.client_trust().ok_or(rustls::Error::General("no client certificate was asked for".into()))?;
        if intermediates.is_empty() {
            // A client that sent only its leaf: complete the chain with our issuing CA.
            trust.verifier.verify_client_cert(end_entity, &trust.intermediates, now)
        } else {
            trust.verifier.verify_client_cert(end_entity, intermediates, now)
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Attached to every request that arrived over TLS (the HTTPS listener);
/// absent on the plain-HTTP ones (`insecure_http`, `status_listen`).
#[derive(Debug, Clone, Copy)]
pub struct OverTls;

/// The client certificate a connection's TLS handshake verified (DER of the
/// leaf), attached to every request of that connection.
#[derive(Debug, Clone)]
pub struct ClientCertificate(pub Arc<Vec<u8>>);

/// The rustls configuration: TLS 1.2 and 1.3 only, HTTP/1.1, a client
/// certificate asked for (once [`ServerCert::trust_clients_of`] was called) but optional.
pub fn tls_config(cert: Arc<ServerCert>) -> Result<rustls::ServerConfig, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = Arc::new(ClientVerifier { cert: cert.clone(), algorithms: provider.signature_verification_algorithms });
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("tls: {e}"))?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(cert);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// How long a stopping server waits for its connections' requests in flight.
pub const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// How long a connection may take to send a request's head (its request
/// line and headers), counted from when the server waits for it, so also
/// how long a keep-alive connection may sit idle. A client that holds a
/// connection open without sending a request (slowloris) loses it.
pub const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The most a closing connection reads and discards of what its client
/// still sends ([`LingeringClose`]).
pub const LINGER_MAX_BYTES: u64 = 8 * 1024 * 1024;

/// How long a closing connection waits at most for its client to stop
/// sending ([`LingeringClose`]), in all...
pub const LINGER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// ...and without receiving anything.
pub const LINGER_IDLE: std::time::Duration = std::time::Duration::from_secs(2);

/// A TCP connection that closes gracefully ("lingering close", RFC 9112
/// 9.6): when the server closes it (hyper shuts it down once the last
/// response is written), it first shuts down its write side (the client
/// reads the whole response, then the end), then reads and discards what
/// the client still sends until the client closes too, at most
/// [`LINGER_MAX_BYTES`], [`LINGER_TIMEOUT`] in all and [`LINGER_IDLE`]
/// without data. Only then is the socket closed. A socket closed with
/// unread data makes the kernel send a reset, which destroys the response
/// the client has not read yet: the 413 answer to an oversized body
/// (refused after its first 256 KiB) was lost so in a quarter to half of
/// the attempts. The bounds keep a client that keeps sending, or trickles,
/// from holding the connection open.
#[derive(Debug)]
pub struct LingeringClose<T> {
    io: T,
    linger: Option<Linger>,
}

#[derive(Debug)]
struct Linger {
    write_shut: bool,
    discarded: u64,
    deadline: std::pin::Pin<Box<tokio::time::Sleep>>,
    idle: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl<T> LingeringClose<T> {
    pub fn new(io: T) -> Self {
        Self { io, linger: None }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for LingeringClose<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for LingeringClose<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[std::io::IoSlice<'_>]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    /// Shut the write side, then read and discard until the client closes
    /// or a bound is reached; see [`LingeringClose`].
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let linger = this.linger.get_or_insert_with(|| Linger {
            write_shut: false,
            discarded: 0,
            deadline: Box::pin(tokio::time::sleep(LINGER_TIMEOUT)),
            idle: Box::pin(tokio::time::sleep(LINGER_IDLE)),
        });
        if !linger.write_shut {
            std::task::ready!(Pin::new(&mut this.io).poll_shutdown(cx))?;
            linger.write_shut = true;
        }
        let mut scratch = [0u8; 8192];
        loop {
            if linger.discarded >= LINGER_MAX_BYTES
                || linger.deadline.as_mut().poll(cx).is_ready()
                || linger.idle.as_mut().poll(cx).is_ready()
            {
                return Poll::Ready(Ok(()));
            }
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut this.io).poll_read(cx, &mut buf) {
                Poll::Pending => return Poll::Pending,
                // The client closed (or reset): nothing is left unread.
                Poll::Ready(Err(_)) => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => {
                    linger.discarded = linger.discarded.saturating_add(buf.filled().len() as u64);
                    linger.idle.as_mut().reset(tokio::time::Instant::now() + LINGER_IDLE);
                }
            }
        }
    }
}

/// Serve `app` over HTTPS until `shutdown` resolves; see [`serve_with`].
pub async fn serve_tls(
    listener: TcpListener,
    app: Router,
    tls: rustls::ServerConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    serve_with(listener, app, Some(tls), shutdown, HEADER_READ_TIMEOUT).await
}

/// Serve `app` over plain HTTP (`insecure_http` on loopback, or the public
/// status listener) until `shutdown` resolves; see [`serve_with`].
pub async fn serve_plain(listener: TcpListener, app: Router, shutdown: impl std::future::Future<Output = ()>) -> std::io::Result<()> {
    serve_with(listener, app, None, shutdown, HEADER_READ_TIMEOUT).await
}

/// Serve `app` on `listener`, over TLS when `tls` is given, until `shutdown`
/// resolves; then stop accepting, let the requests in flight finish (idle
/// keep-alive connections are closed at once) and return, at most
/// [`DRAIN_TIMEOUT`] later. Each request carries the client's address
/// (`ConnectInfo`), and over TLS [`OverTls`] and the verified
/// [`ClientCertificate`], if any. A connection that does not complete its TLS
/// handshake in 10 s, or a request head in `header_read_timeout`, is closed.
/// A connection the server closes lingers first ([`LingeringClose`]), so
/// that its last response reaches the client.
pub async fn serve_with(
    listener: TcpListener,
    app: Router,
    tls: Option<rustls::ServerConfig>,
    shutdown: impl std::future::Future<Output = ()>,
    header_read_timeout: std::time::Duration,
) -> std::io::Result<()> {
    let acceptor = tls.map(|tls| tokio_rustls::TlsAcceptor::from(Arc::new(tls)));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.keep_alive(true).timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(header_read_timeout);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer): (_, SocketAddr) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let tcp = LingeringClose::new(tcp);
        let (acceptor, app, http) = (acceptor.clone(), app.clone(), http.clone());
        // Taken before the handshake, so that a stop during it waits for it too.
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let Some(acceptor) = acceptor else {
                let app = with_connection(app, peer, None);
                let conn = http.serve_connection(TokioIo::new(tcp), TowerToHyperService::new(app));
                if let Err(e) = watcher.watch(conn).await {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            };
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            // The client certificate the handshake verified, if any.
            let client_cert = tls.get_ref().1.peer_certificates().and_then(|c| c.first()).map(|c| ClientCertificate(Arc::new(c.to_vec())));
            let app = with_connection(app, peer, Some(client_cert));
            let conn = http.serve_connection(TokioIo::new(tls), TowerToHyperService::new(app));
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    let open = graceful.count();
    if open > 0 {
        tracing::info!(connections = open, "waiting for the requests in flight");
    }
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await.is_err() {
        tracing::warn!(timeout_seconds = DRAIN_TIMEOUT.as_secs(), "connections still open after the drain timeout: closing them");
    }
    Ok(())
}

/// `app` with what every request of one connection carries: the client's
/// address (`/v1/sys/unseal` logs who called) and, over TLS (`tls` is
/// `Some`), [`OverTls`] and the verified client certificate, if any.
fn with_connection(
    app: Router,
    peer: SocketAddr,
    tls: Option<Option<ClientCertificate>>,
) -> impl tower::Service<
    axum::http::Request<hyper::body::Incoming>,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone {
    tower::ServiceExt::map_request(app, move |mut req: axum::http::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
        if let Some(client_cert) = &tls {
            req.extensions_mut().insert(OverTls);
            if let Some(c) = client_cert {
                req.extensions_mut().insert(c.clone());
            }
        }
        req
    })
}

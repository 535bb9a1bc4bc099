//! Serving: HTTPS through rustls (TLS 1.2 and 1.3, aws-lc), or plain HTTP on
//! loopback when explicitly asked for.

use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use tokio::net::TcpListener;

/// The server's own certificate, swappable while serving (renewal).
#[derive(Debug)]
pub struct ServerCert(RwLock<Arc<CertifiedKey>>);

impl ServerCert {
    pub fn new(chain_der: &[Vec<u8>], key_pkcs8_der: &[u8]) -> Result<Self, String> {
        Ok(Self(RwLock::new(Arc::new(certified_key(chain_der, key_pkcs8_der)?))))
    }

    pub fn replace(&self, chain_der: &[Vec<u8>], key_pkcs8_der: &[u8]) -> Result<(), String> {
        let ck = Arc::new(certified_key(chain_der, key_pkcs8_der)?);
        match self.0.write() {
            Ok(mut g) => *g = ck,
            Err(p) => *p.into_inner() = ck,
        }
        Ok(())
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
        match self.0.read() {
            Ok(g) => Some(g.clone()),
            Err(p) => Some(p.into_inner().clone()),
        }
    }
}

/// The rustls configuration: TLS 1.2 and 1.3 only, HTTP/1.1.
pub fn tls_config(cert: Arc<ServerCert>) -> Result<rustls::ServerConfig, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("tls: {e}"))?
        .with_no_client_auth()
        .with_cert_resolver(cert);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Serve `app` over HTTPS until `shutdown` resolves.
pub async fn serve_tls(
    listener: TcpListener,
    app: Router,
    tls: rustls::ServerConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
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
            () = &mut shutdown => return Ok(()),
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(std::time::Duration::from_secs(10), acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            // The client's address, for handlers that log who called (`/v1/sys/unseal`).
            let app = tower::ServiceExt::map_request(app, move |mut req: axum::http::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
                req
            });
            let service = TowerToHyperService::new(app);
            let conn = hyper::server::conn::http1::Builder::new().keep_alive(true).serve_connection(TokioIo::new(tls), service);
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}

/// Serve `app` over plain HTTP (only reachable when `insecure_http` passed the loopback check).
pub async fn serve_plain(
    listener: TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).with_graceful_shutdown(shutdown).await
}

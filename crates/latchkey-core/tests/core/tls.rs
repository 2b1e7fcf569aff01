//! HTTPS with rustls' `ring` provider against a TLS server on 127.0.0.1
//! (fixtures: a test CA and a `localhost`/`127.0.0.1` leaf it signed, valid
//! until 2126). Proves the client Latchkey builds does real TLS, trusts what
//! it should and refuses what it should not.

use std::sync::Arc;

use latchkey_core::{ErrorKind, Fapi, Instance, http_client_builder};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CA: &[u8] = include_bytes!("../fixtures/tls-ca.crt");
const LEAF: &[u8] = include_bytes!("../fixtures/tls-localhost.crt");
const LEAF_KEY: &[u8] = include_bytes!("../fixtures/tls-localhost.key");

/// Reads an HTTP request head (up to the blank line, 8 KiB at most); `None`
/// when the peer closes first.
pub async fn read_head(s: &mut (impl tokio::io::AsyncRead + Unpin)) -> Option<String> {
    let mut buf = vec![0u8; 8192];
    let mut got = 0;
    while !buf[..got].windows(4).any(|w| w == b"\r\n\r\n") && got < buf.len() {
        match s.read(&mut buf[got..]).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => got += n,
        }
    }
    Some(String::from_utf8_lossy(&buf[..got]).into_owned())
}

/// A TLS server answering every request with a small JSON body. Returns its
/// port and how many requests got through the handshake.
pub async fn tls_server() -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
    let _ = http_client_builder(); // installs the ring provider
    let cert = CertificateDer::from_pem_slice(LEAF).expect("leaf pem");
    let key = PrivateKeyDer::from_pem_slice(LEAF_KEY).expect("key pem");
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let served = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = served.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let counter = counter.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                if read_head(&mut tls).await.is_none() {
                    return;
                }
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let body = br#"{"ok":true}"#;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = tls.write_all(head.as_bytes()).await;
                let _ = tls.write_all(body).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (port, served)
}

#[tokio::test]
async fn a_trusted_certificate_completes_the_handshake() {
    let (port, served) = tls_server().await;
    let ca = reqwest::Certificate::from_pem(CA).unwrap();
    let http = http_client_builder().tls_certs_only([ca]).build().unwrap();
    let res = http
        .get(format!("https://127.0.0.1:{port}/v1/environment"))
        .send()
        .await
        .expect("TLS request with the test CA trusted");
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), r#"{"ok":true}"#);
    assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 1);
    // The provider is the one we install, not one some dependency chose.
    let provider = rustls::crypto::CryptoProvider::get_default().expect("installed");
    let ring = rustls::crypto::ring::default_provider();
    assert_eq!(
        provider
            .cipher_suites
            .iter()
            .map(|s| s.suite())
            .collect::<Vec<_>>(),
        ring.cipher_suites
            .iter()
            .map(|s| s.suite())
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_clerk_instance_refuses_an_untrusted_certificate_and_says_why() {
    // A "Clerk instance" whose Frontend API is the TLS server: the system's
    // roots do not include the test CA, so nothing may get through, and the
    // error names the certificate rather than a vague network failure.
    let (port, served) = tls_server().await;
    use base64::Engine as _;
    let host = format!("127.0.0.1:{port}$");
    let key = format!(
        "pk_test_{}",
        base64::engine::general_purpose::STANDARD.encode(host)
    );
    let instance = Instance::from_publishable_key(&key).unwrap();
    let e = Fapi::new(instance, None)
        .unwrap()
        .environment()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Network);
    assert!(
        e.to_string().contains("certificate"),
        "the message says the certificate is the problem: {e}"
    );
    assert_eq!(
        served.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "no request passed the handshake"
    );
}

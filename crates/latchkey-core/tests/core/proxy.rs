//! Clerk traffic through the system's proxy, over real sockets: an HTTP
//! CONNECT proxy on 127.0.0.1 that records what it is asked for and tunnels
//! to the TLS test server. A Clerk instance's requests go through it (the
//! TLS handshake crosses the tunnel: the test certificate is refused, which
//! only happens if the bytes got there); `NO_PROXY` sends them around it;
//! the local demo instance never uses it, even with `NO_PROXY` unset.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use latchkey_core::proxy::ProxyEnv;
use latchkey_core::{ErrorKind, Fapi, Instance};
use tokio::io::AsyncWriteExt;

use super::common;
use super::tls::{read_head, tls_server};

/// A CONNECT proxy: records each request line, and tunnels every CONNECT to
/// `127.0.0.1:<upstream>` whatever host it names. Anything else gets 405.
async fn connect_proxy(upstream: u16) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let Some(head) = read_head(&mut client).await else {
                    return;
                };
                let line = head.lines().next().unwrap_or_default().to_owned();
                log.lock().unwrap().push(line.clone());
                if !line.starts_with("CONNECT ") {
                    let _ = client
                        .write_all(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n")
                        .await;
                    return;
                }
                let Ok(mut server) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                else {
                    return;
                };
                if client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await
                    .is_err()
                {
                    return;
                }
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            });
        }
    });
    (port, seen)
}

fn clerk_instance(host: &str) -> Instance {
    use base64::Engine as _;
    let key = format!(
        "pk_test_{}",
        base64::engine::general_purpose::STANDARD.encode(format!("{host}$"))
    );
    Instance::from_publishable_key(&key).unwrap()
}

fn proxy_env(pairs: &[(&str, String)]) -> ProxyEnv {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    ProxyEnv::from_vars(&move |k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
}

#[tokio::test]
async fn a_clerk_instance_goes_through_https_proxy() {
    let (tls_port, served) = tls_server().await;
    let (proxy_port, seen) = connect_proxy(tls_port).await;
    let env = proxy_env(&[("HTTPS_PROXY", format!("http://127.0.0.1:{proxy_port}"))]);
    // A host that resolves nowhere: only the proxy can reach it.
    let instance = clerk_instance("clerk.example.test");
    let url = instance.frontend_api().clone();
    assert_eq!(
        env.describe(&url),
        format!("through the proxy http://127.0.0.1:{proxy_port}")
    );
    let fapi = Fapi::with_proxy(instance, None, Duration::from_secs(10), &env).unwrap();
    let e = fapi.environment().await.unwrap_err();
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        ["CONNECT clerk.example.test:443 HTTP/1.1"],
        "the proxy was asked for the instance's host"
    );
    // The handshake crossed the tunnel and the test certificate was refused.
    assert_eq!(e.kind(), &ErrorKind::Network);
    assert!(e.to_string().contains("certificate"), "{e}");
    assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[tokio::test]
async fn no_proxy_sends_a_clerk_instance_around_the_proxy() {
    let (tls_port, _) = tls_server().await;
    let (proxy_port, seen) = connect_proxy(tls_port).await;
    let env = proxy_env(&[
        ("HTTPS_PROXY", format!("http://127.0.0.1:{proxy_port}")),
        ("NO_PROXY", "example.test".to_owned()),
    ]);
    let instance = clerk_instance("clerk.example.test");
    assert_eq!(
        env.describe(instance.frontend_api()),
        "directly (NO_PROXY lists this host)"
    );
    let fapi = Fapi::with_proxy(instance, None, Duration::from_secs(5), &env).unwrap();
    // Directly: the name does not resolve (or the request times out).
    assert!(fapi.environment().await.is_err());
    assert!(
        seen.lock().unwrap().is_empty(),
        "{:?}",
        seen.lock().unwrap()
    );
}

#[tokio::test]
async fn the_local_demo_instance_is_never_proxied() {
    let demo = common::env().await;
    let (proxy_port, seen) = connect_proxy(1).await;
    let env = proxy_env(&[
        ("HTTPS_PROXY", format!("http://127.0.0.1:{proxy_port}")),
        ("ALL_PROXY", format!("http://127.0.0.1:{proxy_port}")),
    ]);
    assert_eq!(
        env.describe(demo.instance.frontend_api()),
        "directly (loopback is never proxied)"
    );
    let fapi =
        Fapi::with_proxy(demo.instance.clone(), None, Duration::from_secs(10), &env).unwrap();
    fapi.environment().await.expect("the demo answers directly");
    assert!(
        seen.lock().unwrap().is_empty(),
        "{:?}",
        seen.lock().unwrap()
    );
}

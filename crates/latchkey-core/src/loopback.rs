//! The loopback redirect fallback (RFC 8252 §7.3): a listener on
//! `127.0.0.1:<ephemeral port>` that takes exactly one request, answers a
//! short page, and closes.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::callback::{Callback, parse_loopback_target};
use crate::error::{Error, ErrorKind, Result};

const MAX_REQUEST: usize = 8 * 1024;

/// A one-shot callback listener bound to 127.0.0.1 only.
pub struct LoopbackListener {
    listener: TcpListener,
    port: u16,
}

impl LoopbackListener {
    /// Binds `127.0.0.1:0`.
    pub async fn bind() -> Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.map_err(|_| {
            Error::new(
                ErrorKind::Network,
                "could not open a loopback port for the sign-in callback",
            )
        })?;
        let port = listener
            .local_addr()
            .map_err(|_| Error::new(ErrorKind::Network, "could not read the loopback port"))?
            .port();
        Ok(Self { listener, port })
    }

    /// The ephemeral port (for the redirect URL).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The address it listens on (always 127.0.0.1).
    pub fn local_addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `http://127.0.0.1:<port>/callback`.
    pub fn redirect_url(&self) -> String {
        format!("http://127.0.0.1:{}/callback", self.port)
    }

    /// Waits for one request (up to `timeout`), answers it, closes the
    /// listener, and returns the parsed callback.
    pub async fn accept(self, timeout: Duration) -> Result<Callback> {
        let (mut sock, _) = tokio::time::timeout(timeout, self.listener.accept())
            .await
            .map_err(|_| Error::new(ErrorKind::SignIn, "the sign-in did not come back in time"))?
            .map_err(|_| {
                Error::new(
                    ErrorKind::Network,
                    "the loopback callback connection failed",
                )
            })?;
        drop(self.listener); // one request only
        let mut buf = Vec::with_capacity(1024);
        let read = tokio::time::timeout(Duration::from_secs(10), async {
            let mut chunk = [0u8; 1024];
            loop {
                let n = sock.read(&mut chunk).await.map_err(|_| ())?;
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.len() >= MAX_REQUEST {
                    break;
                }
            }
            Ok::<_, ()>(())
        })
        .await;
        let parsed = match read {
            Ok(Ok(())) => request_target(&buf)
                .ok_or_else(|| {
                    Error::new(ErrorKind::Callback, "rejected callback: not an HTTP GET")
                })
                .and_then(parse_loopback_target),
            _ => Err(Error::new(
                ErrorKind::Callback,
                "rejected callback: the request did not arrive",
            )),
        };
        let (status, text) = match &parsed {
            Ok(Callback::Failed { .. }) => (
                "200 OK",
                "Sign-in was not completed. You can close this tab and return to Latchkey.",
            ),
            Ok(_) => (
                "200 OK",
                "Signed in. You can close this tab and return to Latchkey.",
            ),
            Err(_) => (
                "400 Bad Request",
                "This sign-in link is not valid. Return to Latchkey and try again.",
            ),
        };
        let body = format!(
            "<!doctype html><meta charset=\"utf-8\"><title>Latchkey</title><p style=\"font:16px system-ui;margin:3em\">{text}</p>"
        );
        let res = format!(
            "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = sock.write_all(res.as_bytes()).await;
        let _ = sock.shutdown().await;
        parsed
    }
}

fn request_target(buf: &[u8]) -> Option<&str> {
    let line_end = buf.windows(2).position(|w| w == b"\r\n")?;
    let line = std::str::from_utf8(&buf[..line_end]).ok()?;
    let mut parts = line.split(' ');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("GET"), Some(target), Some(v)) if v.starts_with("HTTP/") => Some(target),
        _ => None,
    }
}

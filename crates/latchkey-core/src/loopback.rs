//! The loopback redirect fallback (RFC 8252 §7.3): a listener on
//! `127.0.0.1:<ephemeral port>` that waits for the callback of its sign-in,
//! answers a short page, and closes.

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

    /// Serves until a callback completes the sign-in it belongs to (or
    /// `timeout` passes): each request is parsed and given to `handle`;
    /// what is not a callback, or what `handle` refuses as not belonging
    /// (a [`ErrorKind::Callback`] error), gets a 400 page and the listener
    /// keeps waiting, so a stray or forged connection cannot close it. The
    /// first other answer is shown to the browser and returned; then the
    /// listener closes.
    pub async fn serve<T, F, Fut>(self, timeout: Duration, mut handle: F) -> Result<T>
    where
        F: FnMut(Callback) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let (mut sock, _) = tokio::time::timeout_at(deadline, self.listener.accept())
                .await
                .map_err(|_| {
                    Error::new(ErrorKind::SignIn, "the sign-in did not come back in time")
                })?
                .map_err(|_| {
                    Error::new(
                        ErrorKind::Network,
                        "the loopback callback connection failed",
                    )
                })?;
            let parsed = read_callback(&mut sock).await;
            let result = match parsed {
                Ok(cb) => {
                    let failed = matches!(cb, Callback::Failed { .. });
                    let r = handle(cb).await;
                    match &r {
                        Err(e) if e.kind() == &ErrorKind::Callback => None,
                        Ok(_) if !failed => Some((r, OK_PAGE)),
                        _ => Some((r, NOT_DONE_PAGE)),
                    }
                }
                Err(_) => None,
            };
            match result {
                Some((r, page)) => {
                    respond(&mut sock, "200 OK", page).await;
                    return r;
                }
                None => respond(&mut sock, "400 Bad Request", BAD_PAGE).await,
            }
        }
    }
}

const OK_PAGE: &str = "Signed in. You can close this tab and return to Latchkey.";
const NOT_DONE_PAGE: &str =
    "Sign-in was not completed. You can close this tab and return to Latchkey.";
const BAD_PAGE: &str = "This sign-in link is not valid. Return to Latchkey and try again.";

/// Reads one request (10 s, 8 KiB at most) and parses its target.
async fn read_callback(sock: &mut tokio::net::TcpStream) -> Result<Callback> {
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
    match read {
        Ok(Ok(())) => request_target(&buf)
            .ok_or_else(|| Error::new(ErrorKind::Callback, "rejected callback: not an HTTP GET"))
            .and_then(parse_loopback_target),
        _ => Err(Error::new(
            ErrorKind::Callback,
            "rejected callback: the request did not arrive",
        )),
    }
}

async fn respond(sock: &mut tokio::net::TcpStream, status: &str, text: &str) {
    let body = format!(
        "<!doctype html><meta charset=\"utf-8\"><title>Latchkey</title><p style=\"font:16px system-ui;margin:3em\">{text}</p>"
    );
    let res = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = sock.write_all(res.as_bytes()).await;
    let _ = sock.shutdown().await;
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

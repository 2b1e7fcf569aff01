//! A full hosted-auth sign-in over a real socket on 127.0.0.1: an HTTP
//! client reads the Account Portal page's HTML, submits the form it finds
//! there, and follows the redirect to the app's (loopback) callback.

use serde_json::Value;

use crate::common::*;
use crate::sign_in::pkce;

/// The value of `name="<field>" value="…"` in the first form containing
/// `marker`.
fn form_value(html: &str, marker: &str, field: &str) -> String {
    let form = html
        .split("<form")
        .find(|f| f.contains(marker))
        .unwrap_or_else(|| panic!("no form with {marker}"));
    let needle = format!("name=\"{field}\" value=\"");
    let start = form
        .find(&needle)
        .unwrap_or_else(|| panic!("no {field} in form"))
        + needle.len();
    form[start..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn hosted_auth_over_a_real_socket_through_the_html_pages() {
    let emu = start().await;
    let base = emu.frontend_api_url().to_owned();
    let http = http()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let q = [("_is_native", "1"), ("__clerk_api_version", API_VERSION)];
    let (verifier, challenge) = pkce();

    // A loopback listener stands in for the app's callback.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let redirect = format!(
        "http://127.0.0.1:{}/callback",
        listener.local_addr().unwrap().port()
    );

    let res = http
        .post(format!("{base}/v1/client/hosted_auth"))
        .query(&q)
        .form(&[
            ("redirect_url", redirect.as_str()),
            ("code_challenge", &challenge),
            ("state", "socket-state"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut credential = res.headers()["authorization"].to_str().unwrap().to_owned();
    let body: Value = res.json().await.unwrap();
    let url = body["response"]["url"].as_str().unwrap().to_owned();
    assert!(
        url.starts_with(&base),
        "the page is served by the emulator: {url}"
    );

    let html = http.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Grace Hopper"));
    let attempt = form_value(&html, "Continue as Grace Hopper", "attempt");
    let user_id = form_value(&html, "Continue as Grace Hopper", "user_id");
    let res = http
        .post(format!("{base}/hosted/sign-in"))
        .form(&[("attempt", attempt), ("user_id", user_id)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&redirect));

    // The browser follows the redirect to the loopback callback.
    let accept = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut buf = vec![0u8; 4096];
        let n = sock.read(&mut buf).await.unwrap();
        sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
            .await
            .unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    });
    assert_eq!(http.get(&location).send().await.unwrap().status(), 200);
    let request_line = accept.await.unwrap();
    let target = request_line.split_whitespace().nth(1).unwrap().to_owned();
    let params: Vec<(String, String)> =
        url::form_urlencoded::parse(target.split_once('?').unwrap().1.as_bytes())
            .into_owned()
            .collect();
    let get = |k: &str| {
        params
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(get("state"), "socket-state");

    let res = http
        .post(format!("{base}/v1/client"))
        .query(&q)
        .header("authorization", &credential)
        .form(&[
            ("_method", "GET"),
            ("rotating_token_nonce", get("rotating_token_nonce").as_str()),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    credential = res.headers()["authorization"].to_str().unwrap().to_owned();
    let client: Value = res.json().await.unwrap();
    assert_eq!(
        client["response"]["last_active_session_id"],
        get("created_session_id").as_str()
    );
    let sid = get("created_session_id");
    let tok: Value = http
        .post(format!("{base}/v1/client/sessions/{sid}/tokens"))
        .query(&q)
        .header("authorization", &credential)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        decode_jwt(tok["jwt"].as_str().unwrap()).1["sub"],
        emu.user_id("grace@example.com").unwrap().as_str()
    );
}

/// DNS rebinding: a web page whose own name resolves to 127.0.0.1 sends
/// that name in `Host`; the local Clerk answers only its own.
#[tokio::test]
async fn only_requests_addressed_to_this_server_are_answered() {
    let emu = start().await;
    let port = emu.addr().port();
    let base = emu.frontend_api_url().to_owned();
    let http = http().build().unwrap();
    let env = |host: &str| {
        http.get(format!(
            "{base}/v1/environment?_is_native=1&__clerk_api_version={API_VERSION}"
        ))
        .header("host", host)
        .send()
    };
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("LOCALHOST:{port}"),
    ] {
        assert_eq!(env(&host).await.unwrap().status(), 200, "{host}");
    }
    for host in [
        format!("evil.example:{port}"),
        "127.0.0.1".to_owned(),
        format!("127.0.0.1:{}", port.wrapping_add(1)),
        format!("rebind.127.0.0.1.nip.io:{port}"),
    ] {
        let r = env(&host).await.unwrap();
        assert_eq!(r.status(), 421, "{host}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["errors"][0]["code"], "host_invalid");
    }
    // The HTML pages too.
    let page = http
        .get(format!("{base}/demo"))
        .header("host", format!("evil.example:{port}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 421);
}

/// A web page cannot submit the local Clerk's sign-in forms.
#[tokio::test]
async fn the_pages_refuse_cross_origin_form_posts() {
    let emu = start().await;
    let base = emu.frontend_api_url().to_owned();
    let http = http()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let uid = emu.user_id("ada@example.com").unwrap();
    let post = |origin: Option<&str>, site: Option<&str>| {
        let mut b = http
            .post(format!("{base}/demo/sign-in"))
            .form(&[("user_id", uid.as_str())]);
        if let Some(o) = origin {
            b = b.header("origin", o);
        }
        if let Some(s) = site {
            b = b.header("sec-fetch-site", s);
        }
        b.send()
    };
    for (origin, site) in [
        (Some("https://evil.example"), None),
        (Some("null"), None),
        (None, Some("cross-site")),
    ] {
        assert_eq!(
            post(origin, site).await.unwrap().status(),
            403,
            "{origin:?} {site:?}"
        );
    }
    // Its own pages (and a client that sends no Origin) may.
    assert_eq!(
        post(Some(&base), Some("same-origin"))
            .await
            .unwrap()
            .status(),
        303
    );
    assert_eq!(post(None, None).await.unwrap().status(), 303);
}

//! `latchkey sign-in`: hosted auth (or a social provider) in the browser,
//! back through a one-time loopback listener (a command line cannot
//! receive the app's deep links).

use std::time::Duration;

use latchkey_core::{LoopbackListener, Outcome, Redirect};

use crate::Ctx;
use crate::args::Select;
use crate::fail::{Fail, Out, code};
use crate::output::who;
use crate::select::instance_for;

/// `sign-in [--provider P] [--timeout SECS]`.
pub async fn sign_in(ctx: &Ctx, sel: &Select, provider: Option<&str>, timeout: u64) -> Out<u8> {
    let inst = instance_for(ctx, sel).await?;
    let listener = LoopbackListener::bind().await?;
    let strategy = provider.map(|p| {
        if p.starts_with("oauth_") {
            p.to_owned()
        } else {
            format!("oauth_{p}")
        }
    });
    let started = ctx
        .engine
        .start_sign_in(
            inst.id(),
            strategy.as_deref(),
            Redirect::Loopback(listener.port()),
        )
        .await?;
    if latchkey_host::browser::open(&started.url) {
        eprintln!(
            "Continue in your browser. If it did not open, visit:\n  {}",
            started.url
        );
    } else {
        eprintln!(
            "Could not open a browser. Open this link to sign in:\n  {}",
            started.url
        );
    }
    eprintln!("Waiting for the sign-in to finish (Ctrl-C to cancel)…");
    let cb = tokio::select! {
        r = listener.accept(Duration::from_secs(timeout)) => r,
        _ = tokio::signal::ctrl_c() => {
            ctx.engine.cancel_sign_in(inst.id()).await;
            return Err(Fail::new(code::FAILED, "sign-in cancelled"));
        }
    };
    let cb = match cb {
        Ok(cb) => cb,
        Err(e) => {
            ctx.engine.cancel_sign_in(inst.id()).await;
            return Err(e.into());
        }
    };
    if let Outcome::SignedIn { session, .. } = ctx.engine.handle_callback(cb).await? {
        let a = ctx
            .engine
            .accounts()
            .await
            .into_iter()
            .find(|a| a.account.session_id == session);
        match a {
            Some(a) => println!("Signed in as {}", who(&a)),
            None => println!("Signed in ({session})"),
        }
    }
    Ok(code::OK)
}

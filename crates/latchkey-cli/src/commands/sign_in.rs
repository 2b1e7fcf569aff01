//! `latchkey sign-in`: hosted auth (or a social provider) in the browser,
//! back through a one-time loopback listener for the local demo instance
//! (or with `--loopback`), through the desktop app for a real Clerk
//! instance (or with `--via-app`). See `browser.rs`.

use std::time::Duration;

use latchkey_core::Outcome;

use crate::Ctx;
use crate::args::{RouteArgs, Select};
use crate::commands::browser::{Route, loopback_round, sign_in_via_app};
use crate::fail::{Fail, Out, code};
use crate::output::who;
use crate::select::instance_for;

/// `sign-in [--provider P] [--timeout SECS] [--loopback | --via-app]`.
pub async fn sign_in(
    ctx: &Ctx,
    sel: &Select,
    provider: Option<&str>,
    timeout: u64,
    route: &RouteArgs,
) -> Out<u8> {
    let inst = instance_for(ctx, sel).await?;
    let timeout = Duration::from_secs(timeout);
    if Route::pick(route, &inst) == Route::App {
        if provider.is_some() {
            return Err(Fail::new(
                code::BAD_INPUT,
                "--provider works only with --loopback; the app offers every provider itself",
            ));
        }
        let a = sign_in_via_app(ctx, &inst, timeout).await?;
        println!("Signed in as {}", who(&a));
        return Ok(code::OK);
    }
    let strategy = provider.map(|p| {
        if p.starts_with("oauth_") {
            p.to_owned()
        } else {
            format!("oauth_{p}")
        }
    });
    let mut outcome = loopback_round(ctx, inst.id(), timeout, |r| {
        ctx.engine.start_sign_in(inst.id(), strategy.as_deref(), r)
    })
    .await?;
    if let Outcome::ContinueInBrowser(more) = &outcome {
        // The provider's sign-in stopped short (a second factor, trust in a
        // new device): the hosted page handles every step.
        let as_who = more
            .identifier
            .as_deref()
            .map(|i| format!(" as {i}"))
            .unwrap_or_default();
        eprintln!(
            "The sign-in {}. Continue in your browser{as_who}.",
            more.in_words()
        );
        outcome = loopback_round(ctx, inst.id(), timeout, |r| {
            ctx.engine.start_sign_in(inst.id(), None, r)
        })
        .await?;
    }
    match outcome {
        Outcome::SignedIn { session, .. } => {
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
            Ok(code::OK)
        }
        Outcome::Duplicate => Ok(code::OK),
        _ => Err(Fail::new(code::FAILED, "the sign-in did not finish")),
    }
}

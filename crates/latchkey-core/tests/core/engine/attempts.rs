//! A callback reaches the attempt it belongs to: by `state` for hosted
//! auth, and by the instance whose Clerk accepts the nonce for OAuth, never
//! "the first instance with a sign-in in progress".

use super::*;

/// Two local instances in one engine; returns the second's environment.
async fn second_instance(r: &Rig) -> Env {
    let other = env().await;
    r.engine.add_instance(other.instance.clone()).await.unwrap();
    other
}

/// The two environments, the one whose instance the engine lists last
/// first (an engine that picked "the first instance with an attempt" would
/// send its callback to the other).
fn last_first<'a>(a: &'a Env, b: &'a Env) -> (&'a Env, &'a Env) {
    if a.instance.id() > b.instance.id() {
        (a, b)
    } else {
        (b, a)
    }
}

/// A sign-in started on each of `envs` (in that order), all live at once:
/// each with the page its browser would open.
async fn live_attempts<'a>(
    r: &Rig,
    envs: [&'a Env; 2],
    strategy: Option<&str>,
) -> Vec<(&'a Env, String)> {
    let mut pages = Vec::new();
    for e in envs {
        let started = r
            .engine
            .start_sign_in(e.instance.id(), strategy, Redirect::DeepLink)
            .await
            .unwrap();
        pages.push((e, started.url));
    }
    pages
}

#[tokio::test]
async fn hosted_callbacks_go_to_their_own_instance() {
    let a = env().await;
    let r = rig(&a).await;
    let b = second_instance(&r).await;
    let (late, early) = last_first(&a, &b);
    let pages = live_attempts(&r, [early, late], None).await;
    // Both attempts are live; the later instance's callback comes first.
    for (e, url) in pages.iter().rev() {
        let cb = e.browser_hosted(url, "ada@example.com").await;
        let Outcome::SignedIn { session, .. } = r.engine.handle_deep_link(&cb).await.unwrap()
        else {
            panic!("not signed in")
        };
        let accounts = r.engine.accounts().await;
        let acct = accounts
            .iter()
            .find(|x| x.account.session_id == session)
            .unwrap();
        assert_eq!(acct.account.instance_id, e.instance.id());
    }
    assert_eq!(r.engine.accounts().await.len(), 2);
}

#[tokio::test]
async fn an_oauth_callback_finds_the_instance_that_accepts_it() {
    let a = env().await;
    let r = rig(&a).await;
    let b = second_instance(&r).await;
    let (late, early) = last_first(&a, &b);
    let pages = live_attempts(&r, [early, late], Some("oauth_google")).await;
    let (e, url) = &pages[1];
    let cb = e.browser_oauth(url, "ada@example.com", false).await;
    let Outcome::SignedIn { session, .. } = r.engine.handle_deep_link(&cb).await.unwrap() else {
        panic!("not signed in")
    };
    let accounts = r.engine.accounts().await;
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].account.session_id, session);
    assert_eq!(accounts[0].account.instance_id, late.instance.id());
    // The other instance's attempt was tried and left alive.
    let pending = r.engine.pending_sign_in().await.unwrap();
    assert_eq!(pending.instance_id, early.instance.id());
    let (e, url) = &pages[0];
    let cb = e.browser_oauth(url, "ada@example.com", false).await;
    assert!(matches!(
        r.engine.handle_deep_link(&cb).await.unwrap(),
        Outcome::SignedIn { .. }
    ));
    assert_eq!(r.engine.accounts().await.len(), 2);
}

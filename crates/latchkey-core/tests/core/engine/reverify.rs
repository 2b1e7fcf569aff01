//! Real Clerk behaviours through the engine: pending sessions (no token
//! until their tasks are done; choose-organization done here, the rest in
//! the browser), step-up before guarded actions, and direct sign-ins that
//! stop at a second factor or Client Trust and continue in the browser.

use clerk_emulator::{ReverificationLevel, SessionTask as EmuTask, SessionTaskRule};
use latchkey_core::SessionId;
use latchkey_core::engine::{Guarded, Handoff, Retried, Reverify};
use latchkey_core::models::{SessionStatus, SessionTask};

use super::*;

fn task(email: Option<&str>, task: EmuTask) -> SessionTaskRule {
    SessionTaskRule {
        email: email.map(str::to_owned),
        task,
    }
}

/// Posts a form on the emulator's pages without following redirects:
/// the status, and the redirect's target or the page.
async fn page(env: &Env, path: &str, form: &[(&str, &str)]) -> (u16, String) {
    let http = latchkey_core::http_client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = http
        .post(format!("{}{path}", env.emu.frontend_api_url()))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let location = res
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .map(str::to_owned);
    let body = res.text().await.unwrap_or_default();
    (status, location.unwrap_or(body))
}

/// The browser on the hosted page: pick `email`, then answer each step
/// (`step`, its fields); returns the callback URL.
async fn browser_steps(
    env: &Env,
    url: &str,
    email: &str,
    steps: &[(&str, &[(&str, &str)])],
) -> String {
    let attempt = url.split("attempt=").nth(1).unwrap().to_owned();
    let uid = env.user_id(email);
    let (mut status, mut out) = page(
        env,
        "/hosted/sign-in",
        &[("attempt", &attempt), ("user_id", &uid)],
    )
    .await;
    for (step, fields) in steps {
        assert_eq!(status, 200, "the page should ask for {step}: {out}");
        let mut form = vec![("attempt", attempt.as_str()), ("step", *step)];
        form.extend_from_slice(fields);
        (status, out) = page(env, "/hosted/sign-in", &form).await;
    }
    assert_eq!(status, 303, "the page should send the browser back: {out}");
    out
}

fn account<'a>(
    accounts: &'a [latchkey_core::engine::Account],
    a: &AccountRef,
) -> &'a latchkey_core::engine::Account {
    accounts.iter().find(|x| &x.account == a).expect("account")
}

/// Redeems a handoff link for `email`; the account it added.
async fn handoff(r: &Rig, env: &Env, email: &str) -> Handoff {
    let link = format!(
        "dev.latchkey.desktop://handoff?ticket={}",
        env.ticket(email).await
    );
    assert!(matches!(
        r.engine.handle_deep_link(&link).await.unwrap(),
        Outcome::HandoffPending(_)
    ));
    r.engine.confirm_handoff().await.unwrap()
}

#[tokio::test]
async fn a_pending_session_gets_no_token_until_an_organization_is_chosen() {
    let env = env_with(|c| c.session_tasks = vec![task(None, EmuTask::ChooseOrganization)]).await;
    let r = rig(&env).await;
    let ada = sign_in(&r.engine, &env, "ada@example.com").await;
    let accounts = r.engine.accounts().await;
    let a = account(&accounts, &ada);
    assert_eq!(a.status, SessionStatus::Pending);
    assert_eq!(a.tasks, vec![SessionTask::ChooseOrganization]);

    env.emu.clear_requests();
    let e = r
        .engine
        .get_token(&ada, None, OrgSel::Active)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::SessionPending);
    assert!(e.to_string().contains("choose an organization"), "{e}");
    // The background loop does not ask for one either.
    r.engine.tick().await;
    assert_eq!(token_requests(&env, &ada), 0);

    // Choosing an organization finishes it (clerk-js `setActive({
    // organization })`).
    let org = r
        .engine
        .details(&ada)
        .await
        .unwrap()
        .session
        .user
        .unwrap()
        .organization_memberships[0]
        .organization
        .id
        .clone();
    r.engine.switch_org(&ada, Some(&org)).await.unwrap();
    let accounts = r.engine.accounts().await;
    let a = account(&accounts, &ada);
    assert_eq!(a.status, SessionStatus::Active);
    assert!(a.tasks.is_empty());
    let claim = r.engine.active_org_claim(&ada).await.unwrap().unwrap();
    assert_eq!(claim.claim.id, org.to_string());
}

#[tokio::test]
async fn a_token_that_says_pending_is_refused_and_not_cached() {
    // The session turns pending after it was read (a task added at Clerk):
    // the token Clerk serves says `sts: pending`.
    let env = env().await;
    let r = rig(&env).await;
    let ada = sign_in(&r.engine, &env, "ada@example.com").await;
    let now = chrono_like_now(&env);
    let pending = forge(
        env.emu.instance_id(),
        &serde_json::json!({
            "sub": env.user_id("ada@example.com"), "sid": ada.session_id.as_str(),
            "iss": env.emu.frontend_api_url(), "iat": now, "nbf": now - 10, "exp": now + 60,
            "v": 2, "sts": "pending", "fva": [0, -1],
        }),
    );
    env.emu.add_fault(
        FaultRule::new(
            &format!("/v1/client/sessions/{}/tokens", ada.session_id),
            FaultAction::Json200 {
                body: serde_json::json!({"object": "token", "jwt": pending}),
            },
        )
        .times(1),
    );
    let e = r
        .engine
        .get_token(&ada, None, OrgSel::Active)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::SessionPending, "{e}");
    // Nothing cached: the next call asks again (and gets a good token).
    r.engine
        .get_token(&ada, None, OrgSel::Active)
        .await
        .unwrap();
    assert_eq!(token_requests(&env, &ada), 2);
}

fn chrono_like_now(env: &Env) -> i64 {
    env.emu.now_ms() / 1000
}

#[tokio::test]
async fn finishing_in_the_browser_replaces_the_pending_session() {
    let env = env_with(|c| {
        c.session_tasks = vec![task(Some("alan@example.com"), EmuTask::ResetPassword)]
    })
    .await;
    let r = rig(&env).await;
    let ada = sign_in(&r.engine, &env, "ada@example.com").await;
    let Handoff::Added(added) = handoff(&r, &env, "alan@example.com").await else {
        panic!("the link should add alan")
    };
    let alan = added.account;
    r.engine.switch(&alan).await.unwrap();
    let accounts = r.engine.accounts().await;
    assert_eq!(
        account(&accounts, &alan).tasks,
        vec![SessionTask::ResetPassword]
    );

    let started = r
        .engine
        .start_reverify(&alan, Reverify::FinishSignIn, Redirect::DeepLink)
        .await
        .unwrap();
    // Another sign-in cannot start meanwhile.
    let busy = r
        .engine
        .start_sign_in(env.instance.id(), None, Redirect::DeepLink)
        .await
        .unwrap_err();
    assert_eq!(busy.kind(), &ErrorKind::SignIn);
    let cb = browser_steps(
        &env,
        &started.url,
        "alan@example.com",
        &[("reset-password", &[("new_password", "a-better-password")])],
    )
    .await;
    let Outcome::Reverified(done) = r.engine.handle_deep_link(&cb).await.unwrap() else {
        panic!("expected a replaced session")
    };
    assert_eq!(done.replaced, alan);
    assert_eq!(done.retried, None);
    let new = done.account;
    assert_ne!(new, alan);
    let accounts = r.engine.accounts().await;
    assert_eq!(accounts.len(), 2, "ada and the new alan: {accounts:?}");
    assert!(!accounts.iter().any(|a| a.account == alan));
    let a = account(&accounts, &new);
    assert_eq!(a.status, SessionStatus::Active);
    assert!(
        a.active,
        "the replaced account was active, so is the new one"
    );
    assert!(account(&accounts, &ada).status == SessionStatus::Active);
    assert_eq!(
        env.emu.session_status(alan.session_id.as_str()).as_deref(),
        Some("removed")
    );
    r.engine
        .get_token(&new, None, OrgSel::Active)
        .await
        .unwrap();

    // It survives a restart: the new session's client is saved.
    drop(r.engine);
    let again = reopen(&r.dir, &r.store, &r.clock).await;
    again.reload(None).await.unwrap();
    let ids: Vec<AccountRef> = again
        .accounts()
        .await
        .into_iter()
        .map(|a| a.account)
        .collect();
    assert!(ids.contains(&new) && ids.contains(&ada), "{ids:?}");
}

#[tokio::test]
async fn someone_else_signing_in_at_reverification_changes_nothing() {
    let env = env().await;
    let r = rig(&env).await;
    let ada = sign_in(&r.engine, &env, "ada@example.com").await;
    let keys_before = r.store.keys();
    let started = r
        .engine
        .start_reverify(&ada, Reverify::StepUp(None), Redirect::DeepLink)
        .await
        .unwrap();
    let cb = env.browser_hosted(&started.url, "grace@example.com").await;
    let e = r.engine.handle_deep_link(&cb).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::SignIn);
    assert!(e.to_string().contains("ada@example.com"), "{e}");
    let accounts = r.engine.accounts().await;
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].account, ada);
    assert!(accounts[0].active);
    assert_eq!(
        env.emu.session_status(ada.session_id.as_str()).as_deref(),
        Some("active")
    );
    // Grace's new session was ended, and its client forgotten.
    let grace = cb
        .split("created_session_id=")
        .nth(1)
        .and_then(|s| s.split('&').next())
        .unwrap();
    assert_eq!(env.emu.session_status(grace).as_deref(), Some("removed"));
    assert_eq!(r.store.keys(), keys_before);
    assert!(r.engine.pending_sign_in().await.is_none());
}

#[tokio::test]
async fn step_up_then_the_revoke_is_retried_as_the_new_session() {
    let env = env_with(|c| c.reverification_minutes = Some(10)).await;
    let r = rig(&env).await;
    let ada = sign_in(&r.engine, &env, "ada@example.com").await;
    let devices = r.engine.devices(&ada).await.unwrap();
    let phone = devices
        .iter()
        .find(|d| !d.this_device)
        .unwrap()
        .session
        .id
        .clone();
    env.emu.advance_clock(Duration::from_secs(11 * 60));
    assert_eq!(
        r.engine.revoke(&ada, &phone).await.unwrap(),
        RevokeOutcome::ReverificationRequired
    );
    let started = r
        .engine
        .start_reverify(
            &ada,
            Reverify::StepUp(Some(Guarded::Revoke(phone.clone()))),
            Redirect::DeepLink,
        )
        .await
        .unwrap();
    let cb = env.browser_hosted(&started.url, "ada@example.com").await;
    let Outcome::Reverified(done) = r.engine.handle_deep_link(&cb).await.unwrap() else {
        panic!("expected a replaced session")
    };
    assert_eq!(
        done.retried,
        Some(Retried::Revoke {
            session_id: phone.clone(),
            outcome: RevokeOutcome::Revoked
        })
    );
    assert_eq!(
        env.emu.session_status(phone.as_str()).as_deref(),
        Some("revoked")
    );
    assert_eq!(
        env.emu.session_status(ada.session_id.as_str()).as_deref(),
        Some("removed"),
        "the old session is ended"
    );
    assert_eq!(r.engine.active(), Some(done.account.clone()));
    // Only one revoke was sent after the step-up: retried once.
    let revokes = count(&env, "POST", &format!("/v1/me/sessions/{phone}/revoke"));
    assert_eq!(revokes, 2, "the refused one and the retry");
}

#[tokio::test]
async fn strict_step_up_asks_for_the_second_factor_and_signing_out_other_devices_is_retried() {
    let env = env_with(|c| {
        c.reverification_minutes = Some(10);
        c.reverification_level = ReverificationLevel::SecondFactor;
        c.mfa_users = vec!["ada@example.com".into()];
    })
    .await;
    let r = rig(&env).await;
    let started = r
        .engine
        .start_sign_in(env.instance.id(), None, Redirect::DeepLink)
        .await
        .unwrap();
    let code: &[(&str, &str)] = &[("code", "424242")];
    let cb = browser_steps(&env, &started.url, "ada@example.com", &[("mfa", code)]).await;
    let Outcome::SignedIn { session, .. } = r.engine.handle_deep_link(&cb).await.unwrap() else {
        panic!("not signed in")
    };
    let ada = AccountRef {
        instance_id: env.instance.id().to_owned(),
        session_id: session,
    };
    env.emu.advance_clock(Duration::from_secs(11 * 60));
    let results = r.engine.sign_out_other_devices(&ada).await.unwrap();
    assert!(!results.is_empty());
    assert!(
        results
            .iter()
            .all(|x| x.outcome == RevokeOutcome::ReverificationRequired)
    );
    let started = r
        .engine
        .start_reverify(
            &ada,
            Reverify::StepUp(Some(Guarded::SignOutOtherDevices)),
            Redirect::DeepLink,
        )
        .await
        .unwrap();
    let cb = browser_steps(&env, &started.url, "ada@example.com", &[("mfa", code)]).await;
    let Outcome::Reverified(done) = r.engine.handle_deep_link(&cb).await.unwrap() else {
        panic!("expected a replaced session")
    };
    let Some(Retried::OtherDevices(list)) = done.retried else {
        panic!(
            "expected the other devices to be signed out: {:?}",
            done.retried
        )
    };
    assert_eq!(list.len(), results.len());
    assert!(
        list.iter().all(|x| x.outcome == RevokeOutcome::Revoked),
        "{list:?}"
    );
    let devices = r.engine.devices(&done.account).await.unwrap();
    assert!(devices.iter().all(|d| d.this_device), "{devices:?}");
}

#[tokio::test]
async fn an_oauth_sign_in_that_needs_a_second_factor_continues_in_the_browser() {
    let env = env_with(|c| c.mfa_users = vec!["ada@example.com".into()]).await;
    let r = rig(&env).await;
    let started = r
        .engine
        .start_sign_in(env.instance.id(), Some("oauth_google"), Redirect::DeepLink)
        .await
        .unwrap();
    let cb = env
        .browser_oauth(&started.url, "ada@example.com", false)
        .await;
    let Outcome::ContinueInBrowser(more) = r.engine.handle_deep_link(&cb).await.unwrap() else {
        panic!("expected to continue in the browser")
    };
    assert_eq!(more.status, "needs_second_factor");
    assert_eq!(more.identifier.as_deref(), Some("ada@example.com"));
    assert!(more.in_words().contains("second factor"));
    // The half-finished attempt is gone: the same callback is refused, and
    // hosted auth can start.
    assert!(r.engine.pending_sign_in().await.is_none());
    assert!(r.engine.accounts().await.is_empty());
    let started = r
        .engine
        .start_sign_in(env.instance.id(), None, Redirect::DeepLink)
        .await
        .unwrap();
    let cb = browser_steps(
        &env,
        &started.url,
        "ada@example.com",
        &[("mfa", &[("code", "424242")])],
    )
    .await;
    assert!(matches!(
        r.engine.handle_deep_link(&cb).await.unwrap(),
        Outcome::SignedIn { .. }
    ));
    assert_eq!(r.engine.accounts().await.len(), 1);
}

#[tokio::test]
async fn a_handoff_stopped_by_client_trust_adds_nothing_and_continues_in_the_browser() {
    let env = env_with(|c| {
        c.client_trust = true;
        c.single_session_mode = Some(true);
    })
    .await;
    let r = rig(&env).await;
    // Hosted auth signs in whatever Client Trust says.
    let ada = sign_in(&r.engine, &env, "ada@example.com").await;
    let keys_before = r.store.keys();
    let Handoff::ContinueInBrowser { instance_id, more } =
        handoff(&r, &env, "grace@example.com").await
    else {
        panic!("expected to continue in the browser")
    };
    assert_eq!(instance_id, env.instance.id());
    assert_eq!(more.status, "needs_client_trust");
    assert_eq!(more.identifier.as_deref(), Some("grace@example.com"));
    let accounts = r.engine.accounts().await;
    assert_eq!(accounts.len(), 1);
    assert_eq!(r.engine.active(), Some(ada));
    // The client made for the link on this single-session instance is
    // forgotten with its credential.
    assert_eq!(r.store.keys(), keys_before);
}

#[tokio::test]
async fn a_session_id_no_one_knows_cannot_be_reverified() {
    let env = env().await;
    let r = rig(&env).await;
    sign_in(&r.engine, &env, "ada@example.com").await;
    let ghost = AccountRef {
        instance_id: env.instance.id().to_owned(),
        session_id: SessionId("sess_ghost".into()),
    };
    let e = r
        .engine
        .start_reverify(&ghost, Reverify::FinishSignIn, Redirect::DeepLink)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::SessionGone);
    assert!(r.engine.pending_sign_in().await.is_none());
}

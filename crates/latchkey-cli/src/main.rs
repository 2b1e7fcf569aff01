//! `latchkey`: fresh Clerk session tokens and session control for scripts.
//!
//! Shares the engine and the keychain entries with the desktop app, so an
//! account signed in in one is usable from the other. For the local demo
//! instance it starts or attaches to the same emulator process as the app.
//!
//! ```text
//! curl -H "Authorization: Bearer $(latchkey token)" https://api.example.com/me
//! ```

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use clerk_emulator::{Emulator, EmulatorHandle};
use latchkey_core::engine::{
    Account, Engine, EngineConfig, EverywhereOutcome, OrgSel, RevokeOutcome, StorageState,
};
use latchkey_core::store::{Keychain, platform_store};
use latchkey_core::{
    Error, ErrorKind, Instance, InstanceKind, LoopbackListener, OrganizationId, Outcome, Redirect,
    SessionId, Verifier, VerifyOptions,
};
use serde_json::{Value, json};

/// Exit codes (stable; documented in the README).
mod code {
    pub const OK: u8 = 0;
    pub const NOT_SIGNED_IN: u8 = 1;
    pub const BAD_INPUT: u8 = 2;
    pub const NETWORK: u8 = 3;
    pub const RATE_LIMITED: u8 = 4;
    pub const SESSION_GONE: u8 = 5;
    pub const INVALID_TOKEN: u8 = 6;
    pub const FAILED: u8 = 8;
}

#[derive(Debug, Parser)]
#[command(
    name = "latchkey",
    version,
    about = "Clerk sessions from the command line: tokens, accounts, devices"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args, Clone, Default)]
struct Select {
    /// Account: session id, user id or email (default: $LATCHKEY_ACCOUNT, then the active one).
    #[arg(long, global = true)]
    account: Option<String>,
    /// Instance: its id, its Frontend API host, or `local`.
    #[arg(long, global = true)]
    instance: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Instances, accounts, the active one, storage state. Exit 1 when not signed in.
    Status {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        select: Select,
    },
    /// Print a fresh session (or template) JWT on stdout and nothing else.
    Token {
        #[command(flatten)]
        select: Select,
        /// A JWT template name.
        #[arg(long)]
        template: Option<String>,
        /// Organization id or slug (`personal` for none).
        #[arg(long)]
        org: Option<String>,
    },
    /// Sessions on this device (one per signed-in account).
    Sessions {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        select: Select,
    },
    /// The account's active sessions on every device.
    Devices {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        select: Select,
    },
    /// Make ACCOUNT (session id, user id or email) the active account.
    Switch { account: String },
    /// Revoke one of the account's sessions on another device.
    Revoke {
        session_id: String,
        #[command(flatten)]
        select: Select,
    },
    /// Sign out: this account here (default), all accounts here, every other
    /// device, or everywhere.
    SignOut {
        #[command(flatten)]
        select: Select,
        /// Every account on this device.
        #[arg(long, conflicts_with_all = ["all_devices", "everywhere"])]
        all_accounts: bool,
        /// This account on every other device (this one stays signed in).
        #[arg(long, conflicts_with = "everywhere")]
        all_devices: bool,
        /// This account on every device, this one included.
        #[arg(long)]
        everywhere: bool,
        /// With --everywhere: sign out here even if some revokes failed.
        #[arg(long)]
        force: bool,
    },
    /// Sign in through the browser (loopback callback).
    SignIn {
        #[command(flatten)]
        select: Select,
        /// A social provider (`google`, `github`, …) instead of the sign-in page.
        #[arg(long)]
        provider: Option<String>,
        /// How long to wait for the browser, in seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// Verify a Clerk session token (argument, or `-` for stdin) and print its claims.
    Verify {
        /// The JWT, or `-` to read it from stdin.
        jwt: Option<String>,
        #[command(flatten)]
        select: Select,
        /// Reject tokens issued longer ago than this (`90s`, `5m`, `1h`).
        #[arg(long, value_parser = parse_duration)]
        max_age: Option<Duration>,
        /// Reject tokens whose first factor is older than this (`fva`).
        #[arg(long, value_parser = parse_duration)]
        max_factor_age: Option<Duration>,
        /// Allowed `azp` (repeatable); checked when the token has one.
        #[arg(long = "authorized-party")]
        authorized_parties: Vec<String>,
    },
    /// Add a Clerk instance by its publishable key.
    AddInstance { publishable_key: String },
    /// Run the local Clerk emulator (same as `clerk-emulator`).
    Emulator {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit())
        .map(|i| s.split_at(i))
        .unwrap_or((s, "s"));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 90s, 5m or 1h"))?;
    let secs = match unit {
        "s" | "" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("{s:?} is not a duration like 90s, 5m or 1h")),
    };
    Ok(Duration::from_secs(secs))
}

/// A failure: message on stderr, a hint, an exit code.
struct Fail {
    code: u8,
    message: String,
    hint: Option<&'static str>,
}

impl Fail {
    fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            hint: None,
        }
    }
    fn hint(mut self, h: &'static str) -> Self {
        self.hint = Some(h);
        self
    }
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        let (code, hint) = match e.kind() {
            ErrorKind::Network | ErrorKind::Timeout | ErrorKind::Server | ErrorKind::Protocol => {
                (code::NETWORK, Some("check the connection and try again"))
            }
            ErrorKind::RateLimited { .. } => {
                (code::RATE_LIMITED, Some("wait a moment and try again"))
            }
            ErrorKind::SessionGone | ErrorKind::Unauthenticated => (
                code::SESSION_GONE,
                Some("sign in again with `latchkey sign-in`"),
            ),
            ErrorKind::InvalidToken => (code::INVALID_TOKEN, None),
            ErrorKind::Config | ErrorKind::Callback => (code::BAD_INPUT, None),
            ErrorKind::StorageLocked => (
                code::FAILED,
                Some("unlock your keyring (Secret Service), then try again"),
            ),
            ErrorKind::StorageUnavailable => (
                code::FAILED,
                Some("no keyring (Secret Service) is running; sign-ins last for this command only"),
            ),
            ErrorKind::StorageFailed
            | ErrorKind::ReverificationRequired
            | ErrorKind::InvalidRequest { .. }
            | ErrorKind::SignIn
            | ErrorKind::Forbidden => (code::FAILED, None),
        };
        Fail {
            code,
            message: e.to_string(),
            hint,
        }
    }
}

type Out<T> = Result<T, Fail>;

struct Ctx {
    engine: Engine,
    /// Keeps an emulator this process started alive for the command.
    _demo: Option<EmulatorHandle>,
}

fn data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("LATCHKEY_DATA_DIR") {
        return PathBuf::from(d);
    }
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("latchkey")
}

async fn open() -> Out<Ctx> {
    let dir = data_dir();
    let service = std::env::var("LATCHKEY_KEYCHAIN_SERVICE")
        .unwrap_or_else(|_| "dev.latchkey.desktop".to_owned());
    let keychain = Keychain::new(platform_store(&service), Duration::from_secs(10));
    let mut config = EngineConfig::new(dir.clone(), keychain);
    config.probe_storage = false;
    let engine = Engine::open(config).await?;
    let mut demo = None;
    if engine.needs_local_demo().await {
        // Start or attach to the one emulator of this data dir (the app's too).
        let (info, handle) = Emulator::start_or_attach_demo(&dir)
            .await
            .map_err(|e| {
                Fail::new(
                    code::FAILED,
                    format!("could not start the local demo instance: {e}"),
                )
            })?
            .into_parts();
        demo = handle;
        let inst = Instance::local_demo(
            &info.frontend_api_url,
            &info.instance_id,
            &info.publishable_key,
        )?;
        engine.add_instance(inst).await?;
    }
    if let StorageState::Unavailable { reason, .. } = engine.storage_state() {
        eprintln!(
            "warning: secure storage is unavailable ({reason}); sign-ins last for this command only"
        );
    }
    // Reading the accounts needs the network; keep going offline.
    let _ = engine.reload(None).await;
    Ok(Ctx {
        engine,
        _demo: demo,
    })
}

fn matches_instance(i: &Instance, sel: &str) -> bool {
    i.id() == sel
        || i.frontend_api().host_str() == Some(sel)
        || (matches!(sel, "local" | "demo") && i.kind() == InstanceKind::LocalDemo)
}

async fn instance_for(ctx: &Ctx, sel: &Select) -> Out<Instance> {
    let all = ctx.engine.instances().await;
    if let Some(s) = &sel.instance {
        return all
            .into_iter()
            .find(|i| matches_instance(i, s))
            .ok_or_else(|| {
                Fail::new(code::BAD_INPUT, format!("no instance {s:?}"))
                    .hint("see `latchkey status`")
            });
    }
    if let Some(a) = ctx.engine.active()
        && let Some(i) = all.iter().find(|i| i.id() == a.instance_id)
    {
        return Ok(i.clone());
    }
    match all.len() {
        1 => Ok(all[0].clone()),
        0 => Err(Fail::new(code::BAD_INPUT, "no instance is configured")
            .hint("add one with `latchkey add-instance pk_…`")),
        _ => Err(
            Fail::new(code::BAD_INPUT, "several instances are configured")
                .hint("choose one with --instance"),
        ),
    }
}

/// The account named by --account / $LATCHKEY_ACCOUNT, else the active one.
async fn account_for(ctx: &Ctx, sel: &Select) -> Out<Account> {
    let accounts = ctx.engine.accounts().await;
    let wanted = sel.account.clone().or_else(|| {
        std::env::var("LATCHKEY_ACCOUNT")
            .ok()
            .filter(|s| !s.is_empty())
    });
    let in_instance = |a: &&Account| {
        sel.instance.as_deref().is_none_or(|s| {
            a.account.instance_id == s
                || (matches!(s, "local" | "demo") && a.instance_kind == InstanceKind::LocalDemo)
        })
    };
    let found = match &wanted {
        Some(w) => accounts.iter().filter(in_instance).find(|a| {
            a.account.session_id.as_str() == w
                || a.user_id.as_ref().is_some_and(|u| u.as_str() == w)
                || a.email
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(w))
        }),
        None => accounts
            .iter()
            .filter(in_instance)
            .find(|a| a.active)
            .or_else(|| accounts.iter().find(in_instance)),
    };
    match (found, wanted) {
        (Some(a), _) => Ok(a.clone()),
        (None, Some(w)) => Err(Fail::new(
            code::NOT_SIGNED_IN,
            format!("no signed-in account matches {w:?}"),
        )
        .hint("see `latchkey sessions`")),
        (None, None) => {
            Err(Fail::new(code::NOT_SIGNED_IN, "not signed in").hint("run `latchkey sign-in`"))
        }
    }
}

fn account_json(a: &Account) -> Value {
    json!({
        "instance_id": a.account.instance_id,
        "session_id": a.account.session_id,
        "user_id": a.user_id,
        "name": a.name,
        "email": a.email,
        "active": a.active,
        "status": a.status,
        "active_organization_id": a.active_organization,
    })
}

fn storage_json(s: &StorageState) -> Value {
    serde_json::to_value(s).unwrap_or(Value::Null)
}

async fn status(ctx: &Ctx, json_out: bool) -> Out<u8> {
    for i in ctx.engine.instances().await {
        // Names for the listing; offline, the host name stands in.
        let _ = ctx.engine.load_environment(i.id()).await;
    }
    let accounts = ctx.engine.accounts().await;
    let instances = ctx.engine.instances().await;
    let signed_in = accounts.iter().any(|a| a.active);
    if json_out {
        let mut inst = Vec::new();
        for i in &instances {
            let name = ctx
                .engine
                .environment(i.id())
                .await
                .map(|e| e.display_config.application_name);
            inst.push(json!({"id": i.id(), "kind": i.kind(), "frontend_api": i.frontend_api().as_str().trim_end_matches('/'), "name": name}));
        }
        let v = json!({
            "signed_in": signed_in,
            "online": ctx.engine.online(),
            "storage": storage_json(&ctx.engine.storage_state()),
            "instances": inst,
            "active": ctx.engine.active(),
            "accounts": accounts.iter().map(account_json).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        for i in &instances {
            let label = match i.kind() {
                InstanceKind::LocalDemo => "local demo instance",
                InstanceKind::Clerk => "Clerk instance",
            };
            println!(
                "{} ({label}, {})",
                i.id(),
                i.frontend_api().as_str().trim_end_matches('/')
            );
            let mine: Vec<&Account> = accounts
                .iter()
                .filter(|a| a.account.instance_id == i.id())
                .collect();
            if mine.is_empty() {
                println!("  not signed in");
            }
            for a in mine {
                let mark = if a.active { "*" } else { " " };
                println!(
                    "  {mark} {} <{}>  {}",
                    a.name,
                    a.email.as_deref().unwrap_or("-"),
                    a.account.session_id
                );
            }
        }
        match ctx.engine.storage_state() {
            StorageState::Secure { backend } => println!("secure storage: {backend}"),
            StorageState::Unavailable { reason, .. } => {
                println!("secure storage unavailable ({reason}): signed in for this run only")
            }
            StorageState::SaveFailed { reason, .. } => {
                println!("secure storage: the last save failed ({reason})")
            }
        }
        if !ctx.engine.online() {
            println!("offline: showing the last known state");
        }
    }
    Ok(if signed_in {
        code::OK
    } else {
        code::NOT_SIGNED_IN
    })
}

async fn org_sel(ctx: &Ctx, a: &Account, org: Option<&str>) -> Out<OrgSel> {
    let Some(o) = org else {
        return Ok(OrgSel::Active);
    };
    if o == "personal" {
        return Ok(OrgSel::Personal);
    }
    if o.starts_with("org_") {
        return Ok(OrgSel::Org(OrganizationId(o.to_owned())));
    }
    // A slug: look it up in the user's memberships.
    let details = ctx.engine.details(&a.account).await?;
    let id = details
        .session
        .user
        .as_ref()
        .and_then(|u| {
            u.organization_memberships
                .iter()
                .find(|m| m.organization.slug.as_deref() == Some(o))
        })
        .map(|m| m.organization.id.clone())
        .ok_or_else(|| {
            Fail::new(
                code::BAD_INPUT,
                format!("{o:?} is not an organization of this account"),
            )
        })?;
    Ok(OrgSel::Org(id))
}

/// Starts the browser on `url` without waiting for it (a `$BROWSER` script
/// may take as long as it likes; the sign-in waits on the callback).
fn open_browser(url: &str) -> bool {
    let browser = std::env::var("BROWSER").ok().filter(|b| !b.is_empty());
    let candidates: Vec<String> = match browser {
        Some(b) => vec![b],
        None if cfg!(target_os = "macos") => vec!["open".into()],
        None if cfg!(windows) => vec!["explorer".into()],
        None => vec!["xdg-open".into(), "gio open".into()],
    };
    for c in candidates {
        let mut parts = c.split_whitespace();
        let Some(prog) = parts.next() else { continue };
        let spawned = std::process::Command::new(prog)
            .args(parts)
            .arg(url)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        if let Ok(mut child) = spawned {
            // Reap it whenever it ends.
            std::thread::spawn(move || child.wait());
            return true;
        }
    }
    false
}

async fn sign_in(ctx: &Ctx, sel: &Select, provider: Option<&str>, timeout: u64) -> Out<u8> {
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
    let opened = open_browser(&started.url);
    if opened {
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
    match ctx.engine.handle_callback(cb).await? {
        Outcome::SignedIn { session, .. } => {
            let a = ctx
                .engine
                .accounts()
                .await
                .into_iter()
                .find(|a| a.account.session_id == session);
            match a {
                Some(a) => println!(
                    "Signed in as {} <{}>",
                    a.name,
                    a.email.as_deref().unwrap_or("-")
                ),
                None => println!("Signed in ({session})"),
            }
            Ok(code::OK)
        }
        _ => Ok(code::OK),
    }
}

async fn verify(ctx: &Ctx, jwt: Option<String>, sel: &Select, opts: VerifyOptions) -> Out<u8> {
    let token = match jwt.as_deref() {
        None | Some("-") => {
            let mut s = String::new();
            std::io::stdin()
                .take(64 * 1024)
                .read_to_string(&mut s)
                .map_err(|_| Fail::new(code::BAD_INPUT, "could not read a token from stdin"))?;
            s
        }
        Some(t) => t.to_owned(),
    };
    let token = token.trim();
    if token.is_empty() {
        return Err(Fail::new(code::BAD_INPUT, "no token given")
            .hint("pass the JWT as an argument, or `-` to read stdin"));
    }
    let inst = instance_for(ctx, sel).await?;
    let verifier = Verifier::new(inst)?;
    match verifier.verify(token, &opts).await {
        Ok(claims) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&claims).unwrap_or_default()
            );
            Ok(code::OK)
        }
        Err(reason) => Err(Fail::new(
            code::INVALID_TOKEN,
            format!("invalid token: {reason}"),
        )),
    }
}

async fn run(cli: Cli) -> Out<u8> {
    let ctx = open().await?;
    let result = command(&ctx, cli.command).await;
    // Save a rotated credential before exiting, whatever happened.
    if let Err(e) = ctx.engine.flush().await {
        eprintln!("warning: {e}");
    }
    result
}

async fn command(ctx: &Ctx, command: Command) -> Out<u8> {
    match command {
        Command::Status { json, .. } => status(ctx, json).await,
        Command::Token {
            select,
            template,
            org,
        } => {
            let a = account_for(ctx, &select).await?;
            let org = org_sel(ctx, &a, org.as_deref()).await?;
            let t = ctx
                .engine
                .get_token(&a.account, template.as_deref(), org)
                .await?;
            println!("{}", t.expose());
            Ok(code::OK)
        }
        Command::Sessions { json, select } => {
            let accounts: Vec<Account> = ctx
                .engine
                .accounts()
                .await
                .into_iter()
                .filter(|a| {
                    select
                        .instance
                        .as_deref()
                        .is_none_or(|i| a.account.instance_id == i)
                })
                .collect();
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &accounts.iter().map(account_json).collect::<Vec<_>>()
                    )
                    .unwrap_or_default()
                );
            } else if accounts.is_empty() {
                println!("no sessions on this device");
            } else {
                for a in &accounts {
                    println!(
                        "{} {}  {} <{}>",
                        if a.active { "*" } else { " " },
                        a.account.session_id,
                        a.name,
                        a.email.as_deref().unwrap_or("-")
                    );
                }
            }
            Ok(if accounts.is_empty() {
                code::NOT_SIGNED_IN
            } else {
                code::OK
            })
        }
        Command::Devices { json, select } => {
            let a = account_for(ctx, &select).await?;
            let devices = ctx.engine.devices(&a.account).await?;
            if json {
                let list: Vec<Value> = devices
                    .iter()
                    .map(|d| {
                        let act = d.session.latest_activity.clone().unwrap_or_default();
                        json!({
                            "session_id": d.session.id,
                            "this_device": d.this_device,
                            "status": d.session.status,
                            "last_active_at": d.session.last_active_at,
                            "device_type": act.device_type,
                            "is_mobile": act.is_mobile,
                            "browser_name": act.browser_name,
                            "browser_version": act.browser_version,
                            "ip_address": act.ip_address,
                            "city": act.city,
                            "country": act.country,
                            "actor": d.session.actor,
                        })
                    })
                    .collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(&list).unwrap_or_default()
                );
            } else {
                for d in &devices {
                    let act = d.session.latest_activity.clone().unwrap_or_default();
                    let what = [act.browser_name, act.device_type]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(" on ");
                    let place = [act.city, act.country]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(", ");
                    println!(
                        "{} {}  {}  {}  {}",
                        if d.this_device { "*" } else { " " },
                        d.session.id,
                        what,
                        act.ip_address.unwrap_or_default(),
                        place
                    );
                }
            }
            Ok(code::OK)
        }
        Command::Switch { account } => {
            let a = account_for(
                ctx,
                &Select {
                    account: Some(account),
                    instance: None,
                },
            )
            .await?;
            ctx.engine.switch(&a.account).await?;
            println!("Active: {} <{}>", a.name, a.email.as_deref().unwrap_or("-"));
            Ok(code::OK)
        }
        Command::Revoke { session_id, select } => {
            let a = account_for(ctx, &select).await?;
            match ctx
                .engine
                .revoke(&a.account, &SessionId(session_id.clone()))
                .await?
            {
                RevokeOutcome::Revoked => {
                    println!("Revoked {session_id}");
                    Ok(code::OK)
                }
                RevokeOutcome::ReverificationRequired => Err(Fail::new(
                    code::SESSION_GONE,
                    "this instance wants a recent sign-in before revoking sessions",
                )
                .hint("sign in again with `latchkey sign-in`, then retry")),
                RevokeOutcome::Failed { message, .. } => Err(Fail::new(code::FAILED, message)),
            }
        }
        Command::SignOut {
            select,
            all_accounts,
            all_devices,
            everywhere,
            force,
        } => {
            if all_accounts {
                let inst = instance_for(ctx, &select).await?;
                ctx.engine.sign_out_device(inst.id()).await?;
                println!("Signed out of every account on this device");
                return Ok(code::OK);
            }
            let a = account_for(ctx, &select).await?;
            if all_devices || everywhere {
                let outcome = if everywhere {
                    ctx.engine.sign_out_everywhere(&a.account, force).await?
                } else {
                    let results = ctx.engine.sign_out_other_devices(&a.account).await?;
                    let failed: Vec<_> = results
                        .iter()
                        .filter(|r| r.outcome != RevokeOutcome::Revoked)
                        .cloned()
                        .collect();
                    if failed.is_empty() {
                        EverywhereOutcome::Done {
                            revoked: results.len(),
                        }
                    } else {
                        EverywhereOutcome::Partial { failed }
                    }
                };
                match outcome {
                    EverywhereOutcome::Done { revoked } => {
                        println!(
                            "Signed out of {revoked} other device(s){}",
                            if everywhere { " and this one" } else { "" }
                        );
                        Ok(code::OK)
                    }
                    EverywhereOutcome::Partial { failed } => {
                        for r in &failed {
                            eprintln!(
                                "not revoked: {} ({})",
                                r.session_id,
                                serde_json::to_string(&r.outcome).unwrap_or_default()
                            );
                        }
                        Err(Fail::new(
                            code::FAILED,
                            format!("{} session(s) could not be revoked", failed.len()),
                        )
                        .hint("retry, or add --force to sign out here anyway"))
                    }
                }
            } else {
                ctx.engine.sign_out(&a.account).await?;
                println!(
                    "Signed out {} <{}> on this device",
                    a.name,
                    a.email.as_deref().unwrap_or("-")
                );
                Ok(code::OK)
            }
        }
        Command::SignIn {
            select,
            provider,
            timeout,
        } => sign_in(ctx, &select, provider.as_deref(), timeout).await,
        Command::Verify {
            jwt,
            select,
            max_age,
            max_factor_age,
            authorized_parties,
        } => {
            verify(
                ctx,
                jwt,
                &select,
                VerifyOptions {
                    max_age,
                    max_factor_age,
                    authorized_parties,
                    expect_session: None,
                    allow_audience: false,
                },
            )
            .await
        }
        Command::AddInstance { publishable_key } => {
            let inst = Instance::from_publishable_key(&publishable_key)?;
            ctx.engine.add_instance(inst.clone()).await?;
            println!("Added {} ({})", inst.id(), inst.frontend_api());
            Ok(code::OK)
        }
        // Handled in main (the emulator runs its own runtime).
        Command::Emulator { .. } => Ok(code::OK),
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                code::BAD_INPUT
            } else {
                code::OK
            });
        }
    };
    if let Command::Emulator { args } = cli.command {
        return clerk_emulator::cli::run(std::iter::once("clerk-emulator".to_owned()).chain(args));
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LATCHKEY_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            return ExitCode::from(code::FAILED);
        }
    };
    let result = rt.block_on(run(cli));
    drop(rt);
    match result {
        Ok(c) => ExitCode::from(c),
        Err(f) => {
            eprintln!("error: {}", f.message);
            if let Some(h) = f.hint {
                eprintln!("hint: {h}");
            }
            ExitCode::from(f.code)
        }
    }
}

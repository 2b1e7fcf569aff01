//! `latchkey doctor`: what an instance offers and whether this machine can
//! use it. Each line is `ok`, `problem` (with what to do) or `info`. It
//! works when the engine cannot open (a locked keychain is one of the
//! things it reports), and `--instance` also takes a publishable key, to
//! check an instance before adding it.

use std::process::Stdio;

use latchkey_core::callback::SCHEME;
use latchkey_core::engine::StorageState;
use latchkey_core::{API_VERSION, Error, ErrorKind, Fapi, Instance, InstanceKind};
use latchkey_host::{OpenOptions, Settings};
use serde::Serialize;
use serde_json::json;

use crate::args::Select;
use crate::fail::{Fail, Out, code};
use crate::output::print_json;

/// What the flows were proven against: the parts of Clerk's behaviour this
/// release has seen only from the local emulator (no real Clerk is
/// reachable where it is built and tested).
pub const EMULATOR_ONLY: &[&str] = &[
    "hosted sign-in returning to a desktop app's link scheme (Clerk documents it for iOS and Android apps)",
    "the loopback route (`latchkey sign-in --loopback`)",
    "pending sessions and their tasks",
    "reverification (step-up) before revoking sessions",
    "second factor and Client Trust answers to OAuth and ticket sign-ins",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Status {
    Ok,
    Problem,
    Info,
}

#[derive(Debug, Serialize)]
struct Check {
    /// The instance it is about (none: this machine).
    #[serde(skip_serializing_if = "Option::is_none")]
    instance: Option<String>,
    name: &'static str,
    status: Status,
    detail: String,
    /// What to do, for a problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<String>,
}

fn check(
    instance: Option<&Instance>,
    name: &'static str,
    status: Status,
    detail: impl Into<String>,
) -> Check {
    Check {
        instance: instance.map(|i| i.id().to_owned()),
        name,
        status,
        detail: detail.into(),
        fix: None,
    }
}

impl Check {
    fn fix(mut self, f: impl Into<String>) -> Self {
        self.fix = Some(f.into());
        self
    }
}

/// `doctor [--instance …] [--json]`.
pub async fn doctor(json_out: bool, select: &Select) -> Out<u8> {
    let settings = Settings {
        publishable_key: None,
        templates: vec![],
        ..Settings::from_env(&|k| std::env::var_os(k))
    };
    let mut checks = Vec::new();
    // The keychain, by opening the engine the way the app does (with the
    // write-read-delete probe).
    let options = OpenOptions {
        probe_storage: true,
        ..OpenOptions::default()
    };
    let host = latchkey_host::open(&settings, options).await;
    let known = match &host {
        Ok(h) => {
            checks.push(keychain(&h.engine.storage_state()));
            for p in h.engine.data_problems() {
                checks.push(
                    check(None, "data", Status::Problem, p)
                        .fix("update Latchkey, or move the file away to start it afresh"),
                );
            }
            h.engine.instances().await
        }
        Err(e) => {
            checks.push(
                check(
                    None,
                    "keychain",
                    Status::Problem,
                    format!("Latchkey could not open: {e}"),
                )
                .fix("see the message; `latchkey status` shows the same"),
            );
            Vec::new()
        }
    };
    let instances = match &select.instance {
        Some(s) if s.starts_with("pk_") => vec![Instance::from_publishable_key(s)?],
        Some(s) => {
            let found: Vec<Instance> = known
                .into_iter()
                .filter(|i| {
                    i.id() == s
                        || i.frontend_api().host_str() == Some(s.as_str())
                        || (matches!(s.as_str(), "local" | "demo")
                            && i.kind() == InstanceKind::LocalDemo)
                })
                .collect();
            if found.is_empty() {
                return Err(Fail::new(code::BAD_INPUT, format!("no instance {s:?}"))
                    .hint("give its id, its Frontend API host, or a publishable key (pk_…)"));
            }
            found
        }
        None => known,
    };
    for inst in &instances {
        checks.extend(instance_checks(inst).await);
    }
    checks.push(scheme());
    checks.push(display());
    let problems = checks
        .iter()
        .filter(|c| c.status == Status::Problem)
        .count();
    if json_out {
        print_json(&json!({
            "ok": problems == 0,
            "checks": checks,
            "verified_only_against_the_emulator": EMULATOR_ONLY,
        }));
    } else {
        for c in &checks {
            let label = match c.status {
                Status::Ok => "ok     ",
                Status::Problem => "problem",
                Status::Info => "info   ",
            };
            let on = c
                .instance
                .as_deref()
                .map(|i| format!(" [{i}]"))
                .unwrap_or_default();
            println!("{label} {}{on}: {}", c.name, c.detail);
            if let Some(f) = &c.fix {
                println!("        → {f}");
            }
        }
        println!("\nVerified only against the local Clerk emulator so far:");
        for e in EMULATOR_ONLY {
            println!("  - {e}");
        }
    }
    // The demo instance this process may have started stops with it.
    drop(host);
    Ok(if problems == 0 {
        code::OK
    } else {
        code::FAILED
    })
}

/// The keychain's state: the exact cause, and what to do (the storage
/// reasons read "<cause>: <what to do>"; the app's Settings shows the same).
fn keychain(state: &StorageState) -> Check {
    let split = |reason: &str, fallback: &str| -> (String, String) {
        match reason.split_once(": ") {
            Some((cause, todo)) => (cause.to_owned(), todo.to_owned()),
            None => (reason.to_owned(), fallback.to_owned()),
        }
    };
    match state {
        StorageState::Secure { backend } => {
            check(None, "keychain", Status::Ok, format!("{backend} works"))
        }
        StorageState::Unavailable {
            reason,
            locked: true,
        }
        | StorageState::SaveFailed {
            reason,
            locked: true,
        } => {
            let (cause, todo) = split(reason, "unlock your keyring");
            check(
                None,
                "keychain",
                Status::Problem,
                format!("locked: {cause}"),
            )
            .fix(format!(
                "{todo} (the app's Unlock button asks your desktop)"
            ))
        }
        StorageState::Unavailable { reason, .. } => {
            let (cause, todo) = split(
                reason,
                "install and start a Secret Service provider (GNOME Keyring, KeePassXC)",
            );
            check(
                None,
                "keychain",
                Status::Problem,
                format!("unavailable: {cause}"),
            )
            .fix(format!("{todo}; until then sign-ins last one run"))
        }
        StorageState::SaveFailed { reason, .. } => {
            let (cause, todo) = split(reason, "check the keyring");
            check(
                None,
                "keychain",
                Status::Problem,
                format!("the last save failed: {cause}"),
            )
            .fix(format!("{todo}; Latchkey retries by itself"))
        }
    }
}

/// What the instance's Frontend API says about itself.
async fn instance_checks(inst: &Instance) -> Vec<Check> {
    let i = Some(inst);
    let url = inst.frontend_api().to_string();
    // The same decision the requests below make (HTTPS_PROXY, NO_PROXY).
    let proxy = check(
        i,
        "proxy",
        Status::Info,
        format!(
            "requests go {}",
            latchkey_core::proxy::ProxyEnv::from_process().describe(inst.frontend_api())
        ),
    );
    let fapi = match Fapi::new(inst.clone(), None) {
        Ok(f) => f,
        Err(e) => {
            return vec![proxy, check(i, "reachable", Status::Problem, e.to_string())];
        }
    };
    let env = match fapi.environment().await {
        Ok(env) => env,
        Err(e) => return vec![proxy, unreachable(inst, &url, &e)],
    };
    let mut out = vec![
        proxy,
        check(i, "reachable", Status::Ok, format!("{url} answers")),
        check(
            i,
            "API version",
            Status::Ok,
            format!("{API_VERSION} accepted"),
        ),
    ];
    let native = env
        .auth_config
        .native_settings
        .as_ref()
        .is_none_or(|n| n.api_enabled);
    out.push(if native {
        check(i, "native API", Status::Ok, "enabled")
    } else {
        check(i, "native API", Status::Problem, "disabled")
            .fix("enable it in the Clerk Dashboard under Native applications")
    });
    out.push(check(
        i,
        "sessions",
        Status::Info,
        if env.auth_config.single_session_mode {
            "single-session: each account here gets a Clerk client of its own"
        } else {
            "multi-session: the accounts here share one Clerk client"
        },
    ));
    let (first, second) = env.factors();
    let social: Vec<String> = env
        .sign_in_providers()
        .iter()
        .map(|p| p.name.clone().unwrap_or_else(|| p.strategy.clone()))
        .collect();
    let mut methods = first
        .iter()
        .map(|s| s.replace('_', " "))
        .collect::<Vec<_>>();
    methods.extend(social);
    let mut detail = if methods.is_empty() {
        "none listed".to_owned()
    } else {
        methods.join(", ")
    };
    if !second.is_empty() {
        detail.push_str(&format!(
            "; second factors: {}",
            second.join(", ").replace('_', " ")
        ));
    }
    out.push(check(i, "sign-in methods", Status::Info, detail));
    if env.auth_config.reverification {
        out.push(check(
            i,
            "reverification",
            Status::Info,
            "on: revoking sessions may ask you to verify again in the browser",
        ));
    }
    out
}

fn unreachable(inst: &Instance, url: &str, e: &Error) -> Check {
    let i = Some(inst);
    match (e.kind(), e.clerk_code()) {
        (_, Some("api_version_invalid")) => check(
            i,
            "API version",
            Status::Problem,
            format!("{url} refuses API version {API_VERSION}: {e}"),
        )
        .fix("update Latchkey"),
        (_, Some("native_api_disabled")) => check(i, "native API", Status::Problem, "disabled")
            .fix("enable it in the Clerk Dashboard under Native applications"),
        (ErrorKind::Network | ErrorKind::Timeout, _) => {
            check(i, "reachable", Status::Problem, format!("{url}: {e}"))
                .fix("check the network, and that the publishable key is the instance's")
        }
        _ => check(i, "reachable", Status::Problem, format!("{url}: {e}"))
            .fix("check the publishable key; run again with LATCHKEY_LOG=debug for details"),
    }
}

/// Whether the desktop will hand `dev.latchkey.desktop://` links to the app.
fn scheme() -> Check {
    #[cfg(target_os = "linux")]
    {
        let mime = format!("x-scheme-handler/{SCHEME}");
        let out = std::process::Command::new("xdg-mime")
            .args(["query", "default", &mime])
            .stderr(Stdio::null())
            .output();
        match out {
            Ok(o) if !String::from_utf8_lossy(&o.stdout).trim().is_empty() => check(
                None,
                "link scheme",
                Status::Ok,
                format!(
                    "{SCHEME}:// opens {}",
                    String::from_utf8_lossy(&o.stdout).trim()
                ),
            ),
            Ok(_) => check(
                None,
                "link scheme",
                Status::Problem,
                format!("nothing handles {SCHEME}:// links"),
            )
            .fix(
                "start the Latchkey app once (it registers the scheme), or sign in with --loopback",
            ),
            Err(_) => check(
                None,
                "link scheme",
                Status::Problem,
                "xdg-mime is not installed, so it cannot be checked",
            )
            .fix("install xdg-utils"),
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = Stdio::null;
        check(
            None,
            "link scheme",
            Status::Info,
            format!("{SCHEME}:// is registered by the app's installer"),
        )
    }
}

fn display() -> Check {
    let has = ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|k| std::env::var_os(k).is_some_and(|v| !v.is_empty()));
    if has || !cfg!(target_os = "linux") {
        check(None, "display", Status::Ok, "the app can open here")
    } else {
        check(
            None,
            "display",
            Status::Info,
            "no display: signing in to a real instance from here needs --loopback (which the instance may refuse)",
        )
    }
}

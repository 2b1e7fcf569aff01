//! The TypeScript side of the IPC contract, generated from the Rust types
//! with ts-rs into one file, `ui/src/bindings/ipc.ts` (committed; a test
//! fails when it is stale: `make bindings` rewrites it).

use ts_rs::{Config, TS};

use crate::error::{ErrorKind, IpcError};
use crate::links::LinkCheckView;
use crate::view::*;

/// Every command: name, arguments (as the webview passes them: camelCase)
/// and result. The names match `crate::COMMANDS` (tested).
macro_rules! signatures {
    ($cfg:ident; $($name:literal ( $($arg:literal : $ty:ty),* ) -> $ret:ty;)*) => {
        vec![$(
            (
                $name,
                vec![$( ($arg, <$ty as TS>::name(&$cfg)) ),*],
                <$ret as TS>::name(&$cfg),
            )
        ),*]
    };
}

type Sig = (&'static str, Vec<(&'static str, String)>, String);

pub fn signatures() -> Vec<Sig> {
    let cfg = config();
    signatures! { cfg;
        "subscribe"("channel": EventChannel) -> ();
        "snapshot"() -> Snapshot;
        "sign_in_options"("instanceId": String) -> SignInOptions;
        "start_sign_in"("instanceId": String, "strategy": Option<String>, "loopback": Option<bool>) -> SignInView;
        "finish_in_browser"("key": AccountKey) -> SignInView;
        "verify_again"("key": AccountKey, "then": Option<GuardedView>) -> SignInView;
        "reopen_sign_in"() -> bool;
        "copy_sign_in_link"() -> ();
        "cancel_sign_in"() -> bool;
        "confirm_handoff"() -> HandoffDone;
        "decline_handoff"() -> bool;
        "switch_account"("key": AccountKey) -> ();
        "organizations"("key": AccountKey) -> OrgState;
        "switch_org"("key": AccountKey, "orgId": Option<String>) -> ();
        "org_members"("key": AccountKey) -> Vec<MemberView>;
        "session_details"("key": AccountKey) -> DetailsView;
        "template_claims"("key": AccountKey, "template": String) -> Claims;
        "copy_token"("key": AccountKey, "template": Option<String>) -> i64;
        "refresh"("instanceId": Option<String>) -> ();
        "devices"("key": AccountKey) -> Vec<DeviceView>;
        "revoke_session"("key": AccountKey, "sessionId": String) -> RevokeView;
        "sign_out_other_devices"("key": AccountKey) -> Vec<RevokeView>;
        "sign_out"("key": AccountKey) -> ();
        "sign_out_all_here"() -> SignedOutView;
        "sign_out_everywhere"("key": AccountKey, "force": bool) -> EverywhereView;
        "add_instance"("publishableKey": String) -> InstanceView;
        "unlock_keyring"() -> StorageView;
        "check_links"() -> LinkCheckView;
        "cancel_link_check"() -> bool;
        "use_copied_link"() -> ();
        "forget_everything"() -> ForgetView;
        "preferences"() -> PreferencesView;
        "set_close_hides"("on": bool) -> PreferencesView;
        "set_start_at_login"("on": bool) -> PreferencesView;
        "finish_welcome"() -> ();
        "quit"() -> ();
    }
}

/// The channel the window hands to `subscribe` (`new Channel<UiEvent>()`
/// from `@tauri-apps/api/core`).
#[derive(TS)]
#[ts(type = "import('@tauri-apps/api/core').Channel<UiEvent>")]
pub struct EventChannel;

/// Decoded JWT claims (a JSON object).
#[derive(TS)]
#[ts(type = "Record<string, unknown>")]
pub struct Claims;

fn config() -> Config {
    // Times are milliseconds since the epoch: safe as JS numbers.
    Config::new().with_large_int("number")
}

/// The whole generated file.
pub fn typescript() -> String {
    let cfg = config();
    let decls = [
        ErrorKind::decl(&cfg),
        IpcError::decl(&cfg),
        AccountKey::decl(&cfg),
        InstanceKindView::decl(&cfg),
        InstanceView::decl(&cfg),
        SessionStatusView::decl(&cfg),
        SessionTaskView::decl(&cfg),
        AccountView::decl(&cfg),
        StorageStateView::decl(&cfg),
        StorageView::decl(&cfg),
        LinkCheckView::decl(&cfg),
        ForgetView::decl(&cfg),
        StatusView::decl(&cfg),
        ReverifyKind::decl(&cfg),
        ReverifyView::decl(&cfg),
        SignInView::decl(&cfg),
        GuardedView::decl(&cfg),
        HandoffView::decl(&cfg),
        Snapshot::decl(&cfg),
        ProviderView::decl(&cfg),
        SignInOptions::decl(&cfg),
        HandoffDone::decl(&cfg),
        OrgView::decl(&cfg),
        ActiveOrgView::decl(&cfg),
        OrgState::decl(&cfg),
        MemberView::decl(&cfg),
        ActorView::decl(&cfg),
        DetailsView::decl(&cfg),
        DeviceView::decl(&cfg),
        RevokeOutcomeView::decl(&cfg),
        RevokeView::decl(&cfg),
        EverywhereView::decl(&cfg),
        SignedOutView::decl(&cfg),
        RetriedView::decl(&cfg),
        PreferencesView::decl(&cfg),
        UiEvent::decl(&cfg),
        EventChannel::decl(&cfg),
        Claims::decl(&cfg),
    ];
    let mut out =
        String::from("// Generated from src-tauri by ts-rs (`make bindings`). Do not edit.\n\n");
    for d in decls {
        out.push_str("export ");
        out.push_str(&d);
        out.push_str("\n\n");
    }
    out.push_str("/** Every command: its arguments and its result. */\nexport type Commands = {\n");
    for (name, args, ret) in signatures() {
        let args = args
            .iter()
            .map(|(n, t)| {
                if t.ends_with("| null") {
                    format!("{n}?: {t}")
                } else {
                    format!("{n}: {t}")
                }
            })
            .collect::<Vec<_>>()
            .join("; ");
        let ret = if ret == "null" {
            "void".to_owned()
        } else {
            ret
        };
        out.push_str(&format!(
            "  {name}: {{ args: {{ {args} }}; returns: {ret} }};\n"
        ));
    }
    out.push_str("};\n");
    out.replace("{  }", "{}")
}

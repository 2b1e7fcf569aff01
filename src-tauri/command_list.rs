// The one list of the app's IPC commands. `build.rs` and `src/lib.rs` both
// `include!` this file, each with its own `latchkey_commands!` macro:
// `build.rs` declares the names to Tauri (which generates the
// `allow-<name>` permissions), `lib.rs` builds the invoke handler and the
// `COMMANDS` list. Tests check the rest against it: the capability grants
// exactly these, `src/bindings.rs` types exactly these, and the UI calls
// every one of them. Each name is a function in `src/commands.rs`.
latchkey_commands! {
    subscribe,
    snapshot,
    sign_in_options,
    start_sign_in,
    finish_in_browser,
    verify_again,
    reopen_sign_in,
    copy_sign_in_link,
    cancel_sign_in,
    confirm_handoff,
    decline_handoff,
    switch_account,
    organizations,
    switch_org,
    org_members,
    session_details,
    template_claims,
    copy_token,
    refresh,
    devices,
    revoke_session,
    sign_out_other_devices,
    sign_out,
    sign_out_all_here,
    sign_out_everywhere,
    add_instance,
    unlock_keyring,
    check_links,
    cancel_link_check,
    use_copied_link,
    forget_everything,
    preferences,
    set_close_hides,
    set_start_at_login,
    finish_welcome,
    quit,
}

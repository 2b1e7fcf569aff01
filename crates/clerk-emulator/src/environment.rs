//! `GET /v1/environment`: the instance's settings, in the shape of the FAPI
//! spec's `Client.Environment` (every required field present).
//!
//! What clients read from it: `auth_config.single_session_mode` (one account
//! per client, or several), `auth_config.native_settings.api_enabled` (the
//! Dashboard's "Native API" switch; off → 400 `native_api_disabled`),
//! `display_config.application_name` (shown next to accounts) and
//! `user_settings.social` (the sign-in buttons: enabled and
//! `authenticatable` providers). Everything else is there because the spec
//! requires it, with the values a fresh development instance has.

use serde_json::{Value, json};

use crate::fapi::PROVIDERS;
use crate::state::Inner;
use crate::store::Db;

fn attribute(enabled: bool, required: bool, first: &[&str]) -> Value {
    second_factor_attribute(enabled, required, first, &[])
}

fn second_factor_attribute(
    enabled: bool,
    required: bool,
    first: &[&str],
    second: &[&str],
) -> Value {
    json!({
        "enabled": enabled,
        "required": required,
        "used_for_first_factor": !first.is_empty(),
        "first_factors": first,
        "used_for_second_factor": !second.is_empty(),
        "second_factors": second,
        "verifications": if enabled { json!(first) } else { json!([]) },
        "verify_at_sign_up": enabled && !first.is_empty(),
        "immutable": false,
    })
}

pub(crate) fn environment(state: &Inner, db: &Db) -> Value {
    // TOTP is on when some user has it, or sessions are held to set it up.
    let mfa = db.users.values().any(|u| u.mfa)
        || state
            .settings
            .session_tasks
            .iter()
            .any(|r| r.task == crate::SessionTask::SetupMfa);
    let base = &state.base_url;
    let mut social = serde_json::Map::new();
    for (key, name) in PROVIDERS {
        social.insert(
            format!("oauth_{key}"),
            json!({
                "enabled": true,
                "required": false,
                "authenticatable": true,
                "block_email_subaddresses": false,
                "strategy": format!("oauth_{key}"),
                "not_selectable": false,
                "deprecated": false,
                "name": name,
                "logo_url": null,
            }),
        );
    }
    let strategies: Vec<String> = PROVIDERS
        .iter()
        .map(|(k, _)| format!("oauth_{k}"))
        .collect();
    let mut first_factors = vec![
        "email_code".to_owned(),
        "password".to_owned(),
        "ticket".to_owned(),
    ];
    first_factors.extend(strategies.iter().cloned());
    json!({
        "auth_config": {
            "object": "auth_config",
            "id": format!("aac_{}", db.instance_id.trim_start_matches("ins_")),
            "first_name": "on",
            "last_name": "on",
            "email_address": "required",
            "phone_number": "off",
            "username": "on",
            "password": "on",
            "identification_requirements": [["email_address"], strategies],
            "identification_strategies": ["email_address", "username"],
            "first_factors": first_factors,
            "second_factors": [],
            "email_address_verification_strategies": ["email_code"],
            "single_session_mode": db.single_session_mode,
            "enhanced_email_deliverability": false,
            "test_mode": true,
            "cookieless_dev": false,
            "url_based_session_syncing": false,
            "claimed_at": null,
            "reverification": state.settings.reverification_minutes.is_some(),
            "native_settings": {
                "object": "native_settings",
                "api_enabled": state.settings.native_api_enabled,
                "trusted_device_sign_in_enabled": false,
                "trusted_device_enrollment_prompt_after_sign_in_enabled": false,
                "trusted_device_enrollment_prompt_after_sign_up_enabled": false,
            },
        },
        "display_config": {
            "object": "display_config",
            "id": format!("display_config_{}", db.instance_id.trim_start_matches("ins_")),
            "instance_environment_type": "development",
            "application_name": db.application_name,
            "theme": {},
            "preferred_sign_in_strategy": "password",
            "logo_image_url": null,
            "favicon_image_url": null,
            "home_url": format!("{base}/demo"),
            "sign_in_url": format!("{base}/hosted/sign-in"),
            "sign_up_url": format!("{base}/hosted/sign-in"),
            "user_profile_url": format!("{base}/demo"),
            "waitlist_url": format!("{base}/demo"),
            "oauth_consent_url": format!("{base}/demo"),
            "after_sign_in_url": format!("{base}/demo"),
            "after_sign_up_url": format!("{base}/demo"),
            "after_sign_out_one_url": format!("{base}/demo"),
            "after_sign_out_all_url": format!("{base}/demo"),
            "after_switch_session_url": format!("{base}/demo"),
            "after_join_waitlist_url": format!("{base}/demo"),
            "organization_profile_url": format!("{base}/demo"),
            "create_organization_url": format!("{base}/demo"),
            "after_leave_organization_url": format!("{base}/demo"),
            "after_create_organization_url": format!("{base}/demo"),
            "logo_link_url": format!("{base}/"),
            "support_email": null,
            "branded": false,
            "experimental_force_oauth_first": false,
            "clerk_js_version": null,
            "show_devmode_warning": false,
            "google_one_tap_client_id": null,
            "help_url": null,
            "privacy_policy_url": null,
            "terms_url": null,
            "logo_url": null,
            "favicon_url": null,
            "logo_image": null,
            "favicon_image": null,
            "captcha_public_key": null,
            "captcha_widget_type": null,
            "captcha_public_key_invisible": null,
            "captcha_provider": null,
            "captcha_oauth_bypass": [],
        },
        "user_settings": {
            "attributes": {
                "email_address": attribute(true, true, &["email_code"]),
                "phone_number": attribute(false, false, &[]),
                "username": attribute(true, false, &[]),
                "web3_wallet": attribute(false, false, &[]),
                "first_name": attribute(true, false, &[]),
                "last_name": attribute(true, false, &[]),
                "password": attribute(true, false, &["password"]),
                "authenticator_app": if mfa {
                    second_factor_attribute(true, false, &[], &["totp"])
                } else {
                    attribute(false, false, &[])
                },
                "ticket": attribute(true, false, &[]),
                "backup_code": attribute(false, false, &[]),
                "passkey": attribute(false, false, &[]),
            },
            "social": social,
            "saml": {"enabled": false},
            "enterprise_sso": {"enabled": false},
            "sign_in": {"second_factor": {"required": false}},
            "sign_up": {
                "captcha_enabled": false,
                "captcha_widget_type": "smart",
                "custom_action_required": false,
                "progressive": true,
                "mode": "public",
                "legal_consent_enabled": false,
            },
            "restrictions": {
                "allowlist": {"enabled": false},
                "blocklist": {"enabled": false},
                "allowlist_blocklist_disabled_on_sign_in": {"enabled": false},
                "block_email_subaddresses": {"enabled": false},
                "block_disposable_email_domains": {"enabled": false},
            },
            "password_settings": {
                "disable_hibp": true,
                "disable_password_reverification": false,
                "min_length": 8,
                "max_length": 72,
                "require_special_char": false,
                "require_numbers": false,
                "require_uppercase": false,
                "require_lowercase": false,
                "show_zxcvbn": false,
                "min_zxcvbn_strength": 0,
                "enforce_hibp_on_sign_in": false,
                "allowed_special_characters": "!\"#$%&'()*+,-./:;<=>?@[]^_`{|}~",
            },
            "username_settings": {
                "min_length": 4,
                "max_length": 64,
                "allow_extended_special_characters": false,
                "allow_numeric_usernames": false,
            },
            "actions": {"delete_self": true, "create_organization": true, "create_organizations_limit": null},
            "attack_protection": {
                "user_lockout": {"enabled": false, "max_attempts": 100, "duration_in_minutes": 60},
                "pii": {"enabled": true},
                "email_link": {"require_same_client": false},
                "enumeration_protection": {"enabled": false},
            },
            "passkey_settings": {"allow_autofill": false, "show_sign_in_button": false, "satisfies_second_factor": false},
        },
        "organization_settings": {
            "enabled": true,
            "max_allowed_memberships": 0,
            "actions": {"admin_delete": true},
            "domains": {"enabled": false, "enrollment_modes": [], "default_role": "org:member"},
            "slug": {"disabled": false},
            "creator_role": "org:admin",
        },
        "maintenance_mode": false,
        "client_debug_mode": false,
        "partitioned_cookies": false,
    })
}

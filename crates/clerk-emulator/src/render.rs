//! Clerk's wire shapes (FAPI spec `2026-05-12`): storage records → JSON.
//!
//! Every object carries the fields the spec marks required, timestamps are
//! milliseconds, and absent optional strings are left out rather than sent
//! as `null` where the spec types them as plain strings. A test validates
//! each rendered response against the spec's schemas.

use serde_json::{Value, json};

use crate::model::*;
use crate::store::Db;
use crate::ua;

/// Renders records of one instance.
pub(crate) struct Render<'a> {
    pub db: &'a Db,
    pub base: &'a str,
    pub now: i64,
}

impl Render<'_> {
    /// Avatars are served by the emulator itself (`/avatars/<id>.svg`), so
    /// the app's avatar fetch stays on the instance's own origin.
    pub fn image_url(&self, user: &User) -> String {
        format!("{}/avatars/{}.svg", self.base, user.id)
    }

    /// `public_user_data` of a session or membership (spec
    /// `Client.PublicUserData`): `identifier` is required and is what the
    /// user signed in with — here always the email address.
    pub fn public_user_data(&self, user: &User) -> Value {
        json!({
            "first_name": user.first_name,
            "last_name": user.last_name,
            "image_url": self.image_url(user),
            "has_image": true,
            "identifier": user.email,
            "user_id": user.id,
            "username": user.username,
        })
    }

    /// `Client.Organization`. Counts and limits the emulator does not model
    /// are present with neutral values because the spec requires them.
    pub fn organization(&self, org: &Organization) -> Value {
        let members = self
            .db
            .memberships
            .iter()
            .filter(|m| m.org_id == org.id)
            .count();
        json!({
            "object": "organization",
            "id": org.id,
            "name": org.name,
            "slug": org.slug,
            "image_url": format!("{}/avatars/{}.svg", self.base, org.id),
            "has_image": false,
            "members_count": members,
            "pending_invitations_count": 0,
            "max_allowed_memberships": 0,
            "admin_delete_enabled": true,
            "public_metadata": {},
            "created_at": org.created_at,
            "updated_at": org.updated_at,
        })
    }

    /// `Client.OrganizationMembership`: the role key (`org:admin`), its
    /// display name and its permissions, as Clerk lists them. The user part
    /// is included only in member lists (inside a user it would repeat the
    /// user).
    pub fn membership(&self, m: &Membership, with_user: bool) -> Option<Value> {
        let org = self.db.orgs.get(&m.org_id)?;
        let role = self.db.role(&m.role);
        let mut v = json!({
            "object": "organization_membership",
            "id": m.id,
            "public_metadata": {},
            "role": m.role,
            "role_name": role.map(|r| r.name.clone()).unwrap_or_else(|| m.role.clone()),
            "permissions": role.map(|r| r.permissions.clone()).unwrap_or_default(),
            "created_at": m.created_at,
            "updated_at": m.updated_at,
            "organization": self.organization(org),
        });
        if with_user && let Some(u) = self.db.users.get(&m.user_id) {
            v["public_user_data"] = self.public_user_data(u);
        }
        Some(v)
    }

    /// `Client.User`. Emulated users have one verified email address (the
    /// identifier), no phone, no second factor; linked OAuth accounts appear
    /// as `external_accounts`. Fields the spec requires but the emulator does
    /// not model carry Clerk's defaults (`false`, empty lists, `null`).
    pub fn user(&self, user: &User) -> Value {
        let email = json!({
            "id": user.email_id,
            "object": "email_address",
            "email_address": user.email,
            "reserved": false,
            "verification": {
                "object": "verification_admin",
                "status": "verified",
                "strategy": "admin",
                "attempts": null,
                "expire_at": null,
            },
            "linked_to": user.external_accounts.iter()
                .map(|e| json!({"type": format!("oauth_{}", e.provider), "id": e.identification_id}))
                .collect::<Vec<_>>(),
            "created_at": user.created_at,
            "updated_at": user.updated_at,
        });
        let external: Vec<Value> = user
            .external_accounts
            .iter()
            .map(|e| {
                json!({
                    "object": "external_account",
                    "id": e.id,
                    "provider": format!("oauth_{}", e.provider),
                    "identification_id": e.identification_id,
                    "provider_user_id": e.provider_user_id,
                    "approved_scopes": "email profile",
                    "email_address": user.email,
                    "email_address_verified": true,
                    "first_name": user.first_name.clone().unwrap_or_default(),
                    "last_name": user.last_name.clone().unwrap_or_default(),
                    "avatar_url": self.image_url(user),
                    "image_url": self.image_url(user),
                    "username": user.username,
                    "phone_number": null,
                    "public_metadata": {},
                    "label": null,
                    "created_at": e.created_at,
                    "updated_at": e.created_at,
                    "verification": {
                        "object": "verification_oauth",
                        "status": "verified",
                        "strategy": format!("oauth_{}", e.provider),
                        "attempts": null,
                        "expire_at": e.created_at + 600_000,
                    },
                })
            })
            .collect();
        let memberships: Vec<Value> = self
            .db
            .memberships_of(&user.id)
            .into_iter()
            .filter_map(|m| self.membership(m, false))
            .collect();
        json!({
            "id": user.id,
            "object": "user",
            "username": user.username,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "image_url": self.image_url(user),
            "has_image": true,
            "primary_email_address_id": user.email_id,
            "primary_phone_number_id": null,
            "primary_web3_wallet_id": null,
            "password_enabled": user.password.is_some(),
            "two_factor_enabled": false,
            "totp_enabled": false,
            "backup_code_enabled": false,
            "email_addresses": [email],
            "phone_numbers": [],
            "web3_wallets": [],
            "passkeys": [],
            "organization_memberships": memberships,
            "external_accounts": external,
            "saml_accounts": [],
            "enterprise_accounts": [],
            "public_metadata": user.public_metadata,
            "private_metadata": {},
            "unsafe_metadata": {},
            "external_id": null,
            "last_sign_in_at": user.last_sign_in_at,
            "banned": false,
            "locked": false,
            "lockout_expires_in_seconds": null,
            "verification_attempts_remaining": 100,
            "created_at": user.created_at,
            "updated_at": user.updated_at,
            "delete_self_enabled": true,
            "create_organization_enabled": true,
            "last_active_at": user.last_active_at,
            "mfa_enabled_at": null,
            "mfa_disabled_at": null,
            "legal_accepted_at": null,
            "profile_image_url": self.image_url(user),
        })
    }

    /// `factor_verification_age`: minutes since the first and the second
    /// factor were verified, `-1` for never (the same pair as the token's
    /// `fva` claim; Clerk docs, "Session tokens").
    fn fva(&self, s: &Session) -> Value {
        let mins = |at: i64| ((self.now - at) / 60_000).max(0);
        json!([
            mins(s.first_factor_at),
            s.second_factor_at.map(mins).unwrap_or(-1)
        ])
    }

    /// `last_active_token`: a ready token for a signed-in session (clerk-js
    /// seeds its token cache with it, so `setActive` needs no extra
    /// request); `null` otherwise.
    fn token(&self, s: &Session) -> Value {
        match (&s.token_cache, s.status.is_signed_in()) {
            (Some(t), true) => json!({"object": "token", "jwt": t.jwt}),
            _ => Value::Null,
        }
    }

    /// The fields shared by `Client.SessionBase` and everything built on it.
    /// `tasks` is `null` unless the session is pending (`[{key}]`).
    fn session_base(&self, s: &Session) -> Value {
        json!({
            "object": "session",
            "id": s.id,
            "status": s.status.as_str(),
            "expire_at": s.expire_at,
            "abandon_at": s.abandon_at,
            "last_active_at": s.last_active_at,
            "last_active_token": self.token(s),
            "actor": s.actor,
            "tasks": s.tasks.as_ref().map(|t| t.iter().map(|k| json!({"key": k})).collect::<Vec<_>>()),
        })
    }

    /// A full Session (`Client.Session-2`), as embedded in a client.
    pub fn session(&self, s: &Session) -> Value {
        let mut v = self.session_base(s);
        let user = self.db.users.get(&s.user_id);
        v["last_active_organization_id"] = json!(s.last_active_org_id);
        v["public_user_data"] = user
            .map(|u| self.public_user_data(u))
            .unwrap_or(Value::Null);
        v["user"] = user.map(|u| self.user(u)).unwrap_or(Value::Null);
        v["factor_verification_age"] = self.fva(s);
        v["created_at"] = json!(s.created_at);
        v["updated_at"] = json!(s.updated_at);
        v
    }

    /// A session with its latest activity (`Client.ActiveSession`).
    pub fn active_session(&self, s: &Session) -> Value {
        let mut v = self.session_base(s);
        let mut act = serde_json::Map::new();
        act.insert("object".into(), json!("session_activity"));
        act.insert(
            "id".into(),
            json!(format!(
                "sess_activity_{}",
                s.id.trim_start_matches("sess_")
            )),
        );
        let info = ua::parse(s.user_agent.as_deref().unwrap_or(""));
        act.insert("is_mobile".into(), json!(info.is_mobile));
        if let Some(d) = info.device_type {
            act.insert("device_type".into(), json!(d));
        }
        if let Some(b) = info.browser_name {
            act.insert("browser_name".into(), json!(b));
        }
        if let Some(b) = info.browser_version {
            act.insert("browser_version".into(), json!(b));
        }
        if let Some(ip) = &s.ip_address {
            act.insert("ip_address".into(), json!(ip));
            if let Some(loc) = self.db.location(ip) {
                act.insert("city".into(), json!(loc.city));
                act.insert("country".into(), json!(loc.country));
            }
        }
        v["latest_activity"] = Value::Object(act);
        v
    }

    /// `Client.SignIn` (`object: sign_in_attempt`, as the spec and Clerk's
    /// Android fixtures have it). The first-factor verification's shape
    /// follows the strategy: OAuth carries the provider URL to open
    /// (`external_verification_redirect_url`) and `transferable` when the
    /// external account has no user yet.
    pub fn sign_in(&self, si: &SignIn) -> Value {
        let user = si.user_id.as_ref().and_then(|id| self.db.users.get(id));
        let first_factor = match si.strategy.as_deref() {
            Some(s) if s.starts_with("oauth_") => {
                let status = match si.external_status {
                    Some(ExternalStatus::Verified) => "verified",
                    Some(ExternalStatus::Transferable) => "transferable",
                    Some(ExternalStatus::Failed) => "failed",
                    _ => "unverified",
                };
                let mut v = json!({
                    "object": "verification_oauth",
                    "status": status,
                    "strategy": s,
                    "external_verification_redirect_url":
                        format!("{}/oauth/{}/authorize?sign_in_id={}", self.base, s.trim_start_matches("oauth_"), si.id),
                    "error": null,
                    "expire_at": si.created_at + 600_000,
                    "attempts": null,
                });
                if let Some(code) = &si.external_error {
                    v["error"] = json!({"code": code, "message": "OAuth failed", "long_message": "The OAuth provider did not verify the account"});
                }
                v
            }
            Some("ticket") => json!({
                "object": "verification_ticket",
                "status": if si.first_factor_verified { "verified" } else { "unverified" },
                "strategy": "ticket",
                "attempts": null,
                "expire_at": null,
            }),
            Some("password") => json!({
                "object": "verification_password",
                "status": if si.first_factor_verified { "verified" } else { "unverified" },
                "strategy": "password",
                "attempts": null,
                "expire_at": null,
            }),
            _ => Value::Null,
        };
        let supported = if si.status == "needs_first_factor" {
            json!([{"strategy": "password"}])
        } else {
            json!([])
        };
        json!({
            "object": "sign_in_attempt",
            "id": si.id,
            "status": si.status,
            "supported_identifiers": ["email_address", "username"],
            "supported_first_factors": supported,
            "supported_second_factors": if si.status == "needs_second_factor" { json!([{"strategy": "totp"}]) } else { Value::Null },
            "first_factor_verification": first_factor,
            "second_factor_verification": null,
            "identifier": si.identifier,
            "user_data": user.map(|u| json!({
                "first_name": u.first_name,
                "last_name": u.last_name,
                "image_url": self.image_url(u),
                "has_image": true,
            })),
            "created_session_id": si.created_session_id,
            "abandon_at": si.abandon_at,
        })
    }

    /// `Client.SignUp` (`object: sign_up_attempt`): only the email address is
    /// required, verified with an email code.
    pub fn sign_up(&self, su: &SignUp) -> Value {
        let email_verification = su.email.as_ref().map(|_| {
            json!({
                "object": "verification_otp",
                "status": if su.email_verified { "verified" } else { "unverified" },
                "strategy": "email_code",
                "attempts": 0,
                "expire_at": su.created_at + 600_000,
                "next_action": if su.email_verified { "" } else { "needs_attempt" },
                "supported_strategies": ["email_code"],
            })
        });
        let external = su.transfer_profile.as_ref().map(|p| {
            json!({
                "object": "verification_oauth",
                "status": "verified",
                "strategy": format!("oauth_{}", p.provider),
                "attempts": null,
                "expire_at": su.created_at + 600_000,
            })
        });
        let missing: Vec<&str> = if su.status == "complete" {
            vec![]
        } else if su.email.is_none() {
            vec!["email_address"]
        } else {
            vec![]
        };
        let unverified: Vec<&str> = if su.email.is_some() && !su.email_verified {
            vec!["email_address"]
        } else {
            vec![]
        };
        json!({
            "object": "sign_up_attempt",
            "id": su.id,
            "status": su.status,
            "required_fields": ["email_address"],
            "optional_fields": ["first_name", "last_name", "password"],
            "missing_fields": missing,
            "unverified_fields": unverified,
            "verifications": {
                "email_address": email_verification,
                "phone_number": null,
                "web3_wallet": null,
                "external_account": external,
            },
            "username": null,
            "email_address": su.email,
            "phone_number": null,
            "web3_wallet": null,
            "password_enabled": su.password.is_some(),
            "first_name": su.first_name,
            "last_name": su.last_name,
            "unsafe_metadata": {},
            "public_metadata": {},
            "custom_action": false,
            "external_id": null,
            "created_session_id": su.created_session_id,
            "created_user_id": su.created_user_id,
            "abandon_at": su.abandon_at,
            "legal_accepted_at": null,
        })
    }

    /// A Client (`Client.Client-2`); `None` renders as `null`.
    pub fn client(&self, c: Option<&Client>) -> Value {
        let Some(c) = c.filter(|c| !c.ended) else {
            return Value::Null;
        };
        let sessions: Vec<Value> = self
            .db
            .client_session_ids(&c.id)
            .iter()
            .filter_map(|id| self.db.sessions.get(id))
            .map(|s| self.session(s))
            .collect();
        // Clerk's SDKs treat `last_active_session_id` as the current session;
        // one that is no longer signed in would point them at a dead session.
        let last_active = c.last_active_session_id.as_ref().filter(|id| {
            self.db
                .sessions
                .get(*id)
                .is_some_and(|s| s.status.is_signed_in())
        });
        json!({
            "object": "client",
            "id": c.id,
            "sessions": sessions,
            "sign_in": c.sign_in_id.as_ref().and_then(|id| self.db.sign_ins.get(id)).map(|s| self.sign_in(s)),
            "sign_up": c.sign_up_id.as_ref().and_then(|id| self.db.sign_ups.get(id)).map(|s| self.sign_up(s)),
            "last_active_session_id": last_active,
            "last_authentication_strategy": c.last_authentication_strategy,
            "cookie_expires_at": c.updated_at + 365 * 24 * 3600 * 1000,
            "captcha_bypass": false,
            "created_at": c.created_at,
            "updated_at": c.updated_at,
        })
    }

    /// Backend API session (BAPI `Session`).
    pub fn bapi_session(&self, s: &Session) -> Value {
        let active = self.active_session(s);
        json!({
            "object": "session",
            "id": s.id,
            "user_id": s.user_id,
            "client_id": s.client_id,
            "status": s.status.as_str(),
            "last_active_at": s.last_active_at,
            "last_active_organization_id": s.last_active_org_id,
            "actor": s.actor,
            "tasks": null,
            "latest_activity": active["latest_activity"],
            "expire_at": s.expire_at,
            "abandon_at": s.abandon_at,
            "created_at": s.created_at,
            "updated_at": s.updated_at,
        })
    }
}

//! What a user does with an account: switch to it, switch its organization,
//! see its session's details, see and revoke its devices, sign out (here,
//! every account here, every other device, everywhere).
//!
//! Session ids to revoke come from the server's list for the acting
//! account; results are reported per session; "everywhere" revokes the
//! others first, while the credential still works, and stops on a failure
//! unless forced (a local wipe would leave nothing to revoke with later).

use serde::Serialize;

use super::instances::ClientState;
use super::{AccountRef, Engine, OrgSel};
use crate::error::{Error, ErrorKind, Result};
use crate::jwt::OrgClaim;
use crate::models::{OrganizationMembership, Session, SessionWithActivities};
use crate::types::{OrganizationId, SessionId};

/// A device: a session of the account's user, anywhere.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Device {
    /// The session and its latest activity.
    pub session: SessionWithActivities,
    /// It is a session of this device's client.
    pub this_device: bool,
}

/// How revoking one session went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RevokeOutcome {
    /// Revoked.
    Revoked,
    /// The instance wants a recent sign-in first.
    ReverificationRequired,
    /// Clerk refused or could not be reached.
    Failed {
        /// The error's kind name.
        kind: String,
        /// The error's message.
        message: String,
    },
}

/// One session and how revoking it went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionRevoke {
    /// The session on another device.
    pub session_id: SessionId,
    /// What happened.
    pub outcome: RevokeOutcome,
}

/// Result of "sign out everywhere".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum EverywhereOutcome {
    /// Every other session revoked, and this one signed out.
    Done {
        /// How many other sessions were revoked.
        revoked: usize,
    },
    /// Some revokes failed: nothing was signed out here; retry, or sign out
    /// here anyway (`force`).
    Partial {
        /// The sessions that were not revoked.
        failed: Vec<SessionRevoke>,
    },
}

/// Details of one account's session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionDetails {
    /// Which account.
    pub account: AccountRef,
    /// The session as last read.
    pub session: Session,
    /// Decoded claims of the current token (never the token).
    pub claims: Option<serde_json::Value>,
    /// When the current token expires (ms since the epoch).
    pub token_expires_at_ms: Option<i64>,
    /// JWT template names configured for the instance.
    pub templates: Vec<String>,
}

/// The active organization, as the account's current token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveOrg {
    /// The token's `o` claim.
    pub claim: OrgClaim,
    /// The permissions it encodes (`org:<feature>:<action>`).
    pub permissions: Vec<String>,
}

impl Engine {
    /// Makes `acct` the active account (touch, keeping its organization).
    ///
    /// # Errors
    /// [`ErrorKind::SessionGone`] when it is not signed in (any more).
    ///
    /// On a client of its own (one account per client, a single-session
    /// instance) the switch is local: there is no other session to select.
    pub async fn switch(&self, acct: &AccountRef) -> Result<()> {
        let session = self.session(acct).await?;
        let c = self.client_of(acct).await?;
        let shared = self
            .with_client(&c, |cs| {
                cs.client
                    .as_ref()
                    .is_some_and(|cl| cl.accounts().nth(1).is_some())
            })
            .await?;
        if shared {
            let org = session.last_active_organization_id;
            let touched = self
                .call(&c, async |f| {
                    f.touch(&acct.session_id, org.as_ref(), "select_session")
                        .await
                })
                .await;
            let touched = self.on_gone(acct, touched).await?;
            if let Some(read) = touched.client {
                self.apply_client(&c, Some(read)).await;
            }
        }
        self.set_active(acct.clone()).await;
        Ok(())
    }

    /// Switches the account's active organization (`None` = personal).
    ///
    /// # Errors
    /// [`ErrorKind::SessionGone`] when it is not signed in; Clerk's refusal
    /// for an organization the user is not a member of.
    pub async fn switch_org(&self, acct: &AccountRef, org: Option<&OrganizationId>) -> Result<()> {
        self.session(acct).await?;
        let c = self.client_of(acct).await?;
        let touched = self
            .call(&c, async |f| {
                f.touch(&acct.session_id, org, "select_org").await
            })
            .await;
        let touched = self.on_gone(acct, touched).await?;
        self.forget_active_org_tokens(acct);
        if let Some(read) = touched.client {
            self.apply_client(&c, Some(read)).await;
        }
        Ok(())
    }

    /// Signs this account out of this device (others stay).
    ///
    /// # Errors
    /// Transport kinds when Clerk cannot be reached (nothing changed).
    pub async fn sign_out(&self, acct: &AccountRef) -> Result<()> {
        let c = self.client_of(acct).await?;
        self.forget_tokens(acct);
        self.s.accounts.signing_out([acct.clone()]);
        match self
            .call(&c, async |f| f.remove_session(&acct.session_id).await)
            .await
        {
            Ok(removed) => {
                crate::failpoint::hit("sign-out:after-remove");
                let read = match removed.client {
                    Some(read) => Some(read),
                    None => self.call(&c, async |f| f.get_client().await).await?,
                };
                // A client of its own with nothing left is forgotten here.
                self.apply_client(&c, read).await;
                crate::failpoint::hit("sign-out:after-save");
                Ok(())
            }
            Err(e) if e.is_session_gone() => {
                self.confirm_gone(acct).await;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Signs every account of an instance out of this device.
    ///
    /// # Errors
    /// Transport kinds when Clerk cannot be reached.
    pub async fn sign_out_device(&self, instance_id: &str) -> Result<()> {
        let here: Vec<AccountRef> = self
            .accounts()
            .await
            .into_iter()
            .filter(|a| a.account.instance_id == instance_id)
            .map(|a| a.account)
            .collect();
        for a in &here {
            self.forget_tokens(a);
        }
        self.s.accounts.signing_out(here);
        let mut first_err = None;
        for c in self.clients_of(instance_id).await {
            match self.call(&c, async |f| f.sign_out_all().await).await {
                Ok(read) => self.apply_client(&c, read).await,
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// The user's active sessions everywhere; this device's first, then the
    /// most recently active.
    ///
    /// # Errors
    /// [`ErrorKind::SessionGone`] when the acting session is gone; transport
    /// kinds.
    pub async fn devices(&self, acct: &AccountRef) -> Result<Vec<Device>> {
        let c = self.client_of(acct).await?;
        let list = self
            .call(&c, async |f| f.active_sessions(&acct.session_id).await)
            .await;
        let list = self.on_gone(acct, list).await?;
        // Every client of the instance is on this device.
        let here: Vec<SessionId> = self
            .with_instance(&acct.instance_id, |i| {
                i.clients
                    .values()
                    .filter_map(|c| c.client.as_ref())
                    .flat_map(|c| c.sessions.iter().map(|s| s.id.clone()))
                    .collect()
            })
            .await?;
        let mut devices: Vec<Device> = list
            .into_iter()
            .filter(|s| !s.status.is_ended())
            .map(|s| Device {
                this_device: here.contains(&s.id),
                session: s,
            })
            .collect();
        devices.sort_by(|a, b| {
            b.this_device
                .cmp(&a.this_device)
                .then(b.session.last_active_at.cmp(&a.session.last_active_at))
        });
        self.announce_new_devices(acct, &devices);
        Ok(devices)
    }

    /// Announces sessions not seen before (not on the first look at an
    /// account).
    fn announce_new_devices(&self, acct: &AccountRef, devices: &[Device]) {
        let ids: Vec<SessionId> = devices.iter().map(|d| d.session.id.clone()).collect();
        let key = format!("{}/{}", acct.instance_id, acct.session_id);
        let new = self.s.accounts.note_devices(key, &ids);
        for d in devices
            .iter()
            .filter(|d| !d.this_device && new.contains(&d.session.id))
        {
            let a = d.session.latest_activity.clone().unwrap_or_default();
            let description = [a.browser_name, a.device_type, a.city]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ");
            self.emit(super::Event::NewDevice {
                account: acct.clone(),
                session_id: d.session.id.clone(),
                description,
            });
        }
    }

    /// Revokes one session of the account's user on another device.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] for this device's own session (sign out
    /// instead); [`ErrorKind::SessionGone`] when the acting session is gone.
    /// Other failures are an outcome, not an error.
    pub async fn revoke(&self, acct: &AccountRef, target: &SessionId) -> Result<RevokeOutcome> {
        if target == &acct.session_id {
            return Err(Error::new(
                ErrorKind::Config,
                "use sign out for the session on this device",
            ));
        }
        let c = self.client_of(acct).await?;
        let r = self
            .call(&c, async |f| {
                f.revoke_session(&acct.session_id, target).await
            })
            .await;
        Ok(match r {
            Ok(_) => RevokeOutcome::Revoked,
            Err(e) if e.kind() == &ErrorKind::ReverificationRequired => {
                RevokeOutcome::ReverificationRequired
            }
            Err(e) if e.is_session_gone() || e.kind() == &ErrorKind::Unauthenticated => {
                self.confirm_gone(acct).await;
                return Err(e);
            }
            Err(e) => RevokeOutcome::Failed {
                kind: e.kind_name().to_owned(),
                message: e.to_string(),
            },
        })
    }

    /// Revokes every other session of the user; one outcome per session.
    ///
    /// # Errors
    /// As [`devices`](Self::devices) and [`revoke`](Self::revoke).
    pub async fn sign_out_other_devices(&self, acct: &AccountRef) -> Result<Vec<SessionRevoke>> {
        let devices = self.devices(acct).await?;
        let mut out = Vec::new();
        for d in devices.into_iter().filter(|d| !d.this_device) {
            let outcome = self.revoke(acct, &d.session.id).await?;
            out.push(SessionRevoke {
                session_id: d.session.id,
                outcome,
            });
        }
        Ok(out)
    }

    /// Revokes the other sessions first (while the credential still works),
    /// then signs out here and wipes the instance's credential when no
    /// account is left on it. If some revokes fail, nothing is signed out
    /// here unless `force`.
    ///
    /// # Errors
    /// As [`sign_out_other_devices`](Self::sign_out_other_devices) and
    /// [`sign_out`](Self::sign_out).
    pub async fn sign_out_everywhere(
        &self,
        acct: &AccountRef,
        force: bool,
    ) -> Result<EverywhereOutcome> {
        let results = self.sign_out_other_devices(acct).await?;
        let failed: Vec<SessionRevoke> = results
            .iter()
            .filter(|r| r.outcome != RevokeOutcome::Revoked)
            .cloned()
            .collect();
        if !failed.is_empty() && !force {
            return Ok(EverywhereOutcome::Partial { failed });
        }
        let c = self.client_of(acct).await?;
        self.sign_out(acct).await?;
        let left = self
            .with_client(&c, ClientState::has_account)
            .await
            .unwrap_or(false);
        if !left && c.is_main() {
            // Nothing left on the shared client: end it, and forget its
            // credential (saved as "none", so a restart finds nothing to
            // resume). A client of its own was forgotten by the sign-out.
            let _ = self
                .call(&c, async |f| {
                    let r = f.delete_client().await;
                    f.set_credential(None);
                    r
                })
                .await;
        }
        Ok(EverywhereOutcome::Done {
            revoked: results.len() - failed.len(),
        })
    }

    /// The active organization of the account's current token: its `o`
    /// claim and the permissions it encodes (`None`: personal account).
    ///
    /// # Errors
    /// As [`get_token`](Self::get_token); [`ErrorKind::Protocol`] when the
    /// token's claims cannot be read.
    pub async fn active_org_claim(&self, acct: &AccountRef) -> Result<Option<ActiveOrg>> {
        let token = self.get_token(acct, None, OrgSel::Active).await?;
        let claims: Option<crate::jwt::Claims> = crate::jwt::decode_unverified(token.expose())
            .and_then(|v| serde_json::from_value(v).ok());
        let Some(claims) = claims else {
            return Err(Error::new(
                ErrorKind::Protocol,
                "the session token's claims could not be read",
            ));
        };
        Ok(claims.o.map(|o| ActiveOrg {
            permissions: o.permissions(claims.fea.as_deref()),
            claim: o,
        }))
    }

    /// Members of the account's active organization. Admins only: the role
    /// in the current token decides, before anything is asked of Clerk.
    ///
    /// # Errors
    /// [`ErrorKind::Forbidden`] for a personal account or a non-admin role.
    pub async fn organization_members(
        &self,
        acct: &AccountRef,
    ) -> Result<Vec<OrganizationMembership>> {
        let org = match self.active_org_claim(acct).await? {
            Some(a) if a.claim.is_admin() => a.claim,
            Some(_) => {
                return Err(Error::new(
                    ErrorKind::Forbidden,
                    "only organization admins can see the members list",
                ));
            }
            None => {
                return Err(Error::new(
                    ErrorKind::Forbidden,
                    "no organization is active for this account",
                ));
            }
        };
        let org = OrganizationId(org.id);
        let c = self.client_of(acct).await?;
        self.call(&c, async |f| {
            f.organization_memberships(&acct.session_id, &org).await
        })
        .await
    }

    /// Details of the account's session and its current token's claims.
    ///
    /// # Errors
    /// [`ErrorKind::SessionGone`] when it is not signed in.
    pub async fn details(&self, acct: &AccountRef) -> Result<SessionDetails> {
        let session = self.session(acct).await?;
        let cached = self.cached_token(&super::tokens::TokenKey::session_token(acct));
        Ok(SessionDetails {
            account: acct.clone(),
            session,
            claims: cached
                .as_ref()
                .and_then(|t| crate::jwt::decode_unverified(t.token.expose())),
            token_expires_at_ms: cached.map(|t| t.exp_ms),
            templates: self.templates(&acct.instance_id),
        })
    }
}

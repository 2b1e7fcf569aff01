//! Which instance and which account a command is about: `--instance`,
//! `--account` (or `$LATCHKEY_ACCOUNT`), else the active one; which
//! organization a token is for (`--org`).

use latchkey_core::engine::{Account, OrgSel};
use latchkey_core::{Instance, InstanceKind, OrganizationId};

use crate::Ctx;
use crate::args::Select;
use crate::fail::{Fail, Out, code};

fn matches_instance(i: &Instance, sel: &str) -> bool {
    i.id() == sel
        || i.frontend_api().host_str() == Some(sel)
        || (matches!(sel, "local" | "demo") && i.kind() == InstanceKind::LocalDemo)
}

pub async fn instance_for(ctx: &Ctx, sel: &Select) -> Out<Instance> {
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

/// The instance an account belongs to.
pub async fn instance_of(ctx: &Ctx, a: &Account) -> Out<Instance> {
    ctx.engine
        .instances()
        .await
        .into_iter()
        .find(|i| i.id() == a.account.instance_id)
        .ok_or_else(|| Fail::new(code::FAILED, "the account's instance is not configured"))
}

/// The account named by --account / $LATCHKEY_ACCOUNT, else the active one.
pub async fn account_for(ctx: &Ctx, sel: &Select) -> Out<Account> {
    pick_account(&ctx.engine.accounts().await, sel)
}

/// [`account_for`] among these accounts (the engine's, or the running
/// app's).
pub fn pick_account(accounts: &[Account], sel: &Select) -> Out<Account> {
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

pub async fn org_sel(ctx: &Ctx, a: &Account, org: Option<&str>) -> Out<OrgSel> {
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

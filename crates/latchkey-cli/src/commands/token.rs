//! `latchkey token` (a fresh session or template JWT on stdout, nothing
//! else) and `latchkey verify` (check a JWT against the instance's keys and
//! print its claims).

use std::io::Read;

use latchkey_core::{Verifier, VerifyOptions};

use crate::Ctx;
use crate::args::Select;
use crate::fail::{Fail, Out, code};
use crate::output::print_json;
use crate::select::{account_for, instance_for, org_sel};

/// `token [--template T] [--org O]`.
pub async fn token(
    ctx: &Ctx,
    select: &Select,
    template: Option<&str>,
    org: Option<&str>,
) -> Out<u8> {
    let a = account_for(ctx, select).await?;
    let org = org_sel(ctx, &a, org).await?;
    let t = ctx.engine.get_token(&a.account, template, org).await?;
    println!("{}", t.expose());
    Ok(code::OK)
}

/// `verify [JWT|-]`: the token from the argument, or from stdin (`-` or
/// none; 64 KiB at most).
pub async fn verify(ctx: &Ctx, jwt: Option<String>, sel: &Select, opts: VerifyOptions) -> Out<u8> {
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
        return Err(Fail::new(code::BAD_INPUT, "no token given").hint(
            "pipe the JWT to `latchkey verify -` (an argument shows in `ps` and shell history)",
        ));
    }
    let inst = instance_for(ctx, sel).await?;
    let verifier = Verifier::new(inst)?;
    match verifier.verify(token, &opts).await {
        Ok(claims) => {
            print_json(&claims);
            Ok(code::OK)
        }
        Err(reason) => Err(Fail::new(
            code::INVALID_TOKEN,
            format!("invalid token: {reason}"),
        )),
    }
}

//! JWT templates: configured claims with `{{shortcode}}` substitution.
//!
//! Template tokens carry `azp` (when an Origin was sent), `exp`, `iat`,
//! `iss`, `jti`, `nbf` (`iat` − 5 s of allowed skew) and `sub`, plus the
//! template's claims, and never `sid`, `v`, `pla` or `fea` (Clerk docs,
//! "JWT templates").

use serde_json::{Map, Value, json};

use crate::ids::random_base62;
use crate::model::{JwtTemplate, Session};
use crate::state::Inner;
use crate::store::Db;

pub(crate) fn claims(
    state: &Inner,
    db: &Db,
    s: &Session,
    t: &JwtTemplate,
    origin: Option<&str>,
) -> Value {
    let now = state.clock.now_secs();
    let user = db.users.get(&s.user_id);
    let org = s.last_active_org_id.as_ref().and_then(|id| db.orgs.get(id));
    let membership = org.and_then(|o| db.membership(&s.user_id, &o.id));
    let lookup = |code: &str| -> Value {
        match code {
            "user.id" => json!(s.user_id),
            "user.primary_email_address" => json!(user.map(|u| u.email.clone())),
            "user.first_name" => json!(user.and_then(|u| u.first_name.clone())),
            "user.last_name" => json!(user.and_then(|u| u.last_name.clone())),
            "user.full_name" => json!(user.map(|u| u.display_name())),
            "user.username" => json!(user.and_then(|u| u.username.clone())),
            "user.image_url" => {
                json!(user.map(|u| format!("{}/avatars/{}.svg", state.base_url, u.id)))
            }
            "org.id" => json!(org.map(|o| o.id.clone())),
            "org.slug" => json!(org.map(|o| o.slug.clone())),
            "org.name" => json!(org.map(|o| o.name.clone())),
            "org.role" => json!(membership.map(|m| m.role.clone())),
            "session.actor" => s.actor.clone().unwrap_or(Value::Null),
            _ => Value::Null,
        }
    };
    let mut c = Map::new();
    for (k, v) in &t.claims {
        c.insert(k.clone(), substitute(v, &lookup));
    }
    if let Some(o) = origin {
        c.insert("azp".into(), json!(o));
    }
    c.insert("exp".into(), json!(now + t.lifetime.max(1)));
    c.insert("iat".into(), json!(now));
    c.insert("iss".into(), json!(state.issuer()));
    c.insert("jti".into(), json!(random_base62(20)));
    c.insert("nbf".into(), json!(now - 5));
    c.insert("sub".into(), json!(s.user_id));
    Value::Object(c)
}

/// Replaces `{{code}}` in strings: a string that is exactly one shortcode
/// takes the value's type; shortcodes inside text are interpolated.
fn substitute(v: &Value, lookup: &dyn Fn(&str) -> Value) -> Value {
    match v {
        Value::String(s) => {
            let t = s.trim();
            if t.starts_with("{{") && t.ends_with("}}") && t.matches("{{").count() == 1 {
                return lookup(t[2..t.len() - 2].trim());
            }
            let mut out = String::new();
            let mut rest = s.as_str();
            while let Some(i) = rest.find("{{") {
                out.push_str(&rest[..i]);
                match rest[i..].find("}}") {
                    Some(j) => {
                        let code = rest[i + 2..i + j].trim();
                        match lookup(code) {
                            Value::String(x) => out.push_str(&x),
                            Value::Null => {}
                            other => out.push_str(&other.to_string()),
                        }
                        rest = &rest[i + j + 2..];
                    }
                    None => {
                        out.push_str(&rest[i..]);
                        rest = "";
                    }
                }
            }
            out.push_str(rest);
            Value::String(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute(x, lookup)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), substitute(x, lookup)))
                .collect(),
        ),
        other => other.clone(),
    }
}

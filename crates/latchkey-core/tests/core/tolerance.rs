//! Answers from a Clerk that changed: every model Latchkey reads parses
//! instances generated from the vendored OpenAPI schemas, mutated the ways a
//! later Clerk may send them (extra fields, new enum values, nulls and
//! missing values where the spec allows them, keys in another order); and
//! through the engine, a client answer changed that way or broken signs
//! nobody out.

use std::collections::BTreeMap;

use clerk_emulator::{FaultAction, FaultRule};
use latchkey_core::engine::Event;
use latchkey_core::models::{
    Client, Environment, OrganizationMembership, Session, SessionStatus, SessionWithActivities,
    SignIn, SignUp, TokenObject, User,
};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::common::*;
use crate::engine::{rig, sign_in};

/// How a generated instance is changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mutation {
    /// Every property the schema names, with plausible values.
    Full,
    /// …plus fields the schema does not know, in every object.
    ExtraFields,
    /// Every enum property with a value the schema does not list.
    NewEnumValues,
    /// Every optional or nullable property `null`.
    Nulls,
    /// Every optional property left out.
    Missing,
    /// `Full`, with every object's keys in reverse order.
    Reordered,
}

const ALL: [Mutation; 6] = [
    Mutation::Full,
    Mutation::ExtraFields,
    Mutation::NewEnumValues,
    Mutation::Nulls,
    Mutation::Missing,
    Mutation::Reordered,
];

struct Spec(Value);

impl Spec {
    fn load() -> Spec {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../spec/clerk-openapi/fapi-2026-05-12.yml");
        let text = std::fs::read_to_string(&path).expect("the vendored FAPI spec");
        let yaml: serde_yaml::Value = serde_yaml::from_str(&text).expect("YAML");
        Spec(serde_json::to_value(yaml).expect("JSON"))
    }

    fn schema(&self, name: &str) -> &Value {
        &self.0["components"]["schemas"][name]
    }

    fn resolve<'a>(&'a self, s: &'a Value) -> &'a Value {
        match s.get("$ref").and_then(Value::as_str) {
            Some(r) => self.resolve(self.schema(r.trim_start_matches("#/components/schemas/"))),
            None => s,
        }
    }

    /// Properties (with their schemas), required names and nullability of
    /// an object schema, `allOf` merged.
    fn object_parts<'a>(
        &'a self,
        s: &'a Value,
        props: &mut Vec<(String, &'a Value)>,
        required: &mut Vec<String>,
    ) {
        let s = self.resolve(s);
        for part in s
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            self.object_parts(part, props, required);
        }
        if let Some(p) = s.get("properties").and_then(Value::as_object) {
            for (k, v) in p {
                props.retain(|(n, _)| n != k);
                props.push((k.clone(), v));
            }
        }
        if let Some(r) = s.get("required").and_then(Value::as_array) {
            required.extend(r.iter().filter_map(|x| x.as_str().map(str::to_owned)));
        }
    }

    fn nullable(&self, s: &Value) -> bool {
        s.get("nullable") == Some(&Value::Bool(true))
            || self.resolve(s).get("nullable") == Some(&Value::Bool(true))
    }

    /// An instance of `s` under mutation `m`.
    fn generate(&self, s: &Value, m: Mutation, depth: usize) -> Value {
        let s = self.resolve(s);
        if let Some(first) = s
            .get("oneOf")
            .or_else(|| s.get("anyOf"))
            .and_then(Value::as_array)
            .and_then(|a| a.first())
        {
            return self.generate(first, m, depth);
        }
        if let Some(values) = s.get("enum").and_then(Value::as_array) {
            return match m {
                Mutation::NewEnumValues => json!("a_value_added_later"),
                _ => values
                    .iter()
                    .find(|v| !v.is_null())
                    .cloned()
                    .unwrap_or(Value::Null),
            };
        }
        let ty = s.get("type").and_then(Value::as_str);
        // A map (`additionalProperties` with a schema, no named properties):
        // one entry, and one more for a key Clerk adds later.
        if s.get("properties").is_none()
            && s.get("allOf").is_none()
            && let Some(values) = s.get("additionalProperties").filter(|v| v.is_object())
        {
            let mut out = Map::new();
            if depth <= 7 {
                out.insert("a_key".into(), self.generate(values, m, depth + 1));
                if m == Mutation::ExtraFields {
                    out.insert(
                        "a_key_added_later".into(),
                        self.generate(values, m, depth + 1),
                    );
                }
            }
            return Value::Object(out);
        }
        let is_object =
            ty == Some("object") || s.get("properties").is_some() || s.get("allOf").is_some();
        if is_object {
            let mut props = Vec::new();
            let mut required = Vec::new();
            self.object_parts(s, &mut props, &mut required);
            let mut out = Map::new();
            for (name, sub) in props {
                let optional = !required.contains(&name);
                let value = match m {
                    Mutation::Missing if optional => continue,
                    Mutation::Nulls if optional || self.nullable(sub) => Value::Null,
                    _ if depth > 7 => Value::Null,
                    _ => self.generate(sub, m, depth + 1),
                };
                out.insert(name, value);
            }
            if m == Mutation::ExtraFields {
                out.insert(
                    "a_field_added_later".into(),
                    json!({"nested": [1, "two", null], "flag": true}),
                );
            }
            return Value::Object(out);
        }
        match ty {
            Some("array") => match s.get("items") {
                Some(items) if depth <= 7 => json!([self.generate(items, m, depth + 1)]),
                _ => json!([]),
            },
            Some("integer") => json!(1_700_690_400_000_i64),
            Some("number") => json!(1.5),
            Some("boolean") => json!(true),
            _ => json!("x_generated"),
        }
    }
}

/// JSON text with every object's keys in reverse order.
fn reversed(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let parts: Vec<String> = m
                .iter()
                .rev()
                .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), reversed(v)))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(a) => format!("[{}]", a.iter().map(reversed).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

fn parses<T: DeserializeOwned>(spec: &Spec, schema: &str, failures: &mut Vec<String>) -> usize {
    let s = spec.schema(schema).clone();
    assert!(!s.is_null(), "no schema {schema} in the spec");
    let mut n = 0;
    for m in ALL {
        let instance = spec.generate(&s, m, 0);
        let text = match m {
            Mutation::Reordered => reversed(&instance),
            _ => instance.to_string(),
        };
        n += 1;
        if let Err(e) = serde_json::from_str::<T>(&text) {
            failures.push(format!("{schema} {m:?}: {e}"));
        }
    }
    n
}

#[test]
fn every_model_parses_what_a_later_clerk_may_send() {
    let spec = Spec::load();
    let mut failures = Vec::new();
    let mut cases = 0;
    cases += parses::<Client>(&spec, "Client.Client-2", &mut failures);
    cases += parses::<Session>(&spec, "Client.Session-2", &mut failures);
    cases += parses::<SessionWithActivities>(&spec, "Client.ActiveSession", &mut failures);
    cases += parses::<User>(&spec, "Client.User", &mut failures);
    cases +=
        parses::<OrganizationMembership>(&spec, "Client.OrganizationMembership", &mut failures);
    cases += parses::<SignIn>(&spec, "Client.SignIn-2", &mut failures);
    cases += parses::<SignUp>(&spec, "Client.SignUp", &mut failures);
    cases += parses::<Environment>(&spec, "Client.Environment", &mut failures);
    cases += parses::<TokenObject>(&spec, "Token", &mut failures);
    assert!(failures.is_empty(), "{failures:#?}");
    // A new status is kept, as unknown.
    let s = spec.generate(spec.schema("Client.Session-2"), Mutation::NewEnumValues, 0);
    let s: Session = serde_json::from_value(s).unwrap();
    assert_eq!(s.status, SessionStatus::Unknown);
    assert!(
        !s.status.is_ended(),
        "an unknown status is not an ended session"
    );
    eprintln!("{cases} generated answers from the spec's schemas, 0 parse failures");
}

/// `GET /v1/client` as the emulator sends it, with the credential the
/// engine saved.
async fn client_as_sent(env: &Env, store: &latchkey_core::store::MemoryStore) -> Value {
    let key = store
        .keys()
        .into_iter()
        .find(|k| k.starts_with("credential:"))
        .expect("a saved credential");
    let raw = store.raw(&key).unwrap();
    let entry: Value = serde_json::from_slice(&raw[4..]).unwrap();
    let credential = entry["credential"].as_str().unwrap().to_owned();
    let url = format!(
        "{}/v1/client?_is_native=1&__clerk_api_version={}",
        env.emu.frontend_api_url(),
        latchkey_core::API_VERSION
    );
    let body: Value = latchkey_core::http_client_builder()
        .build()
        .unwrap()
        .get(url)
        .header("authorization", credential)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["response"].clone()
}

/// Applies `f` to every object in `v`.
fn each_object(v: &mut Value, f: &mut dyn FnMut(&mut Map<String, Value>)) {
    match v {
        Value::Object(m) => {
            // Children first: what `f` adds is not visited again.
            for x in m.values_mut() {
                each_object(x, f);
            }
            f(m);
        }
        Value::Array(a) => a.iter_mut().for_each(|x| each_object(x, f)),
        _ => {}
    }
}

#[tokio::test]
async fn a_changed_or_broken_client_answer_signs_nobody_out() {
    let env = env().await;
    let r = rig(&env).await;
    let ada = sign_in(&r.engine, &env, "ada@example.com").await;
    let grace = sign_in(&r.engine, &env, "grace@example.com").await;
    let before: Vec<_> = r
        .engine
        .accounts()
        .await
        .into_iter()
        .map(|a| a.account)
        .collect();
    let mut events = r.engine.subscribe();
    let real: Value = client_as_sent(&env, &r.store).await;
    assert_eq!(real["sessions"].as_array().unwrap().len(), 2);

    // What a later Clerk may send: unknown fields everywhere, nulls where
    // the spec allows them, a status this version does not know.
    let optional_nulls: BTreeMap<&str, ()> = [
        "last_active_organization_id",
        "actor",
        "tasks",
        "last_active_token",
        "sign_in",
        "sign_up",
        "cookie_expires_at",
        "last_authentication_strategy",
        "image_url",
        "username",
    ]
    .into_iter()
    .map(|k| (k, ()))
    .collect();
    let mut changed = real.clone();
    each_object(&mut changed, &mut |m| {
        m.insert("a_field_added_later".into(), json!({"x": [null]}));
        for k in optional_nulls.keys() {
            if m.contains_key(*k) {
                m.insert((*k).to_owned(), Value::Null);
            }
        }
        if m.get("object") == Some(&json!("user")) {
            m.insert("email_addresses".into(), Value::Null);
            m.insert("organization_memberships".into(), Value::Null);
        }
    });
    changed["sessions"][0]["status"] = json!("a_status_added_later");
    env.emu.add_fault(
        FaultRule::new(
            "/v1/client",
            FaultAction::Json200 {
                body: json!({"response": changed, "client": changed}),
            },
        )
        .times(1),
    );
    r.engine
        .reload(None)
        .await
        .expect("the changed answer parses");
    let after = r.engine.accounts().await;
    assert_eq!(
        after.iter().map(|a| a.account.clone()).collect::<Vec<_>>(),
        before,
        "the same accounts"
    );
    assert!(after.iter().all(|a| a.problem.is_none()));
    let unknown = after
        .iter()
        .find(|a| a.status == SessionStatus::Unknown)
        .expect("the new status is kept, as unknown");
    assert!([&ada, &grace].contains(&&unknown.account));

    // A broken answer (a required field of the wrong type): nothing parses,
    // nobody is signed out; the accounts are marked with what failed, and
    // the path names the field, not its value.
    let mut broken = real.clone();
    broken["sessions"][1]["id"] = json!({"eyJ-not-an-id": true});
    env.emu.add_fault(
        FaultRule::new(
            "/v1/client",
            FaultAction::Json200 {
                body: json!({"response": broken, "client": broken}),
            },
        )
        .times(1),
    );
    let e = r.engine.reload(None).await.unwrap_err();
    assert!(e.to_string().contains("`response.sessions[1].id`"), "{e}");
    assert!(!e.to_string().contains("eyJ"), "{e}");
    let marked = r.engine.accounts().await;
    assert_eq!(marked.len(), 2, "nobody signed out");
    assert!(
        marked.iter().all(|a| a
            .problem
            .as_deref()
            .is_some_and(|p| p.contains("sessions[1].id"))),
        "{marked:?}"
    );
    assert!(
        r.engine
            .cached_accounts()
            .iter()
            .all(|a| a.problem.is_some()),
        "what the app shows carries the mark too"
    );
    // The next good answer clears the mark.
    r.engine.reload(None).await.unwrap();
    assert!(
        r.engine
            .accounts()
            .await
            .iter()
            .all(|a| a.problem.is_none())
    );
    let mut revoked = 0;
    while let Ok(e) = events.try_recv() {
        if matches!(e, Event::SessionRevoked { .. }) {
            revoked += 1;
        }
    }
    assert_eq!(revoked, 0, "0 sign-outs");
}

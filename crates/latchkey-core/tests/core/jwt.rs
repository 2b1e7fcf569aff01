//! JWT verification against the emulator's JWKS: the attack list of
//! docs/threat-model.md (T9–T12) and the options of `verify`.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use latchkey_core::{
    Instance, OrgSel, Rejection, SessionId, SignInTicket, UserId, Verifier, VerifyOptions,
};
use serde_json::{Value, json};

use crate::common::*;

fn claims(env: &Env) -> Value {
    let n = now();
    json!({"sub": "user_1", "sid": "sess_1", "iss": env.emu.frontend_api_url(), "iat": n, "exp": n + 60, "nbf": n - 10, "v": 2, "sts": "active", "fva": [3, -1], "jti": "j"})
}

fn with(env: &Env, f: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
    let mut c = claims(env);
    f(c.as_object_mut().unwrap());
    forge(env.emu.instance_id(), &c)
}

fn raw_token(header: Value, payload: &Value, sig: &str) -> String {
    format!(
        "{}.{}.{sig}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string())
    )
}

fn public_pem() -> String {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::pkcs8::{EncodePublicKey, LineEnding};
    let k = rsa::RsaPrivateKey::from_pkcs1_pem(&keys().rsa_private_pem).unwrap();
    k.to_public_key().to_public_key_pem(LineEnding::LF).unwrap()
}

async fn rejects(v: &Verifier, token: &str, opts: &VerifyOptions) -> Rejection {
    v.verify(token, opts).await.expect_err("must be rejected")
}

#[tokio::test]
async fn genuine_tokens_verify_and_bind_to_their_session() {
    let env = env().await;
    let fapi = env.fapi();
    let si = fapi
        .sign_in_with_ticket(&SignInTicket::new(env.ticket("ada@example.com").await))
        .await
        .unwrap();
    let sid = si.created_session_id.unwrap();
    let token = fapi.session_token(&sid, &OrgSel::Active).await.unwrap();
    let v = Verifier::new(env.instance.clone()).unwrap();
    let uid = UserId(env.user_id("ada@example.com"));
    let c = v
        .verify(
            token.expose(),
            &VerifyOptions {
                expect_session: Some((sid.clone(), uid.clone())),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(c.sid.as_deref(), Some(sid.as_str()));
    assert_eq!(c.v, Some(2));
    // Another session's slot: refused.
    let r = rejects(
        &v,
        token.expose(),
        &VerifyOptions {
            expect_session: Some((SessionId("sess_other".into()), uid.clone())),
            ..Default::default()
        },
    )
    .await;
    assert!(matches!(r, Rejection::WrongSession { .. }));
    let r = rejects(
        &v,
        token.expose(),
        &VerifyOptions {
            expect_session: Some((sid.clone(), UserId("user_other".into()))),
            ..Default::default()
        },
    )
    .await;
    assert!(matches!(r, Rejection::WrongUser { .. }));
    // A template with an `aud` claim is refused (no audience expected).
    let t = fapi.template_token(&sid, "supabase").await.unwrap();
    assert_eq!(
        rejects(&v, t.expose(), &VerifyOptions::default()).await,
        Rejection::Audience
    );
    // A template token has no sid: never a session token.
    let t = fapi.template_token(&sid, "api").await.unwrap();
    assert!(
        v.verify(t.expose(), &VerifyOptions::default())
            .await
            .is_ok(),
        "valid as a token of the instance"
    );
    assert!(matches!(
        rejects(
            &v,
            t.expose(),
            &VerifyOptions {
                expect_session: Some((sid, uid)),
                ..Default::default()
            }
        )
        .await,
        Rejection::WrongSession { .. }
    ));
    // The client credential and the sign-in ticket are not session tokens.
    assert!(matches!(
        rejects(
            &v,
            fapi.credential().unwrap().expose(),
            &VerifyOptions::default()
        )
        .await,
        Rejection::Algorithm(_)
    ));
    assert!(matches!(
        rejects(
            &v,
            &env.ticket("grace@example.com").await,
            &VerifyOptions::default()
        )
        .await,
        Rejection::Algorithm(_)
    ));
}

#[tokio::test]
async fn the_jwt_attack_list_is_rejected() {
    let env = env().await;
    let v = Verifier::new(env.instance.clone()).unwrap();
    let o = VerifyOptions::default();
    let kid = env.emu.instance_id().to_owned();
    let c = claims(&env);
    assert!(
        v.verify(&forge(&kid, &c), &o).await.is_ok(),
        "sanity: a well-formed forged token with the real key verifies"
    );
    let mut rejected = 0;

    // alg none, in every case, with and without a signature.
    for alg in ["none", "None", "NONE", "nOnE"] {
        for sig in ["", "c2ln"] {
            let t = raw_token(json!({"alg": alg, "typ": "JWT", "kid": kid}), &c, sig);
            assert!(v.verify(&t, &o).await.is_err(), "alg {alg} sig {sig:?}");
            rejected += 1;
        }
    }
    // HS256 keyed with the RSA public key: PEM, DER-ish bytes, JWK n.
    let pem = public_pem();
    let jwks: Value = reqwest::get(format!(
        "{}/.well-known/jwks.json",
        env.emu.frontend_api_url()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let n = jwks["keys"][0]["n"].as_str().unwrap().to_owned();
    for secret in [
        pem.as_bytes().to_vec(),
        pem.lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<String>()
            .into_bytes(),
        URL_SAFE_NO_PAD.decode(&n).unwrap(),
    ] {
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some(kid.clone());
        let t = jsonwebtoken::encode(&h, &c, &EncodingKey::from_secret(&secret)).unwrap();
        assert!(matches!(rejects(&v, &t, &o).await, Rejection::Algorithm(_)));
        rejected += 1;
    }
    // Other algorithms with the same RSA key, and ES256 by header.
    let rsa = EncodingKey::from_rsa_pem(keys().rsa_private_pem.as_bytes()).unwrap();
    for alg in [
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS512,
    ] {
        let mut h = Header::new(alg);
        h.kid = Some(kid.clone());
        let t = jsonwebtoken::encode(&h, &c, &rsa).unwrap();
        assert!(
            matches!(rejects(&v, &t, &o).await, Rejection::Algorithm(_)),
            "{alg:?}"
        );
        rejected += 1;
    }
    assert!(matches!(
        rejects(
            &v,
            &raw_token(json!({"alg": "ES256", "kid": kid}), &c, "c2ln"),
            &o
        )
        .await,
        Rejection::Algorithm(_)
    ));
    // Empty or stripped signature.
    let good = forge(&kid, &c);
    let (hp, _) = good.rsplit_once('.').unwrap();
    assert!(v.verify(&format!("{hp}."), &o).await.is_err());
    assert!(matches!(
        rejects(&v, &format!("{hp}.AAAA"), &o).await,
        Rejection::Signature
    ));
    rejected += 2;

    // Key-source tricks: a foreign key embedded as jwk / jku / x5u.
    let attacker = clerk_emulator::KeyMaterial::generate().unwrap();
    let akey = EncodingKey::from_rsa_pem(attacker.rsa_private_pem.as_bytes()).unwrap();
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some(kid.clone());
    h.jku = Some("https://evil.example/jwks.json".into());
    h.x5u = Some("https://evil.example/cert".into());
    let t = jsonwebtoken::encode(&h, &c, &akey).unwrap();
    assert!(matches!(rejects(&v, &t, &o).await, Rejection::Signature));
    rejected += 1;
    // kid strings that are plain misses.
    for bad_kid in ["../../etc/passwd", "' OR 1=1--", "ins_unknown"] {
        assert!(
            matches!(
                rejects(&v, &forge(bad_kid, &c), &o).await,
                Rejection::UnknownKey(_)
            ),
            "{bad_kid}"
        );
        rejected += 1;
    }
    let long_kid = "k".repeat(10_000);
    assert!(v.verify(&forge(&long_kid, &c), &o).await.is_err());

    // Time.
    let n = now();
    for (what, t, want) in [
        (
            "expired 1s",
            with(&env, |m| {
                m.insert("exp".into(), json!(n - 1));
            }),
            Rejection::Expired,
        ),
        (
            "expired 6s",
            with(&env, |m| {
                m.insert("exp".into(), json!(n - 6));
            }),
            Rejection::Expired,
        ),
        (
            "expired 61s",
            with(&env, |m| {
                m.insert("exp".into(), json!(n - 61));
            }),
            Rejection::Expired,
        ),
        (
            "nbf +30s",
            with(&env, |m| {
                m.insert("nbf".into(), json!(n + 30));
            }),
            Rejection::NotYetValid,
        ),
        (
            "iat +1h",
            with(&env, |m| {
                m.insert("iat".into(), json!(n + 3600));
            }),
            Rejection::IssuedInFuture,
        ),
    ] {
        assert_eq!(rejects(&v, &t, &o).await, want, "{what}");
        rejected += 1;
    }
    // Issuer, audience, azp, sts.
    let base = env.emu.frontend_api_url().to_owned();
    for iss in [
        json!("https://evil.example"),
        json!(format!("{base}/")),
        json!(base.replace("http://", "https://")),
    ] {
        assert_eq!(
            rejects(
                &v,
                &with(&env, |m| {
                    m.insert("iss".into(), iss.clone());
                }),
                &o
            )
            .await,
            Rejection::Issuer,
            "{iss}"
        );
        rejected += 1;
    }
    assert_eq!(
        rejects(
            &v,
            &with(&env, |m| {
                m.remove("iss");
            }),
            &o
        )
        .await,
        Rejection::MissingClaim("iss".into())
    );
    assert_eq!(
        rejects(
            &v,
            &with(&env, |m| {
                m.remove("sub");
            }),
            &o
        )
        .await,
        Rejection::MissingClaim("sub".into())
    );
    assert_eq!(
        rejects(
            &v,
            &with(&env, |m| {
                m.remove("nbf");
            }),
            &o
        )
        .await,
        Rejection::MissingClaim("nbf".into())
    );
    assert_eq!(
        rejects(
            &v,
            &with(&env, |m| {
                m.insert("aud".into(), json!("someone"));
            }),
            &o
        )
        .await,
        Rejection::Audience
    );
    assert!(matches!(
        rejects(
            &v,
            &with(&env, |m| {
                m.insert("azp".into(), json!("https://evil.example"));
            }),
            &o
        )
        .await,
        Rejection::UnauthorizedParty(_)
    ));
    assert_eq!(
        rejects(
            &v,
            &with(&env, |m| {
                m.insert("sts".into(), json!("pending"));
            }),
            &o
        )
        .await,
        Rejection::Pending
    );
    rejected += 7;
    // Wrong claim types.
    for (k, val) in [
        ("exp", json!("soon")),
        ("sub", json!(42)),
        ("exp", json!(1e300)),
        ("fva", json!("x")),
    ] {
        assert!(
            matches!(
                rejects(
                    &v,
                    &with(&env, |m| {
                        m.insert(k.into(), val.clone());
                    }),
                    &o
                )
                .await,
                Rejection::ClaimType(_)
            ),
            "{k}={val}"
        );
        rejected += 1;
    }
    // Shape: size, segments, base64, padding, whitespace.
    let big = with(&env, |m| {
        m.insert("pad".into(), json!("x".repeat(9000)));
    });
    assert_eq!(rejects(&v, &big, &o).await, Rejection::TooLarge);
    for t in [
        format!("{good}.x"),
        good.replacen('.', ".!", 1),
        format!("{good}="),
        good.replacen('.', ". ", 1),
        "a.b".into(),
        "".into(),
    ] {
        assert!(v.verify(&t, &o).await.is_err(), "{t:.40}");
        rejected += 1;
    }
    eprintln!("JWT attack list: {rejected} forged or invalid tokens, 0 accepted");
}

#[tokio::test]
async fn options_max_age_factor_age_and_authorized_parties() {
    let env = env().await;
    let v = Verifier::new(env.instance.clone()).unwrap();
    let n = now();
    let old = with(&env, |m| {
        m.insert("iat".into(), json!(n - 120));
    });
    assert!(v.verify(&old, &VerifyOptions::default()).await.is_ok());
    let r = rejects(
        &v,
        &old,
        &VerifyOptions {
            max_age: Some(Duration::from_secs(60)),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(r, Rejection::TooOld { age: 120, max: 60 });
    let fva_old = with(&env, |m| {
        m.insert("fva".into(), json!([30, -1]));
    });
    assert_eq!(
        rejects(
            &v,
            &fva_old,
            &VerifyOptions {
                max_factor_age: Some(Duration::from_secs(600)),
                ..Default::default()
            }
        )
        .await,
        Rejection::FactorTooOld { age: 30, max: 10 }
    );
    assert!(
        v.verify(
            &fva_old,
            &VerifyOptions {
                max_factor_age: Some(Duration::from_secs(3600)),
                ..Default::default()
            }
        )
        .await
        .is_ok()
    );
    let never = with(&env, |m| {
        m.insert("fva".into(), json!([-1, -1]));
    });
    assert!(matches!(
        rejects(
            &v,
            &never,
            &VerifyOptions {
                max_factor_age: Some(Duration::from_secs(3600)),
                ..Default::default()
            }
        )
        .await,
        Rejection::FactorTooOld { .. }
    ));
    let azp = with(&env, |m| {
        m.insert("azp".into(), json!("https://app.example.com"));
    });
    let allow = VerifyOptions {
        authorized_parties: vec!["https://app.example.com".into()],
        ..Default::default()
    };
    assert!(v.verify(&azp, &allow).await.is_ok());
    assert!(
        v.verify(&with(&env, |_| {}), &allow).await.is_ok(),
        "absent azp is accepted (native requests have no Origin)"
    );
    // A skew-corrected clock: verified as of a given time.
    let t = with(&env, |_| {});
    assert_eq!(
        v.verify_at(&t, &VerifyOptions::default(), n + 600)
            .await
            .unwrap_err(),
        Rejection::Expired
    );
    assert!(
        v.verify_at(&t, &VerifyOptions::default(), n + 30)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn unknown_kids_refetch_the_jwks_at_most_once_per_minute() {
    let env = env().await;
    let v = Verifier::new(env.instance.clone()).unwrap();
    let c = claims(&env);
    env.emu.clear_requests();
    for i in 0..1000 {
        let t = forge(&format!("ins_forged_{i}"), &c);
        assert!(matches!(
            v.verify(&t, &VerifyOptions::default()).await,
            Err(Rejection::UnknownKey(_))
        ));
    }
    let fetches = env
        .emu
        .requests()
        .iter()
        .filter(|r| r.path == "/.well-known/jwks.json")
        .count();
    assert_eq!(
        fetches, 1,
        "1,000 unknown kids: only the first fetches the JWKS within a minute"
    );
    assert_eq!(v.jwks_fetches().await, 1);
    // The keys fetched then serve the real kid without another fetch.
    assert!(
        v.verify(&forge(env.emu.instance_id(), &c), &VerifyOptions::default())
            .await
            .is_ok()
    );
    assert_eq!(
        env.emu
            .requests()
            .iter()
            .filter(|r| r.path == "/.well-known/jwks.json")
            .count(),
        1
    );
    eprintln!("1,000 unknown-kid tokens -> {fetches} JWKS fetch(es)");
}

#[tokio::test]
async fn a_clerk_instance_rejects_emulator_signed_tokens() {
    let env = env().await;
    let token = forge(env.emu.instance_id(), &claims(&env));
    let as_clerk =
        Verifier::new(Instance::from_publishable_key(env.emu.publishable_key()).unwrap()).unwrap();
    assert!(
        as_clerk
            .verify(&token, &VerifyOptions::default())
            .await
            .is_err()
    );
    // Another Clerk instance (on a loopback port where nothing listens, so
    // no traffic leaves the machine): its JWKS cannot vouch for the token.
    let key = format!(
        "pk_live_{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode("127.0.0.1:1$")
    );
    let other = Verifier::new(Instance::from_publishable_key(&key).unwrap()).unwrap();
    assert!(
        other
            .verify(&token, &VerifyOptions::default())
            .await
            .is_err()
    );
    assert_eq!(
        env.fapi_requests(),
        0,
        "a Clerk instance never fetched the emulator's JWKS over http"
    );
}

/// Property tests: arbitrary strings, mutated genuine tokens and random
/// JWKS documents never panic and are never accepted (bounded here;
/// `make fuzz` runs ≥ 100k cases).
#[test]
fn property_no_forged_token_is_accepted() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (env, v, good) = rt.block_on(async {
        let env = env().await;
        let v = Verifier::new(env.instance.clone()).unwrap();
        let good = forge(env.emu.instance_id(), &claims(&env));
        assert!(
            v.verify(&good, &VerifyOptions::default()).await.is_ok(),
            "keys cached before the run"
        );
        (env, v, good)
    });
    let cases: u32 = std::env::var("LATCHKEY_FUZZ_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(2_000);
    env.emu.clear_requests();
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = prop_oneof![
        "\\PC{0,400}".prop_map(|s| s),
        (0..good.len(), any::<u8>()).prop_map({
            let good = good.clone();
            move |(i, b)| {
                let mut bytes = good.clone().into_bytes();
                let replacement =
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
                        [b as usize % 65];
                if bytes[i] == replacement {
                    bytes[i] = if replacement == b'A' { b'B' } else { b'A' };
                } else {
                    bytes[i] = replacement;
                }
                String::from_utf8(bytes).unwrap()
            }
        }),
    ];
    let accepted = std::sync::atomic::AtomicU32::new(0);
    runner
        .run(&strategy, |t| {
            if t != good && rt.block_on(v.verify(&t, &VerifyOptions::default())).is_ok() {
                // A flipped bit in the base64 padding bits can decode to the
                // same bytes; anything else accepted is a failure.
                let same = URL_SAFE_NO_PAD
                    .decode(t.split('.').nth(2).unwrap_or(""))
                    .ok()
                    == URL_SAFE_NO_PAD.decode(good.split('.').nth(2).unwrap()).ok()
                    && t.split('.').take(2).collect::<Vec<_>>()
                        == good.split('.').take(2).collect::<Vec<_>>();
                prop_assert!(same, "a forged token was accepted: {t:.80}");
                accepted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Ok(())
        })
        .unwrap();
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&proptest::collection::vec(any::<u8>(), 0..600), |bytes| {
            let _ = latchkey_core::parse_jwks(&bytes);
            Ok(())
        })
        .unwrap();
    assert_eq!(
        env.emu
            .requests()
            .iter()
            .filter(|r| r.path.contains("jwks"))
            .count(),
        0,
        "no JWKS fetch during the run"
    );
    eprintln!(
        "JWT property run: {cases} tokens + {cases} JWKS documents, 0 forged tokens accepted ({} equivalent re-encodings)",
        accepted.into_inner()
    );
}

/// Signs `header` + `payload` as given (any JSON header), with the
/// emulator's real key: only the header can make it fail.
fn signed_with_header(header: &Value, payload: &Value) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string())
    );
    let key = EncodingKey::from_rsa_pem(keys().rsa_private_pem.as_bytes()).unwrap();
    let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &key, Algorithm::RS256).unwrap();
    format!("{input}.{sig}")
}

#[tokio::test]
async fn header_parameters_follow_rfc_7515() {
    let env = env().await;
    let v = Verifier::new(env.instance.clone()).unwrap();
    let o = VerifyOptions::default();
    let kid = env.emu.instance_id().to_owned();
    let c = claims(&env);
    let base = json!({"alg": "RS256", "typ": "JWT", "kid": kid});
    // The control: the same header, untouched, verifies.
    v.verify(&signed_with_header(&base, &c), &o).await.unwrap();
    let with = |k: &str, val: Value| {
        let mut h = base.clone();
        h[k] = val;
        signed_with_header(&h, &c)
    };
    // `crit`: extensions that must be understood; Latchkey knows none, so
    // any `crit` (well-formed or not) is refused.
    for crit in [
        json!(["exp"]),
        json!(["b64"]),
        json!([]),
        json!("exp"),
        json!(null),
    ] {
        assert_eq!(
            rejects(&v, &with("crit", crit.clone()), &o).await,
            Rejection::Critical,
            "crit {crit}"
        );
    }
    // Registered parameters of the wrong type.
    for (name, bad) in [
        ("jku", json!(42)),
        ("x5u", json!(["https://x"])),
        ("x5t", json!({})),
        ("x5t#S256", json!(true)),
        ("cty", json!(1)),
        ("jwk", json!("key")),
        ("x5c", json!("cert")),
        ("x5c", json!([])),
        ("x5c", json!([1])),
    ] {
        assert!(
            matches!(rejects(&v, &with(name, bad.clone()), &o).await, Rejection::BadHeader(n) if n == name),
            "{name}: {bad}"
        );
    }
    for (name, bad, want) in [
        ("typ", json!(7), Rejection::Type),
        ("typ", json!("at+jwt"), Rejection::Type),
        ("kid", json!(5), Rejection::MissingKid),
        ("kid", json!(""), Rejection::MissingKid),
    ] {
        assert_eq!(
            rejects(&v, &with(name, bad.clone()), &o).await,
            want,
            "{name}: {bad}"
        );
    }
    // A header that is not an object.
    assert_eq!(
        rejects(&v, &signed_with_header(&json!(["RS256"]), &c), &o).await,
        Rejection::Malformed
    );
    // Registered parameters of the right type are ignored (never fetched).
    v.verify(&with("x5u", json!("https://evil.example/cert")), &o)
        .await
        .unwrap();
}

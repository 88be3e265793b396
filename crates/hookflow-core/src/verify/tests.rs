//! Scheme parsing and the providers' published test vectors (not computed by this code).

use super::*;

const SLACK_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";

fn verifier(input: Input) -> Verifier {
    let (s, secrets) = apply(None, input, 0).unwrap();
    Verifier::new(&s, &secrets).unwrap()
}

fn input(scheme: Scheme, secret: &str) -> Input {
    Input {
        scheme: Some(scheme),
        secret: Some(secret.into()),
        ..Input::default()
    }
}

fn at(secs: i64) -> i64 {
    secs * 1000
}

#[test]
fn github_documented_example() {
    let v = verifier(input(Scheme::Github, "It's a Secret to Everybody"));
    let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    let h: &[(&str, &str)] = &[("x-hub-signature-256", sig)];
    assert_eq!(v.verify(h, b"Hello, World!", 0).verdict, VerdictKind::Valid);
    let r = v.verify(h, b"Hello, World?", 0);
    assert_eq!(r.verdict, VerdictKind::Invalid);
    assert!(r.detail.contains("no signature"), "{}", r.detail);
    let r = v.verify(&[("X-Hub-Signature-256", "sha1=abc")][..], b"x", 0);
    assert!(r.detail.contains("is not sha256=<hex"), "{}", r.detail);
    let r = v.verify(&[][..], b"x", 0);
    assert_eq!(r.verdict, VerdictKind::Missing);
    assert!(r.detail.contains("no X-Hub-Signature-256 header"));
}

#[test]
fn standard_webhooks_spec_example() {
    let v = verifier(input(
        Scheme::StandardWebhooks,
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    ));
    let body = br#"{"test": 2432232314}"#;
    let h = |sig: &'static str| {
        vec![
            ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
            ("webhook-timestamp", "1614265330"),
            ("webhook-signature", sig),
        ]
    };
    let good = h("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    assert_eq!(
        v.verify(&good[..], body, at(1614265330)).verdict,
        VerdictKind::Valid
    );
    // Several signatures, one of them right (and an unknown version ignored).
    let several = h("v1a,xyz v1,AAAA v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    assert_eq!(
        v.verify(&several[..], body, at(1614265330)).verdict,
        VerdictKind::Valid
    );
    // Within the tolerance either way, outside it not.
    assert_eq!(
        v.verify(&good[..], body, at(1614265330 + 300)).verdict,
        VerdictKind::Valid
    );
    let r = v.verify(&good[..], body, at(1614265330 + 301));
    assert!(r.detail.contains("301 seconds in the past"), "{}", r.detail);
    let r = v.verify(&good[..], body, at(1614265330 - 301));
    assert!(r.detail.contains("in the future"), "{}", r.detail);
    let r = v.verify(&h("g0hM9SsE")[..], body, at(1614265330));
    assert!(r.detail.contains("has no v1,<base64>"), "{}", r.detail);
    let no_id = &good[1..];
    assert_eq!(
        v.verify(no_id, body, at(1614265330)).verdict,
        VerdictKind::Missing
    );
}

#[test]
fn slack_documented_example() {
    let v = verifier(input(Scheme::Slack, "8f742231b10e8888abcd99yyyzzz85a5"));
    let h = [
        ("X-Slack-Request-Timestamp", "1531420618"),
        (
            "X-Slack-Signature",
            "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
        ),
    ];
    let now = at(1531420618 + 10);
    assert_eq!(
        v.verify(&h[..], SLACK_BODY.as_bytes(), now).verdict,
        VerdictKind::Valid
    );
    let r = v.verify(&h[..1], SLACK_BODY.as_bytes(), now);
    assert_eq!(r.verdict, VerdictKind::Missing);
    let r = v.verify(&[h[1]][..], SLACK_BODY.as_bytes(), now);
    assert!(
        r.detail.contains("X-Slack-Request-Timestamp"),
        "{}",
        r.detail
    );
    let bad_ts = [("X-Slack-Request-Timestamp", "soon"), h[1]];
    let r = v.verify(&bad_ts[..], SLACK_BODY.as_bytes(), now);
    assert!(r.detail.contains("not a timestamp"), "{}", r.detail);
}

#[test]
fn stripe_header_parsing() {
    let v = verifier(input(Scheme::Stripe, "whsec_test"));
    let r = v.verify(&[("Stripe-Signature", "v1=00")][..], b"{}", 0);
    assert!(r.detail.contains("has no t=<timestamp>"), "{}", r.detail);
    let r = v.verify(&[("Stripe-Signature", "t=0,v0=00")][..], b"{}", 0);
    assert!(r.detail.contains("has no v1=<hex>"), "{}", r.detail);
    let r = v.verify(&[("Stripe-Signature", "t=0,v1=zz,v1=00")][..], b"{}", 0);
    assert!(r.detail.contains("no signature"), "{}", r.detail);
}

#[test]
fn generic_hmac_needs_a_header_and_only_it_takes_one() {
    let e = apply(None, input(Scheme::Hmac, "s"), 0).unwrap_err();
    assert!(e.0.contains("header is required"));
    let mut i = input(Scheme::Github, "s");
    i.header = Some("X-Sig".into());
    assert!(apply(None, i, 0).unwrap_err().0.contains("generic scheme"));
    let mut i = input(Scheme::Hmac, "s");
    i.header = Some("X Sig".into());
    assert!(
        apply(None, i, 0)
            .unwrap_err()
            .0
            .contains("not an HTTP header")
    );
    let mut i = input(Scheme::Hmac, "s");
    i.header = Some("X-Sig".into());
    let (s, _) = apply(None, i, 0).unwrap();
    assert_eq!(
        (s.algorithm, s.encoding, s.prefix),
        (Some(Algorithm::Sha256), Some(Encoding::Hex), None)
    );
}

#[test]
fn require_api_key_false_only_when_enforced() {
    let mut i = input(Scheme::Github, "s");
    i.require_api_key = Some(false);
    i.mode = Some(Mode::LogOnly);
    assert!(
        apply(None, i.clone(), 0)
            .unwrap_err()
            .0
            .contains("only with mode enforce")
    );
    i.mode = None;
    let (s, _) = apply(None, i, 0).unwrap();
    assert!(!s.require_api_key && s.mode == Mode::Enforce);
    // A later change to log_only is refused too.
    let secrets = Secrets {
        secret: "s".into(),
        previous: None,
    };
    let patch = Input {
        mode: Some(Mode::LogOnly),
        ..Input::default()
    };
    assert!(apply(Some((&s, &secrets)), patch, 0).is_err());
}

#[test]
fn secret_change_with_grace_keeps_the_old_one_until_it_ends() {
    let (s, secrets) = apply(None, input(Scheme::Shopify, "old"), 0).unwrap();
    let mut change = input(Scheme::Shopify, "new");
    change.scheme = None;
    change.previous_secret_grace_seconds = Some(60);
    let (s2, secrets2) = apply(Some((&s, &secrets)), change, at(1000)).unwrap();
    assert_eq!(secrets2.previous.as_deref(), Some("old"));
    assert_eq!(s2.previous_secret_expires_at, Some(at(1060)));
    // A later change without a secret keeps the grace while it lasts, and drops it after.
    let keep = Input {
        mode: Some(Mode::LogOnly),
        ..Input::default()
    };
    let (s3, secrets3) = apply(Some((&s2, &secrets2)), keep.clone(), at(1059)).unwrap();
    assert_eq!(secrets3.previous.as_deref(), Some("old"));
    assert_eq!(s3.mode, Mode::LogOnly);
    let (s4, secrets4) = apply(Some((&s2, &secrets2)), keep, at(1060)).unwrap();
    assert_eq!(
        (s4.previous_secret_expires_at, secrets4.previous),
        (None, None)
    );
    // Verification honours the expiry: the old key verifies before it, not after.
    let v = Verifier::new(&s2, &secrets2).unwrap();
    let body = b"{}";
    // base64 HMAC-SHA256("old", "{}") computed with openssl.
    let old_sig = "QZ+Ew9+x2r/jd/WjSFlYS4+qgxRMKjsrcqjE3tTik6Y=";
    let h = [("X-Shopify-Hmac-Sha256", old_sig)];
    assert_eq!(v.verify(&h[..], body, at(1059)).verdict, VerdictKind::Valid);
    assert_eq!(
        v.verify(&h[..], body, at(1060)).verdict,
        VerdictKind::Invalid
    );
}

#[test]
fn whsec_secrets_must_be_base64() {
    let e = apply(None, input(Scheme::StandardWebhooks, "whsec_***"), 0).unwrap_err();
    assert!(e.0.contains("standard base64"));
    // Other schemes take a whsec_ secret (Stripe's) as text.
    assert!(apply(None, input(Scheme::Stripe, "whsec_***"), 0).is_ok());
}

#[test]
fn settings_serialise_without_secrets() {
    let (s, _) = apply(None, input(Scheme::Github, "hunter2"), 0).unwrap();
    let text = serde_json::to_string(&s).unwrap();
    assert!(!text.contains("hunter2"));
    assert_eq!(serde_json::from_str::<Settings>(&text).unwrap(), s);
}

//! Out-of-band codes leaving the process for real: e-mail through an SMTP
//! server process (Python's aiosmtpd, plain and with STARTTLS under a
//! private CA) and SMS through a webhook test server (with a retry); a
//! failed delivery is an error the caller sees.

use serde_json::json;

use crate::clients::{SC_STATUS, cap_who};
use crate::support::{
    Gateway, Http, Server, SmtpSink, add_app, code_in, have_python_module, have_tool, test_ca, text,
};

const INSTALL: &str = "pip install aiosmtpd (or apt-get install python3-aiosmtpd)";

fn add_user(server: &Server, args: &[&str]) {
    let mut all = vec!["user", "add"];
    all.extend_from_slice(args);
    all.push("--password-stdin");
    let out = server.cli(&all, Some("S3cret-pw-9\n"));
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_through_smtp_and_sms_through_the_webhook() {
    if !have_python_module("aiosmtpd", INSTALL) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut smtp = SmtpSink::start(dir.path(), None);
    let gateway = Gateway::start(1, 503).await;
    let smtp_port = smtp.port.to_string();
    let server = Server::start(
        dir.path(),
        &[
            ("OTPGATE_NOTIFIER_EMAIL", "smtp"),
            ("OTPGATE_SMTP_HOST", "127.0.0.1"),
            ("OTPGATE_SMTP_PORT", &smtp_port),
            ("OTPGATE_SMTP_TLS", "none"),
            ("OTPGATE_SMTP_FROM", "otpgate <no-reply@example.org>"),
            ("OTPGATE_NOTIFIER_SMS", "webhook"),
            ("OTPGATE_WEBHOOK_URL", &gateway.url),
            ("OTPGATE_WEBHOOK_BEARER_TOKEN", "gw-token"),
            ("OTPGATE_WEBHOOK_RETRIES", "2"),
        ],
    );
    let check = text(&server.cli(&["config", "check"], None).stdout);
    assert!(check.contains("notifier.email: smtp 127.0.0.1"), "{check}");
    assert!(check.contains("notifier.smtp.host: 127.0.0.1\n"), "{check}");
    assert!(
        check.contains("notifier.webhook.bearer_token: ***\n") && !check.contains("gw-token"),
        "{check}"
    );
    add_user(&server, &["alice", "--email", "alice@example.org"]);
    add_user(&server, &["bob", "--phone", "+39 333 1234567"]);
    let key = add_app(&server, "shop");
    let http = Http::new();

    // E-mail: Single Connect's otpstatus sends it through SMTP.
    let fields = [
        ("username", "alice"),
        ("enduserip", "1.2.3.4"),
        ("applicationname", "shop"),
    ];
    let (s, _, body) = http.post_form(&server.url(SC_STATUS), &key, &fields).await;
    assert_eq!((s, body.as_str()), (200, "true"));
    let mail = smtp.wait_for_message(1);
    assert!(mail.contains("To: alice@example.org"), "{mail}");
    assert!(mail.contains("no-reply@example.org"), "{mail}");
    assert!(
        mail.contains("Subject: Your otpgate verification code"),
        "{mail}"
    );
    let code = code_in(&mail);
    let (s, _, body) = http
        .sc_valid(&server.base, &key, "alice", &code, "shop")
        .await;
    assert_eq!((s, body.as_str()), (200, ""));

    // SMS: Capillary's otp/generate posts to the gateway (first try 503,
    // retried).
    let who = cap_who("MOBILE", "393331234567", "phone-1", "shop");
    let (s, r) = http.cap_token(&server.base, &who, "S3cret-pw-9").await;
    assert_eq!(s, 200, "{r}");
    let sid = r["user"]["sessionId"].as_str().unwrap().to_owned();
    let (s, r) = http.cap_otp(&server.base, &who, &sid).await;
    assert_eq!(s, 200, "{r}");
    let got = gateway.received();
    assert_eq!(got.len(), 2, "one failure, one retry");
    let (auth, sms) = &got[1];
    assert_eq!(auth, "Bearer gw-token");
    assert_eq!(sms["channel"], "sms");
    assert_eq!(sms["to"], "+39 333 1234567");
    assert_eq!(sms["user"], "bob");
    let code = sms["code"].as_str().unwrap().to_owned();
    assert!(sms["text"].as_str().unwrap().contains(&code));
    let (s, r) = http
        .cap_validate(&server.base, &who, &sid, json!(code))
        .await;
    assert_eq!(s, 200, "{r}");
    assert!(r["auth"]["token"].is_string());

    // Nothing went to the outbox.
    let out = server.cli(&["outbox", "list", "--json"], None);
    assert_eq!(text(&out.stdout).trim(), "");

    // The SMTP server goes away: the caller sees the failure.
    smtp.stop();
    let (s, ct, body) = http.post_form(&server.url(SC_STATUS), &key, &fields).await;
    assert_eq!(s, 502, "{body}");
    assert!(
        ct.starts_with("text/html") && body.contains("delivery_failed"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_that_refuses_is_an_error_the_caller_sees() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = Gateway::start(usize::MAX, 400).await;
    let server = Server::start(
        dir.path(),
        &[
            ("OTPGATE_NOTIFIER_SMS", "webhook"),
            ("OTPGATE_WEBHOOK_URL", &gateway.url),
        ],
    );
    add_user(&server, &["bob", "--phone", "+39 333 1234567"]);
    add_app(&server, "shop");
    let http = Http::new();
    let who = cap_who("USERNAME", "bob", "phone-1", "shop");
    let (_, r) = http.cap_token(&server.base, &who, "S3cret-pw-9").await;
    let sid = r["user"]["sessionId"].as_str().unwrap().to_owned();
    let (s, r) = http.cap_otp(&server.base, &who, &sid).await;
    assert_eq!(s, 502, "{r}");
    assert_eq!(r["status"]["message"], "DELIVERY_FAILED");
    assert_eq!(gateway.received().len(), 1, "a 4xx is not retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_over_starttls_with_a_private_ca() {
    if !have_python_module("aiosmtpd", INSTALL) || !have_tool("openssl", "apt-get install openssl")
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    test_ca(d, "smtp");
    let smtp = SmtpSink::start(d, Some((&d.join("smtp.pem"), &d.join("smtp.key"))));
    let port = smtp.port.to_string();
    let ca = d.join("ca.pem").display().to_string();
    let env = [
        ("OTPGATE_NOTIFIER_EMAIL", "smtp"),
        ("OTPGATE_SMTP_HOST", "localhost"),
        ("OTPGATE_SMTP_PORT", port.as_str()),
        ("OTPGATE_SMTP_TLS", "starttls"),
        ("OTPGATE_SMTP_FROM", "no-reply@example.org"),
        ("OTPGATE_SMTP_CA_FILE", ca.as_str()),
    ];
    let server = Server::start(d, &env);
    add_user(&server, &["alice", "--email", "alice@example.org"]);
    let key = add_app(&server, "shop");
    let http = Http::new();
    let fields = [
        ("username", "alice"),
        ("enduserip", "1.2.3.4"),
        ("applicationname", "shop"),
    ];
    let (s, _, body) = http.post_form(&server.url(SC_STATUS), &key, &fields).await;
    assert_eq!((s, body.as_str()), (200, "true"));
    let code = code_in(&smtp.wait_for_message(1));
    let (s, _, _) = http
        .sc_valid(&server.base, &key, "alice", &code, "shop")
        .await;
    assert_eq!(s, 200);
    drop(server);

    // Without the CA the certificate is not trusted: delivery fails.
    let d2 = d.join("untrusting");
    std::fs::create_dir_all(&d2).unwrap();
    let server = Server::start(&d2, &env[..5]);
    add_user(&server, &["alice", "--email", "alice@example.org"]);
    let key = add_app(&server, "shop");
    let (s, _, body) = http.post_form(&server.url(SC_STATUS), &key, &fields).await;
    assert_eq!(s, 502, "{body}");
    assert_eq!(smtp.messages().len(), 1, "nothing was sent in clear");
}

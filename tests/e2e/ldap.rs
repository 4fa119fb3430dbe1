//! The real binary in front of a real directory (API.md §12): Debian's
//! `slapd`, started here in a temporary directory on loopback ports with a
//! configuration of its own (never the system's instance), seeded with
//! `ldapadd`. Right and wrong passwords, the empty password, filter
//! injection in the username, changes made in the directory (password,
//! profile, deletion) effective at the next login, the directory stopped
//! (503, never counted) and started again, 2FA and the lockout for an
//! LDAP user, `config check --connect`, and StartTLS / LDAPS under a test
//! CA made by `openssl`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::support::{
    Http, Server, free_port, have_tool, now_secs, oathtool_code, skipped, test_ca, text,
    wait_for_port,
};

const INSTALL: &str = "apt-get install slapd ldap-utils";
const BASE: &str = "dc=example,dc=org";
const PEOPLE: &str = "ou=People,dc=example,dc=org";
const ROOT_DN: &str = "cn=admin,dc=example,dc=org";
const ROOT_PW: &str = "root-secret";
const SVC_DN: &str = "cn=otpgate,dc=example,dc=org";
const SVC_PW: &str = "svc-secret-7";

/// Where `slapd` is (Debian puts it in /usr/sbin, not always in PATH),
/// if installed with `ldapadd`; prints the skip line (or fails under
/// OTPGATE_REQUIRE_E2E=1) when not.
fn slapd_binary() -> Option<PathBuf> {
    let found = ["/usr/sbin/slapd", "/usr/local/sbin/slapd"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .or_else(|| {
            Command::new("slapd")
                .arg("-VV")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok()
                .then(|| PathBuf::from("slapd"))
        });
    if found.is_none() {
        if std::env::var("OTPGATE_REQUIRE_E2E").as_deref() == Ok("1") {
            panic!("slapd is required (OTPGATE_REQUIRE_E2E=1); install it with: {INSTALL}");
        }
        skipped(&format!("slapd not installed; install it with `{INSTALL}`"));
        return None;
    }
    have_tool("ldapadd", INSTALL).then_some(())?;
    found
}

/// A throwaway OpenLDAP server.
struct Slapd {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    tls_port: u16,
    child: Option<Child>,
}

impl Slapd {
    /// Starts slapd with `dc=example,dc=org`, a service account and the
    /// users `users` (uid, password); with TLS (the `ldap` certificate of
    /// [`test_ca`] in `tls_dir`) when given. None: skipped.
    fn start(users: &[(&str, &str)], tls_dir: Option<&Path>) -> Option<Self> {
        let bin = slapd_binary()?;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("db")).unwrap();
        let tls = tls_dir.map_or(String::new(), |t| {
            format!(
                "TLSCACertificateFile {}\nTLSCertificateFile {}\nTLSCertificateKeyFile {}\n",
                t.join("ca.pem").display(),
                t.join("ldap.pem").display(),
                t.join("ldap.key").display()
            )
        });
        std::fs::write(
            d.join("slapd.conf"),
            format!(
                "include /etc/ldap/schema/core.schema\n\
                 include /etc/ldap/schema/cosine.schema\n\
                 include /etc/ldap/schema/inetorgperson.schema\n\
                 include /etc/ldap/schema/nis.schema\n\
                 modulepath /usr/lib/ldap\n\
                 moduleload back_mdb\n\
                 pidfile {pid}\n\
                 {tls}\
                 access to attrs=userPassword by self write by anonymous auth by * none\n\
                 access to * by users read by * none\n\
                 database mdb\n\
                 maxsize 16777216\n\
                 suffix \"{BASE}\"\n\
                 rootdn \"{ROOT_DN}\"\n\
                 rootpw {ROOT_PW}\n\
                 directory {db}\n",
                pid = d.join("slapd.pid").display(),
                db = d.join("db").display(),
            ),
        )
        .unwrap();
        let mut slapd = Self {
            bin,
            dir,
            port: free_port(),
            tls_port: free_port(),
            child: None,
        };
        slapd.spawn();
        let mut seed = format!(
            "dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n\
             dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: People\n\n\
             dn: {SVC_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n\
             cn: otpgate\nuserPassword: {SVC_PW}\n"
        );
        for (uid, pw) in users {
            seed.push_str(&format!(
                "\ndn: uid={uid},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: {uid}\n\
                 cn: {uid} Example\nsn: Example\nmail: {uid}@example.org\n\
                 telephoneNumber: +39 555 0101\nuserPassword: {pw}\n"
            ));
        }
        slapd.ldap("ldapadd", &seed);
        Some(slapd)
    }

    fn spawn(&mut self) {
        let urls = format!(
            "ldap://127.0.0.1:{}/ ldaps://127.0.0.1:{}/",
            self.port, self.tls_port
        );
        let child = Command::new(&self.bin)
            .arg("-f")
            .arg(self.dir.path().join("slapd.conf"))
            .args(["-h", &urls, "-d", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start slapd");
        self.child = Some(child);
        wait_for_port(self.port);
        wait_for_port(self.tls_port);
    }

    /// Stops the server (its data stays for [`Slapd::spawn`]).
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let _ = child.wait();
        }
    }

    /// Runs `tool` (ldapadd, ldapmodify, ldapdelete) as the root DN with
    /// `input` on stdin.
    fn ldap(&self, tool: &str, input: &str) {
        use std::io::Write;
        let mut child = Command::new(tool)
            .args(["-x", "-H", &self.url(), "-D", ROOT_DN, "-w", ROOT_PW])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run ldap tool");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{tool}: {}", text(&out.stderr));
    }

    fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// The settings of otpgate for this directory, over `url`.
    fn env(&self, url: &str) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("OTPGATE_AUTH_BACKEND", "ldap".to_owned()),
            ("OTPGATE_LDAP_URL", url.to_owned()),
            ("OTPGATE_LDAP_BIND_DN", SVC_DN.to_owned()),
            ("OTPGATE_LDAP_BIND_PASSWORD", SVC_PW.to_owned()),
            ("OTPGATE_LDAP_USER_BASE_DN", PEOPLE.to_owned()),
            ("OTPGATE_LDAP_DISPLAY_NAME_ATTRIBUTE", "cn".to_owned()),
            ("OTPGATE_LDAP_EMAIL_ATTRIBUTE", "mail".to_owned()),
            ("OTPGATE_LDAP_PHONE_ATTRIBUTE", "telephoneNumber".to_owned()),
            ("OTPGATE_LDAP_TIMEOUT_MS", "3000".to_owned()),
        ];
        if url.starts_with("ldap://127.") {
            env.push(("OTPGATE_LDAP_STARTTLS", "false".to_owned()));
        }
        env
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}

fn start_server(dir: &Path, env: &[(&'static str, String)]) -> Server {
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Server::start(dir, &pairs)
}

async fn login(http: &Http, server: &Server, user: &str, pw: &str) -> (u16, serde_json::Value) {
    http.try_login(&server.base, user, pw).await
}

/// The user as `user list --json` prints it.
fn listed(server: &Server, name: &str) -> Option<serde_json::Value> {
    let out = server.cli(&["user", "list", "--json"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|u| u["username"] == name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ldap_user_logs_in_with_the_directory_password_only() {
    let Some(slapd) = Slapd::start(&[("alice", "alice-pw-1"), ("bob", "bob-pw-1")], None) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), &slapd.env(&slapd.url()));
    let http = Http::new();

    let (s, body) = login(&http, &server, "alice", "alice-pw-1").await;
    assert_eq!(s, 200, "{body}");
    assert!(body["token"].is_string());
    let alice = listed(&server, "alice").expect("created at the first login");
    assert_eq!(alice["backend"], "ldap");
    assert_eq!(alice["display_name"], "alice Example");
    assert_eq!(alice["email"], "alice@example.org");
    assert_eq!(alice["phone"], "+39 555 0101");

    let (s, body) = login(&http, &server, "alice", "alice-pw-2").await;
    assert_eq!(s, 401, "{body}");
    // The empty password: never an (unauthenticated) bind.
    let (s, body) = login(&http, &server, "alice", "").await;
    assert!(s == 400 || s == 401, "{s} {body}");
    // Filter injection: refused, whatever the password.
    for name in ["*)(uid=*", "alice)(|(uid=*", "*", "al*"] {
        for pw in ["alice-pw-1", "bob-pw-1", "x"] {
            let (s, body) = login(&http, &server, name, pw).await;
            assert!(s == 400 || s == 401, "{name:?}: {s} {body}");
        }
    }
    // A user unknown to the directory is a wrong password (401, no user).
    let (s, _) = login(&http, &server, "mallory", "alice-pw-1").await;
    assert_eq!(s, 401);
    assert!(listed(&server, "mallory").is_none());

    // Changed in the directory: effective at the next login.
    slapd.ldap(
        "ldapmodify",
        &format!(
            "dn: uid=alice,{PEOPLE}\nchangetype: modify\nreplace: userPassword\nuserPassword: alice-pw-2\n-\n\
             replace: mail\nmail: liddell@example.org\n-\ndelete: telephoneNumber\n"
        ),
    );
    let (s, _) = login(&http, &server, "alice", "alice-pw-1").await;
    assert_eq!(s, 401, "the old password is refused at once");
    let (s, body) = login(&http, &server, "alice", "alice-pw-2").await;
    assert_eq!(s, 200, "{body}");
    let alice = listed(&server, "alice").unwrap();
    assert_eq!(alice["email"], "liddell@example.org", "refreshed at login");
    assert!(alice["phone"].is_null(), "{alice}");

    // Deleted from the directory: refused at the next login.
    let (s, _) = login(&http, &server, "bob", "bob-pw-1").await;
    assert_eq!(s, 200);
    slapd.ldap("ldapdelete", &format!("uid=bob,{PEOPLE}\n"));
    let (s, _) = login(&http, &server, "bob", "bob-pw-1").await;
    assert_eq!(s, 401);

    // config check --connect binds with the service account.
    let out = server.cli(&["config", "check", "--connect"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("ldap: connected"),
        "{}",
        text(&out.stdout)
    );
    let mut env = slapd.env(&slapd.url());
    env.retain(|(k, _)| *k != "OTPGATE_LDAP_BIND_PASSWORD");
    env.push(("OTPGATE_LDAP_BIND_PASSWORD", "not-the-svc-pw".to_owned()));
    let env: Vec<(String, String)> = env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    let out = crate::support::cli_in(dir.path(), &env, &["config", "check", "--connect"], None);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("service account") && err.contains("refused"),
        "{err}"
    );
    assert!(
        !err.contains("wrong") || !err.contains("svc-secret"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_directory_stopped_is_503_never_counted_and_started_again_works() {
    let Some(mut slapd) = Slapd::start(&[("carol", "carol-pw-1")], None) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), &slapd.env(&slapd.url()));
    let http = Http::new();
    let (s, _) = login(&http, &server, "carol", "carol-pw-1").await;
    assert_eq!(s, 200);

    // Misconfigured: a base DN that does not exist, or the service
    // account refused, is a 503 too (never a wrong password).
    for (key, value) in [
        ("OTPGATE_LDAP_USER_BASE_DN", "ou=Nobody,dc=example,dc=org"),
        ("OTPGATE_LDAP_BIND_PASSWORD", "not-the-svc-pw"),
    ] {
        let mut env = slapd.env(&slapd.url());
        env.retain(|(k, _)| *k != key);
        env.push((key, value.to_owned()));
        let dir = tempfile::tempdir().unwrap();
        let other = Server::start_capturing(
            dir.path(),
            &env.iter()
                .map(|(k, v)| (*k, v.as_str()))
                .collect::<Vec<_>>(),
        );
        let (s, body) = login(&http, &other, "carol", "carol-pw-1").await;
        assert_eq!(
            (s, body["message"].as_str()),
            (503, Some("upstream_unavailable")),
            "{key}"
        );
        let logs = other.stderr_lines().join("\n");
        let cause = if key == "OTPGATE_LDAP_USER_BASE_DN" {
            "does not exist"
        } else {
            "service account"
        };
        assert!(logs.contains(cause), "{logs}");
        assert!(
            !logs.contains("not-the-svc-pw") && !logs.contains("carol-pw-1"),
            "{logs}"
        );
    }

    slapd.stop();
    // More attempts than the lockout allows (5), wrong and right alike.
    for pw in [
        "carol-pw-1",
        "guess-1",
        "guess-2",
        "guess-3",
        "guess-4",
        "guess-5",
        "guess-6",
    ] {
        let (s, body) = login(&http, &server, "carol", pw).await;
        assert_eq!(s, 503, "{body}");
        assert_eq!(body["message"], "upstream_unavailable", "{body}");
    }
    let out = server.cli(&["config", "check", "--connect"], None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("unreachable"),
        "{}",
        text(&out.stderr)
    );

    slapd.spawn();
    let (s, body) = login(&http, &server, "carol", "carol-pw-1").await;
    assert_eq!(s, 200, "nothing was counted: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_factor_and_the_lockout_hold_for_an_ldap_user() {
    if !have_tool("oathtool", "apt-get install oathtool") {
        return;
    }
    let Some(slapd) = Slapd::start(&[("dave", "dave-pw-1"), ("erin", "erin-pw-1")], None) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), &slapd.env(&slapd.url()));
    let http = Http::new();

    let (s, body) = login(&http, &server, "dave", "dave-pw-1").await;
    assert_eq!(s, 200, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    let (s, qr) = http.qr_code(&server.base, &token).await;
    assert_eq!(s, 200, "{qr}");
    let key = qr["data"]["key"].as_str().unwrap().to_owned();
    let t0 = now_secs();
    let (s, v) = http
        .verify_otp(&server.base, &token, "dave", &oathtool_code(&key, t0))
        .await;
    assert_eq!(s, 200, "{v}");
    // Recovery codes need the directory password.
    let verified = v["data"]["token"].as_str().unwrap().to_owned();
    let (s, _) = http
        .new_recovery_codes(&server.base, &verified, "not-daves")
        .await;
    assert_ne!(s, 200);
    let (s, rc) = http
        .new_recovery_codes(&server.base, &verified, "dave-pw-1")
        .await;
    assert_eq!(s, 200, "{rc}");
    // The next login is a pre-OTP token.
    let (s, body) = login(&http, &server, "dave", "dave-pw-1").await;
    assert_eq!(s, 200);
    let pre = body["token"].as_str().unwrap().to_owned();
    let (s, e) = http.me(&server.base, &pre).await;
    assert_eq!(
        (s, e["message"].as_str()),
        (403, Some("otp_verification_required"))
    );
    let (s, v) = http
        .verify_otp(&server.base, &pre, "dave", &oathtool_code(&key, t0 + 30))
        .await;
    assert_eq!(s, 200, "{v}");

    // The lockout: five wrong passwords, then even the right one waits.
    for _ in 0..5 {
        let (s, _) = login(&http, &server, "erin", "erin-guess").await;
        assert_eq!(s, 401);
    }
    let (s, body) = login(&http, &server, "erin", "erin-pw-1").await;
    assert_eq!(s, 429, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_and_ldaps_under_a_private_ca() {
    if !have_tool("openssl", "apt-get install openssl") {
        return;
    }
    let ca = tempfile::tempdir().unwrap();
    test_ca(ca.path(), "ldap");
    let Some(slapd) = Slapd::start(&[("frank", "frank-pw-1")], Some(ca.path())) else {
        return;
    };
    let ca_file = ca.path().join("ca.pem").display().to_string();
    let http = Http::new();
    for url in [
        format!("ldap://localhost:{}", slapd.port),
        format!("ldaps://localhost:{}", slapd.tls_port),
    ] {
        // Without the CA: the certificate does not verify, a 503.
        let dir = tempfile::tempdir().unwrap();
        let server = start_server(dir.path(), &slapd.env(&url));
        let (s, body) = login(&http, &server, "frank", "frank-pw-1").await;
        assert_eq!(s, 503, "{url}: {body}");
        drop(server);

        let dir = tempfile::tempdir().unwrap();
        let mut env = slapd.env(&url);
        env.push(("OTPGATE_LDAP_CA_FILE", ca_file.clone()));
        let server = start_server(dir.path(), &env);
        let (s, body) = login(&http, &server, "frank", "frank-pw-1").await;
        assert_eq!(s, 200, "{url}: {body}");
        let (s, _) = login(&http, &server, "frank", "frank-pw-2").await;
        assert_eq!(s, 401, "{url}");
    }
}

/// README "The 2FA walkthrough as a directory user": its shell blocks, as
/// written, against this directory holding `carol` (the README's port
/// 389 and 8080 replaced by the test's).
#[test]
fn the_readme_ldap_walkthrough_runs_as_written() {
    if !have_tool("jq", "apt-get install jq")
        || !have_tool("oathtool", "apt-get install oathtool")
        || !have_tool("curl", "apt-get install curl")
    {
        return;
    }
    let Some(slapd) = Slapd::start(&[("carol", "Carol-Dir-Pass-7")], None) else {
        return;
    };
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let ldap = crate::readme::section(&readme, "Passwords from LDAP");
    let walkthrough = ldap
        .split("\n### The 2FA walkthrough as a directory user\n")
        .nth(1)
        .expect("README has the LDAP walkthrough");
    let blocks = crate::readme::sh_blocks(walkthrough);
    assert_eq!(blocks.len(), 4, "configure, log in, enrol, log in again");
    let dir = tempfile::tempdir().unwrap();
    let run = |script: &str, base: &str| {
        let script = script
            .replace("127.0.0.1:389", &format!("127.0.0.1:{}", slapd.port))
            .replace("localhost:8080", base);
        crate::readme::run_as_written(dir.path(), &script).0
    };
    // Block 1 writes otpgate.toml and checks the service account; the
    // server then starts on that file, from the same directory.
    let check = run(&blocks[0], "");
    assert!(
        check.contains(&format!(
            "ldap: connected to ldap://127.0.0.1:{} and bound as {SVC_DN}",
            slapd.port
        )),
        "{check}"
    );
    let server = Server::start(dir.path(), &[]);
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut rest = blocks[1..].join("\n");
    rest.push_str(
        "\necho\nfor v in TOKEN SECRET VERIFIED CODES PRE FULL; do echo \"$v=${!v}\"; done\n",
    );
    let out = run(&rest, &addr);
    for var in ["TOKEN", "SECRET", "VERIFIED", "CODES", "PRE", "FULL"] {
        let value = out
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{var}=")))
            .unwrap_or("");
        assert!(!value.is_empty() && value != "null", "{var}: {out}");
    }
    for expected in [
        "carol                    user       ldap     off      carol@example.org",
        r#""username":"carol","display_name":"carol Example","email":"carol@example.org","phone":"+39 555 0101","two_factor":true"#,
        r#""message":"otp_verification_required""#,
        r#"{"username":"carol","two_factor":true}"#,
    ] {
        assert!(out.contains(expected), "{expected:?} in:\n{out}");
    }
}

//! Two instances on one PostgreSQL database behind a real HAProxy
//! (Debian's `/usr/sbin/haproxy`, started here with a configuration of its
//! own on loopback ports), configured as README's "Several instances"
//! example: round-robin for the API, Socket.IO sticky by client address.
//! A token issued through the balancer works on both instances; a logout
//! on one, or `token revoke-all` from the CLI, is refused on every
//! instance and through the balancer (within the change feed's delay); the npm Socket.IO client
//! logs in through the balancer over the polling transport, whose
//! requests must all reach one instance.
//!
//! Needs `OTPGATE_TEST_PG_URL` and haproxy (`apt-get install haproxy`);
//! skipped otherwise, unless OTPGATE_REQUIRE_PG=1 / OTPGATE_REQUIRE_E2E=1.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::several_instances::{TestDb, env_for, pg_url};
use crate::support::{
    Http, NodeSocket, Server, free_port, have_node_client, skipped, text, wait_for_port,
};

const INSTALL: &str = "apt-get install haproxy";
const SOON: Duration = Duration::from_secs(5);

/// Where `haproxy` is, if installed (Debian puts it in /usr/sbin); prints
/// the skip line (or fails under OTPGATE_REQUIRE_E2E=1) when not.
fn haproxy_binary() -> Option<PathBuf> {
    let found = ["/usr/sbin/haproxy", "/usr/local/sbin/haproxy"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        if std::env::var("OTPGATE_REQUIRE_E2E").as_deref() == Ok("1") {
            panic!("haproxy is required (OTPGATE_REQUIRE_E2E=1); install it with: {INSTALL}");
        }
        skipped(&format!(
            "haproxy not installed; install it with `{INSTALL}`"
        ));
    }
    found
}

/// A throwaway HAProxy in front of `servers`.
struct Balancer {
    child: Child,
    base: String,
}

impl Balancer {
    /// Round-robin for everything but Socket.IO (`/socket.io/`, `/api/ws/`),
    /// which is sticky by client address, as in README.
    fn start(bin: &Path, dir: &Path, servers: &[&Server]) -> Self {
        let port = free_port();
        let list: String = servers
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let hostport = s.base.trim_start_matches("http://");
                format!("    server s{i} {hostport} check\n")
            })
            .collect();
        let cfg = format!(
            "global\n    maxconn 1024\n\
             defaults\n    mode http\n    timeout connect 5s\n    timeout client 60s\n\
             \x20   timeout server 60s\n    timeout tunnel 1h\n    option http-keep-alive\n    option forwardfor\n\
             frontend otpgate\n    bind 127.0.0.1:{port}\n\
             \x20   use_backend otpgate_sio if {{ path_beg /socket.io/ }} || {{ path_beg /api/ws/ }}\n\
             \x20   default_backend otpgate\n\
             backend otpgate\n    balance roundrobin\n    option httpchk GET /readyz\n\
             \x20   http-check expect status 200\n{list}\
             backend otpgate_sio\n    balance source\n    hash-type consistent\n\
             \x20   option httpchk GET /readyz\n    http-check expect status 200\n{list}",
        );
        let path = dir.join("haproxy.cfg");
        std::fs::write(&path, cfg).unwrap();
        let check = Command::new(bin)
            .arg("-c")
            .arg("-f")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "haproxy -c: {}{}",
            text(&check.stdout),
            text(&check.stderr)
        );
        let child = Command::new(bin)
            .arg("-f")
            .arg(&path)
            .arg("-db")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start haproxy");
        wait_for_port(port);
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two instances on a fresh database with one user, and the balancer.
struct Setup {
    a: Server,
    b: Server,
    lb: Balancer,
    _dir: tempfile::TempDir,
    db: Option<TestDb>,
}

impl Setup {
    async fn start() -> Option<Self> {
        let admin = pg_url()?;
        let bin = haproxy_binary()?;
        let db = TestDb::create(&admin).await;
        let dir = tempfile::tempdir().unwrap();
        let mut env = env_for(&db.url);
        env.push(("OTPGATE_TRUSTED_PROXIES", "127.0.0.1".to_owned()));
        let a = crate::several_instances::start(dir.path(), &env);
        let b = crate::several_instances::start(dir.path(), &env);
        a.add_user("alice", "pw-alice-secret");
        let lb = Balancer::start(&bin, dir.path(), &[&a, &b]);
        Some(Self {
            a,
            b,
            lb,
            _dir: dir,
            db: Some(db),
        })
    }

    /// `GET /api/user/me` with `token` on A, on B, and four times through
    /// the balancer (so on both instances): the statuses.
    async fn me_everywhere(&self, http: &Http, token: &str) -> Vec<u16> {
        let mut urls = vec![self.a.url("/api/user/me"), self.b.url("/api/user/me")];
        urls.extend(std::iter::repeat_n(self.lb.url("/api/user/me"), 4));
        let mut out = Vec::new();
        for u in urls {
            out.push(http.get(&u, token).await.0);
        }
        out
    }

    /// The statuses once every instance has heard a revocation. On
    /// PostgreSQL an instance answers remembered token checks from memory
    /// until the change feed tells it otherwise (docs/scaling.md: within
    /// 100 ms at p99, asserted in crates/store/tests/change_feed.rs); a
    /// loaded CI machine gets a generous 2 s before the statuses count.
    async fn me_everywhere_after_revocation(&self, http: &Http, token: &str) -> Vec<u16> {
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        loop {
            let out = self.me_everywhere(http, token).await;
            if out.iter().all(|s| *s == 401) || std::time::Instant::now() > deadline {
                return out;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn finish(mut self) {
        drop(self.lb);
        drop(self.a);
        drop(self.b);
        if let Some(db) = self.db.take() {
            db.drop_now().await;
        }
    }
}

async fn login(http: &Http, url: &str) -> String {
    let (s, body) = http
        .post(
            url,
            None,
            json!({"username": "alice", "password": "pw-alice-secret"}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_haproxy_a_revocation_on_one_instance_is_refused_everywhere() {
    let Some(setup) = Setup::start().await else {
        return;
    };
    let http = Http::new();

    // Issued through the balancer: good on both instances.
    let token = login(&http, &setup.lb.url("/api/login")).await;
    assert_eq!(setup.me_everywhere(&http, &token).await, [200; 6]);
    // Logout on A: refused on B and through the balancer (within the
    // change feed's delay).
    let (s, body) = http.logout(&setup.a.base, &token).await;
    assert!(s == 200 || s == 204, "{s} {body}");
    assert_eq!(
        setup.me_everywhere_after_revocation(&http, &token).await,
        [401; 6]
    );

    // Issued on B, revoked from the CLI (another process): refused
    // everywhere.
    let token = login(&http, &setup.b.url("/api/login")).await;
    assert_eq!(setup.me_everywhere(&http, &token).await, [200; 6]);
    let out = setup.a.cli(&["token", "revoke-all", "alice"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        setup.me_everywhere_after_revocation(&http, &token).await,
        [401; 6]
    );
    setup.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_haproxy_socket_io_over_polling_sticks_to_one_instance() {
    if !have_node_client() {
        return;
    }
    let Some(setup) = Setup::start().await else {
        return;
    };
    let http = Http::new();
    let token = login(&http, &setup.lb.url("/api/login")).await;
    let login = json!({"accessKeyId": "alice", "token": token, "uaType": "desktop"});
    // Polling: the handshake, the connect packet, the login and each poll
    // are separate requests; an instance that did not open the session
    // refuses them, so this works only if the balancer keeps them on one.
    // Several clients each way (with round-robin, their requests would
    // alternate between the instances).
    for transport in ["polling", "polling", "polling", "any", "any", "any"] {
        let c = NodeSocket::start_at(
            &setup.lb.base,
            "/api/ws/",
            transport,
            Some(login.clone()),
            8000,
        );
        c.expect("connect", SOON);
        let v = c.expect("authe_ok", SOON);
        assert_eq!(
            v["data"],
            json!({"message": "authorized successfully"}),
            "{transport}"
        );
    }
    setup.finish().await;
}

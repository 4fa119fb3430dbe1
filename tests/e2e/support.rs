//! Starting the real binary, calling its CLI, and the external tools.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const BIN: &str = env!("CARGO_BIN_EXE_otpgate");

/// Whether an external tool runs; prints the skip line (or fails under
/// OTPGATE_REQUIRE_E2E=1) when it does not.
pub fn have_tool(tool: &str, install: &str) -> bool {
    let ok = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !ok {
        if std::env::var("OTPGATE_REQUIRE_E2E").as_deref() == Ok("1") {
            panic!("{tool} is required (OTPGATE_REQUIRE_E2E=1); install it with: {install}");
        }
        skipped(&format!(
            "{tool} not installed; install it with `{install}`"
        ));
    }
    ok
}

/// Where skipped checks are listed for the summary at the end of
/// `cargo test` (`crates/store/tests/skipped_checks.rs`, the last test
/// target to run, prints and empties it). docs/testing.md.
pub fn skipped_checks_file() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("skipped-checks.txt")
}

/// Says that the running test skips a check (`why`, with what to
/// install): a SKIPPED line now, on the real stderr (the harness captures
/// eprintln!), and a line in [`skipped_checks_file`] for the summary.
pub fn skipped(why: &str) {
    let test = std::thread::current()
        .name()
        .unwrap_or("an end-to-end test")
        .to_owned();
    let _ = writeln!(std::io::stderr(), "SKIPPED: {why}");
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(skipped_checks_file())
    {
        let _ = writeln!(f, "e2e {test}: {why}");
    }
}

pub fn now_secs() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// A TOTP code for `key` (base32) at unix time `at`, computed by oathtool.
pub fn oathtool_code(key: &str, at: i64) -> String {
    let out = Command::new("oathtool")
        .args(["--totp", "-b", key, "-N", &format!("@{at}")])
        .output()
        .expect("run oathtool");
    assert!(
        out.status.success(),
        "oathtool: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A free port on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `otpgate serve` in its own working directory.
pub struct Server {
    pub child: Child,
    pub dir: PathBuf,
    pub base: String,
    /// Every stdout line so far (read by a thread: see [`Server::stdout_line`]).
    stdout: Lines,
    env: Vec<(String, String)>,
    /// Every stderr line so far, when started with [`Server::start_capturing`].
    stderr: Option<Lines>,
}

/// The lines of a child's output, as read so far.
type Lines = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// Reads `pipe` line by line on its own thread into the returned list.
fn collect_lines(pipe: impl std::io::Read + Send + 'static) -> Lines {
    let lines = Lines::default();
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    lines
}

impl Server {
    /// Starts `otpgate serve` in `dir` (as `cargo run --release -- serve`
    /// would, with the default data directory `./otpgate-data`).
    pub fn start(dir: &Path, extra_env: &[(&str, &str)]) -> Self {
        Self::start_with(dir, extra_env, false, &[])
    }

    /// [`Server::start`] through `wrapper` (a command that runs the one
    /// after it, such as `prlimit --nofile=1024`).
    pub fn start_under(dir: &Path, wrapper: &[&str], extra_env: &[(&str, &str)]) -> Self {
        Self::start_with(dir, extra_env, false, wrapper)
    }

    /// [`Server::start`], keeping the server's stderr (its logs) for
    /// [`Server::stderr_lines`] instead of passing it through.
    pub fn start_capturing(dir: &Path, extra_env: &[(&str, &str)]) -> Self {
        Self::start_with(dir, extra_env, true, &[])
    }

    fn start_with(dir: &Path, extra_env: &[(&str, &str)], capture: bool, wrapper: &[&str]) -> Self {
        let port = free_port();
        let mut env: Vec<(String, String)> = vec![
            ("OTPGATE_LISTEN".into(), format!("127.0.0.1:{port}")),
            ("OTPGATE_LOG".into(), "warn".into()),
        ];
        env.extend(
            extra_env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(BIN);
                c
            }
            None => Command::new(BIN),
        };
        let mut child = command
            .arg("serve")
            .current_dir(dir)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::piped())
            .stderr(if capture {
                Stdio::piped()
            } else {
                Stdio::inherit()
            })
            .spawn()
            .expect("start otpgate");
        let stderr = child.stderr.take().map(collect_lines);
        let stdout = collect_lines(child.stdout.take().unwrap());
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            assert!(Instant::now() < deadline, "server did not start");
            if let Ok(Some(status)) = child.try_wait() {
                panic!("server exited early: {status}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Self {
            child,
            dir: dir.to_path_buf(),
            base,
            stdout,
            env,
            stderr,
        }
    }

    /// The first stdout line starting with `prefix`, waiting up to `wait`
    /// for it. The server prints before it listens, but the thread reading
    /// the pipe may not have got to the line when the port opens.
    pub fn stdout_line(&self, prefix: &str, wait: Duration) -> Option<String> {
        let deadline = Instant::now() + wait;
        loop {
            let found = self
                .stdout
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.starts_with(prefix))
                .cloned();
            if found.is_some() || Instant::now() >= deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The stderr lines captured so far ([`Server::start_capturing`]).
    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr
            .as_ref()
            .map(|l| l.lock().unwrap().clone())
            .unwrap_or_default()
    }

    /// Stops the server with SIGTERM (graceful shutdown) and waits for it;
    /// then waits a moment for the captured stderr to be read to its end.
    pub fn terminate(&mut self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(200));
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Runs `otpgate ARGS` in the server's directory with its settings.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> Output {
        cli_in(&self.dir, &self.env, args, stdin)
    }

    /// `otpgate user add NAME --password-stdin` with `password`, which
    /// must succeed.
    pub fn add_user(&self, name: &str, password: &str) {
        let out = self.cli(
            &["user", "add", name, "--password-stdin"],
            Some(&format!("{password}\n")),
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
    }

    /// Kills the process with SIGKILL (no graceful shutdown).
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the CLI in `dir` with `env`.
pub fn cli_in(dir: &Path, env: &[(String, String)], args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run otpgate");
    if let Some(input) = stdin {
        // The process may exit before reading (a usage error): a broken
        // pipe here is not a failure of the test.
        let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A JSON HTTP client.
pub struct Http {
    pub(crate) client: reqwest::Client,
}

impl Http {
    pub fn new() -> Self {
        Self {
            client: reqwest::Client::new(),
        }
    }

    pub async fn post(
        &self,
        url: &str,
        token: Option<&str>,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let mut r = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(serde_json::Value::Null))
    }

    pub async fn get(&self, url: &str, token: &str) -> (u16, serde_json::Value) {
        let resp = self
            .client
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(serde_json::Value::Null))
    }

    pub async fn get_bytes(&self, url: &str, token: &str) -> (u16, Vec<u8>) {
        let resp = self
            .client
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.bytes().await.unwrap().to_vec())
    }
}

// --- Applications, dialects and notifiers. ---

/// Whether `python3` can import `module`; prints the skip line (or fails
/// under OTPGATE_REQUIRE_E2E=1) when it cannot.
pub fn have_python_module(module: &str, install: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        if std::env::var("OTPGATE_REQUIRE_E2E").as_deref() == Ok("1") {
            panic!(
                "python3 module {module} is required (OTPGATE_REQUIRE_E2E=1); install it with: {install}"
            );
        }
        skipped(&format!(
            "python3 module {module} not installed; install it with `{install}`"
        ));
    }
    ok
}

/// Waits until something listens on `port`.
pub fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A real SMTP server (Python's aiosmtpd) writing what it receives into a
/// Maildir; killed when dropped.
pub struct SmtpSink {
    child: Child,
    pub port: u16,
    maildir: PathBuf,
}

impl SmtpSink {
    /// Starts aiosmtpd on a free loopback port; `tls` is an optional
    /// (certificate, key) pair for STARTTLS.
    pub fn start(dir: &Path, tls: Option<(&Path, &Path)>) -> Self {
        let port = free_port();
        let maildir = dir.join("maildir");
        let mut cmd = Command::new("python3");
        cmd.args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")]);
        if let Some((cert, key)) = tls {
            cmd.arg("--tlscert").arg(cert).arg("--tlskey").arg(key);
        }
        cmd.args(["-c", "aiosmtpd.handlers.Mailbox"]).arg(&maildir);
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start aiosmtpd");
        wait_for_port(port);
        Self {
            child,
            port,
            maildir,
        }
    }

    /// The raw messages received so far.
    pub fn messages(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        // In delivery order. Not by name: Python's maildir names carry the
        // microseconds unpadded (`.M99999P` sorts after `.M123456P`), so two
        // messages within one second could swap.
        files.sort_by_key(|p| {
            (
                std::fs::metadata(p).and_then(|m| m.modified()).ok(),
                p.clone(),
            )
        });
        files
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    }

    /// Waits for the `n`-th message (1-based) and returns it.
    pub fn wait_for_message(&self, n: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let m = self.messages();
            if m.len() >= n {
                return m[n - 1].clone();
            }
            assert!(Instant::now() < deadline, "no message {n} arrived");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server (a later send fails).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The six-digit code in a message text (quoted-printable soft breaks
/// undone first).
pub fn code_in(text: &str) -> String {
    let text = text.replace("=\r\n", "").replace("=\n", "");
    let at = text.find("code is ").expect("the code sentence") + "code is ".len();
    text[at..at + 6].to_owned()
}

/// A small SMS gateway: records the JSON bodies posted to `/sms` and
/// answers `fail_first` requests with `fail_status`, then 200.
pub struct Gateway {
    pub url: String,
    pub bodies: std::sync::Arc<std::sync::Mutex<Vec<(String, serde_json::Value)>>>,
}

impl Gateway {
    pub async fn start(fail_first: usize, fail_status: u16) -> Self {
        use axum::http::{HeaderMap, StatusCode};
        let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = bodies.clone();
        let app = axum::Router::new().route(
            "/sms",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let seen = seen.clone();
                async move {
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    let mut v = seen.lock().unwrap();
                    v.push((auth, serde_json::from_str(&body).unwrap_or_default()));
                    if v.len() <= fail_first {
                        StatusCode::from_u16(fail_status).unwrap()
                    } else {
                        StatusCode::OK
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/sms", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, bodies }
    }

    pub fn received(&self) -> Vec<(String, serde_json::Value)> {
        self.bodies.lock().unwrap().clone()
    }
}

impl Http {
    /// POSTs form fields with an API key; (status, content type, body).
    pub async fn post_form(
        &self,
        url: &str,
        key: &str,
        fields: &[(&str, &str)],
    ) -> (u16, String, String) {
        let resp = self
            .client
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-api-key", key)
            .body(serde_urlencoded::to_string(fields).unwrap())
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        (status, ct, resp.text().await.unwrap())
    }

    /// POSTs JSON; (status, response headers).
    pub async fn post_headers(
        &self,
        url: &str,
        body: serde_json::Value,
    ) -> (u16, reqwest::header::HeaderMap) {
        let resp = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.headers().clone())
    }

    /// POSTs JSON with extra headers.
    pub async fn post_with(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let mut r = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_string());
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(serde_json::Value::Null))
    }
}

/// The API key printed by `otpgate app add NAME` (alone on the last line).
pub fn add_app(server: &Server, name: &str) -> String {
    let out = server.cli(&["app", "add", name], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let last = stdout.lines().last().expect("output").to_owned();
    assert_eq!(last.trim(), last, "the key is alone on its line");
    last
}

/// The directory of the node clients (`tests/clients`).
pub fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

/// Whether the npm Socket.IO client can run: `node` and
/// `tests/clients/node_modules` (`npm ci` there). Prints the skip line,
/// or fails under OTPGATE_REQUIRE_E2E=1, when it cannot.
pub fn have_node_client() -> bool {
    if !have_tool("node", "apt-get install nodejs npm") {
        return false;
    }
    let installed = clients_dir()
        .join("node_modules/socket.io-client/package.json")
        .is_file();
    if !installed {
        let how = "(cd tests/clients && npm ci)";
        if std::env::var("OTPGATE_REQUIRE_E2E").as_deref() == Ok("1") {
            panic!("socket.io-client is required (OTPGATE_REQUIRE_E2E=1); install it with: {how}");
        }
        skipped(&format!("socket.io-client not installed; run `{how}`"));
    }
    installed
}

/// A running `node tests/clients/sio.js` (the npm socket.io-client) and
/// the JSON lines it prints.
pub struct NodeSocket {
    child: Child,
    lines: std::sync::mpsc::Receiver<serde_json::Value>,
}

impl NodeSocket {
    /// Connects to `path` on `server` over `transport` and, unless
    /// `login` is `None`, emits `login` with it once connected.
    pub fn start(
        server: &Server,
        path: &str,
        transport: &str,
        login: Option<serde_json::Value>,
        max_ms: u64,
    ) -> Self {
        Self::start_at(&server.base, path, transport, login, max_ms)
    }

    /// [`NodeSocket::start`] against `base` (`http://HOST:PORT`), e.g. a
    /// load balancer in front of servers.
    pub fn start_at(
        base: &str,
        path: &str,
        transport: &str,
        login: Option<serde_json::Value>,
        max_ms: u64,
    ) -> Self {
        let login = login.map_or_else(|| "-".to_owned(), |v| v.to_string());
        let mut child = Command::new("node")
            .arg(clients_dir().join("sio.js"))
            .args([base, path, transport, &login, &max_ms.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start node");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str(&line)
                    && tx.send(v).is_err()
                {
                    break;
                }
            }
        });
        Self { child, lines: rx }
    }

    /// Makes the client emit `event` with `data` (a line on its stdin).
    pub fn emit(&mut self, event: &str, data: &serde_json::Value) {
        let stdin = self.child.stdin.as_mut().expect("client stdin");
        writeln!(stdin, "emit {event} {data}").expect("write to the client");
        stdin.flush().expect("flush");
    }

    /// Sends the client a command line (see `sio.js`'s header).
    pub fn line(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().expect("client stdin");
        writeln!(stdin, "{line}").expect("write to the client");
        stdin.flush().expect("flush");
    }

    /// The next report that is `event`, skipping others, within `within`.
    pub fn until(&self, event: &str, within: Duration) -> serde_json::Value {
        let deadline = std::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let v = self
                .next(left)
                .unwrap_or_else(|| panic!("no {event:?} within {within:?}"));
            if v["event"] == event {
                return v;
            }
        }
    }

    /// The next thing the client reports (`{"t","event",...}`), within
    /// `within`.
    pub fn next(&self, within: Duration) -> Option<serde_json::Value> {
        self.lines.recv_timeout(within).ok()
    }

    /// The next report, which must be `event`.
    pub fn expect(&self, event: &str, within: Duration) -> serde_json::Value {
        let v = self
            .next(within)
            .unwrap_or_else(|| panic!("no {event:?} within {within:?}"));
        assert_eq!(v["event"], event, "{v}");
        v
    }
}

impl Drop for NodeSocket {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `openssl ARGS` in `dir`, which must succeed.
pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        text(&out.stderr)
    );
}

/// Makes a throwaway CA in `dir` (`ca.pem`, `ca.key`) and a server
/// certificate it signed for `localhost` (`NAME.pem`, `NAME.key`).
pub fn test_ca(dir: &Path, name: &str) {
    let (key, csr, pem) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.pem"),
    );
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=otpgate test CA",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &pem,
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
}

/// Held by the tests that load the whole machine (2,000 connections held
/// on loopback, the SIGKILL campaigns), so that they never overlap: while
/// the attack test held its connections, a crash campaign's restarted
/// server once went unanswered.
pub static MACHINE_WIDE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

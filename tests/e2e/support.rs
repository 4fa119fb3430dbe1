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
        // Straight to the stderr handle: the test harness captures eprintln!.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: {tool} not installed; install it with `{install}` to run this end-to-end test"
        );
    }
    ok
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
    pub stdout_lines: Vec<String>,
    env: Vec<(String, String)>,
}

impl Server {
    /// Starts `otpgate serve` in `dir` (as `cargo run --release -- serve`
    /// would, with the default data directory `./otpgate-data`).
    pub fn start(dir: &Path, extra_env: &[(&str, &str)]) -> Self {
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
        let mut child = Command::new(BIN)
            .arg("serve")
            .current_dir(dir)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start otpgate");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
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
        let stdout_lines: Vec<String> = rx.try_iter().collect();
        Self {
            child,
            dir: dir.to_path_buf(),
            base,
            stdout_lines,
            env,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Runs `otpgate ARGS` in the server's directory with its settings.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> Output {
        cli_in(&self.dir, &self.env, args, stdin)
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
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A JSON HTTP client.
pub struct Http {
    client: reqwest::Client,
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
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: socket.io-client not installed; run `{how}` to run this end-to-end test"
        );
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
        let login = login.map_or_else(|| "-".to_owned(), |v| v.to_string());
        let mut child = Command::new("node")
            .arg(clients_dir().join("sio.js"))
            .args([&server.base, path, transport, &login, &max_ms.to_string()])
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

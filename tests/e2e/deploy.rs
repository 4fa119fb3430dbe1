//! The packaging in `deploy/` kept honest: the systemd unit passes
//! `systemd-analyze verify` and a hardening score, and what the unit and
//! the container file tell the binary (command, environment, health check)
//! works on the real binary. No container engine runs here, so the
//! Containerfile is checked by its parts: the settings its ENV gives are
//! valid, its HEALTHCHECK command passes against a running server and
//! fails against a stopped one, and it builds in one stage and runs as a
//! non-root user in another.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::support::{BIN, Server, cli_in, free_port, have_tool, text};

fn deploy_file(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("deploy")
            .join(name),
    )
    .unwrap()
}

/// `KEY=value` settings of the unit's `[Service]` section, in order
/// (a key may repeat).
fn unit_settings(unit: &str) -> Vec<(String, String)> {
    unit.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

fn unit_get<'a>(settings: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    settings
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// The unit's `Environment=` variables.
fn unit_env(settings: &[(String, String)]) -> BTreeMap<String, String> {
    unit_get(settings, "Environment")
        .iter()
        .filter_map(|v| v.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The Containerfile's instructions with continuation lines joined.
fn instructions(containerfile: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in containerfile.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(head) = line.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
            continue;
        }
        current.push_str(line);
        if let Some((op, rest)) = current.trim().split_once(char::is_whitespace) {
            out.push((op.to_ascii_uppercase(), rest.trim().to_owned()));
        }
        current.clear();
    }
    out
}

fn instr<'a>(all: &'a [(String, String)], op: &str) -> Vec<&'a str> {
    all.iter()
        .filter(|(o, _)| o == op)
        .map(|(_, r)| r.as_str())
        .collect()
}

/// `ENV A=1 B=2` pairs.
fn container_env(all: &[(String, String)]) -> BTreeMap<String, String> {
    instr(all, "ENV")
        .iter()
        .flat_map(|r| r.split_whitespace())
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[test]
fn the_systemd_unit_verifies_and_is_hardened() {
    if !have_tool("systemd-analyze", "apt-get install systemd") {
        return;
    }
    // verify insists that ExecStart exists: point it at the binary under
    // test, change nothing else.
    let unit = deploy_file("otpgate.service");
    assert!(unit.contains("ExecStart=/usr/local/bin/otpgate serve\n"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("otpgate.service");
    std::fs::write(
        &file,
        unit.replace(
            "ExecStart=/usr/local/bin/otpgate ",
            &format!("ExecStart={BIN} "),
        ),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr).trim(), "", "no warnings");

    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&file)
        .output()
        .unwrap();
    let report = text(&out.stdout);
    let score: f64 = report
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for otpgate.service: ")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("an exposure score: {report}{}", text(&out.stderr)));
    assert!(
        score <= 2.0,
        "exposure {score} (0 best, 10 worst):\n{report}"
    );
}

#[test]
fn the_unit_and_the_containerfile_give_the_binary_valid_settings() {
    let unit = unit_settings(&deploy_file("otpgate.service"));
    let env = unit_env(&unit);
    let data_dir = env
        .get("OTPGATE_DATA_DIR")
        .expect("the unit sets the data dir");
    assert_eq!(data_dir, "/var/lib/otpgate");
    assert_eq!(unit_get(&unit, "WorkingDirectory"), [data_dir.as_str()]);
    assert_eq!(unit_get(&unit, "StateDirectory"), ["otpgate"]);
    assert!(unit_get(&unit, "ReadWritePaths").contains(&data_dir.as_str()));
    assert_eq!(unit_get(&unit, "ProtectSystem"), ["strict"]);
    for on in ["NoNewPrivileges", "PrivateTmp", "ProtectHome"] {
        assert_eq!(unit_get(&unit, on), ["yes"], "{on}");
    }
    assert_eq!(
        unit_get(&unit, "EnvironmentFile"),
        ["-/etc/otpgate/otpgate.env"]
    );
    let user = unit_get(&unit, "User");
    assert_eq!(user, ["otpgate"]);
    let sysusers = deploy_file("otpgate.sysusers");
    assert!(
        sysusers.lines().any(|l| l.starts_with("u otpgate ")),
        "{sysusers}"
    );

    let cf = instructions(&deploy_file("Containerfile"));
    let cenv = container_env(&cf);
    assert_eq!(cenv["OTPGATE_LISTEN"], "0.0.0.0:8080");
    assert_eq!(cenv["OTPGATE_DATA_DIR"], "/var/lib/otpgate");
    assert_eq!(instr(&cf, "EXPOSE"), ["8080"], "EXPOSE is the listen port");
    assert_eq!(instr(&cf, "VOLUME"), [r#"["/var/lib/otpgate"]"#]);
    let runs_as = instr(&cf, "USER");
    assert_eq!(runs_as.len(), 1);
    assert!(
        !["root", "0", "0:0"].contains(&runs_as[0]),
        "non-root: {runs_as:?}"
    );
    let froms = instr(&cf, "FROM");
    assert_eq!(froms.len(), 2, "a build stage and a runtime stage");
    assert!(froms[0].contains("rust:") && froms[0].ends_with(" AS build"));
    assert!(froms[1].contains("debian:") && froms[1].contains("-slim"));
    assert!(
        instr(&cf, "RUN")
            .iter()
            .any(|r| r.contains("cargo build --release"))
    );
    assert!(
        instr(&cf, "COPY")
            .iter()
            .any(|c| c.starts_with("--from=build ") && c.ends_with(" /usr/local/bin/otpgate"))
    );
    assert_eq!(instr(&cf, "ENTRYPOINT"), [r#"["/usr/local/bin/otpgate"]"#]);
    assert_eq!(instr(&cf, "CMD"), [r#"["serve"]"#]);

    // The binary takes both sets of settings (config check validates and
    // prints them; it creates nothing).
    let dir = tempfile::tempdir().unwrap();
    for (what, vars) in [("unit", &env), ("Containerfile", &cenv)] {
        let vars: Vec<(String, String)> =
            vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let out = cli_in(dir.path(), &vars, &["config", "check"], None);
        let printed = text(&out.stdout);
        assert!(out.status.success(), "{what}: {}", text(&out.stderr));
        assert!(
            printed.contains("data_dir: /var/lib/otpgate\n"),
            "{what}: {printed}"
        );
        if what == "Containerfile" {
            assert!(printed.contains("listen: 0.0.0.0:8080\n"), "{printed}");
        }
    }
}

#[test]
fn the_container_healthcheck_passes_on_a_live_server_and_fails_on_a_dead_one() {
    if !have_tool("bash", "apt-get install bash") {
        return;
    }
    let cf = instructions(&deploy_file("Containerfile"));
    let health = instr(&cf, "HEALTHCHECK");
    assert_eq!(health.len(), 1);
    let json = health[0]
        .split_once("CMD ")
        .map(|(_, cmd)| cmd)
        .expect("HEALTHCHECK ... CMD [...]");
    let argv: Vec<String> = serde_json::from_str(json).expect("exec form");
    assert_eq!(argv[0], "bash");
    assert!(argv[2].contains("/healthz"), "{argv:?}");

    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let port = server.base.rsplit(':').next().unwrap().to_owned();
    let run = |port: &str| {
        let mut args = argv.clone();
        args[2] = args[2].replace("127.0.0.1/8080", &format!("127.0.0.1/{port}"));
        // bash reports a refused /dev/tcp connection on stderr ("connect:
        // Connection refused"): expected for the dead server, so not shown.
        Command::new(&args[0])
            .args(&args[1..])
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap()
            .success()
    };
    assert!(run(&port), "healthy server passes");
    server.kill();
    assert!(!run(&port), "stopped server fails");
    assert!(!run(&free_port().to_string()), "nothing listening fails");
}

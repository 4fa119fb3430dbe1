//! The commands: each loads the same configuration and opens the same
//! store as the server, so the CLI works while the server runs.

use std::io::BufRead;
use std::sync::Arc;

use otpgate_core::keys::KeyFiles;
use otpgate_core::model::{TotpState, User};
use otpgate_core::secret::SecretString;
use otpgate_core::service::admin::UserSpec;
use otpgate_core::{AuthError, AuthService, SystemClock};
use serde_json::json;
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command, ConfigCommand, TokenCommand, UserCommand};
use crate::config::{Config, LogFormat, redact_url};

/// Runs a parsed command line; `Err` is the one-line message for stderr.
pub async fn run(cli: Cli) -> Result<(), String> {
    let env = |k: &str| std::env::var(k).ok();
    let config = Config::load(cli.config.as_deref(), &env)?;
    let default_level = if matches!(cli.command, Command::Serve) {
        "info"
    } else {
        "warn"
    };
    init_logging(config.log_format, default_level);
    match cli.command {
        Command::Serve => crate::serve::serve(config).await,
        Command::Migrate => {
            otpgate_store::migrate(&config.store)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "database schema is up to date ({})",
                redact_url(&config.store.url)
            );
            Ok(())
        }
        Command::Config(ConfigCommand::Check) => {
            print_config(&config);
            Ok(())
        }
        Command::User(cmd) => {
            let svc = open_service(&config).await?;
            let result = user_command(&svc, cmd).await.map_err(|e| describe(&e));
            flush_audit(&svc, result).await
        }
        Command::App(cmd) => {
            let svc = open_service(&config).await?;
            let result = crate::app_commands::app(&svc, cmd)
                .await
                .map_err(|e| describe(&e));
            flush_audit(&svc, result).await
        }
        Command::Audit(args) => {
            let svc = open_service(&config).await?;
            crate::audit_command::audit(&svc, args).await
        }
        Command::Outbox(cmd) => {
            let svc = open_service(&config).await?;
            crate::app_commands::outbox(&svc, cmd)
                .await
                .map_err(|e| describe(&e))
        }
        Command::Token(TokenCommand::RevokeAll { name }) => {
            let svc = open_service(&config).await?;
            let result = svc.revoke_all_tokens(&name).await.map_err(|e| describe(&e));
            if result.is_ok() {
                println!(
                    "revoked every token of {}",
                    otpgate_core::username::normalize(&name)
                );
            }
            flush_audit(&svc, result).await
        }
    }
}

/// Writes the audit records a command queued (the CLI has no background
/// writer) before it returns `result`.
async fn flush_audit(svc: &AuthService, result: Result<(), String>) -> Result<(), String> {
    if let Err(e) = svc.audit().flush().await {
        tracing::warn!(error = %e, "cannot write the audit records of this command");
    }
    result
}

fn init_logging(format: LogFormat, default_level: &str) {
    let filter = EnvFilter::try_from_env("OTPGATE_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new(default_level));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// A one-line description of a core error for the terminal.
pub fn describe(e: &AuthError) -> String {
    match e {
        AuthError::Store(s) => s.to_string(),
        other => other.to_string(),
    }
}

/// Opens the keys and the store of `config` and builds the service.
pub async fn open_service(config: &Config) -> Result<Arc<AuthService>, String> {
    // The data directory first (the SQLite file lives in it), then the
    // store, then the keys: an unreachable database leaves no new key files.
    otpgate_core::keys::ensure_dir(&config.data_dir).map_err(|e| describe(&e))?;
    let store = otpgate_store::open(&config.store)
        .await
        .map_err(|e| e.to_string())?;
    let (keys, created) = KeyFiles::load_or_create(&config.data_dir).map_err(|e| describe(&e))?;
    for path in created {
        tracing::info!(path = %path.display(), "created key file");
    }
    let notifiers = config.notifier.build(&store)?;
    let svc = AuthService::new(store, Arc::new(SystemClock), config.policy.clone(), &keys)
        .map_err(|e| describe(&e))?
        .with_notifiers(notifiers);
    Ok(Arc::new(svc))
}

fn read_password_line() -> Result<SecretString, String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
    let pw = line.trim_end_matches(['\r', '\n']).to_owned();
    if pw.is_empty() {
        return Err("no password on standard input".into());
    }
    Ok(SecretString::new(pw))
}

fn two_factor_text(u: &User) -> &'static str {
    match u.totp {
        TotpState::Off => "off",
        TotpState::Pending(_) => "pending",
        TotpState::Enabled(_) => "on",
    }
}

fn user_json(u: &User) -> serde_json::Value {
    json!({
        "username": u.username,
        "display_name": u.display_name,
        "email": u.email,
        "phone": u.phone,
        "external_id": u.external_id,
        "role": u.role,
        "two_factor": two_factor_text(u),
        "created_at": otpgate_http::routes::rfc3339(u.created_at),
    })
}

async fn user_command(svc: &AuthService, cmd: UserCommand) -> Result<(), AuthError> {
    match cmd {
        UserCommand::Add(a) => {
            let password = if a.password_stdin {
                Some(read_password_line().map_err(AuthError::InvalidRequest)?)
            } else {
                None
            };
            let (user, generated) = svc
                .create_user(UserSpec {
                    username: a.name,
                    password,
                    display_name: a.display_name,
                    email: a.email,
                    phone: a.phone,
                    external_id: a.external_id,
                    role: a.role,
                })
                .await?;
            println!("created user {}", user.username);
            if let Some(pw) = generated {
                println!("password (shown once): {}", pw.expose());
            }
        }
        UserCommand::List { json } => {
            let users = svc.list_users().await?;
            if json {
                for u in &users {
                    println!("{}", user_json(u));
                }
            } else {
                println!("{:<24} {:<10} {:<8} EMAIL", "USERNAME", "ROLE", "2FA");
                for u in &users {
                    println!(
                        "{:<24} {:<10} {:<8} {}",
                        u.username,
                        u.role,
                        two_factor_text(u),
                        u.email.as_deref().unwrap_or("-")
                    );
                }
            }
        }
        UserCommand::Show { name, json } => {
            let u = svc.show_user(&name).await?;
            if json {
                println!("{}", user_json(&u));
            } else if let serde_json::Value::Object(map) = user_json(&u) {
                for (k, v) in map {
                    let text = match v {
                        serde_json::Value::String(s) => s,
                        serde_json::Value::Null => "-".into(),
                        other => other.to_string(),
                    };
                    println!("{k}: {text}");
                }
            }
        }
        UserCommand::Passwd {
            name,
            password_stdin,
        } => {
            let password = if password_stdin {
                Some(read_password_line().map_err(AuthError::InvalidRequest)?)
            } else {
                None
            };
            let generated = svc.set_password(&name, password).await?;
            println!("password changed; every token of the user is revoked");
            if let Some(pw) = generated {
                println!("password (shown once): {}", pw.expose());
            }
        }
        UserCommand::Del { name } => {
            svc.delete_user(&name).await?;
            println!("deleted user {}", otpgate_core::username::normalize(&name));
        }
        UserCommand::Reset2fa { name } => {
            if svc.reset_two_factor(&name).await? {
                println!("2FA turned off; every token of the user is revoked");
            } else {
                println!("2FA was not on; nothing changed");
            }
        }
    }
    Ok(())
}

fn print_config(c: &Config) {
    let p = &c.policy;
    println!(
        "config file: {}",
        c.file
            .as_ref()
            .map_or("(none)".into(), |f| f.display().to_string())
    );
    println!("listen: {}", c.listen);
    println!("data_dir: {}", c.data_dir.display());
    println!("database_url: {}", redact_url(&c.store.url));
    println!("api_prefix: {}", c.http.api_prefix);
    println!("issuer: {}", p.issuer);
    println!("body_limit_bytes: {}", c.http.body_limit);
    let conn = &c.http.connections;
    println!(
        "connections: header timeout {} ms, idle {} ms, body {} ms; at most {} in all, {} per address",
        conn.header_timeout.as_millis(),
        conn.idle_timeout.as_millis(),
        conn.body_timeout.as_millis(),
        conn.max_connections
            .map_or("(from the file-descriptor limit)".to_owned(), |m| m
                .to_string()),
        match conn.max_per_address {
            0 => "no cap".to_owned(),
            n => n.to_string(),
        }
    );
    println!(
        "rate_limit: {} req/s, burst {}",
        c.http.rate_limit_average, c.http.rate_limit_burst
    );
    println!("jwt.lifetime_secs: {}", p.token_lifetime_secs);
    println!("totp.skew_steps: {}", p.totp_skew_steps);
    println!(
        "lockout: otp {} / login user {} consecutive, login ip {} per {} s; back-off {} s doubling to {} s",
        p.otp_lockout.max_failures,
        p.login_user.max_failures,
        p.login_ip.max_failures,
        p.login_ip.window_secs.unwrap_or(0),
        p.otp_lockout.base_secs,
        p.otp_lockout.cap_secs
    );
    println!(
        "argon2id: {} KiB, {} passes, {} lanes; {} hashing threads, queue {}",
        p.argon2.memory_kib,
        p.argon2.iterations,
        p.argon2.parallelism,
        p.hashing_threads,
        p.hashing_queue
    );
    println!(
        "sqlite.synchronous: {}",
        if c.store.sqlite.synchronous_full {
            "full"
        } else {
            "normal"
        }
    );
    println!(
        "oob: codes valid 10 min, 5 attempts; at most {} sent per user per {} s",
        p.oob_send.max_failures,
        p.oob_send.window_secs.unwrap_or(0)
    );
    for line in c.notifier.describe() {
        println!("{line}");
    }
    println!(
        "trusted_proxies: {}",
        if c.http.trusted_proxies.0.is_empty() {
            "(none)".to_owned()
        } else {
            format!("{:?}", c.http.trusted_proxies.0)
        }
    );
    println!(
        "audit.retention_days: {}",
        match p.audit_retention_days {
            0 => "0 (kept forever)".to_owned(),
            d => d.to_string(),
        }
    );
    println!("configuration is valid");
}

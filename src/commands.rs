//! The commands: each loads the same configuration and opens the same
//! store as the server, so the CLI works while the server runs.

use std::io::BufRead;

use otpgate_core::keys::KeyFiles;
use otpgate_core::model::{ProfileChange, TotpState, User};
use otpgate_core::secret::SecretString;
use otpgate_core::service::admin::{TwoFactorReset, UserSpec};
use otpgate_core::service::mandatory::{RuleSource, TwoFactorRule};
use otpgate_core::{AuthError, AuthService};
use serde_json::json;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::cli::{Cli, Command, ConfigCommand, RequireRule, TokenCommand, UserCommand};
use crate::config::{Config, LogFormat};
use crate::log_caps;
use crate::redact::redact_url;
use crate::store_check;
use crate::wiring::{check_backend_connection, describe, open_existing, store_open_error};

/// Runs a parsed command line; `Err` is the one-line message for stderr.
pub async fn run(cli: Cli) -> Result<(), String> {
    let env = |k: &str| std::env::var(k).ok();
    let config = Config::load(cli.config.as_deref(), &env).map_err(|e| e.to_string())?;
    let default_level = if matches!(cli.command, Command::Serve) {
        "info"
    } else {
        "warn"
    };
    init_logging(config.log_format, default_level);
    match cli.command {
        Command::Serve => crate::serve::serve(config).await,
        Command::Migrate => {
            // Like the server's first start: the data directory, the
            // database and the key files, so that the other commands
            // (which never create a store) can run before the first start.
            otpgate_core::keys::ensure_dir(&config.data_dir).map_err(|e| describe(&e))?;
            otpgate_store::migrate(&config.store)
                .await
                .map_err(|e| store_open_error(&config, &e))?;
            KeyFiles::load_or_create(&config.data_dir).map_err(|e| describe(&e))?;
            println!(
                "database schema is up to date ({})",
                redact_url(&config.store.url)
            );
            Ok(())
        }
        Command::Config(ConfigCommand::Check { connect }) => {
            print_config(&config);
            if connect {
                check_backend_connection(&config).await?;
            }
            Ok(())
        }
        Command::User(cmd) => {
            let svc = open_existing(&config).await?;
            if let UserCommand::List { json } = &cmd {
                // Which store this is: on stderr with --json, so that
                // stdout stays one JSON object per line.
                let line = format!("store: {}", store_check::describe(&config));
                if *json {
                    eprintln!("{line}");
                } else {
                    println!("{line}");
                }
            }
            let result = user_command(&svc, cmd).await.map_err(|e| describe(&e));
            flush_audit(&svc, result).await
        }
        Command::App(cmd) => {
            let svc = open_existing(&config).await?;
            let result = crate::app_commands::app(&svc, cmd)
                .await
                .map_err(|e| describe(&e));
            flush_audit(&svc, result).await
        }
        Command::Audit(args) => {
            let svc = open_existing(&config).await?;
            crate::audit_command::audit(&svc, args).await
        }
        Command::Outbox(cmd) => {
            let svc = open_existing(&config).await?;
            crate::app_commands::outbox(&svc, cmd)
                .await
                .map_err(|e| describe(&e))
        }
        Command::Token(TokenCommand::RevokeAll { name }) => {
            let svc = open_existing(&config).await?;
            let result = svc.revoke_all_tokens(&name).await.map_err(|e| describe(&e));
            if result.is_ok() {
                println!(
                    "revoked every token of {}",
                    otpgate_core::username::normalize(&name)
                );
            }
            flush_audit(&svc, result).await
        }
        Command::Token(TokenCommand::List { name }) => {
            let svc = open_existing(&config).await?;
            let tokens = svc.list_persistent(&name).await.map_err(|e| describe(&e))?;
            print!("{}", token_list_text(&name, &tokens));
            Ok(())
        }
    }
}

/// `otpgate token list`'s output: one line per live persistent token,
/// then what is not listed.
fn token_list_text(raw: &str, tokens: &[otpgate_core::service::persistent::LiveToken]) -> String {
    use otpgate_http::rfc3339;
    let name = otpgate_core::username::normalize(raw);
    let mut out = String::new();
    if tokens.is_empty() {
        out.push_str(&format!("{name} has no live persistent token\n"));
    } else {
        out.push_str(&format!(
            "{:<14} {:<22} {}\n",
            "AUDIENCE", "ISSUED", "EXPIRES"
        ));
        for t in tokens {
            out.push_str(&format!(
                "{:<14} {:<22} {}\n",
                t.audience,
                rfc3339(t.issued_at),
                rfc3339(t.expires_at)
            ));
        }
    }
    out.push_str(&format!(
        "login tokens are not stored, so not listed: `otpgate token revoke-all {name}` ends them all\n"
    ));
    out
}

/// Writes the audit records a command queued (the CLI has no background
/// writer) before it returns `result`.
async fn flush_audit(svc: &AuthService, result: Result<(), String>) -> Result<(), String> {
    if let Err(e) = svc.flush_audit().await {
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
    // The libraries' payload-printing levels are capped whatever the
    // filter above allows (crate::log_caps).
    let _ = match format {
        LogFormat::Json => builder.json().finish().with(log_caps::caps()).try_init(),
        LogFormat::Text => builder.finish().with(log_caps::caps()).try_init(),
    };
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

/// `yes (setting two_factor.required)`, `no (per-user override)`, ...
fn required_text(rule: TwoFactorRule) -> String {
    let answer = if rule.required { "yes" } else { "no" };
    match rule.source {
        RuleSource::Setting => format!("{answer} (setting two_factor.required)"),
        RuleSource::User => format!(
            "{answer} (per-user override; `user require-2fa NAME default` follows the setting)"
        ),
    }
}

fn user_json(svc: &AuthService, u: &User) -> serde_json::Value {
    let rule = svc.two_factor_rule(u);
    json!({
        "username": u.username,
        "display_name": u.display_name,
        "email": u.email,
        "phone": u.phone,
        "external_id": u.external_id,
        "role": u.role,
        "backend": u.backend,
        "two_factor": two_factor_text(u),
        "two_factor_required": rule.required,
        "two_factor_required_by": rule.source.as_str(),
        "created_at": otpgate_http::rfc3339(u.created_at.get()),
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
                    println!("{}", user_json(svc, u));
                }
            } else {
                println!(
                    "{:<24} {:<10} {:<8} {:<8} EMAIL",
                    "USERNAME", "ROLE", "BACKEND", "2FA"
                );
                for u in &users {
                    println!(
                        "{:<24} {:<10} {:<8} {:<8} {}",
                        u.username,
                        u.role,
                        u.backend,
                        two_factor_text(u),
                        u.email.as_deref().unwrap_or("-")
                    );
                }
            }
        }
        UserCommand::Show { name, json } => {
            let u = svc.show_user(&name).await?;
            if json {
                println!("{}", user_json(svc, &u));
            } else if let serde_json::Value::Object(map) = user_json(svc, &u) {
                for (k, v) in map {
                    if k == "two_factor_required_by" {
                        continue;
                    }
                    let text = match v {
                        serde_json::Value::String(s) => s,
                        serde_json::Value::Null => "-".into(),
                        other => other.to_string(),
                    };
                    if k == "two_factor_required" {
                        println!("{k}: {}", required_text(svc.two_factor_rule(&u)));
                    } else {
                        println!("{k}: {text}");
                    }
                }
            }
        }
        UserCommand::Set(a) => {
            let field = |value: Option<String>, clear: bool| {
                if clear { Some(None) } else { value.map(Some) }
            };
            let change = ProfileChange {
                display_name: a.display_name,
                email: field(a.email, a.clear_email),
                phone: field(a.phone, a.clear_phone),
                external_id: field(a.external_id, a.clear_external_id),
                role: a.role,
            };
            let u = svc.update_user(&a.name, change).await?;
            println!("updated user {}", u.username);
            println!("{}", user_json(svc, &u));
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
            match svc.reset_two_factor(&name).await? {
                TwoFactorReset::Disabled => {
                    println!("2FA turned off; every token of the user is revoked");
                }
                TwoFactorReset::PendingCleared => {
                    println!("2FA was not on; the pending enrolment was cleared");
                }
                TwoFactorReset::Unchanged => println!("2FA was not on; nothing changed"),
            }
            let u = svc.show_user(&name).await?;
            if svc.two_factor_rule(&u).required {
                println!("2FA is required for this user: they set it up again at their next login");
            }
        }
        UserCommand::Require2fa { name, rule } => {
            let required = match rule {
                RequireRule::Yes => Some(true),
                RequireRule::No => Some(false),
                RequireRule::Default => None,
            };
            let u = svc.require_two_factor(&name, required).await?;
            println!(
                "{}: two_factor_required: {}",
                u.username,
                required_text(svc.two_factor_rule(&u))
            );
        }
    }
    Ok(())
}

fn print_config(c: &Config) {
    println!(
        "config file: {}",
        c.file
            .as_ref()
            .map_or("(none)".into(), |f| f.display().to_string())
    );
    let exists = if store_check::require_existing(c).is_ok() {
        "exists"
    } else {
        "not created yet: `otpgate serve` or `otpgate migrate` creates it"
    };
    println!("store: {} ({exists})", store_check::describe(c));
    for (key, value) in crate::config_report::settings(c) {
        println!("{key}: {value}");
    }
    println!("configuration is valid");
}

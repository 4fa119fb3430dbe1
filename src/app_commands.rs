//! `otpgate app ...` and `otpgate outbox ...`: registering applications
//! (their API key is printed once, alone on the last line, so scripts can
//! take it with `tail -n 1`) and reading the outbox notifier's messages.

use otpgate_core::{AuthError, AuthService};
use otpgate_http::rfc3339;
use serde_json::json;

use crate::cli::{AppCommand, OutboxCommand};

/// Runs an `app` subcommand.
pub async fn app(svc: &AuthService, cmd: AppCommand) -> Result<(), AuthError> {
    match cmd {
        AppCommand::Add { name } => {
            let (app, key) = svc.create_application(&name).await?;
            println!("registered application {}", app.name);
            println!("API key (shown only this once; send it as X-API-Key):");
            println!("{}", key.expose());
        }
        AppCommand::List { json } => {
            let apps = svc.list_applications().await?;
            if json {
                for a in &apps {
                    println!(
                        "{}",
                        json!({"name": a.name, "key_id": a.key_id, "created_at": rfc3339(a.created_at.get())})
                    );
                }
            } else {
                println!("{:<32} {:<18} CREATED", "NAME", "KEY ID");
                for a in &apps {
                    println!(
                        "{:<32} {:<18} {}",
                        a.name,
                        a.key_id,
                        rfc3339(a.created_at.get())
                    );
                }
            }
        }
        AppCommand::Revoke { name } => {
            svc.revoke_application(&name).await?;
            println!(
                "revoked application {}; its API key no longer works",
                otpgate_core::service::applications::normalize_name(&name)
            );
        }
    }
    Ok(())
}

/// Runs an `outbox` subcommand.
pub async fn outbox(svc: &AuthService, cmd: OutboxCommand) -> Result<(), AuthError> {
    let OutboxCommand::List { user, json } = cmd;
    let messages = svc.outbox(user.as_deref()).await?;
    if json {
        for m in &messages {
            println!(
                "{}",
                json!({
                    "user": m.username,
                    "channel": m.channel.as_str(),
                    "to": m.to,
                    "code": m.code.expose(),
                    "created_at": rfc3339(m.created_at.get()),
                })
            );
        }
    } else {
        println!(
            "{:<20} {:<24} {:<7} {:<32} CODE",
            "CREATED", "USER", "CHANNEL", "TO"
        );
        for m in &messages {
            println!(
                "{:<20} {:<24} {:<7} {:<32} {}",
                rfc3339(m.created_at.get()),
                m.username,
                m.channel.as_str(),
                m.to,
                m.code.expose()
            );
        }
    }
    Ok(())
}

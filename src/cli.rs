//! The command line: `otpgate serve`, and the operator commands that work
//! on the same store as a running server.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// otpgate: an authentication gateway with TOTP two-factor authentication.
#[derive(Debug, Parser)]
#[command(name = "otpgate", version, about)]
pub struct Cli {
    /// Configuration file (default: ./otpgate.toml if present).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Create or update the database schema, then exit.
    Migrate,
    /// Configuration tools.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Manage applications and their API keys.
    #[command(subcommand)]
    App(AppCommand),
    /// Messages kept by the outbox notifier (development and tests).
    #[command(subcommand)]
    Outbox(OutboxCommand),
    /// List audit records (authentication events), oldest first.
    Audit(AuditArgs),
}

/// Arguments of `otpgate audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only this user's records.
    #[arg(long)]
    pub user: Option<String>,
    /// Only records at or after TIME: RFC 3339 (2026-11-21T10:00:00Z) or
    /// a duration back from now: 90s, 30m, 1h, 7d, 2w.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// At most this many records (the newest ones).
    #[arg(long, default_value_t = 1000)]
    pub limit: u32,
    /// One JSON object per line:
    /// {"time","event","user","ip","user_agent","dialect","app"}.
    #[arg(long)]
    pub json: bool,
}

/// `otpgate app ...`
#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Register an application; its API key is printed once, alone on the
    /// last line.
    Add {
        /// Application name (kept lower-case; Single Connect's
        /// `applicationname`, Capillary's `brand`).
        name: String,
    },
    /// List applications.
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Revoke an application: its key stops working at once.
    Revoke {
        /// Application name.
        name: String,
    },
}

/// `otpgate outbox ...`
#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// List the unexpired messages, oldest first.
    List {
        /// Only this user's messages.
        #[arg(long)]
        user: Option<String>,
        /// One JSON object per line: {"user","channel","to","code","created_at"}.
        #[arg(long)]
        json: bool,
    },
}

/// `otpgate user ...`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user (a random password is generated and printed once
    /// unless --password-stdin is given).
    Add(UserAdd),
    /// List users.
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Show one user.
    Show {
        /// Username.
        name: String,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change a user's e-mail, phone, display name, role or external id
    /// (the options given; the others keep their value).
    Set(UserSet),
    /// Set a new password (revokes every token of the user).
    Passwd {
        /// Username.
        name: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Delete a user and everything of theirs.
    Del {
        /// Username.
        name: String,
    },
    /// Turn 2FA off for a user who lost their device (revokes every token).
    #[command(name = "reset-2fa")]
    Reset2fa {
        /// Username.
        name: String,
    },
    /// Require 2FA for one user (yes), exempt them (no), or follow the
    /// setting two_factor.required again (default).
    #[command(name = "require-2fa")]
    Require2fa {
        /// Username.
        name: String,
        /// yes, no or default.
        #[arg(value_enum)]
        rule: RequireRule,
    },
}

/// The argument of `otpgate user require-2fa`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RequireRule {
    /// 2FA required for this user, whatever the setting.
    Yes,
    /// 2FA not required for this user, whatever the setting.
    No,
    /// Follow the setting two_factor.required.
    Default,
}

/// Arguments of `otpgate user add`.
#[derive(Debug, Args)]
pub struct UserAdd {
    /// Username (kept lower-case).
    pub name: String,
    /// E-mail address.
    #[arg(long)]
    pub email: Option<String>,
    /// Phone number.
    #[arg(long)]
    pub phone: Option<String>,
    /// Identifier in another system.
    #[arg(long)]
    pub external_id: Option<String>,
    /// Role (default: user).
    #[arg(long)]
    pub role: Option<String>,
    /// Display name (default: the username).
    #[arg(long)]
    pub display_name: Option<String>,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
}

/// Arguments of `otpgate user set`.
#[derive(Debug, Args)]
pub struct UserSet {
    /// Username.
    pub name: String,
    /// New e-mail address.
    #[arg(long, conflicts_with = "clear_email")]
    pub email: Option<String>,
    /// Remove the e-mail address.
    #[arg(long)]
    pub clear_email: bool,
    /// New phone number.
    #[arg(long, conflicts_with = "clear_phone")]
    pub phone: Option<String>,
    /// Remove the phone number.
    #[arg(long)]
    pub clear_phone: bool,
    /// New identifier in another system.
    #[arg(long, conflicts_with = "clear_external_id")]
    pub external_id: Option<String>,
    /// Remove the identifier in another system.
    #[arg(long)]
    pub clear_external_id: bool,
    /// New display name.
    #[arg(long)]
    pub display_name: Option<String>,
    /// New role.
    #[arg(long)]
    pub role: Option<String>,
}

/// `otpgate token ...`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Revoke every token of a user.
    #[command(name = "revoke-all")]
    RevokeAll {
        /// Username.
        name: String,
    },
    /// List a user's live persistent tokens (audience, issued, expires;
    /// never the token). Login tokens are not stored, so not listed.
    List {
        /// Username.
        name: String,
    },
}

/// `otpgate config ...`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration and print the effective settings
    /// (secrets redacted).
    Check {
        /// Also connect to the password backend: with `auth.backend =
        /// "ldap"`, bind with the service account (exit 1 on failure).
        #[arg(long)]
        connect: bool,
    },
}

//! otpgate: the binary. Parses the command line, loads the configuration,
//! wires the store, the core and the HTTP layer together, and runs the
//! command. Everything it does is described in the README.

mod app_commands;
mod audit_command;
mod cli;
mod commands;
mod config;
mod config_report;
mod log_caps;
mod notifier_config;
mod redact;
mod serve;
mod store_check;
mod wiring;

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

use crate::cli::Cli;

/// clap's error as one line: its first paragraph (which holds the names
/// of missing arguments on their own lines) joined, and the help of the
/// subcommand it is about (`otpgate user add --help`), taken from its
/// usage line.
fn usage_error_line(text: &str) -> String {
    let first: Vec<&str> = text
        .lines()
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let message = if first.is_empty() {
        "error: invalid arguments".to_owned()
    } else {
        first.join(" ")
    };
    let command: Vec<&str> = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Usage: "))
        .map(|usage| {
            usage
                .split_whitespace()
                .take_while(|w| !w.starts_with(['[', '<', '-']))
                .collect()
        })
        .unwrap_or_default();
    let command = if command.is_empty() {
        "otpgate".to_owned()
    } else {
        command.join(" ")
    };
    format!("{message} (see `{command} --help`)")
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("{}", usage_error_line(&e.to_string()));
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The message of parsing `args`, as `main` prints it.
    fn printed(args: &[&str]) -> String {
        let e = Cli::try_parse_from(args).expect_err("a usage error");
        usage_error_line(&e.to_string())
    }

    #[test]
    fn usage_errors_name_the_missing_argument_and_the_subcommand_help() {
        let line = printed(&["otpgate", "user", "add"]);
        assert!(line.contains("<NAME>"), "{line}");
        assert!(line.ends_with("(see `otpgate user add --help`)"), "{line}");
        assert!(!line.contains('\n'), "{line}");
        let line = printed(&["otpgate", "serve", "--bogus"]);
        assert!(line.contains("'--bogus'"), "{line}");
        assert!(line.ends_with("(see `otpgate serve --help`)"), "{line}");
    }
}

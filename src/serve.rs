//! `otpgate serve`: first-start bootstrap, then the HTTP server with its
//! background housekeeping and audit writer, until SIGINT or SIGTERM
//! (then the audit queue is flushed before exit).
//!
//! The port is bound before the first user is made, and connections are
//! taken only after its password is printed: a busy port creates no user,
//! and no `admin` exists whose password was not shown.
//!
//! Before anything opens a file, the soft descriptor limit is raised to
//! the hard one and the connection budget is checked against it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use otpgate_http::{AppState, router};
use otpgate_http::{default_max_connections, descriptors_needed};
use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

use crate::config::Config;
use crate::redact::redact_url;
use crate::wiring::{describe, open_service};

/// Runs the server.
pub async fn serve(config: Config) -> Result<(), String> {
    let started = Instant::now();
    let (max_connections, nofile) = connection_budget(&config)?;
    let svc = open_service(&config).await?;
    let cannot_listen = |e: std::io::Error| format!("cannot listen on {}: {e}", config.listen);
    let socket = bind(config.listen).map_err(cannot_listen)?;
    if let Some(password) = svc.bootstrap_admin().await.map_err(|e| describe(&e))?
        && let Err(e) = print_first_password(password.expose())
    {
        // Nobody saw the password: no such user may stay behind.
        let _ = svc.delete_user("admin").await;
        return Err(format!(
            "cannot print the first user's password ({e}); it was not created"
        ));
    }
    let listener = socket.listen(1024).map_err(cannot_listen)?;
    let state = AppState::new(svc.clone(), config.http.clone());
    spawn_housekeeping(&state);
    let (stop_audit, audit_stopped) = tokio::sync::watch::channel(false);
    let audit_writer = tokio::spawn(svc.audit_writer(audit_stopped));
    let metrics = state.metrics.clone();
    let app = router(state);
    tracing::info!(
        listen = %config.listen,
        max_connections,
        max_connections_per_address = config.http.connections.max_per_address,
        nofile_soft = %nofile.soft,
        nofile_hard = %nofile.hard,
        database = %redact_url(&config.store.url),
        password_backend = svc.password_backend_name(),
        startup_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(0),
        "otpgate listening on http://{}",
        config.listen
    );
    otpgate_http::serve(
        listener,
        app,
        config.http.connections,
        max_connections,
        metrics,
        shutdown_signal(),
    )
    .await;
    // The last records: the writer flushes once more and ends.
    let _ = stop_audit.send(true);
    if audit_writer.await.is_err() {
        tracing::warn!("the audit writer ended abnormally");
    }
    tracing::info!("otpgate stopped");
    Ok(())
}

/// A socket bound to `addr` (so a busy port fails here) that does not
/// take connections yet.
fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpSocket> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // As `TcpListener::bind` does: a restart can reuse a port whose old
    // connections are in TIME_WAIT (a port with a listener stays busy).
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    Ok(socket)
}

/// Prints the first user's password, flushed: an error means it may not
/// have reached anyone.
fn print_first_password(password: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "Created the first user: admin")?;
    writeln!(out, "Password (shown only this once): {password}")?;
    writeln!(
        out,
        "Change it with: otpgate user passwd admin --password-stdin"
    )?;
    out.flush()
}

/// The descriptor limits in force, as logged (`unlimited` or a number).
struct Nofile {
    soft: String,
    hard: String,
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit, and returns the cap
/// on concurrent connections: the configured one if the descriptors allow
/// it (else a clear refusal to start), or one derived from the limit; and
/// the limits, for the start-up log line.
fn connection_budget(config: &Config) -> Result<(usize, Nofile), String> {
    let (soft, hard) = raise_nofile();
    let shown = |l: Option<u64>| l.map_or("unlimited".to_owned(), |n| n.to_string());
    let nofile = Nofile {
        soft: shown(soft),
        hard: shown(hard),
    };
    let relays = config.http.upstream_ws.is_some();
    // An unlimited soft limit still meets the kernel's per-process cap.
    let soft = soft.unwrap_or(1 << 20);
    match config.http.connections.max_connections {
        Some(max) => {
            let needed = descriptors_needed(max, relays);
            if needed > soft {
                return Err(format!(
                    "connections.max = {max} needs {needed} file descriptors{}, but the limit (RLIMIT_NOFILE) is {soft} (hard {}): raise it (ulimit -n, LimitNOFILE= in the systemd unit) or lower connections.max",
                    if relays {
                        " (two per connection with upstream.ws_url, plus a reserve)"
                    } else {
                        " (one per connection plus a reserve)"
                    },
                    shown(hard)
                ));
            }
            Ok((max, nofile))
        }
        None => match default_max_connections(soft, relays) {
            0 => Err(format!(
                "the file-descriptor limit (RLIMIT_NOFILE) is {soft} (hard {}): too few to serve connections beside the reserve of {}; raise it (ulimit -n)",
                shown(hard),
                descriptors_needed(0, relays)
            )),
            max => Ok((max, nofile)),
        },
    }
}

/// Sets the soft descriptor limit to the hard one; returns both as they
/// are then (`None`: unlimited).
fn raise_nofile() -> (Option<u64>, Option<u64>) {
    let before = getrlimit(Resource::Nofile);
    if before.current != before.maximum {
        let raised = Rlimit {
            current: before.maximum,
            maximum: before.maximum,
        };
        if setrlimit(Resource::Nofile, raised).is_err() {
            // An unlimited hard limit: Linux takes at most `nr_open`.
            let _ = setrlimit(
                Resource::Nofile,
                Rlimit {
                    current: Some(1 << 20),
                    maximum: before.maximum,
                },
            );
        }
    }
    let now = getrlimit(Resource::Nofile);
    (now.current, now.maximum)
}

/// Hourly purge of expired revocations and counters and of audit records
/// past their retention; every minute, purge
/// of expired out-of-band codes, sessions and outbox messages, and
/// eviction of idle rate-limit buckets.
fn spawn_housekeeping(state: &AppState) {
    let auth = state.auth.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            match auth.purge_expired().await {
                Ok(n) => tracing::debug!(rows = n, "purged expired rows"),
                Err(e) => tracing::warn!(error = %e, "purge failed"),
            }
        }
    });
    let auth = state.auth.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            if let Err(e) = auth.purge_expired_codes().await {
                tracing::warn!(error = %e, "purge of expired codes failed");
            }
        }
    });
    if let Some(limiter) = state.limiter.clone() {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                limiter.evict_idle(Instant::now());
            }
        });
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

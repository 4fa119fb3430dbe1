//! `otpgate serve`: first-start bootstrap, then the HTTP server with its
//! background housekeeping and audit writer, until SIGINT or SIGTERM
//! (then the audit queue is flushed before exit).
//!
//! The port is bound before the first user is made, and connections are
//! taken only after its password is printed: a busy port creates no user,
//! and no `admin` exists whose password was not shown.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use otpgate_http::{AppState, router};

use crate::commands::{describe, open_service};
use crate::config::{Config, redact_url};

/// Runs the server.
pub async fn serve(config: Config) -> Result<(), String> {
    let started = Instant::now();
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
    let audit_writer = tokio::spawn(svc.audit().clone().run_writer(audit_stopped));
    let app = router(state);
    tracing::info!(
        listen = %config.listen,
        database = %redact_url(&config.store.url),
        password_backend = svc.password_backend_name(),
        startup_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(0),
        "otpgate listening on http://{}",
        config.listen
    );
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .map_err(|e| format!("server error: {e}"))?;
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

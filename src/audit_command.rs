//! `otpgate audit`: lists the audit records kept in the store, as text or
//! one JSON object per line, with `--since` as RFC 3339 or a duration back
//! from now (`30m`, `1h`, `7d`).

use otpgate_core::AuthService;
use otpgate_core::model::AuditRecord;
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::cli::AuditArgs;
use crate::wiring::describe;

/// Runs `otpgate audit`.
pub async fn audit(svc: &AuthService, args: AuditArgs) -> Result<(), String> {
    let now_ms = svc.now_ms();
    let since_ms = args
        .since
        .as_deref()
        .map(|t| parse_since(t, now_ms))
        .transpose()?;
    let records = svc
        .audit_records(args.user.as_deref(), since_ms, args.limit)
        .await
        .map_err(|e| describe(&e))?;
    for r in &records {
        if args.json {
            println!("{}", as_json(r));
        } else {
            println!("{}", as_text(r));
        }
    }
    Ok(())
}

/// `--since`: RFC 3339, or `<n><unit>` back from `now_ms` with unit `s`,
/// `m`, `h`, `d` or `w`. Returns unix milliseconds.
pub fn parse_since(text: &str, now_ms: i64) -> Result<i64, String> {
    let text = text.trim();
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return i64::try_from(t.unix_timestamp_nanos() / 1_000_000)
            .map_err(|_| format!("--since {text:?} is out of range"));
    }
    let bad = || {
        format!(
            "--since {text:?} is neither RFC 3339 (2026-11-21T10:00:00Z) nor a duration like 30m, 1h or 7d"
        )
    };
    let unit = text.chars().last().ok_or_else(bad)?;
    let unit_ms: i64 = match unit {
        's' => 1_000,
        'm' => 60_000,
        'h' => 3_600_000,
        'd' => 86_400_000,
        'w' => 604_800_000,
        _ => return Err(bad()),
    };
    let n: i64 = text
        .strip_suffix(unit)
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|n| n.parse().ok())
        .ok_or_else(bad)?;
    Ok(now_ms.saturating_sub(n.saturating_mul(unit_ms)))
}

fn time_text(at_ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(at_ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| at_ms.to_string())
}

fn as_json(r: &AuditRecord) -> serde_json::Value {
    json!({
        "time": time_text(r.at_ms.get()),
        "event": r.event,
        "user": r.username,
        "ip": r.ip,
        "user_agent": r.user_agent,
        "dialect": r.dialect,
        "app": r.app,
    })
}

fn as_text(r: &AuditRecord) -> String {
    let mut line = format!(
        "{} {} user={} ip={} dialect={}",
        time_text(r.at_ms.get()),
        r.event,
        r.username,
        r.ip.as_deref().unwrap_or("-"),
        r.dialect
    );
    if let Some(app) = &r.app {
        line.push_str(&format!(" app={app}"));
    }
    if let Some(ua) = &r.user_agent {
        // Debug-quoted: the agent is the client's text.
        line.push_str(&format!(" ua={ua:?}"));
    }
    line
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const NOW: i64 = 1_763_720_000_000;

    #[test]
    fn since_takes_rfc3339_and_relative_durations() {
        assert_eq!(parse_since("1970-01-01T00:00:01Z", NOW).unwrap(), 1_000);
        assert_eq!(
            parse_since("2025-11-21T10:00:00.5+01:00", NOW).unwrap(),
            1_763_715_600_500
        );
        assert_eq!(parse_since("90s", NOW).unwrap(), NOW - 90_000);
        assert_eq!(parse_since("30m", NOW).unwrap(), NOW - 1_800_000);
        assert_eq!(parse_since("1h", NOW).unwrap(), NOW - 3_600_000);
        assert_eq!(parse_since(" 7d ", NOW).unwrap(), NOW - 7 * 86_400_000);
        assert_eq!(parse_since("2w", NOW).unwrap(), NOW - 14 * 86_400_000);
    }

    #[test]
    fn since_refuses_anything_else() {
        for bad in ["", "h", "-1h", "1.5h", "1y", "yesterday", "2025-11-21"] {
            assert!(parse_since(bad, NOW).is_err(), "{bad}");
        }
    }

    #[test]
    fn text_lines_quote_the_user_agent() {
        let r = AuditRecord {
            at_ms: otpgate_core::model::UnixMillis::new(1_000),
            event: "login_ok".into(),
            username: "alice".into(),
            ip: None,
            user_agent: Some("a \"b\"".into()),
            dialect: "native".into(),
            app: None,
        };
        assert_eq!(
            as_text(&r),
            "1970-01-01T00:00:01Z login_ok user=alice ip=- dialect=native ua=\"a \\\"b\\\"\""
        );
    }
}

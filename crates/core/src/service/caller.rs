//! Who is calling and through which dialect: what every use case is told
//! about its caller, for the audit trail and the per-address throttles.
//! A leaf of [`super`]: the audit log and the use cases name it without
//! naming the service.

use std::net::IpAddr;

/// Longest `User-Agent` kept, in characters.
pub const USER_AGENT_MAX: usize = 256;

/// The way a caller reached the gateway (an audit record's `dialect`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Dialect {
    /// The native JSON API.
    #[default]
    Native,
    /// The legacy challenge login (`/webrest`).
    Legacy,
    /// The Mudbase application dialect.
    Mudbase,
    /// The Single Connect application dialect.
    SingleConnect,
    /// The Capillary application dialect.
    Capillary,
    /// The Socket.IO endpoints.
    SocketIo,
    /// The operator's command line.
    Cli,
}

impl Dialect {
    /// The stable name (log lines, audit records).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Native => "native",
            Self::Legacy => "legacy",
            Self::Mudbase => "mudbase",
            Self::SingleConnect => "single_connect",
            Self::Capillary => "capillary",
            Self::SocketIo => "socketio",
            Self::Cli => "cli",
        }
    }
}

/// Who is calling, as far as the transport knows.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// The client's IP (after trusted-proxy handling), if known.
    pub ip: Option<IpAddr>,
    /// The client's `User-Agent`, at most [`USER_AGENT_MAX`]
    /// characters, control characters replaced (see
    /// [`Caller::with_user_agent`]).
    pub user_agent: Option<String>,
    /// The dialect the call came through.
    pub dialect: Dialect,
}

impl Caller {
    /// A caller at `ip`.
    pub fn at(ip: IpAddr) -> Self {
        Self {
            ip: Some(ip),
            ..Self::default()
        }
    }

    /// The operator's command line.
    pub fn cli() -> Self {
        Self {
            dialect: Dialect::Cli,
            ..Self::default()
        }
    }

    /// The same caller, through `dialect`.
    pub fn via(mut self, dialect: Dialect) -> Self {
        self.dialect = dialect;
        self
    }

    /// The same caller with that `User-Agent` (bounded, one line; empty
    /// means none).
    pub fn with_user_agent(mut self, user_agent: &str) -> Self {
        let ua: String = user_agent
            .trim()
            .chars()
            .take(USER_AGENT_MAX)
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        self.user_agent = (!ua.is_empty()).then_some(ua);
        self
    }

    pub(super) fn ip_text(&self) -> String {
        self.ip.map_or_else(|| "-".to_owned(), |ip| ip.to_string())
    }
}

//! Socket.IO (protocol 5, Engine.IO 4) for real-time clients: the native
//! endpoint at `<api_prefix>/ws/` and the legacy one at `/socket.io/`.
//!
//! A client connects, then emits `login` with `{accessKeyId, token,
//! uaType}`. The login's rules are one core use case
//! ([`otpgate_core::AuthService::socket_login`]): the same token check as
//! an HTTP request (with the 2FA gate), or the legacy credential check,
//! plus `accessKeyId` must name the token's user; the core audits it.
//! Success: event `authe_ok`; anything else: event `401`, then
//! disconnect. Sockets that do not log in within the login timeout are
//! disconnected. Logged-in sockets are watched ([`registry`], and the
//! watcher task): when their
//! token is revoked (by this process or any other sharing the store) they
//! get `session_revoked` and are disconnected; when the user's 2FA turns
//! on or off they get `2fa_status`. With `upstream.ws_url` (or the CTI
//! server's Socket.IO in `nethcti` mode), each logged-in socket also gets
//! a connection to the upstream Socket.IO server whose events, acks and
//! binary attachments are relayed both ways ([`relay`]). In `nethcti`
//! mode the relayed login carries the user's CTI session and the CTI
//! server's answer (`authe_ok` or `401`) is the one the client gets.
//!
//! This file only declares the modules and re-exports what the crate
//! uses: [`Realtime`] (the shared state, `hub`), the endpoints and their
//! events (`endpoint`), the watcher, ending a socket (`close`) and the
//! upstream link's shared parts (`link`), so that no module here names
//! its parent.

mod close;
mod endpoint;
mod hub;
mod link;
mod pump;
pub mod registry;
pub mod relay;
mod watcher;
pub mod wire;

pub use endpoint::{Kind, Layers, LoginPayload};
pub use hub::Realtime;

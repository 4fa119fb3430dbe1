//! Ending a socket: the disconnect packet, then the WebSocket under it.
//! A leaf, so the login, the watcher and the relay can all end a socket.

use socketioxide::extract::SocketRef;

use crate::server::ConnectionCloser;

/// Time for a disconnect packet to go out before the WebSocket under it is
/// closed.
const CLOSE_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

/// Disconnects `s` from the namespace, then closes its WebSocket
/// connection (a client that keeps answering pings would otherwise hold
/// its Engine.IO session and its descriptor; `socket.io-client` closes it
/// itself).
pub(crate) fn disconnect(s: SocketRef) {
    let closer = s.req_parts().extensions.get::<ConnectionCloser>().cloned();
    let _ = s.disconnect();
    if let Some(c) = closer {
        c.close_upgraded_after(CLOSE_GRACE);
    }
}

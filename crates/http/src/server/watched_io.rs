//! The accepted socket as the server reads and writes it: every read
//! reported to the connection's [`Watch`], the budget's [`Permit`] held
//! for as long as the socket lives (also through a WebSocket upgrade).
//! Apart from [`super::watch`], so that the watch needs nothing of the
//! budget and the budget only the watch.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::budget::Permit;
use super::watch::Watch;

/// The accepted socket, reporting reads to its [`Watch`] and holding the
/// connection's budget [`Permit`] (so an upgraded WebSocket keeps its slot
/// until it is dropped).
#[derive(Debug)]
pub struct WatchedIo {
    inner: TcpStream,
    watch: Arc<Watch>,
    _permit: Permit,
}

impl WatchedIo {
    /// Wraps `inner`.
    pub fn new(inner: TcpStream, watch: Arc<Watch>, permit: Permit) -> Self {
        Self {
            inner,
            watch,
            _permit: permit,
        }
    }
}

impl AsyncRead for WatchedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Err(e) = self.watch.check_killed(Some(cx)) {
            return Poll::Ready(Err(e));
        }
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.watch.on_read();
        }
        r
    }
}

impl AsyncWrite for WatchedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Err(e) = self.watch.check_killed(None) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if let Err(e) = self.watch.check_killed(None) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

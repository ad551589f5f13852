//! `--max-conns` at accept: axum's `Listener` trait lets the accept step refuse a connection,
//! and the service's [`ConnectionGuard`] travels with the stream, so the slot is freed when
//! hyper drops the connection.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use ingest_service::{ConnectionGuard, Service};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, warn};

/// A listener that admits at most `--max-conns` connections at a time and answers the
/// others `503` and closes, as SPEC.md asks.
pub struct Limited {
    inner: TcpListener,
    service: Arc<Service>,
}

impl Limited {
    /// Wraps `inner`; `service` counts and limits the connections.
    pub fn new(inner: TcpListener, service: Arc<Service>) -> Limited {
        Limited { inner, service }
    }
}

/// An admitted connection: the stream and its place in the count.
pub struct Admitted {
    stream: TcpStream,
    _guard: ConnectionGuard,
}

impl axum::serve::Listener for Limited {
    type Io = Admitted;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Admitted, SocketAddr) {
        loop {
            let (stream, peer) = match self.inner.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    // EMFILE and friends: back off rather than spin, as axum's own listener does.
                    warn!("accept: {e}; backing off 10 ms");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let Some(guard) = self.service.try_connection() else {
                let response = self.service.overloaded_response();
                tokio::spawn(async move {
                    let mut stream = stream;
                    let _ = stream.write_all(&response).await;
                    let _ = stream.shutdown().await;
                });
                continue;
            };
            if let Err(e) = stream.set_nodelay(true) {
                debug!("TCP_NODELAY: {e}");
            }
            return (
                Admitted {
                    stream,
                    _guard: guard,
                },
                peer,
            );
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

impl AsyncRead for Admitted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Admitted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

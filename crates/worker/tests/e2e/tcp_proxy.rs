//! A TCP proxy in front of a real server (PostgreSQL here) that a test can make unresponsive:
//! while it is stalled, bytes stop flowing on open connections and new connections are
//! accepted but never answered — a sick database as its clients see it (requests hang until
//! their time limits), without touching the shared server other tests use.

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::AbortHandle;

pub struct TcpProxy {
    pub port: u16,
    stalled: Arc<watch::Sender<bool>>,
    accept: AbortHandle,
}

impl TcpProxy {
    /// Listens on a free loopback port and forwards to `upstream` (`host:port`).
    pub async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let (stalled, _) = watch::channel(false);
        let stalled = Arc::new(stalled);
        let upstream = upstream.to_owned();
        let accept_stalled = Arc::clone(&stalled);
        let accept = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let upstream = upstream.clone();
                let stalled = accept_stalled.subscribe();
                tokio::spawn(async move {
                    // A connection opened during a stall is held, unanswered, until the
                    // stall ends (its client will usually have given up by then).
                    let mut waiting = stalled.clone();
                    let _ = waiting.wait_for(|stalled| !*stalled).await;
                    let Ok(server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::join!(
                        pump(client_read, server_write, stalled.clone()),
                        pump(server_read, client_write, stalled),
                    );
                });
            }
        })
        .abort_handle();
        TcpProxy {
            port,
            stalled,
            accept,
        }
    }

    /// Stops all traffic (connections stay open, nothing answers).
    pub fn stall(&self) {
        self.stalled.send_replace(true);
    }

    pub fn resume(&self) {
        self.stalled.send_replace(false);
    }
}

/// Copies `from` to `to`, waiting while the proxy is stalled.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut stalled: watch::Receiver<bool>,
) {
    let mut buffer = vec![0_u8; 16 * 1024];
    loop {
        if stalled.wait_for(|stalled| !*stalled).await.is_err() {
            return;
        }
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        if stalled.wait_for(|stalled| !*stalled).await.is_err() {
            return;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

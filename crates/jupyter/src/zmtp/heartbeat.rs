//! Jupyter's heartbeat: a REP-type socket (RFC 23 "The REP Socket Type") that
//! echoes every message back to its sender unchanged. A REQ client sends
//! `[empty delimiter, payload]`; echoing all frames as received is exactly what
//! a REP would reply with its envelope restored.

use std::io;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::command::SocketType;
use super::frame::Event;
use super::peer::{self, Connected, Outgoing, PeerError, PeerLabel, PeerSlot, common_command};
use super::socket::{Limits, SendError};
use super::transport::{Endpoint, Listener, PeerAddr, Stream};

/// Listen on `ip:port` (0 picks a free port) and echo until the returned task is
/// aborted; aborting it also disconnects every heartbeat peer. Returns the port
/// actually bound.
pub async fn serve_heartbeat(
    ip: &str,
    port: u16,
    limits: Limits,
) -> io::Result<(u16, JoinHandle<()>)> {
    let ip = ip.to_owned();
    serve_heartbeat_at(&Endpoint::Tcp { ip, port }, limits).await
}

/// [`serve_heartbeat`] at `endpoint` (TCP or ipc; the port returned is 0 for ipc).
pub async fn serve_heartbeat_at(
    endpoint: &Endpoint,
    limits: Limits,
) -> io::Result<(u16, JoinHandle<()>)> {
    let listener = Listener::bind(endpoint).await?;
    let port = listener.port()?;
    let (shutdown_tx, shutdown_rx) = watch::channel(());
    let task = tokio::spawn(async move {
        // Owned by this task: when it ends or is aborted, connections see the
        // channel close and end too.
        let _shutdown = shutdown_tx;
        let peer_shutdown = shutdown_rx.clone();
        peer::accept_loop(
            listener,
            "heartbeat",
            limits.max_peers,
            shutdown_rx,
            move |stream, addr, slot| {
                tokio::spawn(serve_peer(
                    stream,
                    addr,
                    slot,
                    limits.clone(),
                    peer_shutdown.clone(),
                ));
            },
        )
        .await;
    });
    Ok((port, task))
}

/// [`serve_heartbeat_at`] on a thread of its own, with a runtime of its own: the heartbeat
/// says the process is alive, so it must not wait behind the kernel's work (a fleet cell's
/// hundreds of key exchanges keep the main runtime's workers busy for seconds). It stops when
/// the returned guard is dropped.
pub async fn serve_heartbeat_on_thread(
    endpoint: &Endpoint,
    limits: Limits,
) -> io::Result<(u16, HeartbeatThread)> {
    let endpoint = endpoint.clone();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<io::Result<u16>>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new()
        .name("heartbeat".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            rt.block_on(async move {
                match serve_heartbeat_at(&endpoint, limits).await {
                    Ok((port, task)) => {
                        let _ = ready_tx.send(Ok(port));
                        // The guard dropped, or the process ends.
                        let _ = stop_rx.await;
                        task.abort();
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            });
        })?;
    let port = ready_rx
        .await
        .map_err(|_| io::Error::other("the heartbeat thread ended before it listened"))??;
    Ok((port, HeartbeatThread { _stop: stop_tx }))
}

/// Keeps the heartbeat thread serving; dropped, it stops (and disconnects its peers).
pub struct HeartbeatThread {
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn serve_peer(
    stream: Stream,
    addr: PeerAddr,
    _slot: PeerSlot,
    limits: Limits,
    mut shutdown: watch::Receiver<()>,
) {
    let label = PeerLabel {
        kind: "heartbeat",
        addr,
    };
    let established = tokio::select! {
        c = peer::establish(stream, label, SocketType::Rep, &limits, peer::HANDSHAKE_TIMEOUT) => c,
        _ = shutdown.changed() => None,
    };
    let Some(Connected {
        label,
        mut reader,
        queue,
        ..
    }) = established
    else {
        return;
    };
    let read_loop = async {
        loop {
            match reader.next().await? {
                None => return Ok(()),
                Some(Event::Message(frames)) => match queue.push(Outgoing::Message(frames)) {
                    Ok(()) => {}
                    // A heartbeat client waits for each echo; one that has
                    // peer_queue_bytes of echoes unread is not a client.
                    Err(SendError::QueueFull) => {
                        return Err(PeerError::NotReading {
                            limit: limits.peer_queue_bytes,
                        });
                    }
                    Err(_) => return Ok(()),
                },
                Some(Event::Command(body)) => {
                    common_command(label, body, &queue)?;
                }
            }
        }
    };
    let result: Result<(), PeerError> = peer::until_closed(read_loop, &queue, &mut shutdown).await;
    queue.close();
    peer::log_end(label, &result);
}

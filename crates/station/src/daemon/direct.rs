//! The direct channel's tasks: accepting pinned peers' connections and reading their frames,
//! and one dial loop per peer that keeps an outgoing connection and writes the driver's frames.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use parley_channels::DirectEndpoint;
use parley_proto::StationId;
use tokio::sync::mpsc;

use super::{Input, KICK_AGE_MS_MIN, Via};

pub(super) async fn accept_loop(endpoint: Arc<DirectEndpoint>, inputs: std_mpsc::Sender<Input>) {
    while let Some(connection) = endpoint.accept().await {
        let inputs = inputs.clone();
        let peer = StationId(connection.peer());
        if inputs.send(Input::PeerDialled(peer)).is_err() {
            return;
        }
        tokio::spawn(async move {
            while let Ok(mut receiver) = connection.accept_receiver().await {
                let inputs = inputs.clone();
                tokio::spawn(async move {
                    loop {
                        match receiver.recv().await {
                            Ok(Some(frame)) => {
                                let input = Input::Frame {
                                    bytes: frame,
                                    via: Via::Direct(peer),
                                };
                                if inputs.send(input).is_err() {
                                    return;
                                }
                            }
                            Ok(None) => return,
                            Err(error) => {
                                tracing::debug!(%error, "direct stream ended");
                                return;
                            }
                        }
                    }
                });
            }
        });
    }
}

/// What a dial loop needs to know about its peer.
pub(super) struct Dial {
    pub(super) peer: StationId,
    pub(super) address: SocketAddr,
    pub(super) kick: Arc<tokio::sync::Notify>,
    pub(super) timing: crate::home::DirectTiming,
}

/// Keeps one outgoing connection to a peer and writes the driver's frames to it. A kick (the
/// peer dialled us) aborts a pending dial, and replaces an established connection older than
/// [`KICK_AGE_MS_MIN`], which is how a restarted peer is reached at once instead of after the idle
/// timeout. The age condition (older than a handshake can take) stops the two sides from
/// kicking each other forever.
pub(super) async fn dial_loop(
    endpoint: Arc<DirectEndpoint>,
    dial: Dial,
    mut frames: mpsc::UnboundedReceiver<Arc<[u8]>>,
    inputs: std_mpsc::Sender<Input>,
) {
    let Dial {
        peer,
        address,
        kick,
        timing,
    } = dial;
    let mut delay_ms = timing.redial_delay_ms_min;
    loop {
        let connected = tokio::select! {
            connected = endpoint.connect(address, peer.0) => connected,
            _ = kick.notified() => {
                delay_ms = timing.redial_delay_ms_min;
                continue;
            }
        };
        let connection = match connected {
            Ok(connection) => connection,
            Err(error) => {
                tracing::debug!(peer = %peer.short(), %error, "dial failed");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(delay_ms)) => {}
                    _ = kick.notified() => {}
                }
                delay_ms = (delay_ms * 2).min(timing.redial_delay_ms_max);
                continue;
            }
        };
        let mut sender = match connection.open_sender().await {
            Ok(sender) => sender,
            Err(error) => {
                tracing::debug!(%error, "opening a direct stream failed");
                continue;
            }
        };
        delay_ms = timing.redial_delay_ms_min;
        let connected_at = std::time::Instant::now();
        let rtt_us = Some(connection.rtt().as_micros() as u64);
        if inputs
            .send(Input::Direct {
                peer,
                up: true,
                rtt_us,
            })
            .is_err()
        {
            return;
        }
        let mut rtt_tick =
            tokio::time::interval(Duration::from_millis(timing.heartbeat_interval_ms));
        loop {
            tokio::select! {
                frame = frames.recv() => match frame {
                    Some(frame) => {
                        if let Err(error) = sender.send(&frame).await {
                            tracing::debug!(%error, "direct send failed");
                            break;
                        }
                    }
                    None => return,
                },
                error = connection.closed() => {
                    tracing::debug!(%error, "direct connection closed");
                    break;
                }
                _ = kick.notified() => {
                    // Older than any handshake could take: the peer's new connection is not
                    // merely its answer to ours.
                    let kick_age_min = (connection.rtt() * 4).max(Duration::from_millis(KICK_AGE_MS_MIN));
                    if connected_at.elapsed() >= kick_age_min {
                        tracing::debug!(peer = %peer.short(), "peer dialled us; replacing our connection");
                        break;
                    }
                }
                _ = rtt_tick.tick() => {
                    let rtt_us = Some(connection.rtt().as_micros() as u64);
                    let _ = inputs.send(Input::Direct { peer, up: true, rtt_us });
                }
            }
        }
        connection.close();
        if inputs
            .send(Input::Direct {
                peer,
                up: false,
                rtt_us: None,
            })
            .is_err()
        {
            return;
        }
        // Frames queued for the dead connection are resent by the protocol when the
        // channel comes back.
        while frames.try_recv().is_ok() {}
    }
}

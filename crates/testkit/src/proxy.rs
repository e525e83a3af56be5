//! A UDP forwarder that can be switched into a blackhole: put between two stations' direct
//! channels, it cuts the path (every datagram silently dropped, both ways) without touching
//! either process. Used by `parley bench --blackhole-direct`, the demo and tests.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use anyhow::Context as _;

/// Largest datagram forwarded, in bytes (QUIC never sends more than this).
pub const DATAGRAM_SIZE_MAX_BYTES: usize = 65_535;
/// How often the forwarding threads look at the stop flag, in milliseconds.
const POLL_MS: u64 = 100;

/// A running forwarder to one target.
pub struct UdpProxy {
    addr: SocketAddr,
    blackhole: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl UdpProxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `target`.
    pub fn start(target: SocketAddr) -> anyhow::Result<Self> {
        let front = UdpSocket::bind("127.0.0.1:0").context("binding the proxy")?;
        front.set_read_timeout(Some(Duration::from_millis(POLL_MS)))?;
        let addr = front.local_addr()?;
        let blackhole = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let forward = Forward {
            front,
            target,
            blackhole: blackhole.clone(),
            stop: stop.clone(),
            upstreams: Arc::new(Mutex::new(HashMap::new())),
        };
        thread::Builder::new()
            .name("udp-proxy".into())
            .spawn(move || forward.run())?;
        Ok(Self {
            addr,
            blackhole,
            stop,
        })
    }

    /// Where to send to reach the target.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Drops every datagram (both ways) while `on`.
    pub fn set_blackhole(&self, on: bool) {
        self.blackhole.store(on, Ordering::SeqCst);
    }
}

impl Drop for UdpProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

struct Forward {
    front: UdpSocket,
    target: SocketAddr,
    blackhole: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    upstreams: Arc<Mutex<HashMap<SocketAddr, Arc<UdpSocket>>>>,
}

impl Forward {
    fn run(self) {
        let mut buffer = vec![0u8; DATAGRAM_SIZE_MAX_BYTES];
        while !self.stop.load(Ordering::SeqCst) {
            let Ok((len, client)) = self.front.recv_from(&mut buffer) else {
                continue;
            };
            if self.blackhole.load(Ordering::SeqCst) {
                continue;
            }
            let Some(upstream) = self.upstream(client) else {
                continue;
            };
            let _ = upstream.send_to(&buffer[..len], self.target);
        }
    }

    /// The socket that stands for `client` towards the target, with its reverse thread.
    fn upstream(&self, client: SocketAddr) -> Option<Arc<UdpSocket>> {
        let mut upstreams = self.upstreams.lock().ok()?;
        if let Some(socket) = upstreams.get(&client) {
            return Some(socket.clone());
        }
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").ok()?);
        socket
            .set_read_timeout(Some(Duration::from_millis(POLL_MS)))
            .ok()?;
        upstreams.insert(client, socket.clone());
        let front = self.front.try_clone().ok()?;
        let (reverse, blackhole, stop) =
            (socket.clone(), self.blackhole.clone(), self.stop.clone());
        thread::Builder::new()
            .name("udp-proxy-back".into())
            .spawn(move || {
                let mut buffer = vec![0u8; DATAGRAM_SIZE_MAX_BYTES];
                while !stop.load(Ordering::SeqCst) {
                    let Ok(len) = reverse.recv(&mut buffer) else {
                        continue;
                    };
                    if !blackhole.load(Ordering::SeqCst) {
                        let _ = front.send_to(&buffer[..len], client);
                    }
                }
            })
            .ok()?;
        Some(socket)
    }
}

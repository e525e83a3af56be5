//! Forwarders that can be switched into a blackhole: a UDP one put between two stations'
//! direct channels cuts the path (every datagram silently dropped, both ways) without touching
//! either process, and a TCP one does the same in front of a relay. Used by `parley bench
//! --blackhole`, the demo and tests.

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
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

/// How long the TCP forwarder's accept loop sleeps when no connection waits, in milliseconds.
const ACCEPT_POLL_MS: u64 = 20;
/// Longest the TCP forwarder waits to connect to its target or to write to either end.
const TCP_IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes a TCP forwarding thread reads at once.
const TCP_BUFFER_BYTES: usize = 64 * 1024;

/// A running TCP forwarder to one target that can be switched into a blackhole: while on,
/// nothing is read from either end of a connection nor passed on (a close included) and no
/// new connection is taken, so connections stay open and nothing gets through, as a path that
/// loses every packet looks to the ends (the kernels still acknowledge what fits in their
/// buffers). Put in front of a relay by `parley bench --blackhole relay`.
pub struct TcpProxy {
    addr: SocketAddr,
    blackhole: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl TcpProxy {
    /// Listens on a free port of 127.0.0.1 and forwards each connection to `target`.
    pub fn start(target: SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").context("binding the proxy")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let blackhole = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (hole, halt) = (blackhole.clone(), stop.clone());
        thread::Builder::new()
            .name("tcp-proxy".into())
            .spawn(move || {
                while !halt.load(Ordering::SeqCst) {
                    let accepted = match hole.load(Ordering::SeqCst) {
                        true => None,
                        false => listener.accept().ok(),
                    };
                    let Some((client, _)) = accepted else {
                        thread::sleep(Duration::from_millis(ACCEPT_POLL_MS));
                        continue;
                    };
                    let Ok(upstream) = TcpStream::connect_timeout(&target, TCP_IO_TIMEOUT) else {
                        continue;
                    };
                    let streams = (|| {
                        client.set_nonblocking(false)?;
                        for stream in [&client, &upstream] {
                            stream.set_write_timeout(Some(TCP_IO_TIMEOUT))?;
                        }
                        Ok::<_, std::io::Error>([
                            (client.try_clone()?, upstream.try_clone()?),
                            (upstream, client),
                        ])
                    })();
                    for (from, to) in streams.into_iter().flatten() {
                        let (hole, halt) = (hole.clone(), halt.clone());
                        let _ = thread::Builder::new()
                            .name("tcp-proxy-pump".into())
                            .spawn(move || pump(from, to, &hole, &halt));
                    }
                }
            })?;
        Ok(Self {
            addr,
            blackhole,
            stop,
        })
    }

    /// Where to connect to reach the target.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Drops every byte (both ways, on every connection) while `on`.
    pub fn set_blackhole(&self, on: bool) {
        self.blackhole.store(on, Ordering::SeqCst);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Copies `from` to `to` until either ends or the forwarder stops, reading nothing while
/// `blackhole` is on.
fn pump(mut from: TcpStream, mut to: TcpStream, blackhole: &AtomicBool, stop: &AtomicBool) {
    if from
        .set_read_timeout(Some(Duration::from_millis(POLL_MS)))
        .is_err()
    {
        return;
    }
    let mut buffer = vec![0u8; TCP_BUFFER_BYTES];
    while !stop.load(Ordering::SeqCst) {
        if blackhole.load(Ordering::SeqCst) {
            thread::sleep(Duration::from_millis(POLL_MS));
            continue;
        }
        match from.read(&mut buffer) {
            Ok(0) => break,
            Ok(len) => {
                if to.write_all(&buffer[..len]).is_err() {
                    break;
                }
            }
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    if !blackhole.load(Ordering::SeqCst) {
        let _ = to.shutdown(std::net::Shutdown::Write);
    }
}

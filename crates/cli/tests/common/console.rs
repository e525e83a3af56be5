//! The web console and the metrics endpoint of a real daemon over raw HTTP/1.1: exchanges as
//! the console's own pages make them, logins, the session cookie and CSRF token they carry, a
//! station's `[console]` and `[metrics]` sections on free loopback addresses, and its operator
//! accounts.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use parley_metrics::text::{Exposition, parse};
use parley_station::home::{ConsoleConfig, MetricsConfig};
use parley_testkit::harness::{StationProcess, free_tcp_port, wait_until};

/// The password of every operator account these tests make.
pub const PASSWORD: &str = "correct horse battery staple";

/// One HTTP/1.1 answer: the status, the head as sent, the body.
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Answer {
    /// The first header named `name` (compared without case), its value trimmed.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head
            .lines()
            .skip(1)
            .filter_map(|line| line.split_once(':'))
            .find(|(n, _)| n.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    }
}

/// An exchange as the console's own pages make it: a request that changes state carries
/// their `Origin`.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    form: &str,
) -> Answer {
    let origin = format!("http://{addr}");
    http_from(
        addr,
        (method, path),
        cookie,
        (Some(&origin), &addr.to_string()),
        form,
    )
}

/// One exchange with an explicit `Origin` (none: no header) and `Host`.
pub fn http_from(
    addr: SocketAddr,
    (method, path): (&str, &str),
    cookie: Option<&str>,
    (origin, host): (Option<&str>, &str),
    form: &str,
) -> Answer {
    let head = form_head((method, path), cookie, (origin, host), form.len());
    exchange(addr, &head, form.as_bytes())
}

fn form_head(
    (method, path): (&str, &str),
    cookie: Option<&str>,
    (origin, host): (Option<&str>, &str),
    length: usize,
) -> String {
    let cookie = cookie.map_or_else(String::new, |c| format!("Cookie: parley_session={c}\r\n"));
    let origin = origin.map_or_else(String::new, |o| format!("Origin: {o}\r\n"));
    format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{origin}{cookie}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {length}\r\n\r\n"
    )
}

/// Posts `form` as the console's pages would, then resets the connection (`SO_LINGER` 0)
/// `after` that, without waiting for the answer: a client that goes away (a tab closed, a
/// network dropped) while the console acts.
pub fn post_then_reset(addr: SocketAddr, path: &str, cookie: &str, form: &str, after: Duration) {
    use std::os::fd::AsRawFd as _;

    let origin = format!("http://{addr}");
    let host = addr.to_string();
    let head = form_head(
        ("POST", path),
        Some(cookie),
        (Some(&origin), &host),
        form.len(),
    );
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.write_all(head.as_bytes()).expect("write");
    stream.write_all(form.as_bytes()).expect("write");
    // Time for the console to read the request, not to answer it (a send commits first).
    std::thread::sleep(after);
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket and a `linger` of the size given, read during the call only.
    let set = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            std::ptr::addr_of!(linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(set, 0, "SO_LINGER");
    drop(stream);
}

/// A POST of raw bytes with the CSRF token in its header.
pub fn upload(addr: SocketAddr, path: &str, cookie: &str, csrf: &str, body: &[u8]) -> Answer {
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nOrigin: http://{addr}\r\nConnection: close\r\nCookie: parley_session={cookie}\r\nX-CSRF-Token: {csrf}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    exchange(addr, &head, body)
}

/// Sends `head` and `body` on a new connection and reads the answer to its end.
fn exchange(addr: SocketAddr, head: &str, body: &[u8]) -> Answer {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    stream.write_all(head.as_bytes()).expect("write");
    stream.write_all(body).expect("write");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read");
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("a status line in {raw:?}"));
    Answer {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

/// Form encoding of `pairs`.
pub fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A login as `name` with `password`, from the console's own login page.
pub fn login(addr: SocketAddr, name: &str, password: &str) -> Answer {
    http(
        addr,
        "POST",
        "/login",
        None,
        &form(&[("name", name), ("password", password)]),
    )
}

/// Logs `name` in, which must succeed (a redirect to the board); its session token.
pub fn logged_in(addr: SocketAddr, name: &str, password: &str) -> String {
    let answer = login(addr, name, password);
    assert_eq!(answer.status, 303, "{}", answer.body);
    session_cookie(&answer)
}

/// The session token of the cookie an answer sets.
pub fn session_cookie(answer: &Answer) -> String {
    answer
        .header("set-cookie")
        .and_then(|c| c.strip_prefix("parley_session="))
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("a session cookie in {}", answer.head))
        .to_owned()
}

/// The CSRF token a page carries.
pub fn csrf(page: &str) -> String {
    let start = page.find("name=\"csrf\" content=\"").expect("csrf meta") + 21;
    page[start..start + 64].to_owned()
}

/// A free address on 127.0.0.1.
pub fn free_address() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_tcp_port().expect("a free port")))
}

/// A `[console]` section on `listen`, with HTTPS when `tls` gives a certificate and a key.
pub fn console_config(listen: String, tls: Option<(String, String)>) -> ConsoleConfig {
    let (cert, key) = tls.unzip();
    ConsoleConfig {
        listen,
        cert,
        key,
        session_idle_s: 600,
    }
}

/// Configures `station`'s console on a free loopback address (plain HTTP), returned.
pub fn serve_console(station: &StationProcess) -> SocketAddr {
    let address = free_address();
    station
        .configure(|config| {
            config.console = Some(console_config(address.to_string(), None));
        })
        .expect("configure");
    address
}

/// Configures `station`'s metrics on a free loopback address, returned.
pub fn serve_metrics(station: &StationProcess) -> SocketAddr {
    let address = free_address();
    station
        .configure(|config| {
            config.metrics = Some(MetricsConfig {
                listen: address.to_string(),
            });
        })
        .expect("configure");
    address
}

/// Adds the operator account `name` to `station`, with [`PASSWORD`] from a file in `root`
/// and the language `lang` (none: the default).
pub fn add_operator(station: &StationProcess, root: &Path, name: &str, lang: Option<&str>) {
    let password = root.join(format!("{name}.password"));
    std::fs::write(&password, format!("{PASSWORD}\n")).expect("write");
    let password = password.to_str().expect("UTF-8");
    let mut args = vec!["operator", "add", name, "--password-file", password];
    if let Some(lang) = lang {
        args.extend(["--lang", lang]);
    }
    station.ok(&args).expect("operator add");
}

/// Waits until the console listens on `addr`.
pub fn await_console(addr: SocketAddr) {
    let up = wait_until(Duration::from_secs(20), || TcpStream::connect(addr).is_ok());
    assert!(up, "the console listens on {addr}");
}

/// `GET /metrics`, parsed (it must be valid).
pub fn scrape(addr: SocketAddr) -> Exposition {
    let answer = http(addr, "GET", "/metrics", None, "");
    assert_eq!(answer.status, 200, "{}", answer.body);
    let doubled =
        (answer.body.lines()).find(|line| line.starts_with("# HELP") && line.ends_with(".."));
    assert!(doubled.is_none(), "{doubled:?}");
    parse(&answer.body)
        .unwrap_or_else(|error| panic!("invalid metrics text: {error}\n{}", answer.body))
}

//! Sessions and login throttling, in memory: a daemon restart logs everyone out.
//!
//! A session is a random 256-bit token in a cookie (`HttpOnly`, `SameSite=Strict`, `Secure`
//! over HTTPS), ended by logout or after its idle timeout. Each session has its own CSRF token,
//! which every state-changing request must carry in its form. Failed logins are counted per
//! account and per source address; past [`LOGIN_FAILURES_FREE`] each must wait, doubling.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use crate::limits::{
    LOGIN_FAILURES_FREE, LOGIN_FAILURES_TRACKED_MAX, LOGIN_WAIT_MS_MAX, LOGIN_WAIT_MS_MIN,
    SESSIONS_MAX,
};

/// The session cookie's name.
pub const COOKIE: &str = "parley_session";

/// A logged-in operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// The operator's name, as signed into entries.
    pub operator: String,
    /// The interface language.
    pub lang: String,
    /// The token every state-changing request must carry.
    pub csrf: String,
    last_used_ms: u64,
}

/// 32 random bytes, hex.
fn token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random generator is available");
    hex::encode(bytes)
}

/// Open sessions.
pub struct Sessions {
    idle_ms: u64,
    open: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// Sessions that end after `idle_ms` unused.
    pub fn new(idle_ms: u64) -> Self {
        Self {
            idle_ms,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// Opens a session for `operator`; returns its cookie token.
    pub fn open(&self, now_ms: u64, operator: String, lang: String) -> String {
        let mut open = self.open.lock().expect("not poisoned");
        open.retain(|_, session| now_ms.saturating_sub(session.last_used_ms) < self.idle_ms);
        if open.len() >= SESSIONS_MAX
            && let Some(oldest) = open
                .iter()
                .min_by_key(|(_, session)| session.last_used_ms)
                .map(|(token, _)| token.clone())
        {
            open.remove(&oldest);
        }
        let cookie = token();
        open.insert(
            cookie.clone(),
            Session {
                operator,
                lang,
                csrf: token(),
                last_used_ms: now_ms,
            },
        );
        cookie
    }

    /// The session of `cookie`, if open and not idle too long; using it keeps it open.
    pub fn get(&self, now_ms: u64, cookie: &str) -> Option<Session> {
        let mut open = self.open.lock().expect("not poisoned");
        let session = open.get_mut(cookie)?;
        if now_ms.saturating_sub(session.last_used_ms) >= self.idle_ms {
            open.remove(cookie);
            return None;
        }
        session.last_used_ms = now_ms;
        Some(session.clone())
    }

    /// Whether the session of `cookie` is open, without counting this as use (a page's own
    /// refresh and its event stream do not keep an abandoned console logged in).
    pub fn peek(&self, now_ms: u64, cookie: &str) -> Option<Session> {
        let open = self.open.lock().expect("not poisoned");
        let session = open.get(cookie)?;
        (now_ms.saturating_sub(session.last_used_ms) < self.idle_ms).then(|| session.clone())
    }

    /// Ends the session of `cookie`.
    pub fn close(&self, cookie: &str) {
        self.open.lock().expect("not poisoned").remove(cookie);
    }

    /// Ends every session of `operator` (its account was removed).
    pub fn close_operator(&self, operator: &str) {
        self.open
            .lock()
            .expect("not poisoned")
            .retain(|_, session| session.operator != operator);
    }
}

/// What a login is throttled by.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Account(String),
    Source(IpAddr),
}

#[derive(Clone, Copy, Debug)]
struct Failures {
    count: u32,
    last_ms: u64,
}

/// Failed logins per account and per source.
#[derive(Default)]
pub struct Throttle {
    failures: Mutex<HashMap<Key, Failures>>,
}

impl Throttle {
    /// How long `account` from `source` must still wait before trying, in milliseconds (0:
    /// it may try now).
    pub fn wait_ms(&self, now_ms: u64, account: &str, source: IpAddr) -> u64 {
        let failures = self.failures.lock().expect("not poisoned");
        [Key::Account(account.to_owned()), Key::Source(source)]
            .iter()
            .filter_map(|key| failures.get(key))
            .map(|f| (f.last_ms + wait_after(f.count)).saturating_sub(now_ms))
            .max()
            .unwrap_or(0)
    }

    /// A login of `account` from `source` failed.
    pub fn failed(&self, now_ms: u64, account: &str, source: IpAddr) {
        let mut failures = self.failures.lock().expect("not poisoned");
        if failures.len() >= LOGIN_FAILURES_TRACKED_MAX {
            let forgotten = failures
                .iter()
                .min_by_key(|(_, f)| f.last_ms)
                .map(|(key, _)| key.clone());
            if let Some(key) = forgotten {
                failures.remove(&key);
            }
        }
        for key in [Key::Account(account.to_owned()), Key::Source(source)] {
            let entry = failures.entry(key).or_insert(Failures {
                count: 0,
                last_ms: now_ms,
            });
            entry.count += 1;
            entry.last_ms = now_ms;
        }
    }

    /// A login of `account` succeeded: its failures are forgotten (the source's are not).
    pub fn succeeded(&self, account: &str) {
        self.failures
            .lock()
            .expect("not poisoned")
            .remove(&Key::Account(account.to_owned()));
    }
}

/// The wait after `count` failures, in milliseconds.
fn wait_after(count: u32) -> u64 {
    if count < LOGIN_FAILURES_FREE {
        return 0;
    }
    let doublings = (count - LOGIN_FAILURES_FREE).min(20);
    (LOGIN_WAIT_MS_MIN << doublings).min(LOGIN_WAIT_MS_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn sessions_end_when_idle_or_closed() {
        let sessions = Sessions::new(1_000);
        let cookie = sessions.open(0, "Ana".into(), "en".into());
        assert_eq!(cookie.len(), 64);
        let session = sessions.get(999, &cookie).expect("open");
        assert_eq!(session.operator, "Ana");
        assert_ne!(session.csrf, cookie);
        // Used at 999: open until 1 998, closed at 1 999.
        assert!(sessions.get(1_998, &cookie).is_some());
        assert!(sessions.get(2_998, &cookie).is_none());
        let cookie = sessions.open(0, "Ana".into(), "en".into());
        sessions.close(&cookie);
        assert!(sessions.get(1, &cookie).is_none());
        assert!(sessions.get(1, "forged").is_none());
    }

    #[test]
    fn sessions_are_bounded() {
        let sessions = Sessions::new(u64::MAX);
        let first = sessions.open(0, "a".into(), "en".into());
        for i in 1..SESSIONS_MAX as u64 {
            sessions.open(i, "a".into(), "en".into());
        }
        assert!(sessions.get(SESSIONS_MAX as u64, &first).is_some());
        // The least recently used is now the second one; the next login ends it.
        sessions.open(SESSIONS_MAX as u64 + 1, "b".into(), "en".into());
        assert!(sessions.get(SESSIONS_MAX as u64 + 2, &first).is_some());
        assert_eq!(sessions.open.lock().unwrap().len(), SESSIONS_MAX);
    }

    #[test]
    fn failures_past_the_free_ones_wait_and_double() {
        let throttle = Throttle::default();
        for i in 0..LOGIN_FAILURES_FREE - 1 {
            throttle.failed(0, "Ana", HOME);
            assert_eq!(throttle.wait_ms(0, "Ana", HOME), 0, "failure {i}");
        }
        throttle.failed(0, "Ana", HOME);
        assert_eq!(throttle.wait_ms(0, "Ana", HOME), LOGIN_WAIT_MS_MIN);
        // Another account from the same source waits too.
        assert_eq!(throttle.wait_ms(0, "Ben", HOME), LOGIN_WAIT_MS_MIN);
        // The same account from elsewhere waits too.
        let elsewhere = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(throttle.wait_ms(0, "Ana", elsewhere), LOGIN_WAIT_MS_MIN);
        throttle.failed(0, "Ana", HOME);
        assert_eq!(throttle.wait_ms(0, "Ana", HOME), 2 * LOGIN_WAIT_MS_MIN);
        for _ in 0..40 {
            throttle.failed(0, "Ana", HOME);
        }
        assert_eq!(throttle.wait_ms(0, "Ana", HOME), LOGIN_WAIT_MS_MAX);
        assert_eq!(throttle.wait_ms(LOGIN_WAIT_MS_MAX, "Ana", HOME), 0);
        throttle.succeeded("Ana");
        assert_eq!(throttle.wait_ms(0, "Ana", elsewhere), 0);
    }
}

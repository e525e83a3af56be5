//! Sessions and login throttling, in memory: a daemon restart logs everyone out.
//!
//! A session is a random 256-bit token in a cookie (`HttpOnly`, `SameSite=Strict`, `Secure`
//! over HTTPS), ended by logout or after its idle timeout. Each session has its own CSRF token,
//! which every state-changing request must carry in its form. Failed logins are counted per
//! account and origin, and per origin (an IPv4 address, an IPv6 /64); past
//! [`LOGIN_FAILURES_FREE`] each must wait, doubling. Their times are the time since boot
//! (`since_boot_ms`), which the wall clock's steps do not move.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use crate::limits::{
    LOGIN_FAILURES_FORGOTTEN_MS, LOGIN_FAILURES_FREE, LOGIN_FAILURES_TRACKED_MAX,
    LOGIN_WAIT_MS_MAX, LOGIN_WAIT_MS_MIN, SESSIONS_MAX,
};

/// The session cookie's name.
pub const COOKIE: &str = "parley_session";

/// Which account a session was opened for: a digest of its name, creation time and password
/// hash (salted afresh for each account). An account removed and added again under the same
/// name, as a password is changed, is another account, and the old one's sessions end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountStamp([u8; 32]);

impl AccountStamp {
    /// The stamp of `account`.
    pub fn of(account: &parley_store::console::OperatorRow) -> Self {
        Self(parley_proto::id::sha256(&[
            b"parley console account\0",
            account.name.as_bytes(),
            b"\0",
            &account.created_ms.to_be_bytes(),
            account.password_phc.as_bytes(),
        ]))
    }
}

/// A logged-in operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// The operator's name, as signed into entries.
    pub operator: String,
    /// The account it was opened for.
    pub account: AccountStamp,
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

    /// Opens a session for `operator`'s `account`; returns its cookie token.
    pub fn open(
        &self,
        now_ms: u64,
        (operator, account): (String, AccountStamp),
        lang: String,
    ) -> String {
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
                account,
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
}

/// Where logins come from, for throttling: an IPv4 address, or an IPv6 address's /64 (one
/// host usually holds a whole /64).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Origin {
    V4(u32),
    V6(u64),
}

impl From<IpAddr> for Origin {
    fn from(address: IpAddr) -> Self {
        match address {
            IpAddr::V4(v4) => Origin::V4(v4.into()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Origin::V4(v4.into()),
                None => Origin::V6((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

/// What a login is throttled by: an account tried from one origin, and an origin whatever
/// the account. Not an account alone: anyone could then lock an operator out by failing
/// their logins from elsewhere.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Pair(String, Origin),
    Origin(Origin),
}

#[derive(Clone, Copy, Debug)]
struct Failures {
    count: u32,
    /// The latest attempt counted.
    last_ms: u64,
    /// The one before it, which a right password's success takes back to.
    previous_ms: u64,
}

impl Key {
    /// Whether failures counted under this key whose latest is `last_ms` are forgotten at
    /// `now_ms`: an origin's, whatever the account, once [`LOGIN_FAILURES_FORGOTTEN_MS`] old
    /// (a console on loopback is one origin for all its operators, whose typing errors over
    /// months must not add up to a wait); an account's from an origin never, so waiting out
    /// the period gives a guesser no fresh free tries at one account.
    fn forgets(&self, last_ms: u64, now_ms: u64) -> bool {
        matches!(self, Key::Origin(_))
            && now_ms.saturating_sub(last_ms) >= LOGIN_FAILURES_FORGOTTEN_MS
    }
}

/// Login attempts per account and origin, and per origin.
#[derive(Default)]
pub struct Throttle {
    failures: Mutex<HashMap<Key, Failures>>,
}

impl Throttle {
    fn keys(account: &str, source: IpAddr) -> [Key; 2] {
        let origin = Origin::from(source);
        [Key::Pair(account.to_owned(), origin), Key::Origin(origin)]
    }

    /// A login of `account` from `source` is about to be checked: how long it must still wait,
    /// in milliseconds (then it is not counted), or 0, and then it counts as a failure until
    /// [`Self::succeeded`] says otherwise. Counting before the check keeps logins sent at once
    /// from all slipping through.
    pub fn attempt(&self, now_ms: u64, account: &str, source: IpAddr) -> u64 {
        let mut failures = self.failures.lock().expect("not poisoned");
        let keys = Self::keys(account, source);
        let wait_ms = keys
            .iter()
            .filter_map(|key| Some((key, failures.get(key)?)))
            .filter(|(key, f)| !key.forgets(f.last_ms, now_ms))
            .map(|(_, f)| (f.last_ms + wait_after(f.count)).saturating_sub(now_ms))
            .max()
            .unwrap_or(0);
        if wait_ms > 0 {
            return wait_ms;
        }
        if failures.len() + 2 > LOGIN_FAILURES_TRACKED_MAX {
            // Forget the oldest; an attacker flooding names forgets its own first, as its
            // origin's count is always among the most recent.
            let mut oldest: Vec<(Key, u64)> = failures
                .iter()
                .map(|(k, f)| (k.clone(), f.last_ms))
                .collect();
            oldest.sort_by_key(|(_, last_ms)| *last_ms);
            for (key, _) in oldest.into_iter().take(2) {
                failures.remove(&key);
            }
        }
        for key in keys {
            let fresh = Failures {
                count: 0,
                last_ms: now_ms,
                previous_ms: now_ms,
            };
            let forgets = |entry: &Failures| key.forgets(entry.last_ms, now_ms);
            let forgotten = failures.get(&key).is_some_and(forgets);
            let entry = failures.entry(key).or_insert(fresh);
            if forgotten {
                *entry = fresh;
            }
            entry.count += 1;
            entry.previous_ms = entry.last_ms;
            entry.last_ms = now_ms;
        }
        0
    }

    /// The login of `account` from `source` was right: its attempt is taken back (its count
    /// and its time: a success starts no wait), and the account's failures from there
    /// forgotten.
    pub fn succeeded(&self, account: &str, source: IpAddr) {
        let mut failures = self.failures.lock().expect("not poisoned");
        let [pair, origin] = Self::keys(account, source);
        failures.remove(&pair);
        if let Some(entry) = failures.get_mut(&origin) {
            entry.count = entry.count.saturating_sub(1);
            entry.last_ms = entry.previous_ms;
            if entry.count == 0 {
                failures.remove(&origin);
            }
        }
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
    const STAMP: AccountStamp = AccountStamp([1; 32]);

    #[test]
    fn sessions_end_when_idle_or_closed() {
        let sessions = Sessions::new(1_000);
        let cookie = sessions.open(0, ("Ana".into(), STAMP), "en".into());
        assert_eq!(cookie.len(), 64);
        let session = sessions.get(999, &cookie).expect("open");
        assert_eq!(session.operator, "Ana");
        assert_ne!(session.csrf, cookie);
        // Used at 999: open until 1 998, closed at 1 999.
        assert!(sessions.get(1_998, &cookie).is_some());
        assert!(sessions.get(2_998, &cookie).is_none());
        let cookie = sessions.open(0, ("Ana".into(), STAMP), "en".into());
        sessions.close(&cookie);
        assert!(sessions.get(1, &cookie).is_none());
        assert!(sessions.get(1, "forged").is_none());
    }

    #[test]
    fn sessions_are_bounded() {
        let sessions = Sessions::new(u64::MAX);
        let first = sessions.open(0, ("a".into(), STAMP), "en".into());
        for i in 1..SESSIONS_MAX as u64 {
            sessions.open(i, ("a".into(), STAMP), "en".into());
        }
        assert!(sessions.get(SESSIONS_MAX as u64, &first).is_some());
        // The least recently used is now the second one; the next login ends it.
        sessions.open(SESSIONS_MAX as u64 + 1, ("b".into(), STAMP), "en".into());
        assert!(sessions.get(SESSIONS_MAX as u64 + 2, &first).is_some());
        assert_eq!(sessions.open.lock().unwrap().len(), SESSIONS_MAX);
    }

    #[test]
    fn failures_past_the_free_ones_wait_and_double() {
        let throttle = Throttle::default();
        for i in 0..LOGIN_FAILURES_FREE {
            assert_eq!(throttle.attempt(0, "Ana", HOME), 0, "attempt {i}");
        }
        assert_eq!(throttle.attempt(0, "Ana", HOME), LOGIN_WAIT_MS_MIN);
        // Another account from the same origin waits too.
        assert_eq!(throttle.attempt(0, "Ben", HOME), LOGIN_WAIT_MS_MIN);
        // The same account from elsewhere does not: nobody locks Ana out from afar.
        let elsewhere = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(throttle.attempt(0, "Ana", elsewhere), 0);
        // The wait doubles with each counted failure, to the longest.
        assert_eq!(throttle.attempt(LOGIN_WAIT_MS_MIN, "Ana", HOME), 0);
        assert_eq!(
            throttle.attempt(LOGIN_WAIT_MS_MIN, "Ana", HOME),
            2 * LOGIN_WAIT_MS_MIN
        );
        let mut now_ms = LOGIN_WAIT_MS_MIN;
        for _ in 0..40 {
            now_ms += LOGIN_WAIT_MS_MAX;
            assert_eq!(throttle.attempt(now_ms, "Ana", HOME), 0);
        }
        assert_eq!(throttle.attempt(now_ms, "Ana", HOME), LOGIN_WAIT_MS_MAX);
        // A right password takes its attempt back and forgets the account's failures there.
        throttle.succeeded("Ana", elsewhere);
        assert_eq!(throttle.attempt(0, "Ana", elsewhere), 0);
    }

    /// Operators sharing one origin (a console on loopback): a right password starts no wait
    /// for the next one, and failures are forgotten once the latest is old enough.
    #[test]
    fn a_success_starts_no_wait_and_old_failures_are_forgotten() {
        // Four failures from here, spaced so that none waited.
        let failing = || {
            let throttle = Throttle::default();
            for i in 0..=LOGIN_FAILURES_FREE {
                let at_ms = u64::from(i) * LOGIN_WAIT_MS_MAX;
                assert_eq!(throttle.attempt(at_ms, "Eve", HOME), 0);
            }
            throttle
        };
        let last_ms = u64::from(LOGIN_FAILURES_FREE) * LOGIN_WAIT_MS_MAX;
        let now_ms = last_ms + LOGIN_WAIT_MS_MAX;
        let throttle = failing();
        assert_eq!(throttle.attempt(now_ms, "Ana", HOME), 0);
        throttle.succeeded("Ana", HOME);
        assert_eq!(throttle.attempt(now_ms, "Ben", HOME), 0, "Ana's success");
        // Ben's was wrong, the fifth failure: a wait from it.
        assert_eq!(
            throttle.attempt(now_ms + 1, "Ana", HOME),
            4 * LOGIN_WAIT_MS_MIN - 1
        );
        // Just before the latest failure is old enough to be forgotten, a failure is the
        // fifth (a wait follows); from then on, it is the first.
        let throttle = failing();
        let before_ms = last_ms + LOGIN_FAILURES_FORGOTTEN_MS - 1;
        assert_eq!(throttle.attempt(before_ms, "Ana", HOME), 0);
        assert_eq!(
            throttle.attempt(before_ms, "Ana", HOME),
            4 * LOGIN_WAIT_MS_MIN
        );
        let throttle = failing();
        let at_ms = last_ms + LOGIN_FAILURES_FORGOTTEN_MS;
        assert_eq!(throttle.attempt(at_ms, "Ana", HOME), 0);
        assert_eq!(throttle.attempt(at_ms, "Ana", HOME), 0);
        // The account that failed keeps its count there: waiting out the period gives no
        // fresh free tries at it.
        let throttle = failing();
        assert_eq!(throttle.attempt(at_ms, "Eve", HOME), 0);
        assert_eq!(throttle.attempt(at_ms, "Eve", HOME), 4 * LOGIN_WAIT_MS_MIN);
    }

    #[test]
    fn an_ipv6_host_is_one_origin() {
        let throttle = Throttle::default();
        let host =
            |last: u16| IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, last));
        for i in 0..LOGIN_FAILURES_FREE {
            assert_eq!(throttle.attempt(0, "Ana", host(i as u16)), 0);
        }
        assert_eq!(throttle.attempt(0, "Ben", host(999)), LOGIN_WAIT_MS_MIN);
        let other = IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 2, 0, 0, 0, 1));
        assert_eq!(throttle.attempt(0, "Ben", other), 0);
    }
}

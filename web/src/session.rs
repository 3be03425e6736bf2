//! Server-side sessions: a random token in a cookie names a session held in
//! memory; it ends after [`SessionPolicy::idle`] without a request, after
//! [`SessionPolicy::absolute`] whatever happens, at logout, or when its
//! account is disabled. Each session has its own CSRF token, which every
//! form carries and every POST must echo ([`Session::csrf_ok`]).
//!
//! Held in memory on purpose: a restart logs everyone out, and no session
//! token ever reaches the disk or a backup.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine as _;
use jiff::{SignedDuration, Timestamp};
use subtle::ConstantTimeEq as _;

/// The clock sessions and throttling read; injectable so tests can move
/// time instead of sleeping.
pub type Now = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// The system clock.
pub fn system_now() -> Now {
    Arc::new(Timestamp::now)
}

/// How long sessions live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// Ended after this long without a request.
    pub idle: SignedDuration,
    /// Ended this long after login, however busy.
    pub absolute: SignedDuration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        SessionPolicy {
            idle: SignedDuration::from_mins(30),
            absolute: SignedDuration::from_hours(10),
        }
    }
}

/// One logged-in session as a handler sees it.
#[derive(Debug, Clone)]
pub struct Session<P> {
    pub principal: P,
    /// The session's token (the cookie's value).
    pub token: String,
    /// The token every form of this session carries.
    pub csrf: String,
}

impl<P> Session<P> {
    /// Whether a form's token is this session's (constant time).
    pub fn csrf_ok(&self, sent: &str) -> bool {
        csrf_matches(&self.csrf, sent)
    }
}

/// Whether a form's token equals the session's (constant time; an empty
/// one never does).
pub fn csrf_matches(expected: &str, sent: &str) -> bool {
    !sent.is_empty() && bool::from(expected.as_bytes().ct_eq(sent.as_bytes()))
}

struct Entry<P> {
    principal: P,
    csrf: String,
    /// A message for the next page shown (after a redirect).
    flash: Option<(crate::page::Flash, String)>,
    created: Timestamp,
    last_seen: Timestamp,
}

/// The sessions of one console.
pub struct Sessions<P> {
    /// A std mutex: held for a map lookup, never across an await.
    inner: Mutex<HashMap<String, Entry<P>>>,
    policy: SessionPolicy,
    now: Now,
}

impl<P> std::fmt::Debug for Sessions<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<P: Clone> Sessions<P> {
    pub fn new(policy: SessionPolicy, now: Now) -> Self {
        Sessions {
            inner: Mutex::new(HashMap::new()),
            policy,
            now,
        }
    }

    /// Starts a session for `principal`.
    pub fn create(&self, principal: P) -> Session<P> {
        let now = (self.now)();
        let token = random_token();
        let csrf = random_token();
        let mut map = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        map.retain(|_, e| !self.expired(e, now));
        map.insert(
            token.clone(),
            Entry {
                principal: principal.clone(),
                csrf: csrf.clone(),
                flash: None,
                created: now,
                last_seen: now,
            },
        );
        Session {
            principal,
            token,
            csrf,
        }
    }

    /// The live session of `token`, its idle time restarted; an expired
    /// one is removed.
    pub fn get(&self, token: &str) -> Option<Session<P>> {
        let now = (self.now)();
        let mut map = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = map.get_mut(token)?;
        if self.expired(entry, now) {
            map.remove(token);
            return None;
        }
        entry.last_seen = now;
        Some(Session {
            principal: entry.principal.clone(),
            token: token.to_owned(),
            csrf: entry.csrf.clone(),
        })
    }

    /// Keeps a message for the session's next page (post, redirect, get).
    pub fn set_flash(&self, token: &str, kind: crate::page::Flash, text: impl Into<String>) {
        if let Some(e) = self
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(token)
        {
            e.flash = Some((kind, text.into()));
        }
    }

    /// The kept message, once.
    pub fn take_flash(&self, token: &str) -> Option<(crate::page::Flash, String)> {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(token)
            .and_then(|e| e.flash.take())
    }

    /// Ends one session (logout).
    pub fn remove(&self, token: &str) {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(token);
    }

    /// Ends every session whose principal matches (a disabled account).
    pub fn remove_where(&self, f: impl Fn(&P) -> bool) {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, e| !f(&e.principal));
    }

    fn expired(&self, e: &Entry<P>, now: Timestamp) -> bool {
        now.duration_since(e.last_seen) >= self.policy.idle
            || now.duration_since(e.created) >= self.policy.absolute
    }
}

/// 32 random bytes, URL-safe base64 without padding.
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The `Set-Cookie` value that starts a session: HttpOnly,
/// SameSite=Strict, Path=/, and Secure unless served over plain HTTP
/// (which [`crate::serve::check_listen`] allows on loopback only).
pub fn set_cookie(name: &str, token: &str, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={token}; Path=/; HttpOnly; SameSite=Strict{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

/// The `Set-Cookie` value that ends a session in the browser.
pub fn clear_cookie(name: &str, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

/// The value of cookie `name` in the request, if any.
pub fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicI64, Ordering};

    use super::*;

    fn manual() -> (Now, Arc<AtomicI64>) {
        let at = Arc::new(AtomicI64::new(1_700_000_000));
        let read = Arc::clone(&at);
        (
            Arc::new(move || Timestamp::from_second(read.load(Ordering::SeqCst)).unwrap()),
            at,
        )
    }

    #[test]
    fn a_session_ends_when_idle_and_after_its_absolute_lifetime() {
        let (now, at) = manual();
        let policy = SessionPolicy {
            idle: SignedDuration::from_mins(30),
            absolute: SignedDuration::from_hours(2),
        };
        let sessions = Sessions::new(policy, now);
        let s = sessions.create("wang".to_string());
        assert!(sessions.get(&s.token).is_some());
        // Busy every 20 minutes: alive until the absolute limit.
        for _ in 0..5 {
            at.fetch_add(20 * 60, Ordering::SeqCst);
            assert!(sessions.get(&s.token).is_some());
        }
        at.fetch_add(20 * 60, Ordering::SeqCst);
        assert!(sessions.get(&s.token).is_none(), "two hours after login");

        let s = sessions.create("li".to_string());
        at.fetch_add(30 * 60, Ordering::SeqCst);
        assert!(sessions.get(&s.token).is_none(), "idle 30 minutes");
        assert!(sessions.get("no-such-token").is_none());
    }

    #[test]
    fn csrf_tokens_are_per_session_and_compared_whole() {
        let sessions = Sessions::new(SessionPolicy::default(), system_now());
        let a = sessions.create(1);
        let b = sessions.create(2);
        assert_ne!(a.csrf, b.csrf);
        assert!(a.csrf_ok(&a.csrf));
        assert!(!a.csrf_ok(&b.csrf));
        assert!(!a.csrf_ok(""));
        assert!(!a.csrf_ok(&a.csrf[..10]));
        sessions.remove_where(|p| *p == 1);
        assert!(sessions.get(&a.token).is_none());
        assert!(sessions.get(&b.token).is_some());
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_off_loopback() {
        let c = set_cookie("kaohe", "abc", true);
        assert_eq!(
            c.to_str().unwrap(),
            "kaohe=abc; Path=/; HttpOnly; SameSite=Strict; Secure"
        );
        let c = set_cookie("kaohe", "abc", false);
        assert!(!c.to_str().unwrap().contains("Secure"));
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; kaohe=xyz"));
        assert_eq!(read_cookie(&h, "kaohe").as_deref(), Some("xyz"));
        assert_eq!(read_cookie(&h, "b"), None);
    }
}

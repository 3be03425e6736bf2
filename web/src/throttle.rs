//! Failed logins slowed: after [`FREE_FAILURES`] failures in a row for an
//! account — or from an address — the next attempt for it must wait,
//! doubling with each further failure up to [`MAX_WAIT_SECS`]. A success
//! clears the account's count (not the address's: one right password does
//! not excuse a spray of guesses from the same machine).
//!
//! The attempt is refused with the time left, not held open: a sleeping
//! request would let a guesser tie up the server instead.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use jiff::{SignedDuration, Timestamp};

use crate::session::Now;

/// Failures before any wait.
pub const FREE_FAILURES: u32 = 3;
/// The longest wait, in seconds (15 minutes).
pub const MAX_WAIT_SECS: i64 = 15 * 60;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Timestamp,
}

/// Failure counts by key (`account:NAME`, `addr:IP`).
pub struct Throttle {
    /// A std mutex: held for a map lookup only.
    inner: Mutex<HashMap<String, Failures>>,
    now: Now,
}

impl std::fmt::Debug for Throttle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Throttle").finish_non_exhaustive()
    }
}

impl Throttle {
    pub fn new(now: Now) -> Self {
        Throttle {
            inner: Mutex::new(HashMap::new()),
            now,
        }
    }

    /// How long the caller must still wait before trying any of `keys`;
    /// `None` when it may try now.
    pub fn wait(&self, keys: &[String]) -> Option<SignedDuration> {
        let now = (self.now)();
        let map = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        keys.iter()
            .filter_map(|k| map.get(k))
            .filter_map(|f| {
                let left = delay(f.count) - now.duration_since(f.last);
                left.is_positive().then_some(left)
            })
            .max()
    }

    /// Records a failed attempt against every key.
    pub fn failed(&self, keys: &[String]) {
        let now = (self.now)();
        let mut map = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        for k in keys {
            let f = map.entry(k.clone()).or_insert(Failures {
                count: 0,
                last: now,
            });
            f.count = f.count.saturating_add(1);
            f.last = now;
        }
    }

    /// Clears one key after a success.
    pub fn succeeded(&self, key: &str) {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }
}

/// The wait after `count` failures in a row.
fn delay(count: u32) -> SignedDuration {
    if count < FREE_FAILURES {
        return SignedDuration::ZERO;
    }
    let doublings = (count - FREE_FAILURES).min(20);
    SignedDuration::from_secs((1_i64 << doublings).min(MAX_WAIT_SECS))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicI64, Ordering};

    use super::*;

    #[test]
    fn failures_beyond_the_free_ones_wait_doubling_and_success_clears() {
        let at = Arc::new(AtomicI64::new(1_700_000_000));
        let read = Arc::clone(&at);
        let t = Throttle::new(Arc::new(move || {
            Timestamp::from_second(read.load(Ordering::SeqCst)).unwrap()
        }));
        let keys = vec!["account:wang".to_string(), "addr:127.0.0.1".to_string()];
        for _ in 0..FREE_FAILURES - 1 {
            t.failed(&keys);
            assert_eq!(t.wait(&keys), None);
        }
        t.failed(&keys);
        assert_eq!(t.wait(&keys), Some(SignedDuration::from_secs(1)));
        t.failed(&keys);
        assert_eq!(t.wait(&keys), Some(SignedDuration::from_secs(2)));
        at.fetch_add(2, Ordering::SeqCst);
        assert_eq!(t.wait(&keys), None);
        for _ in 0..30 {
            t.failed(&keys);
        }
        assert_eq!(
            t.wait(&keys),
            Some(SignedDuration::from_secs(MAX_WAIT_SECS))
        );
        t.succeeded("account:wang");
        // The address still waits.
        assert!(t.wait(&keys).is_some());
        assert_eq!(t.wait(&keys[..1]), None);
    }
}

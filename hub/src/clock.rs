//! 时钟（clock）：汇总中心读取“现在”的唯一地方。
//!
//! Lateness is decided by the hub's clock at commit, so the clock is a
//! value passed to the server rather than a call to the operating system
//! scattered through the code: tests and demos run the hub at a chosen
//! instant (`--now`), shifted (`--clock-offset`), or with a clock they move
//! themselves ([`Clock::manual`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use jiff::{SignedDuration, Timestamp};

/// Where "now" comes from.
#[derive(Debug, Clone)]
pub enum Clock {
    /// The operating system's clock.
    System,
    /// Always this instant.
    Fixed(Timestamp),
    /// The operating system's clock shifted by this much.
    Offset(SignedDuration),
    /// An instant the owner of the handle sets (unix seconds).
    Manual(Arc<AtomicI64>),
}

impl Clock {
    /// A manual clock starting at `at`, and the handle that moves it.
    pub fn manual(at: Timestamp) -> (Clock, ManualClock) {
        let cell = Arc::new(AtomicI64::new(at.as_second()));
        (Clock::Manual(Arc::clone(&cell)), ManualClock(cell))
    }

    /// The current instant by this clock.
    pub fn now(&self) -> Timestamp {
        match self {
            Clock::System => Timestamp::now(),
            Clock::Fixed(at) => *at,
            Clock::Offset(by) => Timestamp::now()
                .checked_add(*by)
                .unwrap_or_else(|_| Timestamp::now()),
            Clock::Manual(cell) => {
                Timestamp::from_second(cell.load(Ordering::SeqCst)).unwrap_or(Timestamp::UNIX_EPOCH)
            }
        }
    }
}

/// The handle of a [`Clock::Manual`].
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// Sets the clock to `at` (whole seconds).
    pub fn set(&self, at: Timestamp) {
        self.0.store(at.as_second(), Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_and_manual_clocks_say_what_they_are_told() {
        let at: Timestamp = "2023-01-20T16:00:00Z".parse().unwrap();
        assert_eq!(Clock::Fixed(at).now(), at);
        let (clock, handle) = Clock::manual(at);
        assert_eq!(clock.now(), at);
        let later: Timestamp = "2023-02-01T00:00:00Z".parse().unwrap();
        handle.set(later);
        assert_eq!(clock.now(), later);
    }
}

//! The emulator's notion of "now".
//!
//! Everything time-dependent (token `iat`/`exp`, session expiry, nonce and
//! ticket lifetimes, rate-limit windows) reads this clock, so a test can move
//! time forward without waiting. Moving it is a test control; reading it is
//! not.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock time in milliseconds since the Unix epoch, plus an offset.
#[derive(Debug, Default)]
pub struct Clock {
    offset_ms: AtomicI64,
}

impl Clock {
    /// Milliseconds since the Unix epoch, as Clerk puts in resource JSON.
    pub fn now_ms(&self) -> i64 {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        real + self.offset_ms.load(Ordering::Relaxed)
    }

    /// Seconds since the Unix epoch, as JWT claims carry them.
    pub fn now_secs(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    /// Now, as a `SystemTime` (for the `Date` header).
    pub fn now_system(&self) -> SystemTime {
        let ms = self.now_ms();
        if ms >= 0 {
            UNIX_EPOCH + std::time::Duration::from_millis(ms as u64)
        } else {
            UNIX_EPOCH
        }
    }

    /// Moves the clock forward (or back, with a negative value).
    #[cfg_attr(not(feature = "test-controls"), allow(dead_code))]
    pub(crate) fn advance_ms(&self, ms: i64) {
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
    }

    /// The current offset from real time.
    #[cfg_attr(not(feature = "test-controls"), allow(dead_code))]
    pub(crate) fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed)
    }
}

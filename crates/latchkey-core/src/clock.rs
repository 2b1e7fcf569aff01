//! Time for the engine: wall clock and monotonic clock kept apart, so
//! tests can suspend the machine (wall advances, monotonic does not) or
//! jump the wall clock.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// Where the engine reads time.
pub trait Clock: Send + Sync + 'static {
    /// Wall-clock time (jumps on suspend/resume and clock changes).
    fn wall(&self) -> SystemTime;
    /// Monotonic time (does not advance while the machine sleeps, on Linux
    /// and macOS).
    fn mono(&self) -> Instant;
}

/// The real clocks.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }
    fn mono(&self) -> Instant {
        Instant::now()
    }
}

/// Real clocks plus offsets a test moves.
#[derive(Debug, Default)]
pub struct TestClock {
    wall_ahead: Mutex<Duration>,
    wall_behind: Mutex<Duration>,
    mono_ahead: Mutex<Duration>,
}

impl TestClock {
    /// Real time, no offsets yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A suspend/resume: wall time jumps, monotonic time does not.
    pub fn suspend(&self, d: Duration) {
        *self.wall_ahead.lock().unwrap_or_else(|p| p.into_inner()) += d;
    }

    /// The wall clock is set back.
    pub fn wall_back(&self, d: Duration) {
        *self.wall_behind.lock().unwrap_or_else(|p| p.into_inner()) += d;
    }

    /// Both clocks move (time simply passes).
    pub fn advance(&self, d: Duration) {
        *self.wall_ahead.lock().unwrap_or_else(|p| p.into_inner()) += d;
        *self.mono_ahead.lock().unwrap_or_else(|p| p.into_inner()) += d;
    }
}

impl Clock for TestClock {
    fn wall(&self) -> SystemTime {
        SystemTime::now() + *self.wall_ahead.lock().unwrap_or_else(|p| p.into_inner())
            - *self.wall_behind.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn mono(&self) -> Instant {
        Instant::now() + *self.mono_ahead.lock().unwrap_or_else(|p| p.into_inner())
    }
}

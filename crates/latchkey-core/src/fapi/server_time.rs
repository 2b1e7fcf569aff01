//! Clerk's time, as its answers tell it (the HTTP `Date` header): a token is
//! checked against the time at Clerk, not against a local clock that may be
//! wrong, and not against the token's own `iat` (which would let a token
//! that expired minutes ago pass as fresh).
//!
//! Each answer's `Date` (whole seconds, so the midpoint of the second is
//! taken) gives one sample of "Clerk's clock minus ours". Samples beyond
//! ±10 minutes are ignored (a broken or hostile `Date` cannot move the
//! estimate further; with a clock that far off, the local clock decides and
//! tokens are refused, with the skew reported). The estimate is the median
//! of the last 5 samples, so one odd answer does not move it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::clock::Clock;

/// The largest difference between Clerk's clock and ours that is trusted.
pub const MAX_CLOCK_OFFSET: Duration = Duration::from_secs(600);
const SAMPLES: usize = 5;

/// Recent samples of Clerk's clock minus ours, in milliseconds.
#[derive(Clone)]
pub(crate) struct ServerClock {
    clock: Arc<dyn Clock>,
    samples: Arc<Mutex<VecDeque<i64>>>,
}

fn ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

impl ServerClock {
    pub(crate) fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            samples: Arc::new(Mutex::new(VecDeque::with_capacity(SAMPLES))),
        }
    }

    /// The local clock the samples are measured against.
    pub(crate) fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<i64>> {
        self.samples.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes one `Date` header value (ignored when it does not parse or is
    /// too far from the local clock).
    pub(crate) fn observe(&self, date: &str) {
        let Ok(at) = httpdate::parse_http_date(date.trim()) else {
            return;
        };
        // `Date` has whole seconds: Clerk's time is somewhere in that second.
        let offset = ms(at) + 500 - ms(self.clock.wall());
        if offset.unsigned_abs() > MAX_CLOCK_OFFSET.as_millis() as u64 {
            tracing::debug!(
                offset_ms = offset,
                "ignoring a Date header far from the local clock"
            );
            return;
        }
        let mut s = self.lock();
        if s.len() == SAMPLES {
            s.pop_front();
        }
        s.push_back(offset);
    }

    /// Clerk's clock minus ours (ms), once an answer told it.
    pub(crate) fn offset_ms(&self) -> Option<i64> {
        let s = self.lock();
        if s.is_empty() {
            return None;
        }
        let mut v: Vec<i64> = s.iter().copied().collect();
        v.sort_unstable();
        Some(v[v.len() / 2])
    }

    /// The time at Clerk now (seconds since the epoch), once known.
    pub(crate) fn now_secs(&self) -> Option<i64> {
        self.offset_ms()
            .map(|o| (ms(self.clock.wall()) + o).div_euclid(1000))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::TestClock;

    fn date(t: SystemTime) -> String {
        httpdate::fmt_http_date(t)
    }

    #[test]
    fn the_median_of_recent_dates_bounded_to_ten_minutes() {
        let clock = Arc::new(TestClock::new());
        let sc = ServerClock::new(clock.clone());
        assert_eq!(sc.offset_ms(), None, "unknown before any answer");
        let now = clock.wall();
        // Clerk 50 s ahead: three answers say so.
        for _ in 0..3 {
            sc.observe(&date(now + Duration::from_secs(50)));
        }
        let o = sc.offset_ms().unwrap();
        assert!((49_000..=51_000).contains(&o), "{o}");
        // One odd answer does not move the median; garbage and far-off
        // dates are ignored.
        sc.observe(&date(now - Duration::from_secs(300)));
        sc.observe("not a date");
        sc.observe(&date(now + Duration::from_secs(3600)));
        let o = sc.offset_ms().unwrap();
        assert!((49_000..=51_000).contains(&o), "{o}");
        let server = sc.now_secs().unwrap();
        let local = ms(clock.wall()) / 1000;
        assert!((49..=51).contains(&(server - local)), "{}", server - local);
    }
}

//! Times as the UI and the CLI print them: milliseconds since the Unix
//! epoch (safe as JavaScript numbers).

use std::time::{SystemTime, UNIX_EPOCH};

/// `t` in milliseconds since the epoch (0 for a time before it).
pub fn ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Now, in milliseconds since the epoch.
pub fn now_ms() -> i64 {
    ms(SystemTime::now())
}

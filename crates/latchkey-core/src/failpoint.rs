//! Named crash points for the crash tests (cargo feature `failpoints`, off
//! in every build users run). With `LATCHKEY_FAILPOINT=<name>` the process
//! SIGKILLs itself at that step: no destructors, no flush, like a power cut.

/// Kills the process if `LATCHKEY_FAILPOINT` names this step.
#[cfg(feature = "failpoints")]
pub(crate) fn hit(name: &str) {
    if std::env::var("LATCHKEY_FAILPOINT").as_deref() == Ok(name) {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &std::process::id().to_string()])
            .status();
        std::process::abort();
    }
}

/// Does nothing: failpoints are compiled out.
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub(crate) fn hit(_name: &str) {}

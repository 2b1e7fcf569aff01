//! The commit this build comes from (`LATCHKEY_COMMIT`), for "About" and
//! `latchkey --version`: `git rev-parse`, or `$LATCHKEY_COMMIT` when set
//! (a package build from a tarball), else "unknown".

use std::process::Command;

fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for f in [".git/HEAD", ".git/packed-refs", ".git/refs/heads"] {
        println!("cargo:rerun-if-changed={}", root.join(f).display());
    }
    println!("cargo:rerun-if-env-changed=LATCHKEY_COMMIT");
    let commit = std::env::var("LATCHKEY_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| {
            Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .current_dir(&root)
                .output()
                .ok()
                .filter(|o| o.status.success())
                .and_then(|o| String::from_utf8(o.stdout).ok())
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit()))
        })
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=LATCHKEY_COMMIT={commit}");
}

//! The README's curl walkthrough, run for real: the binary on a random
//! port, the README's `bash` blocks in order, against a real socket.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn readme_curl_walkthrough_runs() {
    for tool in ["bash", "curl", "jq", "openssl", "basenc"] {
        let found = Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {tool}"))
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        assert!(
            found,
            "the walkthrough needs {tool} (make test installs it)"
        );
    }
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split("## Walkthrough")
        .nth(1)
        .expect("walkthrough section");
    let mut script = String::from("set -euo pipefail\n");
    let mut in_block = false;
    for line in section.lines() {
        match (in_block, line.trim_start()) {
            (false, "```bash") => in_block = true,
            (true, "```") => in_block = false,
            (true, _) => {
                script.push_str(line);
                script.push('\n');
            }
            _ => {}
        }
    }
    assert!(script.contains("code_verifier"), "walkthrough blocks found");

    let dir = std::env::temp_dir().join(format!("emu-walkthrough-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_clerk-emulator"))
        .args(["--port", "0", "--seed", "demo", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the emulator binary");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("json line");
    let info: serde_json::Value =
        serde_json::from_str(&line).expect("--json prints one JSON object");
    for key in [
        "frontend_api_url",
        "backend_api_url",
        "publishable_key",
        "secret_key",
    ] {
        assert!(info[key].is_string(), "{key} in {line}");
    }
    std::fs::write(dir.join("emu.json"), &line).unwrap();
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(&dir)
        .output()
        .expect("bash");
    let _ = child.kill();
    let _ = child.wait();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "walkthrough failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("walkthrough complete"));
    assert!(
        stdout.contains("Berlin"),
        "devices listed with their city:\n{stdout}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[cfg(unix)]
#[test]
fn binary_stops_cleanly_on_sigterm_and_refuses_non_loopback() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_clerk-emulator"))
        .args(["--port", "0", "--seed", "empty", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("frontend_api_url"));
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no exit within 10 s of SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(status.success(), "clean exit, got {status}");

    let out = Command::new(env!("CARGO_BIN_EXE_clerk-emulator"))
        .args(["--host", "0.0.0.0", "--seed", "empty"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("non-loopback"));
    let out = Command::new(env!("CARGO_BIN_EXE_clerk-emulator"))
        .args(["--seed", "/nonexistent.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read seed file"));
}

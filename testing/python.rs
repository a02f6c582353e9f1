//! Running a Python script in a test, with the packages it needs (shared by the tests that
//! check our output with a reference implementation: libsodium through PyNaCl, the
//! Prometheus parser). Included by path: `#[path = "../../testing/python.rs"] mod python;`.
//!
//! A missing package is installed with pip (the package registry is reachable from CI and
//! from a developer's machine); a machine without `python3` fails the test with a message
//! that says what to install.

use std::io::Write;
use std::process::{Command, Stdio};

fn importable(module: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Make `module` importable, installing `package` with pip when it is not.
///
/// # Panics
/// When python3 is missing or the package cannot be installed.
pub fn ensure(module: &str, package: &str) {
    if importable(module) {
        return;
    }
    for extra in [&[][..], &["--user", "--break-system-packages"][..]] {
        let _ = Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", package])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if importable(module) {
            return;
        }
    }
    panic!("this test needs python3 with the `{package}` package (python3 -m pip install {package})");
}

/// Run `script` with `stdin`; its standard output, or its standard error on failure.
pub fn run(script: &str, stdin: &str) -> Result<String, String> {
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("python3: {e}"))?;
    child.stdin.take().expect("piped").write_all(stdin.as_bytes()).map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

//! Which Python runs a session: the one asked for, else the workspace's virtual environment,
//! else the configured one, else `python3` on `PATH`; and whether it can.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Picks the interpreter for a session in `root`.
pub fn choose(root: &Path, requested: Option<&str>, configured: Option<&str>) -> PathBuf {
    if let Some(python) = requested.filter(|p| !p.is_empty()) {
        return PathBuf::from(python);
    }
    for venv in [".venv", "venv"] {
        let candidate = root.join(venv).join("bin").join("python");
        if candidate.is_file() {
            return candidate;
        }
    }
    if let Some(python) = configured.filter(|p| !p.is_empty()) {
        return PathBuf::from(python);
    }
    PathBuf::from("python3")
}

/// Checks that `python` is CPython 3.9 or newer; returns its `major.minor`.
pub async fn check(python: &Path) -> Result<(u32, u32), String> {
    let output = tokio::time::timeout(
        Duration::from_secs(15),
        tokio::process::Command::new(python)
            .args([
                "-c",
                "import sys; print(sys.implementation.name, *sys.version_info[:2])",
            ])
            .stdin(std::process::Stdio::null())
            .output(),
    )
    .await
    .map_err(|_| format!("`{}` did not answer within 15 s", python.display()))?
    .map_err(|err| format!("cannot run `{}`: {err}", python.display()))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let mut parts = text.split_whitespace();
    let (Some(implementation), Some(major), Some(minor)) =
        (parts.next(), parts.next(), parts.next())
    else {
        return Err(format!(
            "`{}` is not a working Python: {}",
            python.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    };
    let version = (major.parse().unwrap_or(0), minor.parse().unwrap_or(0));
    if implementation != "cpython" {
        return Err(format!(
            "`{}` is {implementation}; live sessions need CPython (3.9 or newer)",
            python.display()
        ));
    }
    if version < (3, 9) {
        return Err(format!(
            "`{}` is Python {}.{}; live sessions need CPython 3.9 or newer",
            python.display(),
            version.0,
            version.1
        ));
    }
    Ok(version)
}

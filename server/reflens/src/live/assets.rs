//! The agent package a session puts on the program's `PYTHONPATH`: its Python half is compiled
//! into this binary; its native module (`libreflens_agent_native.so`) is built beside it. Both
//! are staged once into a cache directory as `reflens_agent/`, so nothing is installed into
//! the user's environment.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

/// The Python half of the agent.
const PYTHON_FILES: &[(&str, &str)] = &[
    (
        "__init__.py",
        include_str!("../../../reflens_agent/python/reflens_agent/__init__.py"),
    ),
    (
        "__main__.py",
        include_str!("../../../reflens_agent/python/reflens_agent/__main__.py"),
    ),
    (
        "_agent.py",
        include_str!("../../../reflens_agent/python/reflens_agent/_agent.py"),
    ),
    (
        "_channel.py",
        include_str!("../../../reflens_agent/python/reflens_agent/_channel.py"),
    ),
    (
        "_endpoint.py",
        include_str!("../../../reflens_agent/python/reflens_agent/_endpoint.py"),
    ),
    (
        "_probes.py",
        include_str!("../../../reflens_agent/python/reflens_agent/_probes.py"),
    ),
];

/// The file name cargo gives the native module.
const NATIVE_LIBRARY: &str = "libreflens_agent_native.so";

/// Where the native module is: `$REFLENS_AGENT_NATIVE`, else next to this executable.
pub fn native_library() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("REFLENS_AGENT_NATIVE") {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "REFLENS_AGENT_NATIVE is {} but there is no file there",
                path.display()
            ))
        };
    }
    let exe = std::env::current_exe()
        .map_err(|err| format!("cannot locate the reflens binary: {err}"))?;
    let dir = exe.parent().unwrap_or(Path::new("."));
    // Integration tests run from target/<profile>/deps/.
    for candidate in [
        dir.join(NATIVE_LIBRARY),
        dir.join("..").join(NATIVE_LIBRARY),
    ] {
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(format!(
        "the live agent's native module is missing: expected {} next to the reflens binary; build it with `cargo build --release` (the workspace builds it) or set REFLENS_AGENT_NATIVE",
        dir.join(NATIVE_LIBRARY).display()
    ))
}

/// The directory to put on `PYTHONPATH` (it contains `reflens_agent/`), staged if needed.
pub fn stage() -> Result<PathBuf, String> {
    let native = native_library()?;
    let metadata = std::fs::metadata(&native)
        .map_err(|err| format!("cannot read {}: {err}", native.display()))?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for (name, text) in PYTHON_FILES {
        name.hash(&mut hasher);
        text.hash(&mut hasher);
    }
    metadata.len().hash(&mut hasher);
    metadata.modified().ok().hash(&mut hasher);
    native.hash(&mut hasher);
    let key = format!("{}-{:016x}", env!("CARGO_PKG_VERSION"), hasher.finish());

    let base = cache_dir().join("agent");
    let staged = base.join(&key);
    if staged
        .join("reflens_agent")
        .join("_native.abi3.so")
        .is_file()
    {
        return Ok(staged);
    }
    std::fs::create_dir_all(&base)
        .map_err(|err| format!("cannot create {}: {err}", base.display()))?;
    // Build in a temporary directory and rename, so concurrent servers never see half a package.
    let temporary = base.join(format!("{key}.tmp-{}", std::process::id()));
    let package = temporary.join("reflens_agent");
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(&package)?;
        for (name, text) in PYTHON_FILES {
            std::fs::write(package.join(name), text)?;
        }
        std::fs::copy(&native, package.join("_native.abi3.so"))?;
        Ok(())
    };
    write().map_err(|err| format!("cannot stage the agent in {}: {err}", temporary.display()))?;
    match std::fs::rename(&temporary, &staged) {
        Ok(()) => {}
        Err(_)
            if staged
                .join("reflens_agent")
                .join("_native.abi3.so")
                .is_file() =>
        {
            let _ = std::fs::remove_dir_all(&temporary);
        }
        Err(err) => {
            return Err(format!(
                "cannot stage the agent in {}: {err}",
                staged.display()
            ));
        }
    }
    Ok(staged)
}

/// `$XDG_CACHE_HOME/reflens`, else `~/.cache/reflens`, else a directory in the temp dir.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("reflens");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(home).join(".cache").join("reflens");
    }
    std::env::temp_dir().join(format!("reflens-cache-{}", unsafe { libc::getuid() }))
}

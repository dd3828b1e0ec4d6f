//! Runs the native heap index's Python test scripts (`tests/live/native/*.py`, files starting
//! with `_` are helpers) against the built `reflens_agent._native` extension, with every
//! interpreter in `REFLENS_TEST_PYTHONS` (colon-separated; default `python3`).
//!
//! The extension is built by `cargo build -p reflens_agent` (the test runner script builds the
//! workspace first); this test copies it into a temporary directory as `_native.abi3.so` and
//! hands that directory to the scripts in `REFLENS_AGENT_NATIVE_DIR`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (this crate is `server/reflens`).
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// `debug` or `release`: the profile this test binary was built with, read from its own path
/// (`<target>/<profile>/deps/live_native-...`).
fn profile() -> String {
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent()
        .and_then(Path::parent)
        .and_then(|dir| dir.file_name())
        .map(|name| name.to_string_lossy().into_owned())
        .filter(|name| name == "debug" || name == "release")
        .unwrap_or_else(|| "debug".to_owned())
}

fn native_library() -> PathBuf {
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                workspace().join(dir)
            }
        }
        None => workspace().join("target"),
    };
    let library = target.join(profile()).join("libreflens_agent_native.so");
    assert!(
        library.is_file(),
        "the native module {} is missing: run `cargo build -p reflens_agent` first{}",
        library.display(),
        if profile() == "release" {
            " (with --release)"
        } else {
            ""
        }
    );
    library
}

fn scripts() -> Vec<PathBuf> {
    let dir = workspace().join("tests/live/native");
    let mut scripts: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("cannot list {}: {err}", dir.display()))
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            path.extension().is_some_and(|ext| ext == "py")
                && !path
                    .file_name()
                    .is_some_and(|name| name.to_string_lossy().starts_with('_'))
        })
        .collect();
    scripts.sort();
    assert!(!scripts.is_empty(), "no test scripts in {}", dir.display());
    scripts
}

fn pythons() -> Vec<String> {
    let list = std::env::var("REFLENS_TEST_PYTHONS").unwrap_or_default();
    let pythons: Vec<String> = list
        .split(':')
        .filter(|p| !p.trim().is_empty())
        .map(str::to_owned)
        .collect();
    if pythons.is_empty() {
        vec!["python3".to_owned()]
    } else {
        pythons
    }
}

#[test]
fn native_heap_scripts_pass_on_every_interpreter() {
    let library = native_library();
    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::copy(&library, dir.path().join("_native.abi3.so")).expect("copy the native module");
    let mut failures = Vec::new();
    let mut runs = 0;
    for python in pythons() {
        for script in scripts() {
            let output = Command::new(&python)
                .arg(&script)
                .env("REFLENS_AGENT_NATIVE_DIR", dir.path())
                .env("PYTHONDONTWRITEBYTECODE", "1")
                .output()
                .unwrap_or_else(|err| panic!("cannot run {python}: {err}"));
            runs += 1;
            let name = script.file_name().unwrap().to_string_lossy().into_owned();
            if output.status.success() {
                eprintln!("ok: {name} with {python}");
            } else {
                failures.push(format!(
                    "{name} with {python} exited with {}\n--- stdout\n{}\n--- stderr\n{}",
                    output.status,
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {runs} script runs failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

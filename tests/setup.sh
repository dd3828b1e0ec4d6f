#!/usr/bin/env bash
# Installs what the test suite needs beyond Rust, idempotently, into the repository's
# cache (.cache/, ignored by git), and prints `export` lines for the test runner to source.
# Anything that cannot be installed (no registry) is reported with a reason; the tests that
# need it say they were skipped and why.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache="$root/.cache"
mkdir -p "$cache"
log() { echo "setup: $*" >&2; }

# Microsoft's SARIF validator (checks `--output-format sarif` against the SARIF 2.1.0 spec).
tools="$root/tests/tools"
validator="$tools/node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool"
if [[ ! -x $validator ]]; then
    if command -v npm >/dev/null 2>&1; then
        log "installing the SARIF validator (npm ci in tests/tools)"
        if (cd "$tools" && npm ci --ignore-scripts --no-audit --no-fund >&2); then
            chmod u+x "$validator" 2>/dev/null || true
        else
            log "could not install the SARIF validator from npm; SARIF output will be checked structurally only"
        fi
    else
        log "npm not found; SARIF output will be checked structurally only"
    fi
fi
if [[ -x $validator ]]; then
    echo "export REFLENS_SARIF_VALIDATOR='$validator'"
fi

# CPython 3.13 and 3.14 beside the machine's python3, for the live-session agent's tests
# (Debian sid's builds unpacked with their own libc; see tests/install-python.sh).
pythons=""
if command -v python3 >/dev/null 2>&1; then
    pythons=$(python3 -c 'import sys; print(sys.executable)')
fi
for version in 3.13 3.14; do
    dest="$cache/python$version"
    if [[ -x $dest/python$version ]] && "$dest/python$version" -c pass 2>/dev/null; then
        pythons="$pythons:$dest/python$version"
        continue
    fi
    log "installing CPython $version into $dest (Debian sid packages)"
    if wrapper=$("$root/tests/install-python.sh" "$version" "$dest" 2>/dev/null | tail -n 1) && [[ -x $wrapper ]]; then
        pythons="$pythons:$wrapper"
    else
        log "could not install CPython $version (no access to Debian's package mirror?); live-session tests run on the other versions only"
    fi
done
echo "export REFLENS_TEST_PYTHONS='${pythons#:}'"

# Real third-party code for the precision checks: a few popular packages, installed (without
# being imported) into a virtual environment of their own.
corpus="$cache/precision-venv"
stamp="$corpus/.installed-$(sha256sum "$root/tests/precision/requirements.txt" | cut -c1-16)"
if [[ ! -f $stamp ]] && command -v python3 >/dev/null 2>&1; then
    log "installing the precision corpus (tests/precision/requirements.txt) into $corpus"
    if python3 -m venv "$corpus" >&2 && "$corpus/bin/pip" install -q --disable-pip-version-check \
        -r "$root/tests/precision/requirements.txt" >&2; then
        touch "$stamp"
    else
        log "could not install the precision corpus from PyPI; the test over it is skipped"
    fi
fi
if [[ -f $stamp ]]; then
    site=$("$corpus/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    echo "export REFLENS_PRECISION_SITE='$site'"
fi

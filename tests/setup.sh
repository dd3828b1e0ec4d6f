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

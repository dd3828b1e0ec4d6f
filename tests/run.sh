#!/usr/bin/env bash
# Runs every test of reflens: the analysis core (rule fixtures and snapshots, docs pages,
# robustness), the configuration, the CLI end to end (including the whole CPython standard
# library), the language server end to end over stdio, and live sessions against real
# CPython processes (3.11, 3.13 and 3.14).
#
#   tests/run.sh            # from anywhere
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# Tools the tests use (installed once, cached under .cache/ and tests/tools/node_modules/).
eval "$(tests/setup.sh)"

# Snapshots are compared, never rewritten, when the suite runs.
export INSTA_UPDATE=no
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

# The live-session tests load the agent's native module from next to the `reflens` binary:
# a plain build of the workspace puts it there (test builds alone do not build cdylibs).
cargo build --workspace

if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast
    # nextest does not run doctests.
    cargo test --workspace --doc
else
    cargo test --workspace --no-fail-fast
fi

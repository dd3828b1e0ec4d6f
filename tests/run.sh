#!/usr/bin/env bash
# Runs every test of reflens: the analysis core (rule fixtures and snapshots, docs pages,
# robustness), the configuration, the CLI end to end (including the whole CPython standard
# library), the language server end to end over stdio, live sessions against real CPython
# processes (3.11, 3.13 and 3.14), and the editor integrations in real VS Code, Neovim and Helix.
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

status=0
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast || status=1
    # nextest does not run doctests.
    cargo test --workspace --doc || status=1
else
    cargo test --workspace --no-fail-fast || status=1
fi

# The editors, driven for real: VS Code (code-server in headless Chromium), Neovim 0.11 and
# Helix under tmux. Each script installs what it needs (cached under .cache/editors/) and
# prints "SKIPPED: <reason>" when a package registry it needs is unreachable; screenshots and
# screen captures go to tests/results/editors/. They use the debug build made above.
export REFLENS_PROFILE=debug
for editor in neovim helix vscode; do
    echo "=== editor end-to-end test: $editor"
    if ! "tests/editors/$editor.sh"; then
        echo "FAILED: the $editor end-to-end test (see tests/results/editors/$editor/)"
        status=1
    fi
done
exit $status

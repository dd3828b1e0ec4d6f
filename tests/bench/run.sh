#!/usr/bin/env bash
# Benchmark reflens against ruff on a copy of the CPython standard library.
#
#   tests/bench/run.sh                  # build, install ruff, prepare the tree, compare
#   tests/bench/run.sh --all-rules      # also time `ruff check --select ALL`
#   tests/bench/run.sh --rounds 20      # any other arguments go to compare.py
#   tests/bench/run.sh --live           # the live agent's heap index against objgraph
#                                       # (live_heap.py; other arguments go to it)
#   tests/bench/run.sh --lsp            # edit-to-diagnostics latency on a 10,000-line file,
#                                       # reflens server and ruff server (lsp_latency.py)
#
# Works from any directory. See tests/bench/README.md.
set -euo pipefail

# The ruff release compared against. Bump it deliberately, and say so with the figures.
RUFF_VERSION="0.17.6"
# The objgraph release `--live` compares against.
OBJGRAPH_VERSION="3.7.0"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$here/.venv"
cache="$here/.cache"
tree="$cache/stdlib"

die() {
    echo "bench: error: $*" >&2
    exit 1
}
say() {
    echo "bench: $*" >&2
}

# --- tools ---------------------------------------------------------------------------------
command -v python3 >/dev/null 2>&1 || die "python3 is not on PATH (Python 3.9 or newer is needed)"
python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' \
    || die "python3 is $(python3 -c 'import sys; print(sys.version.split()[0])'); 3.9 or newer is needed"
command -v cargo >/dev/null 2>&1 || die "cargo is not on PATH (install Rust from rustup.rs)"
command -v tar >/dev/null 2>&1 || die "tar is not on PATH"
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 \
    || die "python3 cannot create virtual environments with pip (venv/ensurepip missing; on Debian: apt-get install python3-venv)"

# --- --live: the native heap index of the live agent against objgraph ----------------------
if [[ "${1:-}" == "--live" ]]; then
    shift
    say "building reflens_agent (release)"
    (cd "$root" && cargo build --release -p reflens_agent) || die "cargo build --release -p reflens_agent failed"
    target_dir="$(cd "$root" && cargo metadata --format-version 1 --no-deps \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')" \
        || die "cargo metadata failed"
    native="$target_dir/release/libreflens_agent_native.so"
    [[ -f "$native" ]] || die "no native module at $native after the build"
    if ! "$venv/bin/python" -c '' >/dev/null 2>&1; then
        say "creating $venv"
        rm -rf "$venv"
        python3 -m venv "$venv" || die "python3 -m venv $venv failed"
    fi
    if [[ "$("$venv/bin/python" -c 'import objgraph; print(objgraph.__version__)' 2>/dev/null)" != "$OBJGRAPH_VERSION" ]]; then
        say "installing objgraph==$OBJGRAPH_VERSION into $venv"
        "$venv/bin/python" -m pip install --disable-pip-version-check --quiet "objgraph==$OBJGRAPH_VERSION" \
            || die "could not install objgraph==$OBJGRAPH_VERSION from PyPI"
    fi
    native_dir="$(mktemp -d)"
    trap 'rm -rf "$native_dir"' EXIT
    cp "$native" "$native_dir/_native.abi3.so"
    "$venv/bin/python" "$here/live_heap.py" --native-dir "$native_dir" "$@"
    exit $?
fi

# --- reflens -------------------------------------------------------------------------------
say "building reflens (release)"
(cd "$root" && cargo build --release -p reflens) || die "cargo build --release -p reflens failed"
target_dir="$(cd "$root" && cargo metadata --format-version 1 --no-deps \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')" \
    || die "cargo metadata failed"
reflens="$target_dir/release/reflens"
[[ -x "$reflens" ]] || die "no reflens binary at $reflens after the build"

# --- ruff, pinned, in tests/bench/.venv ----------------------------------------------------
ruff="$venv/bin/ruff"
installed=""
if [[ -x "$ruff" ]]; then
    installed="$("$ruff" --version 2>/dev/null || true)"
fi
if [[ "$installed" == "ruff $RUFF_VERSION" ]]; then
    say "ruff $RUFF_VERSION already installed in $venv"
else
    if ! "$venv/bin/python" -c '' >/dev/null 2>&1; then
        say "creating $venv"
        rm -rf "$venv"
        python3 -m venv "$venv" || die "python3 -m venv $venv failed"
    fi
    "$venv/bin/python" -m pip --version >/dev/null 2>&1 \
        || die "the virtual environment $venv has no pip (remove it and retry; on Debian: apt-get install python3-venv)"
    say "installing ruff==$RUFF_VERSION into $venv"
    "$venv/bin/python" -m pip install --disable-pip-version-check --quiet "ruff==$RUFF_VERSION" \
        || die "could not install ruff==$RUFF_VERSION from PyPI (no network, or the version is not available for this platform)"
    installed="$("$ruff" --version 2>/dev/null || true)"
    [[ "$installed" == "ruff $RUFF_VERSION" ]] \
        || die "expected 'ruff $RUFF_VERSION' after the install, got '${installed:-nothing}'"
fi

# --- --lsp: edit-to-diagnostics latency of both language servers ------------------------------
if [[ "${1:-}" == "--lsp" ]]; then
    shift
    exec python3 "$here/lsp_latency.py" --server "$reflens server" --server "$ruff server" "$@"
fi

# --- the tree: the standard library of python3, less site-packages ------------------------
stdlib="$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')" \
    || die "python3 could not tell where its standard library is"
[[ -d "$stdlib" ]] || die "python3's standard library $stdlib is not a directory"

# Left out of the copy: site-packages (third-party code), bytecode, and every directory name in
# the default excludes that ruff and reflens share (in the standard library that is only the
# `venv` package), so that neither tool skips anything in the tree and both read the same files.
excludes=(
    site-packages __pycache__
    .bzr .direnv .eggs .git .git-rewrite .hg .ipynb_checkpoints .mypy_cache .nox .pants.d .pyenv
    .pytest_cache .pytype .ruff_cache .svn .tox .venv .vscode __pypackages__ _build buck-out dist
    node_modules venv
)
layout=1 # bump when the way the tree is made changes
stamp="layout=$layout source=$stdlib python=$(python3 -c 'import sys; print(sys.version.split()[0])') excludes=${excludes[*]}"
stamp_file="$cache/stdlib.stamp"
if [[ -d "$tree" && -f "$stamp_file" && "$(cat "$stamp_file")" == "$stamp" ]]; then
    say "tree already prepared at $tree"
else
    say "copying $stdlib to $tree (without site-packages)"
    mkdir -p "$cache"
    rm -rf "$tree" "$tree.partial" "$stamp_file"
    mkdir "$tree.partial"
    tar_excludes=()
    for name in "${excludes[@]}"; do
        tar_excludes+=("--exclude=$name")
    done
    # GNU and BSD tar both match an exclude pattern without a slash against every path component.
    tar -C "$stdlib" "${tar_excludes[@]}" -cf - . | tar -C "$tree.partial" -xf - \
        || die "copying $stdlib failed"
    mv "$tree.partial" "$tree"
    printf '%s\n' "$stamp" >"$stamp_file"
fi

# --- compare -------------------------------------------------------------------------------
exec python3 "$here/compare.py" --reflens "$reflens" --ruff "$ruff" --tree "$tree" "$@"

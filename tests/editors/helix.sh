#!/usr/bin/env bash
# End-to-end test of the Helix integration (editors/helix) in a real Helix, driven in tmux:
# the diagnostics show inline, `Space k` shows the hover, a code action (`Space a`) applies and
# is written with `:w`; then the live-session keys of editors/helix/config.toml: `Space L r`
# runs the file (the hover shows a refcount), `Space L l` pauses at a line (the hover shows a
# local's refcount), `Space L s` ends the session.
#
#   tests/editors/helix.sh
#
# Installs Helix (Debian sid's `hx`, through tests/editors/install-helix.sh) into
# .cache/editors/helix once, installs tmux with apt if it is missing, builds the release binary
# (cargo decides whether anything changed), and runs `hx` with a throw-away HOME whose
# ~/.config/helix holds editors/helix/languages.toml and editors/helix/config.toml as a user
# would copy them. Every wait polls `tmux capture-pane`; each capture is kept in
# tests/results/editors/helix/, with Helix's log and `hx --health python`.
# Exits non-zero on any failure; exits 0 with "SKIPPED: <reason>" only when a package registry
# needed to install Helix or tmux cannot be reached.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

cache=$root/.cache/editors
results=$root/tests/results/editors/helix
started=$SECONDS

say() { echo "helix.sh: $*" >&2; }
unreachable='Could not resolve|Temporary failure|Failed to fetch|Network is unreachable|Connection timed out|Unable to connect|Could not connect|No route to host|connection refused'

# ---- Helix and tmux ------------------------------------------------------------------------
install_log=$(mktemp)
if ! hx=$(tests/editors/install-helix.sh "$cache/helix" 2>"$install_log"); then
    cat "$install_log" >&2
    if grep -qiE "$unreachable" "$install_log"; then
        echo "SKIPPED: Helix could not be installed: the Debian package archive (deb.debian.org, sid) is unreachable"
        rm -f "$install_log"
        exit 0
    fi
    rm -f "$install_log"
    say "tests/editors/install-helix.sh failed"
    exit 1
fi
rm -f "$install_log"
"$hx" --version >&2

if ! command -v tmux >/dev/null 2>&1; then
    say "installing tmux (apt-get)"
    apt_log=$(mktemp)
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux; } >"$apt_log" 2>&1 \
            || ! command -v tmux >/dev/null 2>&1; then
        cat "$apt_log" >&2
        if grep -qiE "$unreachable" "$apt_log"; then
            echo "SKIPPED: tmux is missing and could not be installed: the apt package archive is unreachable"
            rm -f "$apt_log"
            exit 0
        fi
        rm -f "$apt_log"
        say "apt-get could not install tmux"
        exit 1
    fi
    rm -f "$apt_log"
fi
tmux -V >&2

# ---- reflens -----------------------------------------------------------------------------
# REFLENS_PROFILE=debug uses the debug build (tests/run.sh has just made it); the default is
# the release build a user would install.
profile=${REFLENS_PROFILE:-release}
if [[ $profile == debug ]]; then build_flags=(); else build_flags=(--profile "$profile"); fi
bin=target/$profile
if [[ ${REFLENS_SKIP_BUILD:-} != 1 ]]; then
    say "cargo build ${build_flags[*]}"
    cargo build "${build_flags[@]}" --quiet
fi
[[ -x $bin/reflens ]] || { say "missing $bin/reflens (run cargo build ${build_flags[*]})"; exit 1; }

# ---- a user's set-up, in a throw-away HOME ---------------------------------------------------
rm -rf "$results"
mkdir -p "$results"
scratch=$(mktemp -d)
sock=$scratch/tmux.sock
cleanup() {
    tmux -S "$sock" kill-server >/dev/null 2>&1 || true
    rm -rf "$scratch"
}
trap cleanup EXIT
cp -R tests/editors/helix/workspace "$scratch/workspace"
workspace=$(cd "$scratch/workspace" && pwd -P)
home=$scratch/home
mkdir -p "$home/.config/helix" "$home/.cache" "$home/.local/share" "$home/.local/state"
cp editors/helix/languages.toml "$home/.config/helix/languages.toml"
{
    cat editors/helix/config.toml
    cat <<'TOML'

# ---- added by tests/editors/helix.sh: show every diagnostic's message inline ----
[editor]
end-of-line-diagnostics = "hint"

[editor.inline-diagnostics]
cursor-line = "hint"
TOML
} >"$home/.config/helix/config.toml"

# Only reflens (and the system's tools) on PATH: the other Python servers that
# languages.toml lists are not installed here, and Helix skips them.
run_env=(env "HOME=$home" "XDG_CONFIG_HOME=$home/.config" "XDG_CACHE_HOME=$home/.cache"
         "XDG_DATA_HOME=$home/.local/share" "XDG_STATE_HOME=$home/.local/state"
         "PATH=$root/$bin:/usr/local/bin:/usr/bin:/bin" "TERM=xterm-256color")
(cd "$workspace" && "${run_env[@]}" "$hx" --health python) >"$results/health.txt" 2>&1 || true
if ! grep -qE "reflens: .*/$bin/reflens" "$results/health.txt"; then
    cat "$results/health.txt" >&2
    say "FAILED: hx --health python does not find reflens"
    exit 1
fi

# ---- driving Helix -------------------------------------------------------------------------
failed=0
step=0
fail() { say "FAIL: $*"; failed=1; }

# capture NAME [FROM]: saves the screen now (or the file FROM) as NN-NAME.txt, named in $captured.
captured=
capture() {
    step=$((step + 1))
    captured=$(printf '%s/%02d-%s.txt' "$results" "$step" "$1")
    if [[ -n ${2:-} ]]; then
        cp "$2" "$captured"
    else
        tmux -S "$sock" capture-pane -p -t hx >"$captured" 2>/dev/null || echo "(no screen: tmux session gone)" >"$captured"
    fi
}

# wait_screen NAME TIMEOUT_S FIXED_STRING...: polls the screen until it shows every string;
# saves the last capture as NN-NAME.txt.
wait_screen() {
    local name=$1 timeout=$2
    shift 2
    local deadline=$((SECONDS + timeout)) tmp=$scratch/screen.txt missing
    while :; do
        tmux -S "$sock" capture-pane -p -t hx >"$tmp" 2>/dev/null || : >"$tmp"
        missing=
        for want in "$@"; do
            grep -qF -- "$want" "$tmp" || { missing=$want; break; }
        done
        if [[ -z $missing ]]; then
            capture "$name" "$tmp"
            return 0
        fi
        if ((SECONDS >= deadline)); then
            capture "$name" "$tmp"
            fail "$name: the screen did not show \"$missing\" within ${timeout}s (see ${captured#"$root"/}):"
            sed 's/^/    | /' "$tmp" >&2
            return 1
        fi
        sleep 0.2
    done
}

keys() { tmux -S "$sock" send-keys -t hx "$@"; }

# wait_screen_quiet TIMEOUT_S FIXED_STRING...: polls until the screen shows any of the
# strings (or the time is up); no capture, no failure.
wait_screen_quiet() {
    local deadline=$((SECONDS + $1)) tmp=$scratch/screen.txt
    shift
    while ((SECONDS < deadline)); do
        tmux -S "$sock" capture-pane -p -t hx >"$tmp" 2>/dev/null || return 0
        for want in "$@"; do grep -qF -- "$want" "$tmp" && return 0; done
        sleep 0.2
    done
}

# wait_gone NAME TIMEOUT_S FIXED_STRING: polls until the screen no longer shows the string.
wait_gone() {
    local name=$1 deadline=$((SECONDS + $2)) tmp=$scratch/screen.txt
    while tmux -S "$sock" capture-pane -p -t hx >"$tmp" 2>/dev/null && grep -qF -- "$3" "$tmp"; do
        if ((SECONDS >= deadline)); then
            capture "$name" "$tmp"
            fail "$name: the screen still shows \"$3\" after ${2}s (see ${captured#"$root"/})"
            return 1
        fi
        sleep 0.2
    done
    capture "$name" "$tmp"
}

# wait_file TIMEOUT_S EXPECTED: polls until the workspace's leaky.py equals EXPECTED.
wait_file() {
    local deadline=$((SECONDS + $1))
    until cmp -s "$workspace/leaky.py" "$2"; do
        if ((SECONDS >= deadline)); then
            fail "leaky.py differs from ${2#"$root"/} after :w"
            diff -u "$2" "$workspace/leaky.py" >&2 || true
            return 1
        fi
        sleep 0.2
    done
}

# poll_hover NAME TIMEOUT_S SECTION: presses `Space k` until the hover shows SECTION (a live
# section's title) and a refcount, closing and reopening it meanwhile.
poll_hover() {
    local name=$1 deadline=$((SECONDS + $2)) section=$3 tmp=$scratch/screen.txt
    while :; do
        keys Space k
        wait_screen_quiet 5 "$section" "No hover results" "Why it matters" "(sys.getrefcount"
        tmux -S "$sock" capture-pane -p -t hx >"$tmp" 2>/dev/null || : >"$tmp"
        if grep -qF -- "$section" "$tmp" && grep -qE "[0-9]+ references? \(sys.getrefcount" "$tmp"; then
            capture "$name" "$tmp"
            return 0
        fi
        if ((SECONDS >= deadline)); then
            capture "$name" "$tmp"
            fail "$name: no \"$section\" section with a refcount in the hover within ${2}s (see ${captured#"$root"/}):"
            sed 's/^/    | /' "$tmp" >&2
            return 1
        fi
        keys Escape
        sleep 0.5
    done
}

ok() { say "ok    $* ($((SECONDS - started))s)"; }

hx_command=$(printf '%q ' "${run_env[@]}" "$hx" -v leaky.py)
tmux -S "$sock" -f /dev/null new-session -d -s hx -x 160 -y 45 -c "$workspace" \
    "$hx_command; echo \"hx exited with status \$?\"; sleep 600"

run() {
    # Helix is up, and the status line names the file.
    wait_screen start 30 "leaky.py" "_registry = []" || return 1
    ok "Helix opened leaky.py"

    # The diagnostics, inline: RL401 under/after line 18, RL103, RL101.
    wait_screen diagnostics 30 "is never closed in \`read_config()\`" \
        "adds \`self\` to module-level list \`_registry\`" "\`lru_cache\` on method \`Widget.area\`" || return 1
    ok "the diagnostics show inline"

    # The hover on `open(` in line 18: `Space k`. (No Escape right before other keys: the
    # terminal would read Escape and the next key as one Alt chord.)
    keys 1 8 G g h 8 l
    wait_screen cursor 10 " 18:9" || return 1
    keys Space k
    wait_screen hover 15 "RL401" "unclosed-resource" "Quick fix:" || return 1
    ok "Space k shows the hover"
    keys Escape
    wait_gone hover-closed 10 "Quick fix:" || return 1

    # The code actions on the same spot: `Space a`, then the reflens quick fix.
    local fix="Open \`f\` in a \`with\` block"
    keys Space a
    wait_screen code-actions 15 "$fix" "Suppress RL401 on this line" || return 1
    # The menu lists the actions in order; move down to the quick fix.
    local menu index
    menu=$captured
    index=$(grep -E "Open \`f\` in a \`with\` block|Suppress RL[0-9]+ on this line|Suppress RL[0-9]+ in this file" "$menu" \
            | grep -nF -- "$fix" | head -n 1 | cut -d: -f1)
    for ((i = 1; i < ${index:-1}; i++)); do keys Down; done
    keys Enter
    wait_screen code-action-applied 15 'with open(path, encoding="utf-8") as f:' || return 1
    ok "Space a applies the quick fix"

    keys ':w' Enter
    wait_file 15 "$root/tests/editors/helix/leaky.after.py" || return 1
    cp "$workspace/leaky.py" "$results/leaky.after.py"
    # After the edit, RL401 is gone.
    wait_gone written 15 "is never closed" || return 1
    ok ":w writes the fixed file, and RL401 is gone"

    # A live session from the keys of editors/helix/config.toml: `Space L r` runs the file;
    # then `Space k` on `_registry` shows its refcount once the program has finished.
    keys 4 G g h
    wait_screen cursor-registry 10 " 4:1" || return 1
    keys Space L r
    poll_hover live-hover 60 "live (finished)" || return 1
    ok "Space L r runs a live session; Space k shows the refcount of _registry"
    keys Escape
    wait_gone live-hover-closed 10 "live (finished)" || return 1

    # `Space L l` on line 24 runs the file again and pauses there; `Space k` on `widget`
    # (a local of make_widget) shows its refcount; `Space L s` ends the session.
    keys 2 4 G g h 1 3 l
    wait_screen cursor-widget 10 " 24:14" || return 1
    keys Space L l
    poll_hover live-hover-paused 60 "live (paused at leaky.py:24)" || return 1
    ok "Space L l pauses at line 24; Space k shows the refcount of the local widget"
    keys Escape
    wait_gone live-hover-paused-closed 10 "live (paused" || return 1
    keys Space L s
    # With the session gone, the hover has no live section any more.
    local deadline=$((SECONDS + 20)) tmp=$scratch/screen.txt
    while :; do
        keys Space k
        wait_screen_quiet 5 "No hover results" "(sys.getrefcount"
        tmux -S "$sock" capture-pane -p -t hx >"$tmp" 2>/dev/null || : >"$tmp"
        if grep -qF "No hover results" "$tmp" && ! grep -qE "live \((finished|paused|running)" "$tmp"; then
            capture live-stopped "$tmp"
            break
        fi
        if ((SECONDS >= deadline)); then
            capture live-stopped "$tmp"
            fail "live-stopped: the hover still has a live section 20s after Space L s (see ${captured#"$root"/})"
            return 1
        fi
        keys Escape
        sleep 0.5
    done
    keys Escape
    ok "Space L s ends the session"
}

run || true
keys Escape 2>/dev/null || true
sleep 0.3 # (Escape and ':' apart, or they read as one Alt chord)
keys ':q!' Enter 2>/dev/null || true
cp "$home/.cache/helix/helix.log" "$results/helix.log" 2>/dev/null || true

elapsed=$((SECONDS - started))
if [[ $failed -ne 0 ]]; then
    say "FAILED in ${elapsed}s; screen captures and helix.log in ${results#"$root"/}/"
    exit 1
fi
say "passed in ${elapsed}s; screen captures in ${results#"$root"/}/"

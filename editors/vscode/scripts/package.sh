#!/usr/bin/env bash
# Builds the reflens VS Code extension into a .vsix: `npm ci`, lint (eslint), type-check
# (`tsc --noEmit`), unit tests, compile (esbuild bundle), copy the release `reflens` binary and the
# live agent's native module into bin/, `vsce package`.
#
#   editors/vscode/scripts/package.sh [--out FILE] [--binary-dir DIR] [--no-binary]
#
#   --out FILE         where to write the .vsix (default: editors/vscode/reflens-<version>-linux-x64.vsix)
#   --binary-dir DIR   where `reflens` and `libreflens_agent_native.so` are (default: target/release,
#                      built with `cargo build --release` if missing)
#   --no-binary        a .vsix without a bundled binary (it then uses `reflens.path` or PATH)
#
# Prints the .vsix path on the last line.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
root=$(cd "$here/../.." && pwd)
binary_dir=$root/target/release
bundle=1
out=""
while [[ $# -gt 0 ]]; do
    case $1 in
        --out) out=$2; shift 2 ;;
        --binary-dir) binary_dir=$2; shift 2 ;;
        --no-binary) bundle=0; shift ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "package.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
cd "$here"
version=$(node -p 'require("./package.json").version')
if [[ -z $out ]]; then
    if [[ $bundle == 1 ]]; then out=$here/reflens-$version-linux-x64.vsix; else out=$here/reflens-$version.vsix; fi
fi

echo "package.sh: npm ci" >&2
npm ci --no-audit --no-fund >&2
echo "package.sh: eslint" >&2
npm run --silent lint >&2
echo "package.sh: tsc --noEmit" >&2
npm run --silent typecheck >&2
echo "package.sh: unit tests" >&2
npm test >&2
echo "package.sh: bundle (esbuild)" >&2
npm run --silent compile -- --production >&2

rm -rf bin
target_args=()
if [[ $bundle == 1 ]]; then
    if [[ ! -x $binary_dir/reflens || ! -f $binary_dir/libreflens_agent_native.so ]]; then
        if [[ $binary_dir == "$root/target/release" ]]; then
            echo "package.sh: building the release binary (cargo build --release)" >&2
            (cd "$root" && cargo build --release >&2)
        else
            echo "package.sh: $binary_dir has no reflens and libreflens_agent_native.so" >&2
            exit 1
        fi
    fi
    mkdir -p bin
    cp "$binary_dir/reflens" "$binary_dir/libreflens_agent_native.so" bin/
    # The release profile keeps debug info: drop it from the copies (a third of the size).
    if command -v strip >/dev/null 2>&1; then
        strip --strip-debug bin/reflens bin/libreflens_agent_native.so
    fi
    chmod 755 bin/reflens
    chmod 644 bin/libreflens_agent_native.so
    target_args=(--target linux-x64)
fi

echo "package.sh: vsce package -> $out" >&2
npx --no-install vsce package --no-dependencies --skip-license --allow-missing-repository \
    "${target_args[@]}" --out "$out" >&2
echo "$out"

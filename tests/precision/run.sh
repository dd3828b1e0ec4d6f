#!/usr/bin/env bash
# Per-rule finding counts over real code, written to docs/precision.md:
# the CPython standard library of this machine's python3 and the packages pinned in
# tests/precision/requirements.txt (installed by tests/setup.sh).
#
#   tests/precision/run.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
eval "$(tests/setup.sh)"
cargo build --release -q -p reflens
reflens=$root/target/release/reflens
stdlib=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$reflens" check --output-format json --exit-zero "$stdlib" > "$out/stdlib.json"
for package in django sqlalchemy requests rich; do
    "$reflens" check --output-format json --exit-zero "$REFLENS_PRECISION_SITE/$package" > "$out/$package.json"
done
python3 "$root/tests/precision/report.py" "$out" "$stdlib" "$REFLENS_PRECISION_SITE" \
    "$("$reflens" rule --all)" > docs/precision.md
echo "wrote docs/precision.md"

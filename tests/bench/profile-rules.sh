#!/usr/bin/env bash
# Where `reflens check`'s CPU goes, per rule: perf-profiles one run over the standard-library
# copy that run.sh prepares and prints each rule's share of the CPU samples (attributed to the
# innermost `rules::<name>` frame), and those of parsing, fact extraction and the trigger pass.
#
#   tests/bench/profile-rules.sh [BINARY] [extra reflens check args]
#
# BINARY defaults to target/profiling/reflens (`cargo build --profile profiling -p reflens`:
# release without LTO, with line tables). Needs `perf`. TOP=N prints N rows (default 40).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
B=${1:-$root/target/profiling/reflens}; shift || true
[[ -x "$B" ]] || { echo "profile-rules: no binary at $B (cargo build --profile profiling -p reflens)" >&2; exit 1; }
[[ -d "$here/.cache/stdlib" ]] || { echo "profile-rules: run tests/bench/run.sh once to prepare the tree" >&2; exit 1; }
command -v perf >/dev/null || { echo "profile-rules: perf is not installed" >&2; exit 1; }
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
cd "$here/.cache/stdlib"
perf record --call-graph dwarf,16384 -F 2000 -o "$W/perf.data" "$B" check . --exit-zero --output-format concise -q "$@" >/dev/null 2>&1
perf script -i "$W/perf.data" 2>/dev/null > "$W/p.txt"
python3 - "$W/p.txt" <<'P'
import re, collections, sys, os
samples=[]; cur=None
for line in open(sys.argv[1]):
    if line.startswith('reflens'):
        if cur is not None: samples.append(cur)
        cur=[]; continue
    line=line.strip()
    if not line or cur is None: continue
    parts=line.split(' ',1)
    if len(parts)<2: continue
    sym=re.sub(r'\+0x[0-9a-f]+ \(.*\)$','',parts[1]); sym=re.sub(r' \(inlined\)$','',sym); sym=re.sub(r'\+0x[0-9a-f]+$','',sym)
    cur.append(sym)
if cur: samples.append(cur)
c=collections.Counter(); tot=0
for fr in samples:
    if not fr: continue
    tot+=1; key=None
    for f in fr:
        m=re.search(r'reflens_analysis::rules::([a-z_]+)',f)
        if m: key='rule '+m.group(1); break
    if key is None:
        for f in fr:
            if 'reflens_analysis::workspace' in f: key='workspace'; break
            if 'ruff_python_parser' in f: key='parse'; break
            if 'triggers' in f: key='triggers'; break
    if key is None:
        for f in fr:
            if 'reflens_analysis::' in f or 'reflens::' in f:
                key=re.sub(r'<.*','',f)[:90]; break
    if key is None: key='other '+fr[0][:50]
    c[key]+=1
print(tot,'samples (2000 Hz)')
for k,v in c.most_common(int(os.environ.get('TOP','40'))): print(f"{100*v/tot:5.1f}% {k}")
P

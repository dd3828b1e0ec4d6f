#!/usr/bin/env python3
"""Time `reflens check` against `ruff check` on the same tree of Python files.

Normally started by tests/bench/run.sh, which builds reflens, installs the pinned ruff and
prepares the tree (a copy of the CPython standard library). Python 3.9+, standard library only.

Each run is one child process started with subprocess.Popen and reaped with os.wait4, which
gives that child's own resource usage: wall time (time.perf_counter around start and reap),
CPU time (user + system) and peak resident set size. The tools alternate run by run
(reflens, ruff, reflens, ruff, ...) after one warm-up round, so a change in the machine's load
hits both alike; the order rotates each round, so no tool always runs right after the same one. Output goes to /dev/null; the findings are counted in one extra run that is
not timed.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent

# The ruff rules that correspond to what reflens looks for: B006 mutable-argument-default,
# B019 cached-instance-method, SIM115 open-file-with-context-handler (all stable rules, so no
# --preview is needed).
RUFF_RULES = "B006,B019,SIM115"

# Directory names both tools skip by default (ruff's `exclude` default; reflens copies it).
DEFAULT_EXCLUDES = {
    ".bzr", ".direnv", ".eggs", ".git", ".git-rewrite", ".hg", ".ipynb_checkpoints",
    ".mypy_cache", ".nox", ".pants.d", ".pyenv", ".pytest_cache", ".pytype", ".ruff_cache",
    ".svn", ".tox", ".venv", ".vscode", "__pypackages__", "_build", "buck-out", "dist",
    "node_modules", "site-packages", "venv",
}  # fmt: skip

# Environment variables that would change what a tool does or how many threads it uses.
SCRUBBED_ENV = re.compile(r"^(RUFF_|REFLENS_|RAYON_NUM_THREADS$)")

# `path:row:col: ...`, the concise format of both tools.
FINDING = re.compile(r"^(?P<path>.+?):(?P<row>\d+):(?P<col>\d+): (?P<rest>.*)$")


class BenchError(Exception):
    """A problem to report in one line, without a traceback."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time reflens against ruff on the same tree (see tests/bench/README.md).",
    )
    parser.add_argument("--reflens", required=True, help="the reflens binary")
    parser.add_argument("--ruff", required=True, help="the ruff binary")
    parser.add_argument("--tree", required=True, help="the directory both tools check")
    parser.add_argument("--rounds", type=int, default=10, help="timed rounds (default: 10)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first (default: 1)")
    parser.add_argument(
        "--all-rules",
        action="store_true",
        help="also time `ruff check --select ALL` (an extra row)",
    )
    parser.add_argument(
        "--json",
        default=str(HERE / "results" / "latest.json"),
        help="where to write the results (default: tests/bench/results/latest.json)",
    )
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.warmup < 0:
        parser.error("--warmup must not be negative")
    return args


# --- the machine and the tree --------------------------------------------------------------


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Hardware", "Processor", "cpu model"):
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def loadavg() -> list[float] | None:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except (OSError, ValueError):
        try:
            return list(os.getloadavg())
        except OSError:
            return None


def cpu_stat() -> dict[str, float] | None:
    """The machine's CPU time so far (seconds, all cores), from the first line of /proc/stat."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
        ticks = [int(x) for x in fields[1:9]]
        hz = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = ticks
    return {
        "busy_s": (user + nice + system + irq + softirq) / hz,
        "steal_s": steal / hz,
        "time": time.perf_counter(),
    }


def other_load(before: dict | None, after: dict | None, ours_s: float) -> dict[str, float] | None:
    """How busy the machine was with other processes while the timed rounds ran."""
    if before is None or after is None:
        return None
    elapsed = after["time"] - before["time"]
    busy = after["busy_s"] - before["busy_s"]
    other = max(0.0, busy - ours_s)
    return {
        "elapsed_s": elapsed,
        "busy_core_s": busy,
        "benchmarked_core_s": ours_s,
        "other_core_s": other,
        "other_cores_avg": other / elapsed if elapsed else 0.0,
        "steal_core_s": after["steal_s"] - before["steal_s"],
    }


def python_files(tree: Path) -> dict[str, int]:
    """Counts the files both tools check, walking the way they do (default excludes skipped)."""
    counts = {"py": 0, "pyi": 0, "excluded_dirs": 0}
    for dirpath, dirnames, filenames in os.walk(tree):
        kept = [d for d in dirnames if d not in DEFAULT_EXCLUDES]
        counts["excluded_dirs"] += len(dirnames) - len(kept)
        dirnames[:] = kept
        for name in filenames:
            if name in DEFAULT_EXCLUDES:
                continue
            if name.endswith(".py"):
                counts["py"] += 1
            elif name.endswith(".pyi"):
                counts["pyi"] += 1
    return counts


def config_files_seen_by_reflens(tree: Path) -> list[str]:
    """reflens has no --isolated: list configuration files it could pick up in or above the tree."""
    names = ("reflens.toml", ".reflens.toml", "pyproject.toml")
    found = []
    for directory in [tree, *tree.parents]:
        found += [str(directory / n) for n in names if (directory / n).is_file()]
    for dirpath, dirnames, filenames in os.walk(tree):
        dirnames[:] = [d for d in dirnames if d not in DEFAULT_EXCLUDES]
        if Path(dirpath) != tree:
            found += [os.path.join(dirpath, n) for n in names if n in filenames]
    relevant = []
    for path in found:
        try:
            text = Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if not path.endswith("pyproject.toml") or "[tool.reflens" in text:
            relevant.append(path)
    return relevant


# --- running the tools ---------------------------------------------------------------------


def child_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not SCRUBBED_ENV.match(k)}


def version(binary: str) -> str:
    try:
        out = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, check=True, env=child_env()
        ).stdout
    except (OSError, subprocess.CalledProcessError) as err:
        raise BenchError(f"`{binary} --version` failed: {err}") from None
    return out.strip()


def timed_run(cmd: list[str], cwd: Path) -> dict[str, float]:
    """One run of `cmd`, output discarded; the child's own wall time, CPU time and peak RSS."""
    start = time.perf_counter()
    try:
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=child_env(), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
    except OSError as err:
        raise BenchError(f"cannot start {cmd[0]}: {err}") from None
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    if proc.returncode != 0:
        raise BenchError(f"`{' '.join(cmd)}` exited with status {proc.returncode} during timing")
    # ru_maxrss is in KiB on Linux and the BSDs, in bytes on macOS.
    rss_kib = usage.ru_maxrss / 1024 if sys.platform == "darwin" else usage.ru_maxrss
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "user_s": usage.ru_utime,
        "sys_s": usage.ru_stime,
        "max_rss_mib": rss_kib / 1024,
    }


def findings(cmd: list[str], cwd: Path) -> dict[str, object]:
    """One untimed run with the output read: the findings (concise lines) by rule code.

    The output is read line by line, never held whole: a child's ru_maxrss includes the peak
    RSS of this process (Linux records the old image's high-water mark at exec), so this
    process must stay small. See `rss_floor` below.
    """
    codes: Counter[str] = Counter()
    files = set()
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace") as err_file:
        try:
            proc = subprocess.Popen(
                cmd, cwd=cwd, env=child_env(), stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=err_file, text=True, errors="replace",
            )  # fmt: skip
        except OSError as err:
            raise BenchError(f"cannot start {cmd[0]}: {err}") from None
        with proc:
            for line in proc.stdout:
                count_finding(line.rstrip("\n"), codes, files)
        err_file.seek(0)
        stderr = err_file.read().splitlines()
    if proc.returncode != 0:
        tail = "\n".join(stderr[-5:])
        raise BenchError(f"`{' '.join(cmd)}` exited with status {proc.returncode}:\n{tail}")
    return {
        "count": sum(codes.values()),
        "files_with_findings": len(files),
        "by_code": dict(sorted(codes.items(), key=lambda kv: (-kv[1], kv[0]))),
        "stderr_lines": len(stderr),
        "stderr_head": stderr[:5],
    }


def count_finding(line: str, codes: Counter, files: set) -> None:
    m = FINDING.match(line)
    if not m:
        return  # a summary such as ruff's "Found N errors."
    files.add(m["path"])
    # `CODE message`; ruff writes syntax errors as `invalid-syntax: message`.
    code = m["rest"].split(" ", 1)[0].rstrip(":")
    codes[code] += 1


def ruff_file_list(ruff: str, tree: Path) -> list[str]:
    cmd = [ruff, "check", "--no-cache", "--isolated", "--select", RUFF_RULES, "--show-files", str(tree)]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, env=child_env(), errors="replace")
    if proc.returncode != 0:
        raise BenchError(f"`{' '.join(cmd)}` exited with status {proc.returncode}: {proc.stderr.strip()}")
    return [line.strip() for line in proc.stdout.splitlines() if line.strip()]


# --- statistics and the report -------------------------------------------------------------


def summarize(samples: list[dict[str, float]]) -> dict[str, float]:
    wall = [s["wall_s"] for s in samples]
    return {
        "median_wall_s": statistics.median(wall),
        "min_wall_s": min(wall),
        "max_wall_s": max(wall),
        "median_cpu_s": statistics.median(s["cpu_s"] for s in samples),
        "median_max_rss_mib": statistics.median(s["max_rss_mib"] for s in samples),
    }


def ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def fmt_ratio(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}×"


def markdown(result: dict) -> str:
    m, t = result["machine"], result["tree"]
    lines = [
        "## reflens vs ruff",
        "",
        f"- tree: `{t['path']}` — {t['py_files']} `.py` files (+ {t['pyi_files']} `.pyi`), "
        f"the standard library of Python {t['python']} without site-packages",
        f"- reflens: `{result['tools']['reflens']['version']}`; ruff: `{result['tools']['ruff']['version']}`",
        f"- machine: {m['cpu_count']} cores, {m['cpu_model']}; {m['platform']}",
        f"- load average (1/5/15 min): before {fmt_load(m['loadavg_before'])}, "
        f"after {fmt_load(m['loadavg_after'])}; {fmt_other(m['other_processes_during_timing'], m['cpu_count'])}",
        f"- peak RSS floor (`true` started the same way): {m['rss_floor_mib']:.1f} MiB",
        f"- {result['rounds']} timed rounds after {result['warmup']} warm-up round(s), tools alternating in a rotating order; "
        "medians unless noted",
        "",
        "| tool | median wall (s) | min wall (s) | max wall (s) | median CPU user+sys (s) "
        "| median peak RSS (MiB) | findings |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for tool in result["tools"].values():
        s = tool["summary"]
        lines.append(
            f"| {tool['label']} | {s['median_wall_s']:.3f} | {s['min_wall_s']:.3f} | {s['max_wall_s']:.3f} "
            f"| {s['median_cpu_s']:.3f} | {s['median_max_rss_mib']:.1f} | {tool['findings']['count']} |"
        )
    for key, r in result["ratios"].items():
        lines.append(
            f"| **{key}** | {fmt_ratio(r['median_wall'])} | {fmt_ratio(r['min_wall'])} "
            f"| {fmt_ratio(r['max_wall'])} | {fmt_ratio(r['median_cpu'])} "
            f"| {fmt_ratio(r['median_max_rss'])} | |"
        )
    lines += ["", "Findings by code (one untimed run each):", ""]
    for tool in result["tools"].values():
        f = tool["findings"]
        items = list(f["by_code"].items())
        codes = ", ".join(f"{c} {n}" for c, n in items[:12]) or "none"
        if len(items) > 12:
            codes += f", … ({len(items) - 12} more codes in the JSON)"
        lines.append(f"- {tool['label']}: {f['count']} in {f['files_with_findings']} files — {codes}")
    lines += ["", "Commands:", ""]
    for tool in result["tools"].values():
        lines.append(f"- `{' '.join(tool['display_command'])}`")
    if result["warnings"]:
        lines += ["", "Warnings:", ""] + [f"- {w}" for w in result["warnings"]]
    return "\n".join(lines)


def fmt_other(other: dict | None, cores: int | None) -> str:
    if other is None:
        return "CPU use of other processes unknown"
    return (
        f"other processes used {other['other_cores_avg']:.2f} of {cores} cores on average "
        f"during the timed rounds ({other['other_core_s']:.1f} core-s in {other['elapsed_s']:.1f} s; "
        f"steal {other['steal_core_s']:.1f} core-s)"
    )


def fmt_load(load: list[float] | None) -> str:
    return "n/a" if load is None else " / ".join(f"{x:.2f}" for x in load)


# --- main ----------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    tree = Path(args.tree).resolve()
    if not tree.is_dir():
        raise BenchError(f"the tree {tree} is not a directory (tests/bench/run.sh prepares it)")
    # The tools run with the tree as working directory (short relative paths in their output).
    args.reflens, args.ruff = os.path.abspath(args.reflens), os.path.abspath(args.ruff)
    for binary in (args.reflens, args.ruff):
        if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
            raise BenchError(f"{binary} is not an executable file")
    if not hasattr(os, "wait4"):
        raise BenchError("os.wait4 is not available on this platform (Linux or macOS needed)")

    warnings: list[str] = []
    counts = python_files(tree)
    if counts["excluded_dirs"]:
        warnings.append(
            f"the tree has {counts['excluded_dirs']} directories that both tools skip by default; "
            "they are not counted"
        )
    configs = config_files_seen_by_reflens(tree)
    if configs:
        warnings.append(f"reflens may read configuration from: {', '.join(configs)} (ruff runs --isolated)")
    scrubbed = sorted(k for k in os.environ if SCRUBBED_ENV.match(k))
    if scrubbed:
        warnings.append(f"unset for the tools: {', '.join(scrubbed)}")

    # Both tools must read the same files: ruff can list them, reflens walks with the same
    # default excludes, and the tree has none of those directories.
    ruff_files = ruff_file_list(args.ruff, tree)
    ruff_py = [f for f in ruff_files if f.endswith((".py", ".pyi"))]
    expected = counts["py"] + counts["pyi"]
    if len(ruff_py) != expected:
        warnings.append(f"ruff would check {len(ruff_py)} .py/.pyi files, but the tree has {expected}")
    other = [f for f in ruff_files if not f.endswith((".py", ".pyi"))]
    if other:
        warnings.append(f"ruff also lists {len(other)} non-Python files (e.g. {other[0]})")

    reflens_cmd = [args.reflens, "check", str(tree), "--exit-zero", "--output-format", "concise", "-q"]

    def ruff_cmd(select: str) -> list[str]:
        return [
            args.ruff, "check", "--no-cache", "--isolated", "--select", select,
            "--exit-zero", "--output-format", "concise", str(tree),
        ]  # fmt: skip

    tools = {
        "reflens": {"label": "reflens (all RL rules)", "command": reflens_cmd},
        "ruff": {"label": f"ruff --select {RUFF_RULES}", "command": ruff_cmd(RUFF_RULES)},
    }
    if args.all_rules:
        tools["ruff_all"] = {"label": "ruff --select ALL", "command": ruff_cmd("ALL")}
    versions = {"reflens": version(args.reflens), "ruff": version(args.ruff)}
    for name, tool in tools.items():
        tool["version"] = versions["ruff" if name.startswith("ruff") else "reflens"]
        tool["display_command"] = [
            "reflens" if name == "reflens" else "ruff",
            *("<tree>" if a == str(tree) else a for a in tool["command"][1:]),
        ]

    print(f"bench: {expected} Python files in {tree}", file=sys.stderr)

    # What ru_maxrss reports for a program that uses almost nothing: Linux counts the peak RSS
    # of the image a child had before exec (this Python process) in the child's ru_maxrss, so
    # a tool's figure is only its own when it is well above this floor.
    true = shutil.which("true") or "/bin/true"
    floor = statistics.median(timed_run([true], tree)["max_rss_mib"] for _ in range(3))

    load_before = loadavg()
    stat_before: dict | None = None
    for round_no in range(args.warmup + args.rounds):
        timed = round_no >= args.warmup
        if round_no == args.warmup:
            stat_before = cpu_stat()
        what = f"round {round_no - args.warmup + 1}/{args.rounds}" if timed else f"warm-up {round_no + 1}"
        print(f"bench: {what}", file=sys.stderr)
        # The order rotates each round: a tool run right after `ruff --select ALL` (2 s on both
        # cores, 350 MiB freed at its exit) is slowed, and always the same tool paying for it
        # would bias the ratios.
        order = list(tools.values())
        shift = round_no % len(order)
        for tool in order[shift:] + order[:shift]:
            sample = timed_run(tool["command"], tree)
            if timed:
                tool.setdefault("samples", []).append(sample)
    stat_after = cpu_stat()
    load_after = loadavg()
    ours = sum(s["cpu_s"] for tool in tools.values() for s in tool["samples"])
    other = other_load(stat_before, stat_after, ours)

    # Counted after the timing, so that reading the output cannot raise this process's RSS
    # (and with it the floor above) before the timed runs.
    print("bench: counting findings (untimed)", file=sys.stderr)
    for tool in tools.values():
        tool["findings"] = findings(tool["command"], tree)
        if tool["findings"]["stderr_lines"]:
            warnings.append(
                f"{tool['label']} printed {tool['findings']['stderr_lines']} lines on stderr, "
                f"first: {tool['findings']['stderr_head'][0]!r}"
            )

    for tool in tools.values():
        tool["summary"] = summarize(tool["samples"])
        if tool["summary"]["median_max_rss_mib"] < 1.5 * floor:
            warnings.append(
                f"{tool['label']}: peak RSS {tool['summary']['median_max_rss_mib']:.1f} MiB is close to "
                f"the {floor:.1f} MiB floor (this Python process's own peak); the figure may be the floor"
            )

    def ratios(a: dict, b: dict) -> dict[str, float | None]:
        sa, sb = a["summary"], b["summary"]
        return {
            "median_wall": ratio(sa["median_wall_s"], sb["median_wall_s"]),
            "min_wall": ratio(sa["min_wall_s"], sb["min_wall_s"]),
            "max_wall": ratio(sa["max_wall_s"], sb["max_wall_s"]),
            "median_cpu": ratio(sa["median_cpu_s"], sb["median_cpu_s"]),
            "median_max_rss": ratio(sa["median_max_rss_mib"], sb["median_max_rss_mib"]),
        }

    all_ratios = {"reflens / ruff": ratios(tools["reflens"], tools["ruff"])}
    if "ruff_all" in tools:
        all_ratios["reflens / ruff ALL"] = ratios(tools["reflens"], tools["ruff_all"])

    result = {
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "cpu_count": os.cpu_count(),
            "cpu_model": cpu_model(),
            "platform": platform.platform(),
            "loadavg_before": load_before,
            "loadavg_after": load_after,
            "other_processes_during_timing": other,
            "rss_floor_mib": floor,
        },
        "tree": {
            "path": str(tree),
            "python": platform.python_version(),
            "py_files": counts["py"],
            "pyi_files": counts["pyi"],
            "ruff_listed_files": len(ruff_py),
        },
        "rounds": args.rounds,
        "warmup": args.warmup,
        "tools": tools,
        "ratios": all_ratios,
        "warnings": warnings,
    }
    report = markdown(result)
    print(report)

    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"\nbench: results written to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BenchError as err:
        print(f"bench: error: {err}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        sys.exit(130)

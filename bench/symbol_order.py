#!/usr/bin/env python3
"""Writes link/symbol-order.txt: the functions dmflow runs, hottest first, which build.rs hands
to the linker so that a release binary keeps them together at the start of its code.

Why: the kernel maps a binary's code 64 KiB at a time around each page a process touches
(fault-around). With the functions a run needs spread over 11 MB of code, one GET mapped about
7 MB of it; packed together they fit in a fraction of that, so every run has a smaller RSS and
takes fewer page faults.

It runs the release binary (which keeps its symbols, so the names are those the linker sees) under
`valgrind --tool=callgrind` on the commands people run most (`check`, `run` against the
emulator, `dmflow mock` itself, a large JSON body, `--repeat`, `--jobs`, the token commands),
collects every function of dmflow that ran, and orders them: first those that most of the
commands run (start-up, reading a flow, sending), hottest first within each group, so a single
command finds most of its code in the first pages.

    cargo build --release && python3 bench/symbol_order.py && cargo build --release

Regenerate it after large changes: a function missing from the list is only placed after the
listed ones, and names the linker does not find are skipped, so a stale list costs memory,
never correctness. Needs valgrind (`apt-get install valgrind`).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from instructions import flow, free_port, isolated_env, require_valgrind, wait_for
from speed import json_capture_flow, start_server

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "link" / "symbol-order.txt"
FLOWS = sorted(str(p) for p in (REPO / "flows").glob("*.yaml"))
MOCK_FLOWS = [str(REPO / "flows" / name) for name in ("login.yaml", "echo.yaml", "me.yaml")]


def callgrind(binary: str, args: list[str], out: Path, env: dict[str, str]) -> subprocess.Popen:
    """Starts `binary args` under callgrind, writing the function names as the binary has them."""
    return subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--demangle=no", "--compress-strings=no",
         "--compress-pos=no", "--dump-line=no", f"--callgrind-out-file={out}", binary, *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
    )


def finished(process: subprocess.Popen, what: str) -> None:
    _, stderr = process.communicate(timeout=600)
    if process.returncode != 0:
        sys.exit(f"{what} failed under callgrind:\n{stderr[-2000:]}")


def self_costs(out: Path, binary: str) -> Counter[str]:
    """Instructions spent in each function of `binary` (its own, not its callees')."""
    costs: Counter[str] = Counter()
    ours = os.path.realpath(binary)
    in_binary, function, callee_cost = False, None, False
    for line in out.read_text(errors="replace").splitlines():
        if line.startswith("ob="):
            in_binary = os.path.realpath(line[3:]) == ours
        elif line.startswith("fn="):
            function = line[3:] if in_binary else None
            if function:
                costs[function] += 0  # ran, even if every instruction was a callee's
        elif line.startswith("calls="):
            callee_cost = True  # the next cost line is the callee's inclusive cost
        elif line[:1].isdigit():
            fields = line.split()
            if function and not callee_cost and len(fields) > 1:
                costs[function] += int(fields[1])
            callee_cost = False
    return costs


def workloads(binary: str, tmp: Path, env: dict[str, str]) -> list[Counter[str]]:
    """Runs the commands and returns, for each, the instructions spent in each function."""
    costs: list[Counter[str]] = []

    def measure(args: list[str]) -> None:
        out = tmp / f"callgrind.{len(costs)}"
        finished(callgrind(binary, args, out, env), " ".join(args[:2]))
        costs.append(self_costs(out, binary))

    measure(["--version"])
    measure(["check", "-q", *FLOWS])
    measure(["run", "--mock", *MOCK_FLOWS])
    measure(["status", "--profile", "mock"])
    measure(["env", "--profile", "mock"])

    port = free_port()
    mock_out = tmp / "callgrind.mock"
    mock = callgrind(binary, ["mock", "--ephemeral", "-q", "--port", str(port)], mock_out, env)
    python, python_url = start_server([sys.executable, str(REPO / "bench" / "speed.py"), "serve",
                                       "--port", "0"], env)
    try:
        wait_for(port, 60)
        steps = tmp / "steps.yaml"
        steps.write_text(flow(port, 50))
        other = tmp / "other.yaml"
        other.write_text(flow(port, 20).replace("name: steps", "name: other"))
        json_flow = tmp / "json.yaml"
        json_flow.write_text(json_capture_flow(f"{python_url}/json?size={4 << 20}")[0])
        measure(["run", "--no-store", str(steps)])
        measure(["check", "-q", str(steps)])
        measure(["run", "--no-store", "--repeat", "20", str(other)])
        measure(["run", "--no-store", "--jobs", "2", str(steps), str(other)])
        measure(["run", "--no-store", str(json_flow)])
    finally:
        python.terminate()
        mock.terminate()  # callgrind writes its counts when the emulator exits on SIGTERM
        mock.communicate(timeout=120)
        python.wait(timeout=10)
    if mock_out.exists():
        costs.append(self_costs(mock_out, binary))
    return costs


def ordered(costs: list[Counter[str]]) -> list[str]:
    """The functions by how many commands ran them, then by instructions, then by name."""
    runs: Counter[str] = Counter(name for command in costs for name in command)
    total: Counter[str] = sum(costs, Counter())
    named = [name for name in runs if re.fullmatch(r"[A-Za-z_][\w.$]*", name)]  # not 0x… addresses
    return sorted(named, key=lambda name: (-runs[name], -total[name], name))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dmflow", default=str(REPO / "target" / "release" / "dmflow"),
                        help="a release build with symbols (default: target/release/dmflow)")
    parser.add_argument("--output", default=str(OUTPUT))
    args = parser.parse_args()
    require_valgrind()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        names = ordered(workloads(args.dmflow, tmp_path, isolated_env(tmp_path)))
    header = (
        "# The functions dmflow runs, those most commands run first: written by bench/symbol_order.py,\n"
        "# read by build.rs (the linker's --symbol-ordering-file). Regenerate after large changes.\n"
    )
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(header + "".join(f"{name}\n" for name in names))
    print(f"{args.output}: {len(names):,} functions", file=sys.stderr)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Instructions dmflow spends per step, counted by callgrind: a figure that does not move when
the machine is busy, for comparing two builds (wall-time figures come from bench/speed.py).

It starts `dmflow mock --ephemeral` on a free loopback port, writes a flow of STEPS GET steps
(a status check each) into a temp dir, runs `dmflow run -q` and `dmflow check -q` on it under
`valgrind --tool=callgrind`, and prints the instructions per step of each and, with --top,
the functions of dmflow that cost the most (inclusive).

    python3 bench/instructions.py                      # target/release/dmflow
    python3 bench/instructions.py --dmflow A --dmflow B  # two builds, side by side
    python3 bench/instructions.py --top 25 --steps 200   # where the instructions go

Needs valgrind (`apt-get install valgrind`). A binary built with symbols
(`cargo build --profile profiling`) gives readable function names.
"""

from __future__ import annotations

import argparse
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(port: int, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    sys.exit(f"the emulator did not listen on port {port} within {seconds} s")


def flow(port: int, steps: int) -> str:
    body = "".join(
        f"  - name: get{i}\n    http:\n      url: http://127.0.0.1:{port}/echo?message=m{i}\n"
        f"    expect:\n      status: 200\n"
        for i in range(1, steps + 1)
    )
    return f"name: steps\nsteps:\n{body}"


def require_valgrind() -> None:
    if not shutil.which("valgrind"):
        sys.exit("valgrind is missing: apt-get install valgrind")


def isolated_env(tmp: Path) -> dict[str, str]:
    """An environment whose state directory and home are the run's own, without colours."""
    return {"PATH": "/usr/bin:/bin", "DMFLOW_STATE_DIR": str(tmp / "state"), "NO_COLOR": "1",
            "HOME": str(tmp)}


def callgrind(dmflow: str, args: list[str], out: Path, env: dict[str, str]) -> int:
    run = subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", dmflow, *args],
        capture_output=True, text=True, env=env, check=False,
    )
    found = re.search(r"Collected : (\d+)", run.stderr)
    if run.returncode != 0 or not found:
        sys.exit(f"{dmflow} {' '.join(args)} failed under callgrind:\n{run.stderr[-2000:]}")
    return int(found.group(1))


def top(out: Path, count: int) -> list[str]:
    text = subprocess.run(["callgrind_annotate", "--inclusive=yes", str(out)],
                          capture_output=True, text=True, check=True).stdout
    rows = [line for line in text.splitlines() if "dmflow::" in line and "/src/" in line]
    return rows[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dmflow", action="append", help="binary to count (repeatable)")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--top", type=int, default=0, help="show the N costliest functions")
    args = parser.parse_args()
    binaries = args.dmflow or [str(REPO / "target" / "release" / "dmflow")]
    require_valgrind()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        env = isolated_env(tmp_path)
        port = free_port()
        mock = subprocess.Popen([binaries[0], "mock", "--ephemeral", "-q", "--port", str(port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        try:
            wait_for(port)
            path = tmp_path / "steps.yaml"
            path.write_text(flow(port, args.steps))
            print(f"| binary | run: instructions a step | check: instructions a step |")
            print("|---|---|---|")
            for index, binary in enumerate(binaries):
                run_out, check_out = tmp_path / f"run.{index}", tmp_path / f"check.{index}"
                ran = callgrind(binary, ["run", "-q", "--no-store", str(path)], run_out, env)
                checked = callgrind(binary, ["check", "-q", str(path)], check_out, env)
                print(f"| {binary} | {ran / args.steps:,.0f} | {checked / args.steps:,.0f} |")
                if args.top:
                    print("\n".join(top(run_out, args.top)))
        finally:
            mock.terminate()
            mock.wait(timeout=10)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Memory under load: the emulator's RSS before and after many sign-in requests.

For each mode (the consent page, then --auto-approve) it starts `dmflow mock` on a free
loopback port, notes its resident memory, sends REQUESTS `GET /oauth/authorize` (consent
pages, or codes never exchanged) and EXCHANGES full sign-ins ending in a code exchange
(`POST /oauth/token`), then notes the memory again. It exits 1 when the memory at the end is
more than twice what it was at the start.

Loopback only, bounded in requests and in time (--time-limit), stops the emulators it started.
Needs a release build (cargo build --release) and Python 3 (standard library only).

    bench/emulator-load.py                       # 500k authorize + 100k exchanges per mode
    bench/emulator-load.py --requests 50000 --exchanges 10000
"""

import argparse
import asyncio
import base64
import hashlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse

CLIENT_ID = "5f1e0dmflowdemo0key0"
CLIENT_SECRET = "dmflow-demo-secret-4c7e9a"
REDIRECT_URI = "http://127.0.0.1:8080/callback"
VERIFIER = "load-test-verifier-0123456789-abcdefghijklmnopqrstuvwxyz"
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
AUTHORIZE = "/oauth/authorize?" + urllib.parse.urlencode({
    "response_type": "code",
    "client_id": CLIENT_ID,
    "redirect_uri": REDIRECT_URI,
    "scope": "userinfo manage_videos",
    "state": "load-state",
    "code_challenge": CHALLENGE,
    "code_challenge_method": "S256",
})


def rss_kib(pid):
    """Resident and peak memory of a process, in KiB (from /proc)."""
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            fields[name] = value.strip()
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


class Connection:
    """One keep-alive HTTP/1.1 connection to the emulator."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def request(self, method, target, body=b""):
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = f"{method} {target} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
        if body:
            head += f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        content = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return status, headers, content


def query_of(location):
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))


async def sign_in(connection, consent):
    """authorize (then Allow on the consent page) then the code exchange."""
    status, headers, body = await connection.request("GET", AUTHORIZE)
    if consent:
        assert status == 200, f"consent page: {status}"
        request = re.search(rb'name="request" value="([^"]+)"', body).group(1).decode()
        form = urllib.parse.urlencode({"request": request, "decision": "allow"}).encode()
        status, headers, body = await connection.request("POST", "/oauth/authorize", form)
    assert status == 302, f"authorize: {status} {body[:200]}"
    code = query_of(headers["location"])["code"]
    form = urllib.parse.urlencode({
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
        "code_verifier": VERIFIER, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
    }).encode()
    status, _, body = await connection.request("POST", "/oauth/token", form)
    assert status == 200, f"token: {status} {body[:200]}"


async def authorize_only(connection, consent):
    status, _, _ = await connection.request("GET", AUTHORIZE)
    assert status == (200 if consent else 302), f"authorize: {status}"


async def drive(port, count, connections, deadline, job, consent):
    """Runs `job` `count` times over `connections` connections; (done, requests, seconds)."""
    remaining = [count]
    started = time.monotonic()

    async def worker():
        connection = Connection("127.0.0.1", port)
        done = 0
        while remaining[0] > 0 and time.monotonic() < deadline:
            remaining[0] -= 1
            await job(connection, consent)
            done += 1
        if connection.writer:
            connection.writer.close()
        return done

    finished = sum(await asyncio.gather(*(worker() for _ in range(connections))))
    return finished, time.monotonic() - started


def start_emulator(binary, state, auto_approve):
    args = [binary, "mock", "--port", "0"] + (["--auto-approve"] if auto_approve else [])
    env = dict(os.environ, DMFLOW_STATE_DIR=state)
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    base = process.stdout.readline().strip()
    if not base.startswith("http://127.0.0.1:"):
        process.kill()
        sys.exit(f"the emulator did not start: {base!r}")
    return process, int(base.rsplit(":", 1)[1])


def mib(kib):
    return f"{kib / 1024:.1f} MiB"


def run_mode(binary, auto_approve, args, deadline):
    name = "--auto-approve" if auto_approve else "consent page"
    with tempfile.TemporaryDirectory() as state:
        process, port = start_emulator(binary, state, auto_approve)
        try:
            time.sleep(0.5)
            start, _ = rss_kib(process.pid)
            consent = not auto_approve
            authorized, seconds_a = asyncio.run(
                drive(port, args.requests, args.connections, deadline, authorize_only, consent))
            after_authorize, _ = rss_kib(process.pid)
            exchanged, seconds_e = asyncio.run(
                drive(port, args.exchanges, args.connections, deadline, sign_in, consent))
            end, peak = rss_kib(process.pid)
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
    per_exchange = 3 if consent else 2
    print(f"{name}:")
    print(f"  {authorized} GET /oauth/authorize in {seconds_a:.1f} s: {authorized / seconds_a:,.0f} req/s")
    print(f"  {exchanged} sign-ins with code exchange ({per_exchange} requests each) in {seconds_e:.1f} s:"
          f" {exchanged * per_exchange / seconds_e:,.0f} req/s, {exchanged / seconds_e:,.0f} exchanges/s")
    print(f"  RSS: start {mib(start)}, after the authorize requests {mib(after_authorize)},"
          f" end {mib(end)} ({end / start:.2f}x), peak {mib(peak)}")
    complete = authorized == args.requests and exchanged == args.exchanges
    if not complete:
        print("  stopped by --time-limit before every request was sent")
    return end <= 2 * start and complete


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=500_000, help="GET /oauth/authorize per mode")
    parser.add_argument("--exchanges", type=int, default=100_000, help="sign-ins with code exchange per mode")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--time-limit", type=float, default=1200, help="seconds, for the whole run")
    parser.add_argument("--binary", default="target/release/dmflow")
    args = parser.parse_args()
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    if not os.access(args.binary, os.X_OK):
        sys.exit(f"{args.binary} is missing: cargo build --release")
    deadline = time.monotonic() + args.time_limit
    print(f"{os.cpu_count()} cores, {args.connections} connections, Python {sys.version.split()[0]}")
    ok = all([run_mode(args.binary, False, args, deadline), run_mode(args.binary, True, args, deadline)])
    print("memory stayed within 2x of the start" if ok else "FAILED: memory grew past 2x, or the run was cut short")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

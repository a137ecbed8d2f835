#!/usr/bin/env python3
"""Resident memory of a server before, during and after a flood of searches.

Starts `BIN serve` on a free port with the given providers directory and
extra settings, waits `--idle` seconds and reads its idle RSS, floods it
with `BIN loadtest` for about `--seconds`, then samples RSS every second
for `--after` seconds. Prints the figures and the ratio of each to idle.

    python3 bench/flood_memory.py --bin target/release/airstream \
        --dir bench/providers/zero_latency --seconds 20 --after 90 \
        --env AIRSTREAM_SEARCH__RESULT_TTL=10s
"""

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request

from benchlib import free_port, rss_kib


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/airstream")
    ap.add_argument("--dir", default="bench/providers/zero_latency")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--after", type=float, default=90)
    ap.add_argument("--idle", type=float, default=5)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--env", action="append", default=[])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    port = free_port()
    env = dict(os.environ)
    env.update(
        AIRSTREAM_LISTEN=f"127.0.0.1:{port}",
        AIRSTREAM_PROVIDERS_DIR=args.dir,
        AIRSTREAM_LOG__FILTER="warn",
    )
    for kv in args.env:
        k, v = kv.split("=", 1)
        env[k] = v
    server = subprocess.Popen([args.bin, "serve"], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{url}/readyz", timeout=1)
                break
            except Exception:
                time.sleep(0.1)
        time.sleep(args.idle)
        idle = rss_kib(server.pid)
        idle_anon = rss_kib(server.pid, "RssAnon:")
        # Calibrate: a short run tells how many searches fill --seconds.
        probe = json.loads(
            subprocess.check_output(
                [args.bin, "loadtest", "--url", url, "-n", "2000", "-c", str(args.concurrency), "--json"]
            )
        )
        n = max(2000, int(probe["searches_per_sec"] * args.seconds))
        flood = subprocess.Popen(
            [args.bin, "loadtest", "--url", url, "-n", str(n), "-c", str(args.concurrency), "--json"],
            stdout=subprocess.PIPE,
        )
        peak = idle
        while flood.poll() is None:
            peak = max(peak, rss_kib(server.pid))
            time.sleep(0.2)
        report = json.loads(flood.stdout.read())
        ended = time.time()
        samples = []
        while time.time() - ended < args.after:
            time.sleep(1)
            samples.append((round(time.time() - ended), rss_kib(server.pid)))
            anon_after = rss_kib(server.pid, "RssAnon:")
            if samples[-1][0] <= 60:
                anon_60 = anon_after
            peak = max(peak, samples[-1][1])
    finally:
        server.terminate()
        server.wait()

    def at(t):
        return next((kib for s, kib in samples if s >= t), samples[-1][1])

    result = {
        "searches": n,
        "searches_per_sec": round(report["searches_per_sec"]),
        "errors": report["errors"],
        "idle_mib": round(idle / 1024, 1),
        "peak_mib": round(peak / 1024, 1),
        "after_10s_mib": round(at(10) / 1024, 1),
        "after_60s_mib": round(at(60) / 1024, 1),
        "last_mib": round(samples[-1][1] / 1024, 1),
        "after_60s_ratio": round(at(60) / idle, 2),
        "anon_idle_mib": round(idle_anon / 1024, 1),
        "anon_after_60s_mib": round(anon_60 / 1024, 1),
        "anon_after_60s_ratio": round(anon_60 / idle_anon, 2),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{n} searches at {result['searches_per_sec']}/s ({result['errors']} errors): "
            f"RSS idle {result['idle_mib']} MiB, peak {result['peak_mib']} MiB, "
            f"10 s after {result['after_10s_mib']} MiB, 60 s after {result['after_60s_mib']} MiB "
            f"({result['after_60s_ratio']}x idle), at the end ({samples[-1][0]} s) {result['last_mib']} MiB; "
            f"anonymous (heap) RSS idle {result['anon_idle_mib']} MiB, 60 s after {result['anon_after_60s_mib']} MiB "
            f"({result['anon_after_60s_ratio']}x)"
        )
        print("samples (s after, MiB):", " ".join(f"{s}:{kib / 1024:.0f}" for s, kib in samples[::10]))


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Regenerates every transcript shown in README.md and docs/*.md.

A transcript is the block between `<!-- transcript:NAME -->` and
`<!-- /transcript -->`: the command, as a reader would type it against a
server on port 3000, and what it printed. This script starts the release
binary on the sample `providers.d/`, runs each command for real and writes
the blocks again, so the documented output is what the server answers
today. `tests/api/readme.rs` checks the blocks against a running server
(status codes, JSON field names, SSE event kinds, the airlines), so a
change the transcripts do not show fails the suite until this script runs.

    python3 scripts/transcripts.py            # builds, serves on 3000
    python3 scripts/transcripts.py --port 3900 --bin target/debug/airstream

With `--port`, the server listens there but every transcript still reads
`localhost:3000`. Search ids, times, `elapsed_ms`, prices and seats come
out as they came; the test does not compare them.
"""

import argparse
import datetime
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FILES = ["README.md"] + sorted(
    os.path.join("docs", f) for f in os.listdir(os.path.join(ROOT, "docs")) if f.endswith(".md")
)
BLOCK = re.compile(r"(<!-- transcript:([a-z0-9-]+) -->\n).*?(<!-- /transcript -->)", re.S)
# Long `data:` lines of these events are cut here, with `…`.
CUT_EVENTS = ("offers", "complete")
CUT_AT = 150

SEARCH = '{"from":"CGK","to":"DPS","date":"\'$DATE\'","passengers":1}'
FAMILY = (
    '{"from":"CGK","to":"DPS","date":"\'$DATE\'",'
    '"passengers":{"adults":2,"children":1,"infants":1},"providers":["singapore"],"max_stops":1}'
)
BAD_SEARCH = (
    '{"from":"cgkk","to":"DPS","date":"2026-02-30","return_date":"2024-01-01",'
    '"passengers":12,"cabin":"luxury","providers":["garuda","wings"],"timeout_ms":0,"currency":"IDR"}'
)
JSON_HEADER = "-H 'content-type: application/json'"
STATUS = "-w '\\nHTTP %{http_code}\\n'"
UNKNOWN = "3f0c9a52-8a8e-4d0b-9a37-0c9e3c1d2b7e"

# Each transcript: name -> (command as shown, how its output is shaped).
COMMANDS = {
    "post-search": (f"curl -s -i localhost:3000/api/flights/search {JSON_HEADER} -d '{SEARCH}'", "raw"),
    "stream": ("curl -sN localhost:3000/api/flights/search/$SID/stream", "sse"),
    "snapshot": ("curl -s localhost:3000/api/flights/search/$SID", "first-offer"),
    "family-search": (f"curl -s localhost:3000/api/flights/search {JSON_HEADER} -d '{FAMILY}'", "raw"),
    "family-offer": ("curl -s localhost:3000/api/flights/search/$FID", "first-offer"),
    "resume": ("curl -sN -H 'Last-Event-ID: 5' localhost:3000/api/flights/search/$SID/stream", "sse"),
    "errors-422": (f"curl -s {STATUS} localhost:3000/api/flights/search {JSON_HEADER} -d '{BAD_SEARCH}'", "raw"),
    "errors-400": (f"curl -s {STATUS} localhost:3000/api/flights/search {JSON_HEADER} -d '{{\"from\":\"CGK\",'", "raw"),
    "errors-404": (f"curl -s {STATUS} localhost:3000/api/flights/search/{UNKNOWN}/stream", "raw"),
    "providers": ("curl -s localhost:3000/api/providers", "one-per-line"),
    "airports": ("curl -s localhost:3000/api/airports", "raw"),
    "healthz": ("curl -s localhost:3000/healthz", "raw"),
    "readyz": ("curl -s localhost:3000/readyz", "raw"),
    "sim": (
        "curl -s localhost:3000/sim/transnusa-fares/v1/availability "
        "-d '{\"origin\":\"CGK\",\"destination\":\"DPS\",\"departure_date\":\"'$DATE'\",\"passengers\":{\"adults\":2}}'",
        "raw",
    ),
    "help": ("airstream --help", "raw"),
    # Exits 1 (two broken files): the status is shown after the output.
    "validate": (
        "airstream validate providers.d docs/examples/merpati.yaml docs/examples/wings.yaml",
        "exit-status",
    ),
}


def run(command, port, env, how="raw"):
    """Runs a shown command against the real port; the output reads 3000.
    With `how` "exit-status", a non-zero status is shown, not an error."""
    real = command.replace("localhost:3000", f"localhost:{port}")
    if real.startswith("airstream "):
        real = env["TRANSCRIPT_BIN"] + real[len("airstream"):]
    out = subprocess.run(["bash", "-c", real], env=env, capture_output=True, text=True, timeout=60)
    shown = out.stdout.replace("\r\n", "\n").replace(f":{port}", ":3000").rstrip("\n")
    if how == "exit-status":
        return f"{shown}\n$ echo $?\n{out.returncode}"
    if out.returncode != 0:
        sys.exit(f"`{command}` failed ({out.returncode}): {out.stderr}")
    return shown


def shape(output, how):
    if how == "sse":
        lines, kind = [], None
        for line in output.split("\n"):
            if line.startswith("event: "):
                kind = line[len("event: "):]
            if line.startswith("data: ") and kind in CUT_EVENTS and len(line) > CUT_AT:
                line = line[:CUT_AT] + "…"
            lines.append(line)
        return "\n".join(lines)
    if how == "first-offer":
        body = json.loads(output)
        body["data"]["offers"] = body["data"]["offers"][:1]
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    if how == "one-per-line":
        body = json.loads(output)
        items = ",\n".join(json.dumps(e, ensure_ascii=False, separators=(",", ":")) for e in body["data"])
        head = json.dumps({k: v for k, v in body.items() if k != "data"}, separators=(",", ":"))[:-1]
        return f'{head},"data":[\n{items}\n]}}'
    return output


PARTIAL_SEARCH = '{"from":"CGK","to":"DPS","date":"\'$DATE\'","passengers":2,"timeout_ms":150}'


def partial(port, env):
    """A search with a 150 ms budget, which some airlines miss: its POST,
    then its stream. Sent again until it ends `partial` (the airlines'
    latencies are random, so now and then every one answers in time)."""
    post_cmd = f"curl -s localhost:3000/api/flights/search {JSON_HEADER} -d '{PARTIAL_SEARCH}'"
    for _ in range(20):
        posted = run(post_cmd, port, env)
        sid = json.loads(posted)["data"]["search_id"]
        stream_cmd = f"curl -sN localhost:3000/api/flights/search/{sid}/stream"
        streamed = run(stream_cmd, port, env)
        if '"status":"partial"' in streamed:
            return f"$ {post_cmd}\n{posted}\n$ {stream_cmd}\n{shape(streamed, 'sse')}"
    sys.exit("no partial search in 20 tries")


def wait_ready(port, server):
    for _ in range(300):
        if server.poll() is not None:
            sys.exit(f"the server exited with status {server.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit("the server did not become ready")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_split(binary, port, env):
    """The walk-through of docs/architecture.md: a throw-away redis-server,
    two `providers` and two `api` processes (shown on ports 3001 to 3003
    and 3000), a search posted to one api process and read from the other."""
    work = tempfile.mkdtemp()
    rport = free_port()
    ports = [port + 10 + i for i in range(4)]  # shown as 3000 to 3003
    procs = [subprocess.Popen(["redis-server", "--port", str(rport), "--save", "", "--appendonly", "no",
                               "--dir", work], stdout=subprocess.DEVNULL)]
    try:
        time.sleep(0.5)
        base = dict(env, AIRSTREAM_REDIS_URL=f"redis://127.0.0.1:{rport}")
        for i, role in ((1, "providers"), (2, "providers"), (0, "api"), (3, "api")):
            procs.append(subprocess.Popen([binary, "serve", "--role", role], stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL,
                                          env=dict(base, AIRSTREAM_LISTEN=f"127.0.0.1:{ports[i]}")))
        wait_ready(ports[0], procs[-2])
        wait_ready(ports[3], procs[-1])
        time.sleep(1.5)  # the providers processes' first heartbeats

        def shown(command):
            real = command
            for i, p in enumerate(ports):
                real = real.replace(f"localhost:300{i}", f"localhost:{p}")
            out = subprocess.run(["bash", "-c", real], env=env, capture_output=True, text=True, timeout=60)
            text = out.stdout.rstrip("\n")
            for i, p in enumerate(ports):
                text = text.replace(f":{p}", f":300{i}")
            return f"$ {command}\n{text}"

        post = shown(f"curl -s localhost:3000/api/flights/search -d '{SEARCH}'")
        sid = json.loads(post.split("\n", 1)[1])["data"]["search_id"]
        env["SID"] = sid
        stream = shown("curl -sN localhost:3003/api/flights/search/$SID/stream | grep -E '^(id|event):' | paste - - | head -4")
        last = int(subprocess.run(["bash", "-c", f"curl -sN localhost:{ports[0]}/api/flights/search/{sid}/stream"
                                   " | grep '^id:' | tail -1 | cut -d' ' -f2"],
                                  capture_output=True, text=True).stdout)
        resume = shown(f"curl -sN -H 'Last-Event-ID: {last - 2}' localhost:3000/api/flights/search/$SID/stream"
                       " | grep -E '^(id|event):'")
        return "\n".join([post, stream, resume])
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(timeout=20)
        shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=3000)
    ap.add_argument("--bin", help="a built binary (default: build and use target/release/airstream)")
    args = ap.parse_args()
    os.chdir(ROOT)
    binary = args.bin
    if not binary:
        subprocess.run(["cargo", "build", "--release", "--quiet"], check=True)
        target = os.environ.get("CARGO_TARGET_DIR", "target")
        binary = os.path.join(target, "release", "airstream")
    binary = os.path.abspath(binary)

    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRSTREAM_") and k not in ("REDIS_URL", "RUST_LOG")}
    env["TRANSCRIPT_BIN"] = binary
    env["DATE"] = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=14)).strftime("%Y-%m-%d")
    # As the quick start: every interface.
    server_env = dict(env, AIRSTREAM_LISTEN=f"0.0.0.0:{args.port}")
    log = tempfile.TemporaryFile(mode="w+")
    server = subprocess.Popen([binary], env=server_env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_ready(args.port, server)
        blocks = {}
        # In order: the search the later commands name is the first one's.
        for name, (command, how) in COMMANDS.items():
            output = run(command, args.port, env, how)
            # The simulated airline fails now and then on purpose.
            while name == "sim" and '"data"' not in output:
                output = run(command, args.port, env)
            if name == "post-search":
                env["SID"] = json.loads(output.split("\n\n", 1)[1])["data"]["search_id"]
            if name == "family-search":
                env["FID"] = json.loads(output)["data"]["search_id"]
                # The offer below is shown once the search has finished.
                run(f"curl -sN localhost:3000/api/flights/search/{env['FID']}/stream", args.port, env)
            blocks[name] = f"$ {command}\n{shape(output, how)}"
        blocks["partial"] = partial(args.port, env)
    finally:
        server.terminate()
        server.wait(timeout=20)
    log.seek(0)
    # The start-up lines (no colours: the log is not a terminal).
    startup = log.read().split("\n")[:2]
    startup = "\n".join(l.replace(f":{args.port}", ":3000") for l in startup)
    blocks["startup-log"] = f"$ cargo run --release\n{startup}"
    if shutil.which("redis-server"):
        blocks["redis-split"] = redis_split(binary, args.port, env)
    else:
        print("no redis-server: the Redis transcript is left as it is", file=sys.stderr)

    used = set()
    for path in FILES:
        text = open(path, encoding="utf-8").read()

        def fill(m):
            name = m.group(2)
            if name not in blocks:
                if name == "redis-split":
                    return m.group(0)
                sys.exit(f"{path}: no transcript named `{name}`")
            used.add(name)
            return f"{m.group(1)}```console\n{blocks[name]}\n```\n{m.group(3)}"

        new = BLOCK.sub(fill, text)
        if new != text:
            open(path, "w", encoding="utf-8").write(new)
            print(f"updated {path}")
    unused = sorted(set(blocks) - used)
    if unused:
        print("transcripts shown nowhere: " + ", ".join(unused), file=sys.stderr)


if __name__ == "__main__":
    main()

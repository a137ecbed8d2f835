#!/usr/bin/env python3
"""Drives the record script (src/search/redis/lua/record.lua, with
common.lua before it) on a running redis-server the way an api process
does on five zero-latency airlines: each search's hash as it is stored,
then two batches of answers (three airlines, then two with the `complete`
event), each staged with a plain HSET just before its EVALSHA. The events
are filler of the real sizes (offers about 2 KB an airline, `complete`
about 10 KB). Speaks RESP over a plain socket: no client library needed.

    python3 bench/record_script.py --port 6405 --searches 1000 [--script FILE]
"""

import argparse
import pathlib
import random
import socket

ROOT = pathlib.Path(__file__).resolve().parent.parent
LUA = ROOT / "src" / "search" / "redis" / "lua"
AIRLINES = ["bench1", "bench2", "bench3", "bench4", "bench5"]
PENDING = '{"status":"pending","offers":0,"elapsed_ms":0,"error":null}'
OK = '{"status":"ok","offers":2,"elapsed_ms":2,"error":null}'
OFFERS = "o" + '{"type":"offers","offers":[' + ",".join(
    '{"id":"x%d","price":{"total":"123456"},"filler":"%s"}' % (i, "x" * 900) for i in range(2)
) + "]}"
PROVIDER = "p" + '{"type":"provider","provider":"bench1","status":"ok","offers":2,"elapsed_ms":2,"error":null,"cached":false}'
COMPLETE = "c" + '{"type":"complete","filler":"%s"}' % ("y" * 9800)


class Redis:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.reader = self.sock.makefile("rb")

    def call(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for arg in args:
            data = str(arg).encode() if not isinstance(arg, bytes) else arg
            out.append(b"$%d\r\n%s\r\n" % (len(data), data))
        self.sock.sendall(b"".join(out))
        return self.read()

    def read(self):
        line = self.reader.readline()
        kind, rest = line[:1], line[1:-2]
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind in (b"+", b":"):
            return rest
        if kind == b"$":
            size = int(rest)
            return None if size < 0 else self.reader.read(size + 2)[:-2]
        if kind == b"*":
            return [self.read() for _ in range(int(rest))]
        raise RuntimeError("unexpected reply %r" % line)


def staged():
    return "x:%016x" % random.getrandbits(64)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--searches", type=int, default=1000)
    parser.add_argument("--script", help="the record script (default: the repository's)")
    args = parser.parse_args()
    body = pathlib.Path(args.script).read_text() if args.script else (LUA / "record.lua").read_text()
    source = (LUA / "common.lua").read_text() + "\n" + body
    redis = Redis(args.port)
    sha = redis.call("SCRIPT", "LOAD", source).decode()
    for n in range(args.searches):
        key = "search:{bench-%d}" % n
        fields = ["status", "processing", "events", 0, "pending", len(AIRLINES), "total", 0,
                  "client", "in-flight:{bench}", "request", "r" * 300]
        for airline in AIRLINES:
            fields += ["p:" + airline, PENDING]
        redis.call("HSET", key, *fields)
        for batch, last in ((AIRLINES[:3], False), (AIRLINES[3:], True)):
            stage, argv = [], []
            for airline in batch:
                offers, provider = staged(), staged()
                stage += [offers, OFFERS, provider, PROVIDER]
                argv += [airline, OK, 2, 2, offers, provider]
            complete = ""
            if last:
                complete = staged()
                stage += [complete, COMPLETE]
            redis.call("HSET", key, *stage)
            reply = redis.call("EVALSHA", sha, 1, key, "bench tag", "search.events",
                               1_700_000_000_000, 6 if last else -1, complete, *argv)
        if reply[1] != b"2":
            raise SystemExit("search %d did not complete in the script: %r" % (n, reply))
    print("%d searches recorded, each completed by the script" % args.searches)


if __name__ == "__main__":
    main()

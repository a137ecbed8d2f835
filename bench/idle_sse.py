#!/usr/bin/env python3
"""Holds N idle SSE connections open against a running airstream and reports
the server's resident memory before and after.

Each connection belongs to its own search (POSTed first), answered by the
`bench/providers/slow` airline 25 s later, so every stream waits idle meanwhile.

    ulimit -n 65536
    AIRSTREAM_PROVIDERS_DIR=bench/providers/slow AIRSTREAM_SEARCH__MAX_TIMEOUT=60s \
        ./target/release/airstream serve &
    python3 bench/idle_sse.py --connections 10000 --pid $!
"""
import argparse
import asyncio
import json
import resource
import time

from benchlib import rss_kib


async def request(host, port, raw):
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(raw)
    await writer.drain()
    return reader, writer


async def post_search(host, port, date):
    body = json.dumps({"from": "CGK", "to": "DPS", "date": date, "passengers": 1,
                       "timeout_ms": 55000}).encode()
    raw = (f"POST /api/flights/search HTTP/1.1\r\nHost: {host}\r\n"
           f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
           f"Connection: close\r\n\r\n").encode() + body
    reader, writer = await request(host, port, raw)
    data = await reader.read()
    writer.close()
    payload = json.loads(data.split(b"\r\n\r\n", 1)[1])
    return payload["data"]["search_id"]


async def open_stream(host, port, search_id):
    raw = (f"GET /api/flights/search/{search_id}/stream HTTP/1.1\r\nHost: {host}\r\n"
           f"Accept: text/event-stream\r\n\r\n").encode()
    reader, writer = await request(host, port, raw)
    head = await reader.readuntil(b"\r\n\r\n")
    assert b" 200 " in head.split(b"\r\n", 1)[0], head
    return reader, writer


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=3000)
    ap.add_argument("--connections", type=int, default=10000)
    ap.add_argument("--pid", type=int, required=True, help="server process id")
    ap.add_argument("--one-search", action="store_true",
                    help="every connection streams the same search")
    ap.add_argument("--date", default=time.strftime("%Y-%m-%d", time.gmtime(time.time() + 14 * 86400)))
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    before = rss_kib(args.pid)
    sem = asyncio.Semaphore(200)

    shared = await post_search(args.host, args.port, args.date) if args.one_search else None

    async def one():
        async with sem:
            sid = shared or await post_search(args.host, args.port, args.date)
            return await open_stream(args.host, args.port, sid)

    started = time.time()
    streams = await asyncio.gather(*(one() for _ in range(args.connections)))
    opened = time.time() - started
    await asyncio.sleep(2)
    held = rss_kib(args.pid)
    print(json.dumps({
        "connections": len(streams),
        "open_seconds": round(opened, 1),
        "rss_before_mib": round(before / 1024, 1),
        "rss_with_idle_streams_mib": round(held / 1024, 1),
        "per_connection_kib": round((held - before) / len(streams), 1),
    }))
    for _, writer in streams:
        writer.close()


if __name__ == "__main__":
    asyncio.run(main())

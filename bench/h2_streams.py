#!/usr/bin/env python3
"""Resident memory per idle SSE stream over one HTTP/2 connection on TLS.

Makes a throw-away certificate for 127.0.0.1 (`openssl`), starts
`BIN serve` with it on a free port, serving `bench/providers/slow` (one
airline answering after 25 s, so every stream waits idle), then over ONE
TLS connection that negotiated `h2` by ALPN: POSTs N searches, reads the
server's RSS, opens N SSE streams at once (one per search), waits until
the server counts N open streams and one open connection, and reads the
RSS again. Prints the figures and KiB per stream: the stream alone (RSS
after the POSTs to RSS with the streams open), and with its search (RSS
at start to RSS with the streams open, as `bench/idle_sse.py` counts).

Needs the `h2` package (`pip install h2`); httpx is not used because its
HTTP/2 client opens at most 100 streams per connection.

    python3 bench/h2_streams.py --bin target/release/airstream --streams 500
"""

import argparse
import asyncio
import json
import os
import socket
import ssl
import subprocess
import tempfile
import time

import h2.config
import h2.connection
import h2.events
import h2.settings

from benchlib import free_port, rss_kib


def make_certificate(directory):
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True)
    return cert, key


def metric(text, name):
    total = 0.0
    for line in text.splitlines():
        series, _, value = line.rpartition(" ")
        if series == name or series.startswith(name + "{"):
            total += float(value)
    return total


class H2Client:
    """One HTTP/2 connection; requests are multiplexed on it."""

    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer
        config = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        self.conn = h2.connection.H2Connection(config=config)
        self.heads, self.bodies, self.done = {}, {}, {}

    async def start(self):
        self.conn.initiate_connection()
        # Wide windows: thousands of streams' first events never wait on
        # this client's flow control.
        self.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1 << 20})
        self.conn.increment_flow_control_window(1 << 30)
        self.flush()
        self.task = asyncio.create_task(self.read_loop())

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.writer.write(data)

    async def read_loop(self):
        while True:
            data = await self.reader.read(1 << 16)
            if not data:
                break
            for event in self.conn.receive_data(data):
                sid = getattr(event, "stream_id", None)
                if isinstance(event, h2.events.ResponseReceived):
                    head = self.heads.pop(sid, None)
                    if head is not None:
                        head.set_result(int(dict(event.headers)[":status"]))
                elif isinstance(event, h2.events.DataReceived):
                    self.bodies[sid] += event.data
                    self.conn.acknowledge_received_data(event.flow_controlled_length, sid)
                elif isinstance(event, h2.events.StreamEnded):
                    done = self.done.pop(sid, None)
                    if done is not None:
                        done.set_result(bytes(self.bodies.pop(sid, b"")))
            self.flush()
        for future in list(self.heads.values()) + list(self.done.values()):
            if not future.done():
                future.set_exception(ConnectionError("connection closed"))

    def send(self, method, path, body=None, accept="application/json"):
        """Sends a request; returns futures of its status and its body."""
        sid = self.conn.get_next_available_stream_id()
        loop = asyncio.get_running_loop()
        head, done = loop.create_future(), loop.create_future()
        self.heads[sid], self.done[sid], self.bodies[sid] = head, done, bytearray()
        headers = [(":method", method), (":path", path), (":scheme", "https"),
                   (":authority", "127.0.0.1"), ("accept", accept)]
        if body is not None:
            headers += [("content-type", "application/json"), ("content-length", str(len(body)))]
        self.conn.send_headers(sid, headers, end_stream=body is None)
        if body is not None:
            self.conn.send_data(sid, body, end_stream=True)
        self.flush()
        return head, done

    async def request(self, method, path, body=None):
        head, done = self.send(method, path, body)
        return await head, await done


async def run(args, port, pid):
    ctx = ssl.create_default_context()
    # A throw-away certificate this script just made.
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
    alpn = writer.get_extra_info("ssl_object").selected_alpn_protocol()
    assert alpn == "h2", f"ALPN chose {alpn!r}"
    client = H2Client(reader, writer)
    await client.start()

    start = rss_kib(pid)
    body = json.dumps({"from": "CGK", "to": "DPS", "date": args.date, "passengers": 1,
                       "timeout_ms": 55000}).encode()
    sem = asyncio.Semaphore(100)

    async def post():
        async with sem:
            status, answer = await client.request("POST", "/api/flights/search", body)
            assert status == 202, answer
            return json.loads(answer)["data"]["search_id"]

    ids = await asyncio.gather(*(post() for _ in range(args.streams)))
    await asyncio.sleep(2)
    before = rss_kib(pid)
    before_anon = rss_kib(pid, "RssAnon:")

    started = time.time()
    heads = [client.send("GET", f"/api/flights/search/{i}/stream", accept="text/event-stream")[0]
             for i in ids]
    statuses = await asyncio.gather(*heads)
    assert all(s == 200 for s in statuses), set(statuses)
    while True:
        _, text = await client.request("GET", "/metrics")
        text = text.decode()
        if metric(text, "airstream_sse_connections") >= args.streams:
            break
        await asyncio.sleep(0.1)
    opened = time.time() - started
    connections = metric(text, "airstream_http_connections")
    await asyncio.sleep(2)
    held = rss_kib(pid)
    held_anon = rss_kib(pid, "RssAnon:")
    print(json.dumps({
        "streams": args.streams,
        "connections": connections,
        "open_seconds": round(opened, 2),
        "rss_start_kib": start,
        "rss_before_kib": before,
        "rss_with_streams_kib": held,
        "per_stream_kib": round((held - before) / args.streams, 2),
        "per_stream_anon_kib": round((held_anon - before_anon) / args.streams, 2),
        # As bench/idle_sse.py counts: the stream and its search.
        "per_stream_with_search_kib": round((held - start) / args.streams, 2),
    }))
    writer.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/airstream")
    ap.add_argument("--dir", default="bench/providers/slow")
    ap.add_argument("--streams", type=int, default=500)
    ap.add_argument("--date", default=time.strftime("%Y-%m-%d", time.gmtime(time.time() + 14 * 86400)))
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        cert, key = make_certificate(tmp)
        port = free_port()
        env = dict(os.environ)
        env.update(
            AIRSTREAM_LISTEN=f"127.0.0.1:{port}",
            AIRSTREAM_PROVIDERS_DIR=args.dir,
            AIRSTREAM_LOG__FILTER="warn",
            AIRSTREAM_TLS__CERT_FILE=cert,
            AIRSTREAM_TLS__KEY_FILE=key,
            AIRSTREAM_SEARCH__MAX_TIMEOUT="60s",
            # Room for every stream, the POSTs and the metrics reads.
            AIRSTREAM_HTTP__MAX_CONCURRENT_STREAMS=str(max(1000, args.streams + 200)),
            AIRSTREAM_ACCESS__MAX_IN_FLIGHT=str(max(1000, args.streams)),
        )
        server = subprocess.Popen([args.bin, "serve"], env=env, stdout=subprocess.DEVNULL)
        try:
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            time.sleep(1)
            asyncio.run(run(args, port, server.pid))
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()

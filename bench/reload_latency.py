#!/usr/bin/env python3
"""Time from writing a provider file to its airline answering searches.

For each trial, writes a new provider file into the providers directory
that the running server(s) watch, then posts searches for that airline
until one is accepted and answered `ok`, and records the time since the
write. Prints p50 and max over the trials, then removes the files.

    python3 bench/reload_latency.py --url http://127.0.0.1:3000 --dir providers.d --trials 20
"""
import argparse, json, os, statistics, time, urllib.request, urllib.error, datetime

AIRLINE = """id: {id}
name: Reload Trial {n}
airline: RT
latency:
  fixed: 0ms
mock:
  currency: IDR
  routes:
    - from: CGK
      to: DPS
      flights:
        - {{ number: RT{n}, depart: "07:30", duration: 1h50m, fares: {{ economy: 1000000 }}, seats: 9 }}
"""


def post(url, body):
    req = urllib.request.Request(url + "/api/flights/search", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def answered_ok(url, stream_url, airline):
    with urllib.request.urlopen(url + stream_url, timeout=10) as r:
        for line in r:
            line = line.decode()
            if line.startswith("data: ") and '"type":"complete"' in line:
                data = json.loads(line[6:])
                return data["providers"][airline]["status"] == "ok"
    return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:3000")
    ap.add_argument("--dir", default="providers.d")
    ap.add_argument("--trials", type=int, default=20)
    args = ap.parse_args()
    date = (datetime.date.today() + datetime.timedelta(days=14)).isoformat()
    took, paths = [], []
    try:
        for n in range(args.trials):
            airline = f"reload-trial-{os.getpid()}-{n}"
            path = os.path.join(args.dir, f"{airline}.yaml")
            tmp = os.path.join(args.dir, f".{airline}.tmp")
            with open(tmp, "w") as f:
                f.write(AIRLINE.format(id=airline, n=n))
            start = time.monotonic()
            os.rename(tmp, path)
            paths.append(path)
            while True:
                status, body = post(args.url, {"from": "CGK", "to": "DPS", "date": date,
                                               "passengers": 1, "providers": [airline]})
                if status == 202 and answered_ok(args.url, body["data"]["stream_url"], airline):
                    break
                if time.monotonic() - start > 30:
                    raise SystemExit(f"{airline} never answered")
                time.sleep(0.005)
            took.append((time.monotonic() - start) * 1000)
            time.sleep(0.2)
    finally:
        for p in paths:
            os.remove(p)
    took.sort()
    print(f"{len(took)} trials: write to first answer p50 {statistics.median(took):.0f} ms, "
          f"max {took[-1]:.0f} ms (min {took[0]:.0f} ms)")


if __name__ == "__main__":
    main()

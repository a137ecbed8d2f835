#!/usr/bin/env python3
"""Regenerates data/airports.csv, the airport table airstream bundles.

The table comes from the PyPI package `airportsdata` (MIT licence, by
Mike Borsetti; data from OurAirports and other public sources). This
script downloads the pinned release with pip (no install), keeps the
airports that have an IATA code, and writes five columns: the IATA code,
name, city, ISO 3166 country code and IANA time zone, sorted by code.
The package's licence is copied beside the table.

    python3 scripts/airports.py             # the pinned release
    python3 scripts/airports.py 20260905    # another release
"""

import csv
import io
import os
import subprocess
import sys
import tempfile
import zipfile

RELEASE = sys.argv[1] if len(sys.argv) > 1 else "20260905"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "data")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
             "-d", tmp, f"airportsdata=={RELEASE}"],
            check=True,
        )
        wheel = next(os.path.join(tmp, f) for f in os.listdir(tmp) if f.endswith(".whl"))
        with zipfile.ZipFile(wheel) as z:
            table = z.read("airportsdata/airports.csv").decode("utf-8")
            licence = next(n for n in z.namelist() if n.endswith("/LICENSE"))
            licence_text = z.read(licence).decode("utf-8")
    rows = [r for r in csv.DictReader(io.StringIO(table)) if r["iata"].strip()]
    rows.sort(key=lambda r: r["iata"])
    os.makedirs(DATA, exist_ok=True)
    with open(os.path.join(DATA, "airports.csv"), "w", newline="", encoding="utf-8") as out:
        w = csv.writer(out, lineterminator="\n")
        w.writerow(["iata", "name", "city", "country", "tz"])
        for r in rows:
            w.writerow([r["iata"].strip().upper(), r["name"].strip(), r["city"].strip(),
                        r["country"].strip(), r["tz"].strip()])
    with open(os.path.join(DATA, "airports.LICENSE"), "w", encoding="utf-8") as out:
        out.write(f"data/airports.csv is derived from airportsdata {RELEASE} (PyPI):\n\n")
        out.write(licence_text)
    print(f"data/airports.csv: {len(rows)} airports from airportsdata {RELEASE}")


if __name__ == "__main__":
    main()

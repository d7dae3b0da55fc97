"""On the GPU machine: rebuild the bundle's files from the parts that have arrived (bundle.py).

    python3 benchmarks/gpu/assemble.py DEST

Writes each file whose chunks are all in .device/ to DEST/<name> after checking its sha256, and
prints one line per file still missing a part; exit 0 either way (replicate.sh runs what it can).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

BUNDLE = Path(".device")


def main() -> None:
    dest = Path(sys.argv[1])
    manifest = json.loads((BUNDLE / "part1" / "manifest.json").read_text())
    complete = missing = 0
    for name, entry in manifest["files"].items():
        target = dest / name
        if target.is_file() and target.stat().st_size == entry["bytes"]:
            complete += 1
            continue
        absent = [c for c in entry["chunks"] if not (BUNDLE / c).is_file()]
        if absent:
            missing += 1
            print(f"assemble: {name}: waiting for {absent[0].split('/')[0]}")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        with target.open("wb") as out:
            for chunk in entry["chunks"]:
                data = (BUNDLE / chunk).read_bytes()
                digest.update(data)
                out.write(data)
        if digest.hexdigest() != entry["sha256"]:
            target.unlink()
            sys.exit(f"assemble: {name}: sha256 differs from the manifest; a part arrived damaged, send it again")
        complete += 1
    print(f"assemble: {complete} files ready in {dest}, {missing} waiting for parts not sent yet")


if __name__ == "__main__":
    main()

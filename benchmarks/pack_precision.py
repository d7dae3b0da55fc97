"""Task pack size and precision: a trained fp32 pack against its float16 and bfloat16 copies.

    .venv/bin/python benchmarks/pack_precision.py [--pack runs/quickstart/adapter/seed=0/pack] [--n 445] [--smoke]

Takes a trained pack (by default the quickstart's BBC News adapter), stores it again in each
precision, loads each copy onto a fresh MiniLM and compares sizes, logits and predictions on
BBC News articles. The full model's size is the backbone's safetensors file. With --smoke: a
random pack on a tiny random BERT and a few toy sentences.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from smoke import WORDS, add_smoke_argument, apply_smoke  # noqa: E402
from train_throughput import backbone  # noqa: E402


def load_texts(n: int) -> list[str]:
    from adapterlab.data.readers import read_folder
    from adapterlab.quickstart import bbc_news_folder

    examples = read_folder(bbc_news_folder(), encoding="latin-1")
    return [e.text for e in examples[:: max(1, len(examples) // n)]][:n]


def random_pack(model_path: str, folder: Path) -> Path:
    """A pack with visible random adapters (std 0.05) and a 3-label head, as a trained one would be."""
    import transformers

    import adapterlab as al

    torch.manual_seed(0)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(model_path, num_labels=3)
    labels = ["business", "sport", "tech"]
    al.add_adapters(model, al.AdapterConfig(size=8, init_std=0.05), name="topic", labels=labels)
    return al.save_adapter(model, folder, name="topic", labels=labels).path


def logits_of(pack: Path, texts: list[str], model_path: str | None = None) -> torch.Tensor:
    import transformers

    import adapterlab as al

    info = al.read_pack_info(pack)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(
        backbone(model_path), num_labels=info.num_labels
    )
    al.load_adapter(model, pack)
    tokenizer = transformers.AutoTokenizer.from_pretrained(backbone(model_path))
    model.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(texts), 32):
            batch = tokenizer(
                texts[start : start + 32], truncation=True, max_length=128, padding=True, return_tensors="pt"
            )
            out.append(model(**batch).logits)
    return torch.cat(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pack", default="runs/quickstart/adapter/seed=0/pack")
    parser.add_argument("--n", type=int, default=445, help="articles to compare on")
    parser.add_argument("--model", help="backbone folder of the pack (default: the embedded MiniLM)")
    add_smoke_argument(parser)
    args = parser.parse_args()
    folder = apply_smoke(args, n=8)
    import transformers

    import adapterlab as al

    transformers.logging.set_verbosity_error()
    if folder is not None:
        args.pack = str(random_pack(args.model, folder / "pack"))
    pack = Path(args.pack)
    if not pack.is_dir():
        print(f"no pack at {pack}: run `make quickstart` first or pass --pack", file=sys.stderr)
        return 2
    model_bytes = sum(f.stat().st_size for f in Path(backbone(args.model)).glob("*.safetensors"))
    texts = [" ".join(WORDS[i : i + 12]) for i in range(args.n)] if args.smoke else load_texts(args.n)
    reference = logits_of(pack, texts, args.model)
    print(
        f"pack {pack}, {len(texts)} {'toy sentences' if args.smoke else 'BBC News articles'}, full model {model_bytes / 1e6:.1f} MB"
    )
    print(
        "| stored as | pack size | of the model | max abs logit change | predictions changed |\n|---|---|---|---|---|"
    )
    info = al.read_pack_info(pack)
    with tempfile.TemporaryDirectory() as scratch:
        for dtype in ("float32", "float16", "bfloat16"):
            model = transformers.AutoModelForSequenceClassification.from_pretrained(
                backbone(args.model), num_labels=info.num_labels
            )
            al.load_adapter(model, pack)
            saved = al.save_adapter(model, Path(scratch) / dtype, name=info.name, labels=info.labels, dtype=dtype)
            logits = logits_of(saved.path, texts, args.model)
            changed = int((logits.argmax(-1) != reference.argmax(-1)).sum())
            print(
                f"| {dtype} | {saved.size_bytes / 1e6:.2f} MB | {100 * saved.size_bytes / model_bytes:.1f}% | "
                f"{(logits - reference).abs().max().item():.1e} | {changed} of {len(texts)} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())

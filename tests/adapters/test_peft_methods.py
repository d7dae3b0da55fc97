"""PEFT's methods (LoRA, LoHa, IA3) through peft (adapters/peft_methods.py) under the paper's freeze
policy, on every supported architecture: an identity at start, only the method's weights /
LayerNorms / head train, closed-form counts, pack round trip, one-line errors, and runs through
the CLI and a study."""

import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parents[1]))

pytest.importorskip("peft")

from tiny import (  # noqa: E402
    ARCHS,
    HIDDEN,
    INTERMEDIATE,
    LAYERS,
    outputs,
    random_batch,
    save_tiny_backbone,
    tiny_model,
    write_sentiment_tsv,
)

from adapterlab.adapters.freezing import count_parameters  # noqa: E402
from adapterlab.adapters.io import backbone_identity  # noqa: E402
from adapterlab.adapters.peft_methods import (  # noqa: E402
    MARKS,
    PEFT_METHODS,
    RANK_TARGETS,
    PeftSettings,
    add_peft,
    merge_peft,
    set_peft_trainable,
)
from adapterlab.adapters.peft_packs import load_peft_pack, read_peft_manifest, save_peft_pack  # noqa: E402
from adapterlab.adapters.structure import head_paths, layernorm_paths  # noqa: E402
from adapterlab.errors import AdapterlabError  # noqa: E402

R = 4


def _train_steps(model, batch, steps=3):
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    for _ in range(steps):
        loss = outputs(model, batch).float().pow(2).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return model.eval()


def _closed_form(method: str, arch: str) -> int:
    """Trainable weights the method adds, per its paper, for the tiny model (d = HIDDEN, FFN
    inner size INTERMEDIATE, LAYERS layers; query/value or key/value projections are d x d).
    LoRA: A (r x d) + B (d x r) per target. LoHa: two such pairs per target (B1 A1 ∘ B2 A2).
    IA3: one vector per target, l_k and l_v of size d, l_ff of the FFN's inner size."""
    targets = len(RANK_TARGETS[arch])
    if method == "lora":
        return LAYERS * targets * 2 * R * HIDDEN
    if method == "loha":
        return LAYERS * targets * 4 * R * HIDDEN
    return LAYERS * (2 * HIDDEN + INTERMEDIATE)


@pytest.mark.parametrize("method", PEFT_METHODS)
@pytest.mark.parametrize("arch", ARCHS)
def test_method_starts_as_the_bare_model_and_trains_only_its_share(arch, method):
    batch = random_batch()
    bare, model = tiny_model(arch), tiny_model(arch)
    add_peft(model, PeftSettings(method, r=R))
    assert torch.allclose(outputs(model, batch), outputs(bare, batch), atol=1e-6)  # the identity at start
    set_peft_trainable(model)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    _train_steps(model, batch)
    trainable_paths = head_paths(model) + layernorm_paths(model)
    own = [n for n, _ in model.named_parameters() if MARKS[method] in n]
    assert own, f"{arch}: {method} added no weights"
    for name, param in model.named_parameters():
        moved = not torch.equal(before[name], param)
        if name in own or any(name.startswith(p + ".") for p in trainable_paths):
            continue
        assert not moved, f"{arch}: {name} changed but is frozen"
    assert any(not torch.equal(before[n], dict(model.named_parameters())[n]) for n in own), (
        f"{arch}: {method} did not train"
    )
    assert not torch.allclose(outputs(model, batch), outputs(bare, batch), atol=1e-4)
    # nothing in the head: the pooler trains whole, so no method wraps it
    assert not any(MARKS[method] in n and n.startswith(p + ".") for n in own for p in head_paths(model))


@pytest.mark.parametrize("method", PEFT_METHODS)
@pytest.mark.parametrize("arch", ARCHS)
def test_parameter_counts_match_the_closed_form(arch, method):
    model = tiny_model(arch)
    add_peft(model, PeftSettings(method, r=R))
    set_peft_trainable(model)
    counts = count_parameters(model)
    assert counts.adapter == _closed_form(method, arch)
    norms = sum(p.numel() for path in layernorm_paths(model) for p in model.get_submodule(path).parameters())
    head = sum(p.numel() for path in head_paths(model) for p in model.get_submodule(path).parameters())
    assert counts.layernorm == norms and counts.head == head and counts.other == 0
    assert counts.trainable == counts.adapter + norms + head
    assert counts.trainable == sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen_norms = tiny_model(arch)
    add_peft(frozen_norms, PeftSettings(method, r=R, layernorm=False))
    set_peft_trainable(frozen_norms)
    assert (
        count_parameters(frozen_norms).layernorm == 0
        and count_parameters(frozen_norms).trainable == counts.adapter + head
    )


def test_ia3_scales_the_feed_forward_input_and_not_the_attention_output():
    """T-Few §3.3: l_ff scales the FFN's inner activations, the input of its output projection; on
    BERT that is layer.N.output.dense, not layer.N.attention.output.dense, which ends the same way."""
    model = tiny_model("bert")
    add_peft(model, PeftSettings("ia3"))
    shapes = {n: tuple(p.shape) for n, p in model.named_parameters() if "ia3_l" in n}
    assert shapes["bert.encoder.layer.0.output.dense.ia3_l.default"] == (1, INTERMEDIATE)  # input side
    assert shapes["bert.encoder.layer.0.attention.self.key.ia3_l.default"] == (HIDDEN, 1)  # output side
    assert not any("attention.output" in n for n in shapes)


@pytest.mark.parametrize("method", PEFT_METHODS)
@pytest.mark.parametrize("arch", ["bert", "roberta", "distilbert"])
def test_pack_round_trip_gives_identical_logits(arch, method, tmp_path):
    batch = random_batch()
    model = tiny_model(arch, seed=0)
    add_peft(model, PeftSettings(method, r=R, alpha=8))
    set_peft_trainable(model)
    _train_steps(model, batch)
    size = save_peft_pack(model, tmp_path / "pack", ["a", "b", "c"], backbone_identity(model))
    assert (tmp_path / "pack").stat().st_mode & 0o777 == 0o755
    assert all(f.stat().st_mode & 0o777 == 0o644 for f in (tmp_path / "pack").iterdir())
    assert size > 0 and {p.name for p in (tmp_path / "pack").iterdir()} == {
        "adapter_model.safetensors",
        "adapter_config.json",
        "manifest.json",
    }
    assert (
        json.loads((tmp_path / "pack" / "adapter_config.json").read_text())["peft_type"] == method.upper()
    )  # PEFT's own format
    fresh = tiny_model(arch, seed=0)  # the same backbone weights, a fresh head
    manifest = load_peft_pack(fresh, tmp_path / "pack", backbone_identity(fresh))
    assert manifest["labels"] == ["a", "b", "c"] and manifest["method"] == method
    assert torch.equal(outputs(fresh, batch), outputs(model, batch))
    # merged for analyses: plain weights, the same outputs up to rounding
    merged = merge_peft(fresh)
    assert not any(MARKS[method] in n for n, _ in merged.named_parameters())
    assert torch.allclose(outputs(merged, batch), outputs(model, batch), atol=1e-5)


# PEFT's own loader (PeftModel.__init__) reads transformers' deprecated is_gradient_checkpointing: PEFT's to
# change, not adapterlab's, which never calls it on transformers 5
@pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")
@pytest.mark.parametrize("method", PEFT_METHODS)
@pytest.mark.parametrize("arch", ["bert", "roberta", "distilbert"])
def test_peft_itself_loads_a_pack_into_the_task_model(arch, method, tmp_path):
    """PeftModel.from_pretrained(task model, pack), without adapterlab, gives adapterlab's logits:
    the pack is PEFT's layout, with the head and the trained LayerNorms as modules_to_save."""
    import peft

    batch = random_batch()
    model = tiny_model(arch, seed=0)
    add_peft(model, PeftSettings(method, r=R, alpha=8))
    set_peft_trainable(model)
    _train_steps(model, batch)
    save_peft_pack(model, tmp_path / "pack", None, backbone_identity(model))
    loaded = peft.PeftModel.from_pretrained(tiny_model(arch, seed=0), str(tmp_path / "pack")).eval()
    assert torch.equal(outputs(loaded, batch), outputs(model, batch))


def test_a_format_2_pack_still_loads(tmp_path):
    """Packs written before PEFT's task-model layout: keys relative to the encoder, the head and
    LayerNorms in task.safetensors."""
    batch = random_batch()
    model = tiny_model("bert", seed=0)
    add_peft(model, PeftSettings("lora", r=R))
    set_peft_trainable(model)
    _train_steps(model, batch)
    pack = tmp_path / "pack"
    save_peft_pack(model, pack, None, backbone_identity(model))
    _as_format_2(pack)
    fresh = tiny_model("bert", seed=0)
    load_peft_pack(fresh, pack, backbone_identity(fresh))
    assert torch.equal(outputs(fresh, batch), outputs(model, batch))


def _as_format_2(pack: Path) -> None:
    """Rewrite a BERT pack as format_version 2 wrote it."""
    from safetensors.torch import load_file, save_file

    manifest = json.loads((pack / "manifest.json").read_text())
    weights = load_file(str(pack / "adapter_model.safetensors"))
    heads, norms = manifest.pop("heads"), manifest.pop("layernorms")
    method, task = {}, {}
    for key, tensor in weights.items():
        name = key.removeprefix("base_model.model.")
        if any(name.startswith(h + ".") for h in heads):
            task[f"heads.{name}"] = tensor
        elif any(name.startswith(n + ".") for n in norms):
            task[f"layernorms.{name.removeprefix('bert.')}"] = tensor
        else:
            method[name.removeprefix("bert.")] = tensor
    save_file(method, str(pack / "adapter_model.safetensors"))
    save_file(task, str(pack / "task.safetensors"))
    del manifest["base_path"]
    (pack / "manifest.json").write_text(json.dumps({**manifest, "format_version": 2}))


def test_a_format_1_lora_pack_still_loads(tmp_path):
    """Packs written before IA3 and LoHa ("adapterlab-lora-pack", settings under "lora") read as LoRA."""
    batch = random_batch()
    model = tiny_model("bert", seed=0)
    add_peft(model, PeftSettings("lora", r=R))
    set_peft_trainable(model)
    _train_steps(model, batch)
    save_peft_pack(model, tmp_path / "pack", None, backbone_identity(model))
    _as_format_2(tmp_path / "pack")
    manifest_file = tmp_path / "pack" / "manifest.json"
    manifest = json.loads(manifest_file.read_text())
    old = {k: v for k, v in manifest.items() if k not in ("method", "settings")}
    old.update(
        format="adapterlab-lora-pack",
        format_version=1,
        lora={k: v for k, v in manifest["settings"].items() if k not in ("method", "feedforward")},
    )
    manifest_file.write_text(json.dumps(old))
    fresh = tiny_model("bert", seed=0)
    load_peft_pack(fresh, tmp_path / "pack", backbone_identity(fresh))
    assert torch.equal(outputs(fresh, batch), outputs(model, batch))


@pytest.mark.parametrize(
    "method, recorded",
    [
        ("ia3", {"targets", "feedforward"}),
        ("loha", {"r", "alpha", "targets"}),
        ("lora", {"r", "alpha", "dropout", "targets"}),
    ],
)
def test_the_manifest_records_only_what_the_method_uses(tmp_path, method, recorded):
    model = tiny_model("bert")
    add_peft(model, PeftSettings(method, r=4))
    save_peft_pack(model, tmp_path / "pack", None, backbone_identity(model))
    settings = json.loads((tmp_path / "pack" / "manifest.json").read_text())["settings"]
    assert set(settings) == {"method", "layernorm"} | recorded  # an IA3 pack records no rank it never had
    _, read = read_peft_manifest(tmp_path / "pack")
    assert read.method == method and (read.r == 4 if "r" in recorded else read.r == PeftSettings().r)


def test_pack_on_another_backbone_is_a_one_line_error(tmp_path):
    model = tiny_model("bert")
    add_peft(model, PeftSettings("ia3"))
    save_peft_pack(model, tmp_path / "pack", None, backbone_identity(model))
    other = tiny_model("roberta")
    with pytest.raises(AdapterlabError, match="trained on another backbone"):
        load_peft_pack(other, tmp_path / "pack", backbone_identity(other))


def test_unknown_target_and_bad_settings_are_one_line_errors():
    model = tiny_model("bert")
    with pytest.raises(AdapterlabError, match="q_proj' not found in BertModel.*query"):
        add_peft(model, PeftSettings(targets=("q_proj",)))
    with pytest.raises(AdapterlabError, match="loha target module 'dense' not found"):
        add_peft(tiny_model("distilbert"), PeftSettings("loha", targets=("dense",)))
    with pytest.raises(AdapterlabError, match="ia3 cannot adapt LayerNorm"):
        add_peft(tiny_model("bert"), PeftSettings("ia3", targets=("LayerNorm",)))
    assert PeftSettings(r=0, alpha=-1, dropout=1.5, targets=()).problems() == [
        "lora_r=0: must be an integer >= 1",
        "lora_alpha=-1: must be a number > 0",
        "lora_dropout=1.5: must be in [0, 1)",
        "lora_targets=(): must name one or more modules, e.g. query,value",
    ]
    assert PeftSettings("loha", dropout=0.1).problems() == [
        "lora_dropout=0.1: LoRA's input dropout; method loha has none (leave it at 0)"
    ]
    assert PeftSettings("lora", feedforward=("x",)).problems() == [
        "ia3_feedforward='x': only method ia3 scales feed-forward inputs"
    ]
    assert PeftSettings("ia3", targets=("query(",)).problems() == [
        "lora_targets: 'query(' is not a module name or regular expression"
    ]
    with pytest.raises(AdapterlabError, match="names only modules of the head"):
        add_peft(tiny_model("bert"), PeftSettings("lora", targets=("pooler.dense",)))
    with pytest.raises(AdapterlabError, match="ia3_feedforward 'output.dense' matches none of the targets"):
        add_peft(tiny_model("bert"), PeftSettings("ia3", targets=("key", "value"), feedforward=("output.dense",)))


def test_a_target_that_matches_the_pooler_leaves_it_to_the_head():
    """`dense` names the pooler's projection too; the pooler belongs to the head and trains whole."""
    model = tiny_model("bert")
    add_peft(model, PeftSettings("lora", r=R, targets=("dense",)))
    wrapped = {n.rsplit(".lora_", 1)[0] for n, _ in model.named_parameters() if "lora_" in n}
    assert wrapped and not any("pooler" in n for n in wrapped)
    assert len(wrapped) == LAYERS * 3  # attention output, intermediate, output


def test_a_lora_run_through_the_cli(tmp_path, capsys):
    from adapterlab.cli import main

    model = save_tiny_backbone(tmp_path / "model", dropout=0.0)
    write_sentiment_tsv(tmp_path / "train.tsv", 80, seed=0)
    write_sentiment_tsv(tmp_path / "dev.tsv", 30, seed=1)
    common = [
        "train",
        "--model",
        str(model),
        "--task",
        "sst2",
        "--train",
        str(tmp_path / "train.tsv"),
        "--dev",
        str(tmp_path / "dev.tsv"),
        "--train-size",
        "40",
        "--validation-size",
        "20",
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--max-length",
        "32",
        "--no-progress",
    ]
    assert (
        main(
            [
                *common,
                "--method",
                "lora",
                "--lora-r",
                "4",
                "--lora-alpha",
                "8",
                "--lr",
                "1e-2",
                "--out",
                str(tmp_path / "run"),
            ]
        )
        == 0
    )
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["status"] == "ok" and result["method"] == "lora"
    assert result["params_by_role"]["lora"] == LAYERS * 2 * 2 * 4 * HIDDEN and result["params_by_role"]["other"] == 0
    # pack_bytes: what loading needs (weights and manifests), without the card and provenance written after
    assert result["pack_bytes"] == sum(
        f.stat().st_size
        for f in (tmp_path / "run" / "pack").iterdir()
        if f.name not in ("README.md", "provenance.json")
    )
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["method"] == "lora" and config["lora_r"] == 4 and config["lora_alpha"] == 8
    # the card's PEFT-only snippet, run as written (placeholders filled), gives adapterlab's logits
    from adapterlab.use.load import load_task

    card = (tmp_path / "run" / "pack" / "README.md").read_text()
    snippet = card.split("```python\n")[1].split("```")[0]
    scope: dict = {}
    exec(
        snippet.replace("'BASE_MODEL_FOLDER'", repr(str(model))).replace(
            '"THIS_FOLDER"', repr(str(tmp_path / "run" / "pack"))
        ),
        scope,
    )
    ours, batch = load_task(tmp_path / "run" / "pack", str(model)), random_batch()
    assert torch.allclose(scope["model"].eval()(**batch).logits, ours.model(**batch).logits, atol=1e-6)
    capsys.readouterr()
    assert main([*common, "--method", "adapter", "--lora-r", "4", "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err
    assert (
        "--lora-r applies to methods lora, loha" in err
        and len(err.strip().splitlines()) == 1
        and not (tmp_path / "bad").exists()
    )
    for method, added in (("loha", LAYERS * 2 * 4 * 4 * HIDDEN), ("ia3", LAYERS * (2 * HIDDEN + INTERMEDIATE))):
        rank = ["--lora-r", "4"] if method == "loha" else []
        assert main([*common, "--method", method, *rank, "--lr", "1e-2", "--out", str(tmp_path / method)]) == 0
        result = json.loads((tmp_path / method / "result.json").read_text())
        assert result["status"] == "ok" and result["params_by_role"][method] == added
        assert f"{method} " in (tmp_path / method / "pack" / "README.md").read_text().lower()
    assert main([*common, "--method", "lora", "--lora-targets", "q_proj", "--out", str(tmp_path / "bad2")]) == 2
    err = capsys.readouterr().err
    assert "q_proj' not found" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    # found before the run folder exists: no failed run is left behind
    assert not (tmp_path / "bad2").exists()
    assert main([*common, "--method", "lora", "--lora-targets", "LayerNorm", "--out", str(tmp_path / "bad3")]) == 2
    err = capsys.readouterr().err
    assert (
        "lora cannot adapt LayerNorm" in err and len(err.strip().splitlines()) == 1 and not (tmp_path / "bad3").exists()
    )


def test_the_cards_peft_snippet_gives_adapterlabs_logits_on_a_half_precision_checkpoint(tmp_path):
    """adapterlab computes in float32 whatever the checkpoint's dtype; the card's snippet must too."""
    import transformers

    from adapterlab.cli import main
    from adapterlab.use.load import load_task

    model = save_tiny_backbone(tmp_path / "model", dropout=0.0)
    half = tmp_path / "half"
    transformers.AutoModel.from_pretrained(model).half().save_pretrained(half)
    transformers.AutoTokenizer.from_pretrained(model).save_pretrained(half)
    write_sentiment_tsv(tmp_path / "train.tsv", 40, seed=0)
    write_sentiment_tsv(tmp_path / "dev.tsv", 20, seed=1)
    assert (
        main(
            [
                "train",
                "--model",
                str(half),
                "--task",
                "sst2",
                "--train",
                str(tmp_path / "train.tsv"),
                "--dev",
                str(tmp_path / "dev.tsv"),
                "--validation-size",
                "10",
                "--epochs",
                "1",
                "--batch-size",
                "8",
                "--max-length",
                "32",
                "--no-progress",
                "--method",
                "lora",
                "--lr",
                "1e-2",
                "--out",
                str(tmp_path / "run"),
            ]
        )
        == 0
    )
    card = (tmp_path / "run" / "pack" / "README.md").read_text()
    snippet = card.split("```python\n")[1].split("```")[0]
    scope: dict = {}
    exec(
        snippet.replace("'BASE_MODEL_FOLDER'", repr(str(half))).replace(
            '"THIS_FOLDER"', repr(str(tmp_path / "run" / "pack"))
        ),
        scope,
    )
    batch = random_batch()
    theirs, ours = (
        scope["model"].eval()(**batch).logits,
        load_task(tmp_path / "run" / "pack", str(half)).model(**batch).logits,
    )
    assert theirs.dtype == ours.dtype == torch.float32 and torch.allclose(theirs, ours, atol=1e-6)


def test_tapt_with_a_peft_method_hands_its_weights_to_the_task_run(tmp_path, monkeypatch):
    """LoRA TAPT trains LoRA, the LayerNorms and the MLM head (not the tied embeddings); the task run
    starts from the LoRA weights TAPT left (a fresh LoRA's B is zero) and from the base embeddings."""
    from safetensors.torch import load_file

    import adapterlab.train.run as run_module
    from adapterlab.cli import main
    from adapterlab.train.method import apply_method

    model = save_tiny_backbone(tmp_path / "model", dropout=0.0)
    write_sentiment_tsv(tmp_path / "train.tsv", 60, seed=0)
    write_sentiment_tsv(tmp_path / "dev.tsv", 30, seed=1)
    started = {}

    def spy(task_model, config, name, tapt=None):
        counts = apply_method(task_model, config, name, tapt)
        started.update(
            {n: p.detach().clone() for n, p in task_model.named_parameters() if "lora_B" in n or "word_embeddings" in n}
        )
        return counts

    monkeypatch.setattr(run_module, "apply_method", spy)
    assert (
        main(
            [
                "train",
                "--model",
                str(model),
                "--task",
                "sst2",
                "--train",
                str(tmp_path / "train.tsv"),
                "--dev",
                str(tmp_path / "dev.tsv"),
                "--train-size",
                "32",
                "--validation-size",
                "16",
                "--epochs",
                "1",
                "--batch-size",
                "8",
                "--max-length",
                "24",
                "--no-progress",
                "--method",
                "lora",
                "--lora-r",
                "4",
                "--lr",
                "1e-2",
                "--tapt",
                "--tapt-epochs",
                "2",
                "--tapt-head",
                "fresh",
                "--out",
                str(tmp_path / "run"),
            ]
        )
        == 0
    )
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["status"] == "ok" and result["tapt"]["status"] == "ok" and result["tapt"]["steps"] == 8
    b_matrices = [t for n, t in started.items() if "lora_B" in n]
    assert len(b_matrices) == LAYERS * 2 and all(t.abs().sum() > 0 for t in b_matrices)  # TAPT's LoRA, not a fresh one
    base = load_file(str(model / "model.safetensors"))
    embedding = next(t for n, t in started.items() if "word_embeddings" in n)
    assert torch.equal(embedding, next(v for k, v in base.items() if k.endswith("word_embeddings.weight")))
    assert not (tmp_path / "run" / "tapt_encoder.safetensors").exists()  # a resume's state, cleared at the end


def test_a_study_compares_adapters_lora_and_fine_tuning(tiny_world, tmp_path):
    """method: [adapter, finetune, lora] with LoRA's rank a per-method axis chosen on validation: the
    report has LoRA columns, a selected one, and LoRA-vs-fine-tuning tests paired by seed."""
    from studyworld import tiny_spec

    from adapterlab.report.build import build_report
    from adapterlab.study.executor import run_study
    from adapterlab.study.spec import expand_spec

    root, model = tiny_world
    spec = tiny_spec(root, model, seeds=(0, 1))
    spec["grid"]["method"] = ["adapter", "finetune", "lora"]
    spec["by_method"]["lora"] = {"lr": 1e-2, "lora_r": [2, 4]}
    spec["report"] = {"select": ["lr", "adapter_size", "lora_r"]}
    plan = expand_spec(spec)
    assert (
        len({r.key for r in plan.runs if r.config.method == "lora"}) == 2
        and sum(r.config.method == "lora" for r in plan.runs) == 4
    )
    run_study(plan, tmp_path / "out", isolation="inline")
    report = build_report(tmp_path / "out")
    significance = json.loads((tmp_path / "out" / "report" / "significance.json").read_text())
    tests = significance if isinstance(significance, list) else significance.get("tests", [])
    lora_tests = [t for t in tests if t["adapter"].startswith("lora")]
    assert {t["adapter"] for t in lora_tests} >= {"lora lora_r=2", "lora lora_r=4", "lora lora_r=best"}, [
        t["adapter"] for t in tests
    ]
    versus_finetune = [t for t in lora_tests if t["reference"] == "finetune"]
    assert versus_finetune and all(
        t["finetune"].startswith("finetune") and t["n_adapter"] == 2 for t in versus_finetune
    )
    # LoRA against adapters too: the selected LoRA column against the adapter column, in a family of its own
    versus_adapter = [t for t in lora_tests if t["reference"] == "adapter"]
    assert versus_adapter and all(
        t["finetune"].startswith("adapter") and t["family"].endswith("vs adapter") for t in versus_adapter
    )
    assert all(
        t["verdict"] in ("inconclusive", "no verdict", "LoRA better", "adapter better", "fine-tuning better")
        for t in tests
    )
    table = (tmp_path / "out" / "report" / "table.md").read_text()
    assert "lora_r=best" in table
    del report


def test_rsa_and_crosslingual_analyses_read_peft_runs(tiny_world, tmp_path):
    """`study analyze` on LoRA and IA3 runs: RSA merges the method into the encoder, zero-shot
    evaluation loads the pack with its head; both give a row per run."""
    from studyworld import tiny_spec

    from adapterlab.cli import main
    from adapterlab.study.executor import run_study
    from adapterlab.study.spec import expand_spec

    root, model = tiny_world
    for lang, seed in (("en", 5), ("zh", 6)):
        write_sentiment_tsv(tmp_path / f"dev-{lang}.tsv", 20, seed)
    raw = tiny_spec(root, model, seeds=(0,))
    raw["grid"]["method"] = ["lora", "ia3", "adapter"]
    raw["by_method"]["lora"] = {"lr": 1e-2, "lora_r": 2}
    raw["by_method"]["ia3"] = {"lr": 3e-2}
    raw["analysis"] = {
        "rsa": {"task": "sst2", "data": str(root / "dev.tsv"), "n": 100, "max_length": 32},
        "crosslingual": {"sst2": {"pattern": str(tmp_path / "dev-{lang}.tsv"), "languages": ["en", "zh"]}},
    }
    out = tmp_path / "out"
    run_study(expand_spec(raw), out, isolation="inline")
    assert main(["study", "analyze", str(out)]) == 0
    rsa = (out / "analysis" / "rsa" / "rsa.csv").read_text().splitlines()
    assert (
        sum(",lora," in line for line in rsa) == 3 and sum(",ia3," in line for line in rsa) == 3
    )  # embeddings + 2 layers
    lora_rows = [line for line in rsa if ",lora," in line]
    assert any(not line.split(",")[-2].startswith("1.0") for line in lora_rows)  # LoRA moved the top layers
    analysis = json.loads((out / "analysis" / "crosslingual_sst2.json").read_text())
    assert {r["method"] for r in analysis["runs"]} == {"lora", "ia3", "adapter"}
    assert main(["study", "report", str(out)]) == 0

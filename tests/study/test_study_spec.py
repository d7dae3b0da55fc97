"""Study specs: expansion, validation of every block, and every shipped spec."""

from pathlib import Path

import pytest
from studyworld import spec_errors, tiny_spec, write_spec
from tiny import write_sentiment_tsv

from adapterlab.cli import main
from adapterlab.errors import AdapterlabError
from adapterlab.study.spec import expand_spec, load_spec

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"


def test_expansion_counts_and_folder_names_leave_out_the_seed(tiny_world):
    root, model = tiny_world
    spec = expand_spec(tiny_spec(root, model, seeds=(0, 1, 2), adapter_size=[8, 16], train_size=[20, 30]))
    # adapter: 2 sizes x 2 k x 3 seeds = 12; finetune: 2 k x 3 seeds = 6 (sizes do not multiply it)
    assert len(spec.runs) == 18
    keys = {r.key for r in spec.runs}
    assert len(keys) == 6
    assert all("seed" not in key for key in keys)
    assert "sst2/adapter-m16-lr0.001-k30" in keys and "sst2/finetune-lr0.001-k20" in keys
    assert {r.relative_dir.rsplit("/", 1)[1] for r in spec.runs} == {"seed=0", "seed=1", "seed=2"}
    adapter = next(r for r in spec.runs if r.key == "sst2/adapter-m16-lr0.001-k30")
    assert (
        adapter.config.adapter.size == 16 and adapter.config.train_size == 30 and adapter.config.learning_rate == 1e-3
    )


def test_validation_reports_every_problem_at_once(tiny_world, tmp_path):
    root, model = tiny_world
    spec = tiny_spec(root, model)
    spec["colour"] = "blue"
    spec["base"]["epochz"] = 3
    spec["grid"]["dropout_rate"] = [0.1]
    spec["tasks"]["rte"] = {"train": str(tmp_path / "missing.tsv")}
    spec["report"] = {"layout": "wide", "font": "serif"}
    lines = spec_errors(spec)
    assert any("unknown key 'colour'" in line for line in lines)
    assert any("base.epochz: unknown run setting" in line for line in lines)
    assert any("grid.dropout_rate: unknown axis" in line for line in lines)
    assert any("tasks.rte.train: file not found" in line for line in lines)
    assert any("report.layout='wide': allowed: paper, tasks-as-rows" in line for line in lines)
    assert any("report.font: unknown field" in line for line in lines)
    assert len(lines) == 6


def test_reference_entries_must_name_a_table_cell(tiny_world):
    root, model = tiny_world
    spec = tiny_spec(root, model, adapter_size=[8, 16])
    good = [
        {"task": "sst2", "method": "finetune", "value": 80.5},
        {"task": "sst2", "method": "adapter", "adapter_size": "best", "value": 81, "note": "Table 2"},
    ]
    spec["reference"] = good
    assert expand_spec(spec).reference == good
    spec["reference"] = [
        {"task": "sst2", "methd": "finetune", "value": 80.5},
        {"task": "sst2", "method": "finetune", "value": "80.5"},
        {"task": "cola", "method": "finetune", "value": 1},
        {"task": "sst2", "method": "adapter", "adapter_size": 32, "value": 1},
        {"task": "sst2", "language": "de", "method": "finetune", "value": 1},
    ]
    lines = spec_errors(spec)
    assert (
        "reference[0].methd: unknown key; allowed: adapter_size, method, task, language, value, std, note" in lines[0]
    )
    assert "reference[1].value='80.5': must be a number" in lines[1]
    assert "reference[2].task='cola': not a task of this study (sst2)" in lines[2]
    assert (
        "reference[3]: names no column of the sst2 table ('adapter m=32'); its columns: adapter m=16, adapter m=8, adapter m=best, finetune"
        in lines[3]
    )
    assert (
        "reference[4].language='de': not a row of the sst2 cross-lingual table (none: the spec has no analysis.crosslingual.sst2)"
        in lines[4]
    )
    assert len(lines) == 5


def test_analysis_block_is_checked_before_any_run(tiny_world, tmp_path):
    root, model = tiny_world
    for lang in ("en", "de"):  # SST-2-style files that an XNLI reader cannot read
        write_sentiment_tsv(tmp_path / f"dev-{lang}.tsv", 5, 0)
    spec = tiny_spec(root, model)
    spec["analysis"] = {
        "rsa": {"task": "cola", "data": str(root / "dev.tsv"), "n": 0},
        "crosslingual": {
            "sst2": {"pattern": str(tmp_path / "dev-{lang}.tsv"), "languages": ["en", "de", "fr"], "colour": "red"},
            "mnli": {"pattern": "x-{lang}", "languages": ["en"]},
        },
        "clustering": {},
    }
    lines = spec_errors(spec)
    assert any("analysis.clustering: unknown analysis" in line for line in lines)
    assert any("analysis.rsa.task: 'cola' is not a task of this study" in line for line in lines)
    assert any("analysis.rsa.n=0: must be an integer >= 1" in line for line in lines)
    assert any("analysis.crosslingual.sst2.colour: unknown field" in line for line in lines)
    assert any("analysis.crosslingual.sst2: language file not found" in line and "dev-fr.tsv" in line for line in lines)
    assert any("analysis.crosslingual.mnli: 'mnli' is not a task of this study" in line for line in lines)
    assert any("which do not save their weights" in line for line in lines)  # checked in the same pass
    assert len(lines) == 7

    # the files exist but are read with the wrong task's reader: caught now, not after training
    spec["analysis"] = {
        "crosslingual": {
            "sst2": {"task": "xnli", "pattern": str(tmp_path / "dev-{lang}.tsv"), "languages": ["en", "de"]}
        }
    }
    with pytest.raises(AdapterlabError, match=r"read as task 'xnli'; set 'task' to the files' format\): .*dev-en.tsv"):
        expand_spec(spec)
    spec["analysis"]["crosslingual"]["sst2"].pop("task")
    # the fine-tuned weights the analysis evaluates must be kept
    with pytest.raises(
        AdapterlabError,
        match=r"analysis.crosslingual.sst2 evaluates the fine-tuning runs of task 'sst2', which do not save",
    ):
        expand_spec(spec)
    spec["by_method"]["finetune"]["save_model"] = True
    assert len(expand_spec(spec).runs) == 4


def test_validation_wrong_type_and_k_larger_than_data(tiny_world):
    root, model = tiny_world
    bad_type = tiny_spec(root, model, extra_base={"epochs": "many"})
    with pytest.raises(AdapterlabError, match="epochs='many': must be an integer >= 1"):
        expand_spec(bad_type)
    bad_pack = tiny_spec(root, model, extra_base={"pack_dtype": "int8"})
    with pytest.raises(AdapterlabError, match="pack_dtype='int8': allowed: float32, float16, bfloat16"):
        expand_spec(bad_pack)
    too_big = tiny_spec(root, model, train_size=[75])
    with pytest.raises(AdapterlabError, match="k=75 plus 10 validation examples exceed the 80 training examples"):
        expand_spec(too_big)


def test_study_validate_cli(tiny_world, tmp_path, capsys):
    root, model = tiny_world
    path = write_spec(tmp_path / "s.yaml", tiny_spec(root, model))
    assert main(["study", "validate", str(path)]) == 0
    assert "4 runs" in capsys.readouterr().out
    (tmp_path / "bad.yaml").write_text("name: x\nbase: [1, 2\n")
    assert main(["study", "validate", str(tmp_path / "bad.yaml")]) == 2
    assert "not valid YAML" in capsys.readouterr().err


def test_methods_that_do_not_fit_the_backbone_are_found_before_any_run(tiny_world):
    """A LoRA target the backbone lacks or an adapter over 4x its hidden size: one line per setting
    at validation, instead of every run of the setting failing in turn."""
    root, model = tiny_world
    raw = tiny_spec(root, model, method=["adapter", "lora"], seeds=(0, 1, 2))
    raw["by_method"] = {"adapter": {"adapter": {"size": 1000}}, "lora": {"lora_targets": "q_proj,v_proj"}}
    with pytest.raises(AdapterlabError) as caught:
        expand_spec(raw)
    lines = str(caught.value).splitlines()
    assert len(lines) == 2  # one per setting, not per seed
    assert "run sst2/adapter-m1000-lr0.0001-k20: adapter.size 1000: more than 4x the hidden size 32" in lines[0]
    assert "run sst2/lora-lr0.0005-k20: lora target module 'q_proj' not found in BertModel" in lines[1]
    raw["by_method"] = {"lora": {"lora_targets": "query,value"}}
    assert len(expand_spec(raw).runs) == 6
    raw["base"]["max_length"] = 2  # the tokenizer adds 2 special tokens: no room for text, found before any run
    with pytest.raises(AdapterlabError) as caught:
        expand_spec(raw)
    assert "run sst2/adapter-m64-lr0.0001-k20: max_length 2: the tokenizer of" in str(caught.value)
    del raw["base"]["max_length"]
    raw["base"]["model"] = (
        "/nonexistent/backbone"  # written as a path: not taken for a Hub name, one line for all settings
    )
    with pytest.raises(AdapterlabError) as caught:
        expand_spec(raw)
    assert str(caught.value) == "spec: model '/nonexistent/backbone': model folder /nonexistent/backbone not found"


def test_exponent_floats_are_numbers_in_specs_and_set(tiny_world, tmp_path, capsys):
    """PyYAML (YAML 1.1) reads `1e-3` as a string; specs read it as YAML 1.2 does, a float."""
    root, model = tiny_world
    raw = tiny_spec(root, model, seeds=(0,))
    raw["by_method"]["adapter"]["lr"] = "LR"
    path = tmp_path / "s.yaml"
    raw["base"]["warmup_ratio"] = "WR"
    path.write_text(write_spec(path, raw).read_text().replace("LR", "1e-3").replace("WR", "6E-2"))
    spec = load_spec(path)
    adapter = next(r for r in spec.runs if r.config.method == "adapter")
    assert adapter.config.learning_rate == 1e-3 and adapter.config.warmup_ratio == 0.06
    assert load_spec(path, {"weight_decay": 5e-2}).runs[0].config.weight_decay == 0.05
    assert main(["study", "validate", str(path), "--set", "weight_decay=5e-2", "--set", "warmup_ratio=1e-1"]) == 0
    capsys.readouterr()


def test_set_refuses_a_setting_the_grid_or_by_method_decides(tiny_world, tmp_path, capsys):
    """--set changes the base; a grid axis, a by_method value or a task entry would silently win over it."""
    root, model = tiny_world
    path = write_spec(tmp_path / "s.yaml", tiny_spec(root, model))
    assert main(["study", "validate", str(path), "--set", "method=finetune"]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        "--set method=...: method is set by the spec's grid" in err
        and "--only method=VALUE" in err
        and len(err.splitlines()) == 1
    )
    assert main(["study", "validate", str(path), "--set", "lr=2e-4"]) == 2
    assert "lr is set by the spec's by_method.adapter and by_method.finetune" in capsys.readouterr().err
    assert (
        main(["study", "validate", str(path), "--set", f"dev={root / 'train.tsv'}"]) == 2
    )  # the task entry names its files
    assert "dev is set by the spec's tasks.sst2" in capsys.readouterr().err
    assert main(["study", "validate", str(path), "--set", "epochs=2"]) == 0


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*/*.yaml")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_shipped_spec_validates(path, monkeypatch):
    monkeypatch.chdir(REPO)
    uses_shared = "../shared" in path.read_text()
    spec = load_spec(path, check_files=uses_shared and SHARED.is_dir())
    assert spec.runs and spec.name
    # every run has its own folder, inside the study folder
    folders = [r.relative_dir for r in spec.runs]
    assert len(set(folders)) == len(folders) and not any(".." in Path(f).parts or f.startswith("/") for f in folders)


def test_the_k_check_counts_the_pool_as_the_sampler_does(tmp_path):
    """35 examples and no dev or test file: 10% is held out as test. round(35 * 0.9) = 32 would
    allow k + validation = 32, but the sampler holds out round(3.5) = 4 and has 31. One function
    counts the pool for both, so a spec that validates also runs."""
    from adapterlab.data.load import load_splits
    from adapterlab.data.tasks import get_task

    write_sentiment_tsv(tmp_path / "train.tsv", 35, seed=3)

    def spec(k):
        return {
            "name": "k",
            "base": {"train_size": k, "validation_size": 10, "test_fraction": 0.1},
            "tasks": {"sst2": {"train": str(tmp_path / "train.tsv")}},
            "grid": {"method": ["adapter"]},
        }

    with pytest.raises(AdapterlabError, match="k=22 plus 10 validation examples exceed the 31 training examples"):
        expand_spec(spec(22))
    with pytest.raises(AdapterlabError, match="need 32, but only 31 are available"):
        load_splits(
            get_task("sst2"), train=str(tmp_path / "train.tsv"), train_size=22, validation_size=10, test_fraction=0.1
        )
    ok = expand_spec(spec(21))  # 21 + 10 = 31: validates, and the sampler agrees
    splits = load_splits(
        get_task("sst2"), train=str(tmp_path / "train.tsv"), train_size=21, validation_size=10, test_fraction=0.1
    )
    assert len(ok.runs) == 1 and (len(splits.train), len(splits.validation), len(splits.test)) == (21, 10, 4)


def test_each_method_can_have_its_own_grid(tiny_world):
    root, model = tiny_world
    raw = tiny_spec(root, model, seeds=(0,))
    raw["by_method"] = {"adapter": {"lr": [1e-4, 1e-3], "adapter": {"size": 8}}, "finetune": {"lr": [2e-5, 5e-5, 1e-4]}}
    raw["report"] = {"select": ["lr", "adapter_size"]}
    spec = expand_spec(raw)
    by_method = {}
    for run in spec.runs:
        by_method.setdefault(run.setting.column.method, []).append(run.config.learning_rate)
    assert by_method == {"adapter": [1e-4, 1e-3], "finetune": [2e-5, 5e-5, 1e-4]}
    assert {r.setting.column.name for r in spec.runs} >= {"adapter m=8 lr=0.0001", "finetune lr=5e-05"}
    assert spec.report.select == ("lr", "adapter_size")
    assert any(
        "per-method axis must be a non-empty list" in e
        for e in spec_errors({**raw, "by_method": {"adapter": {"lr": []}}})
    )

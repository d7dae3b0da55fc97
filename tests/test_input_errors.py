"""Broken inputs that are not data files: task-pack manifests and study plans. Each gives one
line that starts with the file's path and names the field, and the CLI exits with code 2."""

import json
import shutil

import pytest
import torch
from tiny import save_tiny_backbone, tiny_model

import adapterlab as al
from adapterlab.adapters.io import MANIFEST_FILE
from adapterlab.cli import main
from adapterlab.study.executor import load_plan, status_of_folder


def one_line_error(call, *args) -> str:
    with pytest.raises(al.AdapterlabError) as info:
        call(*args)
    message = str(info.value)
    assert "\n" not in message, message
    return message


# ------------------------------------------------------------- data files through the CLI


@pytest.fixture(scope="module")
def tiny_backbone(tmp_path_factory):
    return save_tiny_backbone(tmp_path_factory.mktemp("model") / "model")


@pytest.mark.parametrize(
    "task, name, content, message",
    [
        ("sst2", "test.tsv", "index\tsentence\n0\tuneasy mishmash .\n", "test.tsv:1: no label column 'label'"),
        ("sst2", "train.tsv", "x" * 1_000_000 + "\n", "train.tsv:1: wrong column count: 1 columns, expected 2"),
        (
            "classification",
            "train.csv",
            'text,label\n"never closed,pos\nok,neg\n',
            "train.csv:2: wrong column count: 1 columns, expected 2; a quoted field",
        ),
    ],
    ids=["glue-test-file", "1mb-line-without-tab", "unbalanced-csv-quote"],
)
def test_train_on_a_bad_data_file_is_exit_2_and_writes_nothing(
    tiny_backbone, tmp_path, capsys, task, name, content, message
):
    (tmp_path / name).write_text(content)
    out = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--task",
                task,
                "--train",
                str(tmp_path / name),
                "--model",
                str(tiny_backbone),
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert (
        len(err.splitlines()) == 1
        and "Traceback" not in err
        and err.startswith(f"adapterlab: error: {tmp_path}")
        and message in err
    ), err[:300]
    assert not out.exists()


# ----------------------------------------------------------------------- task-pack manifests


@pytest.fixture(scope="module")
def saved_pack(tmp_path_factory):
    model = tiny_model("bert", "sequence", num_labels=2)
    al.add_adapters(model, al.AdapterConfig(size=8), name="sst2")
    folder = tmp_path_factory.mktemp("pack") / "pack"
    al.save_adapter(model, folder, name="sst2", labels=["negative", "positive"])
    return folder


def broken_pack(saved_pack, tmp_path, change):
    pack = tmp_path / "pack"
    shutil.copytree(saved_pack, pack)
    manifest = json.loads((pack / MANIFEST_FILE).read_text())
    change(manifest)
    (pack / MANIFEST_FILE).write_text(json.dumps(manifest))
    return pack


def test_a_saved_manifest_reads_back(saved_pack):
    info = al.read_pack_info(saved_pack)
    assert (info.name, info.num_labels, info.labels, info.config.size) == ("sst2", 2, ["negative", "positive"], 8)
    assert info.backbone == {"model_type": "bert", "hidden_size": 32, "num_hidden_layers": 2, "vocab_size": 100}


@pytest.mark.parametrize(
    "change, field, allowed",
    [
        (
            lambda m: m.update(backbone="bert"),
            "field 'backbone' is a str ('bert')",
            "expected an object with model_type",
        ),
        (
            lambda m: m["backbone"].pop("hidden_size"),
            "field 'backbone' has no 'hidden_size'",
            "expected model_type, hidden_size",
        ),
        (
            lambda m: m["backbone"].update(model_type=7),
            "field 'backbone.model_type' is an int (7)",
            "expected a model type",
        ),
        (
            lambda m: m["backbone"].update(vocab_size="100"),
            "field 'backbone.vocab_size' is a str ('100')",
            "positive integer or null",
        ),
        (
            lambda m: m["adapter_config"].update(size="8"),
            "field 'adapter_config': AdapterConfig.size='8'",
            "positive integer",
        ),
        (
            lambda m: m["adapter_config"].update(width=8),
            "field 'adapter_config': unknown adapter setting 'width'",
            "allowed: dropout",
        ),
        (
            lambda m: m.update(adapter_config=[8]),
            "field 'adapter_config' is a list ([8])",
            "object of adapter settings",
        ),
        (lambda m: m.update(num_labels="2"), "field 'num_labels' is a str ('2')", "positive integer or null"),
        (lambda m: m.update(num_labels=True), "field 'num_labels' is a bool (True)", "positive integer or null"),
        (lambda m: m.update(num_labels=0), "field 'num_labels' is an int (0)", "positive integer or null"),
        (
            lambda m: m.update(labels="negative,positive"),
            "field 'labels' is a str ('negative,positive')",
            "list of label names",
        ),
        (lambda m: m.update(labels=[0, 1]), "field 'labels' is a list ([0, 1])", "list of label names (strings)"),
        (
            lambda m: m.update(labels=["a", "b", "c"]),
            "field 'labels' has 3 names but field 'num_labels' is 2",
            "must agree",
        ),
        (lambda m: m.update(name=["sst2"]), "field 'name' is a list (['sst2'])", "letters, digits, '_' and '-'"),
        (lambda m: m.update(name="my task"), "field 'name' is a str ('my task')", "letters, digits, '_' and '-'"),
        (lambda m: m.update(head_class=None), "field 'head_class' is a NoneType (None)", "model class name"),
        (lambda m: m.update(dtype="int8"), "field 'dtype' is a str ('int8')", "allowed: float32, float16, bfloat16"),
        (lambda m: m.pop("backbone"), "missing field 'backbone'", ""),
    ],
)
def test_a_broken_manifest_field_is_one_line_naming_file_and_field(saved_pack, tmp_path, change, field, allowed):
    pack = broken_pack(saved_pack, tmp_path, change)
    message = one_line_error(al.read_pack_info, pack)
    assert message.startswith(f"{pack / MANIFEST_FILE}: {field}") and allowed in message, message
    model = tiny_model("bert", "sequence", num_labels=2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert one_line_error(al.load_adapter, model, pack) == message
    assert al.adapter_names(model) == [] and all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_a_manifest_that_is_not_an_object(saved_pack, tmp_path):
    pack = tmp_path / "pack"
    shutil.copytree(saved_pack, pack)
    (pack / MANIFEST_FILE).write_text("[1, 2]")
    assert one_line_error(al.read_pack_info, pack).startswith(f"{pack / MANIFEST_FILE}: not an adapterlab task pack")


# ------------------------------------------------------------------------------ study plans


RUN = {"dir": "sst2/adapter-m64/seed=0", "seed": 0, "labels": {"task": "sst2", "method": "adapter", "adapter_size": 64}}


def write_plan(folder, plan):
    folder.mkdir(exist_ok=True)
    (folder / "study.json").write_text(plan if isinstance(plan, str) else json.dumps(plan))
    return folder / "study.json"


def test_a_valid_plan_gives_status_without_the_spec(tmp_path, capsys):
    write_plan(tmp_path, {"name": "s", "description": "", "runs": [RUN], "reference": None, "report": None})
    assert [s.state for s in status_of_folder(tmp_path)] == ["pending"]
    assert main(["study", "status", str(tmp_path)]) == 0
    assert "1 runs: 0 done" in capsys.readouterr().out


@pytest.mark.parametrize(
    "plan, message",
    [
        ([RUN], "expected a JSON object (a study plan), got a list"),
        ({"name": "s"}, "field 'runs' is missing or null; expected a list"),
        ({"runs": {"0": RUN}}, "field 'runs' is a dict"),
        ({"runs": ["sst2/seed=0"]}, "field 'runs[0]' is a str ('sst2/seed=0'); expected an object {dir, seed, labels}"),
        ({"runs": [{k: v for k, v in RUN.items() if k != "dir"}]}, "field 'runs[0].dir' is missing or null"),
        (
            {"runs": [{**RUN, "dir": "../elsewhere/seed=0"}]},
            "field 'runs[0].dir' is a str ('../elsewhere/seed=0'); expected a folder inside the study",
        ),
        (
            {"runs": [RUN, {k: v for k, v in RUN.items() if k != "seed"}]},
            "field 'runs[1].seed' is missing or null; expected an integer",
        ),
        ({"runs": [{**RUN, "seed": "0"}]}, "field 'runs[0].seed' is a str ('0'); expected an integer"),
        ({"runs": [{**RUN, "labels": ["sst2", "adapter"]}]}, "field 'runs[0].labels' is a list"),
        (
            {"runs": [{**RUN, "labels": {"task": "sst2"}}]},
            "field 'runs[0].labels' is a dict ({'task': 'sst2'}); expected an object with 'task' and 'method'",
        ),
        ({"runs": [RUN], "name": None}, "field 'name' is missing or null; expected a string"),
        ({"runs": [RUN], "report": "paper"}, "field 'report' is a str ('paper'); expected an object or null"),
        ({"runs": [RUN], "reference": [0.9]}, "field 'reference' must be a list of objects"),
        ({"runs": [RUN], "command": "adapterlab study run"}, "field 'command' is a str"),
        ('{"runs": [', "not valid JSON"),
    ],
)
def test_a_malformed_plan_is_one_line_in_status_and_report(tmp_path, capsys, plan, message):
    path = write_plan(tmp_path / "study", plan)
    (tmp_path / "study" / "sst2" / "adapter-m64" / "seed=0").mkdir(parents=True)
    (tmp_path / "study" / "sst2" / "adapter-m64" / "seed=0" / "result.json").write_text(
        json.dumps({"status": "ok", "metric": "accuracy", "test_metric": 0.9})
    )
    assert one_line_error(load_plan, tmp_path / "study").startswith(f"{path}")
    for command in ("status", "report"):
        assert main(["study", command, str(tmp_path / "study")]) == 2
        captured = capsys.readouterr()
        err = captured.err.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err, err
        assert err.startswith(f"adapterlab: error: {path}") and message in err, err
    assert not (tmp_path / "study" / "report").exists()


def test_status_and_report_of_a_folder_without_a_plan(tmp_path, capsys):
    for command in ("status", "report"):
        assert main(["study", command, str(tmp_path)]) == 2
        err = capsys.readouterr().err.strip()
        assert (
            err
            == f"adapterlab: error: {tmp_path}: not a study folder (no readable study.json); run `adapterlab study run SPEC --out {tmp_path}` first"
        )
    # a spec file given for its folder, and a folder that holds the study folder: say where it is
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: x\n")
    (tmp_path / "study").mkdir()
    (tmp_path / "study" / "study.json").write_text("{}")
    for given, hint in (
        (spec, f"study run {spec} --out DIR"),
        (tmp_path, f"the study folder inside it is {tmp_path / 'study'}"),
    ):
        assert main(["study", "status", str(given)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and hint in err, err

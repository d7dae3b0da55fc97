"""`adapterlab study plan`: runs, steps per run and a measured time per step, before a study runs."""

import yaml

from adapterlab.cli import main
from adapterlab.study.plan import backbone_config, plan_study
from adapterlab.study.spec import expand_spec
from studyworld import tiny_spec


def test_plan_counts_steps_and_times_each_group(tiny_world, tmp_path, capsys):
    root, model = tiny_world
    spec = expand_spec(tiny_spec(root, model, seeds=(0, 1)))  # k=20, batch 8, 1 epoch: 3 steps per run
    costs = plan_study(spec, probe_steps=1)
    assert {(c.method, c.runs) for c in costs} == {("adapter", 2), ("finetune", 2)}
    assert all(c.steps_per_run == [3, 3] and c.seconds_per_step > 0 for c in costs)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(tiny_spec(root, model, seeds=(0, 1))))
    assert main(["study", "plan", str(path), "--probe-steps", "1"]) == 0
    printed = capsys.readouterr().out
    assert "tiny: 4 runs" in printed and "| adapter | 8 x 32 | 2 | 3 |" in printed and "total:" in printed


def test_the_papers_backbones_have_shipped_configs():
    shapes = {name: (c.hidden_size, c.num_hidden_layers) for name in ("bert-base-uncased", "roberta-base", "xlm-roberta-large")
              for c in [backbone_config(name)]}
    assert shapes == {"bert-base-uncased": (768, 12), "roberta-base": (768, 12), "xlm-roberta-large": (1024, 24)}

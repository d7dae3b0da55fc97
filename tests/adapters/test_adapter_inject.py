import copy
import re

import pytest
import torch
import transformers
from tiny import ARCHS, HIDDEN, LAYERS, TASKS, outputs, random_batch, tiny_model
from torch import nn

import adapterlab as al
from adapterlab.adapters.layer import AdaptedOutput, BottleneckAdapter, TaskHead, TaskLayerNorm
from adapterlab.adapters.structure import base_model_of

ZERO_UP = al.AdapterConfig(size=8, init="zero_up")


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("arch", ARCHS)
def test_zero_up_projection_gives_the_bare_models_outputs(arch, task):
    model = tiny_model(arch, task)
    batch = random_batch()
    with torch.no_grad():
        expected = outputs(model, batch)
        al.add_adapters(model, ZERO_UP, name="t")
        got = outputs(model, batch)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


@pytest.mark.parametrize("arch", ARCHS)
def test_module_layout_two_adapters_per_layer_at_the_sublayer_outputs(arch):
    model = tiny_model(arch, "sequence")
    al.add_adapters(model, al.AdapterConfig(size=8), name="t")
    sites = [(path, m) for path, m in model.named_modules() if isinstance(m, AdaptedOutput)]
    assert len(sites) == 2 * LAYERS
    table = al.ARCHITECTURES[arch]
    for layer in range(LAYERS):
        for rel in (table.attention_output, table.ffn_output):
            matches = [m for path, m in sites if path.endswith(f"{table.layers}.{layer}.{rel}")]
            assert len(matches) == 1 and isinstance(matches[0].adapters["t"], BottleneckAdapter)
    norms = [m for m in model.modules() if isinstance(m, TaskLayerNorm)]
    assert len(norms) == 1 + 2 * LAYERS  # embeddings + one per sublayer
    assert any(isinstance(m, TaskHead) for m in model.modules())


@pytest.mark.parametrize("size", [8, 16])
@pytest.mark.parametrize("arch", ARCHS)
def test_trainable_adapter_count_matches_closed_form(arch, size):
    model = tiny_model(arch, "sequence")
    al.add_adapters(model, al.AdapterConfig(size=size), name="t")
    counts = al.set_trainable(model, "adapter")
    d, m = HIDDEN, size
    assert counts.adapter == LAYERS * 2 * (2 * d * m + d + m)
    assert counts.layernorm == (1 + 2 * LAYERS) * 2 * d
    assert counts.other == 0
    assert counts.trainable == counts.adapter + counts.layernorm + counts.head
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == counts.trainable


def test_placement_and_skip_layers_change_the_count():
    d, m = HIDDEN, 8
    per_adapter = 2 * d * m + d + m
    for placement, expected in (("attention", LAYERS), ("ffn", LAYERS), ("both", 2 * LAYERS)):
        model = tiny_model("bert", "sequence")
        al.add_adapters(model, al.AdapterConfig(size=m, placement=placement), name="t")
        assert al.set_trainable(model, "adapter").adapter == expected * per_adapter
    model = tiny_model("bert", "sequence")
    al.add_adapters(model, al.AdapterConfig(size=m, skip_layers=1), name="t")
    counts = al.set_trainable(model, "adapter")
    assert counts.adapter == 2 * (LAYERS - 1) * per_adapter
    # the LayerNorms of the embeddings and of layer 0 stay frozen: nothing below layer 1 trains
    assert counts.layernorm == 2 * (LAYERS - 1) * 2 * d


@pytest.mark.parametrize("arch", ["bert", "distilbert", "electra"])
def test_skip_layers_stops_the_backward_pass_below_the_lowest_adapter(arch):
    model = tiny_model(arch, "sequence")
    al.add_adapters(model, al.AdapterConfig(size=8, skip_layers=1), name="t")
    al.set_trainable(model, "adapter")
    table = al.ARCHITECTURES[arch]
    layer_one = model.get_submodule(f"{base_model_of(model)[0]}.{table.layers}.1")
    entered = []
    layer_one.register_forward_pre_hook(lambda module, args: entered.append(args[0].requires_grad))
    model(**random_batch()).logits.sum().backward()
    assert entered == [False]  # the hidden states reaching layer 1 carry no autograd history
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_head_counts_include_bert_pooler_and_classifier():
    model = tiny_model("bert", "sequence", num_labels=3)
    al.add_adapters(model, al.AdapterConfig(size=8), name="t")
    counts = al.set_trainable(model, "adapter")
    assert counts.head == (HIDDEN * HIDDEN + HIDDEN) + (HIDDEN * 3 + 3)  # pooler + classifier


def test_finetune_counts_everything():
    model = tiny_model("roberta", "sequence")
    counts = al.set_trainable(model, "finetune")
    assert counts.trainable == counts.total == sum(p.numel() for p in model.parameters())


def _train_steps(model, steps=3, lr=1e-2):
    batch = random_batch(seed=3)
    labels = torch.tensor([0, 1, 2, 1])
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.01)
    model.train()
    for _ in range(steps):
        loss = nn.functional.cross_entropy(model(**batch).logits, labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()


@pytest.mark.parametrize("arch", ARCHS)
def test_adapter_mode_changes_only_adapters_layernorms_and_head(arch):
    model = tiny_model(arch, "sequence")
    al.add_adapters(model, al.AdapterConfig(size=8), name="t")
    al.set_trainable(model, "adapter")
    before = copy.deepcopy(model.state_dict())
    _train_steps(model)
    after = model.state_dict()
    changed = {key for key in before if not torch.equal(before[key], after[key])}
    per_task = {key for key in before if any(part in key for part in (".adapters.t.", ".layernorms.t.", ".heads.t."))}
    assert changed, "nothing trained"
    assert changed <= per_task, f"frozen tensors changed: {sorted(changed - per_task)[:5]}"
    assert any(".adapters.t." in key for key in changed)
    assert any(".layernorms.t." in key for key in changed)
    assert any(".heads.t." in key for key in changed)


def test_finetune_mode_changes_the_backbone():
    model = tiny_model("bert", "sequence")
    al.set_trainable(model, "finetune")
    before = copy.deepcopy(model.state_dict())
    _train_steps(model)
    after = model.state_dict()
    assert not torch.equal(
        before["bert.encoder.layer.0.attention.self.query.weight"],
        after["bert.encoder.layer.0.attention.self.query.weight"],
    )
    assert not torch.equal(
        before["bert.embeddings.word_embeddings.weight"], after["bert.embeddings.word_embeddings.weight"]
    )


@pytest.mark.parametrize("arch", ARCHS)
def test_remove_adapters_restores_state_dict_and_forward(arch):
    model = tiny_model(arch, "mlm")
    batch = random_batch()
    original_state = copy.deepcopy(model.state_dict())
    modules_before = [type(m) for m in model.modules()]
    with torch.no_grad():
        expected = outputs(model, batch)
    al.add_adapters(model, al.AdapterConfig(size=8), name="a")
    al.add_adapters(model, al.AdapterConfig(size=4), name="b")
    al.set_trainable(model, "adapter")
    _train_steps_mlm(model)
    al.remove_adapters(model)
    state = model.state_dict()
    assert list(state) == list(original_state)
    for key in state:
        torch.testing.assert_close(state[key], original_state[key], rtol=0, atol=0)
    assert [type(m) for m in model.modules()] == modules_before
    assert not hasattr(model, "adapterlab_state")
    with torch.no_grad():
        torch.testing.assert_close(outputs(model, batch), expected, rtol=0, atol=0)


def _train_steps_mlm(model):
    batch = random_batch(seed=4)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    for _ in range(2):
        logits = model(**batch).logits
        nn.functional.cross_entropy(logits.flatten(0, 1), batch["input_ids"].flatten()).backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()


def test_tied_mlm_decoder_stays_tied_and_frozen():
    model = tiny_model("bert", "mlm")
    al.add_adapters(model, al.AdapterConfig(size=8), name="t")
    al.set_trainable(model, "adapter")
    embeddings = model.bert.embeddings.word_embeddings.weight
    decoder = model.cls.heads["t"].predictions.decoder.weight
    assert decoder is embeddings
    assert not embeddings.requires_grad


def test_remove_one_adapter_keeps_the_other():
    model = tiny_model("bert", "sequence")
    batch = random_batch()
    al.add_adapters(model, al.AdapterConfig(size=8), name="a")
    al.add_adapters(model, al.AdapterConfig(size=8), name="b")
    with torch.no_grad():
        expected_b = outputs(model, batch)
    al.remove_adapters(model, "a")
    assert al.adapter_names(model) == ["b"]
    al.activate(model, "b")
    with torch.no_grad():
        torch.testing.assert_close(outputs(model, batch), expected_b, rtol=0, atol=0)


def _two_trained_tasks():
    model = tiny_model("bert", "sequence", num_labels=3)
    al.add_adapters(model, al.AdapterConfig(size=8), name="a")
    al.add_adapters(model, al.AdapterConfig(size=8), name="b", num_labels=2)
    for name, labels in (("a", torch.tensor([0, 1, 2, 1])), ("b", torch.tensor([1, 0, 1, 0]))):
        al.activate(model, name)
        al.set_trainable(model, "adapter")
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
        model.train()
        for _ in range(3):
            nn.functional.cross_entropy(model(**random_batch(seed=5)).logits, labels).backward()
            optimizer.step()
            optimizer.zero_grad()
    return model.eval()


def test_switching_tasks_gives_each_tasks_own_logits():
    model = _two_trained_tasks()
    batch = random_batch()
    with torch.no_grad():
        al.activate(model, "a")
        a1 = outputs(model, batch)
        al.activate(model, "b")
        b1 = outputs(model, batch)
        al.activate(model, "a")
        a2 = outputs(model, batch)
        al.deactivate(model)
        bare = outputs(model, batch)
    assert a1.shape == (4, 3) and b1.shape == (4, 2)
    torch.testing.assert_close(a2, a1, rtol=0, atol=0)
    assert not torch.allclose(a1, bare)


def test_mixed_batch_equals_the_per_task_runs():
    model = _two_trained_tasks()
    batch = random_batch(batch=6)
    names = ["a", "b", "b", "a", "b", "a"]
    with torch.no_grad():
        al.activate(model, "a")
        only_a = outputs(model, batch)
        al.activate(model, "b")
        only_b = outputs(model, batch)
        al.activate_per_example(model, names)
        mixed = outputs(model, batch)
    assert mixed.shape == (6, 3)
    for row, name in enumerate(names):
        expected = only_a[row] if name == "a" else only_b[row]
        torch.testing.assert_close(mixed[row, : expected.shape[0]], expected, rtol=1e-5, atol=1e-6)
        if name == "b":
            assert mixed[row, 2] == float("-inf")  # padding for the 2-label task
    assert mixed.argmax(-1).tolist() == [
        (only_a[r] if n == "a" else only_b[r]).argmax().item() for r, n in enumerate(names)
    ]


def test_mixed_batch_with_wrong_number_of_names_is_a_clear_error():
    model = _two_trained_tasks()
    al.activate_per_example(model, ["a", "b"])
    with pytest.raises(al.AdapterlabError, match="2 adapter names were activated but .* got a tensor with 4 rows"):
        model(**random_batch(batch=4))


def test_user_table_for_an_unlisted_architecture():
    model = tiny_model("bert", "sequence")
    model.config.model_type = "my-bert"
    with pytest.raises(al.AdapterlabError) as err:
        al.add_adapters(model, ZERO_UP, name="t")
    message = str(err.value)
    assert "model_type 'my-bert' is not supported" in message and "table=adapterlab.ArchitectureTable" in message
    table = al.ArchitectureTable(
        layers="encoder.layer", attention_output="attention.output.dropout", ffn_output="output.dropout"
    )
    al.add_adapters(model, al.AdapterConfig(size=8), name="t", table=table)
    assert sum(isinstance(m, AdaptedOutput) for m in model.modules()) == 2 * LAYERS


def test_register_architecture():
    model = tiny_model("bert", "sequence")
    model.config.model_type = "registered-bert"
    al.register_architecture("registered-bert", al.ARCHITECTURES["bert"])
    try:
        al.add_adapters(model, ZERO_UP, name="t")
    finally:
        del al.ARCHITECTURES["registered-bert"]
    assert al.adapter_names(model) == ["t"]


def test_wrong_table_path_names_the_path():
    model = tiny_model("bert", "sequence")
    table = al.ArchitectureTable(
        layers="encoder.layer", attention_output="attention.out_proj", ffn_output="output.dropout"
    )
    with pytest.raises(
        al.AdapterlabError, match="attention output path 'bert.encoder.layer.0.attention.out_proj' does not exist"
    ):
        al.add_adapters(model, ZERO_UP, name="t", table=table)
    assert not hasattr(model, "adapterlab_state")  # nothing was changed
    with pytest.raises(al.AdapterlabError, match="layers path 'bert.blocks' does not exist"):
        al.add_adapters(model, ZERO_UP, name="t", table=al.ArchitectureTable("blocks", "a", "b"))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m: al.add_adapters(m, {"size": 8}, name="t"), "config must be an adapterlab.AdapterConfig"),
        (lambda m: al.add_adapters(m, ZERO_UP, name="bad.name"), "adapter name 'bad.name' is not allowed"),
        (lambda m: al.activate(m, "t"), "the model has no adapters; call adapterlab.add_adapters first"),
        (lambda m: al.set_trainable(m, "lora"), "mode 'lora' is not allowed; use 'adapter' or 'finetune'"),
        (lambda m: al.set_trainable(m, "adapter"), "the model has no adapters"),
        (lambda m: al.add_adapters(nn.Linear(2, 2), ZERO_UP, name="t"), "Linear is not a Hugging Face PreTrainedModel"),
    ],
)
def test_error_paths(call, message):
    model = tiny_model("bert", "sequence")
    with pytest.raises(al.AdapterlabError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call(model)


def test_errors_after_adding():
    model = tiny_model("bert", "sequence")
    al.add_adapters(model, ZERO_UP, name="t")
    with pytest.raises(al.AdapterlabError, match="already has an adapter named 't'"):
        al.add_adapters(model, ZERO_UP, name="t")
    with pytest.raises(al.AdapterlabError, match=r"no adapter named 'x' on this model \(adapters: t\)"):
        al.activate(model, "x")
    with pytest.raises(al.AdapterlabError, match="one adapter name per example"):
        al.activate_per_example(model, [])
    al.deactivate(model)
    with pytest.raises(al.AdapterlabError, match="no adapter is active"):
        al.set_trainable(model, "adapter")


def test_adapters_follow_the_model_device_dtype_and_mode():
    model = tiny_model("bert", "sequence").to(torch.float64)
    model.train()
    al.add_adapters(model, al.AdapterConfig(size=8), name="t")
    adapter = next(m for m in model.modules() if isinstance(m, BottleneckAdapter))
    assert adapter.down.weight.dtype == torch.float64
    assert adapter.training


def test_nonlinearities_and_near_identity_init():
    model = tiny_model("bert", "base")
    batch = random_batch()
    with torch.no_grad():
        bare = outputs(model, batch)
    for act in ("tanh", "relu", "gelu", "swish"):
        al.add_adapters(model, al.AdapterConfig(size=8, nonlinearity=act), name=act)
        with torch.no_grad():
            got = outputs(model, batch)
        # std 1e-3 weights: the adapter starts close to, but not exactly at, the identity
        assert 0 < (got - bare).abs().max() < 1e-3
    adapter = next(m for m in model.modules() if isinstance(m, BottleneckAdapter))
    assert 0.7e-3 < adapter.down.weight.std().item() < 1e-3  # truncated at 2 std, so a little under 1e-3
    assert adapter.down.weight.abs().max() <= 2e-3


def test_works_with_a_config_built_by_transformers_automodel():
    config = transformers.BertConfig(
        vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32
    )
    model = transformers.BertForTokenClassification(config).eval()
    al.add_adapters(model, al.AdapterConfig(size=4), name="pos")
    assert al.set_trainable(model, "adapter").adapter == 1 * 2 * (2 * 16 * 4 + 16 + 4)


def _flags(model):
    return {name: p.requires_grad for name, p in model.named_parameters()}


@pytest.mark.parametrize("remove", ["all", "one_by_one"])
def test_remove_adapters_restores_every_requires_grad_flag(remove):
    model = tiny_model("bert", "mlm")
    model.bert.embeddings.requires_grad_(False)  # the user's own choice, from before the adapters
    original = _flags(model)
    al.add_adapters(model, al.AdapterConfig(size=8), name="a")
    al.set_trainable(model, "adapter")
    al.add_adapters(model, al.AdapterConfig(size=8), name="b")
    al.set_trainable(model, "finetune")
    al.set_trainable(model, "adapter")
    if remove == "all":
        al.remove_adapters(model)
    else:
        al.remove_adapters(model, "a")
        al.remove_adapters(model, "b")
    assert _flags(model) == original
    assert model.bert.encoder.layer[0].attention.self.query.weight.requires_grad
    assert not model.bert.embeddings.word_embeddings.weight.requires_grad


def test_a_task_added_after_set_trainable_gets_trainable_copies():
    # set_trainable froze the model's own LayerNorms and head; a new task's copies of them must
    # still start trainable, while the frozen backbone stays frozen
    model = tiny_model("bert", "mlm")
    al.add_adapters(model, al.AdapterConfig(size=8), name="a")
    al.set_trainable(model, "adapter")
    al.add_adapters(model, al.AdapterConfig(size=8), name="b")
    al.activate(model, "b")
    norm, head = model.bert.embeddings.LayerNorm, model.cls
    own = list(norm.layernorms["b"].parameters()) + [
        p for n, p in head.heads["b"].named_parameters() if "decoder.weight" not in n
    ]
    assert own and all(p.requires_grad for p in own)
    assert all(p.requires_grad for n, p in model.named_parameters() if ".adapters.b." in n)
    assert not any(p.requires_grad for p in norm.base.parameters())
    assert not model.bert.embeddings.word_embeddings.weight.requires_grad  # the tied decoder weight
    counts = al.set_trainable(model, "adapter")
    assert counts.layernorm > 0 and counts.head > 0 and counts.other == 0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_labels": 0}, "num_labels=0 must be a positive integer"),
        ({"num_labels": 5}, "num_labels=5 but head 'cls' has no output layer of size 2"),  # found after wrapping
        ({"labels": ["x"]}, "got 1 label names ['x'] for a head with 2 outputs"),
        ({"labels": "ab"}, "labels='ab' must be a list of label names"),
    ],
)
def test_a_failed_add_leaves_the_model_unchanged(kwargs, message):
    model = tiny_model("bert", "mlm", num_labels=2)
    modules_before = [type(m) for m in model.modules()]
    with pytest.raises(al.AdapterlabError, match=re.escape(message)):
        al.add_adapters(model, al.AdapterConfig(size=8), name="t", **kwargs)
    assert [type(m) for m in model.modules()] == modules_before
    assert al.adapter_names(model) == []

import dataclasses

import pytest

import adapterlab as al


def test_defaults_are_the_papers():
    config = al.AdapterConfig()
    assert (config.size, config.nonlinearity, config.placement, config.init_std) == (64, "tanh", "both", 1e-3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"size": 0}, "AdapterConfig.size=0: must be a positive integer"),
        ({"size": 6.5}, "AdapterConfig.size=6.5"),
        ({"size": True}, "AdapterConfig.size=True"),
        (
            {"nonlinearity": "sigmoid"},
            "AdapterConfig.nonlinearity='sigmoid': allowed values are tanh, relu, gelu, swish",
        ),
        ({"init": "xavier"}, "AdapterConfig.init='xavier': allowed values are near_identity, zero_up"),
        ({"placement": "cross"}, "AdapterConfig.placement='cross': allowed values are both, attention, ffn"),
        ({"dropout": 1.0}, "AdapterConfig.dropout=1.0: must be a number in [0, 1)"),
        ({"init_std": 0}, "AdapterConfig.init_std=0: must be a finite number > 0"),
        ({"skip_layers": -1}, "AdapterConfig.skip_layers=-1"),
    ],
)
def test_bad_values_raise_one_clear_error(kwargs, message):
    with pytest.raises(al.AdapterlabError) as err:
        al.AdapterConfig(**kwargs)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_config_is_frozen():
    config = al.AdapterConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.size = 128


def test_round_trip_and_unknown_key():
    config = al.AdapterConfig(size=128, nonlinearity="relu")
    assert al.AdapterConfig.from_dict(config.to_dict()) == config
    with pytest.raises(al.AdapterlabError, match="unknown adapter setting 'bottleneck'"):
        al.AdapterConfig.from_dict({"bottleneck": 3})

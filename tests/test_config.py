import pytest

from vidsteal.config import ConfigError, load_config
from vidsteal.train.supervised import SupervisedConfig


def test_yaml_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("arch: frame_cnn\noptim:\n  epochs: 3\n")
    cfg = load_config(SupervisedConfig, path, ["optim.lr=0.01", "benchmark.frames=4"])
    assert cfg.arch == "frame_cnn" and cfg.optim.epochs == 3 and cfg.optim.lr == 0.01 and cfg.benchmark.frames == 4


def test_unknown_keys_and_wrong_types_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match="optim.epohcs"):
        load_config(SupervisedConfig, None, ["optim.epohcs=3"])
    with pytest.raises(ConfigError, match="train_size"):
        load_config(SupervisedConfig, None, ["train_size=many"])
    with pytest.raises(ConfigError, match="key.path=value"):
        load_config(SupervisedConfig, None, ["arch"])


def test_hash_names_the_values():
    a, b = SupervisedConfig(), SupervisedConfig(seed=1)
    assert a.hash() == SupervisedConfig().hash() and a.hash() != b.hash()

"""params.yaml loading: the real file loads, typos and wrong types fail with the key named."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from shopseq.config import ConfigError, Params, Train, from_dict, load_params

ROOT = Path(__file__).resolve().parents[3]


def test_project_params_load_into_frozen_sections():
    params = load_params(ROOT / "params.yaml")
    assert params.ingest.source == "synthetic"
    assert params.train.model in ("gru", "lstm", "transformer")
    with pytest.raises(AttributeError):
        params.train.epochs = 1  # frozen


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ({"trian": {}}, "'trian'"),
        ({"train": {"epoch": 3}}, "'epoch'"),
        ({"ingest": {"synthetic": {"n_user": 3}}}, "'n_user'"),
    ],
)
def test_unknown_keys_are_rejected_with_the_key_named(raw, named):
    with pytest.raises(ConfigError, match=named):
        from_dict(Params, raw)


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        ({"train": {"epochs": "three"}}, "train.epochs"),
        ({"train": {"use_text": 1}}, "train.use_text"),
        ({"evaluate": {"ks": [10, "x"]}}, r"evaluate.ks\[1\]"),
        ({"base": {"seed": True}}, "base.seed"),
    ],
)
def test_wrong_types_name_the_key(raw, where):
    with pytest.raises(ConfigError, match=where):
        from_dict(Params, raw)


def test_bad_values_are_rejected():
    with pytest.raises(ConfigError, match="train.model"):
        from_dict(Params, {"train": {"model": "xgboost"}})
    with pytest.raises(ConfigError, match="ingest.path is required"):
        from_dict(Params, {"ingest": {"source": "taobao"}})
    with pytest.raises(ConfigError, match="unknown hyperparameter"):
        from_dict(Train, {"search_space": {"hiden": {"type": "int", "low": 1, "high": 2}}})
    with pytest.raises(ConfigError, match="needs 'low' and 'high'"):
        from_dict(Train, {"search_space": {"hidden": {"type": "int", "low": 1}}})
    with pytest.raises(ConfigError, match="train.family_defaults"):
        from_dict(Train, {"family_defaults": {"xgboost": {"lr": 0.1}}})
    with pytest.raises(ConfigError, match=r"train.family_defaults.gru: unknown hyperparameter\(s\) \['rate'\]"):
        from_dict(Train, {"family_defaults": {"gru": {"rate": 0.1}}})
    with pytest.raises(ConfigError, match="dags.workspace must be letters, digits"):
        from_dict(Params, {"dags": {"workspace": "shop a/eu"}})


def test_ints_are_accepted_where_floats_are_expected(tmp_path):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"gate": {"floor": 0}}))
    assert load_params(tmp_path / "params.yaml").gate.floor == 0.0


def test_missing_file_says_what_to_do(tmp_path):
    with pytest.raises(ConfigError, match="project root"):
        load_params(tmp_path / "params.yaml")


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"ingest": {"synthetic": {"days": 0}}}, "ingest.synthetic.days must be >= 1, got 0"),
        ({"profiles": {"text_half_life_days": 0}}, "profiles.text_half_life_days must be > 0, got 0.0"),
        ({"profiles": {"pca_components": -1}}, "profiles.pca_components must be >= 0, got -1"),
        ({"audiences": {"lookalikes": {"size": 0}}}, "audiences.lookalikes.size must be >= 1, got 0"),
        ({"audiences": {"campaigns": [{"name": "c", "objective": "retention", "category": "x", "size": 0}]}},
         "audiences.campaigns['c'].size must be >= 1, got 0"),
        ({"serve": {"poll_seconds": -2.5}}, "serve.poll_seconds must be > 0, got -2.5"),
        ({"forecast": {"trees": 0}}, "forecast.trees must be >= 1, got 0"),
    ],
)
def test_a_value_below_its_bound_is_rejected_with_key_bound_and_value(raw, message):
    with pytest.raises(ConfigError) as error:
        from_dict(Params, raw)
    assert str(error.value) == message


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ({"loss": "softmax"}, "train.loss"),
        ({"negative_sampling": "zipf"}, "train.negative_sampling"),
        ({"negatives": -1}, "train.negatives"),
        ({"negatives": 0, "in_batch_negatives": False}, "no negatives"),
    ],
)
def test_bad_sampled_loss_settings_name_the_key(raw, named):
    with pytest.raises(ConfigError, match=named):
        from_dict(Train, raw)


def test_auto_loss_switches_to_sampled_above_the_catalogue_size():
    auto = from_dict(Train, {"loss": "auto", "sampled_loss_above": 1000})
    assert not auto.uses_sampled_loss(1000) and auto.uses_sampled_loss(1001)
    assert from_dict(Train, {"loss": "sampled"}).uses_sampled_loss(10)
    assert not from_dict(Train, {"loss": "full"}).uses_sampled_loss(10_000_000)


@pytest.mark.parametrize(
    ("base", "message"),
    [
        ({"engine": "polars"}, "base.engine must be one of embedded, spark"),
        ({"engine": "spark", "spark_master": "yarn"}, "base.spark_master must be spark://HOST:PORT or local"),
        ({"engine_memory": "lots"}, "base.engine_memory must be a size"),
        ({"bucket_events": 0}, "base.bucket_events must be >= 1"),
    ],
)
def test_engine_settings_are_checked(base, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(Params, {"base": base})


def test_a_spark_cluster_master_is_accepted():
    params = from_dict(Params, {"base": {"engine": "spark", "spark_master": "spark://spark-master.internal:7077", "engine_memory": "512MB"}})
    assert (params.base.engine, params.base.spark_master) == ("spark", "spark://spark-master.internal:7077")

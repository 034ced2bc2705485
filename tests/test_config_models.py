"""The experiment config, the data spec and the gate policy as models: one line per problem, with hints.

Tables, not prose: every key a user can write at the top of a config, under ``data:`` (and its
``columns:``), at the top of a gate policy and in a policy rule, mistyped, must be named back
with the key that was meant; a value of the wrong type must name the key and the type it takes;
the numeric ranges that are cheap to get wrong (a NaN tolerance, alpha 1.5, 10 resamples) are refused.
The expected words are the documented types and ranges, written here by hand.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, fields

import pytest
import yaml

from evalkit.core.errors import ConfigError, DataError, PolicyError
from evalkit.inputs.data import Columns, DataOptions, DataSpec
from evalkit.report.gate.policy import Override, Policy
from evalkit.run.experiment import Experiment, ExperimentConfig

SYSTEMS = [{"kind": "lead"}]

# (typo as a user might write it, the key that was meant)
EXPERIMENT_TYPOS = [
    ("sytems", "systems"), ("metrcs", "metrics"), ("dta", "data"), ("taget", "target"), ("nmae", "name"),
    ("seeds", "seed"), ("outputdir", "output_dir"), ("stor", "store"), ("batchsize", "batch_size"),
    ("progres", "progress"), ("replayonly", "replay_only"), ("exector", "executor"), ("ray_adress", "ray_address"),
    ("ray_runtime", "ray_runtime_env"), ("retry_fail", "retry_failed"), ("trackng", "tracking"),
    ("shards", "shard"), ("sample", "samples"),
]
DATA_TYPOS = [
    ("pth", "path"), ("hff", "hf"), ("confg", "config"), ("splt", "split"), ("revison", "revision"),
    ("colums", "columns"), ("limt", "limit"), ("sampel", "sample"), ("sed", "seed"),
    ("require_reference", "require_references"), ("clen", "clean"),
]
COLUMN_TYPOS = [("txt", "text"), ("reference", "references"), ("ids", "id"), ("instructions", "instruction")]
POLICY_TYPOS = [
    ("metric", "metrics"), ("system", "systems"), ("alpah", "alpha"), ("corection", "correction"),
    ("tests", "test"), ("n_resample", "n_resamples"), ("seeds", "seed"), ("max_loss", "max_lost"),
]
RULE_TYPOS = [("tolerence", "tolerance"), ("directon", "direction"), ("optinal", "optional"), ("gates", "gate"),
              ("non_inferior", "non_inferiority"), ("equivalense", "equivalence")]


def one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message and message.strip() == message
    return message


@pytest.mark.parametrize(("table", "model"), [
    (EXPERIMENT_TYPOS, ExperimentConfig), (DATA_TYPOS, DataOptions), (COLUMN_TYPOS, Columns),
    (POLICY_TYPOS, Policy), (RULE_TYPOS, Override),
], ids=["experiment", "data", "columns", "policy", "rule"])
def test_every_key_has_a_typo_row(table, model):
    assert sorted(meant for _, meant in table) == sorted(model.model_fields)


@pytest.mark.parametrize(("typo", "meant"), EXPERIMENT_TYPOS)
def test_a_mistyped_experiment_key_says_which_was_meant(typo, meant):
    with pytest.raises(ConfigError) as error:
        Experiment.from_dict({"systems": SYSTEMS, typo: 1})
    assert one_line(error).startswith(f"experiment does not take '{typo}' (did you mean '{meant}'?); it takes: systems")


@pytest.mark.parametrize(("typo", "meant"), DATA_TYPOS)
def test_a_mistyped_data_key_says_which_was_meant(typo, meant):
    with pytest.raises(DataError) as error:
        DataSpec.from_value({"path": "x.jsonl", typo: 1})
    assert one_line(error).startswith(f"data does not take '{typo}' (did you mean '{meant}'?); it takes: path, hf")


@pytest.mark.parametrize(("typo", "meant"), COLUMN_TYPOS)
def test_a_mistyped_column_key_says_which_was_meant(typo, meant):
    with pytest.raises(DataError) as error:
        DataSpec.from_value({"path": "x.jsonl", "columns": {typo: "body"}})
    assert one_line(error) == (f"data: columns does not take '{typo}' (did you mean '{meant}'?); "
                               "it takes: text, references, id, instruction")


@pytest.mark.parametrize(("typo", "meant"), POLICY_TYPOS)
def test_a_mistyped_policy_key_says_which_was_meant(typo, meant):
    with pytest.raises(PolicyError) as error:
        Policy.from_dict({typo: 1}, source="gate.yaml")
    assert one_line(error).startswith(f"gate.yaml: policy does not take '{typo}' (did you mean '{meant}'?)")


@pytest.mark.parametrize(("typo", "meant"), RULE_TYPOS)
@pytest.mark.parametrize("where", ["metrics", "systems"])
def test_a_mistyped_rule_key_names_the_rule_and_the_key_meant(typo, meant, where):
    rules = {"rouge1_f": {typo: 1}}
    policy = {"metrics": rules} if where == "metrics" else {"systems": {"lead": rules}}
    with pytest.raises(PolicyError) as error:
        Policy.from_dict(policy, source="gate.yaml")
    rule = "metrics.rouge1_f" if where == "metrics" else "systems.lead.rouge1_f"
    assert one_line(error) == (f"gate.yaml: policy: {rule} does not take '{typo}' (did you mean '{meant}'?); "
                               "it takes: tolerance, direction, optional, gate, non_inferiority, equivalence")


def test_a_typo_inside_a_config_file_names_the_file_and_the_section(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("systems: [lead]\ndata: {path: bundled, lmit: 2}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        Experiment.from_yaml(path)
    assert one_line(error).startswith(f"{path}: experiment: data does not take 'lmit' (did you mean 'limit'?)")


# -- wrong types: the key and the type it takes ---------------------------------------------------------------
EXPERIMENT_TYPES = [
    ("systems", "lead", "'systems' must be a list of specs"), ("metrics", {"kind": "rouge"}, "'metrics' must be a list"),
    ("name", 3, "name must be a string"), ("seed", 1.5, "seed must be a whole number"),
    ("seed", "0", "seed must be a whole number"), ("batch_size", "8", "batch_size must be a whole number"),
    ("batch_size", True, "batch_size must be a whole number"), ("output_dir", 3, "output_dir must be a path"),
    ("store", 3, "store must be a path or null"), ("progress", "no", "progress must be true or false"),
    ("replay_only", 1, "replay_only must be true or false"), ("retry_failed", "yes", "retry_failed must be true or false"),
    ("executor", "rya", "executor must be one of 'local', 'ray'"), ("ray_address", 5, "ray_address must be a string or null"),
    ("ray_runtime_env", "x", "ray_runtime_env must be a mapping or null"),
    ("tracking", "x", "tracking must be a mapping"), ("tracking", {"mlflow": {}}, "tracking: mlflow: uri is required"),
    ("data", 3, "data must be 'bundled', a file path or a mapping"), ("target", [60], "target"),
]
DATA_TYPES = [
    ("path", 3, "path must be a string or null"), ("hf", ["xsum"], "hf must be a string or null"),
    ("split", 3, "split must be a string"), ("config", 3, "config must be a string or null"),
    ("revision", 1.0, "revision must be a string or null"), ("columns", "body", "columns must be a mapping"),
    ("limit", "10", "limit must be a whole number >= 1 or null"), ("limit", 2.0, "limit must be a whole number"),
    ("sample", "shuffle", "sample must be one of 'head', 'random'"), ("seed", "5", "seed must be a whole number"),
    ("require_references", 1, "require_references must be true or false"), ("clean", "yes", "clean must be true or false"),
]
POLICY_TYPES = [
    ("alpha", "0.05", "alpha must be a number"), ("correction", "bonferroni", "correction must be one of 'holm', 'none'"),
    ("test", "t-test", "test must be one of 'permutation', 'bootstrap'"),
    ("n_resamples", 10000.0, "n_resamples must be a whole number"), ("seed", "0", "seed must be a whole number"),
    ("max_lost", 1.5, "max_lost must be a whole number"), ("metrics", ["rouge1_f"], "'metrics' must map value names"),
    ("systems", ["lead"], "'systems' must map system names"),
]
RULE_TYPES = [
    ("tolerance", "0.01", "tolerance must be a finite number >= 0 or null"), ("tolerance", True, "tolerance must be a"),
    ("direction", 1, "direction must be one of 'higher', 'lower', 'closer'"),
    ("optional", "no", "optional must be true or false"), ("gate", 0, "gate must be true or false"),
]


@pytest.mark.parametrize(("key", "value", "words"), EXPERIMENT_TYPES)
def test_a_wrong_experiment_type_names_the_key_and_the_type(key, value, words):
    with pytest.raises((ConfigError, DataError)) as error:
        Experiment.from_dict({"systems": SYSTEMS, key: value} if key != "systems" else {key: value})
    assert words in one_line(error)


@pytest.mark.parametrize(("key", "value", "words"), DATA_TYPES)
def test_a_wrong_data_type_names_the_key_and_the_type(key, value, words):
    with pytest.raises(DataError) as error:
        DataSpec.from_value({"hf": "xsum", key: value} if key == "path" else {"path": "x.jsonl", key: value})
    message = one_line(error)
    assert message.startswith("data: ") and words in message and repr(value) in message


@pytest.mark.parametrize(("key", "value", "words"), POLICY_TYPES)
def test_a_wrong_policy_type_names_the_key_and_the_type(key, value, words):
    with pytest.raises(PolicyError) as error:
        Policy.from_dict({key: value}, source="gate.yaml")
    message = one_line(error)
    assert message.startswith("gate.yaml: policy: ") and words in message and repr(value) in message


@pytest.mark.parametrize(("key", "value", "words"), RULE_TYPES)
def test_a_wrong_rule_type_names_the_rule_the_key_and_the_type(key, value, words):
    with pytest.raises(PolicyError) as error:
        Policy.from_dict({"metrics": {"rouge1_f": {key: value}}}, source="gate.yaml")
    message = one_line(error)
    assert message.startswith("gate.yaml: policy: metrics.rouge1_f: ") and words in message


def test_a_rule_that_is_not_a_mapping_is_named():
    with pytest.raises(PolicyError) as error:
        Policy.from_dict({"systems": {"lead": {"rouge1_f": 0.01}}}, source="gate.yaml")
    assert one_line(error).startswith("gate.yaml: policy: systems.lead.rouge1_f must be a mapping")


# -- numeric ranges --------------------------------------------------------------------------------------------
BAD_RULE_TOLERANCES = [math.nan, math.inf, -math.inf, -0.001, -1]
BAD_POLICY_SETTINGS = [("alpha", 0), ("alpha", 1), ("alpha", 1.5), ("alpha", -0.05), ("alpha", math.nan),
                       ("n_resamples", 99), ("n_resamples", 1_000_001), ("n_resamples", 0), ("max_lost", -1),
                       ("seed", -1)]
GOOD_POLICY_SETTINGS = [("alpha", 0.001), ("alpha", 0.999), ("n_resamples", 100), ("n_resamples", 1_000_000),
                        ("max_lost", 0), ("max_lost", 5), ("seed", 0)]


@pytest.mark.parametrize("tolerance", BAD_RULE_TOLERANCES)
def test_a_tolerance_must_be_finite_and_not_negative(tolerance):
    with pytest.raises(PolicyError) as error:
        Policy.from_dict({"metrics": {"rouge1_f": {"tolerance": tolerance}}})
    assert "rouge1_f: tolerance must be a finite number >= 0" in one_line(error)


@pytest.mark.parametrize("text", [".nan", ".inf", "-.inf", ".NaN"])
def test_yaml_nan_and_inf_tolerances_are_refused(tmp_path, text):
    path = tmp_path / "policy.yaml"
    path.write_text(f"metrics:\n  rouge1_f: {{tolerance: {text}}}\n", encoding="utf-8")
    read = yaml.safe_load(path.read_text(encoding="utf-8"))["metrics"]["rouge1_f"]["tolerance"]
    assert isinstance(read, float) and not math.isfinite(read)  # YAML reads these as floats, not strings
    with pytest.raises(PolicyError) as error:
        Policy.load(path)
    assert one_line(error).startswith(f"{path}: policy: metrics.rouge1_f: tolerance must be a finite number >= 0")


def test_a_zero_tolerance_is_kept():
    assert Policy.from_dict({"metrics": {"rouge1_f": {"tolerance": 0}}}).metrics["rouge1_f"].tolerance == 0


@pytest.mark.parametrize(("key", "value"), BAD_POLICY_SETTINGS)
def test_policy_numbers_out_of_range_are_refused(key, value):
    with pytest.raises(PolicyError) as error:
        Policy.from_dict({key: value})
    assert one_line(error).startswith(f"(inline): policy: {key} must be a ")


@pytest.mark.parametrize(("key", "value"), GOOD_POLICY_SETTINGS)
def test_policy_numbers_at_the_edges_of_their_range_are_kept(key, value):
    assert getattr(Policy.from_dict({key: value}), key) == value


def test_the_ranges_are_said_in_words():
    with pytest.raises(PolicyError, match=r"n_resamples must be a whole number >= 100 and <= 1,000,000, got 99$"):
        Policy.from_dict({"n_resamples": 99})
    with pytest.raises(PolicyError, match=r"alpha must be a number > 0 and < 1, got 1\.5$"):
        Policy.from_dict({"alpha": 1.5})


@pytest.mark.parametrize("size", [0, -1])
def test_batch_size_must_be_at_least_one(size):
    for build in (lambda: Experiment.from_dict({"systems": SYSTEMS, "batch_size": size}),
                  lambda: Experiment(systems=SYSTEMS, batch_size=size)):  # the Python path checks the same
        with pytest.raises(ConfigError) as error:
            build()
        assert one_line(error) == f"experiment: batch_size must be a whole number >= 1, got {size}"
    assert Experiment(systems=SYSTEMS, batch_size=1).batch_size == 1


@pytest.mark.parametrize("limit", [0, -3])
def test_data_limit_must_be_at_least_one(limit):
    with pytest.raises(DataError) as error:
        DataSpec.from_value({"path": "x.jsonl", "limit": limit})
    assert one_line(error) == f"data: limit must be a whole number >= 1 or null, got {limit}"
    assert DataSpec.from_value({"path": "x.jsonl", "limit": 1}).limit == 1
    assert DataSpec.from_value({"path": "x.jsonl", "limit": None}).limit is None


# -- the models and the classes that run them agree --------------------------------------------------------------
def test_experiment_takes_exactly_the_config_settings_with_the_same_defaults():
    """``Experiment(...)`` and a config file take the same keys, and leave out the same defaults."""
    defaults = {f.name: f.default if f.default is not MISSING else
                f.default_factory() if f.default_factory is not MISSING else MISSING for f in fields(Experiment)}
    assert list(defaults) == list(ExperimentConfig.model_fields)
    for name, info in ExperimentConfig.model_fields.items():
        expected = MISSING if info.is_required() else info.get_default(call_default_factory=True)
        assert defaults[name] == expected, name


def test_data_spec_takes_exactly_the_data_settings():
    assert [f.name for f in fields(DataSpec)] == list(DataOptions.model_fields)
    defaults = DataSpec(path="x.jsonl")
    for name, info in DataOptions.model_fields.items():
        if name not in ("path", "columns"):
            assert getattr(defaults, name) == info.get_default(), name


def test_hub_presets_fill_only_what_the_spec_leaves_out():
    mine = {"text": "body", "references": "gold"}
    spec = DataSpec.from_value({"hf": "cnn_dailymail", "columns": mine, "config": "2.0.0"})
    assert (spec.config, spec.columns.text, spec.columns.references, spec.columns.id) == ("2.0.0", "body", ("gold",),
                                                                                          "id")

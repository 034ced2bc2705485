"""The default run: extractive strategies and SmolLM2, plus API systems only when their key is set."""

from __future__ import annotations

from evalkit.cli.main import DEFAULT_CONFIG
from evalkit.run.defaults import add_api_systems
from evalkit.run.experiment import Experiment


def test_default_run_has_the_extractive_strategies_and_the_real_local_model():
    experiment = Experiment.from_yaml(DEFAULT_CONFIG)
    kinds = {s["name"]: s["kind"] for s in experiment.systems}
    assert {"lead", "textrank", "lexrank", "oracle"} <= set(kinds)
    assert kinds["smollm2-135m"] == "hf-chat"
    assert not {"openai", "anthropic"} & set(kinds.values())  # never in the file: added only with a key


def test_api_systems_join_only_with_their_key_and_the_output_says_how_to_add_them():
    experiment = Experiment.from_yaml(DEFAULT_CONFIG)
    before = list(experiment.systems)
    lines = add_api_systems(experiment, environ={})
    assert experiment.systems == before  # a missing key never fails, never adds
    assert any("export OPENAI_API_KEY=" in line and "not run" in line for line in lines)
    assert any("export ANTHROPIC_API_KEY=" in line for line in lines)

    lines = add_api_systems(experiment, environ={"OPENAI_API_KEY": "sk-test"})
    added = [s for s in experiment.systems if s not in before]
    assert [s["kind"] for s in added] == ["openai"]
    assert any("included, OPENAI_API_KEY is set" in line for line in lines)
    assert not any("sk-test" in line for line in lines)  # the key itself is never printed
    assert add_api_systems(experiment, environ={"OPENAI_API_KEY": "sk-test"})  # a second call adds nothing twice
    assert sum(s["kind"] == "openai" for s in experiment.systems) == 1

"""The gate's policy: which values are gated, with which tolerance and direction, and how strictly.

Defaults come from the run's measures (:class:`evalkit.core.types.Measure`): a value whose measure
says which way is better (``higher_is_better`` not ``None``) and declares a ``tolerance`` is
gated, with that direction and tolerance, whenever the run has it. The policy YAML only
overrides: per metric or per system ``tolerance``, ``direction``, ``optional`` and ``gate``
(``gate: false`` turns a value off), plus the global settings (``alpha``, ``correction``,
``test``, ``n_resamples``, ``seed``, ``max_lost``).

A rule may instead ask the run to *show* it is no worse: ``non_inferiority: {margin: 0.01}`` (the
new run must be shown not worse than the baseline by more than the margin) or ``equivalence:
{margin: 0.01}`` (shown within the margin either way), decided by TOST on the paired per-document
changes (:func:`evalkit.report.sampling.tost`, Schuirmann 1987). The burden of proof is then on the
new run: a comparison too noisy to show it fails.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, PrivateAttr, field_validator

from evalkit.report import stats
from evalkit.core.errors import PolicyError
from evalkit.core.options import Flag, Number, Options, Whole, shown
from evalkit.core.types import Measure

DEFAULT_POLICY = Path(__file__).resolve().parents[2] / "configs" / "gate-policy.yaml"

Direction = Literal["higher", "lower", "closer"]
DIRECTIONS: tuple[str, ...] = ("higher", "lower", "closer")


@dataclass(frozen=True)
class MetricRule:
    """How one metric value is gated, once the measure's defaults and the policy are merged."""

    tolerance: float
    """The largest worsening that is accepted, in the value's own units (0.005 = half a ROUGE point)."""
    direction: Direction = "higher"
    """Which way is better; ``closer``: nearer the measure's ideal value (a two-sided value)."""
    optional: bool = False
    """Gate it only when the run has it (no warning when it does not)."""
    ideal: float | None = None
    """For ``closer``: the value the distance is measured from."""
    claim: Literal["non_inferiority", "equivalence"] | None = None
    """Decide by TOST instead of the tolerance and the test: show non-inferiority or equivalence."""
    margin: float | None = None
    """The claim's margin, in the value's own units."""


class Margin(Options):
    """A non-inferiority or equivalence claim's margin (``non_inferiority: {margin: 0.01}``)."""

    margin: Annotated[Number, Field(gt=0, allow_inf_nan=False)]
    """The largest change that does not matter, in the value's own units (0.01 = one ROUGE point)."""


def _margin(value: Any, what: str) -> Margin | None:
    if value is None or isinstance(value, Margin):
        return value
    if not isinstance(value, Mapping):
        raise ValueError(  # noqa: TRY004 (pydantic reports a ValueError, not a TypeError)
            f"{what} takes a margin, e.g. {what}: {{margin: 0.01}}, got {shown(value)}")
    if not value:
        raise ValueError(f"{what} needs a margin (the largest change that does not matter, in the value's units), "
                         f"e.g. {what}: {{margin: 0.01}}")
    return Margin.parse(value, what, error=PolicyError)


class Override(Options):
    """What a policy says about one value (``rouge1_f: {tolerance: 0.01}``); ``None`` keeps the measure's setting."""

    tolerance: Annotated[Number, Field(ge=0, allow_inf_nan=False)] | None = None
    """The largest worsening that is accepted, in the value's own units (0.005 = half a ROUGE point)."""
    direction: Direction | None = None
    """Which way is better: higher, lower, or closer (to the measure's ideal value)."""
    optional: Flag | None = None
    """Gate it only when the run has it (default: false for a value the policy names)."""
    gate: Flag | None = None
    """``False``: never gate this value (even though its measure has a tolerance)."""
    non_inferiority: Margin | None = None
    """Pass only when the run is shown not worse than the baseline by more than this margin (TOST)."""
    equivalence: Margin | None = None
    """Pass only when the run is shown within this margin of the baseline either way (TOST)."""

    @field_validator("non_inferiority", "equivalence", mode="before")
    @classmethod
    def _margins(cls, value: Any, info: Any) -> Margin | None:
        return _margin(value, info.field_name)

    def over(self, base: Override) -> Override:
        """This override applied on top of ``base``."""
        return Override(**{name: mine if mine is not None else getattr(base, name)
                           for name, mine in self.values().items()})


def _overrides(value: Any, where: str, example: str) -> dict[str, Override]:
    """A ``{value name: override}`` mapping checked rule by rule (each rule's problem is its one line)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(  # noqa: TRY004 (pydantic reports a ValueError, not a TypeError)
            f"'{where}' must map value names to overrides, e.g. {example}, got {shown(value)}")
    return {str(name): Override.parse(rule, f"{where}.{name}", error=PolicyError) for name, rule in value.items()}


def measure_default(measure: Measure | None) -> Override:
    """What a measure alone says: gated if it has a direction and a tolerance (optional unless a policy names it)."""
    if measure is None:
        return Override()
    direction = ("closer" if measure.ideal is not None else None if measure.higher_is_better is None
                 else "higher" if measure.higher_is_better else "lower")
    if direction is None or measure.tolerance is None:
        return Override(direction=direction)  # a policy that gives a tolerance gates it in this direction
    return Override(tolerance=float(measure.tolerance), direction=direction, gate=True)


def _check_direction(source: str, metric: str, direction: str, measure: Measure | None) -> None:
    """Refuse a direction that contradicts what the value's measure declares."""
    if measure is not None and measure.ideal is not None and direction != "closer":
        raise PolicyError(f"{source}: {metric} is two-sided (best at {measure.ideal:g}: a cut or padded summary "
                          f"misses it on either side), so direction: {direction} would reward one way of missing it; "
                          "use direction: closer, which gates the distance from it")
    if direction == "closer" and (measure is None or measure.ideal is None):
        raise PolicyError(f"{source}: {metric} declares no ideal value to be closer to; use direction: higher or "
                          "lower")
    declared = None if measure is None or measure.higher_is_better is None else (
        "higher" if measure.higher_is_better else "lower")
    if declared is not None and direction != declared:
        raise PolicyError(f"{source}: {metric}'s metric declares that {declared} is better; direction: {direction} "
                          "contradicts it; remove the direction from its rule")


class Policy(Options):
    """What the gate checks and how strictly (see ``configs/gate-policy.yaml``); every key is checked here."""

    metrics: dict[str, Override] = Field(default_factory=dict)
    """Value name -> override of its measure's defaults."""
    systems: dict[str, dict[str, Override]] = Field(default_factory=dict)
    """Per-system overrides: system -> value name -> override (merged over ``metrics``)."""
    alpha: Annotated[Number, Field(gt=0, lt=1)] = 0.05
    """Significance level of each (corrected) test, e.g. 0.05."""
    correction: Literal[stats.CORRECTIONS] = "holm"  # type: ignore[valid-type]
    test: Literal[stats.METHODS] = "permutation"  # type: ignore[valid-type]
    n_resamples: Annotated[Whole, Field(ge=100, le=1_000_000)] = 10000
    """Resamples of the paired test: fewer than 100 cannot reach a small p-value; over a million only costs time."""
    seed: Annotated[Whole, Field(ge=0)] = 0
    max_lost: Annotated[Whole, Field(ge=0)] = 0
    """Documents that may lose their value (a summary that now fails) before a check fails."""
    _source: str = PrivateAttr("(inline)")

    @property
    def source(self) -> str:
        """Where the policy came from, for messages."""
        return self._source

    @field_validator("metrics", mode="before")
    @classmethod
    def _metric_rules(cls, value: Any) -> dict[str, Override]:
        return _overrides(value, "metrics", "metrics: {rouge1_f: {tolerance: 0.01}}")

    @field_validator("systems", mode="before")
    @classmethod
    def _system_rules(cls, value: Any) -> dict[str, dict[str, Override]]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise ValueError(  # noqa: TRY004 (pydantic reports a ValueError, not a TypeError)
                f"'systems' must map system names to {{value name: override}}, got {shown(value)}")
        return {str(system): _overrides(rules, f"systems.{system}", "{rouge2_f: {tolerance: 0.01}}")
                for system, rules in value.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "(inline)") -> Policy:
        """A policy from a mapping (a policy file's content); ``source`` names it in messages."""
        if not isinstance(data, Mapping):
            raise PolicyError(f"{source}: a policy is a mapping (alpha, metrics, systems...); see "
                              f"{DEFAULT_POLICY.name}")
        policy = cls.parse(data, f"{source}: policy", error=PolicyError)
        policy._source = source
        return policy

    @classmethod
    def load(cls, value: Policy | Mapping[str, Any] | str | Path | None = None) -> Policy:
        """A policy from a :class:`Policy`, a mapping, a YAML path, or ``None`` for the bundled default."""
        if isinstance(value, Policy):
            return value
        if isinstance(value, Mapping):
            return cls.from_dict(value)
        import yaml

        from evalkit.core import yamlsafe

        path = Path(value) if value is not None else DEFAULT_POLICY
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such policy file; pass an existing --policy or leave it out "
                                    "for the bundled default")
        try:
            data = yamlsafe.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise PolicyError(f"{path}: not valid YAML: {exc}") from exc
        return cls.from_dict(data or {}, source=str(path))

    def rule(self, system: str | None, metric: str, measure: Measure | None = None) -> MetricRule | None:
        """The rule for ``metric`` on ``system``: the measure's defaults, the policy's, then the system's.

        ``None`` when the value is not gated (no tolerance anywhere, or ``gate: false``). A
        policy that gives a tolerance for a value with no direction (in the policy or its
        measure) raises :class:`PolicyError`.
        """
        merged = measure_default(measure)
        merged = self.metrics.get(metric, Override()).over(merged)
        if system is not None:
            merged = self.systems.get(system, {}).get(metric, Override()).over(merged)
        named = metric in self.metrics or (system is not None and metric in self.systems.get(system, {}))
        if merged.non_inferiority is not None and merged.equivalence is not None:
            raise PolicyError(f"{self.source}: {metric} asks for both non_inferiority and equivalence; keep one "
                              "(equivalence also shows non-inferiority)")
        claim = ("non_inferiority" if merged.non_inferiority is not None else
                 "equivalence" if merged.equivalence is not None else None)
        margin = (merged.non_inferiority or merged.equivalence).margin if claim else None
        if merged.gate is False or (merged.tolerance is None and claim is None):
            return None
        if merged.direction is None:
            raise PolicyError(f"{self.source}: {metric} has a tolerance or margin but no direction, and its measure does not "
                              "say which way is better; add direction: higher (or lower) to its rule")
        _check_direction(self.source, metric, merged.direction, measure)
        optional = merged.optional if merged.optional is not None else not named
        ideal = measure.ideal if measure is not None and merged.direction == "closer" else None
        tolerance = float(merged.tolerance) if merged.tolerance is not None else float(margin)
        return MetricRule(tolerance, merged.direction, bool(optional), ideal, claim,
                          None if margin is None else float(margin))

    def disabled(self, system: str | None, metric: str) -> bool:
        """True when the policy says ``gate: false`` for this value (on this system)."""
        merged = self.metrics.get(metric, Override())
        if system is not None:
            merged = self.systems.get(system, {}).get(metric, Override()).over(merged)
        return merged.gate is False

    def describe(self) -> str:
        test = "paired permutation test" if self.test == "permutation" else "paired bootstrap test"
        correction = ", Holm-corrected across the gated checks" if self.correction == "holm" else ""
        return f"two-sided {test} ({self.n_resamples} resamples, seed {self.seed}){correction}, alpha={self.alpha:g}"

"""The gate's policy: which values are gated, with which tolerance and direction, and how strictly.

Defaults come from the run's measures (:class:`evalkit.core.types.Measure`): a value whose measure
says which way is better (``higher_is_better`` not ``None``) and declares a ``tolerance`` is
gated, with that direction and tolerance, whenever the run has it. The policy YAML only
overrides: per metric or per system ``tolerance``, ``direction``, ``optional`` and ``gate``
(``gate: false`` turns a value off), plus the global settings (``alpha``, ``correction``,
``test``, ``n_resamples``, ``seed``, ``max_lost``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from evalkit.report import stats
from evalkit.report.gate import ranges
from evalkit.core.errors import PolicyError
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


@dataclass(frozen=True)
class Override:
    """What a policy says about one value; ``None`` fields keep the measure's (or the metric rule's) setting."""

    tolerance: float | None = None
    direction: Direction | None = None
    optional: bool | None = None
    gate: bool | None = None
    """``False``: never gate this value (even though its measure has a tolerance)."""

    def over(self, base: Override) -> Override:
        """This override applied on top of ``base``."""
        return Override(*(mine if mine is not None else theirs
                          for mine, theirs in zip(_fields(self), _fields(base))))


def _fields(item: Override) -> tuple:
    return item.tolerance, item.direction, item.optional, item.gate


_RULE_KEYS = {"tolerance", "direction", "optional", "gate"}
_POLICY_KEYS = {"alpha", "correction", "test", "n_resamples", "seed", "max_lost", "metrics", "systems"}


def _override(name: str, value: Any, where: str) -> Override:
    if not isinstance(value, Mapping):
        raise PolicyError(f"{where}: {name} must be a mapping such as {{tolerance: 0.005}} "
                          "(keys: tolerance, direction, optional, gate)")
    unknown = set(value) - _RULE_KEYS
    if unknown:
        raise PolicyError(f"{where}: {name} has unknown key(s) {sorted(unknown)}; allowed: {sorted(_RULE_KEYS)}")
    tolerance = value.get("tolerance")
    if tolerance is not None:
        tolerance = ranges.tolerance(tolerance, f"{where}: {name}.tolerance")
    direction = value.get("direction")
    if direction is not None and direction not in DIRECTIONS:
        raise PolicyError(f"{where}: {name}.direction must be 'higher', 'lower' or 'closer' (to the measure's "
                          f"ideal value), got {str(direction)[:40]!r}")
    for key in ("optional", "gate"):
        if value.get(key) is not None and not isinstance(value.get(key), bool):
            raise PolicyError(f"{where}: {name}.{key} must be true or false, got {value.get(key)!r}")
    return Override(None if tolerance is None else float(tolerance), direction, value.get("optional"),
                    value.get("gate"))


def measure_default(measure: Measure | None) -> Override:
    """What a measure alone says: gated if it has a direction and a tolerance (optional unless a policy names it)."""
    if measure is None:
        return Override()
    direction = ("closer" if measure.ideal is not None else None if measure.higher_is_better is None
                 else "higher" if measure.higher_is_better else "lower")
    if direction is None or measure.tolerance is None:
        return Override(direction=direction)  # a policy that gives a tolerance gates it in this direction
    return Override(float(measure.tolerance), direction, None, True)


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


@dataclass(frozen=True)
class Policy:
    """What the gate checks and how strictly (see ``configs/gate-policy.yaml``)."""

    metrics: Mapping[str, Override] = field(default_factory=dict)
    """Value name -> override of its measure's defaults."""
    systems: Mapping[str, Mapping[str, Override]] = field(default_factory=dict)
    """Per-system overrides: system -> value name -> override (merged over ``metrics``)."""
    alpha: float = 0.05
    correction: Literal["holm", "none"] = "holm"
    test: stats.Method = "permutation"
    n_resamples: int = 10000
    seed: int = 0
    max_lost: int = 0
    """Documents that may lose their value (a summary that now fails) before a check fails."""
    source: str = "(inline)"
    """Where the policy came from, for messages."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "(inline)") -> Policy:
        if not isinstance(data, Mapping):
            raise PolicyError(f"{source}: a policy is a mapping (alpha, metrics, systems...); see "
                              f"{DEFAULT_POLICY.name}")
        unknown = set(data) - _POLICY_KEYS
        if unknown:
            raise PolicyError(f"{source}: unknown policy key(s) {sorted(unknown)}; allowed: {sorted(_POLICY_KEYS)}")
        raw_metrics = data.get("metrics") or {}
        if not isinstance(raw_metrics, Mapping):
            raise PolicyError(f"{source}: 'metrics' must map value names to overrides, "
                              "e.g. metrics: {rouge1_f: {tolerance: 0.01}}")
        metrics = {str(n): _override(str(n), v, source) for n, v in raw_metrics.items()}
        systems: dict[str, dict[str, Override]] = {}
        raw_systems = data.get("systems") or {}
        if not isinstance(raw_systems, Mapping):
            raise PolicyError(f"{source}: 'systems' must map system names to {{value name: override}}")
        for system, overrides in raw_systems.items():
            if not isinstance(overrides, Mapping):
                raise PolicyError(f"{source}: systems.{system} must map value names to overrides")
            systems[str(system)] = {str(n): _override(f"systems.{system}.{n}", v, source)
                                    for n, v in overrides.items()}
        alpha = data.get("alpha", 0.05)
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
            raise PolicyError(f"{source}: alpha must lie strictly between 0 and 1 (e.g. 0.05), got {alpha!r}")
        correction = data.get("correction", "holm")
        if correction not in stats.CORRECTIONS:
            raise PolicyError(f"{source}: correction must be one of {stats.CORRECTIONS}, got {correction!r}")
        test = data.get("test", "permutation")
        if test not in stats.METHODS:
            raise PolicyError(f"{source}: test must be one of {stats.METHODS}, got {test!r}")
        whole = {"n_resamples": ranges.n_resamples(data.get("n_resamples", 10000), f"{source}: n_resamples"),
                 **{key: ranges.whole(data.get(key, 0), f"{source}: {key}", low=0) for key in ("seed", "max_lost")}}
        return cls(metrics=metrics, systems=systems, alpha=float(alpha), correction=correction, test=test,
                   source=source, **whole)

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
        if merged.gate is False or merged.tolerance is None:
            return None
        if merged.direction is None:
            raise PolicyError(f"{self.source}: {metric} has a tolerance but no direction, and its measure does not "
                              "say which way is better; add direction: higher (or lower) to its rule")
        _check_direction(self.source, metric, merged.direction, measure)
        optional = merged.optional if merged.optional is not None else not named
        ideal = measure.ideal if measure is not None and merged.direction == "closer" else None
        return MetricRule(merged.tolerance, merged.direction, bool(optional), ideal)

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

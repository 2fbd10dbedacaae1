"""Proven reoffending of simulated cohorts, by the data standard's counting rules.

The same figures `pbrkit.measure` publishes, computed on the simulator's
arrays instead of frames: a person is counted once per group and cohort, at
their earliest episode in it (ties: the smallest episode id); a reoffence is
an offence 0 to 364 days after the start, disposed of at most 547 days
after it; expected rates come from the fitted baseline model's own
expectations for each case-mix cell (`BaselineModel.expect`); the z and
p-values are `pbrkit.measure.outcomes`' formulas. A test checks every figure
against `pbrkit.measure` run on the same world written as tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from pbrkit.measure.features import PRIOR_BANDS
from pbrkit.measure.outcomes import SIGNIFICANCE_LEVEL, two_sided_p
from pbrkit.simulate.world import cell_levels
from pbrkit.standard.schema import RISK_TIERS, SENTENCES

LEVEL_NAMES: dict[str, tuple[str, ...]] = {"prior_band": PRIOR_BANDS, "risk_tier": RISK_TIERS, "sentence": SENTENCES}


def counted(group: np.ndarray, pid: np.ndarray, start: np.ndarray, episode_id: np.ndarray,
            by_person: np.ndarray | None = None) -> np.ndarray:
    """Rows of the counted episodes: each person's earliest in their group
    (ties to the smallest episode id), in (group, person, start, id) order.

    The rows are sorted by person first (`person_order`, or `by_person` when
    the caller has it) and then, stably, by group, which is the same order as
    one sort on all four keys but cheaper: a quarter's episodes arrive in a
    few runs by person, which a stable (merge) sort takes almost in one pass,
    and a group (a provider) is a small integer, sorted by counting."""
    if group.size == 0:
        return np.zeros(0, dtype=np.int64)
    if by_person is None:
        by_person = person_order(pid, start, episode_id)
    lo, hi = int(group.min()), int(group.max())
    if hi - lo < group.size:
        return _first_per_group(by_person, group, lo, hi - lo + 1, pid)
    codes = np.unique(group, return_inverse=True)[1].reshape(group.shape)  # wide codes, made dense
    return _first_per_group(by_person, codes, 0, int(codes.max()) + 1, pid)


def person_order(pid: np.ndarray, start: np.ndarray, episode_id: np.ndarray) -> np.ndarray:
    """The rows in (person, start, episode id) order: what every count of a
    cohort's people starts from."""
    return _order(pid, start, episode_id)


def pooled(by_person: np.ndarray, keep: np.ndarray, pid: np.ndarray, reoffences: np.ndarray) -> tuple[int, int, int]:
    """(offenders, reoffenders, reoffences) of the kept rows, each person
    counted once, at their earliest kept episode; `by_person` is the rows'
    `person_order`."""
    return tuple(int(x) for x in _pooled(by_person, keep, pid, reoffences))


@njit(cache=True)
def _pooled(by_person, keep, pid, reoffences):
    offenders = reoffenders = total = 0
    last = -1
    for row in by_person:
        if not keep[row] or (offenders > 0 and pid[row] == last):  # dropped, or a later episode of the same person
            continue
        last = pid[row]
        offenders += 1
        reoffenders += reoffences[row] > 0
        total += reoffences[row]
    return offenders, reoffenders, total


@njit(cache=True)
def _first_per_group(by_person, group, lo, n_groups, pid):
    """A stable counting sort of the rows (in person order) by group, keeping
    the first row of each (group, person)."""
    begin = np.zeros(n_groups + 1, np.int64)
    for row in by_person:
        begin[group[row] - lo + 1] += 1
    for g in range(n_groups):
        begin[g + 1] += begin[g]
    ordered = np.empty(by_person.size, np.int64)
    for row in by_person:
        g = group[row] - lo
        ordered[begin[g]] = row
        begin[g] += 1
    first = np.empty(by_person.size, np.int64)
    m = 0
    for k in range(ordered.size):
        row = ordered[k]
        if k == 0 or group[row] != group[ordered[k - 1]] or pid[row] != pid[ordered[k - 1]]:
            first[m] = row
            m += 1
    return first[:m]


def _bits(x: np.ndarray) -> tuple[int, int]:
    lo = int(x.min())
    return lo, max(int(x.max()) - lo, 1).bit_length()


def _order(*keys: np.ndarray) -> np.ndarray:
    """`np.lexsort(keys[::-1])` (first key most significant): one stable
    argsort of a packed 64-bit key when the keys' ranges fit in 63 bits, as
    they do in simulated runs; lexsort otherwise."""
    spans = [_bits(k) for k in keys]
    if sum(b for _, b in spans) > 63:
        return np.lexsort(keys[::-1])
    packed = np.zeros(keys[0].size, dtype=np.int64)
    for k, (lo, b) in zip(keys, spans, strict=True):
        packed <<= b
        packed |= k.astype(np.int64) - lo
    return np.argsort(packed, kind="stable")


@dataclass
class CohortSums:
    """Per group (and level): the counts and expected sums a measure row is made of."""

    offenders: np.ndarray
    reoffenders: np.ndarray
    reoffences: np.ndarray
    sum_p: np.ndarray
    sum_pq: np.ndarray
    sum_mu: np.ndarray

    @classmethod
    def of(cls, slot: np.ndarray, n_slots: int, reoffences: np.ndarray, p: np.ndarray, mu: np.ndarray) -> CohortSums:
        return cls(*_sums(slot, n_slots, reoffences, p, mu))


@njit(cache=True)
def _sums(slot, n_slots, reoffences, p, mu):
    """The six sums in one pass; each adds its rows in order, as `np.bincount` does."""
    offenders = np.zeros(n_slots, np.int64)
    reoffenders = np.zeros(n_slots, np.int64)
    reoffence_sum = np.zeros(n_slots)
    sum_p = np.zeros(n_slots)
    sum_pq = np.zeros(n_slots)
    sum_mu = np.zeros(n_slots)
    for i in range(slot.size):
        s = slot[i]
        offenders[s] += 1
        reoffenders[s] += reoffences[i] > 0
        reoffence_sum[s] += reoffences[i]
        sum_p[s] += p[i]
        sum_pq[s] += p[i] * (1.0 - p[i])
        sum_mu[s] += mu[i]
    return offenders, reoffenders, reoffence_sum.astype(np.int64), sum_p, sum_pq, sum_mu


def measure_row(group: str, period: str, i: int, s: CohortSums, phi: float, segment: str | None = None) -> dict:
    """One mature cohort's row, with the standard's columns (as `pbrkit.measure` gives them)."""
    n, r, f = int(s.offenders[i]), int(s.reoffenders[i]), int(s.reoffences[i])
    sum_p, sum_pq, sum_mu = float(s.sum_p[i]), float(s.sum_pq[i]), float(s.sum_mu[i])
    binary_rate = r / n
    expected_rate = sum_p / n
    z = (r - sum_p) / np.sqrt(sum_pq) if sum_pq > 0 else None
    p_value = float(two_sided_p(np.asarray([z]))[0]) if z is not None else None
    row = {
        "group": group, "period": period, "mature": True, "offenders": n, "reoffenders": r, "reoffences": f,
        "binary_rate": binary_rate, "frequency": f / r if r > 0 else 0.0, "reoffences_per_offender": f / n,
        "expected_rate": expected_rate, "rate_diff_pp": 100.0 * (binary_rate - expected_rate),
        "z": None if z is None else float(z), "p_value": p_value,
        "significant": None if p_value is None else p_value < SIGNIFICANCE_LEVEL,
        "expected_reoffences": sum_mu, "expected_frequency": sum_mu / sum_p if sum_p > 0 else None,
        "z_frequency": (f - sum_mu) / float(np.sqrt(sum_mu * phi)) if sum_mu * phi > 0 else None,
    }
    if segment is not None:
        row = {"group": group, "period": period, "segment": segment, **{k: v for k, v in row.items()
                                                                          if k not in ("group", "period")}}
    return row


def cohort_measure(episodes: dict[str, np.ndarray], reoffences: np.ndarray, cell_p: np.ndarray,
                   cell_mu: np.ndarray, phi: float, period: str, providers: tuple[str, ...],
                   segments: tuple[str | None, ...], by_person: np.ndarray | None = None
                   ) -> dict[str | None, dict[tuple[str, str], list[dict]]]:
    """Measure rows of one quarter's cohort for every provider with an episode
    in it: segment (None = whole cohort) -> (provider, period) -> rows.

    `reoffences` holds each episode's proven reoffences; `by_person` is the
    episodes' `person_order`, when the caller has it.
    """
    rows = counted(episodes["provider"], episodes["pid"], episodes["start"], episodes["id"], by_person)
    out: dict[str | None, dict[tuple[str, str], list[dict]]] = {seg: {} for seg in segments}
    if rows.size == 0:
        return out
    provider = episodes["provider"][rows].astype(np.int64)
    cell = episodes["cell"][rows]
    reoff = reoffences[rows]
    p, mu = cell_p[cell], cell_mu[cell]
    n_prov = len(providers)
    for seg in segments:
        if seg is None:
            sums = CohortSums.of(provider, n_prov, reoff, p, mu)
            for k in np.flatnonzero(sums.offenders):
                out[seg][(providers[k], period)] = [measure_row(providers[k], period, int(k), sums, phi)]
            continue
        levels = cell_levels(cell)[seg]
        names = LEVEL_NAMES[seg]
        n_lv = len(names)
        sums = CohortSums.of(provider * n_lv + levels, n_prov * n_lv, reoff, p, mu)
        for slot in np.flatnonzero(sums.offenders):
            k, lv = divmod(int(slot), n_lv)
            out[seg].setdefault((providers[k], period), []).append(
                measure_row(providers[k], period, slot, sums, phi, names[lv]))
    return out


__all__ = ["CohortSums", "cohort_measure", "counted", "measure_row", "person_order", "pooled"]

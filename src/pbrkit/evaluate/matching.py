"""Nearest-neighbour matching on the logit of the propensity score, within a caliper.

The rules, so that anyone can reproduce a match by hand:

- **Order.** Treated episodes are matched one at a time, highest score first
  (the hardest to match, since few comparison episodes look like them), ties
  by episode_id. This is MatchIt's default `m.order = "largest"`.
- **Nearest.** The comparison episodes are sorted by (logit, episode_id), and
  the treated episode is placed in that list before any equal logit. It takes
  its `k` nearest comparison episodes on the logit. At equal distance a
  candidate below its score comes before one above it, and of candidates on
  the same side with the same logit, the one nearer its place in the list
  comes first (above it: the smaller episode_id; below it: the larger).
- **Caliper.** A neighbour further than the caliper (default 0.2 standard
  deviations of the logit, Austin 2011) is no match. A treated episode with
  fewer than `k` neighbours inside it keeps those it has; with none, it is
  unmatched and leaves the analysis.
- **Replacement.** Without replacement a comparison episode, once taken, is
  gone for later treated episodes; with replacement it can serve several, and
  its weight counts how often.

Each treated episode's own neighbours share its weight equally (1 / k_i), so
the comparison mean for a treated episode is the plain mean of its neighbours.

The search keeps two "next free neighbour" pointers per position with path
compression (a union-find), so matching without replacement stays close to
linear even when earlier matches have emptied a dense region.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Matches:
    """Matched pairs: positions into the treated and pool arrays, and the
    pair's weight (1 / the number of neighbours its treated episode got)."""

    treated: np.ndarray  # int64, position of the treated episode
    control: np.ndarray  # int64, position of the comparison episode
    weight: np.ndarray  # float64

    @property
    def matched_treated(self) -> np.ndarray:
        """Positions of the treated episodes that found at least one match, sorted."""
        return np.unique(self.treated)


def _find(parent: np.ndarray, i: int) -> int:
    """The root of i (the nearest free position in parent's direction), compressing the path."""
    root = i
    while parent[root] != root:
        root = parent[root]
    while parent[i] != root:
        parent[i], i = root, parent[i]
    return root


def nearest_neighbours(
    treated_logit: np.ndarray,
    treated_ids: np.ndarray,
    pool_logit: np.ndarray,
    pool_ids: np.ndarray,
    *,
    k: int = 1,
    caliper: float = np.inf,
    replace: bool = False,
) -> Matches:
    """Match each treated episode to up to `k` pool episodes (rules in the module docstring).

    `caliper` is on the logit scale (already multiplied by the standard deviation).
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, not {k}")
    n = len(pool_logit)
    pool_order = np.lexsort((pool_ids, pool_logit))
    values = pool_logit[pool_order]
    # Highest score first; ties by episode_id (lexsort's last key is primary).
    treated_order = np.lexsort((treated_ids, -treated_logit))
    insert = np.searchsorted(values, treated_logit, side="left")
    # Sentinels: position -1 maps to slot 0 and n maps to slot n + 1.
    left = np.arange(n + 2)  # left[i + 1]: nearest free position <= i, or -1
    right = np.arange(n + 2)  # right[i + 1]: nearest free position >= i, or n
    out_t: list[int] = []
    out_c: list[int] = []
    out_w: list[float] = []
    for t in treated_order.tolist():
        x = treated_logit[t]
        lo, hi = insert[t] - 1, insert[t]
        if not replace:
            lo, hi = _find(left, lo + 1) - 1, _find(right, hi + 1) - 1
        found: list[int] = []
        while len(found) < k:
            d_lo = x - values[lo] if lo >= 0 else np.inf
            d_hi = values[hi] - x if hi < n else np.inf
            if d_lo <= d_hi:  # the earlier one wins a tie
                best, dist = lo, d_lo
            else:
                best, dist = hi, d_hi
            if dist > caliper or not np.isfinite(dist):
                break
            found.append(best)
            if best == lo:
                lo = lo - 1 if replace else _find(left, lo) - 1
            else:
                hi = hi + 1 if replace else _find(right, hi + 2) - 1
            if not replace:  # take it: both pointer sets skip it from now on
                left[best + 1] = best
                right[best + 1] = best + 2
        for c in found:
            out_t.append(t)
            out_c.append(int(pool_order[c]))
            out_w.append(1.0 / len(found))
    return Matches(
        np.asarray(out_t, dtype=np.int64), np.asarray(out_c, dtype=np.int64), np.asarray(out_w, dtype=np.float64)
    )

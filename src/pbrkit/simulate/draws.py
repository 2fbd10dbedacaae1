"""Common random numbers, addressed by person, event number and purpose.

The design world and the counterfactual must meet the same luck: the same
person, at their k-th offence, gets the same delay to court, the same
sentencing draw and the same waiting time to the next offence in both worlds,
so the difference in reoffending between them is the design's doing and not
noise. Drawing arrays in step would not do that once the worlds diverge (a
person sent to custody in one world and not the other), so each number is a
pure function of its address `(person, counter, purpose)` and one key drawn
from the replicate's generator: a counter-based generator. Whichever world,
process or machine asks, the number at an address is the same.

The mixing function is SplitMix64's finaliser applied to
`key + address * golden_gamma` (Steele, Lea & Flood 2014), exactly how
SplitMix64 turns a counter into a stream; it is cheap (a few integer
operations per number, vectorised) and its output passes BigCrush.
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)

# Address layout: person (31 bits) | counter (27 bits) | purpose (6 bits).
_PERSON_SHIFT = np.uint64(33)
_COUNTER_SHIFT = np.uint64(6)

# Purposes. Offence-numbered (counter = the person's offence number):
GAP, COURT = 0, 1  # COURT: a pair (the delay to disposal, whether it brings a sentence)
# Spell-numbered (counter = the person's spell number): the sentence ending the spell.
NEW_SENTENCE, SERVED = 3, 4
# Spell-numbered (counter = the person's spell number):
OFFENCE_TYPE, HIGH_RISK, ONE_OFF, ALLOCATION, SUBCONTRACT = 10, 11, 12, 13, 14
# Event draws (counter = spell number; one purpose per kind and use):
EVENT_PROPER, EVENT_LATE, EVENT_LATE_DAYS, EVENT_NOT_DONE, EVENT_AUDIT = 20, 24, 28, 32, 36


def _mix(key: np.uint64, person: np.ndarray, counter: np.ndarray | int, purpose: int) -> np.ndarray:
    """The 64 mixed bits at each address (person[i], counter[i], purpose)."""
    p = np.asarray(person).astype(np.uint64)
    c = np.asarray(counter).astype(np.uint64)
    x = (p << _PERSON_SHIFT) | (c << _COUNTER_SHIFT) | np.uint64(purpose)
    # Unsigned array arithmetic wraps modulo 2**64 silently, as the mix needs.
    x *= _GOLDEN
    x += key
    x ^= x >> _S30
    x *= _M1
    x ^= x >> _S27
    x *= _M2
    x ^= x >> _S31
    return x


def uniform(key: np.uint64, person: np.ndarray, counter: np.ndarray | int, purpose: int) -> np.ndarray:
    """Uniform numbers in (0, 1), one per address (person[i], counter[i], purpose)."""
    x = _mix(key, person, counter, purpose)
    x >>= _S11
    u = x.astype(np.float64)
    u += 0.5
    u *= 1.0 / 9007199254740992.0
    return u


def uniform_pair(key: np.uint64, person: np.ndarray, counter: np.ndarray | int, purpose: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Two independent uniforms per address from one hash (32 bits each, in
    (0, 1)): for the draws every offence needs, at half the cost."""
    x = _mix(key, person, counter, purpose)
    hi = (x >> np.uint64(32)).astype(np.float64)
    lo = (x & np.uint64(0xFFFFFFFF)).astype(np.float64)
    scale = 1.0 / 4294967296.0
    return (hi + 0.5) * scale, (lo + 0.5) * scale


def exponential(key: np.uint64, person: np.ndarray, counter: np.ndarray | int, purpose: int) -> np.ndarray:
    """Standard exponential numbers (mean 1) at the addresses."""
    return -np.log(uniform(key, person, counter, purpose))


def replicate_key(rng: np.random.Generator) -> np.uint64:
    """The key of a replicate's common random numbers, drawn from its generator."""
    return np.uint64(rng.integers(0, 2**63, dtype=np.int64))


__all__ = ["exponential", "replicate_key", "uniform", "uniform_pair"]

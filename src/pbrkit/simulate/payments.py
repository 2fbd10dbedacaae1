"""The bridge from the simulated world to `pbrkit.pay`: the same statements real
data gets.

A payment run on live data reads, per provider and quarter, the new episodes
by sentence, the case-months supervised, the service events split into met,
late, missing, found empty and pending, and the measure rows of the cohorts
that mature (`pbrkit.pay.PaymentInputs`, built by `pbrkit.pay.prepare`).
`PaymentBook` builds exactly those facts from the kernel's log, a quarter at
a time as the quarter closes (a quarter's facts never change afterwards, so
the book only grows), and hands `pbrkit.pay.statement` a `PaymentInputs` as
at each statement's date. `inputs_from_record` builds the whole book from a
finished world's record, which a test compares with `prepare` run on the
same world written as tables.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import numpy as np
from numba import njit

from pbrkit.contracts.schema import Contract
from pbrkit.pay import PaymentInputs
from pbrkit.pay.inputs import ServiceRule
from pbrkit.pay.quarters import last_day
from pbrkit.simulate.cohorts import cohort_measure
from pbrkit.simulate.params import EVENT_KINDS
from pbrkit.simulate.world import BASELINE, StartingWorld, day_number
from pbrkit.standard.schema import SENTENCES

EPOCH = dt.date(1970, 1, 1)
#: What `service_counts` reads of a service event.
SERVICE_FIELDS = ("kind", "due", "done", "complete", "provider")
#: What it tells of a provider's events due in a quarter, in this order.
SERVICE_COUNTS = ("due", "pending", "missing", "late", "incomplete", "met")


def quarter_of_day(days: np.ndarray) -> np.ndarray:
    """`quarter_index` of each epoch day.

    Calendar arithmetic on datetime64 is slow per element, and a quarter's
    episodes and events span a few years of days among hundreds of thousands
    of rows, so whole-day arrays are answered from a table of their span."""
    days = np.asarray(days)
    if days.size == 0 or days.dtype.kind not in "iu":
        return _calendar_quarter(days)
    lo, hi = int(days.min()), int(days.max())
    if hi - lo >= days.size:
        return _calendar_quarter(days)
    return _calendar_quarter(np.arange(lo, hi + 1))[days - lo]


def _calendar_quarter(days: np.ndarray) -> np.ndarray:
    months = np.asarray(days, dtype="datetime64[D]").astype("datetime64[M]").astype(np.int64) + 1970 * 12
    return months // 3


_EPOCH_MONTH = 1970 * 12


def _month_and_day(days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each day's month (year * 12 + month - 1, so a quarter is month // 3) and day of month."""
    d = np.asarray(days, dtype=np.int64).astype("datetime64[D]")
    m = d.astype("datetime64[M]")
    return m.astype(np.int64) + _EPOCH_MONTH, (d - m.astype("datetime64[D]")).astype(np.int64) + 1


def _first_day(month: np.ndarray) -> np.ndarray:
    return (month - _EPOCH_MONTH).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)


def case_month_spans(start: np.ndarray, months: int, moved: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Months (year * 12 + month - 1) an episode counts in for case-months: from
    the first month whose first day is on or after its start, to (not including)
    the first on or after its end: start + `months` calendar months (the day
    clamped to the month's length), or a transfer to another provider if sooner.
    `moved` is the transfer day (a large number when none)."""
    month, dom = _month_and_day(start)
    end_month = month + months
    first = _first_day(end_month)
    length = _first_day(end_month + 1) - first
    end = first + np.minimum(dom, length) - 1
    end = np.where(moved < end, moved, end)
    begin = month + (dom != 1)
    end_m, end_dom = _month_and_day(end)
    return begin, end_m + (end_dom != 1)


def service_counts(events: dict[str, np.ndarray], transfer_day: np.ndarray, transfer_to: np.ndarray,
                   rule: ServiceRule, as_of: int, providers: tuple[str, ...]
                   ) -> dict[tuple[str, int], dict[str, int]]:
    """`pbrkit.pay.inputs._service_counts` on the log's events: by the provider
    responsible on the due date (transfers move responsibility) and the quarter due
    (`events["due_quarter"]` when given, else computed)."""
    kind, days_allowed, incomplete_is_failure = rule
    if kind not in EVENT_KINDS or events["due"].size == 0:
        return {}
    due_q = events["due_quarter"] if "due_quarter" in events else quarter_of_day(events["due"])
    q0, width, counts = _service_tally(
        EVENT_KINDS.index(kind), days_allowed, incomplete_is_failure, as_of, events["kind"], events["due"],
        events["done"], events["complete"], events["provider"], transfer_day, transfer_to, due_q, len(providers))
    out = {}
    for s in np.flatnonzero(counts[:, 0]):
        p, k = divmod(int(s), width)
        out[(providers[p], q0 + k)] = dict(zip(SERVICE_COUNTS, counts[s].tolist(), strict=True))
    return out


@njit(cache=True)
def _service_tally(code, days_allowed, incomplete_is_failure, as_of, kind, due, done, complete, provider,
                   transfer_day, transfer_to, due_q, n_providers):
    """One pass over the events of kind `code`: (first quarter, quarters,
    counts per provider x quarter in `SERVICE_COUNTS` order). An event due is
    pending while its deadline is after the as-of date, else missing if not
    done; a done one is late after its deadline, else incomplete when found
    empty (and that counts as failure), else met."""
    q0, q1 = np.int64(1) << 62, -(np.int64(1) << 62)
    for i in range(kind.size):
        if kind[i] == code:
            q0, q1 = min(q0, due_q[i]), max(q1, due_q[i])
    width = max(q1 - q0 + 1, 1)
    counts = np.zeros((n_providers * width, 6), np.int64)
    for i in range(kind.size):
        if kind[i] != code:
            continue
        responsible = transfer_to[i] if transfer_day[i] <= due[i] else provider[i]
        deadline = due[i] + days_allowed
        tally = counts[responsible * width + (due_q[i] - q0)]
        tally[0] += 1
        if done[i] < 0:
            tally[1 if deadline > as_of else 2] += 1
        elif done[i] > deadline:
            tally[3] += 1
        elif complete[i] == 0 and incomplete_is_failure:
            tally[4] += 1
        else:
            tally[5] += 1
    return q0, width, counts


class PaymentBook:
    """Per provider and quarter facts for the statements of a simulated world."""

    def __init__(self, world: StartingWorld, contracts: Iterable[Contract], providers: tuple[str, ...]):
        contracts = list(contracts)
        self.world = world
        self.providers = providers
        for c in contracts:
            base = c.outcomes.baseline if c.outcomes else BASELINE
            if (c.outcomes or c.at_risk or c.renewal) and base != BASELINE:
                raise ValueError(f"{c.id}: outcomes.baseline {base!r}: the simulator's baseline is {BASELINE}")
            if c.fee and c.fee.forecast and c.fee.forecast.baseline_factor is not None \
                    and c.fee.forecast.baseline != BASELINE:
                raise ValueError(f"{c.id}: fee.forecast.baseline must be {BASELINE} in a simulation")
        self.rules: list[ServiceRule] = sorted({(s.kind, s.days_allowed, s.incomplete_is_failure)
                                                for c in contracts for s in c.service_levels})
        self.months = sorted({c.fee.supervision_months for c in contracts if c.fee and c.fee.per_case_month})
        self.segments: tuple[str | None, ...] = tuple(dict.fromkeys(
            [None, *[c.outcomes.binary.segment for c in contracts
                     if c.outcomes and c.outcomes.binary and c.outcomes.binary.segment]]))
        self.episodes: dict[tuple[str, int], dict[str, int]] = {}
        self.case_months: dict[int, dict[tuple[str, int], int]] = {m: {} for m in self.months}
        self.service: dict[ServiceRule, dict[tuple[str, int], dict[str, int]]] = {r: {} for r in self.rules}
        self.measures: dict[tuple[str, str | None], dict[tuple[str, str], list[dict]]] = {
            (BASELINE, s): {} for s in self.segments}
        # case-month difference counts by provider and month (since 1970-01)
        self._cm: dict[int, dict[int, np.ndarray]] = {m: {} for m in self.months}
        h = world.history
        self.add_episodes({"id": np.arange(h.size), "start": h.start.astype(np.int64),
                           "provider": h.provider, "sentence": h.sentence.astype(np.int64)})

    # --- case-months ------------------------------------------------------------
    def _add_months(self, months: int, provider: np.ndarray, start: np.ndarray, moved: np.ndarray, sign: int):
        begin, stop = case_month_spans(start, months, moved)
        ok = stop > begin
        table = self._cm[months]
        for p in np.unique(provider[ok]):
            mine = ok & (provider == p)
            lo = int(begin[mine].min())
            hi = int(stop[mine].max())
            diff = np.zeros(hi - lo + 1, dtype=np.int64)
            np.add.at(diff, begin[mine] - lo, sign)
            np.add.at(diff, stop[mine] - lo, -sign)
            self._merge(table, int(p), lo, diff)

    @staticmethod
    def _merge(table: dict[int, np.ndarray], p: int, lo: int, diff: np.ndarray) -> None:
        have = table.get(p)
        if have is None:
            table[p] = np.concatenate([[lo], diff]).astype(np.int64)
            return
        have_lo, have_diff = int(have[0]), have[1:]
        new_lo = min(have_lo, lo)
        new_hi = max(have_lo + have_diff.size, lo + diff.size)
        out = np.zeros(new_hi - new_lo, dtype=np.int64)
        out[have_lo - new_lo: have_lo - new_lo + have_diff.size] += have_diff
        out[lo - new_lo: lo - new_lo + diff.size] += diff
        table[p] = np.concatenate([[new_lo], out])

    def transfer(self, provider: np.ndarray, start: np.ndarray, day: int) -> None:
        """Episodes of `provider` moved away on `day`: they stop counting case-months then."""
        none = np.full(start.size, np.iinfo(np.int64).max)
        moved = np.full(start.size, day, dtype=np.int64)
        for m in self.months:
            self._add_months(m, provider, start, none, -1)
            self._add_months(m, provider, start, moved, +1)

    def _case_months_in(self, months: int, q: int) -> dict[tuple[str, int], int]:
        out = {}
        for p, arr in self._cm[months].items():
            lo, diff = int(arr[0]), arr[1:]
            open_ = np.cumsum(diff)
            a, b = 3 * q - lo, 3 * q + 3 - lo
            if b <= 0 or a >= open_.size:
                continue
            n = int(open_[max(a, 0): min(b, open_.size)].sum())
            if n > 0:
                out[(self.providers[p], q)] = n
        return out

    # --- a quarter's facts ----------------------------------------------------------
    def add_episodes(self, episodes: dict[str, np.ndarray]) -> None:
        """Count new episodes by provider, quarter and sentence (and their case-months)."""
        if episodes["id"].size == 0:
            return
        q = quarter_of_day(episodes["start"])
        q0 = int(q.min())
        width = int(q.max()) - q0 + 1
        slot = (episodes["provider"].astype(np.int64) * width + (q - q0)) * 4 + episodes["sentence"]
        counts = np.bincount(slot, minlength=len(self.providers) * width * 4)
        for s in np.flatnonzero(counts):
            rest, sentence = divmod(int(s), 4)
            p, k = divmod(rest, width)
            self.episodes.setdefault((self.providers[p], q0 + k), {})[SENTENCES[sentence]] = int(counts[s])
        none = np.full(episodes["id"].size, np.iinfo(np.int64).max)
        for m in self.months:
            self._add_months(m, episodes["provider"].astype(np.int64), episodes["start"], none, +1)

    def close_quarter(self, q: int, events: dict[str, np.ndarray], transfers: tuple[np.ndarray, np.ndarray],
                      as_of: dt.date) -> None:
        """Case-months and service-event counts of quarter q (a `quarter_index`).
        `events` must hold every event due in q; `transfers` is (day, to) per event."""
        for m in self.months:
            self.case_months[m].update(self._case_months_in(m, q))
        if not self.rules:
            return
        # The events due in q, picked once for every rule.
        due_q = events["due_quarter"] if "due_quarter" in events else quarter_of_day(events["due"])
        now = due_q == q
        if not now.all():
            rows = np.flatnonzero(now)
            events = {f: events[f][rows] for f in SERVICE_FIELDS}
            due_q, transfers = due_q[rows], (transfers[0][rows], transfers[1][rows])
        events = events | {"due_quarter": due_q}
        when = day_number(as_of)
        for rule in self.rules:
            self.service[rule].update(service_counts(events, *transfers, rule, when, self.providers))

    def add_cohort(self, rows: dict[str | None, dict[tuple[str, str], list[dict]]]) -> None:
        for seg, by_key in rows.items():
            self.measures[(BASELINE, seg)].update(by_key)

    def inputs(self, as_of: dt.date) -> PaymentInputs:
        """What a statement as at `as_of` reads (the book shares its tables)."""
        return PaymentInputs(
            as_of=as_of, episodes=self.episodes, case_months=self.case_months, service=self.service,
            measures=self.measures, models={BASELINE: self.world.model},
            baseline_volumes={BASELINE: dict(self.world.baseline_volumes)},
        )


def statement_date(q: int, lag_days: int) -> dt.date:
    """The as-of date of quarter q's statement (q a `quarter_index`)."""
    return last_day(q) + dt.timedelta(days=lag_days)


def inputs_from_record(world: StartingWorld, record, contracts: Iterable[Contract], as_of: dt.date,
                       providers: tuple[str, ...]) -> PaymentInputs:
    """The whole `PaymentInputs` of a finished world's record as at `as_of`,
    built by the same functions the run uses quarter by quarter."""
    from pbrkit.measure.periods import MATURITY_DAYS
    from pbrkit.simulate.logbook import Windows
    from pbrkit.simulate.world import case_mix_cell

    book = PaymentBook(world, contracts, providers)
    h = world.history.size
    ep = {
        "id": np.arange(h, record.episode_person.size), "pid": record.episode_person[h:],
        "start": record.episode_start[h:].astype(np.int64), "provider": record.episode_provider[h:],
        "sentence": record.episode_sentence[h:].astype(np.int64),
    }
    book.add_episodes(ep)
    if record.transfer_episode is not None and record.transfer_episode.size:
        for day in np.unique(record.transfer_day):
            moved = record.transfer_episode[record.transfer_day == day]
            book.transfer(record.episode_provider[moved].astype(np.int64),
                          record.episode_start[moved].astype(np.int64), int(day))
    events = {"kind": record.event_kind, "due": record.event_due.astype(np.int64),
              "done": record.event_done.astype(np.int64), "complete": record.event_complete,
              "provider": record.episode_provider[record.event_episode]}
    events["due_quarter"] = quarter_of_day(events["due"])
    t_day = np.full(record.event_episode.size, np.iinfo(np.int64).max)
    t_to = np.full(record.event_episode.size, -1)
    if record.transfer_episode is not None and record.transfer_episode.size:
        pos = np.searchsorted(record.transfer_episode, record.event_episode)
        pos = np.minimum(pos, record.transfer_episode.size - 1)
        hit = record.transfer_episode[pos] == record.event_episode
        t_day = np.where(hit, record.transfer_day[pos], t_day)
        t_to = np.where(hit, record.transfer_provider[pos], t_to)
    # Every quarter with a case-month or a service event, as `prepare` reports them.
    spans = [case_month_spans(record.episode_start.astype(np.int64), m, np.full(record.episode_start.size,
                                                                               np.iinfo(np.int64).max))
             for m in book.months]
    quarters = [int(quarter_of_day(record.episode_start).min())] if record.episode_start.size else []
    quarters += [int(b.min()) // 3 for b, _ in spans] + [int(e.max()) // 3 for _, e in spans]
    if events["due"].size:
        quarters += [int(quarter_of_day(events["due"]).min()), int(quarter_of_day(events["due"]).max())]
    for q in range(min(quarters), max(quarters) + 1) if quarters else ():
        book.close_quarter(q, events, (t_day, t_to), as_of)
    # Measures of every contract cohort mature at as_of.
    off_person = record.offence_person
    contract_off = record.offence_day >= world.start_day
    windows = Windows.of(off_person[contract_off].astype(np.int64), record.offence_day[contract_off].astype(np.int64),
                         record.disposal_day[contract_off].astype(np.int64), world.start_day - 1000)
    ep_q = quarter_of_day(ep["start"])
    cells = case_mix_cell(record.episode_sex[h:].astype(bool), record.episode_age[h:].astype(np.int64),
                          ep["sentence"], record.episode_risk_tier[h:].astype(np.int64),
                          record.episode_prior[h:].astype(np.int64))
    from pbrkit.simulate.logbook import SPAN

    def reoffences_of(pid: np.ndarray, start: np.ndarray) -> np.ndarray:
        key = pid.astype(np.int64) * SPAN - (world.start_day - 1000) + start
        order = np.argsort(key, kind="stable")
        out = np.empty(key.size, dtype=np.int64)
        out[order] = windows.count(key[order])
        return out

    counts = reoffences_of(ep["pid"], ep["start"])

    for q in np.unique(ep_q):
        if last_day(int(q)) + dt.timedelta(days=MATURITY_DAYS) > as_of:
            continue
        sel = ep_q == q
        chunk = {"id": ep["id"][sel], "pid": ep["pid"][sel], "start": ep["start"][sel],
                 "provider": ep["provider"][sel], "cell": cells[sel]}
        book.add_cohort(cohort_measure(chunk, counts[sel], world.cell_p, world.cell_mu, world.model.phi_,
                                       f"{int(q) // 4}Q{int(q) % 4 + 1}", providers, book.segments))
    return book.inputs(as_of)


__all__ = ["PaymentBook", "case_month_spans", "inputs_from_record", "quarter_of_day", "service_counts",
           "statement_date"]

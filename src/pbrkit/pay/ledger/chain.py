"""What each hash in the ledger covers, in one place.

Two chains run side by side, each link `sha256(prev_hash + canonical_json(content))`
(UTF-8, `canonical_json` from `pbrkit.pay.statement`) with 64 zeros before the
first link:

- the **entry chain** over `ledger_entry` in id order. An entry's content is
  every column except its own `prev_hash` and `hash`, plus the `input_digest`
  of the run that wrote it, so an amount can't be moved to another run or
  another set of inputs without breaking the chain;
- the **run chain** over `payment_run` in id order. A run's content is every
  column except `prev_hash` and `hash`, including `entry_count` and
  `last_entry_hash` (the entry chain's head once the run's entries are
  written). So each run hash seals every entry written up to and including
  that run, and runs that moved no money (a changed digest with nothing to
  adjust) are sealed too.

Ids are part of the content and are handed out densely (1, 2, 3...) under the
write lock, so a gap in the ids is a deleted row, not a rolled-back sequence.
The latest run's hash is the ledger's **head**: kept outside the database (the
CLI prints it), it also catches the one thing no chain can see from inside, the
removal of whole runs from the end.

Changing any field below changes every later hash: existing ledgers would stop
verifying. Treat the field lists as a file format.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

GENESIS = "0" * 64

ENTRY_FIELDS = (
    "id", "run_id", "contract_id", "provider_id", "design", "period", "line_key", "kind", "entry_type",
    "description", "quantity", "unit", "rate", "amount_pence", "basis", "corrects", "created_at",
)
RUN_FIELDS = (
    "id", "batch_id", "contract_id", "provider_id", "design", "period", "as_of", "input_digest",
    "contract_terms", "notes", "created_at", "pbrkit_version", "entry_count", "last_entry_hash",
)


#: `pbrkit.pay.statement.canonical_json` for a flat dict of text, integers and
#: nulls (all a link's content ever holds: the columns above), without its
#: recursive walk for Decimals and dates, which was half of `verify`'s time.
#: Same sorted keys, same separators, same text; anything else (a Decimal, a
#: date) raises instead of hashing differently. The tests check it against
#: `canonical_json` itself.
_canonical_flat_json = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def link(prev_hash: str, content: dict[str, Any]) -> str:
    """The hash of one link: it covers the content and, through `prev_hash`, everything before."""
    return hashlib.sha256((prev_hash + _canonical_flat_json(content)).encode("utf-8")).hexdigest()


def entry_hash(prev_hash: str, entry: dict[str, Any], input_digest: str) -> str:
    content = {name: entry[name] for name in ENTRY_FIELDS}
    content["input_digest"] = input_digest
    return link(prev_hash, content)


def run_hash(prev_hash: str, run: dict[str, Any]) -> str:
    return link(prev_hash, {name: run[name] for name in RUN_FIELDS})

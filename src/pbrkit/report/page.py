"""What every offline HTML report needs: the Vega scripts inlined, JSON safe inside a page, atomic writes.

A commissioner opens a report from a shared drive or an email, often on a
machine with no internet, so nothing may be fetched: the Vega, Vega-Lite and
Vega-Embed scripts come inlined from vl-convert, and each chart's spec is
embedded as JSON.
"""

from __future__ import annotations

import json
import math
import os
from functools import cache
from pathlib import Path
from typing import Any


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pbrkit"


@cache
def vega_bundle() -> str:
    """Vega, Vega-Lite (the version Altair writes) and Vega-Embed as one script, from vl-convert.

    Bundling takes vl-convert several seconds, so the script is kept in the user's
    cache directory, keyed by the vl-convert and Vega-Lite versions; a cache that
    cannot be written is skipped, never fatal.
    """
    import altair as alt
    import vl_convert

    version = "_".join(alt.SCHEMA_VERSION.split(".")[:2])  # "v6.4.1" -> "v6_4"
    cached = _cache_dir() / f"vega-bundle-{vl_convert.__version__}-{version}.js"
    try:
        return cached.read_text(encoding="utf-8")
    except OSError:
        pass
    bundle = vl_convert.javascript_bundle(vl_version=version)
    try:
        write_atomic(cached, bundle)
    except OSError:
        pass
    return bundle


def _clean(value: Any) -> Any:
    """NaN and infinities become null: JSON has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def script_json(value: Any) -> str:
    """JSON safe inside a <script> element (no `</script>` can close it early)."""
    text = json.dumps(_clean(value), allow_nan=False, default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def chart_specs(charts: dict[str, Any]) -> str:
    """Altair charts as one embeddable JSON object keyed by the chart's element id suffix."""
    return script_json({key: chart.to_dict() for key, chart in charts.items()})


def write_atomic(path: str | Path, text: str) -> Path:
    """Write a file whole or not at all: a temporary file renamed into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path

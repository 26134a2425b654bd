"""Wide feet and high insteps (宽脚, 脚背高): said by the buyer, and what the shop advises for them (pure).

A shoe's chart gives lengths, not widths. The advice for such feet is the shop's own, where it writes it (a note
under the chart or an attribute: 脚宽、脚背高的亲建议拍大一码); the catalog never adds a size for width by itself
(docs/catalog.md).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

# 宽脚, 脚宽, 脚比较宽, 脚掌宽, 脚肥; 脚背高, 高脚背, 脚面高 (脚不宽 says the opposite and is not read).
_DEGREE = "(?:比较|有点|有些|很|偏|太|特别|稍微|略)?"
_WIDE = re.compile(rf"脚[背面]{_DEGREE}[高厚]|[高厚]脚[背面]|脚掌?{_DEGREE}[宽肥胖]|[宽肥胖]脚(?![背面本])")
# What a shop's note or attribute speaks of when it is about such feet (脚宽、脚背高的亲建议拍大一码).
_NAMES_WIDTH = re.compile(r"脚宽|宽脚|脚背|脚面|脚肥|肥脚|脚型宽|脚掌宽")
# The step the shop advises: 拍大一码, 建议大一码, 选大两码 (半码 is no whole size on a chart of whole sizes).
_STEP = re.compile(r"大\s*(一|1|两|二|2)\s*个?\s*(?:码|号)")
_COUNTS = {"一": 1, "1": 1, "两": 2, "二": 2, "2": 2}


def said(texts: Sequence[str]) -> str | None:
    """The buyer's words of a wide foot or a high instep (脚宽, 高脚背), the newest said; None when none is."""
    found = None
    for text in texts:
        if isinstance(text, str):
            for match in _WIDE.finditer(unicodedata.normalize("NFKC", text[:500])):
                found = match.group(0)
    return found


def names_width(text: str) -> bool:
    """Whether a shop's note or attribute speaks of wide feet or high insteps (not of how the sizes run)."""
    return _NAMES_WIDTH.search(unicodedata.normalize("NFKC", text)) is not None


def advice(told: Iterable[tuple[str, str]]) -> tuple[str, str, int] | None:
    """The shop's advice for wide feet among (name, text) of its notes and attributes: (name, text, sizes to go
    up); None when none says by how many whole sizes."""
    for name, text in told:
        if names_width(text) and (step := _STEP.search(unicodedata.normalize("NFKC", text))) is not None:
            return name, text, _COUNTS[step.group(1)]
    return None

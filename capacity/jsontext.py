"""JSON text that any reader can parse, for data that holds file names.

A file name may be any byte string; undecodable bytes travel through Python as lone
surrogates (``os.fsdecode``).  Written raw they would make the file invalid UTF-8, and the
standard encoder would pass them through as such: here each one becomes the escape
``\\udcXX``, which ``json.loads`` turns back into the same surrogate, so the bytes of every
name survive a round trip, while other tools see valid JSON (with U+FFFD for such bytes).
"""

from __future__ import annotations

import json
import re
from typing import Any

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def dumps(data: Any, **options: Any) -> str:
    """``json.dumps`` (non-ASCII kept as is) with lone surrogates escaped."""
    text = json.dumps(data, ensure_ascii=False, **options)
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)

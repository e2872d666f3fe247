"""The one error the scoring core raises about a lead's input, shaped like pydantic's errors.

The HTTP API (serve/errors.py) answers it with 422 and the items as they are; the batch and file
paths put the items into the lead's own error entry. Items name the field path and the rule,
never the input value, so no error repeats lead data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class InputError(Exception):
    """A lead's input is well-formed JSON but not usable (e.g. a feature is not a number).

    `items` are error items like pydantic's: loc (tuple), msg, type.
    """

    def __init__(self, items: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(i["msg"] for i in items))
        self.items = items


def error_item(loc: Sequence[str | int], msg: str, type_: str) -> dict[str, Any]:
    loc = [p if isinstance(p, int) else str(p) for p in loc]
    return {"loc": loc, "field": ".".join(str(p) for p in loc), "msg": msg, "type": type_}

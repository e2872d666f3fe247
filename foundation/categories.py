"""The one key a categorical value is stored and looked up under, in training and in scoring.

Below every floor that encodes categories (models/, features/table_mapping.py, scoring/), so a
flat table's mapping and the model agree without either importing the other.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd


def category_key(value: Any) -> str | None:
    """The string a categorical value is stored and looked up under (None: missing).

    One function for the DataFrame path and the dict path, so `encode` and `encode_row` agree:
    integral floats lose their `.0` (a CSV read as numbers and a JSON int name the same category).
    """
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return None
        if float(value).is_integer():
            return str(int(value))
    return str(value)

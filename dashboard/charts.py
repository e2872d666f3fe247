"""Vega-Lite specs for the dashboard, as plain dicts (the browser renders them with vega-embed).

One look for every chart (colours, fonts, sizes) so the pages read as one product. Data is
inlined in the spec: the page is complete when it arrives, no second request per chart.
"""

from __future__ import annotations

from typing import Any

SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"  # an identifier, never fetched
PALETTE = [
    "#2563eb",
    "#f59e0b",
    "#10b981",
    "#ef4444",
    "#8b5cf6",
    "#0ea5e9",
    "#64748b",
    "#db2777",
    "#84cc16",
    "#a16207",
]
CONFIG: dict[str, Any] = {
    "font": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif",
    "view": {"stroke": None},
    "axis": {"labelColor": "#334155", "titleColor": "#334155", "gridColor": "#e2e8f0"},
    "legend": {
        "labelColor": "#334155",
        "titleColor": "#334155",
        "orient": "bottom",
        "columns": 5,
    },
    "range": {"category": PALETTE},
    "bar": {"cornerRadiusEnd": 2},
}


def _spec(data: list[dict[str, Any]], body: dict[str, Any], height: int = 220) -> dict[str, Any]:
    return {
        "$schema": SCHEMA,
        "width": "container",
        "height": height,
        "autosize": {"type": "fit-x", "contains": "padding"},
        "data": {"values": data},
        "config": CONFIG,
        **body,
    }


def grouped_bars(
    data: list[dict[str, Any]],
    x: str,
    y: str,
    color: str,
    *,
    x_title: str,
    y_title: str,
    y_format: str = ",.0f",
    height: int = 220,
    x_sort: list[str] | None = None,
) -> dict[str, Any]:
    """Bars per `x` in data order (or `x_sort`), side by side per `color` (e.g. actual vs
    target, model vs baselines)."""
    return _spec(
        data,
        {
            "mark": {"type": "bar", "tooltip": True},
            "encoding": {
                "x": {
                    "field": x,
                    "type": "nominal",
                    "title": x_title,
                    "axis": {"labelAngle": 0},
                    "sort": x_sort,
                },
                "xOffset": {"field": color, "sort": None},
                "y": {
                    "field": y,
                    "type": "quantitative",
                    "title": y_title,
                    "axis": {"format": y_format},
                },
                "color": {"field": color, "type": "nominal", "title": None, "sort": None},
            },
        },
        height,
    )


def horizontal_bars(
    data: list[dict[str, Any]],
    label: str,
    value: str,
    *,
    value_title: str,
    value_format: str = ",.2f",
    color: str | None = None,
) -> dict[str, Any]:
    """Ranked horizontal bars (feature importance, lead value per persona)."""
    encoding: dict[str, Any] = {
        "y": {"field": label, "type": "nominal", "sort": "-x", "title": None},
        "x": {
            "field": value,
            "type": "quantitative",
            "title": value_title,
            "axis": {"format": value_format},
        },
    }
    if color:
        encoding["color"] = {"field": color, "type": "nominal", "title": None, "sort": None}
        encoding["yOffset"] = {"field": color, "sort": None}
    mark: dict[str, Any] = {"type": "bar", "tooltip": True}
    if not color:
        mark["color"] = PALETTE[0]
    return _spec(
        data,
        {"mark": mark, "encoding": encoding},
        height=max(120, 22 * len({r[label] for r in data}) * (2 if color else 1)),
    )


def lines(
    data: list[dict[str, Any]],
    x: str,
    y: str,
    color: str,
    *,
    x_title: str,
    y_title: str,
    x_type: str = "quantitative",
    y_format: str = ".0%",
    x_format: str | None = None,
    diagonal: float | None = None,
    label_angle: int | None = None,
) -> dict[str, Any]:
    """Lines with points per `color` (calibration curve, monthly trends); optional y = x."""
    x_enc: dict[str, Any] = {"field": x, "type": x_type, "title": x_title, "axis": {}}
    if x_format:
        x_enc["axis"]["format"] = x_format
    if label_angle is not None:
        x_enc["axis"]["labelAngle"] = label_angle
    layer: list[dict[str, Any]] = [
        {
            "mark": {"type": "line", "point": True, "tooltip": True},
            "encoding": {
                "x": x_enc,
                "y": {
                    "field": y,
                    "type": "quantitative",
                    "title": y_title,
                    "axis": {"format": y_format},
                },
                "color": {"field": color, "type": "nominal", "title": None, "sort": None},
            },
        }
    ]
    if diagonal:  # y = x up to `diagonal`: where a calibrated model's points lie
        layer.insert(
            0,
            {
                "data": {"values": [{"d": 0}, {"d": diagonal}]},
                "mark": {"type": "line", "color": "#94a3b8", "strokeDash": [4, 4]},
                "encoding": {
                    "x": {"field": "d", "type": "quantitative"},
                    "y": {"field": "d", "type": "quantitative"},
                },
            },
        )
    return _spec(data, {"layer": layer})


def progress(
    data: list[dict[str, Any]],
    label: str,
    actual: str,
    target: str,
    projected: str | None = None,
    low: str | None = None,
    high: str | None = None,
) -> dict[str, Any]:
    """Progress against a target per row, as share of target: bar = so far, tick = projected
    month end with its interval as a rule, dashed line at 100 % = the agreed target."""
    # Rows on y in each data layer; the target line has no y, so it spans the whole height.
    y_enc = {"field": label, "type": "nominal", "title": None, "sort": None}
    transform = [
        {
            "calculate": f"datum['{target}'] > 0 ? datum['{actual}'] / datum['{target}'] : 0",
            "as": "share",
        },
    ]
    layer: list[dict[str, Any]] = [
        {
            "mark": {"type": "bar", "color": PALETTE[0], "tooltip": True, "height": 14},
            "encoding": {
                "y": y_enc,
                "x": {
                    "field": "share",
                    "type": "quantitative",
                    "title": "share of the monthly target",
                    "axis": {"format": ".0%"},
                },
            },
        }
    ]
    if projected and low and high:
        transform += [
            {
                "calculate": (
                    f"datum['{target}'] > 0 ? datum['{projected}'] / datum['{target}'] : 0"
                ),
                "as": "proj",
            },
            {
                "calculate": f"datum['{target}'] > 0 ? datum['{low}'] / datum['{target}'] : 0",
                "as": "lo",
            },
            {
                "calculate": f"datum['{target}'] > 0 ? datum['{high}'] / datum['{target}'] : 0",
                "as": "hi",
            },
        ]
        layer += [
            {
                "mark": {"type": "rule", "color": PALETTE[1], "strokeWidth": 2},
                "encoding": {
                    "y": y_enc,
                    "x": {"field": "lo", "type": "quantitative"},
                    "x2": {"field": "hi"},
                },
            },
            {
                "mark": {"type": "tick", "color": PALETTE[1], "thickness": 3, "tooltip": True},
                "encoding": {"y": y_enc, "x": {"field": "proj", "type": "quantitative"}},
            },
        ]
    layer.append(
        {
            "mark": {"type": "rule", "color": "#0f172a", "strokeDash": [4, 3]},
            "encoding": {"x": {"datum": 1}},
        }
    )
    return _spec(
        data,
        {
            "transform": transform,
            "layer": layer,
        },
        height=max(80, 24 * len(data)),
    )


def heatmap(
    data: list[dict[str, Any]], x: str, y: str, value: str, label: str, *, value_title: str
) -> dict[str, Any]:
    """A grid (e.g. channel x persona) coloured by `value` (share of target, capped at 150 %)
    with `label` written in each cell: every cell of the agreement on one screen."""
    return _spec(
        data,
        {
            "transform": [{"calculate": f"min(datum['{value}'], 1.5)", "as": "shown"}],
            "encoding": {
                "x": {
                    "field": x,
                    "type": "nominal",
                    "title": None,
                    "axis": {"labelAngle": 0, "orient": "top"},
                },
                "y": {"field": y, "type": "nominal", "title": None},
            },
            "layer": [
                {
                    "mark": {"type": "rect", "tooltip": True, "stroke": "#fff", "strokeWidth": 2},
                    "encoding": {
                        "color": {
                            "field": "shown",
                            "type": "quantitative",
                            "title": value_title,
                            "scale": {
                                "domain": [0, 1, 1.5],
                                "range": ["#fee2e2", "#fef3c7", "#bbf7d0"],
                            },
                            "legend": {"format": ".0%"},
                        }
                    },
                },
                {
                    "mark": {"type": "text", "fontSize": 11, "color": "#0f172a"},
                    "encoding": {"text": {"field": label, "type": "nominal"}},
                },
            ],
        },
        height=max(120, 34 * len({r[y] for r in data})),
    )

"""PNG charts of the SLA report, drawn from the report tables (matplotlib, headless Agg backend).

One chart per question a manager asks: did marketing deliver the MQLs, did sales follow up in
time, does speed pay, which personas are behind, and what the MQL threshold trades off.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sla.report import TOTAL

FIGSIZE = (9, 4.5)
DPI = 110
ACTUAL, TARGET, GOOD, BAD = "#2b6cb0", "#a0aec0", "#2f855a", "#c53030"
THRESHOLD_MARGIN = 5  # score points shown beyond the best-scored lead
CAPACITY_VIEW = 4  # MQL axis shows up to this many times sales capacity


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display on a build machine or in DVC
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    _pyplot().close(fig)
    return path


def _totals(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["level"] == "total"].sort_values("month")


def mqls_vs_target(table: pd.DataFrame, path: Path) -> Path:
    """Marketing's side: MQLs per month against the target, with SQLs and customers."""
    plt = _pyplot()
    total = _totals(table)
    x = np.arange(len(total))
    fig, ax = plt.subplots(figsize=FIGSIZE)
    colors = [GOOD if s == "met" else BAD for s in total["marketing"]]
    ax.bar(x - 0.25, total["mqls"], width=0.25, color=colors, label="MQLs (green: target met)")
    ax.bar(x, total["sqls"], width=0.25, color=ACTUAL, label="SQLs")
    ax.bar(x + 0.25, total["customers"], width=0.25, color=TARGET, label="customers")
    ax.plot(x, total["mqls_target"], "k--", label="MQL target")
    ax.plot(x, total["sqls_target"], "k:", label="SQL target")
    ax.set_xticks(x, total["month"])
    ax.set_ylabel("per month")
    ax.set_title("Marketing: MQLs delivered vs. the agreed target")
    ax.legend(fontsize="small", ncols=5, loc="upper center", bbox_to_anchor=(0.5, -0.1))
    return _save(fig, path)


def follow_up(table: pd.DataFrame, agreed_share: float, hours: float, path: Path) -> Path:
    """Sales' side: share of MQLs contacted within the agreed hours, and median hours."""
    plt = _pyplot()
    total = _totals(table)
    x = np.arange(len(total))
    fig, ax = plt.subplots(figsize=FIGSIZE)
    colors = [GOOD if s == "met" else BAD for s in total["sales"]]
    ax.bar(x, total["follow_up_compliance"].fillna(0) * 100, color=colors)
    ax.axhline(agreed_share * 100, color="k", linestyle="--", label=f"agreed {agreed_share:.0%}")
    ax.set_ylim(0, 100)
    ax.set_ylabel(f"% of MQLs contacted within {hours:g} h")
    ax.set_xticks(x, total["month"])
    second = ax.twinx()
    second.plot(x, total["median_hours_to_contact"], "o-", color=ACTUAL, label="median hours")
    second.set_ylabel("median hours to first contact")
    second.set_ylim(bottom=0)
    ax.set_title("Sales: follow-up within the agreed time")
    lines = ax.get_legend_handles_labels()
    more = second.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize="small", loc="lower left")
    return _save(fig, path)


def speed_to_lead(effect: pd.DataFrame, path: Path) -> Path:
    """SQL rate by hours to first contact: why the follow-up time is in the agreement."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=FIGSIZE)
    x = np.arange(len(effect))
    ax.bar(x, effect["sql_rate"].fillna(0) * 100, color=ACTUAL)
    for i, n in enumerate(effect["mqls"]):
        ax.annotate(f"n={n}", (i, 0), textcoords="offset points", xytext=(0, 3), ha="center")
    ax.set_xticks(x, effect["hours_to_contact"])
    ax.set_ylabel("% of MQLs that became SQL")
    ax.set_xlabel("hours from MQL to first sales contact")
    ax.set_title("Speed to lead: SQL rate by follow-up time")
    return _save(fig, path)


def personas_latest(table: pd.DataFrame, path: Path) -> Path:
    """The latest month per persona: MQLs against target."""
    plt = _pyplot()
    latest = table["month"].max()
    rows = table[(table["level"] == "persona") & (table["month"] == latest)]
    rows = rows[rows["persona"] != TOTAL].sort_values("persona")
    y = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=FIGSIZE)
    ax.barh(y + 0.2, rows["mqls"], height=0.4, color=ACTUAL, label="MQLs")
    ax.barh(y - 0.2, rows["mqls_target"].fillna(0), height=0.4, color=TARGET, label="target")
    ax.set_yticks(y, rows["persona"])
    ax.set_xlabel("MQLs")
    ax.set_title(f"MQLs per persona, {latest}")
    ax.legend(fontsize="small")
    return _save(fig, path)


def threshold_tradeoff(
    curve: pd.DataFrame, sql_target: float, capacity: float, chosen: float, path: Path
) -> Path:
    """What each threshold hands sales (MQLs) and what it yields (expected SQLs)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=FIGSIZE)
    ax.plot(curve["threshold"], curve["expected_sqls"], color=ACTUAL, label="expected SQLs")
    ax.axhline(sql_target, color=ACTUAL, linestyle=":", label="SQL target")
    ax.set_xlabel("MQL score threshold")
    ax.set_ylabel("expected SQLs")
    second = ax.twinx()
    second.plot(curve["threshold"], curve["mqls"], color=TARGET, label="MQLs")
    second.axhline(capacity, color=TARGET, linestyle=":", label="sales capacity")
    second.set_ylabel("MQLs")
    ax.axvline(chosen, color="k", linestyle="--", label=f"threshold {chosen:g}")
    # Show the scores leads actually have, and MQL counts around capacity (the tail is huge).
    scored = curve.loc[curve["mqls"] > 0, "threshold"]
    top = scored.max() if len(scored) else curve["threshold"].max()
    ax.set_xlim(0, min(curve["threshold"].max(), top + THRESHOLD_MARGIN))
    second.set_ylim(0, CAPACITY_VIEW * max(capacity, 1))
    ax.set_title("MQL threshold: expected SQLs vs. MQLs sales must work")
    lines = ax.get_legend_handles_labels()
    more = second.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize="small", loc="upper right")
    return _save(fig, path)

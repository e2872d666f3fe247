"""Exact SHAP contributions of the LightGBM booster about ten times cheaper per row than
`pred_contrib`, for the reasons a single lead is scored with.

Why: LightGBM's TreeSHAP recursion costs O(L * D^2) per tree (L leaves, D depth); for the default
model that is 0.6-0.9 ms of CPU per row, and a reason-giving request spent most of its time
there. The same numbers come out of a computation linear in the tree size (the idea of Linear
TreeSHAP, Yu et al., NeurIPS 2022), done here in a small C extension (`models/_linear_treeshap.c`).

The derivation, which is also why the tables below look the way they do:
- LightGBM's path-dependent value of a feature subset S is a sum over leaves l of v_l times a
  product over the distinct features j on l's path of one factor: `a_lj` if j is in S (1 when the
  row takes every edge of j on that path, else 0), `b_lj` if not (the product of the training
  row shares, child count / parent count, of those edges).
- The Shapley value of feature i in such a product game is
  (a_li - b_li) * integral over t in [0, 1] of the product over j != i of ((1 - t) b_lj + t a_lj).
  The integrand is a polynomial of degree below the path's feature count d, so Gauss-Legendre
  quadrature with ceil(d_max / 2) nodes integrates it exactly; d_max is taken per tree (4-9
  nodes for the default model's trees), so shallow trees cost less.
- Summing over leaves by tree structure: going down, each node carries the product of its path's
  factors at the quadrature nodes (an edge on a feature seen higher up replaces that feature's
  factor, hence a ratio); going up, each node sums its leaves' v_l times product. Each edge then
  adds one weighted sum to its feature. Leaves below a deeper edge of the same feature are counted
  at that deeper edge and taken back at this one, which the "minus the earlier factor" part of
  each edge's coefficient does.
- What depends on the row is only which child each split sends it to, so for every edge the
  ratio and the coefficient are tabulated here once per model, for the three cases the row can be
  in (takes this edge and all earlier ones of the feature / leaves the path here / left it at an
  earlier edge of the feature), with the quadrature weights folded in.

A test pins the result within 1e-9 of `pred_contrib` on real rows (with missing values and
unknown categories) and the same reasons. Anything this cannot reproduce exactly (no compiled
extension, several trees per iteration, linear trees, averaged output, a node with no training
rows) gives None from `linear_treeshap`: the caller keeps LightGBM's `pred_contrib`.
"""

from __future__ import annotations

import importlib
import logging
import math
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np

log = logging.getLogger("leadscore.models")

# Flags of a split, as the C kernel reads them.
KIND_CATEGORICAL = 1
KIND_DEFAULT_LEFT = 2
KIND_MISSING_ZERO = 4
KIND_MISSING_NAN = 8
MISSING_KINDS = {"None": 0, "Zero": KIND_MISSING_ZERO, "NaN": KIND_MISSING_NAN}
BITS_PER_WORD = 32


class Unsupported(ValueError):
    """A model this implementation cannot reproduce exactly; `pred_contrib` is used instead."""


@dataclass
class _Tables:
    """One model in the flat arrays the C kernel walks (nodes in pre-order, tree-local indices)."""

    n_features: int
    max_nodes: int = 1
    bias: float = 0.0
    tree_start: list[int] = field(default_factory=lambda: [0])
    # Quadrature nodes per tree: half the most distinct features on one of its paths, rounded up.
    tree_points: list[int] = field(default_factory=list)
    parent: list[int] = field(default_factory=list)
    left: list[int] = field(default_factory=list)
    right: list[int] = field(default_factory=list)
    feature: list[int] = field(default_factory=list)  # -1 for a leaf
    prev: list[int] = field(default_factory=list)  # nearest edge above on the same feature
    cat_start: list[int] = field(default_factory=list)
    cat_words: list[int] = field(default_factory=list)
    kind: list[int] = field(default_factory=list)
    bitset: list[int] = field(default_factory=list)
    threshold: list[float] = field(default_factory=list)
    value: list[float] = field(default_factory=list)
    count: list[float] = field(default_factory=list)


class LinearTreeShap:
    """`contributions(X)` with the shape and meaning of `Booster.predict(X, pred_contrib=True)`:
    one column per feature, the expected value (bias) last."""

    def __init__(self, kernel: Any, handle: Any, n_features: int, bias: float) -> None:
        self._kernel = kernel
        self._handle = handle
        self.n_features = n_features
        self.bias = bias

    def contributions(self, X: np.ndarray) -> np.ndarray:
        X = np.ascontiguousarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"expected rows of {self.n_features} features, got shape {X.shape}")
        out = np.empty((X.shape[0], self.n_features + 1), dtype=np.float64)
        self._kernel.contributions(self._handle, X, out, X.shape[0], X.shape[1])
        out[:, -1] = self.bias
        return out


def linear_treeshap(booster: lgb.Booster) -> LinearTreeShap | None:
    """The fast explainer for this booster, or None (with a log line saying why) when
    `pred_contrib` must stay."""
    try:
        kernel = importlib.import_module("models._linear_treeshap")
    except ImportError as exc:  # built by `pip install`; optional so an install never fails
        log.info("reasons use LightGBM's pred_contrib: compiled TreeSHAP not built (%s)", exc)
        return None
    try:
        tables = tabulate(booster.dump_model())
    except Unsupported as exc:
        log.info("reasons use LightGBM's pred_contrib: %s", exc)
        return None
    ratio, coef, table_start = edge_tables(tables)
    i32 = np.int32
    handle = kernel.prepare(
        tables.n_features,
        max(tables.tree_points),
        tables.max_nodes,
        len(tables.tree_points),
        len(tables.parent),
        len(tables.bitset),
        len(ratio),
        np.asarray(tables.tree_start, i32),
        np.asarray(tables.tree_points, i32),
        table_start,
        np.asarray(tables.parent, i32),
        np.asarray(tables.left, i32),
        np.asarray(tables.right, i32),
        np.asarray(tables.feature, i32),
        np.asarray(tables.prev, i32),
        np.asarray(tables.cat_start, i32),
        np.asarray(tables.cat_words, i32),
        np.asarray(tables.kind, np.uint8),
        np.asarray(tables.bitset, np.uint32),
        np.asarray(tables.threshold, np.float64),
        np.asarray(tables.value, np.float64),
        ratio,
        coef,
    )
    return LinearTreeShap(kernel, handle, tables.n_features, tables.bias)


def quadrature(n_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [0, 1]: exact for polynomials of degree < 2 n."""
    x, w = np.polynomial.legendre.leggauss(n_points)
    return (x + 1.0) / 2.0, w / 2.0


def tabulate(model: dict[str, Any]) -> _Tables:
    """Flatten `Booster.dump_model()` into pre-order node arrays, refusing what is not exact."""
    if model.get("num_tree_per_iteration", 1) != 1:
        raise Unsupported("several trees per iteration (multiclass)")
    if model.get("average_output"):
        raise Unsupported("averaged output (random forest mode)")
    if not model.get("tree_info"):
        raise Unsupported("a model without trees")
    n_features = int(model["max_feature_idx"]) + 1
    tab = _Tables(n_features)
    for tree in model["tree_info"]:
        if tree.get("is_linear"):
            raise Unsupported("linear trees")
        max_distinct = _add_tree(tab, tree["tree_structure"])
        tab.tree_start.append(len(tab.parent))
        tab.tree_points.append(max(1, math.ceil(max_distinct / 2)))
    tab.max_nodes = max(b - a for a, b in zip(tab.tree_start, tab.tree_start[1:], strict=False))
    return tab


def _add_tree(tab: _Tables, root: dict[str, Any]) -> int:
    """Append one tree; returns the most distinct features on one of its paths."""
    start = len(tab.parent)
    max_distinct = 0
    # (node, parent, its side of the parent, nearest edge above on each feature) in pre-order,
    # iteratively: trees can be deeper than is comfortable for recursion.
    stack: list[tuple[dict[str, Any], int, list[int], dict[int, int]]] = [(root, -1, [], {})]
    while stack:
        node, parent, side, above = stack.pop()
        g = len(tab.parent) - start
        tab.parent.append(parent)
        if parent >= 0:
            side[start + parent] = g
            split = tab.feature[start + parent]
            tab.prev.append(above.get(split, -1))
            above = {**above, split: g}
        else:
            tab.prev.append(-1)
        if "leaf_value" in node:
            _add_leaf(tab, node, alone=parent < 0)
            max_distinct = max(max_distinct, len(above))
            continue
        tab.feature.append(int(node["split_feature"]))
        tab.count.append(float(node["internal_count"]))
        tab.value.append(0.0)
        tab.left.append(-1)  # set when the children get their indices
        tab.right.append(-1)
        _add_split(tab, node)
        # Right pushed first so the left subtree comes next in pre-order.
        stack.append((node["right_child"], g, tab.right, above))
        stack.append((node["left_child"], g, tab.left, above))
    leaves = [g for g in range(start, len(tab.parent)) if tab.feature[g] < 0]
    if len(leaves) == 1:
        tab.bias += tab.value[leaves[0]]
    else:
        # LightGBM's Tree::ExpectedValue: leaf values weighted by leaf count / root count.
        root_count = tab.count[start]
        tab.bias += sum(tab.value[g] * (tab.count[g] / root_count) for g in leaves)
    return max_distinct


def _add_leaf(tab: _Tables, node: dict[str, Any], alone: bool) -> None:
    count = float(node.get("leaf_count", 0))
    if count <= 0 and not alone:
        raise Unsupported("a leaf without training rows")
    tab.feature.append(-1)
    tab.count.append(count)
    tab.value.append(float(node["leaf_value"]))
    tab.left.append(-1)
    tab.right.append(-1)
    tab.threshold.append(0.0)
    tab.kind.append(0)
    tab.cat_start.append(0)
    tab.cat_words.append(0)


def _add_split(tab: _Tables, node: dict[str, Any]) -> None:
    if node["internal_count"] <= 0:
        raise Unsupported("a split without training rows")
    if node["decision_type"] == "==":
        categories = [int(c) for c in str(node["threshold"]).split("||")]
        words = max(categories) // BITS_PER_WORD + 1
        bits = [0] * words
        for c in categories:
            bits[c // BITS_PER_WORD] |= 1 << (c % BITS_PER_WORD)
        tab.cat_start.append(len(tab.bitset))
        tab.cat_words.append(words)
        tab.bitset.extend(bits)
        tab.threshold.append(0.0)
        kind = KIND_CATEGORICAL
    elif node["decision_type"] == "<=":
        tab.cat_start.append(0)
        tab.cat_words.append(0)
        tab.threshold.append(float(node["threshold"]))
        kind = MISSING_KINDS[node["missing_type"]]
        if node["default_left"]:
            kind |= KIND_DEFAULT_LEFT
    else:
        raise Unsupported(f"decision type {node['decision_type']!r}")
    tab.kind.append(kind)


def edge_tables(tab: _Tables) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per node (as the child end of its edge) and case, at its tree's quadrature nodes: the
    factor ratio that carries the path product across the edge, and the quadrature-weighted
    coefficient of the edge's integral. Flat, one tree after another; and where each tree's
    part starts."""
    ratios, coefs, table_start, at = [], [], [], 0
    count_all = np.asarray(tab.count)
    for tree, n_points in enumerate(tab.tree_points):
        lo, hi = tab.tree_start[tree], tab.tree_start[tree + 1]
        ratio, coef = _tree_tables(
            np.asarray(tab.parent[lo:hi]), np.asarray(tab.prev[lo:hi]), count_all[lo:hi], n_points
        )
        ratios.append(ratio.ravel())
        coefs.append(coef.ravel())
        table_start.append(at)
        at += ratio.size
    return np.concatenate(ratios), np.concatenate(coefs), np.asarray(table_start, np.int32)


def _tree_tables(
    parent: np.ndarray, prev: np.ndarray, count: np.ndarray, n_points: int
) -> tuple[np.ndarray, np.ndarray]:
    t, w = quadrature(n_points)
    has_parent = parent >= 0
    share = np.ones(len(parent))
    share[has_parent] = count[has_parent] / count[parent[has_parent]]
    # b of the edge's feature up to and including this edge: the product along earlier edges of
    # the feature, in pre-order so an earlier edge is always done first.
    b = share.copy()
    for g in range(len(parent)):
        if prev[g] >= 0:
            b[g] *= b[prev[g]]
    has_prev = (prev >= 0)[:, None]
    b_prev = np.where(prev >= 0, b[np.maximum(prev, 0)], 1.0)[:, None]
    b = b[:, None]
    t_, s = t[None, :], (1.0 - t)[None, :]
    new_in = s * b + t_  # the feature's factor when the row takes this edge
    new_out = s * b  # ... when it does not
    old_in = np.where(has_prev, s * b_prev + t_, 1.0)  # ... before this edge, row on the path
    old_out = np.where(has_prev, s * b_prev, 1.0)  # ... before this edge, row already off it
    # The three cases, in the kernel's order: the row takes this edge (and every earlier one of
    # the feature) / leaves the path here / left it at an earlier edge of the feature.
    ratio = np.stack([new_in / old_in, new_out / old_in, new_out / old_out], axis=1)
    take_back_in = np.where(has_prev, (1.0 - b_prev) / old_in, 0.0)
    take_back_out = np.where(has_prev, -b_prev / old_out, 0.0)
    coef = (
        np.stack(
            [
                (1.0 - b) / new_in - take_back_in,
                -b / new_out - take_back_in,
                -b / new_out - take_back_out,
            ],
            axis=1,
        )
        * w[None, None, :]
    )
    # The root has no edge: its rows are never read; keep them finite.
    ratio[~has_parent] = 1.0
    coef[~has_parent] = 0.0
    return ratio, coef

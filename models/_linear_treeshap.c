/*
 * Exact path-dependent TreeSHAP values of a tree ensemble, in time linear in the tree size.
 *
 * Why: LightGBM's `pred_contrib` runs the classic TreeSHAP recursion, O(L * D^2) per tree, about
 * 0.6 ms per row for the default model; a reason-giving request spent half its time there.
 *
 * How (see models/linear_treeshap.py for the derivation): the value of the path-dependent game
 * is a sum over leaves of a product, over the features on the leaf's path, of one factor per
 * feature, (1 - t) * b + t * a, with `b` the share of training rows that took the path's edges
 * for that feature and `a` 1 when the row itself takes them. The Shapley value of such a game is
 * an integral over t in [0, 1] of a polynomial of degree below the path's feature count, which
 * Gauss-Legendre quadrature integrates exactly (per tree, on half as many nodes as its longest
 * path has distinct features, rounded up). Everything but the row's own
 * decisions is tabulated once per model in Python (`ratio` and `coef`, three cases per edge:
 * the row takes this edge and all earlier edges of its feature; it leaves the path here; it left
 * it at an earlier edge of the same feature), so per row and tree this file only walks the nodes
 * twice: down, multiplying each node's product by its edge's ratio, and up, summing the leaves'
 * values times their products and adding each edge's weighted sum to its feature.
 *
 * Nodes of a tree are stored in pre-order (a parent before its children), with tree-local
 * indices. The GIL is released while rows are computed.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define KIND_CATEGORICAL 1
#define KIND_DEFAULT_LEFT 2
#define KIND_MISSING_ZERO 4
#define KIND_MISSING_NAN 8
#define CASES 3
/* LightGBM's kZeroThreshold: |x| at or below it counts as zero for missing_type=Zero. */
#define ZERO_THRESHOLD 1e-35

typedef struct {
    int n_trees, n_features, max_points, max_nodes;
    int32_t *tree_start, *tree_points, *table_start, *parent, *left, *right, *feature, *prev, *cat_start, *cat_words;
    uint8_t *kind;
    uint32_t *bitset;
    double *threshold, *value, *ratio, *coef;
    void *block; /* one allocation holding every array above */
} Model;

static const char *CAPSULE = "leadscore.linear_treeshap.Model";

static void model_free(PyObject *capsule) {
    Model *m = (Model *)PyCapsule_GetPointer(capsule, CAPSULE);
    if (m) {
        free(m->block);
        free(m);
    }
}

/* LightGBM's Tree::NumericalDecision / CategoricalDecision: which child the row goes to. */
static int32_t decide(const Model *m, int32_t node, const double *x) {
    double v = x[m->feature[node]];
    uint8_t kind = m->kind[node];
    if (kind & KIND_CATEGORICAL) {
        /* As LightGBM: the code is the value truncated toward zero (-0.5 reads as 0); a
         * negative code goes right, and so does one beyond int range. */
        if (isnan(v) || v <= -1.0 || v >= 2147483648.0) return m->right[node];
        uint32_t c = (uint32_t)(int32_t)v;
        uint32_t word = c / 32u;
        if ((int32_t)word >= m->cat_words[node]) return m->right[node];
        return ((m->bitset[m->cat_start[node] + word] >> (c % 32u)) & 1u) ? m->left[node]
                                                                          : m->right[node];
    }
    if (isnan(v) && !(kind & KIND_MISSING_NAN)) v = 0.0;
    if (((kind & KIND_MISSING_ZERO) && v >= -ZERO_THRESHOLD && v <= ZERO_THRESHOLD) ||
        ((kind & KIND_MISSING_NAN) && isnan(v))) {
        return (kind & KIND_DEFAULT_LEFT) ? m->left[node] : m->right[node];
    }
    return v <= m->threshold[node] ? m->left[node] : m->right[node];
}

/* Adds one tree's contributions for one row to phi. Always inlined into a copy per quadrature
 * size (`explain_row`), so the loops over the quadrature nodes have a fixed trip count the
 * compiler unrolls and vectorises. */
static inline __attribute__((always_inline)) void explain_tree(
    const Model *m, const int tree, const int n, const double *x, double *phi,
    double *restrict acc, int32_t *restrict hot, uint8_t *restrict taken,
    uint8_t *restrict cases) {
    const int32_t start = m->tree_start[tree];
    const int32_t count = m->tree_start[tree + 1] - start;
    const double *ratio = m->ratio + m->table_start[tree];
    const double *coef = m->coef + m->table_start[tree];
    /* Down: the product of the edge factors from the root, per quadrature node. */
    for (int k = 0; k < n; ++k) acc[k] = 1.0;
    taken[0] = 1;
    for (int32_t g = 0; g < count; ++g) {
        const int32_t G = start + g;
        if (g > 0) {
            const int32_t u = m->parent[G];
            const int32_t p = m->prev[G];
            const uint8_t before = p >= 0 ? taken[p] : 1;
            const uint8_t now = (uint8_t)(hot[u] == g) & before;
            const uint8_t c = now ? 0 : (before ? 1 : 2);
            taken[g] = now;
            cases[g] = c;
            const double *restrict r = ratio + ((size_t)g * CASES + c) * n;
            const double *restrict a_u = acc + (size_t)u * n;
            double *restrict a_g = acc + (size_t)g * n;
            for (int k = 0; k < n; ++k) a_g[k] = a_u[k] * r[k];
        }
        if (m->feature[G] >= 0) hot[g] = decide(m, G, x);
    }
    /* Up: each node's sum of leaf value times product; each edge adds its integral. */
    for (int32_t g = count - 1; g >= 0; --g) {
        const int32_t G = start + g;
        double *restrict s_g = acc + (size_t)g * n;
        if (m->feature[G] < 0) {
            const double v = m->value[G];
            for (int k = 0; k < n; ++k) s_g[k] *= v;
        } else {
            const double *restrict s_l = acc + (size_t)m->left[G] * n;
            const double *restrict s_r = acc + (size_t)m->right[G] * n;
            for (int k = 0; k < n; ++k) s_g[k] = s_l[k] + s_r[k];
        }
        if (g == 0) continue;
        const double *restrict w = coef + ((size_t)g * CASES + cases[g]) * n;
        double total = 0.0;
        for (int k = 0; k < n; ++k) total += s_g[k] * w[k];
        phi[m->feature[start + m->parent[G]]] += total;
    }
}

/* Adds one row's contributions to phi (n_features + 1 values; the bias is added by the caller).
 * Each tree has the quadrature size its own deepest path needs (most need 4-6 nodes, the deepest
 * 9 for the default model); sizes up to 12 have a compiled copy, larger ones the generic loop. */
static void explain_row(const Model *m, const double *x, double *phi, double *acc, int32_t *hot,
                        uint8_t *taken, uint8_t *cases) {
    for (int tree = 0; tree < m->n_trees; ++tree) {
        if (m->tree_start[tree + 1] - m->tree_start[tree] == 1)
            continue; /* a single leaf: only the bias, which the caller adds */
#define TREE(N) explain_tree(m, tree, N, x, phi, acc, hot, taken, cases); break;
        switch (m->tree_points[tree]) {
        case 1: TREE(1)
        case 2: TREE(2)
        case 3: TREE(3)
        case 4: TREE(4)
        case 5: TREE(5)
        case 6: TREE(6)
        case 7: TREE(7)
        case 8: TREE(8)
        case 9: TREE(9)
        case 10: TREE(10)
        case 11: TREE(11)
        case 12: TREE(12)
        default: TREE(m->tree_points[tree])
        }
#undef TREE
    }
}

typedef struct {
    Py_buffer view;
    int held;
} Buf;

static int take(PyObject *obj, Buf *b, Py_ssize_t items, Py_ssize_t itemsize, const char *name,
                int writable) {
    if (PyObject_GetBuffer(obj, &b->view, PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0)) <
        0)
        return -1;
    b->held = 1;
    if (b->view.itemsize != itemsize || b->view.len != items * itemsize) {
        PyErr_Format(PyExc_ValueError, "%s: expected %zd items of %zd bytes, got %zd bytes", name,
                     items, itemsize, b->view.len);
        return -1;
    }
    return 0;
}

static void release(Buf *bufs, int count) {
    for (int i = 0; i < count; ++i)
        if (bufs[i].held) PyBuffer_Release(&bufs[i].view);
}

enum {
    B_TREE_START, B_TREE_POINTS, B_TABLE_START, B_PARENT, B_LEFT, B_RIGHT, B_FEATURE, B_PREV, B_CAT_START, B_CAT_WORDS,
    B_KIND, B_BITSET, B_THRESHOLD, B_VALUE, B_RATIO, B_COEF, B_COUNT
};

static PyObject *prepare(PyObject *self, PyObject *args) {
    int n_features, max_points, max_nodes;
    Py_ssize_t n_trees, n_nodes, n_words, n_table;
    PyObject *objs[B_COUNT];
    if (!PyArg_ParseTuple(args, "iiinnnnOOOOOOOOOOOOOOOO", &n_features, &max_points, &max_nodes,
                          &n_trees, &n_nodes, &n_words, &n_table, &objs[0], &objs[1], &objs[2],
                          &objs[3], &objs[4], &objs[5], &objs[6], &objs[7], &objs[8], &objs[9],
                          &objs[10], &objs[11], &objs[12], &objs[13], &objs[14], &objs[15]))
        return NULL;
    if (n_features < 1 || max_points < 1 || max_nodes < 1 || n_trees < 1 || n_nodes < n_trees) {
        PyErr_SetString(PyExc_ValueError, "empty model");
        return NULL;
    }
    const Py_ssize_t items[B_COUNT] = {
        n_trees + 1, n_trees, n_trees, n_nodes, n_nodes, n_nodes, n_nodes, n_nodes, n_nodes,
        n_nodes, n_nodes, n_words, n_nodes, n_nodes, n_table, n_table};
    const Py_ssize_t sizes[B_COUNT] = {4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 1, 4, 8, 8, 8, 8};
    const char *names[B_COUNT] = {"tree_start", "tree_points", "table_start", "parent", "left", "right", "feature",
                                  "prev", "cat_start", "cat_words", "kind", "bitset",
                                  "threshold", "value", "ratio", "coef"};
    Buf bufs[B_COUNT];
    memset(bufs, 0, sizeof bufs);
    size_t total = 0;
    for (int i = 0; i < B_COUNT; ++i) {
        if (take(objs[i], &bufs[i], items[i], sizes[i], names[i], 0) < 0) {
            release(bufs, B_COUNT);
            return NULL;
        }
        total += ((size_t)bufs[i].view.len + 7u) / 8u * 8u; /* every array 8-byte aligned */
    }
    Model *m = calloc(1, sizeof(Model));
    char *block = malloc(total ? total : 1);
    if (!m || !block) {
        free(m);
        free(block);
        release(bufs, B_COUNT);
        return PyErr_NoMemory();
    }
    void *dst[B_COUNT];
    char *at = block;
    for (int i = 0; i < B_COUNT; ++i) {
        memcpy(at, bufs[i].view.buf, (size_t)bufs[i].view.len);
        dst[i] = at;
        at += ((size_t)bufs[i].view.len + 7u) / 8u * 8u;
    }
    release(bufs, B_COUNT);
    m->block = block;
    m->n_trees = (int)n_trees;
    m->n_features = n_features;
    m->max_points = max_points;
    m->max_nodes = max_nodes;
    m->tree_start = dst[B_TREE_START];
    m->tree_points = dst[B_TREE_POINTS];
    m->table_start = dst[B_TABLE_START];
    m->parent = dst[B_PARENT];
    m->left = dst[B_LEFT];
    m->right = dst[B_RIGHT];
    m->feature = dst[B_FEATURE];
    m->prev = dst[B_PREV];
    m->cat_start = dst[B_CAT_START];
    m->cat_words = dst[B_CAT_WORDS];
    m->kind = dst[B_KIND];
    m->bitset = dst[B_BITSET];
    m->threshold = dst[B_THRESHOLD];
    m->value = dst[B_VALUE];
    m->ratio = dst[B_RATIO];
    m->coef = dst[B_COEF];
    /* Indices are trusted from Python, but a tree larger than the scratch arrays, or tables
     * shorter than a tree needs, would be read or written out of bounds: check those bounds. */
    for (Py_ssize_t t = 0; t < n_trees; ++t) {
        int32_t count = m->tree_start[t + 1] - m->tree_start[t];
        int32_t points = m->tree_points[t];
        if (count < 1 || count > max_nodes || points < 1 || points > max_points ||
            m->table_start[t] < 0 ||
            (Py_ssize_t)m->table_start[t] + (Py_ssize_t)count * CASES * points > n_table) {
            free(block);
            free(m);
            PyErr_Format(PyExc_ValueError, "tree %zd: %d nodes, %d points, tables at %d", t, count,
                         points, m->table_start[t]);
            return NULL;
        }
    }
    PyObject *capsule = PyCapsule_New(m, CAPSULE, model_free);
    if (!capsule) {
        free(block);
        free(m);
    }
    return capsule;
}

static PyObject *contributions(PyObject *self, PyObject *args) {
    PyObject *capsule, *x_obj, *out_obj;
    Py_ssize_t rows, stride;
    if (!PyArg_ParseTuple(args, "OOOnn", &capsule, &x_obj, &out_obj, &rows, &stride)) return NULL;
    Model *m = (Model *)PyCapsule_GetPointer(capsule, CAPSULE);
    if (!m) return NULL;
    if (rows < 0 || stride < m->n_features) {
        PyErr_SetString(PyExc_ValueError, "rows must be >= 0 and stride >= the feature count");
        return NULL;
    }
    Buf bufs[2];
    memset(bufs, 0, sizeof bufs);
    if (take(x_obj, &bufs[0], rows * stride, 8, "X", 0) < 0 ||
        take(out_obj, &bufs[1], rows * (m->n_features + 1), 8, "out", 1) < 0) {
        release(bufs, 2);
        return NULL;
    }
    const size_t n = (size_t)m->max_nodes;
    double *acc = malloc(n * (size_t)m->max_points * sizeof(double));
    int32_t *hot = malloc(n * sizeof(int32_t));
    uint8_t *flags = malloc(2 * n);
    if (!acc || !hot || !flags) {
        free(acc);
        free(hot);
        free(flags);
        release(bufs, 2);
        return PyErr_NoMemory();
    }
    const double *X = bufs[0].view.buf;
    double *out = bufs[1].view.buf;
    Py_BEGIN_ALLOW_THREADS;
    memset(out, 0, (size_t)rows * (m->n_features + 1) * sizeof(double));
    for (Py_ssize_t i = 0; i < rows; ++i)
        explain_row(m, X + i * stride, out + i * (m->n_features + 1), acc, hot, flags, flags + n);
    Py_END_ALLOW_THREADS;
    free(acc);
    free(hot);
    free(flags);
    release(bufs, 2);
    Py_RETURN_NONE;
}

static PyMethodDef METHODS[] = {
    {"prepare", prepare, METH_VARARGS,
     "prepare(n_features, max_points, max_nodes, n_trees, n_nodes, n_words, n_table, tree_start, "
     "tree_points, table_start, parent, left, right, feature, prev, cat_start, cat_words, kind, "
     "bitset, threshold, value, ratio, coef) -> model: copies the tabulated model (see models/linear_treeshap.py)."},
    {"contributions", contributions, METH_VARARGS,
     "contributions(model, X, out, rows, stride): per-feature SHAP values of each row of X "
     "(float64, C order) into out (rows x (n_features + 1), bias column left at 0)."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef MODULE = {PyModuleDef_HEAD_INIT, "_linear_treeshap",
                                    "Exact TreeSHAP in linear time (see linear_treeshap.py).", -1,
                                    METHODS};

PyMODINIT_FUNC PyInit__linear_treeshap(void) { return PyModule_Create(&MODULE); }

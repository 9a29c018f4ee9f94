/* Compiled text statistics of the rule stages: words from tokens (stages/text.py) and the word
 * n-gram statistics of the Gopher repetition rules (stages/repetition.py).
 *
 * Why C: the NumPy version makes ~40 small array calls per document (sort, argsort, bincount,
 * cumsum per n), each mostly call overhead; here one hash-table pass per n does the same work
 * (docs/rules.md §8 has the measured speeds).
 * The definitions are the ones documented in stages/repetition.py and implemented there in
 * NumPy (``top_ngram_fraction``, ``dup_ngram_fraction``), which stay the reference: the tests
 * compare both on random and real texts.
 *
 * Input: the document's mixed word values (uint64, WordIndex.values) and word lengths (int64).
 * n-gram hashes are the same polynomial as WordIndex.gram_hash (h_n[i] = h_{n-1}[i] * P +
 * v[i+n-1], mod 2**64), so equal hashes group the same positions as NumPy's sort does.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const uint64_t POLY = 0x100000001B3ULL;

typedef struct {
    uint64_t key;
    int64_t count;
    int64_t first; /* -1: empty slot */
} Slot;

typedef struct {
    Slot *slots;
    uint64_t mask;
} Table;

static int table_init(Table *table, Py_ssize_t entries) {
    uint64_t size = 16;
    while (size < (uint64_t)entries * 2) size <<= 1;
    table->slots = (Slot *)malloc(size * sizeof(Slot));
    if (table->slots == NULL) return -1;
    table->mask = size - 1;
    return 0;
}

static void table_clear(Table *table) {
    for (uint64_t i = 0; i <= table->mask; i++) table->slots[i].first = -1;
}

/* Slot of ``key``, inserted with ``position`` as first occurrence if new. */
static Py_ssize_t table_add(Table *table, uint64_t key, int64_t position) {
    uint64_t h = key ^ (key >> 29);
    h *= 0xBF58476D1CE4E5B9ULL;
    uint64_t i = (h ^ (h >> 32)) & table->mask;
    for (;;) {
        Slot *slot = &table->slots[i];
        if (slot->first < 0) {
            slot->key = key;
            slot->count = 1;
            slot->first = position;
            return (Py_ssize_t)i;
        }
        if (slot->key == key) {
            slot->count += 1;
            return (Py_ssize_t)i;
        }
        i = (i + 1) & table->mask;
    }
}

/* Characters of the words covered by spans [s, s + n) for the flagged starts, each word once.
 * Starts are visited in ascending order, so the union is one sweep. */
static int64_t covered_chars(const int64_t *lengths, const unsigned char *flag, Py_ssize_t grams,
                             Py_ssize_t n) {
    int64_t chars = 0;
    Py_ssize_t until = 0; /* words [0, until) already counted or skipped */
    for (Py_ssize_t s = 0; s < grams; s++) {
        if (!flag[s]) continue;
        Py_ssize_t from = s > until ? s : until;
        for (Py_ssize_t w = from; w < s + n; w++) chars += lengths[w];
        if (s + n > until) until = s + n;
    }
    return chars;
}

typedef struct {
    Py_ssize_t n;
    int is_top;
    Py_ssize_t out_index;
} Request;

static int compare_requests(const void *a, const void *b) {
    const Request *x = (const Request *)a, *y = (const Request *)b;
    if (x->n != y->n) return x->n < y->n ? -1 : 1;
    return x->is_top > y->is_top ? -1 : (x->is_top < y->is_top ? 1 : 0);
}

static int read_ns(PyObject *sequence, const char *name, Py_ssize_t **out, Py_ssize_t *count) {
    PyObject *fast = PySequence_Fast(sequence, name);
    if (fast == NULL) return -1;
    Py_ssize_t k = PySequence_Fast_GET_SIZE(fast);
    *out = (Py_ssize_t *)malloc((k ? k : 1) * sizeof(Py_ssize_t));
    if (*out == NULL) {
        Py_DECREF(fast);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < k; i++) {
        Py_ssize_t v = PyLong_AsSsize_t(PySequence_Fast_GET_ITEM(fast, i));
        if (v == -1 && PyErr_Occurred()) {
            Py_DECREF(fast);
            return -1;
        }
        if (i && v <= (*out)[i - 1]) {
            Py_DECREF(fast);
            PyErr_Format(PyExc_ValueError, "%s must be strictly increasing", name);
            return -1;
        }
        (*out)[i] = v;
    }
    *count = k;
    Py_DECREF(fast);
    return 0;
}

/* ngram_fractions(values, lengths, top_ns, dup_ns, count_first) -> (top, dup)
 * values: buffer of uint64 (one per word); lengths: buffer of int64; top_ns / dup_ns: strictly
 * increasing n; returns two tuples of floats aligned with them. Once a duplicate n-gram fraction
 * is 0, the longer ones are 0 without being computed (a repeated (n+1)-gram contains a
 * repeated n-gram), as repetition_stats does. */
static PyObject *ngram_fractions(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer values_buf, lengths_buf;
    PyObject *top_seq, *dup_seq;
    int count_first;
    if (!PyArg_ParseTuple(args, "y*y*OOp", &values_buf, &lengths_buf, &top_seq, &dup_seq,
                          &count_first))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t *top_ns = NULL, *dup_ns = NULL, n_top = 0, n_dup = 0;
    Request *requests = NULL;
    double *top_out = NULL, *dup_out = NULL;
    uint64_t *hashes = NULL;
    Py_ssize_t *slot_of = NULL;
    unsigned char *flag = NULL;
    Table table = {NULL, 0};

    if (values_buf.len % 8 || lengths_buf.len % 8 || values_buf.len != lengths_buf.len) {
        PyErr_SetString(PyExc_ValueError, "values and lengths must be equal-length 8-byte arrays");
        goto done;
    }
    if (read_ns(top_seq, "top_ns", &top_ns, &n_top) < 0) goto done;
    if (read_ns(dup_seq, "dup_ns", &dup_ns, &n_dup) < 0) goto done;
    Py_ssize_t m = values_buf.len / 8;
    const uint64_t *values = (const uint64_t *)values_buf.buf;
    const int64_t *lengths = (const int64_t *)lengths_buf.buf;
    top_out = (double *)calloc(n_top ? n_top : 1, sizeof(double));
    dup_out = (double *)calloc(n_dup ? n_dup : 1, sizeof(double));
    requests = (Request *)malloc((n_top + n_dup ? n_top + n_dup : 1) * sizeof(Request));
    hashes = (uint64_t *)malloc((m ? m : 1) * sizeof(uint64_t));
    slot_of = (Py_ssize_t *)malloc((m ? m : 1) * sizeof(Py_ssize_t));
    flag = (unsigned char *)malloc(m ? m : 1);
    if (!top_out || !dup_out || !requests || !hashes || !slot_of || !flag ||
        table_init(&table, m) < 0) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t n_requests = 0;
    for (Py_ssize_t i = 0; i < n_top; i++) requests[n_requests++] = (Request){top_ns[i], 1, i};
    for (Py_ssize_t i = 0; i < n_dup; i++) requests[n_requests++] = (Request){dup_ns[i], 0, i};
    qsort(requests, n_requests, sizeof(Request), compare_requests);

    Py_BEGIN_ALLOW_THREADS
    int64_t total = 0;
    for (Py_ssize_t i = 0; i < m; i++) total += lengths[i];
    Py_ssize_t hashed_n = 0; /* hashes[] holds h_{hashed_n} */
    Py_ssize_t dup_zero_from = -1;  /* first n whose duplicate fraction was 0 */
    Py_ssize_t grouped_n = 0;       /* the n the table holds */
    int64_t max_count = 0;          /* the most occurrences of one n-gram, for grouped_n */
    for (Py_ssize_t r = 0; r < n_requests; r++) {
        Py_ssize_t n = requests[r].n;
        double *out = requests[r].is_top ? &top_out[requests[r].out_index]
                                         : &dup_out[requests[r].out_index];
        *out = 0.0;
        if (!requests[r].is_top && dup_zero_from >= 0 && n >= dup_zero_from) continue;
        if (n < 1 || m < n || total == 0) {
            if (!requests[r].is_top && dup_zero_from < 0) dup_zero_from = n;
            continue;
        }
        Py_ssize_t grams = m - n + 1;
        if (hashed_n == 0) {
            memcpy(hashes, values, m * sizeof(uint64_t));
            hashed_n = 1;
        }
        while (hashed_n < n) { /* in place: h_{k+1}[i] needs h_k[i] only, i ascending */
            for (Py_ssize_t i = 0; i + hashed_n < m; i++) hashes[i] = hashes[i] * POLY + values[i + hashed_n];
            hashed_n++;
        }
        /* requests with the same n share the grouping (sorted: top first, then dup) */
        if (grouped_n != n) {
            table_clear(&table);
            for (Py_ssize_t i = 0; i < grams; i++) slot_of[i] = table_add(&table, hashes[i], i);
            max_count = 0;
            for (Py_ssize_t i = 0; i < grams; i++) {
                int64_t c = table.slots[slot_of[i]].count;
                if (c > max_count) max_count = c;
            }
            grouped_n = n;
        }
        if (max_count < 2) {
            if (!requests[r].is_top && dup_zero_from < 0) dup_zero_from = n;
            continue;
        }
        if (requests[r].is_top) {
            /* the most frequent n-gram; ties: most characters, then the earliest */
            Py_ssize_t winner = -1;
            int64_t winner_chars = -1;
            for (Py_ssize_t i = 0; i < grams; i++) {
                Slot *slot = &table.slots[slot_of[i]];
                if (slot->count != max_count || slot->first != i) continue;
                int64_t chars = 0;
                for (Py_ssize_t w = i; w < i + n; w++) chars += lengths[w];
                if (chars > winner_chars) { /* strictly more: a tie keeps the earlier one */
                    winner = slot_of[i];
                    winner_chars = chars;
                }
            }
            for (Py_ssize_t i = 0; i < grams; i++) flag[i] = slot_of[i] == winner;
        } else {
            for (Py_ssize_t i = 0; i < grams; i++) {
                Slot *slot = &table.slots[slot_of[i]];
                flag[i] = count_first ? slot->count > 1 : slot->first != i;
            }
        }
        *out = (double)covered_chars(lengths, flag, grams, n) / (double)total;
        if (!requests[r].is_top && *out == 0.0 && dup_zero_from < 0) dup_zero_from = n;
    }
    Py_END_ALLOW_THREADS

    PyObject *top = PyTuple_New(n_top), *dup = PyTuple_New(n_dup);
    if (top == NULL || dup == NULL) {
        Py_XDECREF(top);
        Py_XDECREF(dup);
        goto done;
    }
    int failed = 0;
    for (Py_ssize_t i = 0; i < n_top; i++) {
        PyObject *value = PyFloat_FromDouble(top_out[i]);
        failed |= value == NULL;
        PyTuple_SET_ITEM(top, i, value);
    }
    for (Py_ssize_t i = 0; i < n_dup; i++) {
        PyObject *value = PyFloat_FromDouble(dup_out[i]);
        failed |= value == NULL;
        PyTuple_SET_ITEM(dup, i, value);
    }
    if (!failed) result = PyTuple_Pack(2, top, dup);
    Py_DECREF(top);
    Py_DECREF(dup);

done:
    free(top_ns);
    free(dup_ns);
    free(requests);
    free(top_out);
    free(dup_out);
    free(hashes);
    free(slot_of);
    free(flag);
    free(table.slots);
    PyBuffer_Release(&values_buf);
    PyBuffer_Release(&lengths_buf);
    return result;
}

static uint64_t mix(uint64_t id) { /* splitmix64 finaliser of id + 1, as repetition._mix */
    uint64_t z = (id + 1) * 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* word_values(words) -> (values, lengths) as bytes of uint64 / int64: each word's id (order of
 * first occurrence, as WordIndex numbers them) mixed, and its length in code points. */
static PyObject *word_values(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *sequence;
    if (!PyArg_ParseTuple(args, "O", &sequence)) return NULL;
    PyObject *fast = PySequence_Fast(sequence, "words must be a sequence");
    if (fast == NULL) return NULL;
    Py_ssize_t m = PySequence_Fast_GET_SIZE(fast);
    PyObject *values = PyBytes_FromStringAndSize(NULL, m * 8);
    PyObject *lengths = PyBytes_FromStringAndSize(NULL, m * 8);
    PyObject *ids = PyDict_New();
    PyObject *result = NULL;
    if (values == NULL || lengths == NULL || ids == NULL) goto done;
    uint64_t *v = (uint64_t *)PyBytes_AS_STRING(values);
    int64_t *l = (int64_t *)PyBytes_AS_STRING(lengths);
    for (Py_ssize_t i = 0; i < m; i++) {
        PyObject *word = PySequence_Fast_GET_ITEM(fast, i);
        if (!PyUnicode_Check(word)) {
            PyErr_SetString(PyExc_TypeError, "words must be str");
            goto done;
        }
        PyObject *next_id = PyLong_FromSsize_t(PyDict_GET_SIZE(ids));
        if (next_id == NULL) goto done;
        PyObject *id = PyDict_SetDefault(ids, word, next_id); /* borrowed */
        Py_DECREF(next_id);
        if (id == NULL) goto done;
        v[i] = mix((uint64_t)PyLong_AsSsize_t(id));
        l[i] = (int64_t)PyUnicode_GET_LENGTH(word);
    }
    result = PyTuple_Pack(2, values, lengths);
done:
    Py_DECREF(fast);
    Py_XDECREF(values);
    Py_XDECREF(lengths);
    Py_XDECREF(ids);
    return result;
}

/* strip_words(tokens, table) -> (words, alpha_words)
 * Each token with the characters flagged in ``table`` (a bitmap over the BMP: bit c set = code
 * point c is stripped, built from text.PUNCT) stripped from both ends; empty results dropped
 * (text.words_of, which stays the reference). alpha_words: words holding at least one
 * alphabetic character (text.count_alpha_words). */
static PyObject *strip_words(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *sequence;
    Py_buffer table;
    if (!PyArg_ParseTuple(args, "Oy*", &sequence, &table)) return NULL;
    PyObject *result = NULL, *words = NULL;
    PyObject *fast = PySequence_Fast(sequence, "tokens must be a sequence");
    if (fast == NULL) goto done;
    if (table.len != 0x10000 / 8) {
        PyErr_SetString(PyExc_ValueError, "table must be 8192 bytes (one bit per BMP code point)");
        goto done;
    }
    const unsigned char *bits = (const unsigned char *)table.buf;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    words = PyList_New(0);
    if (words == NULL) goto done;
    Py_ssize_t alpha_words = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *token = PySequence_Fast_GET_ITEM(fast, i);
        if (!PyUnicode_Check(token)) {
            PyErr_SetString(PyExc_TypeError, "tokens must be str");
            goto done;
        }
#if PY_VERSION_HEX < 0x030C0000 /* legacy (not yet "ready") strings exist before 3.12 only */
        if (PyUnicode_READY(token) < 0) goto done;
#endif
        int kind = PyUnicode_KIND(token);
        const void *data = PyUnicode_DATA(token);
        Py_ssize_t length = PyUnicode_GET_LENGTH(token), start = 0, end = length;
#define STRIPPED(c) ((c) < 0x10000 && (bits[(c) >> 3] >> ((c) & 7) & 1))
        while (start < end && STRIPPED(PyUnicode_READ(kind, data, start))) start++;
        while (end > start && STRIPPED(PyUnicode_READ(kind, data, end - 1))) end--;
#undef STRIPPED
        if (start == end) continue;
        int alpha = 0;
        for (Py_ssize_t k = start; k < end && !alpha; k++)
            alpha = Py_UNICODE_ISALPHA(PyUnicode_READ(kind, data, k));
        alpha_words += alpha;
        PyObject *word;
        if (start == 0 && end == length) {
            word = token;
            Py_INCREF(word);
        } else {
            word = PyUnicode_Substring(token, start, end);
            if (word == NULL) goto done;
        }
        int failed = PyList_Append(words, word);
        Py_DECREF(word);
        if (failed) goto done;
    }
    PyObject *tuple = PyList_AsTuple(words);
    if (tuple == NULL) goto done;
    result = Py_BuildValue("(Nn)", tuple, alpha_words);
done:
    Py_XDECREF(fast);
    Py_XDECREF(words);
    PyBuffer_Release(&table);
    return result;
}

static PyMethodDef methods[] = {
    {"ngram_fractions", ngram_fractions, METH_VARARGS,
     "ngram_fractions(values, lengths, top_ns, dup_ns, count_first) -> (top, dup) fractions"},
    {"strip_words", strip_words, METH_VARARGS,
     "strip_words(tokens, table) -> (words, alpha_words): tokens stripped of flagged characters"},
    {"word_values", word_values, METH_VARARGS,
     "word_values(words) -> (values, lengths): mixed first-occurrence ids and lengths as bytes"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_textstats",
                                    "Compiled Gopher word n-gram statistics.", -1, methods};

PyMODINIT_FUNC PyInit__textstats(void) { return PyModule_Create(&module); }

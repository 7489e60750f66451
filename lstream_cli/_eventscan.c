/*
 * lstream_cli._eventscan: the event counters of lstream_cli/events.py in C.
 *
 * The same three counters (SseCounter, NdjsonCounter, LinesCounter) with the
 * same interface and exactly the same counts read by read as the pure-Python
 * ones (docs/events.md, "Formats"; tests/test_events.py and
 * tests/test_eventscan.py check both against each other at every split). They walk each read once, 16 bytes at a time,
 * from line end to line end, and look at no more than the first five bytes
 * of a line: a few nanoseconds per line instead of a few passes over every
 * byte.
 *
 * Plain CPython C API, no other dependency. Built by hatch_build.py when a C
 * compiler is present; without it events.py uses its own counters.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* Bytes of a buffer-protocol argument: bytes directly, anything else
 * (memoryview, bytearray) through a Py_buffer that the caller releases. */
typedef struct {
    const char *p;
    Py_ssize_t n;
    Py_buffer view;
    int has_view;
} chunk_t;

static int
chunk_get(PyObject *arg, chunk_t *c)
{
    c->has_view = 0;
    if (PyBytes_CheckExact(arg)) {
        c->p = PyBytes_AS_STRING(arg);
        c->n = PyBytes_GET_SIZE(arg);
        return 0;
    }
    if (PyObject_GetBuffer(arg, &c->view, PyBUF_SIMPLE) < 0)
        return -1;
    c->has_view = 1;
    c->p = (const char *)c->view.buf;
    c->n = c->view.len;
    return 0;
}

static void
chunk_release(chunk_t *c)
{
    if (c->has_view)
        PyBuffer_Release(&c->view);
}

/* ------------------------------------------------------------------------ */
/* SSE                                                                      */
/* ------------------------------------------------------------------------ */

/* Where the current line stands, decided by its first bytes:
 * 0 nothing yet (a blank line if it ends now), 1-4 "data" matched so far,
 * LINE_DATA a data field ("data:..." or, at its end, exactly "data"),
 * LINE_OTHER anything else (a comment, another field, a near miss). */
#define LINE_DATA 5
#define LINE_OTHER 6

/* A new counter: every field starts at 0; the constructor takes no arguments. */
static PyObject *
counter_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    if (PyTuple_GET_SIZE(args) != 0 || (kwds != NULL && PyDict_GET_SIZE(kwds) != 0)) {
        PyErr_Format(PyExc_TypeError, "%s() takes no arguments", type->tp_name);
        return NULL;
    }
    return type->tp_alloc(type, 0);
}

/* The type of a counter: ``Prefix``Object, ``Prefix``_count(object, start, end)
 * (the events the bytes [start, end) complete) and ``Prefix``_end. */
#define COUNTER_TYPE(Prefix, Name, doc, end_doc)                                          \
    static PyObject *Prefix##_feed(Prefix##Object *s, PyObject *arg)                      \
    {                                                                                     \
        chunk_t c;                                                                        \
        if (chunk_get(arg, &c) < 0)                                                       \
            return NULL;                                                                  \
        Py_ssize_t n = Prefix##_count(s, c.p, c.p + c.n);                                 \
        chunk_release(&c);                                                                \
        return PyLong_FromSsize_t(n);                                                     \
    }                                                                                     \
    static PyMethodDef Prefix##_methods[] = {                                             \
        {"feed", (PyCFunction)Prefix##_feed, METH_O,                                      \
         "Take the next bytes of the body; return how many events they completed."},      \
        {"end", (PyCFunction)Prefix##_end, METH_NOARGS, end_doc},                         \
        {NULL, NULL, 0, NULL},                                                            \
    };                                                                                    \
    static PyTypeObject Prefix##Type = {                                                  \
        PyVarObject_HEAD_INIT(NULL, 0).tp_name = "lstream_cli._eventscan." #Name,         \
        .tp_doc = doc,                                                                    \
        .tp_basicsize = sizeof(Prefix##Object),                                           \
        .tp_flags = Py_TPFLAGS_DEFAULT,                                                   \
        .tp_new = counter_new,                                                            \
        .tp_methods = Prefix##_methods,                                                   \
    };

static const char DATA[4] = {'d', 'a', 't', 'a'};
static const unsigned char BOM[3] = {0xEF, 0xBB, 0xBF};

typedef struct {
    PyObject_HEAD
    int started;        /* past the BOM check */
    int head_len;       /* bytes of a possible BOM seen so far (< 3) */
    int cr;             /* the previous read ended with CR */
    int line;           /* the current line's state, above */
    int data;           /* the event being built has a data field */
} SseObject;

/* Take the bytes [p, q) of the current line (no line end among them). */
static inline int
sse_line_bytes(int line, const char *p, const char *q)
{
    while (line < 4 && p < q) {
        line = (*p == DATA[line]) ? line + 1 : LINE_OTHER;
        p++;
    }
    if (line == 4 && p < q)
        line = (*p == ':') ? LINE_DATA : LINE_OTHER;
    return line;
}

/* Blocks of 16 bytes: a bit per byte that is a line end (CR or LF), or an
 * LF. SSE2 (every x86-64) compares 16 bytes at once; elsewhere a plain loop
 * the compiler may vectorise. */
#define BLOCK 16

static inline unsigned
block_mask(const char *p, int with_cr)
{
#if defined(__SSE2__)
    __m128i v = _mm_loadu_si128((const __m128i *)p);
    __m128i m = _mm_cmpeq_epi8(v, _mm_set1_epi8('\n'));
    if (with_cr)
        m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8('\r')));
    return (unsigned)_mm_movemask_epi8(m);
#else
    unsigned m = 0;
    for (int i = 0; i < BLOCK; i++)
        m |= (unsigned)(p[i] == '\n' || (with_cr && p[i] == '\r')) << i;
    return m;
#endif
}

static inline unsigned
tail_mask(const char *p, const char *end, int with_cr)
{
    unsigned m = 0;
    for (int i = 0; p + i < end; i++)
        m |= (unsigned)(p[i] == '\n' || (with_cr && p[i] == '\r')) << i;
    return m;
}

static inline int
ctz(unsigned m)
{
#if defined(__GNUC__)
    return __builtin_ctz(m);
#else
    int i = 0;
    while (!(m & 1u)) {
        m >>= 1;
        i++;
    }
    return i;
#endif
}

static inline int
popcount(unsigned m)
{
#if defined(__GNUC__)
    return __builtin_popcount(m);
#else
    int n = 0;
    for (; m; m &= m - 1)
        n++;
    return n;
#endif
}

/* The state of one SSE scan over a read. */
typedef struct {
    const char *ls;  /* where the current line's bytes start in this read */
    int line;        /* its state (above), for a line begun in an earlier read */
    int data;        /* the event being built has a data field */
    int cr_at_end;   /* the read ended with CR */
    Py_ssize_t n;    /* events dispatched */
} sse_walk;

/* A line end (CR or LF) at ``eol``, ``end`` the end of the read. */
static inline void
sse_eol(sse_walk *w, const char *eol, const char *end)
{
    const char *ls = w->ls;
    if (eol < ls)
        return; /* the LF of a CRLF, already taken with its CR */
    int line = w->line;
    if (line == 0 && eol - ls >= 5)
        line = memcmp(ls, "data:", 5) == 0 ? LINE_DATA : LINE_OTHER;
    else if (line < LINE_DATA)
        line = sse_line_bytes(line, ls, eol);
    if (line == 0) {
        w->n += w->data; /* a blank line dispatches an event that has data */
        w->data = 0;
    }
    else if (line == 4 || line == LINE_DATA) {
        w->data = 1;
    }
    w->line = 0;
    w->ls = eol + 1;
    if (*eol == '\r') {
        if (eol + 1 == end)
            w->cr_at_end = 1;
        else if (eol[1] == '\n')
            w->ls = eol + 2;
    }
}

/* Count the events that the bytes [p, end) dispatch (BOM already handled). */
static Py_ssize_t
sse_scan(SseObject *s, const char *p, const char *end)
{
    if (p == end)
        return 0; /* an empty read changes nothing (a pending CR stays pending) */
    if (s->cr) {
        s->cr = 0;
        if (*p == '\n')
            p++; /* the LF of a CRLF split over two reads */
    }
    sse_walk w = {p, s->line, s->data, 0, 0};
    /* A read without CR (the usual case) looks for LF alone. */
    int with_cr = memchr(p, '\r', (size_t)(end - p)) != NULL;
    for (; end - p >= BLOCK; p += BLOCK) {
        unsigned m = block_mask(p, with_cr);
        while (m) {
            const char *eol = p + ctz(m);
            m &= m - 1;
            sse_eol(&w, eol, end);
            if ((m & (1u << (eol + 1 - p))) && w.ls == eol + 1 && eol[1] == '\n') {
                /* LF LF: a blank line right after, the usual end of an event. */
                w.n += w.data;
                w.data = 0;
                w.ls = eol + 2;
                m &= m - 1;
            }
        }
    }
    for (unsigned m = tail_mask(p, end, with_cr); m; m &= m - 1)
        sse_eol(&w, p + ctz(m), end);
    if (w.ls < end)
        w.line = w.line < LINE_DATA ? sse_line_bytes(w.line, w.ls, end) : w.line;
    s->line = w.line;
    s->data = w.data;
    s->cr = w.cr_at_end;
    return w.n;
}

static Py_ssize_t
Sse_count(SseObject *s, const char *p, const char *end)
{
    if (!s->started) {
        /* The first bytes: drop a UTF-8 BOM, wait while one may be arriving. */
        int k = s->head_len;
        while (k < 3 && p < end && (unsigned char)*p == BOM[k]) {
            k++;
            p++;
        }
        if (k < 3 && p == end) {
            s->head_len = k; /* all a prefix of the BOM so far */
            return 0;
        }
        s->started = 1;
        s->head_len = 0;
        if (k < 3) {
            /* Not a BOM: its matched bytes are the stream's first bytes
             * (none is a line end, so they only start the first line). */
            s->line = sse_line_bytes(s->line, (const char *)BOM, (const char *)BOM + k);
        }
    }
    return sse_scan(s, p, end);
}

static PyObject *
Sse_end(SseObject *Py_UNUSED(s), PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromLong(0); /* an event without its blank line is never dispatched */
}

COUNTER_TYPE(Sse, SseCounter, "Counts dispatched Server-Sent Events, read by read.",
             "The body ended completely: events that its end completes (always 0).")

/* ------------------------------------------------------------------------ */
/* NDJSON and lines                                                         */
/* ------------------------------------------------------------------------ */

/* The unfinished last line: 0 empty, 1 a lone CR, 2 anything else. */
#define TAIL_EMPTY 0
#define TAIL_CR 1
#define TAIL_TEXT 2

typedef struct {
    PyObject_HEAD
    int tail;
} NdjsonObject;

/* What the bytes [p, q) (no LF among them) make of a line now at ``tail``. */
static inline int
ndjson_tail(int tail, const char *p, const char *q)
{
    if (p == q)
        return tail;
    if (tail == TAIL_EMPTY && q - p == 1 && *p == '\r')
        return TAIL_CR;
    return TAIL_TEXT;
}

static Py_ssize_t
Ndjson_count(NdjsonObject *s, const char *p, const char *end)
{
    int tail = s->tail;
    Py_ssize_t n = 0;
    for (;;) {
        const char *lf = memchr(p, '\n', (size_t)(end - p));
        if (lf == NULL) {
            tail = ndjson_tail(tail, p, end);
            break;
        }
        if (ndjson_tail(tail, p, lf) == TAIL_TEXT)
            n++; /* a non-blank line: an event */
        tail = TAIL_EMPTY;
        p = lf + 1;
    }
    s->tail = tail;
    return n;
}

static PyObject *
Ndjson_end(NdjsonObject *s, PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromLong(s->tail == TAIL_TEXT); /* a last line without its LF */
}

COUNTER_TYPE(Ndjson, NdjsonCounter, "One event per non-blank line (LF or CRLF line ends).",
             "The body ended completely: 1 if a last line without its LF is not blank.")

typedef struct {
    PyObject_HEAD
    int open; /* bytes of an unfinished line have arrived */
} LinesObject;

static Py_ssize_t
Lines_count(LinesObject *s, const char *p, const char *end)
{
    Py_ssize_t n = 0;
    const char *q = p;
    for (; end - q >= BLOCK; q += BLOCK)
        n += popcount(block_mask(q, 0));
    n += popcount(tail_mask(q, end, 0));
    if (n)
        s->open = end[-1] != '\n';
    else if (p < end)
        s->open = 1;
    return n;
}

static PyObject *
Lines_end(LinesObject *s, PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromLong(s->open);
}

COUNTER_TYPE(Lines, LinesCounter, "One event per line, blank ones included (LF line ends).",
             "The body ended completely: 1 if a last line without its LF has bytes.")

/* ------------------------------------------------------------------------ */

static struct PyModuleDef eventscan_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "lstream_cli._eventscan",
    .m_doc = "The event counters of lstream_cli.events, compiled.",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__eventscan(void)
{
    PyTypeObject *types[] = {&SseType, &NdjsonType, &LinesType};
    const char *names[] = {"SseCounter", "NdjsonCounter", "LinesCounter"};
    for (int i = 0; i < 3; i++) {
        if (PyType_Ready(types[i]) < 0)
            return NULL;
    }
    PyObject *m = PyModule_Create(&eventscan_module);
    if (m == NULL)
        return NULL;
    for (int i = 0; i < 3; i++) {
        Py_INCREF(types[i]);
        if (PyModule_AddObject(m, names[i], (PyObject *)types[i]) < 0) {
            Py_DECREF(types[i]);
            Py_DECREF(m);
            return NULL;
        }
    }
    return m;
}

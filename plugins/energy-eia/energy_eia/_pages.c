/* Decode an EIA API v2 page straight into Arrow column buffers, without the GIL.
 *
 * The general decoder in energy_eia.parse (msgspec) builds a Python object for every field of every row,
 * holding the GIL throughout, so the pages of several windows decode one after another whatever the cores.
 * This one reads the plain shape EIA sends, {"response": {"total": N, "data": [{"period":
 * "YYYY-MM-DDTHH", "respondent": "...", "<code>": "...", "value": 1.5 | "1.5" | null}, ...],
 * "warnings": []}, ...}, into the buffers of four Arrow columns with the GIL released (the period as
 * microseconds since 1970 UTC), and gives up (returns None) on anything else: a period of another
 * form or no such hour, escapes or non-ASCII text in a field it keeps, a value that is not a number,
 * a numeric string or null, a repeated or missing key, warnings, invalid JSON. The caller then decodes
 * the page the general way, so a page is always read by the same rules; this is only faster.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64
#define MAX_NUMBER 63

enum { OK = 0, NOT_PLAIN = -1, NO_MEMORY = -2 };

typedef struct {
    char *data;
    size_t len, cap;
} Buffer;

static int buffer_append(Buffer *b, const void *src, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n) cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown) return NO_MEMORY;
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, src, n);
    b->len += n;
    return OK;
}

/* An Arrow utf8 column: int32 offsets (one more than the rows) and the bytes. */
typedef struct {
    Buffer offsets, bytes;
} Text;

static int text_push(Text *t, const char *s, size_t n) {
    if (t->bytes.len + n > INT32_MAX) return NOT_PLAIN;
    int rc = buffer_append(&t->bytes, s, n);
    if (rc) return rc;
    int32_t end = (int32_t)t->bytes.len;
    return buffer_append(&t->offsets, &end, sizeof end);
}

typedef struct {
    const char *p, *end;
    const char *code;
    size_t code_len;
    Text respondent, code_column;
    Buffer period, values, valid; /* int64 microseconds; float64; a byte per row, packed into a bitmap at the end */
    Py_ssize_t rows, nulls;
    long long total;
} Parser;

static void skip_space(Parser *P) {
    while (P->p < P->end && (*P->p == ' ' || *P->p == '\n' || *P->p == '\r' || *P->p == '\t')) P->p++;
}

static int expect(Parser *P, char c) {
    skip_space(P);
    if (P->p >= P->end || *P->p != c) return NOT_PLAIN;
    P->p++;
    return OK;
}

static int next_is(Parser *P, char c) {
    skip_space(P);
    return P->p < P->end && *P->p == c;
}

/* After an item of a list or object: 1 when a comma says another follows, OK (0) once ``close`` ends it. */
static int another(Parser *P, char close) {
    skip_space(P);
    if (P->p < P->end && *P->p == ',') {
        P->p++;
        return 1;
    }
    return expect(P, close);
}

static int is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

/* The bytes that end a plain run of string text: the closing quote, an escape, a control character, and
 * any byte outside ASCII. Filled when the module loads. */
static unsigned char string_stop[256];

/* A string at P->p; its raw bytes in [*s, *s + *n). Escapes are allowed (and left as they are) only
 * when ``escapes`` is set; text outside ASCII is not plain either way. */
static int read_string(Parser *P, const char **s, size_t *n, int escapes) {
    if (expect(P, '"')) return NOT_PLAIN;
    const char *start = P->p;
    for (;;) {
        const unsigned char *q = (const unsigned char *)P->p, *end = (const unsigned char *)P->end;
        while (q < end && !string_stop[*q]) q++;
        P->p = (const char *)q;
        if (q >= end) return NOT_PLAIN;
        if (*q == '"') {
            *s = start;
            *n = (size_t)(P->p - start);
            P->p++;
            return OK;
        }
        if (*q != '\\' || !escapes || P->p + 1 >= P->end) return NOT_PLAIN;
        char e = P->p[1];
        if (e == 'u') {  /* surrogates (which must pair up) are left to the general decoder */
            if (P->p + 5 >= P->end || !is_hex(P->p[2]) || !is_hex(P->p[3]) || !is_hex(P->p[4]) || !is_hex(P->p[5])
                || ((P->p[2] == 'd' || P->p[2] == 'D') && strchr("89abcdefABCDEF", P->p[3])))
                return NOT_PLAIN;
            P->p += 6;
        } else if (e != '\0' && strchr("\"\\/bfnrt", e)) {
            P->p += 2;
        } else {
            return NOT_PLAIN;
        }
    }
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* The length of the JSON number at the start of [s, end), or 0 if there is none. */
static size_t number_length(const char *s, const char *end) {
    const char *p = s;
    if (p < end && *p == '-') p++;
    if (p >= end || !is_digit(*p)) return 0;
    if (*p == '0') p++;
    else while (p < end && is_digit(*p)) p++;
    if (p < end && *p == '.') {
        p++;
        if (p >= end || !is_digit(*p)) return 0;
        while (p < end && is_digit(*p)) p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (p >= end || !is_digit(*p)) return 0;
        while (p < end && is_digit(*p)) p++;
    }
    return (size_t)(p - s);
}

/* ``s`` (exactly a JSON number of ``n`` bytes) as a finite double, correctly rounded by strtod. Under a
 * locale whose decimal point is not '.', strtod stops early on a fraction and the page is not plain. */
static int to_double(const char *s, size_t n, double *out) {
    char copy[MAX_NUMBER + 1];
    if (n == 0 || n > MAX_NUMBER) return NOT_PLAIN;
    memcpy(copy, s, n);
    copy[n] = '\0';
    char *stop;
    double v = strtod(copy, &stop);
    if (stop != copy + n || !isfinite(v)) return NOT_PLAIN;
    *out = v;
    return OK;
}

static int skip_value(Parser *P, int depth);

static int skip_members(Parser *P, char close, int depth) {
    if (next_is(P, close)) {
        P->p++;
        return OK;
    }
    for (;;) {
        if (close == '}') {
            const char *s;
            size_t n;
            if (read_string(P, &s, &n, 1) || expect(P, ':')) return NOT_PLAIN;
        }
        int rc = skip_value(P, depth + 1);
        if (rc) return rc;
        if ((rc = another(P, close)) <= 0) return rc;
    }
}

static int skip_value(Parser *P, int depth) {
    if (depth > MAX_DEPTH) return NOT_PLAIN;
    skip_space(P);
    if (P->p >= P->end) return NOT_PLAIN;
    const char *s;
    size_t n;
    switch (*P->p) {
        case '"': return read_string(P, &s, &n, 1);
        case '{': P->p++; return skip_members(P, '}', depth);
        case '[': P->p++; return skip_members(P, ']', depth);
        case 't': n = 4; s = "true"; break;
        case 'f': n = 5; s = "false"; break;
        case 'n': n = 4; s = "null"; break;
        default:
            n = number_length(P->p, P->end);
            if (!n) return NOT_PLAIN;
            P->p += n;
            return OK;
    }
    if ((size_t)(P->end - P->p) < n || memcmp(P->p, s, n)) return NOT_PLAIN;
    P->p += n;
    return OK;
}

static int is_key(const char *s, size_t n, const char *name, size_t name_len) {
    return n == name_len && memcmp(s, name, n) == 0;
}

static int digits(const char *s, int n) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!is_digit(s[i])) return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* Days from 1970-01-01 to a date of the proleptic Gregorian calendar (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* ``YYYY-MM-DDTHH`` (an hour that exists) as microseconds since 1970-01-01 00:00 UTC. */
static int read_hour(const char *s, size_t n, int64_t *micros) {
    static const int month_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (n != 13 || s[4] != '-' || s[7] != '-' || s[10] != 'T') return NOT_PLAIN;
    int year = digits(s, 4), month = digits(s + 5, 2), day = digits(s + 8, 2), hour = digits(s + 11, 2);
    if (year < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23) return NOT_PLAIN;
    int leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    if (day > month_days[month - 1] + (month == 2 && leap)) return NOT_PLAIN;
    *micros = (days_from_civil(year, month, day) * 24 + hour) * 3600 * INT64_C(1000000);
    return OK;
}

/* One row's value: a number, a string holding exactly a JSON number, or null (also when absent). */
static int read_value(Parser *P, double *value, int *valid) {
    skip_space(P);
    if (P->p < P->end && *P->p == 'n') {
        *valid = 0;
        return skip_value(P, 0);
    }
    const char *s;
    size_t n;
    if (P->p < P->end && *P->p == '"') {
        int rc = read_string(P, &s, &n, 0);
        if (rc || number_length(s, s + n) != n) return NOT_PLAIN;
    } else {
        s = P->p;
        n = number_length(P->p, P->end);
        P->p += n;
    }
    *valid = 1;
    return to_double(s, n, value);
}

/* Reads one member of an object, given its key (its value is next); ``state`` is the caller's. */
typedef int (*Member)(Parser *P, const char *key, size_t key_len, void *state);

/* An object of at least one member, each read by ``member``; duplicate keys are ``member``'s to refuse. */
static int read_object(Parser *P, Member member, void *state) {
    if (expect(P, '{') || next_is(P, '}')) return NOT_PLAIN;
    for (;;) {
        const char *key;
        size_t key_len;
        if (read_string(P, &key, &key_len, 0) || expect(P, ':')) return NOT_PLAIN;
        int rc = member(P, key, key_len, state);
        if (rc) return rc;
        if ((rc = another(P, '}')) <= 0) return rc;
    }
}

/* The fields a member sets, to refuse one that repeats and tell one that is missing. */
enum { PERIOD = 1, RESPONDENT = 2, CODE = 4, VALUE = 8, TOTAL = 16, DATA = 32, WARNINGS = 64, RESPONSE = 128 };

static int first_time(int *seen, int field) {
    if (*seen & field) return 0;
    *seen |= field;
    return 1;
}

typedef struct {
    int seen, valid;
    double value;
} Row;

static int row_member(Parser *P, const char *key, size_t key_len, void *state) {
    Row *row = state;
    const char *s;
    size_t n;
    int64_t hour;
    Text *column = is_key(key, key_len, "respondent", 10) ? &P->respondent
                 : is_key(key, key_len, P->code, P->code_len) ? &P->code_column : NULL;
    int field = column == &P->respondent ? RESPONDENT : column ? CODE : is_key(key, key_len, "period", 6) ? PERIOD
              : is_key(key, key_len, "value", 5) ? VALUE : 0;
    if (field && !first_time(&row->seen, field)) return NOT_PLAIN;
    if (column) {
        if (read_string(P, &s, &n, 0)) return NOT_PLAIN;
        return text_push(column, s, n);
    }
    if (field == PERIOD) {
        if (read_string(P, &s, &n, 0) || read_hour(s, n, &hour)) return NOT_PLAIN;
        return buffer_append(&P->period, &hour, sizeof hour);
    }
    if (field == VALUE) return read_value(P, &row->value, &row->valid);
    return skip_value(P, 2);
}

static int read_row(Parser *P) {
    Row row = {0, 0, 0.0};
    int rc = read_object(P, row_member, &row);
    if (rc) return rc;
    if ((row.seen & (PERIOD | RESPONDENT | CODE)) != (PERIOD | RESPONDENT | CODE)) return NOT_PLAIN;
    unsigned char flag = (unsigned char)row.valid;
    if ((rc = buffer_append(&P->values, &row.value, sizeof row.value)) || (rc = buffer_append(&P->valid, &flag, 1)))
        return rc;
    P->rows++;
    P->nulls += !row.valid;
    return OK;
}

static int read_data(Parser *P) {
    if (expect(P, '[')) return NOT_PLAIN;
    if (next_is(P, ']')) {
        P->p++;
        return OK;
    }
    for (;;) {
        int rc = read_row(P);
        if (rc) return rc;
        if ((rc = another(P, ']')) <= 0) return rc;
    }
}

/* ``total``: EIA sends it as a string of digits; a number of digits is read alike. Any other form (a
 * fraction, an exponent, a sign) is left to the general decoder. */
static int read_total(Parser *P) {
    const char *s;
    size_t n;
    skip_space(P);
    if (P->p < P->end && *P->p == '"') {
        if (read_string(P, &s, &n, 0)) return NOT_PLAIN;
    } else {
        s = P->p;
        n = number_length(P->p, P->end);
        P->p += n;
    }
    if (n == 0 || n > 18 || number_length(s, s + n) != n) return NOT_PLAIN; /* "0012" is no JSON integer */
    long long total = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i])) return NOT_PLAIN;
        total = total * 10 + (s[i] - '0');
    }
    P->total = total;
    return OK;
}

static int response_member(Parser *P, const char *key, size_t key_len, void *state) {
    int field = is_key(key, key_len, "total", 5) ? TOTAL : is_key(key, key_len, "data", 4) ? DATA
              : is_key(key, key_len, "warnings", 8) ? WARNINGS : 0;
    if (field && !first_time(state, field)) return NOT_PLAIN;
    if (field == TOTAL) return read_total(P);
    if (field == DATA) return read_data(P);
    if (field == WARNINGS) return expect(P, '[') || expect(P, ']') ? NOT_PLAIN : OK; /* only none */
    return skip_value(P, 2);
}

static int page_member(Parser *P, const char *key, size_t key_len, void *state) {
    if (!is_key(key, key_len, "response", 8)) return skip_value(P, 1);
    if (!first_time(state, RESPONSE)) return NOT_PLAIN;
    int seen = 0;
    int rc = read_object(P, response_member, &seen);
    if (rc) return rc;
    return (seen & (TOTAL | DATA)) == (TOTAL | DATA) ? OK : NOT_PLAIN;
}

static int read_page(Parser *P) {
    int seen = 0;
    int rc = read_object(P, page_member, &seen);
    if (rc) return rc;
    skip_space(P);
    return seen && P->p == P->end ? OK : NOT_PLAIN;
}

/* The validity bitmap Arrow reads (least significant bit first), written over ``valid``'s bytes. */
static void pack_validity(Buffer *valid, Py_ssize_t rows) {
    unsigned char *bytes = (unsigned char *)valid->data;
    for (Py_ssize_t i = 0; i < rows; i++) {
        unsigned char bit = (unsigned char)(bytes[i] << (i % 8)); /* read before byte i / 8 (<= i) is written */
        bytes[i / 8] = i % 8 ? bytes[i / 8] | bit : bit;
    }
    valid->len = (size_t)(rows + 7) / 8;
}

static void release(Parser *P) {
    Buffer *buffers[] = {&P->period, &P->respondent.offsets, &P->respondent.bytes, &P->code_column.offsets,
                         &P->code_column.bytes, &P->values, &P->valid};
    for (size_t i = 0; i < sizeof buffers / sizeof *buffers; i++) free(buffers[i]->data);
}

static PyObject *as_bytes(Buffer *b) { return PyBytes_FromStringAndSize(b->data ? b->data : "", (Py_ssize_t)b->len); }

static PyObject *decode(PyObject *Py_UNUSED(module), PyObject *args) {
    Py_buffer body, code;
    if (!PyArg_ParseTuple(args, "y*y*:decode", &body, &code)) return NULL;
    Parser P = {0};
    P.p = body.buf;
    P.end = (const char *)body.buf + body.len;
    P.code = code.buf;
    P.code_len = (size_t)code.len;
    int32_t zero = 0;
    int rc = OK;
    Py_BEGIN_ALLOW_THREADS
    Text *texts[] = {&P.respondent, &P.code_column};
    for (size_t i = 0; i < 2 && rc == OK; i++) rc = buffer_append(&texts[i]->offsets, &zero, sizeof zero);
    if (rc == OK) rc = read_page(&P);
    if (rc == OK) pack_validity(&P.valid, P.rows);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&body);
    PyBuffer_Release(&code);
    PyObject *result = NULL;
    if (rc == NO_MEMORY) {
        PyErr_NoMemory();
    } else if (rc == NOT_PLAIN) {
        result = Py_NewRef(Py_None);
    } else {
        Buffer *buffers[] = {&P.period, &P.respondent.offsets, &P.respondent.bytes, &P.code_column.offsets,
                             &P.code_column.bytes, &P.values, &P.valid};
        size_t count = sizeof buffers / sizeof *buffers;
        result = PyTuple_New((Py_ssize_t)(3 + count));
        PyObject *head[] = {PyLong_FromLongLong(P.total), PyLong_FromSsize_t(P.rows), PyLong_FromSsize_t(P.nulls)};
        for (size_t i = 0; i < 3 + count; i++) {
            PyObject *item = i < 3 ? head[i] : as_bytes(buffers[i - 3]);
            if (!item || !result) {
                Py_XDECREF(item);
                Py_CLEAR(result);
                continue;
            }
            PyTuple_SET_ITEM(result, (Py_ssize_t)i, item);
        }
    }
    release(&P);
    return result;
}

static PyMethodDef methods[] = {
    {"decode", decode, METH_VARARGS,
     "decode(body, code_field) -> (total, rows, nulls, int64 period microseconds, respondent offsets, "
     "respondent bytes, code offsets, code bytes, float64 values, validity bitmap), or None when the page "
     "is not in the plain shape (decode it the general way)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_pages", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__pages(void) {
    for (int c = 0; c < 256; c++) string_stop[c] = c == '"' || c == '\\' || c < 0x20 || c >= 0x80;
    return PyModule_Create(&module);
}

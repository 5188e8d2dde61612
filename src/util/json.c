/*
 * util/json.c - JSON string output and a small recursive-descent reader for
 * the project's own documents (manifest.json). Depth is limited to 64.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tfrecord/util.h"
#include "util/alloc.h"
#include "util/fsio.h"

/* manifests of very large shard sets stay far below this */
#define JSON_MAX_BYTES ((size_t)64 << 20)

/* ---- writing ----------------------------------------------------------- */

/* Length of a valid UTF-8 sequence at p (max n bytes), or 0. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    size_t k = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
    if (!k || k > n)
        return 0;
    for (size_t i = 1; i < k; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    return k;
}

void tfr_json_strn(FILE *f, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    fputc('"', f);
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc((int)c, f);
            i++;
        } else if (c == '\n') {
            fputs("\\n", f), i++;
        } else if (c == '\t') {
            fputs("\\t", f), i++;
        } else if (c == '\r') {
            fputs("\\r", f), i++;
        } else if (c < 0x20 || c == 0x7f) {
            fprintf(f, "\\u%04x", c), i++;
        } else if (c < 0x80) {
            fputc((int)c, f), i++;
        } else {
            size_t k = utf8_len(p + i, n - i);
            if (k) {
                fwrite(p + i, 1, k, f);
                i += k;
            } else {
                fprintf(f, "\\u%04x", c); /* a stray byte, as Latin-1 */
                i++;
            }
        }
    }
    fputc('"', f);
}

void tfr_json_str(FILE *f, const char *s)
{
    tfr_json_strn(f, s ? s : "", s ? strlen(s) : 0);
}

/* ---- reading ----------------------------------------------------------- */

typedef struct parser {
    const char *s, *p;
    tfr_error  *err;
    int         depth;
} parser;

static tfr_status perr(parser *ps, const char *what)
{
    tfr_fail(ps->err, TFR_ERR_CORRUPT, NULL, "JSON: %s at byte %ld", what,
             (long)(ps->p - ps->s));
    return TFR_ERR_CORRUPT;
}

static void ws(parser *ps)
{
    while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')
        ps->p++;
}

static void put_utf8(char **o, unsigned cp)
{
    char *q = *o;
    if (cp < 0x80) {
        *q++ = (char)cp;
    } else if (cp < 0x800) {
        *q++ = (char)(0xc0 | (cp >> 6));
        *q++ = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *q++ = (char)(0xe0 | (cp >> 12));
        *q++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *q++ = (char)(0x80 | (cp & 0x3f));
    } else {
        *q++ = (char)(0xf0 | (cp >> 18));
        *q++ = (char)(0x80 | ((cp >> 12) & 0x3f));
        *q++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *q++ = (char)(0x80 | (cp & 0x3f));
    }
    *o = q;
}

static int hex4(const char *p, unsigned *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0')
                   : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                   : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10) : 99u;
        if (d > 15)
            return 0;
        *v = *v * 16 + d;
    }
    return 1;
}

static tfr_status pstring(parser *ps, char **out)
{
    ps->p++; /* opening quote */
    const char *start = ps->p;
    size_t n = 0;
    while (start[n] && start[n] != '"') {
        if (start[n] == '\\' && start[n + 1])
            n++;
        n++;
    }
    if (!start[n])
        return perr(ps, "unterminated string");
    char *o = tfr_malloc(n + 1), *q = o;
    if (!o)
        return tfr_fail(ps->err, TFR_ERR_NOMEM, NULL, "out of memory");
    while (*ps->p != '"') {
        char c = *ps->p++;
        if ((unsigned char)c < 0x20) {
            free(o);
            return perr(ps, "control character in string");
        }
        if (c != '\\') {
            *q++ = c;
            continue;
        }
        c = *ps->p++;
        switch (c) {
        case '"': case '\\': case '/': *q++ = c; break;
        case 'b': *q++ = '\b'; break;
        case 'f': *q++ = '\f'; break;
        case 'n': *q++ = '\n'; break;
        case 'r': *q++ = '\r'; break;
        case 't': *q++ = '\t'; break;
        case 'u': {
            unsigned cp;
            if (!hex4(ps->p, &cp)) {
                free(o);
                return perr(ps, "bad \\u escape");
            }
            ps->p += 4;
            if (cp >= 0xd800 && cp < 0xdc00 && ps->p[0] == '\\' && ps->p[1] == 'u') {
                unsigned lo;
                if (hex4(ps->p + 2, &lo) && lo >= 0xdc00 && lo < 0xe000) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    ps->p += 6;
                }
            }
            put_utf8(&q, cp);
            break;
        }
        default:
            free(o);
            return perr(ps, "bad escape");
        }
    }
    ps->p++;
    *q = 0;
    *out = o;
    return TFR_OK;
}

static tfr_status pvalue(parser *ps, tfr_json **out);

static tfr_status pcontainer(parser *ps, tfr_json *j, char close)
{
    tfr_json **tail = &j->child;
    ps->p++;
    ws(ps);
    if (*ps->p == close) {
        ps->p++;
        return TFR_OK;
    }
    for (;;) {
        char *key = NULL;
        ws(ps);
        if (close == '}') {
            if (*ps->p != '"')
                return perr(ps, "expected member name");
            tfr_status st = pstring(ps, &key);
            if (st)
                return st;
            ws(ps);
            if (*ps->p != ':') {
                free(key);
                return perr(ps, "expected ':'");
            }
            ps->p++;
        }
        tfr_json *v = NULL;
        tfr_status st = pvalue(ps, &v);
        if (st) {
            tfr_json_free(v); /* the failed value and whatever it had linked */
            free(key);
            return st;
        }
        v->key = key;
        *tail = v;
        tail = &v->next;
        ws(ps);
        if (*ps->p == ',') {
            ps->p++;
            continue;
        }
        if (*ps->p == close) {
            ps->p++;
            return TFR_OK;
        }
        return perr(ps, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static tfr_status pvalue(parser *ps, tfr_json **out)
{
    ws(ps);
    tfr_json *j = tfr_calloc(1, sizeof *j);
    if (!j)
        return tfr_fail(ps->err, TFR_ERR_NOMEM, NULL, "out of memory");
    *out = j;
    char c = *ps->p;
    if (c == '{' || c == '[') {
        if (++ps->depth > 64)
            return perr(ps, "nesting too deep");
        j->type = c == '{' ? TFR_JSON_OBJECT : TFR_JSON_ARRAY;
        tfr_status st = pcontainer(ps, j, c == '{' ? '}' : ']');
        ps->depth--;
        return st;
    }
    if (c == '"') {
        j->type = TFR_JSON_STRING;
        return pstring(ps, &j->str);
    }
    if (!strncmp(ps->p, "true", 4) || !strncmp(ps->p, "false", 5)) {
        j->type = TFR_JSON_BOOL;
        j->boolean = c == 't';
        ps->p += c == 't' ? 4 : 5;
        return TFR_OK;
    }
    if (!strncmp(ps->p, "null", 4)) {
        j->type = TFR_JSON_NULL;
        ps->p += 4;
        return TFR_OK;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        /* RFC 8259's grammar exactly: strtod alone would also take "-inf",
         * "nan", hex floats and leading zeros */
        const char *q = ps->p, *digits;
        int integer = 1;
        if (*q == '-')
            q++;
        digits = q;
        if (*q == '0')
            q++;
        else if (*q >= '1' && *q <= '9')
            while (*q >= '0' && *q <= '9')
                q++;
        else
            return perr(ps, "bad number");
        if (*q == '.') {
            integer = 0;
            if (!(*++q >= '0' && *q <= '9'))
                return perr(ps, "bad number");
            while (*q >= '0' && *q <= '9')
                q++;
        }
        if (*q == 'e' || *q == 'E') {
            integer = 0;
            q++;
            if (*q == '+' || *q == '-')
                q++;
            if (!(*q >= '0' && *q <= '9'))
                return perr(ps, "bad number");
            while (*q >= '0' && *q <= '9')
                q++;
        }
        char *end;
        j->num = strtod(ps->p, &end);
        if (end != q)
            return perr(ps, "bad number");
        if (isinf(j->num))
            return perr(ps, "number out of range");
        if (integer && c != '-') {
            uint64_t v = 0;
            int fits = 1;
            for (const char *d = digits; d < q && fits; d++) {
                unsigned dv = (unsigned)(*d - '0');
                if (v > (UINT64_MAX - dv) / 10)
                    fits = 0;
                else
                    v = v * 10 + dv;
            }
            j->is_u64 = fits;
            j->u64 = fits ? v : 0;
        }
        j->type = TFR_JSON_NUMBER;
        ps->p = q;
        return TFR_OK;
    }
    return perr(ps, c ? "unexpected character" : "unexpected end of input");
}

tfr_status tfr_json_parse(const char *text, tfr_json **out, tfr_error *err)
{
    parser ps = {text, text, err, 0};
    *out = NULL;
    tfr_json *j = NULL;
    tfr_status st = pvalue(&ps, &j);
    if (!st) {
        ws(&ps);
        if (*ps.p)
            st = perr(&ps, "trailing characters");
    }
    if (st) {
        tfr_json_free(j);
        return st;
    }
    *out = j;
    return TFR_OK;
}

tfr_status tfr_json_load(const char *path, tfr_json **out, tfr_error *err)
{
    *out = NULL;
    uint8_t *buf;
    size_t n;
    tfr_status st = tfr_read_file(path, JSON_MAX_BYTES, NULL, &buf, &n, err);
    if (st)
        return st;
    st = tfr_json_parse((const char *)buf, out, err);
    free(buf);
    if (st && err)
        snprintf(err->path, sizeof err->path, "%s", path);
    return st;
}

void tfr_json_free(tfr_json *j)
{
    while (j) {
        tfr_json *next = j->next;
        tfr_json_free(j->child);
        free(j->str);
        free(j->key);
        free(j);
        j = next;
    }
}

const tfr_json *tfr_json_get(const tfr_json *j, const char *key)
{
    if (!j || j->type != TFR_JSON_OBJECT)
        return NULL;
    for (const tfr_json *c = j->child; c; c = c->next)
        if (c->key && !strcmp(c->key, key))
            return c;
    return NULL;
}

const char *tfr_json_get_str(const tfr_json *j, const char *key)
{
    const tfr_json *v = tfr_json_get(j, key);
    return v && v->type == TFR_JSON_STRING ? v->str : NULL;
}

double tfr_json_get_num(const tfr_json *j, const char *key, double dflt)
{
    const tfr_json *v = tfr_json_get(j, key);
    return v && v->type == TFR_JSON_NUMBER ? v->num : dflt;
}

void tfr_json_write(FILE *f, const tfr_json *j)
{
    if (!j) {
        fputs("null", f);
        return;
    }
    switch (j->type) {
    case TFR_JSON_NULL: fputs("null", f); break;
    case TFR_JSON_BOOL: fputs(j->boolean ? "true" : "false", f); break;
    case TFR_JSON_NUMBER:
        if (j->is_u64) {
            fprintf(f, "%llu", (unsigned long long)j->u64);
            break;
        }
        /* range first: converting a double beyond long long is undefined */
        if (j->num < 9e15 && j->num > -9e15 && j->num == (double)(long long)j->num)
            fprintf(f, "%lld", (long long)j->num);
        else
            fprintf(f, "%.17g", j->num);
        break;
    case TFR_JSON_STRING: tfr_json_str(f, j->str); break;
    case TFR_JSON_ARRAY:
    case TFR_JSON_OBJECT: {
        int obj = j->type == TFR_JSON_OBJECT;
        fputc(obj ? '{' : '[', f);
        for (const tfr_json *c = j->child; c; c = c->next) {
            if (c != j->child)
                fputs(", ", f);
            if (obj) {
                tfr_json_str(f, c->key);
                fputs(": ", f);
            }
            tfr_json_write(f, c);
        }
        fputc(obj ? '}' : ']', f);
        break;
    }
    }
}

/* Hardened .npy reader and writer (format rules in npy.h). */
#define _POSIX_C_SOURCE 199309L

#include "npy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int fail(char *err, size_t err_len, const char *message)
{
    if (err != NULL && err_len > 0) {
        strncpy(err, message, err_len - 1);
        err[err_len - 1] = '\0';
    }
    return -1;
}

/* A cursor over the header text [p, end). */
typedef struct {
    const char *p;
    const char *end;
} cursor_t;

static void skip_space(cursor_t *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t')) {
        ++c->p;
    }
}

static int accept(cursor_t *c, char ch)
{
    skip_space(c);
    if (c->p < c->end && *c->p == ch) {
        ++c->p;
        return 1;
    }
    return 0;
}

/* A quoted string ('...' or "...") without escapes, copied into out (at most out_len - 1). */
static int parse_string(cursor_t *c, char *out, size_t out_len)
{
    char quote;
    size_t n = 0;
    skip_space(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) {
        return -1;
    }
    quote = *c->p++;
    while (c->p < c->end && *c->p != quote) {
        if (*c->p == '\\' || n + 1 >= out_len) {
            return -1;
        }
        out[n++] = *c->p++;
    }
    if (c->p >= c->end) {
        return -1;
    }
    ++c->p;
    out[n] = '\0';
    return 0;
}

static int parse_word(cursor_t *c, const char *word)
{
    const size_t n = strlen(word);
    skip_space(c);
    if ((size_t)(c->end - c->p) >= n && memcmp(c->p, word, n) == 0) {
        c->p += n;
        return 0;
    }
    return -1;
}

/* A non-negative decimal integer no larger than limit. */
static int parse_dim(cursor_t *c, int64_t limit, int64_t *value)
{
    int64_t v = 0;
    int digits = 0;
    skip_space(c);
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        v = v * 10 + (*c->p - '0');
        if (v > limit) {
            return -1;
        }
        ++c->p;
        ++digits;
    }
    if (digits == 0) {
        return -1;
    }
    /* Python may write 3L in old files: refuse anything but plain digits. */
    *value = v;
    return 0;
}

static int parse_shape(cursor_t *c, ec_npy_info_t *info, int64_t limit)
{
    info->rank = 0;
    if (!accept(c, '(')) {
        return -1;
    }
    if (accept(c, ')')) {
        return 0;
    }
    for (;;) {
        if (info->rank >= EC_NPY_MAX_RANK || parse_dim(c, limit, &info->shape[info->rank]) != 0) {
            return -1;
        }
        ++info->rank;
        if (accept(c, ')')) {
            return info->rank == 1 ? -1 : 0; /* a 1-tuple must be written (n,) */
        }
        if (!accept(c, ',')) {
            return -1;
        }
        if (accept(c, ')')) {
            return 0;
        }
    }
}

int ec_npy_parse(const unsigned char *buf, size_t len, size_t max_data_bytes, ec_npy_info_t *info,
                 char *err, size_t err_len)
{
    static const unsigned char magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
    size_t header_len, prefix_len, i;
    int seen_descr = 0, seen_order = 0, seen_shape = 0;
    char key[32];
    char descr[16];
    cursor_t c;
    if (len < 10 || memcmp(buf, magic, 6) != 0) {
        return fail(err, err_len, "not a .npy file (bad magic)");
    }
    if (buf[7] != 0 || (buf[6] != 1 && buf[6] != 2 && buf[6] != 3)) {
        return fail(err, err_len, "unsupported .npy format version");
    }
    if (buf[6] == 1) {
        header_len = (size_t)buf[8] | ((size_t)buf[9] << 8);
        prefix_len = 10;
    } else {
        if (len < 12) {
            return fail(err, err_len, "truncated .npy header");
        }
        header_len = (size_t)buf[8] | ((size_t)buf[9] << 8) | ((size_t)buf[10] << 16) | ((size_t)buf[11] << 24);
        prefix_len = 12;
    }
    if (header_len == 0 || header_len > EC_NPY_MAX_HEADER) {
        return fail(err, err_len, ".npy header length out of range");
    }
    if (header_len > len - prefix_len) {
        return fail(err, err_len, "truncated .npy header");
    }
    for (i = 0; i < header_len; ++i) {
        const unsigned char ch = buf[prefix_len + i];
        if (ch >= 0x80 || (ch < 0x20 && ch != '\n' && ch != '\t')) {
            return fail(err, err_len, ".npy header has non-text bytes");
        }
    }
    if (buf[prefix_len + header_len - 1] != '\n') {
        return fail(err, err_len, ".npy header does not end with a newline");
    }
    c.p = (const char *)buf + prefix_len;
    c.end = c.p + header_len - 1;
    if (!accept(&c, '{')) {
        return fail(err, err_len, ".npy header is not a dict");
    }
    while (!accept(&c, '}')) {
        if (parse_string(&c, key, sizeof key) != 0 || !accept(&c, ':')) {
            return fail(err, err_len, "malformed .npy header");
        }
        if (strcmp(key, "descr") == 0 && !seen_descr) {
            seen_descr = 1;
            if (parse_string(&c, descr, sizeof descr) != 0) {
                return fail(err, err_len, "malformed .npy descr");
            }
            if (strcmp(descr, "<f4") == 0) {
                info->dtype = EC_NPY_FLOAT32;
                info->item_bytes = 4;
            } else if (strcmp(descr, "|i1") == 0 || strcmp(descr, "<i1") == 0) {
                info->dtype = EC_NPY_INT8;
                info->item_bytes = 1;
            } else {
                return fail(err, err_len, "unsupported .npy dtype (need float32 '<f4' or int8 '|i1')");
            }
        } else if (strcmp(key, "fortran_order") == 0 && !seen_order) {
            seen_order = 1;
            if (parse_word(&c, "False") != 0) {
                return fail(err, err_len, "Fortran-ordered .npy arrays are not supported");
            }
        } else if (strcmp(key, "shape") == 0 && !seen_shape) {
            seen_shape = 1;
            if (parse_shape(&c, info, (int64_t)max_data_bytes) != 0) {
                return fail(err, err_len, "malformed or oversized .npy shape");
            }
        } else {
            return fail(err, err_len, "unexpected or repeated key in .npy header");
        }
        if (!accept(&c, ',')) {
            if (!accept(&c, '}')) {
                return fail(err, err_len, "malformed .npy header");
            }
            break;
        }
    }
    skip_space(&c);
    while (c.p < c.end && (*c.p == ' ' || *c.p == '\n')) {
        ++c.p;
    }
    if (c.p != c.end) {
        return fail(err, err_len, "trailing text in .npy header");
    }
    if (!seen_descr || !seen_order || !seen_shape) {
        return fail(err, err_len, ".npy header lacks descr, fortran_order or shape");
    }
    info->count = 1;
    for (i = 0; i < (size_t)info->rank; ++i) {
        const size_t d = (size_t)info->shape[i];
        if (d != 0 && info->count > max_data_bytes / d) {
            return fail(err, err_len, ".npy array is too large");
        }
        info->count *= d;
    }
    if (info->count > max_data_bytes / info->item_bytes) {
        return fail(err, err_len, ".npy array is too large");
    }
    info->data_offset = prefix_len + header_len;
    if (len - info->data_offset != info->count * info->item_bytes) {
        return fail(err, err_len, len - info->data_offset < info->count * info->item_bytes
                                      ? ".npy data is truncated"
                                      : ".npy file has bytes after its data");
    }
    return 0;
}

int ec_npy_read(const char *path, size_t max_data_bytes, unsigned char **file, ec_npy_info_t *info,
                char *err, size_t err_len)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    long size;
    unsigned char *buf;
    *file = NULL;
    if (f == NULL) {
        return fail(err, err_len, "cannot open the .npy file");
    }
    if (fstat(fileno(f), &st) != 0) {
        fclose(f);
        return fail(err, err_len, "cannot read the .npy file");
    }
    if (!S_ISREG(st.st_mode)) {
        fclose(f);
        return fail(err, err_len, S_ISDIR(st.st_mode) ? "is a directory, not a .npy file" : "is not a regular file");
    }
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return fail(err, err_len, "cannot read the .npy file");
    }
    if ((unsigned long)size > (unsigned long)max_data_bytes + 12u + EC_NPY_MAX_HEADER) {
        fclose(f);
        return fail(err, err_len, ".npy file is too large");
    }
    buf = (unsigned char *)malloc(size > 0 ? (size_t)size : 1u);
    if (buf == NULL) {
        fclose(f);
        return fail(err, err_len, "out of memory reading the .npy file");
    }
    if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
        free(buf);
        fclose(f);
        return fail(err, err_len, "cannot read the .npy file");
    }
    fclose(f);
    if (ec_npy_parse(buf, (size_t)size, max_data_bytes, info, err, err_len) != 0) {
        free(buf);
        return -1;
    }
    *file = buf;
    return 0;
}

int ec_npy_write(const char *path, ec_npy_dtype_t dtype, int32_t rank, const int64_t *shape,
                 const void *data, char *err, size_t err_len)
{
    char header[512];
    char dims[256];
    size_t n = 0, used, total, count = 1;
    int32_t i;
    FILE *f;
    dims[0] = '\0';
    for (i = 0; i < rank; ++i) {
        used = strlen(dims);
        sprintf(dims + used, "%lld,%s", (long long)shape[i], (rank > 1 && i < rank - 1) ? " " : "");
        count *= (size_t)shape[i];
    }
    if (rank > 1) {
        dims[strlen(dims) - 1] = '\0'; /* drop the trailing comma: (2, 3) */
    }
    sprintf(header, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }",
            dtype == EC_NPY_FLOAT32 ? "<f4" : "|i1", dims);
    used = strlen(header);
    total = 10 + used + 1;
    while (total % 64 != 0) {
        header[used++] = ' ';
        ++total;
    }
    header[used++] = '\n';
    f = fopen(path, "wb");
    if (f == NULL) {
        return fail(err, err_len, "cannot create the output .npy file");
    }
    n += fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fputc((int)(used & 0xff), f);
    fputc((int)((used >> 8) & 0xff), f);
    n += fwrite(header, 1, used, f);
    n += fwrite(data, dtype == EC_NPY_FLOAT32 ? 4 : 1, count, f) * (dtype == EC_NPY_FLOAT32 ? 4 : 1);
    if (fclose(f) != 0 || n != 8 + used + count * (dtype == EC_NPY_FLOAT32 ? 4u : 1u)) {
        return fail(err, err_len, "cannot write the output .npy file");
    }
    return 0;
}

/* Hardened .npy reader and writer for the edgeconv runner.
 *
 * Reading accepts exactly: magic "\x93NUMPY", format version 1.0, 2.0 or 3.0, a header that is a
 * Python dict literal with the keys 'descr', 'fortran_order' and 'shape' (each once, nothing
 * else), 'descr' one of '<f4' (float32) or '|i1' / '<i1' (int8), 'fortran_order': False, a
 * shape of at most EC_NPY_MAX_RANK non-negative dims, and then exactly the data bytes the shape
 * calls for (no more, no less). Anything else -- a bad magic, a truncated or oversized file, a
 * header longer than EC_NPY_MAX_HEADER, a dim or a total size over the caller's limit -- is
 * refused with a message in `err`; the reader never reads outside the bytes it was given. */
#ifndef EC_NPY_H
#define EC_NPY_H

#include <stddef.h>
#include <stdint.h>

#define EC_NPY_MAX_RANK 8
#define EC_NPY_MAX_HEADER 65536

typedef enum { EC_NPY_FLOAT32 = 0, EC_NPY_INT8 = 1 } ec_npy_dtype_t;

typedef struct {
    ec_npy_dtype_t dtype;
    int32_t rank;
    int64_t shape[EC_NPY_MAX_RANK];
    size_t count;        /* number of elements */
    size_t item_bytes;   /* 4 or 1 */
    size_t data_offset;  /* where the data starts in the file */
} ec_npy_info_t;

/* Parse the file held in buf[0..len) (the whole file). Returns 0, or -1 with a message. */
int ec_npy_parse(const unsigned char *buf, size_t len, size_t max_data_bytes, ec_npy_info_t *info,
                 char *err, size_t err_len);

/* Read a whole file (at most max_data_bytes of data). On success *file holds the file (free it)
 * and info describes it. Returns 0, or -1 with a message. */
int ec_npy_read(const char *path, size_t max_data_bytes, unsigned char **file, ec_npy_info_t *info,
                char *err, size_t err_len);

/* Write a version 1.0 .npy. Returns 0, or -1 with a message. */
int ec_npy_write(const char *path, ec_npy_dtype_t dtype, int32_t rank, const int64_t *shape,
                 const void *data, char *err, size_t err_len);

#endif /* EC_NPY_H */

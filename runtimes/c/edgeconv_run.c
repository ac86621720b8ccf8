/* edgeconv_run: run a generated model on a .npy file.
 *
 *   edgeconv_run [--threads N] [--repeat N] [--timing T.json] in.npy out.npy
 *
 * in.npy holds a batch in the source model's layout (channels-first NCHW / NCL / NC for PyTorch
 * and ONNX models, the .tflite's own layout for imported ones), as float32 or as the model's input
 * dtype; float32 data for an int8 input is quantized with the input's parameters. Each sample is
 * converted to channels-last, run, and its output converted back; out.npy has the model's output
 * dtype. --threads N runs the model's thread pool with N threads (default: the count the model was
 * generated for; the output is the same at any count). --repeat N runs the whole file N times;
 * --timing writes
 *   {"median_ms", "min_ms", "runs", "per_layer_ms": {layer: median ms}}
 * per sample, from a monotonic clock (per-layer figures need a build with -DEC_PROFILE).
 * out.npy and T.json are checked before anything runs: each must be a file that can be written
 * or created in an existing folder, never a directory.
 * Exit status: 0 done, 2 bad arguments, input file or output path, 1 any other failure.
 *
 * Built with -DEC_MODEL_PREFIX=<prefix> (default ec_model_), the symbol prefix of the model. */
#define _POSIX_C_SOURCE 199309L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "model.h"
#include "npy.h"
#include "ec_parallel.h"

#ifndef EC_MODEL_PREFIX
#define EC_MODEL_PREFIX ec_model_
#endif
#define EC_CAT_(a, b) a##b
#define EC_CAT(a, b) EC_CAT_(a, b)
#define EC_M(name) EC_CAT(EC_MODEL_PREFIX, name)

typedef EC_M(input_t) model_input_t;
typedef EC_M(output_t) model_output_t;

/* Largest input file accepted: 1 GiB of data. */
#define MAX_INPUT_BYTES ((size_t)1 << 30)
/* Longest folder name of an output path that is checked. */
#define MAX_FOLDER_CHARS 4096

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* Per-layer timing hooks called by model.c when built with -DEC_PROFILE (a release build has
 * neither the calls nor the hooks). */
static double *layer_ms;      /* runs x layers */
static int32_t current_run;

#ifdef EC_PROFILE
static double layer_start;

void ec_profile_begin(int32_t layer);
void ec_profile_end(int32_t layer);

void ec_profile_begin(int32_t layer)
{
    (void)layer;
    layer_start = now_ms();
}

void ec_profile_end(int32_t layer)
{
    if (layer_ms != NULL) {
        layer_ms[(size_t)current_run * (size_t)EC_M(layer_count) + (size_t)layer] += now_ms() - layer_start;
    }
}
#endif

static int compare_double(const void *a, const void *b)
{
    const double x = *(const double *)a;
    const double y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *values, size_t n)
{
    qsort(values, n, sizeof(double), compare_double);
    if (n == 0) {
        return 0.0;
    }
    return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

#ifdef EC_PROFILE /* layer names are written only by a build with the timing hooks */
static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; ++s) {
        if (*s == '"' || *s == '\\') {
            fputc('\\', f);
        }
        if ((unsigned char)*s < 0x20) {
            fprintf(f, "\\u%04x", (unsigned)(unsigned char)*s);
        } else {
            fputc(*s, f);
        }
    }
    fputc('"', f);
}
#endif

static int write_timing(const char *path, double *run_ms, size_t runs)
{
    const size_t layers = (size_t)EC_M(layer_count);
    double *column = (double *)malloc((runs ? runs : 1) * sizeof(double));
    FILE *f = fopen(path, "w");
    size_t l, r;
    double min_ms = 0.0;
    if (f == NULL || column == NULL) {
        free(column);
        if (f != NULL) {
            fclose(f);
        }
        return -1;
    }
    for (r = 0; r < runs; ++r) {
        min_ms = (r == 0 || run_ms[r] < min_ms) ? run_ms[r] : min_ms;
    }
    fprintf(f, "{\"median_ms\": %.6f, \"min_ms\": %.6f, \"runs\": %lu, \"per_layer_ms\": {",
            median(run_ms, runs), min_ms, (unsigned long)runs);
#ifdef EC_PROFILE
    for (l = 0; l < layers; ++l) {
        for (r = 0; r < runs; ++r) {
            column[r] = layer_ms[r * layers + l];
        }
        fprintf(f, "%s", l ? ", " : "");
        json_string(f, EC_M(layer_names)[l]);
        fprintf(f, ": %.6f", median(column, runs));
    }
#else
    (void)l;
    (void)layers;
#endif
    fprintf(f, "}}\n");
    free(column);
    return fclose(f) == 0 ? 0 : -1;
}

/* Channels-first (C x HW) -> channels-last (HW x C) for one sample, element size `item`. */
static void to_channels_last(const unsigned char *src, unsigned char *dst, size_t hw, size_t c, size_t item)
{
    size_t p, ch;
    for (p = 0; p < hw; ++p) {
        for (ch = 0; ch < c; ++ch) {
            memcpy(dst + (p * c + ch) * item, src + (ch * hw + p) * item, item);
        }
    }
}

static void to_channels_first(const unsigned char *src, unsigned char *dst, size_t hw, size_t c, size_t item)
{
    size_t p, ch;
    for (p = 0; p < hw; ++p) {
        for (ch = 0; ch < c; ++ch) {
            memcpy(dst + (ch * hw + p) * item, src + (p * c + ch) * item, item);
        }
    }
}

/* The folder part of `path` ("." when it has none) into folder[0..MAX_FOLDER_CHARS). */
static int folder_of(const char *path, char *folder)
{
    const char *slash = strrchr(path, '/');
    size_t len;
    if (slash == NULL) {
        strcpy(folder, ".");
        return 0;
    }
    len = slash == path ? 1 : (size_t)(slash - path);
    if (len >= MAX_FOLDER_CHARS) {
        return -1;
    }
    memcpy(folder, path, len);
    folder[len] = '\0';
    return 0;
}

/* 0 when `path` is a file that can be overwritten, or created in an existing writable folder;
 * else -1 after a message naming the path. */
static int check_output_path(const char *path)
{
    struct stat st;
    char folder[MAX_FOLDER_CHARS];
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            fprintf(stderr, "edgeconv_run: %s: is a directory, not a file to write\n", path);
            return -1;
        }
        if (access(path, W_OK) != 0) {
            fprintf(stderr, "edgeconv_run: %s: cannot be written (permission denied)\n", path);
            return -1;
        }
        return 0;
    }
    if (folder_of(path, folder) != 0) {
        fprintf(stderr, "edgeconv_run: %s: the path is too long\n", path);
        return -1;
    }
    if (stat(folder, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "edgeconv_run: %s: the folder %s does not exist\n", path, folder);
        return -1;
    }
    if (access(folder, W_OK | X_OK) != 0) {
        fprintf(stderr, "edgeconv_run: %s: the folder %s cannot be written (permission denied)\n", path, folder);
        return -1;
    }
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: edgeconv_run [--threads N] [--repeat N] [--timing T.json] in.npy out.npy\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *in_path = NULL, *out_path = NULL, *timing_path = NULL;
    long repeat = 1;
    long threads = 0;
    int i;
    char err[256];
    unsigned char *file = NULL;
    ec_npy_info_t info;
    size_t n, s, in_size = 1, out_size = 1, runs, r;
    const size_t in_item = EC_M(input_is_int8) ? 1 : 4;
    const size_t out_item = EC_M(output_is_int8) ? 1 : 4;
    unsigned char *sample_src, *sample_in, *sample_out, *outputs;
    double *run_ms;
    int64_t out_shape[EC_NPY_MAX_RANK];
    int status = 0;

    for (i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) {
            char *end;
            repeat = strtol(argv[++i], &end, 10);
            if (*end != '\0' || repeat < 1 || repeat > 1000000) {
                fprintf(stderr, "edgeconv_run: --repeat takes a positive integer\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            char *end;
            threads = strtol(argv[++i], &end, 10);
            if (*end != '\0' || threads < 1 || threads > EC_THREADS) {
                fprintf(stderr, "edgeconv_run: --threads takes an integer in 1..%d\n", (int)EC_THREADS);
                return 2;
            }
        } else if (strcmp(argv[i], "--timing") == 0 && i + 1 < argc) {
            timing_path = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            return usage();
        } else if (in_path == NULL) {
            in_path = argv[i];
        } else if (out_path == NULL) {
            out_path = argv[i];
        } else {
            return usage();
        }
    }
    if (in_path == NULL || out_path == NULL) {
        return usage();
    }
    if (check_output_path(out_path) != 0 || (timing_path != NULL && check_output_path(timing_path) != 0)) {
        return 2;
    }
    if (ec_npy_read(in_path, MAX_INPUT_BYTES, &file, &info, err, sizeof err) != 0) {
        fprintf(stderr, "edgeconv_run: %s: %s\n", in_path, err);
        return 2;
    }
    if (info.rank != EC_M(input_rank)) {
        fprintf(stderr, "edgeconv_run: %s: the model takes rank-%d input, the file has rank %d\n",
                in_path, (int)EC_M(input_rank), (int)info.rank);
        free(file);
        return 2;
    }
    for (i = 1; i < info.rank; ++i) {
        if (info.shape[i] != EC_M(input_shape)[i]) {
            fprintf(stderr, "edgeconv_run: %s: dimension %d is %lld, the model takes %d\n", in_path, i,
                    (long long)info.shape[i], (int)EC_M(input_shape)[i]);
            free(file);
            return 2;
        }
        in_size *= (size_t)info.shape[i];
    }
    if (info.dtype == EC_NPY_INT8 && !EC_M(input_is_int8)) {
        fprintf(stderr, "edgeconv_run: %s: int8 data for a float32 model input\n", in_path);
        free(file);
        return 2;
    }
    for (i = 1; i < EC_M(output_rank); ++i) {
        out_size *= (size_t)EC_M(output_shape)[i];
    }
    n = info.rank > 0 ? (size_t)info.shape[0] : 0;
    runs = n * (size_t)repeat;
    sample_src = (unsigned char *)malloc(in_size * 4 + 1);
    /* The model's own input and output tensors in its arena: nothing is copied by run(). */
    sample_in = (unsigned char *)(void *)EC_M(input_buffer)();
    sample_out = (unsigned char *)(void *)EC_M(output_buffer)();
    outputs = (unsigned char *)malloc(n * out_size * out_item + 1);
    run_ms = (double *)malloc((runs ? runs : 1) * sizeof(double));
    layer_ms = (double *)calloc((runs ? runs : 1) * (size_t)(EC_M(layer_count) + 1), sizeof(double));
    if (!sample_src || !outputs || !run_ms || !layer_ms) {
        fprintf(stderr, "edgeconv_run: out of memory\n");
        return 1;
    }
    /* The pool's threads start here, once, before the first timed run. */
    if (EC_M(init)(threads ? (int32_t)threads : EC_M(threads)) != 0) {
        fprintf(stderr, "edgeconv_run: cannot start %ld threads; running on one\n",
                threads ? threads : (long)EC_M(threads));
    }
    for (r = 0; r < (size_t)repeat; ++r) {
        for (s = 0; s < n; ++s) {
            const unsigned char *src = file + info.data_offset + s * in_size * info.item_bytes;
            const unsigned char *model_src = src;
            double t0;
            size_t k;
            if (info.dtype == EC_NPY_FLOAT32 && EC_M(input_is_int8)) {
                float x;
                for (k = 0; k < in_size; ++k) {
                    memcpy(&x, src + 4 * k, 4);
                    sample_src[k] = (unsigned char)EC_M(quantize_input)(x);
                }
                model_src = sample_src;
            }
            if (EC_M(channels_first) && info.rank >= 3) {
                to_channels_last(model_src, sample_in, in_size / (size_t)info.shape[1],
                                 (size_t)info.shape[1], in_item);
            } else {
                memcpy(sample_in, model_src, in_size * in_item);
            }
            current_run = (int32_t)(r * n + s);
            t0 = now_ms();
            if (EC_M(run)((const model_input_t *)(const void *)sample_in,
                          (model_output_t *)(void *)sample_out) != 0) {
                fprintf(stderr, "edgeconv_run: the model failed on sample %lu\n", (unsigned long)s);
                status = 1;
            }
            run_ms[r * n + s] = now_ms() - t0;
            if (EC_M(channels_first) && EC_M(output_rank) >= 3) {
                to_channels_first(sample_out, outputs + s * out_size * out_item,
                                  out_size / (size_t)EC_M(output_shape)[1], (size_t)EC_M(output_shape)[1], out_item);
            } else {
                memcpy(outputs + s * out_size * out_item, sample_out, out_size * out_item);
            }
        }
    }
    out_shape[0] = (int64_t)n;
    for (i = 1; i < EC_M(output_rank); ++i) {
        out_shape[i] = EC_M(output_shape)[i];
    }
    if (status == 0 && ec_npy_write(out_path, EC_M(output_is_int8) ? EC_NPY_INT8 : EC_NPY_FLOAT32,
                                     EC_M(output_rank), out_shape, outputs, err, sizeof err) != 0) {
        fprintf(stderr, "edgeconv_run: %s: %s\n", out_path, err);
        status = 1;
    }
    if (status == 0 && timing_path != NULL && write_timing(timing_path, run_ms, runs) != 0) {
        fprintf(stderr, "edgeconv_run: cannot write %s\n", timing_path);
        status = 1;
    }
    EC_M(deinit)();
    free(file);
    free(sample_src);
    free(outputs);
    free(run_ms);
    free(layer_ms);
    return status;
}

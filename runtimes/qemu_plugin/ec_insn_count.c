/* ec_insn_count: a QEMU TCG plugin (plugin API version 1, QEMU 7.2) that counts the instructions
 * a guest program executes, per translation block and per layer of an edgeconv runner.
 *
 *   qemu-aarch64 -cpu cortex-a72 -plugin ec_insn_count.so,out=F[,begin=A,end=A,home=LO-HI] prog ...
 *
 * Every translation block (start address, instruction count, instruction bytes) is recorded once;
 * its executions are counted by an inline add, or, for the few blocks that switch segments, by an
 * execution callback. Instructions executed = sum over blocks of executions x instructions.
 *
 * Segments: with begin= and end= (hex addresses of the runner's ec_profile_begin / ec_profile_end,
 * read from the ELF symbol table), each entry into ec_profile_begin starts layer call k (0, 1, ...)
 * and each entry into ec_profile_end starts glue segment k + 1 (glue 0 is everything before the
 * first layer). With home=LO-HI (the address range of the model's run function, which makes every
 * layer call), the hook's own instructions form a hook segment that lasts until the first block
 * inside the run function executes, so the timing code is counted in neither the layer nor the glue.
 *
 * Output (text, written at exit):
 *   b ID VADDR NINSNS HEXBYTES     one line per distinct block (VADDR hex)
 *   s KIND INDEX                   a segment starts: KIND g (glue), l (layer call), h (hook)
 *   c ID COUNT                     executions of block ID in the segment above
 * The plugin API functions and types below are declared here from QEMU's documented API
 * (docs/devel/tcg-plugins.rst and include/qemu/qemu-plugin.h of QEMU 7.2). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*tb_trans_cb)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*vcpu_udata_cb)(unsigned int vcpu_index, void *userdata);
typedef void (*udata_cb)(qemu_plugin_id_t id, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, tb_trans_cb cb);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, vcpu_udata_cb cb,
                                          enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op,
                                              void *ptr, uint64_t imm);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, udata_cb cb, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *insn);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

enum role { PLAIN, BEGIN_HOOK, END_HOOK, HOME };

struct block {
    uint64_t vaddr;
    uint64_t count;          /* executions since the last segment switch */
    size_t n_insns, n_bytes;
    unsigned char *bytes;
    enum role role;
};

static struct block **blocks;      /* in order of first translation; the index is the block ID */
static size_t n_blocks, cap_blocks;
static uint64_t begin_addr = 1, end_addr = 1, home_lo, home_hi;  /* 1: no such (odd) address */
static FILE *out;
static char state = 'g', pending = 'g';
static long next_layer, next_glue = 1;

/* Write the counts gathered since the last switch, then start segment (kind, index). */
static void switch_segment(char kind, long index)
{
    size_t i;
    for (i = 0; i < n_blocks; ++i) {
        if (blocks[i]->count) {
            fprintf(out, "c %zu %" PRIu64 "\n", i, blocks[i]->count);
            blocks[i]->count = 0;
        }
    }
    fprintf(out, "s %c %ld\n", kind, index);
    state = kind;
}

static void on_switching_block(unsigned int vcpu, void *userdata)
{
    struct block *b = (struct block *)userdata;
    (void)vcpu;
    if (b->role == BEGIN_HOOK || b->role == END_HOOK) {
        pending = b->role == BEGIN_HOOK ? 'l' : 'g';
        switch_segment(home_hi ? 'h' : pending, pending == 'l' ? next_layer : next_glue);
        if (!home_hi && pending == 'l') {
            ++next_layer;
        } else if (!home_hi) {
            ++next_glue;
        }
    } else if (state == 'h') {  /* back in the run function after a hook */
        switch_segment(pending, pending == 'l' ? next_layer++ : next_glue++);
    }
    b->count++;
}

/* The recorded block with this address and these bytes, added when it is new. */
static struct block *find_block(uint64_t vaddr, const unsigned char *bytes, size_t n_insns, size_t n_bytes)
{
    size_t i;
    struct block *b;
    for (i = n_blocks; i-- > 0;) {
        b = blocks[i];
        if (b->vaddr == vaddr && b->n_insns == n_insns && b->n_bytes == n_bytes && !memcmp(b->bytes, bytes, n_bytes)) {
            return b;
        }
    }
    if (n_blocks == cap_blocks) {
        cap_blocks = cap_blocks ? 2 * cap_blocks : 1024;
        blocks = realloc(blocks, cap_blocks * sizeof *blocks);
    }
    b = calloc(1, sizeof *b);
    b->bytes = malloc(n_bytes);
    memcpy(b->bytes, bytes, n_bytes);
    b->vaddr = vaddr;
    b->n_insns = n_insns;
    b->n_bytes = n_bytes;
    b->role = vaddr == begin_addr ? BEGIN_HOOK : vaddr == end_addr ? END_HOOK
            : (vaddr >= home_lo && vaddr < home_hi) ? HOME : PLAIN;
    blocks[n_blocks++] = b;
    return b;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    size_t n = qemu_plugin_tb_n_insns(tb), i, size, used = 0;
    unsigned char code[4096];
    struct block *b;
    (void)id;
    for (i = 0; i < n; ++i) {
        const struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        size = qemu_plugin_insn_size(insn);
        if (used + size <= sizeof code) {
            memcpy(code + used, qemu_plugin_insn_data(insn), size);
        }
        used += size;
    }
    b = find_block(qemu_plugin_tb_vaddr(tb), code, n, used <= sizeof code ? used : sizeof code);
    if (b->role == PLAIN) {
        qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &b->count, 1);
    } else {
        qemu_plugin_register_vcpu_tb_exec_cb(tb, on_switching_block, QEMU_PLUGIN_CB_NO_REGS, b);
    }
}

static void write_report(qemu_plugin_id_t id, void *userdata)
{
    size_t i, j;
    (void)id;
    (void)userdata;
    switch_segment('e', 0);  /* flush the last segment; 'e' marks the end */
    for (i = 0; i < n_blocks; ++i) {
        fprintf(out, "b %zu %" PRIx64 " %zu ", i, blocks[i]->vaddr, blocks[i]->n_insns);
        for (j = 0; j < blocks[i]->n_bytes; ++j) {
            fprintf(out, "%02x", blocks[i]->bytes[j]);
        }
        fputc('\n', out);
    }
    fclose(out);
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const struct qemu_info_t *info,
                                                               int argc, char **argv)
{
    int i;
    (void)info;
    for (i = 0; i < argc; ++i) {
        if (!strncmp(argv[i], "out=", 4)) {
            out = fopen(argv[i] + 4, "w");
        } else if (!strncmp(argv[i], "begin=", 6)) {
            begin_addr = strtoull(argv[i] + 6, NULL, 16);
        } else if (!strncmp(argv[i], "end=", 4)) {
            end_addr = strtoull(argv[i] + 4, NULL, 16);
        } else if (!strncmp(argv[i], "home=", 5) && strchr(argv[i], '-')) {
            home_lo = strtoull(argv[i] + 5, NULL, 16);
            home_hi = strtoull(strchr(argv[i], '-') + 1, NULL, 16);
        } else {
            fprintf(stderr, "ec_insn_count: unknown argument %s\n", argv[i]);
            return 1;
        }
    }
    if (out == NULL) {
        fprintf(stderr, "ec_insn_count: out=FILE is required and must be writable\n");
        return 1;
    }
    fprintf(out, "s g 0\n");
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, write_report, NULL);
    return 0;
}

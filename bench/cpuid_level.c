/* A preloaded library (LD_PRELOAD) that makes CPUID report a lower x86 level than the CPU's, so
 * that libraries choosing their kernels at run time from CPUID (XNNPACK and ruy, inside LiteRT)
 * run the kernels they would run on an older CPU. bench/masked_peers.py builds and uses it.
 *
 * How: Linux lets a thread make CPUID fault (arch_prctl ARCH_SET_CPUID 0, on CPUs with the
 * `cpuid_fault` flag); the setting is kept by the threads it later creates. Each CPUID then raises
 * SIGSEGV; the handler runs the real CPUID with faulting briefly off, clears the feature bits above
 * the level, writes EAX..EDX and steps over the 2-byte instruction. CPUID runs only while the
 * libraries probe the CPU, so timed code is untouched (`cpuid_level_traps` counts the traps).
 *
 * EDGECONV_CPUID_LEVEL: "sse4.1", "avx2", "avx512" (AVX-512 F/BW/VL/DQ/CD without VNNI) or
 * "avx512-vnni" (without AMX).
 * The bits (Intel SDM vol. 2A, CPUID; AMD APM vol. 3, CPUID):
 *   leaf 1 ECX:       12 FMA, 28 AVX, 29 F16C
 *   leaf 7.0 EBX:     5 AVX2; AVX-512 16 F, 17 DQ, 21 IFMA, 26 PF, 27 ER, 28 CD, 30 BW, 31 VL
 *   leaf 7.0 ECX:     AVX-512 1 VBMI, 6 VBMI2, 11 VNNI, 12 BITALG, 14 VPOPCNTDQ
 *   leaf 7.0 EDX:     AVX-512 2 4VNNIW, 3 4FMAPS, 8 VP2INTERSECT, 23 FP16; AMX 22 BF16, 24 TILE, 25 INT8
 *   leaf 7.1 EAX:     4 AVX-VNNI, 5 AVX512_BF16
 * A masked bit is one the level's code must not use; bits the OS reports (XGETBV) are not touched:
 * the libraries read a feature as usable only when CPUID and XGETBV both say so. */
#define _GNU_SOURCE
#include <asm/prctl.h>
#include <cpuid.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#define BIT(n) (1u << (n))

/* Bits cleared by a level, per register of one leaf (EAX, EBX, ECX, EDX). */
typedef struct { uint32_t leaf1[4], leaf7_0[4], leaf7_1[4]; } Mask;

#define AVX512_VNNI_LIKE_ECX (BIT(1) | BIT(6) | BIT(11) | BIT(12) | BIT(14))
#define AVX512_EBX (BIT(16) | BIT(17) | BIT(21) | BIT(26) | BIT(27) | BIT(28) | BIT(30) | BIT(31))
#define AVX512_EDX (BIT(2) | BIT(3) | BIT(8) | BIT(23))
#define VNNI_7_1_EAX (BIT(4) | BIT(5))
#define AMX_EDX (BIT(22) | BIT(24) | BIT(25))

static const Mask MASK_AVX512_VNNI = {{0}, {0, 0, 0, AMX_EDX}, {0}};
static const Mask MASK_AVX512 = {{0}, {0, 0, BIT(11), AMX_EDX}, {VNNI_7_1_EAX, 0, 0, 0}};
static const Mask MASK_AVX2 = {{0}, {0, AVX512_EBX, AVX512_VNNI_LIKE_ECX, AVX512_EDX | AMX_EDX}, {VNNI_7_1_EAX, 0, 0, 0}};
static const Mask MASK_SSE41 = {{0, 0, BIT(12) | BIT(28) | BIT(29), 0},
                                {0, AVX512_EBX | BIT(5), AVX512_VNNI_LIKE_ECX, AVX512_EDX | AMX_EDX},
                                {VNNI_7_1_EAX, 0, 0, 0}};

static const Mask *mask;
static volatile long traps;

long cpuid_level_traps(void) { return traps; }

/* Executes CPUID (through the handler when faulting is on): the program's own view of a bit. */
int cpuid_level_has(unsigned leaf, unsigned subleaf, int reg, int bit) {
  unsigned r[4];
  __cpuid_count(leaf, subleaf, r[0], r[1], r[2], r[3]);
  return (int)((r[reg] >> bit) & 1u);
}

static void clear(unsigned r[4], const uint32_t bits[4]) {
  for (int i = 0; i < 4; ++i) r[i] &= ~bits[i];
}

static void on_fault(int sig, siginfo_t *info, void *context) {
  (void)info;
  ucontext_t *uc = context;
  greg_t *g = uc->uc_mcontext.gregs;
  const unsigned char *ip = (const unsigned char *)g[REG_RIP];
  if (ip[0] != 0x0f || ip[1] != 0xa2) { /* not CPUID: a real fault, rerun it with the default action */
    signal(sig, SIG_DFL);
    return;
  }
  unsigned leaf = (unsigned)g[REG_RAX], subleaf = (unsigned)g[REG_RCX], r[4];
  syscall(SYS_arch_prctl, ARCH_SET_CPUID, 1);
  __cpuid_count(leaf, subleaf, r[0], r[1], r[2], r[3]);
  syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0);
  if (leaf == 1) clear(r, mask->leaf1);
  if (leaf == 7 && subleaf == 0) clear(r, mask->leaf7_0);
  if (leaf == 7 && subleaf == 1) clear(r, mask->leaf7_1);
  g[REG_RAX] = r[0], g[REG_RBX] = r[1], g[REG_RCX] = r[2], g[REG_RDX] = r[3];
  g[REG_RIP] += 2;
  traps++;
}

__attribute__((constructor)) static void install(void) {
  const char *level = getenv("EDGECONV_CPUID_LEVEL");
  mask = !level ? NULL : !strcmp(level, "avx512-vnni") ? &MASK_AVX512_VNNI : !strcmp(level, "avx512") ? &MASK_AVX512
       : !strcmp(level, "avx2") ? &MASK_AVX2
       : !strcmp(level, "sse4.1") ? &MASK_SSE41 : NULL;
  if (!mask) return; /* unknown or unset: CPUID untouched (masked_peers.py checks the view it gets) */
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_sigaction = on_fault;
  action.sa_flags = SA_SIGINFO;
  sigaction(SIGSEGV, &action, NULL);
  syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0);
}

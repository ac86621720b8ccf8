/* ec_clock_probe: the clock one busy core of this x86-64 machine runs at, in GHz, on stdout.
 *
 * A chain of dependent register-to-register additions takes one cycle per addition on every
 * x86-64 core (the result of each is the next one's input, and no core removes an addition of a
 * register to itself at rename as some remove additions of constants), so additions per second
 * are cycles per second. The chain runs ROUNDS times for about 6 ms each; the fastest round is
 * the clock (the others lost time to interrupts or other work), after a first round that lets the
 * core raise its clock. Used where the operating system does not say the clock a core reaches:
 * in a virtual machine /proc/cpuinfo gives the nominal clock, not the turbo clock the core runs
 * at (edgeconv/host_clock.py). */
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#define ADDS_PER_STEP 8
#define STEPS 2000000L
#define ROUNDS 9

static double seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(void)
{
    double best = 0.0;
    uint64_t x = 1;
    int round;
    for (round = 0; round < ROUNDS; ++round) {
        const double start = seconds();
        double elapsed, ghz;
        long i;
        for (i = 0; i < STEPS; ++i) {
            __asm__ volatile("add %0, %0\n\tadd %0, %0\n\tadd %0, %0\n\tadd %0, %0\n\t"
                             "add %0, %0\n\tadd %0, %0\n\tadd %0, %0\n\tadd %0, %0"
                             : "+r"(x));
        }
        elapsed = seconds() - start;
        ghz = (double)(ADDS_PER_STEP * STEPS) / elapsed * 1e-9;
        if (round > 0 && ghz > best) {
            best = ghz;
        }
    }
    printf("%.3f\n", best);
    return 0;
}

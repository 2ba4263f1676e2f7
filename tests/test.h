/*
tests/test.h: the few helpers every CPU test uses.

Each check prints one line, "ok - what" or "FAIL - what", and tests/run.sh counts those lines over
all test programs (a program that crashes or exits non-zero without a FAIL line counts as one
failure). A check that cannot run here (no ../shared, say) prints "skip - what: why".
*/
#ifndef R1_TEST_H
#define R1_TEST_H
#include "../r1.h"
#include <sys/wait.h>

static int tests_passed = 0, tests_failed = 0, tests_skipped = 0;

static void check(int ok, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("%s - ", ok ? "ok" : "FAIL");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    if (ok) {
        tests_passed++;
    } else {
        tests_failed++;
    }
}

static void skip(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("skip - ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    tests_skipped++;
}

// Call at the end of main: returns the exit code.
static int test_summary(const char* program) {
    printf("%s: %d passed, %d failed, %d skipped\n", program, tests_passed, tests_failed, tests_skipped);
    return tests_failed ? 1 : 0;
}

// Where the shared data lives (../shared next to the repository, or $R1_SHARED); NULL if absent.
static const char* shared_dir(void) {
    const char* env = getenv("R1_SHARED");
    const char* dir = env ? env : "../shared";
    return dir_exists(dir) ? dir : NULL;
}

// Relative error ||out - ref|| / ||ref|| (in double), plus the largest absolute difference.
static double rel_error(const float* out, const float* ref, size_t n, double* max_abs) {
    double num = 0, den = 0, mx = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)out[i] - (double)ref[i];
        num += d * d;
        den += (double)ref[i] * ref[i];
        if (fabs(d) > mx || d != d) {
            mx = d != d ? INFINITY : fabs(d);
        }
    }
    if (max_abs) {
        *max_abs = mx;
    }
    if (num != num) {
        return INFINITY;
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

// Checks out against ref within tol relative error (as defined above); prints both errors.
static int check_tensor(const char* name, const float* out, const float* ref, size_t n, double tol) {
    double max_abs;
    double rel = rel_error(out, ref, n, &max_abs);
    int ok = rel <= tol;
    check(ok, "%-48s rel %.3e  max abs %.3e  (tol %.0e, n=%zu)", name, rel, max_abs, tol, n);
    return ok;
}

// Runs fn(arg) in a child process and expects it to exit with status 1 (what fatal() does) and to
// print a message on stderr that contains `expect`. The message is copied to msg for display.
static int expect_fatal(void (*fn)(void*), void* arg, const char* expect, char* msg, size_t msg_size) {
    int fd[2];
    if (pipe(fd) != 0) {
        return 0;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        dup2(fd[1], 2);
#ifdef _OPENMP
        // libgomp's thread pool does not survive fork(): a child entering a parallel region with the
        // parent's team size waits forever for threads that are not there. One thread runs inline.
        omp_set_num_threads(1);
#endif
        fn(arg);
        _exit(0); // fn returned: it accepted bad input
    }
    close(fd[1]);
    size_t got = 0;
    ssize_t r;
    char buf[512];
    while ((r = read(fd[0], buf, sizeof(buf))) > 0) {
        for (ssize_t i = 0; i < r && got + 1 < msg_size; i++) {
            msg[got++] = buf[i];
        }
    }
    msg[got] = '\0';
    while (got > 0 && msg[got - 1] == '\n') {
        msg[--got] = '\0';
    }
    close(fd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 1 && strstr(msg, expect) != NULL;
}

#endif // R1_TEST_H

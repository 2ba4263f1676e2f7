/*
data/countdown: writes Countdown problems (TinyZero's RL task) as jsonl, made by r1.h's Stream-of-Search
generator: {"nums": [44, 19, 35], "target": 98, "solution": "35 + (44 + 19)", "thinking": "..."}.
The thinking field is the generator's own search, written out, for SFT warm starts; RL only needs
nums and target. Same seed, same file. The train and test splits of one seed never share a target.

    ./data/countdown --n 1000 --seed 42 --split train --out countdown_train.jsonl
*/
#include "../r1.h"

static void usage(void) {
    printf("usage: ./data/countdown [options]\n"
           "  --n N             problems to write (default 1000)\n"
           "  --seed S          random seed (default 42); the target split depends only on it\n"
           "  --split NAME      train (the 90%% training targets) or test (the held-out 10%%) (default train)\n"
           "  --out FILE        output jsonl (default: standard output)\n"
           "  --min-nums K      fewest numbers per problem (default 3)\n"
           "  --max-nums K      most numbers per problem (default 4)\n"
           "  --max-target T    targets are 10..T, numbers 1..T-1 (default 100)\n"
           "  --trace-lines L   search lines in the thinking trace before it skips to the answer (default 12)\n"
           "  --targets         print this seed's held-out (test) targets and exit\n"
           "  --help            this text\n");
}

static int int_arg(int argc, char** argv, int i) {
    char* end;
    if (i + 1 >= argc) {
        fatal("%s needs a value (see --help)", argv[i]);
    }
    long v = strtol(argv[i + 1], &end, 10);
    if (*end != '\0' || v < 0 || v > 2000000000L) {
        fatal("%s: '%s' is not a non-negative integer", argv[i], argv[i + 1]);
    }
    return (int)v;
}

int main(int argc, char** argv) {
    CountdownConfig cfg = countdown_config_default();
    int n = 1000, seed = 42, split = 0, print_targets = 0;
    const char* out = NULL;
    for (int i = 1; i < argc; i++) {
        const char* a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage();
            return 0;
        } else if (strcmp(a, "--targets") == 0) {
            print_targets = 1;
            continue;
        } else if (strcmp(a, "--split") == 0 && i + 1 < argc) {
            if (strcmp(argv[i + 1], "train") != 0 && strcmp(argv[i + 1], "test") != 0) {
                fatal("--split must be train or test (got '%s')", argv[i + 1]);
            }
            split = strcmp(argv[i + 1], "test") == 0;
        } else if (strcmp(a, "--out") == 0 && i + 1 < argc) {
            out = argv[i + 1];
        } else if (strcmp(a, "--n") == 0) {
            n = int_arg(argc, argv, i);
        } else if (strcmp(a, "--seed") == 0) {
            seed = int_arg(argc, argv, i);
        } else if (strcmp(a, "--min-nums") == 0) {
            cfg.min_nums = int_arg(argc, argv, i);
        } else if (strcmp(a, "--max-nums") == 0) {
            cfg.max_nums = int_arg(argc, argv, i);
        } else if (strcmp(a, "--max-target") == 0) {
            cfg.max_target = int_arg(argc, argv, i);
        } else if (strcmp(a, "--trace-lines") == 0) {
            cfg.trace_lines = int_arg(argc, argv, i);
        } else {
            fatal("unknown option '%s' (see --help)", a);
        }
        i++; // every option above takes one value
    }
    CountdownGen g;
    countdown_init(&g, &cfg, (uint64_t)seed, split);
    if (print_targets) {
        for (int i = 0; i < g.n_heldout; i++) {
            printf(i ? " %d" : "%d", g.heldout[i]);
        }
        printf("\n");
        return 0;
    }
    char* tmp = NULL;
    FILE* f = out ? atomic_open(out, &tmp) : stdout;
    for (int i = 0; i < n; i++) {
        CountdownProblem p;
        countdown_next(&g, &p);
        countdown_write_jsonl(f, &p);
        countdown_problem_free(&p);
    }
    if (out) {
        atomic_commit(f, tmp, out);
        fprintf(stderr, "wrote %d %s problems (seed %d) to %s\n", n, split ? "test" : "train", seed, out);
    }
    return 0;
}

/*
dev/bench/bench_model.c: times one training step (forward + backward) of r1.h's CPU Qwen2 on a
model folder and a batch written by dev/bench/bench_model.py, which runs the same step in PyTorch
and prints both. Built and run by that script; by hand:

    gcc -O3 -march=native -std=c11 -fopenmp -o dev/bench/bench_model dev/bench/bench_model.c -lm
    OMP_NUM_THREADS=2 dev/bench/bench_model MODEL_DIR BATCH.safetensors [steps]

Prints every timed step, the loss (to compare with PyTorch's), and the best and median step time.
*/
#include "../../r1.h"

static int cmp_double(const void* a, const void* b) {
    double x = *(const double*)a, y = *(const double*)b;
    return x < y ? -1 : x > y;
}

static int* read_ids(const Safetensors* st, const char* name, int* B, int* T) {
    const SafetensorsEntry* e = safetensors_find(st, name);
    if (e == NULL || e->ndim != 2) {
        fatal("%s: no 2-d tensor %s", st->path, name);
    }
    int* out = (int*)malloc_check(safetensors_numel(e) * sizeof(int));
    safetensors_read_i32(st, e, (int32_t*)out);
    *B = (int)e->shape[0];
    *T = (int)e->shape[1];
    return out;
}

int main(int argc, char** argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL_DIR BATCH.safetensors [steps]\n", argv[0]);
        return 2;
    }
    int steps = argc > 3 ? atoi(argv[3]) : 5;
    Qwen2 m;
    qwen2_load(&m, argv[1]);
    Safetensors st;
    safetensors_open(&st, argv[2]);
    int B, T;
    int* ids = read_ids(&st, "input_ids", &B, &T);
    int* pos = read_ids(&st, "position_ids", &B, &T);
    int* labels = read_ids(&st, "labels", &B, &T);
    safetensors_close(&st);

    double* times = (double*)malloc_check((size_t)(steps + 1) * sizeof(double));
    double fwd_total = 0.0;
    for (int s = 0; s <= steps; s++) { // step 0 warms up (allocations, page faults)
        double t0 = wall_time();
        qwen2_zero_grad(&m);
        qwen2_forward(&m, ids, pos, labels, B, T);
        double t1 = wall_time();
        qwen2_backward(&m);
        double t2 = wall_time();
        times[s] = t2 - t0;
        if (s > 0) {
            fwd_total += t1 - t0;
        }
    }
    printf("r1 step times");
    for (int s = 1; s <= steps; s++) {
        printf(" %.5f", times[s]);
    }
    printf("\n");
    qsort(times + 1, (size_t)steps, sizeof(double), cmp_double);
    printf("r1 loss %.6f\n", m.loss);
    printf("r1 step best %.4f s median %.4f s (forward %.4f s on average) over %d steps, %d threads\n", times[1],
           times[1 + steps / 2], fwd_total / steps, steps,
#ifdef _OPENMP
           omp_get_max_threads()
#else
           1
#endif
    );
    free(times), free(ids), free(pos), free(labels);
    qwen2_free(&m);
    return 0;
}

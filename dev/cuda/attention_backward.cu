/*
Kernel lab: attention for training, forward and backward, train_sft.cu's attention_forward_gpu and
attention_backward_gpu, against the CPU reference r1.h attention_forward / attention_backward. Rows
pack several documents: token t of row b attends to keys doc_start[b, t] .. t (its own document,
causal); scores (q.k) * HD^-0.5; query head h reads kv head h / (NH / NKV). The forward keeps
lse = log(sum_j exp(score_j)) per (b, h, t) instead of r1.h's (B, NH, T, T) probabilities, and the
backward recomputes the probabilities from it.

Compile, from the repository root (add -DENABLE_FP32 for the fp32 build; -arch=sm_80 for A100s):
    nvcc -O3 -std=c++17 -arch=sm_90 -Xcompiler -fopenmp -o attention_backward dev/cuda/attention_backward.cu -lcublas -lcublasLt -lgomp -lm
Run:
    ./attention_backward VERSION [T]        (VERSION 1 or 2, default 2; T default 4096)

version 1: naive: one warp per (b, t, h) for the forward (online softmax key by key) and for dQ, one
           warp per (b, key, kv head) for dK and dV (walking every query of the group that sees the
           key); lanes split the head dims; D = dout . out recomputed where needed. No shared memory.
version 2: train_sft.cu's kernels (what the trainer runs): flash attention with tiles of 32 rows in
           shared memory, G = HD / 16 threads per row holding 16 dims each in registers; the forward
           writes out and lse; the backward is D = rowsum(dout * out), then dK/dV by key blocks (the
           block walks every query head of its kv group, sums in registers, no atomics), then dQ by
           query blocks (recomputing the probabilities: deterministic).

Each version is checked against the CPU on each shape (relative error ||gpu - cpu|| / ||cpu|| of out,
dq, dk, dv; outputs poisoned with NaN first), then timed with cudaEvents (mean of 20 runs after 3
warm-ups), forward and backward apart. Shapes: B 1 x T 4096 with packed documents (lengths drawn
between T/16 and T/2), Qwen2.5-1.5B's heads (NH 12, NKV 2, HD 128) and Qwen2.5-0.5B's (NH 14, NKV 2,
HD 64). TFLOP/s count the products over the attended (query, key) pairs only: 4 HD flops per pair and
head forward (q.k, p v), 10 backward (q.k, dout.v, p dout, ds q, ds k; version 2 computes q.k and
dout.v twice, the extra work is not counted). The CPU reference at T 4096 takes seconds and a few GB
(r1.h keeps T x T matrices); pass a smaller T to iterate faster.
The kernels of version 2 are train_sft.cu's own (this file includes it): no kernel is written twice.
*/
#define R1_NO_SFT_MAIN
#include "../../train_sft.cu"

// ----------------------------------------------------------------------------
// version 1: one warp per row

__device__ __forceinline__ float lab_warp_sum(float s) {
    for (int off = 16; off > 0; off >>= 1) {
        s += __shfl_xor_sync(0xffffffffu, s, off);
    }
    return s;
}

// dot product of two HD-long floatX rows across the lanes of a warp
__device__ __forceinline__ float lab_warp_dot(const floatX* a, const floatX* b, int HD, int lane) {
    float s = 0.0f;
    for (int d = lane; d < HD; d += 32) {
        s += to_float(a[d]) * to_float(b[d]);
    }
    return lab_warp_sum(s);
}

// one warp per (b, t, h); lane holds dims lane + 32 c (HD <= 128)
__global__ void attention_forward_naive_kernel(floatX* out,          // (B, T, NH, HD)
                                               float* lse,           // (B, NH, T)
                                               const floatX* q,      // (B, T, NH, HD)
                                               const floatX* k,      // (B, T, NKV, HD)
                                               const floatX* v,      // (B, T, NKV, HD)
                                               const int* doc_start, // (B, T)
                                               int B, int T, int NH, int NKV, int HD, float scale) {
    size_t row = (size_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32; // (b, t, h)
    int lane = threadIdx.x % 32;
    if (row >= (size_t)B * T * NH) {
        return;
    }
    int h = (int)(row % NH), kvh = h / (NH / NKV);
    size_t bt = row / NH, b = bt / T, KVD = (size_t)NKV * HD;
    int t = (int)(bt % T);
    const floatX* qr = q + row * HD;
    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f}, m = -INFINITY, l = 0.0f;
    for (int j = doc_start[bt]; j <= t; j++) {
        const floatX* kj = k + (b * T + j) * KVD + (size_t)kvh * HD;
        const floatX* vj = v + (b * T + j) * KVD + (size_t)kvh * HD;
        float s = lab_warp_dot(qr, kj, HD, lane) * scale;
        float m_new = fmaxf(m, s), corr = expf(m - m_new), p = expf(s - m_new);
        l = l * corr + p;
#pragma unroll
        for (int c = 0; c < 4; c++) {
            if (c * 32 + lane < HD) {
                acc[c] = acc[c] * corr + p * to_float(vj[c * 32 + lane]);
            }
        }
        m = m_new;
    }
#pragma unroll
    for (int c = 0; c < 4; c++) {
        if (c * 32 + lane < HD) {
            out[row * HD + c * 32 + lane] = from_float(acc[c] / l);
        }
    }
    if (lane == 0) {
        lse[(b * NH + h) * T + t] = m + logf(l);
    }
}

// dQ: one warp per (b, t, h): ds_j = p_j (dout.v_j - dout.out) * scale, dq = sum_j ds_j k_j
__global__ void attention_dq_naive_kernel(floatX* dq, const floatX* dout, const floatX* out, const float* lse,
                                          const floatX* q, const floatX* k, const floatX* v, const int* doc_start,
                                          int B, int T, int NH, int NKV, int HD, float scale) {
    size_t row = (size_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (row >= (size_t)B * T * NH) {
        return;
    }
    int h = (int)(row % NH), kvh = h / (NH / NKV);
    size_t bt = row / NH, b = bt / T, KVD = (size_t)NKV * HD;
    int t = (int)(bt % T);
    const floatX* qr = q + row * HD;
    const floatX* dor = dout + row * HD;
    float D = lab_warp_dot(dor, out + row * HD, HD, lane), L = lse[(b * NH + h) * T + t];
    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int j = doc_start[bt]; j <= t; j++) {
        const floatX* kj = k + (b * T + j) * KVD + (size_t)kvh * HD;
        const floatX* vj = v + (b * T + j) * KVD + (size_t)kvh * HD;
        float p = expf(lab_warp_dot(qr, kj, HD, lane) * scale - L);
        float ds = p * (lab_warp_dot(dor, vj, HD, lane) - D) * scale;
#pragma unroll
        for (int c = 0; c < 4; c++) {
            if (c * 32 + lane < HD) {
                acc[c] += ds * to_float(kj[c * 32 + lane]);
            }
        }
    }
#pragma unroll
    for (int c = 0; c < 4; c++) {
        if (c * 32 + lane < HD) {
            dq[row * HD + c * 32 + lane] = from_float(acc[c]);
        }
    }
}

// dK, dV: one warp per (b, key j, kv head), over the group's heads and the queries t >= j of j's document
__global__ void attention_dkdv_naive_kernel(floatX* dk, floatX* dv, const floatX* dout, const floatX* out,
                                            const float* lse, const floatX* q, const floatX* k, const floatX* v,
                                            const int* doc_start, int B, int T, int NH, int NKV, int HD,
                                            float scale) {
    size_t row = (size_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32; // (b, j, kvh)
    int lane = threadIdx.x % 32;
    if (row >= (size_t)B * T * NKV) {
        return;
    }
    int kvh = (int)(row % NKV), group = NH / NKV;
    size_t bj = row / NKV, b = bj / T, QD = (size_t)NH * HD;
    int j = (int)(bj % T);
    const floatX* kj = k + row * HD;
    const floatX* vj = v + row * HD;
    float dka[4] = {0.0f, 0.0f, 0.0f, 0.0f}, dva[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int h = kvh * group; h < (kvh + 1) * group; h++) {
        for (int t = j; t < T; t++) {
            if (doc_start[b * T + t] > j) {
                continue;
            }
            const floatX* qt = q + (b * T + t) * QD + (size_t)h * HD;
            const floatX* dot = dout + (b * T + t) * QD + (size_t)h * HD;
            float D = lab_warp_dot(dot, out + (b * T + t) * QD + (size_t)h * HD, HD, lane);
            float p = expf(lab_warp_dot(qt, kj, HD, lane) * scale - lse[(b * NH + h) * T + t]);
            float ds = p * (lab_warp_dot(dot, vj, HD, lane) - D) * scale;
#pragma unroll
            for (int c = 0; c < 4; c++) {
                if (c * 32 + lane < HD) {
                    dva[c] += p * to_float(dot[c * 32 + lane]);
                    dka[c] += ds * to_float(qt[c * 32 + lane]);
                }
            }
        }
    }
#pragma unroll
    for (int c = 0; c < 4; c++) {
        if (c * 32 + lane < HD) {
            dk[row * HD + c * 32 + lane] = from_float(dka[c]);
            dv[row * HD + c * 32 + lane] = from_float(dva[c]);
        }
    }
}

// ----------------------------------------------------------------------------
// running a version

typedef struct {
    floatX *q, *k, *v, *dout, *out, *dq, *dk, *dv;
    float* lse;
    int* doc_start;
    void* scratch;
    int B, T, NH, NKV, HD;
} LabArgs;

static unsigned int lab_warp_blocks(size_t rows) { // 8 warps per block of 256
    return (unsigned int)((rows + 7) / 8);
}

static void lab_forward(int version, const LabArgs* a) {
    if (version == 1) {
        attention_forward_naive_kernel<<<lab_warp_blocks((size_t)a->B * a->T * a->NH), 256>>>(
            a->out, a->lse, a->q, a->k, a->v, a->doc_start, a->B, a->T, a->NH, a->NKV, a->HD,
            1.0f / sqrtf((float)a->HD));
        cudaCheck(cudaGetLastError());
    } else {
        attention_forward_gpu(a->out, a->lse, a->q, a->k, a->v, a->doc_start, a->B, a->T, a->NH, a->NKV, a->HD, 0);
    }
}

static void lab_backward(int version, const LabArgs* a) {
    if (version == 1) {
        float scale = 1.0f / sqrtf((float)a->HD);
        attention_dkdv_naive_kernel<<<lab_warp_blocks((size_t)a->B * a->T * a->NKV), 256>>>(
            a->dk, a->dv, a->dout, a->out, a->lse, a->q, a->k, a->v, a->doc_start, a->B, a->T, a->NH, a->NKV, a->HD,
            scale);
        attention_dq_naive_kernel<<<lab_warp_blocks((size_t)a->B * a->T * a->NH), 256>>>(
            a->dq, a->dout, a->out, a->lse, a->q, a->k, a->v, a->doc_start, a->B, a->T, a->NH, a->NKV, a->HD, scale);
        cudaCheck(cudaGetLastError());
    } else {
        attention_backward_gpu(a->dq, a->dk, a->dv, a->dout, a->out, a->lse, a->q, a->k, a->v, a->doc_start, a->B,
                               a->T, a->NH, a->NKV, a->HD, a->scratch, 0);
    }
}

// mean milliseconds of one call, 20 runs after 3 warm-ups
static float lab_time(int version, const LabArgs* a, void (*fn)(int, const LabArgs*)) {
    cudaEvent_t start, stop;
    cudaCheck(cudaEventCreate(&start)), cudaCheck(cudaEventCreate(&stop));
    for (int r = 0; r < 3; r++) {
        fn(version, a);
    }
    const int reps = 20;
    cudaCheck(cudaEventRecord(start));
    for (int r = 0; r < reps; r++) {
        fn(version, a);
    }
    cudaCheck(cudaEventRecord(stop));
    cudaCheck(cudaEventSynchronize(stop));
    float ms = 0;
    cudaCheck(cudaEventElapsedTime(&ms, start, stop));
    cudaCheck(cudaEventDestroy(start)), cudaCheck(cudaEventDestroy(stop));
    return ms / reps;
}

// ----------------------------------------------------------------------------
// one shape: inputs, CPU reference, check, benchmark

static float* lab_rand(size_t n, float scale, uint64_t* rng) { // rounded to floatX, as the GPU sees them
    float* x = (float*)malloc_check(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        x[i] = (float)(floatX)((2.0f * random_f32(rng) - 1.0f) * scale);
    }
    return x;
}

static void* lab_to_device(const void* x, size_t bytes) {
    void* d = cuda_malloc_check(bytes, "lab input");
    cudaCheck(cudaMemcpy(d, x, bytes, cudaMemcpyHostToDevice));
    return d;
}

static floatX* lab_to_device_x(const float* x, size_t n) {
    floatX* h = (floatX*)malloc_check(n * sizeof(floatX));
    for (size_t i = 0; i < n; i++) {
        h[i] = (floatX)x[i];
    }
    floatX* d = (floatX*)lab_to_device(h, n * sizeof(floatX));
    free(h);
    return d;
}

static floatX* lab_poisoned_x(size_t n) { // NaN bytes: a skipped output shows
    floatX* d = (floatX*)cuda_malloc_check(n * sizeof(floatX), "lab output");
    cudaCheck(cudaMemset(d, 0xff, n * sizeof(floatX)));
    return d;
}

// ||gpu - cpu|| / ||cpu|| of n floatX on the device against n floats
static double lab_rel(const floatX* d, const float* cpu, size_t n) {
    floatX* h = (floatX*)malloc_check(n * sizeof(floatX));
    cudaCheck(cudaMemcpy(h, d, n * sizeof(floatX), cudaMemcpyDeviceToHost));
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double e = (double)(float)h[i] - cpu[i];
        num += e * e, den += (double)cpu[i] * cpu[i];
    }
    free(h);
    return sqrt(num / den);
}

static void lab_shape(int version, const char* name, int B, int T, int NH, int NKV, int HD) {
    uint64_t rng = rng_seed(4321);
    // packed documents: lengths between T/16 and T/2, the last one cut by the row's end
    int* pos = (int*)malloc_check((size_t)B * T * sizeof(int));
    int* doc_start = (int*)malloc_check((size_t)B * T * sizeof(int));
    for (int b = 0; b < B; b++) {
        for (int t = 0, left = 0; t < T; t++, left--) {
            if (left == 0) { // a new document
                left = T / 16 + 1 + (int)(random_f32(&rng) * (T / 2 - T / 16));
                pos[b * T + t] = 0;
            } else {
                pos[b * T + t] = pos[b * T + t - 1] + 1;
            }
        }
    }
    attention_doc_starts(doc_start, pos, B, T);
    double pairs = 0; // attended (query, key) pairs per head
    int docs = 0;
    for (int i = 0; i < B * T; i++) {
        pairs += i % T - doc_start[i] + 1;
        docs += pos[i] == 0;
    }
    size_t nq = (size_t)B * T * NH * HD, nkv = (size_t)B * T * NKV * HD, TT = (size_t)T * T;
    float* q = lab_rand(nq, 2.0f, &rng);
    float* k = lab_rand(nkv, 1.0f, &rng);
    float* v = lab_rand(nkv, 1.0f, &rng);
    float* dout = lab_rand(nq, 1.0f, &rng);
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    float* att = (float*)malloc_check((size_t)B * NH * TT * sizeof(float));
    float* datt = (float*)malloc_check((size_t)threads * TT * sizeof(float));
    float* out = (float*)malloc_check(nq * sizeof(float));
    float* dq = (float*)malloc_check(nq * sizeof(float));
    float* dk = (float*)malloc_check(nkv * sizeof(float));
    float* dv = (float*)malloc_check(nkv * sizeof(float));
    double t0 = wall_time();
    attention_forward(out, att, q, k, v, doc_start, B, T, NH, NKV, HD);
    attention_backward(dq, dk, dv, datt, dout, q, k, v, att, doc_start, B, T, NH, NKV, HD);
    double cpu_s = wall_time() - t0;

    LabArgs a;
    a.B = B, a.T = T, a.NH = NH, a.NKV = NKV, a.HD = HD;
    a.q = lab_to_device_x(q, nq), a.k = lab_to_device_x(k, nkv), a.v = lab_to_device_x(v, nkv);
    a.dout = lab_to_device_x(dout, nq);
    a.doc_start = (int*)lab_to_device(doc_start, (size_t)B * T * sizeof(int));
    a.out = lab_poisoned_x(nq), a.dq = lab_poisoned_x(nq), a.dk = lab_poisoned_x(nkv), a.dv = lab_poisoned_x(nkv);
    a.lse = (float*)cuda_malloc_check((size_t)B * NH * T * sizeof(float), "lse");
    cudaCheck(cudaMemset(a.lse, 0xff, (size_t)B * NH * T * sizeof(float)));
    a.scratch = cuda_malloc_check(attention_train_scratch_bytes(B, T, NH, NKV, HD), "attention scratch");
    lab_forward(version, &a);
    lab_backward(version, &a);
    cudaCheck(cudaDeviceSynchronize());
    double rel[4] = {lab_rel(a.out, out, nq), lab_rel(a.dq, dq, nq), lab_rel(a.dk, dk, nkv), lab_rel(a.dv, dv, nkv)};
#ifdef ENABLE_FP32
    double tol = 1e-5;
#else
    double tol = 1e-2;
#endif
    int ok = 1;
    for (int i = 0; i < 4; i++) {
        ok &= rel[i] <= tol; // (NaN fails)
    }
    float ms_f = lab_time(version, &a, lab_forward), ms_b = lab_time(version, &a, lab_backward);
    double flops = pairs * NH * HD;
    printf("%s B %d T %d (%d docs), version %d: rel error out %.2e dq %.2e dk %.2e dv %.2e %s (CPU %.1f s)\n", name, B,
           T, docs, version, rel[0], rel[1], rel[2], rel[3], ok ? "ok" : "MISMATCH", cpu_s);
    printf("    forward  %8.3f ms %7.2f TFLOP/s | backward %8.3f ms %7.2f TFLOP/s\n", ms_f,
           4.0 * flops / (ms_f * 1e-3) / 1e12, ms_b, 10.0 * flops / (ms_b * 1e-3) / 1e12);
    void* dev[12] = {a.q, a.k, a.v, a.dout, a.out, a.dq, a.dk, a.dv, a.lse, a.doc_start, a.scratch, NULL};
    for (int i = 0; dev[i]; i++) {
        cudaCheck(cudaFree(dev[i]));
    }
    free(pos), free(doc_start), free(q), free(k), free(v), free(dout), free(att), free(datt), free(out);
    free(dq), free(dk), free(dv);
    if (!ok) {
        exit(1);
    }
}

int main(int argc, char** argv) {
    int version = argc > 1 ? atoi(argv[1]) : 2;
    int T = argc > 2 ? atoi(argv[2]) : 4096;
    if (version < 1 || version > 2 || T < 16) {
        fatal("usage: ./attention_backward VERSION [T]   (VERSION 1: naive, 2: train_sft.cu's; T >= 16, default 4096)");
    }
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
        fatal("no CUDA device: this lab times GPU kernels");
    }
    cudaDeviceProp prop;
    cudaCheck(cudaGetDeviceProperties(&prop, 0));
    printf("%s, %s build, version %d\n", prop.name, PRECISION_NAME, version);
    lab_shape(version, "1.5B heads (NH 12, NKV 2, HD 128)", 1, T, 12, 2, 128);
    lab_shape(version, "0.5B heads (NH 14, NKV 2, HD 64) ", 1, T, 14, 2, 64);
    return 0;
}

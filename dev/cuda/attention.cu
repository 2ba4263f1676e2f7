/*
Kernel lab: attention over the KV cache, generate.cu's attention_cached_forward_gpu, against the CPU
reference r1.h attention_cached_forward (token i, in slot slot[i] at position pos[i], attends to the
cached keys 0..pos[i] of its slot; scores (q.k) * HD^-0.5, softmax, weighted sum of the values; query
head h reads kv head h / (NH / NKV)).

Compile, from the repository root (add -DENABLE_FP32 for the fp32 build; -arch=sm_80 for A100s):
    nvcc -O3 -std=c++17 -arch=sm_90 -Xcompiler -fopenmp -o attention dev/cuda/attention.cu -lcublas -lcublasLt -lgomp -lm
Run:
    ./attention VERSION        (1..4; default 3)

version 1: naive: one block per (token, query head); the row's scores in shared memory, block max and
           sum, then each thread one output dim over all values. No GQA sharing, no splits.
version 2: generate.cu's tile kernel (flash attention: tiles of 32 queries x 32 keys in shared memory,
           online softmax) for every token; a decode token is a tile of one row.
version 3: generate.cu's attention_cached_forward_gpu, what the engine runs: the decode kernel
           (flash-decoding: splits of the cache, a block per (token, kv head, split) reading each key
           once for all the heads of its GQA group) + the combine kernel for tokens alone in their step,
           the tile kernel for runs of prompt tokens.
version 4: generate.cu's decode kernel for every token with one split (no combine): what splitting buys.

Every version is checked against the CPU (relative error ||gpu - cpu|| / ||cpu||) on each shape, then
timed with cudaEvents (mean of 20 runs after 3 warm-ups). Shapes: Qwen2.5-0.5B (NH 14, NKV 2, HD 64)
and Qwen2.5-1.5B (NH 12, NKV 2, HD 128); decode: 256 slots, each one new token after 511 or 1023 cached
ones; prefill: 8 sequences of 512 new tokens. Decode reports GB/s of keys and values read (the cache
of 256 slots is 2-8x the L2, so no flush is needed); prefill reports TFLOP/s of the causal half.
The kernels of versions 2-4 are generate.cu's own (this file includes it): no kernel is written twice.
*/
#define R1_NO_GENERATE_MAIN
#include "../../generate.cu"

// ----------------------------------------------------------------------------
// version 1: one block per (token, query head)

static __device__ float lab_block_reduce(float v, float* red, bool is_max) {
    for (int off = 16; off > 0; off >>= 1) {
        float o = __shfl_xor_sync(0xffffffffu, v, off);
        v = is_max ? fmaxf(v, o) : v + o;
    }
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarp = blockDim.x / 32;
    __syncthreads(); // red may still be read by the previous reduction
    if (lane == 0) {
        red[warp] = v;
    }
    __syncthreads();
    v = red[0];
    for (int w = 1; w < nwarp; w++) {
        v = is_max ? fmaxf(v, red[w]) : v + red[w];
    }
    return v;
}

__global__ void attention_naive_kernel(floatX* out,      // (N, NH, HD)
                                       const floatX* q,  // (N, NH, HD)
                                       const floatX* kc, // (slots, max_len, NKV, HD)
                                       const floatX* vc, // (slots, max_len, NKV, HD)
                                       const int* slot, const int* pos, // (N)
                                       int NH, int NKV, int HD, int max_len, float scale) {
    extern __shared__ float sh[]; // (max_len) scores, then (32) reduction scratch
    float* s = sh;
    float* red = sh + max_len;
    int i = blockIdx.x, h = blockIdx.y, len = pos[i] + 1;
    size_t KVD = (size_t)NKV * HD;
    const floatX* qh = q + ((size_t)i * NH + h) * HD;
    size_t base = (size_t)slot[i] * max_len * KVD + (size_t)(h / (NH / NKV)) * HD;
    for (int t = threadIdx.x; t < len; t += blockDim.x) {
        const floatX* kt = kc + base + (size_t)t * KVD;
        float dot = 0.0f;
        for (int d = 0; d < HD; d++) {
            dot += to_float(qh[d]) * to_float(kt[d]);
        }
        s[t] = dot * scale;
    }
    __syncthreads();
    float mx = -INFINITY;
    for (int t = threadIdx.x; t < len; t += blockDim.x) {
        mx = fmaxf(mx, s[t]);
    }
    mx = lab_block_reduce(mx, red, true);
    float sum = 0.0f;
    for (int t = threadIdx.x; t < len; t += blockDim.x) {
        s[t] = expf(s[t] - mx);
        sum += s[t];
    }
    sum = lab_block_reduce(sum, red, false); // (its barriers also publish every s[t])
    for (int d = threadIdx.x; d < HD; d += blockDim.x) {
        float o = 0.0f;
        for (int t = 0; t < len; t++) {
            o += s[t] * to_float(vc[base + (size_t)t * KVD + d]);
        }
        out[((size_t)i * NH + h) * HD + d] = from_float(o / sum);
    }
}

// ----------------------------------------------------------------------------
// the versions

typedef struct {
    floatX *out, *q, *kc, *vc;
    int *slot, *pos;
    void* scratch;
    int N, NH, NKV, HD, max_len, max_new;
} LabArgs;

template <int HD>
static void lab_run_hd(int version, const LabArgs* a) {
    float scale = 1.0f / sqrtf((float)HD);
    if (version == 1) {
        size_t smem = ((size_t)a->max_len + 32) * sizeof(float);
        if (smem > 48 * 1024) {
            fatal("version 1 keeps a whole row of scores in shared memory: max_len %d is too long", a->max_len);
        }
        attention_naive_kernel<<<dim3(a->N, a->NH), 128, smem>>>(a->out, a->q, a->kc, a->vc, a->slot, a->pos, a->NH,
                                                                 a->NKV, HD, a->max_len, scale);
    } else if (version == 2) {
        attention_tile_kernel<HD><<<dim3(ceil_div(a->N, ATT_BQ), a->NH), ATT_THREADS>>>(
            a->out, a->q, a->kc, a->vc, a->slot, a->pos, a->N, a->NH, a->NKV, a->max_len, 0, scale);
    } else if (version == 3) {
        attention_cached_forward_gpu(a->out, a->q, a->kc, a->vc, a->slot, a->pos, a->N, a->NH, a->NKV, HD, a->max_len,
                                     a->max_new, a->scratch, 0);
    } else {
        int split_len = ceil_div(a->max_len, ATT_DTILE) * ATT_DTILE;
        attention_decode_kernel<HD><<<dim3(a->N, a->NKV, 1), ATT_THREADS>>>(
            a->out, NULL, NULL, a->q, a->kc, a->vc, a->slot, a->pos, a->N, a->NH, a->NKV, a->max_len, 1, split_len, 0,
            scale);
    }
    cudaCheck(cudaGetLastError());
}

static void lab_run(int version, const LabArgs* a) {
    switch (a->HD) {
    case 16: lab_run_hd<16>(version, a); break;
    case 32: lab_run_hd<32>(version, a); break;
    case 64: lab_run_hd<64>(version, a); break;
    case 128: lab_run_hd<128>(version, a); break;
    default: fatal("head_dim %d is not supported", a->HD);
    }
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

static floatX* lab_to_device(const float* x, size_t n) {
    floatX* h = (floatX*)malloc_check(n * sizeof(floatX));
    for (size_t i = 0; i < n; i++) {
        h[i] = (floatX)x[i];
    }
    floatX* d = (floatX*)cuda_malloc_check(n * sizeof(floatX), "lab input");
    cudaCheck(cudaMemcpy(d, h, n * sizeof(floatX), cudaMemcpyHostToDevice));
    free(h);
    return d;
}

// nseq sequences in slots 0..nseq-1; each appends n_new tokens after `cached` ones; the cache holds
// exactly cached + n_new positions per slot.
static void lab_shape(int version, const char* name, int NH, int NKV, int HD, int nseq, int cached, int n_new) {
    int max_len = cached + n_new, N = nseq * n_new;
    uint64_t rng = rng_seed(1234);
    int* slot = (int*)malloc_check((size_t)N * sizeof(int));
    int* pos = (int*)malloc_check((size_t)N * sizeof(int));
    double keys = 0; // keys read, summed over tokens
    for (int s = 0, i = 0; s < nseq; s++) {
        for (int j = 0; j < n_new; j++, i++) {
            slot[i] = s, pos[i] = cached + j;
            keys += pos[i] + 1;
        }
    }
    size_t KVD = (size_t)NKV * HD, cache = (size_t)nseq * max_len * KVD, nq = (size_t)N * NH * HD;
    float* q = lab_rand(nq, 3.0f, &rng);
    float* kc = lab_rand(cache, 1.0f, &rng);
    float* vc = lab_rand(cache, 1.0f, &rng);
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    float* scores = (float*)malloc_check((size_t)threads * max_len * sizeof(float));
    float* cpu = (float*)malloc_check(nq * sizeof(float));
    attention_cached_forward(cpu, scores, q, kc, vc, slot, pos, N, NH, NKV, HD, max_len);

    LabArgs a;
    a.N = N, a.NH = NH, a.NKV = NKV, a.HD = HD, a.max_len = max_len, a.max_new = n_new;
    a.q = lab_to_device(q, nq), a.kc = lab_to_device(kc, cache), a.vc = lab_to_device(vc, cache);
    a.out = (floatX*)cuda_malloc_check(nq * sizeof(floatX), "lab output");
    cudaCheck(cudaMemset(a.out, 0xff, nq * sizeof(floatX))); // NaN: a skipped output shows
    a.scratch = cuda_malloc_check(attention_scratch_bytes(N, NH, HD, max_len), "attention scratch");
    a.slot = (int*)cuda_malloc_check((size_t)N * sizeof(int), "slots");
    a.pos = (int*)cuda_malloc_check((size_t)N * sizeof(int), "positions");
    cudaCheck(cudaMemcpy(a.slot, slot, (size_t)N * sizeof(int), cudaMemcpyHostToDevice));
    cudaCheck(cudaMemcpy(a.pos, pos, (size_t)N * sizeof(int), cudaMemcpyHostToDevice));

    lab_run(version, &a);
    cudaCheck(cudaDeviceSynchronize());
    floatX* hout = (floatX*)malloc_check(nq * sizeof(floatX));
    cudaCheck(cudaMemcpy(hout, a.out, nq * sizeof(floatX), cudaMemcpyDeviceToHost));
    double num = 0, den = 0;
    for (size_t k = 0; k < nq; k++) {
        double d = (double)(float)hout[k] - cpu[k];
        num += d * d, den += (double)cpu[k] * cpu[k];
    }
    double rel = sqrt(num / den);
#ifdef ENABLE_FP32
    double tol = 1e-5;
#else
    double tol = 1e-2;
#endif
    int ok = rel <= tol; // (NaN fails)

    cudaEvent_t start, stop;
    cudaCheck(cudaEventCreate(&start)), cudaCheck(cudaEventCreate(&stop));
    for (int r = 0; r < 3; r++) {
        lab_run(version, &a);
    }
    const int reps = 20;
    cudaCheck(cudaEventRecord(start));
    for (int r = 0; r < reps; r++) {
        lab_run(version, &a);
    }
    cudaCheck(cudaEventRecord(stop));
    cudaCheck(cudaEventSynchronize(stop));
    float ms = 0;
    cudaCheck(cudaEventElapsedTime(&ms, start, stop));
    ms /= reps;
    printf("%-34s version %d: rel error %.2e %s | %8.3f ms", name, version, rel, ok ? "ok" : "MISMATCH", ms);
    if (n_new == 1) {
        double bytes = keys * KVD * 2 * sizeof(floatX);
        printf(" | %7.1f GB/s of keys and values\n", bytes / (ms * 1e-3) / 1e9);
    } else {
        double flops = 4.0 * keys * NH * HD; // q.k and p.v over the causal keys
        printf(" | %7.2f TFLOP/s (causal)\n", flops / (ms * 1e-3) / 1e12);
    }
    cudaCheck(cudaEventDestroy(start)), cudaCheck(cudaEventDestroy(stop));
    void* dev[8] = {a.out, a.q, a.kc, a.vc, a.scratch, a.slot, a.pos, NULL};
    for (int k = 0; dev[k]; k++) {
        cudaCheck(cudaFree(dev[k]));
    }
    free(slot), free(pos), free(q), free(kc), free(vc), free(scores), free(cpu), free(hout);
    if (!ok) {
        exit(1);
    }
}

int main(int argc, char** argv) {
    int version = argc > 1 ? atoi(argv[1]) : 3;
    if (version < 1 || version > 4) {
        fatal("usage: ./attention VERSION (1: naive, 2: tile kernel, 3: attention_cached_forward_gpu, 4: decode "
              "kernel without splits)");
    }
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
        fatal("no CUDA device: this lab times GPU kernels");
    }
    cudaDeviceProp prop;
    cudaCheck(cudaGetDeviceProperties(&prop, 0));
    printf("%s, %s build, version %d\n", prop.name, PRECISION_NAME, version);
    lab_shape(version, "0.5B decode 256 x 512", 14, 2, 64, 256, 511, 1);
    lab_shape(version, "0.5B decode 256 x 1024", 14, 2, 64, 256, 1023, 1);
    lab_shape(version, "1.5B decode 256 x 512", 12, 2, 128, 256, 511, 1);
    lab_shape(version, "1.5B decode 256 x 1024", 12, 2, 128, 256, 1023, 1);
    lab_shape(version, "0.5B prefill 8 x 512", 14, 2, 64, 8, 0, 512);
    lab_shape(version, "1.5B prefill 8 x 512", 12, 2, 128, 8, 0, 512);
    return 0;
}

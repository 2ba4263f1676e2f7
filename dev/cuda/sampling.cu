/*
Kernel lab: sampling the next token on the GPU (generate.cu's sample_tokens_gpu, twin of r1.h's
sample_token): repetition penalty, temperature, top-k, top-p, a draw from the softmax, and the
log-prob of the drawn token, for nseq rows of V logits at once.

    nvcc -O3 -std=c++17 -gencode arch=compute_90,code=sm_90 -Xcompiler -fopenmp -o sampling dev/cuda/sampling.cu -lcublas -lcublasLt -lgomp -lm
    ./sampling 1      version 1: simple (a processed copy of each row, bisection over the 32 key bits, a serial draw)
    ./sampling 2      version 2: generate.cu's sample_tokens_gpu (radix select, no copy, parallel draw)
    ./sampling        both

(-gencode arch=compute_80,code=sm_80 for A100/A800.) Each version is checked against the CPU chain
built from r1.h's own steps and fed the same coin, then timed with cudaEvents at nseq 256 x V 151,936
(Qwen2.5's vocabulary) with contexts of 512 ids, for three configurations: greedy; temperature 1 +
top-p 0.95 alone (every token takes part in top-p's selection); and temperature 1 + top-k 50 +
top-p 0.95 + repetition penalty 1.1.

Both versions run one block per sequence and never sort the row. Version 1 writes the processed row
to a scratch copy, finds top-k's k-th largest key and top-p's cut by bisection (32 passes each:
"how many / how much mass lies above this key?"), and thread 0 walks the probabilities in index
order as sample_mult does. Version 2 (see the comment of generate.cu's sampling section) recomputes
the processed logit from the raw row on each pass, finds both thresholds by 4 passes of 8-bit radix
select (top-p's bins carry their mass in 64-bit fixed point), and narrows the draw down by
32-way piece sums. Near-ties (a coin within rounding of a cdf boundary, or a top-p cut within
rounding of p) may pick the neighbouring token; they are counted, not failed.
*/
#define R1_NO_GENERATE_MAIN
#include "../../generate.cu"

// ----------------------------------------------------------------------------
// CPU reference: r1.h's sample_token_coin (sample_token's chain with the coin given)

// ----------------------------------------------------------------------------
// version 1: simple. One block per row, the processed row in scratch, bisection, a serial draw.

#define SIMPLE_THREADS 1024

__device__ double simple_sum(double v, double* buf) { // block sum, every thread gets it
    for (int o = 16; o > 0; o >>= 1) {
        v += __shfl_xor_sync(0xffffffffu, v, o);
    }
    __syncthreads();
    if (threadIdx.x % 32 == 0) {
        buf[threadIdx.x / 32] = v;
    }
    __syncthreads();
    v = threadIdx.x % 32 < blockDim.x / 32 ? buf[threadIdx.x % 32] : 0.0;
    for (int o = 16; o > 0; o >>= 1) {
        v += __shfl_xor_sync(0xffffffffu, v, o);
    }
    return v;
}

__global__ void __launch_bounds__(SIMPLE_THREADS)
sample_simple_kernel(int* tokens, float* logprobs, const float* logits, const float* coins, const int* history,
                     const int* hist_row, const int* hist_len, int hist_stride, SamplingConfig cfg, int V,
                     float* work /*(nseq, V)*/) {
    __shared__ double buf[32];
    __shared__ int token_sh;
    int s = blockIdx.x, tid = threadIdx.x;
    const float* raw = logits + (size_t)s * V;
    float* x = work + (size_t)s * V;
    int greedy = cfg.temperature <= 0.0f;
    float T = greedy ? 1.0f : cfg.temperature;
    for (int i = tid; i < V; i += blockDim.x) {
        x[i] = raw[i];
    }
    __syncthreads();
    if (cfg.repetition_penalty != 1.0f && tid == 0) { // each distinct id once: skip ids seen earlier
        const int* ctx = history + (size_t)hist_row[s] * hist_stride;
        for (int j = 0; j < hist_len[s]; j++) {
            int id = ctx[j], dup = id < 0 || id >= V;
            for (int k = 0; k < j && !dup; k++) {
                dup = ctx[k] == id;
            }
            if (!dup) {
                x[id] = x[id] < 0 ? x[id] * cfg.repetition_penalty : x[id] / cfg.repetition_penalty;
            }
        }
    }
    __syncthreads();
    // max of the processed row and of the raw row
    __shared__ float mx_w[32], mraw_w[32];
    float mx = -INFINITY, mraw = -INFINITY;
    for (int i = tid; i < V; i += blockDim.x) {
        x[i] = x[i] / T;
        mx = fmaxf(mx, x[i]);
        mraw = fmaxf(mraw, raw[i]);
    }
    for (int o = 16; o > 0; o >>= 1) {
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
        mraw = fmaxf(mraw, __shfl_xor_sync(0xffffffffu, mraw, o));
    }
    if (tid % 32 == 0) {
        mx_w[tid / 32] = mx;
        mraw_w[tid / 32] = mraw;
    }
    __syncthreads();
    mx = -INFINITY, mraw = -INFINITY;
    for (int w = 0; w < (int)blockDim.x / 32; w++) {
        mx = fmaxf(mx, mx_w[w]);
        mraw = fmaxf(mraw, mraw_w[w]);
    }
    if (greedy) {
        if (tid == 0) {
            token_sh = V;
        }
        __syncthreads();
        for (int i = tid; i < V; i += blockDim.x) {
            if (x[i] == mx) {
                atomicMin(&token_sh, i);
            }
        }
    } else {
        unsigned int kkey = 0, pkey = 0;
        if (cfg.top_k > 0 && cfg.top_k < V) { // the largest key with at least k keys at or above it
            for (int bit = 31; bit >= 0; bit--) {
                unsigned int cand = kkey | (1u << bit);
                double c = 0.0;
                for (int i = tid; i < V; i += blockDim.x) {
                    c += sample_key(x[i]) >= cand;
                }
                if (simple_sum(c, buf) >= cfg.top_k) {
                    kkey = cand;
                }
            }
        }
        if (cfg.top_p < 1.0f) { // k: the largest key with mass >= p*Z strictly above it; survivors lie above k
            double Z = 0.0;
            for (int i = tid; i < V; i += blockDim.x) {
                Z += sample_key(x[i]) >= kkey ? (double)expf(x[i] - mx) : 0.0;
            }
            double pZ = cfg.top_p * simple_sum(Z, buf);
            unsigned int k = 0;
            for (int bit = 31; bit >= 0; bit--) {
                unsigned int cand = k | (1u << bit);
                double m = 0.0;
                for (int i = tid; i < V; i += blockDim.x) {
                    float e = sample_key(x[i]) >= kkey ? expf(x[i] - mx) : 0.0f;
                    m += sample_key(e) > cand ? (double)e : 0.0;
                }
                if (simple_sum(m, buf) >= pZ) {
                    k = cand;
                }
            }
            pkey = k + 1; // (all the mass lies above key 0, so k is well defined for p <= 1)
        }
        double Z = 0.0;
        for (int i = tid; i < V; i += blockDim.x) {
            float e = sample_key(x[i]) >= kkey ? expf(x[i] - mx) : 0.0f;
            Z += sample_key(e) >= pkey ? (double)e : 0.0;
        }
        Z = simple_sum(Z, buf);
        for (int i = tid; i < V; i += blockDim.x) {
            float e = sample_key(x[i]) >= kkey ? expf(x[i] - mx) : 0.0f;
            x[i] = sample_key(e) >= pkey ? (float)((double)e / Z) : 0.0f;
        }
        __syncthreads();
        if (tid == 0) { // sample_mult, as written in r1.h
            float cdf = 0.0f, coin = coins[s];
            int last = 0, tok = -1;
            for (int i = 0; i < V && tok < 0; i++) {
                if (x[i] > 0.0f) {
                    cdf += x[i];
                    last = i;
                    if (coin < cdf) {
                        tok = i;
                    }
                }
            }
            token_sh = tok >= 0 ? tok : last;
        }
    }
    double sum = 0.0;
    for (int i = tid; i < V; i += blockDim.x) {
        sum += (double)expf((raw[i] - mraw) / T);
    }
    sum = simple_sum(sum, buf); // (its __syncthreads also publishes token_sh)
    if (tid == 0) {
        tokens[s] = token_sh;
        logprobs[s] = (float)((double)raw[token_sh] / T - (double)mraw / T - log(sum));
    }
}

static void sample_tokens_simple(int* tokens, float* logprobs, const float* logits, const float* coins,
                                 const int* history, const int* hist_row, const int* hist_len, int hist_stride,
                                 SamplingConfig cfg, int nseq, int V, float* work, cudaStream_t stream) {
    sample_simple_kernel<<<nseq, SIMPLE_THREADS, 0, stream>>>(tokens, logprobs, logits, coins, history, hist_row,
                                                              hist_len, hist_stride, cfg, V, work);
    cudaCheck(cudaGetLastError());
}

// ----------------------------------------------------------------------------
// driver

typedef struct {
    int nseq, V, hist_stride;
    float *logits, *coins;         // host
    int *history, *hist_row, *hist_len;
    float *d_logits, *d_coins, *d_work, *d_logprobs;
    int *d_history, *d_hist_row, *d_hist_len, *d_tokens;
    void* d_scratch;
} Bench;

static void run_version(Bench* b, int version, SamplingConfig cfg, cudaStream_t stream) {
    if (version == 1) {
        sample_tokens_simple(b->d_tokens, b->d_logprobs, b->d_logits, b->d_coins, b->d_history, b->d_hist_row,
                             b->d_hist_len, b->hist_stride, cfg, b->nseq, b->V, b->d_work, stream);
    } else {
        sample_tokens_gpu(b->d_tokens, b->d_logprobs, b->d_logits, b->d_coins, b->d_history, b->d_hist_row, b->d_hist_len,
                          b->hist_stride, cfg, b->nseq, b->V, b->d_scratch, stream);
    }
}

// Tokens against the CPU on the first ncheck rows: equal, or differing (near-ties included); the
// largest log-prob difference where the tokens agree.
static void validate(Bench* b, int version, const char* name, SamplingConfig cfg, int ncheck) {
    run_version(b, version, cfg, 0);
    cudaCheck(cudaDeviceSynchronize());
    int* tokens = (int*)malloc_check(b->nseq * sizeof(int));
    float* logprobs = (float*)malloc_check(b->nseq * sizeof(float));
    cudaCheck(cudaMemcpy(tokens, b->d_tokens, b->nseq * sizeof(int), cudaMemcpyDeviceToHost));
    cudaCheck(cudaMemcpy(logprobs, b->d_logprobs, b->nseq * sizeof(float), cudaMemcpyDeviceToHost));
    Sampler smp;
    sampler_init(&smp, b->V);
    int equal = 0;
    double lp_err = 0.0;
    for (int s = 0; s < ncheck; s++) {
        float lp;
        int cpu = sample_token_coin(&smp, b->logits + (size_t)s * b->V, &cfg, b->history + (size_t)b->hist_row[s] * b->hist_stride,
                             b->hist_len[s], b->coins[s], &lp);
        if (cpu == tokens[s]) {
            equal++;
            lp_err = fmax(lp_err, fabs(lp - logprobs[s]));
        }
    }
    printf("version %d %-36s %3d/%d tokens equal to the CPU's (others: near-ties), log-prob max diff %.2e\n", version, name,
           equal, ncheck, lp_err);
    sampler_free(&smp);
    free(tokens), free(logprobs);
}

static void benchmark(Bench* b, int version, const char* name, SamplingConfig cfg, int repeats) {
    cudaEvent_t start, stop;
    cudaCheck(cudaEventCreate(&start));
    cudaCheck(cudaEventCreate(&stop));
    run_version(b, version, cfg, 0); // warm-up
    cudaCheck(cudaEventRecord(start, 0));
    for (int r = 0; r < repeats; r++) {
        run_version(b, version, cfg, 0);
    }
    cudaCheck(cudaEventRecord(stop, 0));
    cudaCheck(cudaEventSynchronize(stop));
    float ms = 0.0f;
    cudaCheck(cudaEventElapsedTime(&ms, start, stop));
    ms /= repeats;
    double gb = (double)b->nseq * b->V * sizeof(float) / 1e9; // one read of the logits
    printf("version %d %-36s nseq %d V %d: %8.3f ms (%.0f GB/s per read of the logits)\n", version, name, b->nseq, b->V, ms,
           gb / (ms / 1e3));
    cudaCheck(cudaEventDestroy(start));
    cudaCheck(cudaEventDestroy(stop));
}

int main(int argc, char** argv) {
    int only = argc > 1 ? atoi(argv[1]) : 0;
    int n_dev = 0;
    if (cudaGetDeviceCount(&n_dev) != cudaSuccess || n_dev == 0) {
        printf("sampling: no CUDA device on this machine\n");
        return 0;
    }
    cudaDeviceProp prop;
    cudaCheck(cudaGetDeviceProperties(&prop, 0));
    printf("device: %s\n", prop.name);
    Bench b;
    b.nseq = 256, b.V = 151936, b.hist_stride = 512;
    size_t n = (size_t)b.nseq * b.V;
    uint64_t rng = rng_seed(42);
    b.logits = (float*)malloc_check(n * sizeof(float));
    for (size_t i = 0; i < n; i++) { // about the spread of real LM logits
        b.logits[i] = 3.0f * random_normal(&rng);
    }
    b.coins = (float*)malloc_check(b.nseq * sizeof(float));
    b.history = (int*)malloc_check((size_t)b.nseq * b.hist_stride * sizeof(int));
    b.hist_row = (int*)malloc_check(b.nseq * sizeof(int));
    b.hist_len = (int*)malloc_check(b.nseq * sizeof(int));
    for (int s = 0; s < b.nseq; s++) {
        b.coins[s] = random_f32(&rng);
        b.hist_row[s] = b.nseq - 1 - s;
        b.hist_len[s] = b.hist_stride;
    }
    for (int i = 0; i < b.nseq * b.hist_stride; i++) {
        b.history[i] = (int)(random_u32(&rng) % (uint32_t)b.V);
    }
    b.d_logits = (float*)cuda_malloc_check(n * sizeof(float), "logits");
    b.d_work = (float*)cuda_malloc_check(n * sizeof(float), "version 1's rows");
    b.d_coins = (float*)cuda_malloc_check(b.nseq * sizeof(float), "coins");
    b.d_logprobs = (float*)cuda_malloc_check(b.nseq * sizeof(float), "log-probs");
    b.d_tokens = (int*)cuda_malloc_check(b.nseq * sizeof(int), "tokens");
    b.d_history = (int*)cuda_malloc_check((size_t)b.nseq * b.hist_stride * sizeof(int), "history");
    b.d_hist_row = (int*)cuda_malloc_check(b.nseq * sizeof(int), "hist_row");
    b.d_hist_len = (int*)cuda_malloc_check(b.nseq * sizeof(int), "hist_len");
    b.d_scratch = cuda_malloc_check(sample_scratch_bytes(b.nseq, b.V), "scratch");
    cudaCheck(cudaMemcpy(b.d_logits, b.logits, n * sizeof(float), cudaMemcpyHostToDevice));
    cudaCheck(cudaMemcpy(b.d_coins, b.coins, b.nseq * sizeof(float), cudaMemcpyHostToDevice));
    cudaCheck(cudaMemcpy(b.d_history, b.history, (size_t)b.nseq * b.hist_stride * sizeof(int), cudaMemcpyHostToDevice));
    cudaCheck(cudaMemcpy(b.d_hist_row, b.hist_row, b.nseq * sizeof(int), cudaMemcpyHostToDevice));
    cudaCheck(cudaMemcpy(b.d_hist_len, b.hist_len, b.nseq * sizeof(int), cudaMemcpyHostToDevice));

    const char* names[3] = {"greedy", "T1 top-p0.95", "T1 top-k50 top-p0.95 rep1.1"};
    SamplingConfig cfgs[3] = {{0.0f, 0, 1.0f, 1.0f}, {1.0f, 0, 0.95f, 1.0f}, {1.0f, 50, 0.95f, 1.1f}};
    for (int v = 1; v <= 2; v++) {
        if (only && v != only) {
            continue;
        }
        for (int c = 0; c < 3; c++) {
            validate(&b, v, names[c], cfgs[c], 32);
        }
    }
    for (int v = 1; v <= 2; v++) {
        if (only && v != only) {
            continue;
        }
        for (int c = 0; c < 3; c++) {
            benchmark(&b, v, names[c], cfgs[c], v == 1 ? 3 : 20);
        }
    }
    cudaCheck(cudaFree(b.d_logits)), cudaCheck(cudaFree(b.d_work)), cudaCheck(cudaFree(b.d_coins));
    cudaCheck(cudaFree(b.d_logprobs)), cudaCheck(cudaFree(b.d_tokens)), cudaCheck(cudaFree(b.d_history));
    cudaCheck(cudaFree(b.d_hist_row)), cudaCheck(cudaFree(b.d_hist_len)), cudaCheck(cudaFree(b.d_scratch));
    free(b.logits), free(b.coins), free(b.history), free(b.hist_row), free(b.hist_len);
    return 0;
}

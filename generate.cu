/*
generate: sampling completions from a Qwen2.5 model folder.

    ./generate --model Qwen2.5-0.5B-Instruct --prompts prompts.jsonl --out completions.jsonl -n 4
    ./generate --model DIR --prompts ../shared/data/math500/test.jsonl --preset boxed --out math.jsonl
    ./generate --model DIR --interactive

Prompts: one JSON object per line, {"prompt": "..."} or {"messages": [{"role", "content"}...]} (a
final assistant message is continued, e.g. a prefilled "<think>"); benchmark rows work too
("problem" / "question", or Countdown's "nums" + "target", filled into --preset's template).
Output: one line per completion, {"idx": row, "sample": k, "completion": text, "tokens": n,
"finish": "stop"|"length"}, in order, which ./eval --completions reads.

This is the first layer of the GPU program (generate.cu ⊂ train_sft.cu ⊂ train_grpo.cu). The
scheduler is r1.h's generate_batch_engine (KV cache slots, continuous batching over --slots
sequences, stop rules, budget forcing, streaming); under it runs an engine, one step of the model
and a sampled token per sequence. Built with nvcc and run where a CUDA device is present, the engine
is the GPU one below (bf16 weights, KV cache and activations, fp32 logits and sampling; decode steps
replayed from a CUDA graph); with --cpu, with no device, or built as plain C (gcc -x c), it is r1.h's
CPU engine, with the same output for greedy decoding up to bf16 rounding. The rest of this file
parses the flags, reads the prompts, and writes the completions. For a benchmark of generation
throughput against transformers, see dev/bench/bench_generate.py (with --ignore-eos).
*/
#include "r1.h"
#ifdef __CUDACC__
#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <cublas_v2.h>
#include <cublasLt.h>

// ----------------------------------------------------------------------------
// GPU: precision, error checks, device memory
// The GPU path keeps weights, activations and the KV cache in floatX: bf16, or fp32 in the
// PRECISION=FP32 build (make PRECISION=FP32), which the kernel tests use to compare with r1.h's fp32
// twins at about 1e-5. Sums, softmax statistics, RMSNorm's statistic, logits and log-probs are fp32
// in both builds.

#ifdef ENABLE_FP32
typedef float floatX;
#define PRECISION_NAME "fp32"
#else
typedef __nv_bfloat16 floatX;
#define PRECISION_NAME "bf16"
#endif

static void cuda_check(cudaError_t err, const char* file, int line) {
    if (err != cudaSuccess) {
        fatal("CUDA error at %s:%d: %s", file, line, cudaGetErrorString(err));
    }
}
#define cudaCheck(err) (cuda_check((err), __FILE__, __LINE__))

static void cublas_check(cublasStatus_t status, const char* file, int line) {
    if (status != CUBLAS_STATUS_SUCCESS) {
        fatal("cuBLAS error %d at %s:%d", (int)status, file, line);
    }
}
#define cublasCheck(status) (cublas_check((status), __FILE__, __LINE__))

// Device memory with a named failure: what was asked, what is free, and the fix.
static void* cuda_malloc_check(size_t bytes, const char* what) {
    void* p = NULL;
    if (cudaMalloc(&p, bytes) != cudaSuccess) {
        cudaGetLastError(); // clear the error so later calls do not report it again
        size_t free_b = 0, total_b = 0;
        cudaMemGetInfo(&free_b, &total_b);
        fatal("out of GPU memory allocating %s: %.2f GiB needed, %.2f GiB free of %.2f GiB; use fewer --slots, a "
              "shorter --max-len, or a smaller model",
              what, bytes / 1073741824.0, free_b / 1073741824.0, total_b / 1073741824.0);
    }
    return p;
}

static inline int ceil_div(int a, int b) { return (a + b - 1) / b; }

// float <-> floatX on the device
__device__ __forceinline__ float to_float(float x) { return x; }
__device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ floatX from_float(float x) { return (floatX)x; }

// ----------------------------------------------------------------------------
// GPU: layer kernels (twins of r1.h's embedding_forward, rmsnorm_forward, matmul_forward,
// rope_forward, swiglu_forward, residual_forward)
// Each kernel computes what its r1.h twin computes, in the same order of operations where that
// matters (RMSNorm's statistic, RoPE's angles, SiLU), with floatX storage and fp32 arithmetic.
// Elementwise kernels move 16 bytes at a time (a PackX: 8 bf16 or 4 fp32) when the row length and the
// pointers allow it, and one element at a time otherwise, so any size works. The matmuls go to
// cuBLASLt with fp32 accumulation and the bias added in its epilogue. Launchers never synchronise,
// allocate or copy to the host: the engine captures whole decode steps in a CUDA graph.

#ifdef ENABLE_FP32
#define CUDA_R_FLOATX CUDA_R_32F
#else
#define CUDA_R_FLOATX CUDA_R_16BF
#endif

#define PACKX ((int)(16 / sizeof(floatX))) // floatX elements in one 16-byte load
struct alignas(16) PackX {
    floatX v[16 / sizeof(floatX)];
};

__device__ __forceinline__ PackX load_packx(const floatX* p) { // p: 16-byte aligned
    PackX x;
    *reinterpret_cast<int4*>(&x) = *reinterpret_cast<const int4*>(p);
    return x;
}

__device__ __forceinline__ void store_packx(floatX* p, const PackX& x) {
    *reinterpret_cast<int4*>(p) = *reinterpret_cast<const int4*>(&x);
}

static inline int is_aligned16(const void* p) { return ((uintptr_t)p & 15) == 0; }

// Blocks for a grid-stride loop over n items of `threads` threads each: one item per thread up to a
// grid that fills any GPU many times over; bigger inputs loop.
static inline unsigned int grid_blocks(size_t n, int threads) {
    size_t b = (n + (size_t)threads - 1) / (size_t)threads;
    return (unsigned int)(b < 1 ? 1 : b > 65536 ? 65536 : b);
}

// --- embedding (and any row gather) ---

// out[i] = embed[ids[i]], one block per row. The GPU cannot stop with fatal() as r1.h does on an id
// outside the vocabulary, so that row becomes NaN instead, which the logits then show (the engine
// checks the ids on the host first). gpu_forward_cached also uses it to gather rows of x.
template <bool VEC>
__global__ void embedding_forward_kernel(floatX* out,         // (N, C)
                                         const int* ids,      // (N)
                                         const floatX* embed, // (V, C)
                                         int C, int V) {
    floatX* o = out + (size_t)blockIdx.x * C;
    int id = ids[blockIdx.x];
    if (id < 0 || id >= V) {
        for (int j = threadIdx.x; j < C; j += blockDim.x) {
            o[j] = from_float(NAN);
        }
        return;
    }
    const floatX* e = embed + (size_t)id * C;
    if (VEC) { // C % PACKX == 0
        for (int j = threadIdx.x * PACKX; j < C; j += blockDim.x * PACKX) {
            store_packx(o + j, load_packx(e + j));
        }
    } else {
        for (int j = threadIdx.x; j < C; j += blockDim.x) {
            o[j] = e[j];
        }
    }
}

static void embedding_forward_gpu(floatX* out,         // (N, C)
                                  const int* ids,      // (N) device
                                  const floatX* embed, // (V, C)
                                  int N, int C, int V, cudaStream_t stream) {
    if (N <= 0) {
        return;
    }
    if (C % PACKX == 0 && is_aligned16(out) && is_aligned16(embed)) {
        embedding_forward_kernel<true><<<N, 128, 0, stream>>>(out, ids, embed, C, V);
    } else {
        embedding_forward_kernel<false><<<N, 128, 0, stream>>>(out, ids, embed, C, V);
    }
    cudaCheck(cudaGetLastError());
}

// --- RMSNorm ---

// One warp per row: the sum of squares in fp32 across the lanes, then out = weight * (x * rstd) with
// rstd = 1 / sqrt(mean(x^2) + eps), in r1.h's order (x scaled first, the weight applied after).
template <bool VEC>
__global__ void rmsnorm_forward_kernel(floatX* out,          // (N, C)
                                       float* rstd,          // (N) or NULL
                                       const floatX* inp,    // (N, C)
                                       const floatX* weight, // (C)
                                       int N, int C, float eps) {
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (row >= N) { // the whole warp leaves together: the shuffles below see all 32 lanes
        return;
    }
    const floatX* x = inp + (size_t)row * C;
    floatX* o = out + (size_t)row * C;
    float ss = 0.0f;
    if (VEC) { // C % PACKX == 0
        for (int j = lane * PACKX; j < C; j += 32 * PACKX) {
            PackX p = load_packx(x + j);
#pragma unroll
            for (int k = 0; k < PACKX; k++) {
                float v = to_float(p.v[k]);
                ss += v * v;
            }
        }
    } else {
        for (int j = lane; j < C; j += 32) {
            float v = to_float(x[j]);
            ss += v * v;
        }
    }
    for (int off = 16; off > 0; off /= 2) {
        ss += __shfl_xor_sync(0xffffffffu, ss, off);
    }
    float r = 1.0f / sqrtf(ss / C + eps);
    if (VEC) {
        for (int j = lane * PACKX; j < C; j += 32 * PACKX) {
            PackX p = load_packx(x + j), w = load_packx(weight + j), q;
#pragma unroll
            for (int k = 0; k < PACKX; k++) {
                q.v[k] = from_float(to_float(w.v[k]) * (to_float(p.v[k]) * r));
            }
            store_packx(o + j, q);
        }
    } else {
        for (int j = lane; j < C; j += 32) {
            o[j] = from_float(to_float(weight[j]) * (to_float(x[j]) * r));
        }
    }
    if (lane == 0 && rstd) {
        rstd[row] = r;
    }
}

static void rmsnorm_forward_gpu(floatX* out,          // (N, C)
                                float* rstd,          // (N) or NULL
                                const floatX* inp,    // (N, C)
                                const floatX* weight, // (C)
                                int N, int C, float eps, cudaStream_t stream) {
    if (N <= 0) {
        return;
    }
    const int threads = 256, blocks = ceil_div(N, threads / 32); // a warp per row
    if (C % PACKX == 0 && is_aligned16(out) && is_aligned16(inp) && is_aligned16(weight)) {
        rmsnorm_forward_kernel<true><<<blocks, threads, 0, stream>>>(out, rstd, inp, weight, N, C, eps);
    } else {
        rmsnorm_forward_kernel<false><<<blocks, threads, 0, stream>>>(out, rstd, inp, weight, N, C, eps);
    }
    cudaCheck(cudaGetLastError());
}

// --- matmul: cuBLASLt ---

// One handle and one workspace per host thread: with several GPUs (train_sft.cu's dist_run) each GPU
// has its own thread, and a handle and a workspace belong to the device they were created on.
// cudaMalloc is not allowed while a stream is being captured into a CUDA graph, so matmul_init runs
// before any capture (gpu_model_from_host calls it); later calls do nothing. The workspace serves one
// stream at a time, as the engine runs one.
#define CUBLASLT_WORKSPACE_BYTES ((size_t)32 << 20)
static thread_local cublasLtHandle_t cublaslt_handle = NULL;
static thread_local void* cublaslt_workspace = NULL; // (32 MiB) scratch of the split-k algorithms

static void matmul_init(void) {
    if (cublaslt_handle) {
        return;
    }
    cublasCheck(cublasLtCreate(&cublaslt_handle));
    cublaslt_workspace = cuda_malloc_check(CUBLASLT_WORKSPACE_BYTES, "the cuBLASLt workspace (32 MiB)");
}

// The largest power of two, at most 256, that divides the address: what cuBLASLt may assume about it
// (it assumes 256 unless told; per-layer slices of the stacked weights are often less aligned).
static uint32_t pointer_alignment(const void* p) {
    uint32_t a = 256;
    while (a > 1 && (uintptr_t)p % a != 0) {
        a /= 2;
    }
    return a;
}

// cuBLASLt's algorithm for each matmul shape (and pointer alignments), asked for once. cuBLASLt 13.x
// fails cublasLtMatmulAlgoGetHeuristic (CUBLAS_STATUS_INTERNAL_ERROR, "Could not obtain green context
// information") while the stream is being captured into a CUDA graph, so a captured step must find its
// algorithms here, put there by the same step run uncaptured just before (gpu_gen_graph_step does).
// The heuristic is deterministic per shape: the cache changes no result. Oldest entries are replaced.
typedef struct {
    int N, C, OC, out_type;
    uint32_t align[4]; // of weight, inp, out (C and D), bias (0: no bias)
    cublasLtMatmulAlgo_t algo;
} MatmulAlgoEntry;
#define MATMUL_ALGO_CACHE 512
static thread_local MatmulAlgoEntry matmul_algo_cache[MATMUL_ALGO_CACHE]; // per thread, as the handle
static thread_local int matmul_algo_count = 0, matmul_algo_next = 0;

static const cublasLtMatmulAlgo_t* matmul_algo_find(const MatmulAlgoEntry* key) {
    for (int i = 0; i < matmul_algo_count; i++) {
        const MatmulAlgoEntry* e = &matmul_algo_cache[i];
        if (e->N == key->N && e->C == key->C && e->OC == key->OC && e->out_type == key->out_type &&
            memcmp(e->align, key->align, sizeof(key->align)) == 0) {
            return &e->algo;
        }
    }
    return NULL;
}

// out (N, OC) = inp (N, C) . weight (OC, C)^T [+ bias], fp32 accumulation. cuBLASLt is column-major,
// and a row-major (R, K) array is the column-major (K, R) one, so we ask for
//     out^T (OC, N) = op(W) . inp^T   with W the weight as stored, column-major (C, OC), op = T,
// i.e. m = OC, n = N, k = C, every leading dimension the row length. The bias (OC) runs along m, the
// dimension the BIAS epilogue adds it along; its type is D's (floatX here).
static void matmul_cublaslt(void* out, cudaDataType_t out_type, // (N, OC)
                            const floatX* inp,                  // (N, C)
                            const floatX* weight,               // (OC, C)
                            const floatX* bias,                 // (OC) or NULL; only when out is floatX
                            int N, int C, int OC, cudaStream_t stream) {
    if (!cublaslt_handle) {
        cudaStreamCaptureStatus capturing;
        cudaCheck(cudaStreamIsCapturing(stream, &capturing));
        if (capturing != cudaStreamCaptureStatusNone) {
            fatal("matmul_forward_gpu: cuBLASLt is not set up; call matmul_init() before capturing a CUDA graph");
        }
        matmul_init();
    }
    cublasLtMatmulDesc_t desc;
    cublasCheck(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    cublasOperation_t op_t = CUBLAS_OP_T, op_n = CUBLAS_OP_N;
    cublasCheck(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_t, sizeof(op_t)));
    cublasCheck(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_n, sizeof(op_n)));
    if (bias) {
        cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
        cublasCheck(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)));
        cublasCheck(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)));
    }
    cublasLtMatrixLayout_t la, lb, ld;
    cublasCheck(cublasLtMatrixLayoutCreate(&la, CUDA_R_FLOATX, (uint64_t)C, (uint64_t)OC, C)); // weight
    cublasCheck(cublasLtMatrixLayoutCreate(&lb, CUDA_R_FLOATX, (uint64_t)C, (uint64_t)N, C));  // inp
    cublasCheck(cublasLtMatrixLayoutCreate(&ld, out_type, (uint64_t)OC, (uint64_t)N, OC));     // out (C and D)
    cublasLtMatmulPreference_t pref;
    cublasCheck(cublasLtMatmulPreferenceCreate(&pref));
    uint64_t ws = CUBLASLT_WORKSPACE_BYTES;
    cublasCheck(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
    const cublasLtMatmulPreferenceAttributes_t align_attr[4] = {
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
    const void* align_of[4] = {weight, inp, out, out};
    for (int k = 0; k < 4; k++) {
        uint32_t align = pointer_alignment(align_of[k]);
        cublasCheck(cublasLtMatmulPreferenceSetAttribute(pref, align_attr[k], &align, sizeof(align)));
    }
    MatmulAlgoEntry key;
    memset(&key, 0, sizeof(key));
    key.N = N, key.C = C, key.OC = OC, key.out_type = (int)out_type;
    for (int k = 0; k < 4; k++) {
        key.align[k] = k < 3 ? pointer_alignment(align_of[k]) : bias ? pointer_alignment(bias) : 0;
    }
    const cublasLtMatmulAlgo_t* algo = matmul_algo_find(&key);
    if (!algo) {
        cudaStreamCaptureStatus capturing;
        cudaCheck(cudaStreamIsCapturing(stream, &capturing));
        if (capturing != cudaStreamCaptureStatusNone) {
            fatal("matmul_forward_gpu: no cuBLASLt algorithm chosen yet for N %d, C %d, OC %d while capturing a CUDA "
                  "graph (cuBLASLt cannot choose during a capture): run the same step uncaptured first", N, C, OC);
        }
        cublasLtMatmulHeuristicResult_t heuristic;
        int found = 0;
        cublasStatus_t st =
            cublasLtMatmulAlgoGetHeuristic(cublaslt_handle, desc, la, lb, ld, ld, pref, 1, &heuristic, &found);
        if (st != CUBLAS_STATUS_SUCCESS || found == 0) {
            fatal("cuBLASLt has no algorithm for the matmul (N %d, C %d, OC %d, %s, out %s, bias %s; status %d)", N,
                  C, OC, PRECISION_NAME, out_type == CUDA_R_32F ? "fp32" : "bf16", bias ? "yes" : "no", (int)st);
        }
        key.algo = heuristic.algo;
        MatmulAlgoEntry* e = &matmul_algo_cache[matmul_algo_next];
        *e = key;
        matmul_algo_next = (matmul_algo_next + 1) % MATMUL_ALGO_CACHE;
        matmul_algo_count = matmul_algo_count < MATMUL_ALGO_CACHE ? matmul_algo_count + 1 : MATMUL_ALGO_CACHE;
        algo = &e->algo;
    }
    const float alpha = 1.0f, beta = 0.0f;
    cublasCheck(cublasLtMatmul(cublaslt_handle, desc, &alpha, weight, la, inp, lb, &beta, out, ld, out, ld, algo,
                               cublaslt_workspace, CUBLASLT_WORKSPACE_BYTES, stream));
    cublasCheck(cublasLtMatmulPreferenceDestroy(pref));
    cublasCheck(cublasLtMatrixLayoutDestroy(la));
    cublasCheck(cublasLtMatrixLayoutDestroy(lb));
    cublasCheck(cublasLtMatrixLayoutDestroy(ld));
    cublasCheck(cublasLtMatmulDescDestroy(desc));
}

static void matmul_forward_gpu(floatX* out,          // (N, OC)
                               const floatX* inp,    // (N, C)
                               const floatX* weight, // (OC, C)
                               const floatX* bias,   // (OC) or NULL
                               int N, int C, int OC, cudaStream_t stream) {
    if (N <= 0) {
        return;
    }
    matmul_cublaslt(out, CUDA_R_FLOATX, inp, weight, bias, N, C, OC, stream);
}

// out[i, o] += bias[o]. cuBLASLt's epilogue wants the bias in D's type, which for fp32 logits from
// bf16 weights it is not; the LM head has no bias, so this small pass is only there for completeness.
__global__ void add_bias_f32_kernel(float* out,         // (N, OC)
                                    const floatX* bias, // (OC)
                                    size_t n, int OC) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        out[i] += to_float(bias[i % OC]);
    }
}

// As matmul_forward_gpu with an fp32 output: the LM head, whose logits stay fp32 (sampling and
// log-probs read them).
static void matmul_forward_f32out_gpu(float* out,           // (N, OC) fp32
                                      const floatX* inp,    // (N, C)
                                      const floatX* weight, // (OC, C)
                                      const floatX* bias,   // (OC) or NULL
                                      int N, int C, int OC, cudaStream_t stream) {
    if (N <= 0) {
        return;
    }
    matmul_cublaslt(out, CUDA_R_32F, inp, weight, NULL, N, C, OC, stream);
    if (bias) {
        size_t n = (size_t)N * OC;
        add_bias_f32_kernel<<<grid_blocks(n, 256), 256, 0, stream>>>(out, bias, n, OC);
        cudaCheck(cudaGetLastError());
    }
}

// --- RoPE ---

// One thread per (token, pair j): the angle pos * inv_freq[j] and its cos and sin, computed as r1.h's
// rope_tables does (inv_freq = 1 / theta^(2j/HD) with the exponent in fp32; the power in double and
// rounded, which equals glibc's powf for the Qwen2.5 thetas and head sizes, where the GPU's powf may
// be off by an ulp, that is by radians at far positions; precise cosf / sinf, never __cosf), then
// applied to the pair (j, j + HD/2) of every head of that token.
__global__ void rope_forward_kernel(floatX* x,      // (N, NHX, HD) in place
                                    const int* pos, // (N)
                                    int N, int NHX, int HD, float theta) {
    int half = HD / 2;
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)N * half) {
        return;
    }
    int i = (int)(idx / half), j = (int)(idx % half);
    float inv_freq = 1.0f / (float)pow((double)theta, (double)((float)(2 * j) / (float)HD));
    float angle = (float)pos[i] * inv_freq;
    float c = cosf(angle), s = sinf(angle);
    for (int h = 0; h < NHX; h++) {
        floatX* x1 = x + ((size_t)i * NHX + h) * HD + j; // x2 = x1 + half
        float a = to_float(x1[0]), b = to_float(x1[half]);
        x1[0] = from_float(a * c - b * s);
        x1[half] = from_float(b * c + a * s);
    }
}

static void rope_forward_gpu(floatX* x,      // (N, NHX, HD) in place; NHX = NH for q, NKV for k
                             const int* pos, // (N) device
                             int N, int NHX, int HD, float theta, cudaStream_t stream) {
    if (HD % 2 != 0) {
        fatal("rope_forward_gpu: head_dim %d is odd (RoPE rotates pairs of dimensions)", HD);
    }
    if (N <= 0) {
        return;
    }
    size_t n = (size_t)N * (HD / 2);
    rope_forward_kernel<<<(unsigned int)((n + 255) / 256), 256, 0, stream>>>(x, pos, N, NHX, HD, theta);
    cudaCheck(cudaGetLastError());
}

// --- SwiGLU and the residual ---

// out = silu(gate) * up, silu(g) = g / (1 + exp(-g)) as r1.h (precise expf).
template <bool VEC>
__global__ void swiglu_forward_kernel(floatX* out,        // (n)
                                      const floatX* gate, // (n)
                                      const floatX* up,   // (n)
                                      size_t n) {
    size_t stride = (size_t)gridDim.x * blockDim.x;
    size_t t = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (VEC) { // n % PACKX == 0
        for (size_t i = t * PACKX; i < n; i += stride * PACKX) {
            PackX g = load_packx(gate + i), u = load_packx(up + i), o;
#pragma unroll
            for (int k = 0; k < PACKX; k++) {
                float gk = to_float(g.v[k]);
                o.v[k] = from_float(gk / (1.0f + expf(-gk)) * to_float(u.v[k]));
            }
            store_packx(out + i, o);
        }
    } else {
        for (size_t i = t; i < n; i += stride) {
            float g = to_float(gate[i]);
            out[i] = from_float(g / (1.0f + expf(-g)) * to_float(up[i]));
        }
    }
}

static void swiglu_forward_gpu(floatX* out,        // (N, I)
                               const floatX* gate, // (N, I)
                               const floatX* up,   // (N, I)
                               size_t n, cudaStream_t stream) {
    if (n == 0) {
        return;
    }
    if (n % PACKX == 0 && is_aligned16(out) && is_aligned16(gate) && is_aligned16(up)) {
        swiglu_forward_kernel<true><<<grid_blocks(n / PACKX, 256), 256, 0, stream>>>(out, gate, up, n);
    } else {
        swiglu_forward_kernel<false><<<grid_blocks(n, 256), 256, 0, stream>>>(out, gate, up, n);
    }
    cudaCheck(cudaGetLastError());
}

// out = a + b (out may be a: the residual stream updated in place).
template <bool VEC>
__global__ void residual_forward_kernel(floatX* out,     // (n)
                                        const floatX* a, // (n)
                                        const floatX* b, // (n)
                                        size_t n) {
    size_t stride = (size_t)gridDim.x * blockDim.x;
    size_t t = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (VEC) { // n % PACKX == 0
        for (size_t i = t * PACKX; i < n; i += stride * PACKX) {
            PackX pa = load_packx(a + i), pb = load_packx(b + i), o;
#pragma unroll
            for (int k = 0; k < PACKX; k++) {
                o.v[k] = from_float(to_float(pa.v[k]) + to_float(pb.v[k]));
            }
            store_packx(out + i, o);
        }
    } else {
        for (size_t i = t; i < n; i += stride) {
            out[i] = from_float(to_float(a[i]) + to_float(b[i]));
        }
    }
}

static void residual_forward_gpu(floatX* out,     // (N, C)
                                 const floatX* a, // (N, C)
                                 const floatX* b, // (N, C)
                                 size_t n, cudaStream_t stream) {
    if (n == 0) {
        return;
    }
    if (n % PACKX == 0 && is_aligned16(out) && is_aligned16(a) && is_aligned16(b)) {
        residual_forward_kernel<true><<<grid_blocks(n / PACKX, 256), 256, 0, stream>>>(out, a, b, n);
    } else {
        residual_forward_kernel<false><<<grid_blocks(n, 256), 256, 0, stream>>>(out, a, b, n);
    }
    cudaCheck(cudaGetLastError());
}

// --- the KV cache: storing the new tokens' keys and values ---

// One thread per PackX (or element) of a new token's key and value row: row i goes to position
// pos[i] of slot slot[i].
template <bool VEC>
__global__ void kvcache_store_kernel(floatX* kc, floatX* vc,             // (slots, max_len, NKV, HD) one layer
                                     const floatX* kn, const floatX* vn, // (N, NKV, HD)
                                     const int* slot, const int* pos,    // (N)
                                     int N, int KVD, int max_len) {
    int width = VEC ? PACKX : 1;
    int per_row = KVD / width; // VEC: KVD % PACKX == 0
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)N * per_row) {
        return;
    }
    int i = (int)(idx / per_row), e = (int)(idx % per_row) * width;
    size_t at = ((size_t)slot[i] * max_len + pos[i]) * KVD + e;
    size_t from = (size_t)i * KVD + e;
    if (VEC) {
        store_packx(kc + at, load_packx(kn + from));
        store_packx(vc + at, load_packx(vn + from));
    } else {
        kc[at] = kn[from];
        vc[at] = vn[from];
    }
}

static void kvcache_store_gpu(floatX* kc, floatX* vc,             // (slots, max_len, NKV, HD) one layer
                              const floatX* kn, const floatX* vn, // (N, NKV, HD)
                              const int* slot, const int* pos,    // (N) device
                              int N, int KVD, int max_len, cudaStream_t stream) {
    if (N <= 0) {
        return;
    }
    int vec = KVD % PACKX == 0 && is_aligned16(kc) && is_aligned16(vc) && is_aligned16(kn) && is_aligned16(vn);
    size_t n = (size_t)N * (vec ? KVD / PACKX : KVD);
    unsigned int blocks = (unsigned int)((n + 255) / 256);
    if (vec) {
        kvcache_store_kernel<true><<<blocks, 256, 0, stream>>>(kc, vc, kn, vn, slot, pos, N, KVD, max_len);
    } else {
        kvcache_store_kernel<false><<<blocks, 256, 0, stream>>>(kc, vc, kn, vn, slot, pos, N, KVD, max_len);
    }
    cudaCheck(cudaGetLastError());
}

// ----------------------------------------------------------------------------
// GPU: attention over the KV cache (twin of r1.h's attention_cached_forward)
// Token i (slot slot[i], position pos[i]) attends to the cached keys 0..pos[i] of its slot; the step's
// own keys were stored first. Two kernels share the work, chosen per token on the device so any mix
// of sequences in a step is right, and the launch shape depends only on host-known numbers (N,
// max_len, max_new), so a decode step can be captured in a CUDA graph:
// - decode kernel (flash-decoding): every token that is alone in its step (a sampled token, or a
//   one-token prompt piece). Its keys 0..pos are cut into splits of split_len keys, one block per
//   (token, kv head, split); a block loads each key and value once for all NH/NKV query heads that
//   share that kv head (GQA) and keeps a running max / sum / output per head. Blocks past pos exit
//   at once. A combine kernel merges the splits' partial results (kept in fp32 in the scratch).
// - tile kernel (flash attention): runs of consecutive tokens of one sequence (prompt pieces). A block
//   takes BQ = 32 query tokens of one head and walks the keys in tiles of BK = 32 held in shared
//   memory, with the online softmax, so no (T, T) matrix exists anywhere. A tile of queries that
//   spans several sequences is processed one run at a time (the runs are found from slot/pos).
// Arithmetic is fp32 (expf, not __expf); scores are (q.k) * HD^-0.5 as in r1.h.

#define ATT_THREADS 128    // threads per block, both kernels (4 warps)
#define ATT_BQ 32          // tile kernel: query rows per block (4 threads per row)
#define ATT_BK 32          // tile kernel: keys per shared-memory tile
#define ATT_DTILE 128      // decode kernel: keys per tile (one per thread for the scores)
#define ATT_HG 8           // decode kernel: query heads per register group (more heads: more passes)
#define ATT_SPLIT_KEYS 256 // decode: fewest keys per split...
#define ATT_MAX_SPLITS 16  // ...and most splits (longer contexts get longer splits)

// Splits of the decode kernel: from max_len only, so every step of a run has the same launch shape.
static int attention_num_splits(int max_len) {
    int n = ceil_div(max_len, ATT_SPLIT_KEYS);
    return n < 1 ? 1 : n > ATT_MAX_SPLITS ? ATT_MAX_SPLITS : n;
}

// Keys per split: the splits cover 0..max_len-1, each a whole number of decode tiles.
static int attention_split_len(int max_len) {
    return ceil_div(ceil_div(max_len, attention_num_splits(max_len)), ATT_DTILE) * ATT_DTILE;
}

// fp32 scratch: each split's unnormalised output (N, NH, splits, HD), then its (max, sum) (N, NH, splits, 2).
static size_t attention_scratch_bytes(int N, int NH, int HD, int max_len) {
    return (size_t)N * NH * attention_num_splits(max_len) * (HD + 2) * sizeof(float);
}

// Token i continues the run of token i - 1: same slot, next position.
__device__ __forceinline__ bool attention_continues(const int* slot, const int* pos, int i) {
    return i > 0 && slot[i] == slot[i - 1] && pos[i] == pos[i - 1] + 1;
}

// Token i is a run of one (the decode kernel's); every other token is the tile kernel's. Both kernels
// evaluate exactly this, so each token is written once.
__device__ __forceinline__ bool attention_single(const int* slot, const int* pos, int i, int N) {
    return !attention_continues(slot, pos, i) && !(i + 1 < N && attention_continues(slot, pos, i + 1));
}

// --- decode: flash-decoding over splits of the cache, GQA heads together ---

// One block per (token i, kv head, split). Per tile of ATT_DTILE keys: scores (thread t <-> key t, all
// heads of the group from the same key row), then per head the tile max, the rescale of the running sum
// and output, and p = exp(s - max); then out += p v (thread <-> (16 bytes of a value row, every KG-th
// key), reduced over the key groups at the end). With one split the block writes the final output.
template <int HD>
__global__ void __launch_bounds__(ATT_THREADS)
    attention_decode_kernel(floatX* out,         // (N, NH, HD) when nsplit == 1
                            float* part_out,     // (N, NH, nsplit, HD) when nsplit > 1
                            float* part_ml,      // (N, NH, nsplit, 2): running max, sum
                            const floatX* q,     // (N, NH, HD)
                            const floatX* kc,    // (slots, max_len, NKV, HD)
                            const floatX* vc,    // (slots, max_len, NKV, HD)
                            const int* slot,     // (N)
                            const int* pos,      // (N)
                            int N, int NH, int NKV, int max_len, int nsplit, int split_len, int only_single,
                            float scale) {
    constexpr int VEC = PACKX, LR = HD / VEC, KG = ATT_THREADS / LR, NWARP = ATT_THREADS / 32;
    __shared__ __align__(16) float qs[ATT_HG * HD];     // the group's queries
    __shared__ float sc[ATT_HG][ATT_DTILE];             // scores, then probabilities, of one tile
    __shared__ __align__(16) float red[NWARP][ATT_HG * HD]; // per-warp outputs, summed at the end
    __shared__ float m_s[ATT_HG], l_s[ATT_HG], corr_s[ATT_HG];
    const int i = blockIdx.x, kvh = blockIdx.y, split = blockIdx.z;
    const int t = threadIdx.x, lane = t & 31, warp = t >> 5, dv = t % LR, kg = t / LR;
    if (only_single && !attention_single(slot, pos, i, N)) {
        return; // part of a prompt run: the tile kernel's
    }
    const int len = pos[i] + 1, c0 = split * split_len;
    if (c0 >= len) {
        return; // this split lies past the token's keys (the combine reads only the splits below len)
    }
    const int c1 = min(c0 + split_len, len), G = NH / NKV;
    const size_t KVD = (size_t)NKV * HD;
    const floatX* kbase = kc + (size_t)slot[i] * max_len * KVD + (size_t)kvh * HD; // key t at kbase + t * KVD
    const floatX* vbase = vc + (size_t)slot[i] * max_len * KVD + (size_t)kvh * HD;
    for (int h0 = 0; h0 < G; h0 += ATT_HG) {
        const int nh = min(ATT_HG, G - h0), hfirst = kvh * G + h0; // query heads hfirst .. hfirst+nh-1
        for (int idx = t; idx < nh * HD; idx += ATT_THREADS) {
            qs[idx] = to_float(q[((size_t)i * NH + hfirst) * HD + idx]);
        }
        if (t < ATT_HG) {
            m_s[t] = -INFINITY, l_s[t] = 0.0f, corr_s[t] = 0.0f;
        }
        float acc[ATT_HG][VEC];
#pragma unroll
        for (int j = 0; j < ATT_HG; j++) {
#pragma unroll
            for (int v = 0; v < VEC; v++) {
                acc[j][v] = 0.0f;
            }
        }
        for (int t0 = c0; t0 < c1; t0 += ATT_DTILE) {
            __syncthreads(); // queries and stats ready; the last tile's probabilities are read
            // scores: thread t <-> key t0 + t, one read of the key row for all nh heads
            int k = t0 + t;
            float s[ATT_HG];
#pragma unroll
            for (int j = 0; j < ATT_HG; j++) {
                s[j] = 0.0f;
            }
            if (k < c1) {
                const floatX* krow = kbase + (size_t)k * KVD;
#pragma unroll
                for (int d = 0; d < HD; d += VEC) {
                    PackX kx = load_packx(krow + d);
#pragma unroll
                    for (int j = 0; j < ATT_HG; j++) {
                        if (j < nh) {
#pragma unroll
                            for (int v = 0; v < VEC; v++) {
                                s[j] += qs[j * HD + d + v] * to_float(kx.v[v]);
                            }
                        }
                    }
                }
            }
#pragma unroll
            for (int j = 0; j < ATT_HG; j++) {
                sc[j][t] = k < c1 ? s[j] * scale : -INFINITY;
            }
            __syncthreads();
            // online softmax, one warp per head: the new max, the factor for what was summed so far
            for (int j = warp; j < nh; j += NWARP) {
                float mx = -INFINITY;
                for (int u = lane; u < ATT_DTILE; u += 32) {
                    mx = fmaxf(mx, sc[j][u]);
                }
                for (int off = 16; off > 0; off >>= 1) {
                    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
                }
                float m_old = m_s[j], m_new = fmaxf(m_old, mx); // finite: the tile has a key below c1
                float sum = 0.0f;
                for (int u = lane; u < ATT_DTILE; u += 32) {
                    float p = expf(sc[j][u] - m_new);
                    sc[j][u] = p;
                    sum += p;
                }
                for (int off = 16; off > 0; off >>= 1) {
                    sum += __shfl_xor_sync(0xffffffffu, sum, off);
                }
                if (lane == 0) {
                    float corr = expf(m_old - m_new); // 0 on the first tile (m_old = -inf)
                    corr_s[j] = corr, l_s[j] = l_s[j] * corr + sum, m_s[j] = m_new;
                }
            }
            __syncthreads();
            // out = out * corr + sum_k p_k v_k: thread <-> 16 bytes of a value row, keys kg, kg + KG, ...
#pragma unroll
            for (int j = 0; j < ATT_HG; j++) {
                if (j < nh) {
                    float corr = corr_s[j];
#pragma unroll
                    for (int v = 0; v < VEC; v++) {
                        acc[j][v] *= corr;
                    }
                }
            }
            int kend = min(t0 + ATT_DTILE, c1);
            for (int kk = t0 + kg; kk < kend; kk += KG) {
                PackX vx = load_packx(vbase + (size_t)kk * KVD + dv * VEC);
#pragma unroll
                for (int j = 0; j < ATT_HG; j++) {
                    if (j < nh) {
                        float p = sc[j][kk - t0];
#pragma unroll
                        for (int v = 0; v < VEC; v++) {
                            acc[j][v] += p * to_float(vx.v[v]);
                        }
                    }
                }
            }
        }
        // sum over the key groups: in a warp, lanes that differ in the bits above log2(LR) hold the same
        // dims of different keys; then across the warps through shared memory
#pragma unroll
        for (int off = LR; off < 32; off <<= 1) {
#pragma unroll
            for (int j = 0; j < ATT_HG; j++) {
#pragma unroll
                for (int v = 0; v < VEC; v++) {
                    acc[j][v] += __shfl_xor_sync(0xffffffffu, acc[j][v], off);
                }
            }
        }
        if (lane < LR) {
#pragma unroll
            for (int j = 0; j < ATT_HG; j++) {
                if (j < nh) {
#pragma unroll
                    for (int v = 0; v < VEC; v++) {
                        red[warp][j * HD + dv * VEC + v] = acc[j][v];
                    }
                }
            }
        }
        __syncthreads();
        for (int idx = t; idx < nh * HD; idx += ATT_THREADS) {
            int j = idx / HD, d = idx % HD;
            float o = 0.0f;
#pragma unroll
            for (int w = 0; w < NWARP; w++) {
                o += red[w][idx];
            }
            size_t ih = (size_t)i * NH + hfirst + j; // (token, query head)
            if (nsplit == 1) {
                out[ih * HD + d] = from_float(o / l_s[j]);
            } else {
                size_t at = ih * nsplit + split;
                part_out[at * HD + d] = o;
                if (d == 0) {
                    part_ml[2 * at] = m_s[j], part_ml[2 * at + 1] = l_s[j];
                }
            }
        }
        __syncthreads(); // the next head group reuses qs, red and the stats
    }
}

// Merges the decode kernel's splits: out = sum_s exp(m_s - M) o_s / sum_s exp(m_s - M) l_s, M = max m_s,
// over the splits that hold keys of the token (0 .. ceil(len / split_len) - 1). One thread per output.
__global__ void attention_combine_kernel(floatX* out,           // (N, NH, HD)
                                         const float* part_out, // (N, NH, nsplit, HD)
                                         const float* part_ml,  // (N, NH, nsplit, 2)
                                         const int* slot, const int* pos, // (N)
                                         int N, int NH, int HD, int nsplit, int split_len, int only_single) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)N * NH * HD) {
        return;
    }
    size_t ih = idx / HD;
    int d = (int)(idx % HD), i = (int)(ih / NH);
    if (only_single && !attention_single(slot, pos, i, N)) {
        return; // the tile kernel writes this token
    }
    int used = (pos[i] + split_len) / split_len; // splits holding keys 0..pos[i]
    const float* ml = part_ml + ih * nsplit * 2;
    float M = -INFINITY;
    for (int s = 0; s < used; s++) {
        M = fmaxf(M, ml[2 * s]);
    }
    float o = 0.0f, l = 0.0f;
    for (int s = 0; s < used; s++) {
        float w = expf(ml[2 * s] - M);
        l += ml[2 * s + 1] * w;
        o += part_out[(ih * nsplit + s) * HD + d] * w;
    }
    out[idx] = from_float(o / l);
}

// --- prompt runs: flash attention over tiles of queries and keys ---

// Keys (or values) k0 .. k0+ATT_BK-1 of one (slot, kv head) into shared memory as fp32; rows at or past
// kv_end are zeros (the cache there holds older or unwritten data, possibly NaN, which 0 * p would spread).
template <int HD>
__device__ __forceinline__ void attention_load_tile(float (*dst)[HD + 1], const floatX* base, int k0, int kv_end,
                                                    size_t KVD) {
    for (int idx = threadIdx.x; idx < ATT_BK * HD; idx += ATT_THREADS) {
        int c = idx / HD, d = idx % HD;
        dst[c][d] = k0 + c < kv_end ? to_float(base[(size_t)(k0 + c) * KVD + d]) : 0.0f;
    }
}

// One block per (ATT_BQ query tokens, query head). The block walks its tokens run by run (a run:
// consecutive tokens of one sequence; runs of one token are skipped when skip_single, the decode
// kernel has them). For a run of R tokens at positions p0 .. p0+R-1 every key tile 0 .. p0+R-1 is
// loaded once and used by all R rows; row r masks keys past p0 + r. Thread t owns row t / 4 and, of each
// tile, keys (t % 4) + 4j and output dims (t % 4) + 4k (interleaved, so shared memory has no bank
// conflicts: rows are padded to HD + 1 floats).
template <int HD>
__global__ void __launch_bounds__(ATT_THREADS)
    attention_tile_kernel(floatX* out,      // (N, NH, HD)
                          const floatX* q,  // (N, NH, HD)
                          const floatX* kc, // (slots, max_len, NKV, HD)
                          const floatX* vc, // (slots, max_len, NKV, HD)
                          const int* slot,  // (N)
                          const int* pos,   // (N)
                          int N, int NH, int NKV, int max_len, int skip_single, float scale) {
    __shared__ float qs[ATT_BQ][HD + 1];
    __shared__ float kvs[ATT_BK][HD + 1]; // the key tile, then the value tile
    __shared__ float ps[ATT_BQ][ATT_BK + 1];
    const int t = threadIdx.x, r = t >> 2, quarter = t & 3;
    const int h = blockIdx.y, kvh = h / (NH / NKV);
    const size_t KVD = (size_t)NKV * HD;
    const int i0 = blockIdx.x * ATT_BQ, iend = min(i0 + ATT_BQ, N);
    for (int cur = i0, e; cur < iend; cur = e) {
        // the run cur .. e-1 (every thread finds the same one, so the branches below are block-uniform)
        e = cur + 1;
        while (e < iend && attention_continues(slot, pos, e)) {
            e++;
        }
        if (skip_single && e - cur == 1 && attention_single(slot, pos, cur, N)) {
            continue;
        }
        const int rows = e - cur, p0 = pos[cur], kv_end = p0 + rows;
        const int qpos = p0 + min(r, rows - 1); // rows past the run copy the last one (finite, not written)
        const floatX* kbase = kc + (size_t)slot[cur] * max_len * KVD + (size_t)kvh * HD;
        const floatX* vbase = vc + (size_t)slot[cur] * max_len * KVD + (size_t)kvh * HD;
        __syncthreads(); // the previous run's readers of qs and kvs are done
        for (int idx = t; idx < ATT_BQ * HD; idx += ATT_THREADS) {
            int rr = idx / HD, d = idx % HD;
            qs[rr][d] = rr < rows ? to_float(q[((size_t)(cur + rr) * NH + h) * HD + d]) : 0.0f;
        }
        float m = -INFINITY, l = 0.0f, acc[HD / 4];
#pragma unroll
        for (int k = 0; k < HD / 4; k++) {
            acc[k] = 0.0f;
        }
        for (int k0 = 0; k0 < kv_end; k0 += ATT_BK) {
            __syncthreads(); // qs written (first tile); the last tile's values are read
            attention_load_tile<HD>(kvs, kbase, k0, kv_end, KVD);
            __syncthreads();
            float s[ATT_BK / 4], mx = -INFINITY;
#pragma unroll
            for (int j = 0; j < ATT_BK / 4; j++) {
                int c = quarter + 4 * j;
                float dot = 0.0f;
#pragma unroll
                for (int d = 0; d < HD; d++) {
                    dot += qs[r][d] * kvs[c][d];
                }
                s[j] = k0 + c <= qpos ? dot * scale : -INFINITY; // causal
                mx = fmaxf(mx, s[j]);
            }
            // the row's 4 threads are adjacent lanes of one warp
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
            float m_new = fmaxf(m, mx); // finite: key 0 is in the first tile and every row sees it
            float corr = expf(m - m_new), sum = 0.0f;
#pragma unroll
            for (int j = 0; j < ATT_BK / 4; j++) {
                float p = expf(s[j] - m_new);
                ps[r][quarter + 4 * j] = p;
                sum += p;
            }
            sum += __shfl_xor_sync(0xffffffffu, sum, 1);
            sum += __shfl_xor_sync(0xffffffffu, sum, 2);
            l = l * corr + sum, m = m_new;
#pragma unroll
            for (int k = 0; k < HD / 4; k++) {
                acc[k] *= corr;
            }
            __syncthreads(); // every row is done with the keys; ps is complete
            attention_load_tile<HD>(kvs, vbase, k0, kv_end, KVD);
            __syncthreads();
#pragma unroll 4
            for (int c = 0; c < ATT_BK; c++) {
                float p = ps[r][c];
#pragma unroll
                for (int k = 0; k < HD / 4; k++) {
                    acc[k] += p * kvs[c][quarter + 4 * k];
                }
            }
        }
        if (r < rows) {
            floatX* o = out + ((size_t)(cur + r) * NH + h) * HD;
#pragma unroll
            for (int k = 0; k < HD / 4; k++) {
                o[quarter + 4 * k] = from_float(acc[k] / l);
            }
        }
    }
}

// --- launcher ---

template <int HD>
static void attention_cached_launch(floatX* out, const floatX* q, const floatX* kc, const floatX* vc,
                                    const int* slot, const int* pos, int N, int NH, int NKV, int max_len,
                                    int max_new, void* scratch, cudaStream_t stream) {
    float scale = 1.0f / sqrtf((float)HD);
    int nsplit = attention_num_splits(max_len), split_len = attention_split_len(max_len);
    int only_single = max_new > 1; // in a pure decode step every token is the decode kernel's
    float* part_out = (float*)scratch;
    float* part_ml = part_out + (size_t)N * NH * nsplit * HD;
    attention_decode_kernel<HD><<<dim3(N, NKV, nsplit), ATT_THREADS, 0, stream>>>(
        out, part_out, part_ml, q, kc, vc, slot, pos, N, NH, NKV, max_len, nsplit, split_len, only_single, scale);
    if (nsplit > 1) {
        size_t total = (size_t)N * NH * HD;
        attention_combine_kernel<<<(unsigned int)((total + 255) / 256), 256, 0, stream>>>(
            out, part_out, part_ml, slot, pos, N, NH, HD, nsplit, split_len, only_single);
    }
    if (max_new > 1) {
        attention_tile_kernel<HD><<<dim3(ceil_div(N, ATT_BQ), NH), ATT_THREADS, 0, stream>>>(
            out, q, kc, vc, slot, pos, N, NH, NKV, max_len, 1, scale);
    }
}

// Twin of r1.h's attention_cached_forward. max_new: the most new tokens of one sequence in this step
// (1: a pure decode step, no tile kernel). scratch: attention_scratch_bytes(N, NH, HD, max_len) bytes.
static void attention_cached_forward_gpu(floatX* out,      // (N, NH, HD)
                                         const floatX* q,  // (N, NH, HD)
                                         const floatX* kc, // (slots, max_len, NKV, HD) one layer's keys
                                         const floatX* vc, // (slots, max_len, NKV, HD) one layer's values
                                         const int* slot,  // (N)
                                         const int* pos,   // (N)
                                         int N, int NH, int NKV, int HD, int max_len, int max_new, void* scratch,
                                         cudaStream_t stream) {
    if (N <= 0) {
        return;
    }
    if (NKV <= 0 || NH % NKV != 0) {
        fatal("attention_cached_forward_gpu: %d query heads do not split into groups of %d kv heads", NH, NKV);
    }
    if (!is_aligned16(kc) || !is_aligned16(vc)) { // (rows of HD >= 16 keep every row aligned too)
        fatal("attention_cached_forward_gpu: the KV cache must be 16-byte aligned (the decode kernel reads 16 bytes "
              "at a time)");
    }
    if (attention_num_splits(max_len) > 1 && scratch == NULL) {
        fatal("attention_cached_forward_gpu: needs attention_scratch_bytes(N, NH, HD, max_len) bytes of scratch");
    }
    switch (HD) {
    case 16: attention_cached_launch<16>(out, q, kc, vc, slot, pos, N, NH, NKV, max_len, max_new, scratch, stream); break;
    case 32: attention_cached_launch<32>(out, q, kc, vc, slot, pos, N, NH, NKV, max_len, max_new, scratch, stream); break;
    case 64: attention_cached_launch<64>(out, q, kc, vc, slot, pos, N, NH, NKV, max_len, max_new, scratch, stream); break;
    case 128: attention_cached_launch<128>(out, q, kc, vc, slot, pos, N, NH, NKV, max_len, max_new, scratch, stream); break;
    default: fatal("attention_cached_forward_gpu: head_dim %d is not supported (16, 32, 64 or 128)", HD);
    }
    cudaCheck(cudaGetLastError());
}

// ----------------------------------------------------------------------------
// GPU: sampling (twin of r1.h's sample_token)
// One block of 1024 threads per sequence runs sample_token's whole chain on its row of V logits,
// without sorting the row and without writing a processed copy of it: the processed logit
// x_i = penalised(raw_i) / T is recomputed from the raw row on every pass (a pass is one coalesced
// read of the row; the full chain takes about a dozen), and the context's ids are a bitmap of V bits
// in shared memory (19 KB for Qwen2.5's 151,936), so each id is penalised once however often it occurs.
// - top-k: the k-th largest x by radix select. Floats map to 32-bit keys in the same order; 4 passes
//   each count the next 8 bits of the keys that match the bits chosen so far (256 bins) and pick the
//   bin holding the k-th largest. Survivors are x >= that value, ties kept (r1.h's `x < kth` test).
// - top-p: the same radix select over e_i = exp(x_i - max), each bin also summing its mass (64-bit
//   fixed point: integer atomics are exact, so the result is deterministic). It finds the smallest e
//   whose mass strictly above is < p of the total; survivors are e >= it. A tie group straddling the
//   cut is kept whole (r1.h's qsort keeps an arbitrary part of it; with fp32 logits this is rare).
// - draw: sample_mult's walk in index order, found by narrowing: 32 warps sum 32 contiguous pieces,
//   one thread walks the 32 sums to the piece where the cdf passes the coin, and so on down to a
//   strip of 32 that one warp scans. The probabilities are r1.h's formula (e / Z, Z in double; CUDA's
//   expf may differ from the C library's by an ulp), and the cdf adds the same floats in another
//   order, so only a coin within ~1e-6 of a cdf boundary may land on the neighbouring token.

#define SAMPLE_THREADS 1024
#define SAMPLE_WARPS (SAMPLE_THREADS / 32)
#define SAMPLE_SMEM_BITMAP_MAX (40 * 1024) // larger vocabularies keep their bitmap in the scratch memory

static int sample_bitmap_words(int V) { return ceil_div(V, 32); }

// Scratch for sample_tokens_gpu: a bitmap per sequence, used only when V bits do not fit in shared
// memory (V > 327,680); small enough to always allocate.
static size_t sample_scratch_bytes(int nseq, int V) {
    return (size_t)nseq * (size_t)sample_bitmap_words(V) * sizeof(unsigned int);
}

// A key with the order of the floats (a < b <=> key(a) < key(b)): flip all bits of negatives, the
// sign bit of positives. -0 becomes +0 first so equal floats have equal keys.
__device__ __forceinline__ unsigned int sample_key(float x) {
    unsigned int u = __float_as_uint(x == 0.0f ? 0.0f : x);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// One sequence's row and what the chain has found so far (the same in every thread of the block).
struct SampleRow {
    const float* raw;         // (V) this sequence's logits
    const unsigned int* seen; // (ceil(V/32)) bitmap of the context's ids; NULL when there is no penalty
    float penalty;
    float temperature;        // 1 when greedy
    int V;
    float max_x;              // max of x = penalised / T (the top token always survives the filters)
    unsigned int topk_key;    // survivors of top-k: sample_key(x) >= topk_key (0: top-k off)
    unsigned int topp_key;    // survivors of top-p: sample_key(e) >= topp_key (0: top-p off)
    double Z;                 // sum of e over the survivors of both
};

// repetition_penalty_forward on one logit
__device__ __forceinline__ float sample_penalised(const SampleRow& r, int i) {
    float v = r.raw[i];
    if (r.seen && ((r.seen[i >> 5] >> (i & 31)) & 1u)) {
        v = v < 0.0f ? v * r.penalty : v / r.penalty;
    }
    return v;
}

// temperature_forward on one logit
__device__ __forceinline__ float sample_x(const SampleRow& r, int i) { return sample_penalised(r, i) / r.temperature; }

// exp(x_i - max) after top-k (0 when removed), as r1.h's softmax of the top-k-filtered row before
// its division by the sum
__device__ __forceinline__ float sample_e(const SampleRow& r, int i) {
    float x = sample_x(r, i);
    return sample_key(x) < r.topk_key ? 0.0f : expf(x - r.max_x);
}

// The final probability of token i, as r1.h's last softmax_row: (float)(e / sum) with the sum in double.
__device__ __forceinline__ float sample_q(const SampleRow& r, int i) {
    float e = sample_e(r, i);
    return sample_key(e) < r.topp_key ? 0.0f : (float)((double)e / r.Z);
}

struct SampleShared {
    unsigned int count[256];          // radix select: elements per bin
    unsigned long long mass[256];     // radix select for top-p: fixed-point mass per bin
    unsigned long long scan_total[8]; // per-warp totals of the 256-bin scan
    double reduce[SAMPLE_WARPS];      // per-warp partials of block reductions
    float piece_sum[SAMPLE_WARPS];    // draw: probability mass of each warp's piece
    int piece_first[SAMPLE_WARPS], piece_last[SAMPLE_WARPS]; // draw: first / last index with q > 0
    int sel_t, sel_bin, sel_rem;
    unsigned long long total, sel_above;
    int lo, hi, token, fallback, done;
    float carry;
};

// Block-wide reductions: every thread gets the result; the tree has a fixed shape (deterministic).
struct SampleMax { __device__ float operator()(float a, float b) const { return fmaxf(a, b); } };
struct SampleMinI { __device__ int operator()(int a, int b) const { return min(a, b); } };
struct SampleSumD { __device__ double operator()(double a, double b) const { return a + b; } };

template <typename T, typename Op>
__device__ T sample_block_reduce(T v, Op op, T identity, SampleShared& sh) {
    T* buf = (T*)sh.reduce;
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    for (int o = 16; o > 0; o >>= 1) {
        v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
    }
    __syncthreads(); // the buffer may still be read by the previous reduction
    if (lane == 0) {
        buf[warp] = v;
    }
    __syncthreads();
    v = lane < (int)(blockDim.x / 32) ? buf[lane] : identity;
    for (int o = 16; o > 0; o >>= 1) {
        v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
    }
    return v;
}

// Inclusive scan over threads 0..255 (threads 256+ pass 0 and get no meaningful result). Called with
// thread t holding bin 255 - t, it gives the mass of the bins at or above each bin.
__device__ unsigned long long sample_scan256(unsigned long long v, SampleShared& sh) {
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    for (int o = 1; o < 32; o <<= 1) {
        unsigned long long n = __shfl_up_sync(0xffffffffu, v, o);
        if (lane >= o) {
            v += n;
        }
    }
    __syncthreads(); // scan_total may still be read by the previous scan
    if (warp < 8 && lane == 31) {
        sh.scan_total[warp] = v;
    }
    __syncthreads();
    for (int w = 0; w < warp && w < 8; w++) {
        v += sh.scan_total[w];
    }
    return v;
}

// top-k: the key of the k-th largest x (counting ties), by radix select over 4 digits of 8 bits.
__device__ unsigned int sample_topk_key(const SampleRow& r, int k, SampleShared& sh) {
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    unsigned int prefix = 0, mask = 0;
    int rem = k; // rank of the wanted key among the keys matching the prefix, from the top
    for (int shift = 24; shift >= 0; shift -= 8) {
        for (int b = threadIdx.x; b < 256; b += blockDim.x) {
            sh.count[b] = 0;
        }
        __syncthreads();
        for (int base = warp * 32; base < r.V; base += blockDim.x) { // warp-uniform: the match below needs all lanes
            int i = base + lane, bin = -1;
            if (i < r.V) {
                unsigned int key = sample_key(sample_x(r, i));
                if ((key & mask) == prefix) {
                    bin = (int)((key >> shift) & 255u);
                }
            }
            // logits crowd into a few bins of the top digit: one atomic per distinct bin in the warp
            if (__any_sync(0xffffffffu, bin >= 0)) {
                unsigned int peers = __match_any_sync(0xffffffffu, bin);
                if (bin >= 0 && lane == __ffs(peers) - 1) {
                    atomicAdd(&sh.count[bin], (unsigned int)__popc(peers));
                }
            }
        }
        __syncthreads();
        int t = threadIdx.x;
        unsigned long long c = t < 256 ? sh.count[255 - t] : 0;
        unsigned long long at_or_above = sample_scan256(c, sh), above = at_or_above - c;
        if (t < 256 && above < (unsigned long long)rem && (unsigned long long)rem <= at_or_above) {
            sh.sel_bin = 255 - t;
            sh.sel_rem = rem - (int)above;
        }
        __syncthreads();
        prefix |= (unsigned int)sh.sel_bin << shift;
        mask |= 255u << shift;
        rem = sh.sel_rem;
    }
    return prefix;
}

// top-p: the key of the smallest e whose mass strictly above is < p of the total (the HF rule), by
// radix select where each bin also carries its mass in fixed point (e * mass_scale, truncated).
__device__ unsigned int sample_topp_key(const SampleRow& r, float p, float mass_scale, SampleShared& sh) {
    unsigned int prefix = 0, mask = 0;
    unsigned long long above = 0; // mass of the elements above the bins being looked at
    double pZ = 0.0;
    for (int shift = 24; shift >= 0; shift -= 8) {
        for (int b = threadIdx.x; b < 256; b += blockDim.x) {
            sh.count[b] = 0;
            sh.mass[b] = 0;
        }
        __syncthreads();
        if (threadIdx.x == 0) { // here, not above: every thread has read the last digit's sel_t
            sh.sel_t = -1;
        }
        for (int i = threadIdx.x; i < r.V; i += blockDim.x) {
            // e = 0 (removed by top-k, or underflow) has everything above it, so it never survives
            // (p < 1); skipping it spares one crowded bin
            float e = sample_e(r, i);
            unsigned int key = sample_key(e);
            if (e > 0.0f && (key & mask) == prefix) {
                int bin = (int)((key >> shift) & 255u);
                atomicAdd(&sh.count[bin], 1u);
                atomicAdd(&sh.mass[bin], __float2ull_rz(e * mass_scale));
            }
        }
        __syncthreads();
        int t = threadIdx.x;
        unsigned long long m = t < 256 ? sh.mass[255 - t] : 0;
        unsigned long long at_or_above = sample_scan256(m, sh), excl = above + (at_or_above - m);
        if (shift == 24) { // the first digit sees every element: the total mass
            if (t == 255) {
                sh.total = at_or_above;
            }
            __syncthreads();
            pZ = (double)p * (double)sh.total;
        }
        // the lowest non-empty bin whose largest element still has mass above it < p (the top
        // element has none above it, so some bin always qualifies)
        if (t < 256 && sh.count[255 - t] > 0 && ((double)excl < pZ || excl == 0)) {
            atomicMax(&sh.sel_t, t);
        }
        __syncthreads();
        if (t == sh.sel_t) {
            sh.sel_bin = 255 - t;
            sh.sel_above = excl;
        }
        __syncthreads();
        if (sh.sel_t < 0) { // only with NaN logits: keep everything
            return 0;
        }
        prefix |= (unsigned int)sh.sel_bin << shift;
        mask |= 255u << shift;
        above = sh.sel_above;
    }
    return prefix;
}

// sample_mult: the first index (in index order, over q > 0) where the cdf exceeds the coin; if the
// walk ends without (rounding), the last index with q > 0.
__device__ int sample_draw(const SampleRow& r, float coin, SampleShared& sh) {
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    int lo = 0, hi = r.V;
    float carry = 0.0f; // cdf before lo
    int fallback = -1;  // the first index with q > 0 after hi (-1: none): where the walk goes on if it misses
    while (hi - lo > 32) {
        int piece = ((hi - lo + 31) / 32 + 31) / 32 * 32; // a multiple of 32, < hi - lo
        int a = lo + warp * piece, b = min(hi, a + piece);
        float sum = 0.0f;
        int first = INT_MAX, last = -1;
        for (int i = a + lane; i < b; i += 32) {
            float q = sample_q(r, i);
            if (q > 0.0f) {
                sum += q;
                first = min(first, i);
                last = max(last, i);
            }
        }
        for (int o = 16; o > 0; o >>= 1) {
            sum += __shfl_xor_sync(0xffffffffu, sum, o);
            first = min(first, __shfl_xor_sync(0xffffffffu, first, o));
            last = max(last, __shfl_xor_sync(0xffffffffu, last, o));
        }
        if (lane == 0) {
            sh.piece_sum[warp] = sum;
            sh.piece_first[warp] = first;
            sh.piece_last[warp] = last;
        }
        __syncthreads();
        if (threadIdx.x == 0) { // walk the 32 piece sums as the CPU walks the probabilities
            float c = carry;
            int chosen = -1, fb = fallback, last_any = -1;
            for (int w = 0; w < SAMPLE_WARPS; w++) {
                last_any = max(last_any, sh.piece_last[w]);
                if (chosen < 0) {
                    float next = c + sh.piece_sum[w];
                    if (coin < next) {
                        chosen = w;
                    } else {
                        c = next;
                    }
                } else if (sh.piece_first[w] != INT_MAX) {
                    fb = sh.piece_first[w];
                    break;
                }
            }
            sh.done = chosen < 0;
            if (chosen < 0) {
                sh.token = fb >= 0 ? fb : max(last_any, 0);
            } else {
                sh.lo = lo + chosen * piece;
                sh.hi = min(hi, sh.lo + piece);
                sh.carry = c;
                sh.fallback = fb;
            }
        }
        __syncthreads();
        if (sh.done) {
            return sh.token;
        }
        lo = sh.lo;
        hi = sh.hi;
        carry = sh.carry;
        fallback = sh.fallback;
        // (thread 0 writes sh again only after the next pass's __syncthreads, when all have read it)
    }
    if (warp == 0) { // the strip [lo, hi), at most 32 tokens: a scan in index order
        int i = lo + lane;
        float q = i < hi ? sample_q(r, i) : 0.0f, cdf = q;
        for (int o = 1; o < 32; o <<= 1) {
            float n = __shfl_up_sync(0xffffffffu, cdf, o);
            if (lane >= o) {
                cdf += n;
            }
        }
        cdf += carry;
        unsigned int hit = __ballot_sync(0xffffffffu, q > 0.0f && coin < cdf);
        unsigned int positive = __ballot_sync(0xffffffffu, q > 0.0f);
        if (lane == 0) {
            sh.token = hit ? lo + __ffs(hit) - 1 : fallback >= 0 ? fallback : positive ? lo + 31 - __clz(positive) : 0;
        }
    }
    __syncthreads();
    return sh.token;
}

// One block per sequence. bitmap_global: (nseq, ceil(V/32)) when the bitmap does not fit in shared
// memory, else NULL and the bitmap is the dynamic shared memory.
__global__ void __launch_bounds__(SAMPLE_THREADS)
sample_tokens_kernel(int* tokens, float* logprobs, const float* logits, const float* coins, const int* history,
                     const int* hist_row, const int* hist_len, int hist_stride, SamplingConfig cfg, int V,
                     unsigned int* bitmap_global, float mass_scale) {
    extern __shared__ unsigned int bitmap_shared[];
    __shared__ SampleShared sh;
    int s = blockIdx.x, tid = threadIdx.x;
    int greedy = cfg.temperature <= 0.0f;
    SampleRow r;
    r.raw = logits + (size_t)s * V;
    r.V = V;
    r.penalty = cfg.repetition_penalty;
    r.temperature = greedy ? 1.0f : cfg.temperature;
    r.seen = NULL;
    r.topk_key = 0;
    r.topp_key = 0;
    if (cfg.repetition_penalty != 1.0f) { // mark the context's ids (out-of-range ids are skipped, as on the CPU)
        int nwords = (V + 31) / 32;
        unsigned int* seen = bitmap_global ? bitmap_global + (size_t)s * nwords : bitmap_shared;
        for (int w = tid; w < nwords; w += blockDim.x) {
            seen[w] = 0;
        }
        __syncthreads();
        const int* context = history + (size_t)hist_row[s] * hist_stride;
        int n = hist_len[s];
        for (int j = tid; j < n; j += blockDim.x) {
            int id = context[j];
            if (id >= 0 && id < V) {
                atomicOr(&seen[id >> 5], 1u << (id & 31));
            }
        }
        __syncthreads();
        r.seen = seen;
    }
    // pass 1: the raw row's max (for the log-prob) and the processed row's max or argmax
    float max_raw = -INFINITY, max_x = -INFINITY;
    int arg = INT_MAX; // this thread's first index holding its max_x (greedy)
    for (int i = tid; i < V; i += blockDim.x) {
        max_raw = fmaxf(max_raw, r.raw[i]);
        float x = sample_x(r, i);
        if (arg == INT_MAX || x > max_x) {
            max_x = x;
            arg = i;
        }
    }
    max_raw = sample_block_reduce(max_raw, SampleMax(), -INFINITY, sh);
    r.max_x = sample_block_reduce(max_x, SampleMax(), -INFINITY, sh);
    int token = 0;
    if (greedy) { // argmax: the lowest index holding the max, as r1.h's argmax
        token = sample_block_reduce(max_x == r.max_x ? arg : INT_MAX, SampleMinI(), INT_MAX, sh);
        token = token == INT_MAX ? 0 : token;
    } else {
        if (cfg.top_k > 0 && cfg.top_k < V) {
            r.topk_key = sample_topk_key(r, cfg.top_k, sh);
        }
        if (cfg.top_p < 1.0f) {
            r.topp_key = sample_topp_key(r, cfg.top_p, mass_scale, sh);
        }
    }
    // one pass for two sums: the survivors' e (the final softmax's denominator) and, for the
    // log-prob, log_softmax(raw / T) of the raw logits (T = 1 when greedy): exps in fp32, sums and
    // the rest in double, as r1.h
    double Z = 0.0, sum = 0.0;
    for (int i = tid; i < V; i += blockDim.x) {
        sum += (double)expf((r.raw[i] - max_raw) / r.temperature);
        if (!greedy) {
            float e = sample_e(r, i);
            Z += sample_key(e) < r.topp_key ? 0.0 : (double)e;
        }
    }
    sum = sample_block_reduce(sum, SampleSumD(), 0.0, sh);
    if (!greedy) {
        r.Z = sample_block_reduce(Z, SampleSumD(), 0.0, sh);
        token = sample_draw(r, coins[s], sh);
    }
    if (tid == 0) {
        double t = (double)r.temperature;
        tokens[s] = token;
        logprobs[s] = (float)((double)r.raw[token] / t - (double)max_raw / t - log(sum));
    }
}

// sample_token for nseq sequences at once: tokens[s] drawn from logits row s with coins[s] (read only
// when temperature > 0), penalising the ids in history row hist_row[s] (its first hist_len[s]).
// Graph-capturable: no sync, no allocation, no host copy.
static void sample_tokens_gpu(int* tokens,        // (nseq) out
                              float* logprobs,    // (nseq) out: log_softmax(logits / T)[token]
                              const float* logits, // (nseq, V) fp32, not modified
                              const float* coins,  // (nseq) uniform in [0, 1)
                              const int* history,  // (rows, hist_stride) token ids: prompt + completion so far
                              const int* hist_row, // (nseq)
                              const int* hist_len, // (nseq)
                              int hist_stride, SamplingConfig cfg, int nseq, int V,
                              void* scratch,       // sample_scratch_bytes(nseq, V)
                              cudaStream_t stream) {
    if (nseq <= 0) {
        return;
    }
    size_t bitmap_bytes = (size_t)sample_bitmap_words(V) * sizeof(unsigned int);
    int penalty = cfg.repetition_penalty != 1.0f;
    int in_shared = penalty && bitmap_bytes <= SAMPLE_SMEM_BITMAP_MAX;
    unsigned int* bitmap_global = penalty && !in_shared ? (unsigned int*)scratch : NULL;
    if (penalty && !in_shared && !scratch) {
        fatal("sample_tokens_gpu: a vocabulary of %d needs sample_scratch_bytes() of scratch for its repetition penalty", V);
    }
    // fixed-point scale for top-p's masses: e <= 1, so V of them sum below 2^63
    int bits = 1;
    while (bits < 62 && ((size_t)1 << bits) <= (size_t)V) {
        bits++;
    }
    float mass_scale = ldexpf(1.0f, 63 - bits);
    sample_tokens_kernel<<<nseq, SAMPLE_THREADS, in_shared ? bitmap_bytes : 0, stream>>>(
        tokens, logprobs, logits, coins, history, hist_row, hist_len, hist_stride, cfg, V, bitmap_global, mass_scale);
    cudaCheck(cudaGetLastError());
}

// ----------------------------------------------------------------------------
// GPU: the model and one step through the KV cache (twin of r1.h's qwen2_forward_cached)
// The weights live on the GPU as one floatX buffer laid out as the host's params_memory (so a tied
// lm_head is the embedding here too). The KV cache holds every layer's keys and values of `slots`
// sequences of up to max_len tokens; with it comes the scratch of one step of up to max_tokens new
// tokens, all allocated once, so that a step allocates nothing and a CUDA graph can capture it.
// gpu_forward_cached is qwen2_forward_cached line for line, except that the host works out each new
// token's slot and position (and each sequence's last token) and passes them in device arrays.

typedef struct { // shapes as in ParameterTensors; per-layer tensors stacked over L
    floatX *embed, *ln1, *wq, *bq, *wk, *bk, *wv, *bv, *wo, *ln2, *wgate, *wup, *wdown, *norm;
    floatX* lm_head; // == embed when the embeddings are tied
} GpuParams;

typedef struct {
    Qwen2Config config;
    GpuParams params;
    floatX* params_memory; // (num_parameters)
    size_t num_parameters;
} GpuModel;

// Copies the fp32 host weights to the GPU as floatX, converting on the host a chunk at a time (the
// full bf16 copy of a 7B model would be 15 GB of extra host memory). Fails with the sizes when the
// model does not fit. Also sets up cuBLASLt, which must happen before any graph capture.
static void gpu_model_from_host(GpuModel* g, const Qwen2* m) {
    memset(g, 0, sizeof(*g));
    const Qwen2Config* c = &m->config;
    g->config = *c;
    g->num_parameters = m->num_parameters;
    size_t n = m->num_parameters, bytes = n * sizeof(floatX);
    size_t free_b = 0, total_b = 0;
    cudaCheck(cudaMemGetInfo(&free_b, &total_b));
    if (bytes + CUBLASLT_WORKSPACE_BYTES > free_b) {
        fatal("the model needs %.2f GiB of GPU memory (%.2fB parameters in %s: %d layers, hidden size %d, vocabulary "
              "%d), and %.2f GiB of %.2f GiB are free: use a smaller model, or a GPU with more free memory",
              bytes / 1073741824.0, n / 1e9, PRECISION_NAME, c->num_layers, c->hidden_size, c->vocab_size,
              free_b / 1073741824.0, total_b / 1073741824.0);
    }
    matmul_init();
    g->params_memory = (floatX*)cuda_malloc_check(bytes, "the model's weights");
    const size_t chunk = (size_t)1 << 24; // parameters converted per copy
    floatX* buf = (floatX*)malloc_check((n < chunk ? n : chunk) * sizeof(floatX));
    for (size_t at = 0; at < n; at += chunk) {
        size_t len = n - at < chunk ? n - at : chunk;
        const float* src = m->params_memory + at;
#pragma omp parallel for
        for (size_t i = 0; i < len; i++) {
            buf[i] = (floatX)src[i];
        }
        cudaCheck(cudaMemcpy(g->params_memory + at, buf, len * sizeof(floatX), cudaMemcpyHostToDevice));
    }
    free(buf);
    const ParameterTensors* p = &m->params;
    const float* host[15] = {p->embed, p->ln1, p->wq,    p->bq,  p->wk,    p->bk,   p->wv,     p->bv,
                             p->wo,    p->ln2, p->wgate, p->wup, p->wdown, p->norm, p->lm_head};
    floatX** dev[15] = {&g->params.embed, &g->params.ln1,   &g->params.wq,  &g->params.bq,    &g->params.wk,
                        &g->params.bk,    &g->params.wv,    &g->params.bv,  &g->params.wo,    &g->params.ln2,
                        &g->params.wgate, &g->params.wup,   &g->params.wdown, &g->params.norm, &g->params.lm_head};
    for (int k = 0; k < 15; k++) {
        *dev[k] = g->params_memory + (host[k] - m->params_memory); // the same offset as on the host
    }
}

static void gpu_model_free(GpuModel* g) {
    cudaCheck(cudaFree(g->params_memory));
    memset(g, 0, sizeof(*g));
}

typedef struct {
    int L, slots, max_len, max_tokens, NKV, HD; // max_tokens: the most new tokens one step may have
    floatX* k; // (L, slots, max_len, NKV, HD) keys, after RoPE
    floatX* v; // (L, slots, max_len, NKV, HD) values (in the same allocation as k)
    // scratch of one step of T = max_tokens new tokens, all in scratch_memory
    floatX *x, *ln, *proj;      // (T, C) residual stream, norm output, block output
    floatX *q, *kn, *vn, *atty; // (T, NH*HD), (T, NKV*HD) x2, (T, NH*HD)
    floatX *gate, *up, *hid;    // (T, I)
    floatX* last;               // (slots, C) each sequence's last new token
    void* att_scratch;          // attention_scratch_bytes(T, NH, HD, max_len) bytes
    float* logits;              // (slots, V) fp32: the logits after each sequence's last new token
    void* scratch_memory;
} GpuKV;

static size_t round_up_256(size_t bytes) { return (bytes + 255) / 256 * 256; }

// Allocates the cache and the step's scratch, or fails naming the sizes and what to change.
static void gpu_kv_init(GpuKV* kv, const Qwen2Config* c, int slots, int max_len, int max_tokens) {
    if (slots < 1 || max_len < 1 || max_tokens < 1) {
        fatal("gpu_kv_init: %d slots, max_len %d, max_tokens %d: each must be at least 1", slots, max_len, max_tokens);
    }
    memset(kv, 0, sizeof(*kv));
    kv->L = c->num_layers, kv->slots = slots, kv->max_len = max_len, kv->max_tokens = max_tokens;
    kv->NKV = c->num_kv_heads, kv->HD = c->head_dim;
    size_t T = (size_t)max_tokens, C = c->hidden_size, I = c->intermediate_size;
    size_t QD = (size_t)c->num_heads * c->head_dim, KVD = (size_t)c->num_kv_heads * c->head_dim;
    size_t cache = (size_t)c->num_layers * slots * max_len * KVD; // elements of k, and of v
    floatX** bufs[11] = {&kv->x, &kv->ln, &kv->proj, &kv->q, &kv->kn, &kv->vn, &kv->atty, &kv->gate, &kv->up,
                         &kv->hid, &kv->last};
    size_t elems[11] = {T * C, T * C, T * C, T * QD, T * KVD, T * KVD, T * QD, T * I, T * I, T * I, (size_t)slots * C};
    size_t att_bytes = attention_scratch_bytes(max_tokens, c->num_heads, c->head_dim, max_len);
    size_t logits_bytes = (size_t)slots * c->vocab_size * sizeof(float);
    size_t scratch = round_up_256(att_bytes) + round_up_256(logits_bytes); // every piece 256-byte aligned
    for (int k = 0; k < 11; k++) {
        scratch += round_up_256(elems[k] * sizeof(floatX));
    }
    size_t cache_bytes = 2 * cache * sizeof(floatX);
    size_t free_b = 0, total_b = 0;
    cudaCheck(cudaMemGetInfo(&free_b, &total_b));
    if (cache_bytes + scratch > free_b) {
        fatal("the KV cache needs %.2f GiB of GPU memory (%d slots x %d tokens x %d layers x %zu key and %zu value "
              "numbers in %s) plus %.2f GiB of scratch for steps of %d tokens, and %.2f GiB of %.2f GiB are free: "
              "use fewer --slots or a shorter --max-len",
              cache_bytes / 1073741824.0, slots, max_len, c->num_layers, KVD, KVD, PRECISION_NAME,
              scratch / 1073741824.0, max_tokens, free_b / 1073741824.0, total_b / 1073741824.0);
    }
    kv->k = (floatX*)cuda_malloc_check(cache_bytes, "the KV cache");
    kv->v = kv->k + cache;
    kv->scratch_memory = cuda_malloc_check(scratch, "the scratch of one step (activations of the new tokens)");
    char* at = (char*)kv->scratch_memory;
    for (int k = 0; k < 11; k++) {
        *bufs[k] = (floatX*)at;
        at += round_up_256(elems[k] * sizeof(floatX));
    }
    kv->att_scratch = att_bytes ? (void*)at : NULL;
    at += round_up_256(att_bytes);
    kv->logits = (float*)at;
}

static void gpu_kv_free(GpuKV* kv) {
    cudaCheck(cudaFree(kv->k));
    cudaCheck(cudaFree(kv->scratch_memory));
    memset(kv, 0, sizeof(*kv));
}

// One step of the model through the cache, the twin of qwen2_forward_cached. New token i (of N) has
// id ids[i] and sits at position pos[i] of slot slot[i]; the new tokens of one sequence are
// contiguous with consecutive positions, and last[s] is the index of sequence s's last one. Writes
// kv->logits rows 0..nseq-1 (fp32). The host keeps the slots' lengths. Everything is queued on
// `stream`: no synchronisation, allocation or host copy, so a CUDA graph can capture it.
static void gpu_forward_cached(GpuModel* g, GpuKV* kv,
                               const int* ids,  // (N) device
                               const int* slot, // (N) device
                               const int* pos,  // (N) device
                               const int* last, // (nseq) device: index in 0..N-1 of each sequence's last new token
                               int N, int nseq, int max_new, cudaStream_t stream) {
    const Qwen2Config* c = &g->config;
    int L = c->num_layers, C = c->hidden_size, I = c->intermediate_size, V = c->vocab_size;
    int NH = c->num_heads, NKV = c->num_kv_heads, HD = c->head_dim, QD = NH * HD, KVD = NKV * HD;
    float eps = c->rms_norm_eps;
    if (kv->L != L || kv->NKV != NKV || kv->HD != HD) {
        fatal("gpu_forward_cached: the KV cache was made for another model (%d layers, %d kv heads of %d)", kv->L,
              kv->NKV, kv->HD);
    }
    if (N < 1 || N > kv->max_tokens || nseq < 1 || nseq > N || nseq > kv->slots || max_new < 1 || max_new > N) {
        fatal("gpu_forward_cached: a step of %d tokens in %d sequences (longest %d) does not fit the cache's scratch "
              "(at most %d tokens in at most %d sequences)",
              N, nseq, max_new, kv->max_tokens, kv->slots);
    }
    GpuParams p = g->params;
    embedding_forward_gpu(kv->x, ids, p.embed, N, C, V, stream);
    size_t layer_cache = (size_t)kv->slots * kv->max_len * KVD;
    for (int l = 0; l < L; l++) {
        // attention block: x += o_proj(attention(rope(q), cache + rope(k), cache + v))
        rmsnorm_forward_gpu(kv->ln, NULL, kv->x, p.ln1 + (size_t)l * C, N, C, eps, stream);
        matmul_forward_gpu(kv->q, kv->ln, p.wq + (size_t)l * QD * C, p.bq + (size_t)l * QD, N, C, QD, stream);
        matmul_forward_gpu(kv->kn, kv->ln, p.wk + (size_t)l * KVD * C, p.bk + (size_t)l * KVD, N, C, KVD, stream);
        matmul_forward_gpu(kv->vn, kv->ln, p.wv + (size_t)l * KVD * C, p.bv + (size_t)l * KVD, N, C, KVD, stream);
        rope_forward_gpu(kv->q, pos, N, NH, HD, c->rope_theta, stream);
        rope_forward_gpu(kv->kn, pos, N, NKV, HD, c->rope_theta, stream);
        floatX* kc = kv->k + (size_t)l * layer_cache; // (slots, max_len, NKV, HD)
        floatX* vc = kv->v + (size_t)l * layer_cache;
        kvcache_store_gpu(kc, vc, kv->kn, kv->vn, slot, pos, N, KVD, kv->max_len, stream);
        attention_cached_forward_gpu(kv->atty, kv->q, kc, vc, slot, pos, N, NH, NKV, HD, kv->max_len, max_new,
                                     kv->att_scratch, stream);
        matmul_forward_gpu(kv->proj, kv->atty, p.wo + (size_t)l * C * QD, NULL, N, QD, C, stream);
        residual_forward_gpu(kv->x, kv->x, kv->proj, (size_t)N * C, stream);
        // MLP block: x += down_proj(silu(gate_proj(h)) * up_proj(h)), h = norm(x)
        rmsnorm_forward_gpu(kv->ln, NULL, kv->x, p.ln2 + (size_t)l * C, N, C, eps, stream);
        matmul_forward_gpu(kv->gate, kv->ln, p.wgate + (size_t)l * I * C, NULL, N, C, I, stream);
        matmul_forward_gpu(kv->up, kv->ln, p.wup + (size_t)l * I * C, NULL, N, C, I, stream);
        swiglu_forward_gpu(kv->hid, kv->gate, kv->up, (size_t)N * I, stream);
        matmul_forward_gpu(kv->proj, kv->hid, p.wdown + (size_t)l * C * I, NULL, N, I, C, stream);
        residual_forward_gpu(kv->x, kv->x, kv->proj, (size_t)N * C, stream);
    }
    // the LM head only on each sequence's last new token (a prompt's other positions predict tokens we
    // already have); gathering those rows of x is a row lookup, the embedding's kernel with x as table
    embedding_forward_gpu(kv->last, last, kv->x, nseq, C, N, stream);
    rmsnorm_forward_gpu(kv->ln, NULL, kv->last, p.norm, nseq, C, eps, stream);
    matmul_forward_f32out_gpu(kv->logits, kv->ln, p.lm_head, NULL, nseq, C, V, stream);
}

// ----------------------------------------------------------------------------
// GPU: the engine behind generate_batch (continuous batching, CUDA graphs for decode steps)
// The GPU engine is r1.h's GenEngine (the interface of generate_batch_engine's scheduler) over the
// functions above: one step is a single copy of the step's inputs to the device, gpu_forward_cached,
// sample_tokens_gpu, and a single copy of the sampled tokens back. The host scheduler (slots, stop
// rules, budget forcing, streaming) is r1.h's, unchanged, and so are the coins: the CPU and GPU
// engines draw the same tokens from the same logits.
//
// A decode step (every sequence in it has one new token) launches some 15 kernels per layer on a
// few hundred tokens; at 24-28 layers their launch overhead alone is near the step's whole compute.
// So decode steps are captured once in a CUDA graph and replayed: the step is padded to a fixed
// shape (slots sequences of one token; the missing ones are dummy tokens at position 0 of a spare
// padding slot, whose results are thrown away) and every pointer is fixed, so one graph serves the
// whole run. Prefill and mixed steps (shapes that change every step) run uncaptured.
//
// The repetition penalty needs each sequence's context (prompt + completion so far) on the device:
// a history row per slot, into which each step writes its new tokens at their positions, exactly the
// tokens the KV cache holds, so the sampler sees what r1.h's sample_token sees.

typedef struct {
    GpuModel* model;
    GpuKV kv;            // slots + 1: slot `slots` is the padding slot of graphed decode steps
    cudaStream_t stream;
    int use_graph;       // 0: --no-graph
    int slots, max_len, max_tokens; // what the buffers hold (grown by gpu_gen_begin when a run needs more)
    SamplingConfig cfg;  // this run's
    // the inputs of one step, packed so that one copy moves them: ints at fixed offsets
    // ids, slot, pos (max_tokens each) | last, hist_row, hist_len (rows each) | coins (rows floats)
    int rows;            // slots + 1
    size_t in_ints;
    int* h_in;           // pinned host staging
    int* d_in;           // device
    int *d_ids, *d_slot, *d_pos, *d_last, *d_hist_row, *d_hist_len;
    float* d_coins;
    int* d_history;      // (rows, max_len) token ids of each slot: prompt + completion
    int* h_out;          // pinned: tokens (rows) then log-probs (rows, as float bits)
    int* d_out;
    void* sample_scratch;
    // the decode graph
    cudaGraphExec_t graph;
    int graph_ready;
    SamplingConfig graph_cfg; // the sampling config baked into the graph (passed by value to the sampler)
    int steps, graphed_steps; // counters, for the summary
} GpuGen;

// Writes each new token's id into its slot's history row at its position.
__global__ void history_store_kernel(int* history,    // (rows, stride)
                                     const int* ids,  // (N)
                                     const int* slot, // (N)
                                     const int* pos,  // (N)
                                     int N, int stride) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < N) {
        history[(size_t)slot[i] * stride + pos[i]] = ids[i];
    }
}

static void history_store_gpu(int* history, const int* ids, const int* slot, const int* pos, int N, int stride,
                              cudaStream_t stream) {
    const int block = 256;
    history_store_kernel<<<ceil_div(N, block), block, 0, stream>>>(history, ids, slot, pos, N, stride);
    cudaCheck(cudaGetLastError());
}

static void gpu_gen_init(GpuGen* g, GpuModel* model, int use_graph) {
    memset(g, 0, sizeof(*g));
    g->model = model;
    g->use_graph = use_graph;
    cudaCheck(cudaStreamCreate(&g->stream)); // (a blocking stream: ordered after work on the default stream)
}

static void gpu_gen_drop_graph(GpuGen* g) {
    if (g->graph_ready) {
        cudaCheck(cudaGraphExecDestroy(g->graph));
        g->graph_ready = 0;
    }
}

static void gpu_gen_free_buffers(GpuGen* g) {
    gpu_gen_drop_graph(g);
    if (g->h_in == NULL) {
        return;
    }
    gpu_kv_free(&g->kv);
    cudaCheck(cudaFreeHost(g->h_in));
    cudaCheck(cudaFreeHost(g->h_out));
    cudaCheck(cudaFree(g->d_in));
    cudaCheck(cudaFree(g->d_out));
    cudaCheck(cudaFree(g->d_history));
    cudaCheck(cudaFree(g->sample_scratch));
    g->h_in = g->h_out = g->d_in = g->d_out = g->d_history = NULL;
    g->sample_scratch = NULL;
}

static void gpu_gen_free(GpuGen* g) {
    gpu_gen_free_buffers(g);
    cudaCheck(cudaStreamDestroy(g->stream));
    memset(g, 0, sizeof(*g));
}

// Allocates the cache, the step's scratch and the engine's buffers for `slots` sequences of up to
// max_len tokens and steps of up to max_tokens tokens, and prints the memory plan.
static void gpu_gen_alloc(GpuGen* g, int slots, int max_len, int max_tokens) {
    const Qwen2Config* c = &g->model->config;
    size_t free0 = 0, free1 = 0, total = 0;
    cudaCheck(cudaMemGetInfo(&free0, &total));
    g->slots = slots, g->max_len = max_len, g->max_tokens = max_tokens, g->rows = slots + 1;
    gpu_kv_init(&g->kv, c, g->rows, max_len, max_tokens);
    size_t T = (size_t)max_tokens, R = (size_t)g->rows;
    g->in_ints = 3 * T + 4 * R;
    cudaCheck(cudaMallocHost((void**)&g->h_in, g->in_ints * sizeof(int)));
    cudaCheck(cudaMallocHost((void**)&g->h_out, 2 * R * sizeof(int)));
    g->d_in = (int*)cuda_malloc_check(g->in_ints * sizeof(int), "the step's inputs");
    g->d_ids = g->d_in, g->d_slot = g->d_in + T, g->d_pos = g->d_in + 2 * T;
    g->d_last = g->d_in + 3 * T, g->d_hist_row = g->d_last + R, g->d_hist_len = g->d_last + 2 * R;
    g->d_coins = (float*)(g->d_last + 3 * R);
    g->d_out = (int*)cuda_malloc_check(2 * R * sizeof(int), "the sampled tokens");
    g->d_history = (int*)cuda_malloc_check(R * (size_t)max_len * sizeof(int), "the token history");
    cudaCheck(cudaMemsetAsync(g->d_history, 0, R * (size_t)max_len * sizeof(int), g->stream));
    size_t sample_bytes = sample_scratch_bytes(g->rows, c->vocab_size);
    g->sample_scratch = sample_bytes ? cuda_malloc_check(sample_bytes, "the sampler's scratch") : NULL;
    cudaCheck(cudaMemGetInfo(&free1, &total));
    double GiB = 1073741824.0;
    size_t KVD = (size_t)c->num_kv_heads * c->head_dim;
    double weights = (double)g->model->num_parameters * sizeof(floatX);
    double cache = 2.0 * c->num_layers * R * max_len * KVD * sizeof(floatX);
    double used = free0 > free1 ? (double)(free0 - free1) : 0.0; // what this took (the driver rounds up a little)
    fprintf(stderr, "gpu memory (%s): weights %.2f GiB, KV cache %.2f GiB (%d slots + 1 padding x %d tokens), "
            "scratch %.2f GiB (steps of up to %d tokens); %.2f GiB of %.2f GiB left free\n",
            PRECISION_NAME, weights / GiB, cache / GiB, slots, max_len, (used - cache > 0 ? used - cache : 0) / GiB,
            max_tokens, free1 / GiB, total / GiB);
}

static void gpu_gen_begin(void* ctx, int slots, int max_len, int max_tokens, const SamplingConfig* sampling) {
    GpuGen* g = (GpuGen*)ctx;
    max_tokens = max_tokens > slots ? max_tokens : slots; // a padded decode step has `slots` tokens
    if (g->h_in == NULL || slots > g->slots || max_len > g->max_len || max_tokens > g->max_tokens) {
        // grow to hold this run and the earlier ones (interactive turns get longer)
        int s = g->h_in && g->slots > slots ? g->slots : slots;
        int l = g->h_in && g->max_len > max_len ? g->max_len : max_len;
        int t = g->h_in && g->max_tokens > max_tokens ? g->max_tokens : max_tokens;
        gpu_gen_free_buffers(g); // (the graph points into the old buffers)
        gpu_gen_alloc(g, s, l, t);
    }
    g->cfg = *sampling;
    if (g->graph_ready && memcmp(&g->graph_cfg, &g->cfg, sizeof(SamplingConfig)) != 0) {
        gpu_gen_drop_graph(g);
    }
}

// Queues the step's device work: the new tokens into the history, the model, the sampler.
static void gpu_gen_launch(GpuGen* g, int N, int nseq, int max_new) {
    const Qwen2Config* c = &g->model->config;
    history_store_gpu(g->d_history, g->d_ids, g->d_slot, g->d_pos, N, g->max_len, g->stream);
    gpu_forward_cached(g->model, &g->kv, g->d_ids, g->d_slot, g->d_pos, g->d_last, N, nseq, max_new, g->stream);
    sample_tokens_gpu(g->d_out, (float*)(g->d_out + g->rows), g->kv.logits, g->d_coins, g->d_history, g->d_hist_row,
                      g->d_hist_len, g->max_len, g->cfg, nseq, c->vocab_size, g->sample_scratch, g->stream);
}

// A decode step through the graph: captured at the first one (which runs uncaptured first, so that
// anything a kernel or cuBLASLt sets up on first use happens outside the capture), replayed after.
static void gpu_gen_graph_step(GpuGen* g) {
    int n = g->slots;
    if (g->graph_ready) {
        cudaCheck(cudaGraphLaunch(g->graph, g->stream));
        g->graphed_steps++;
        return;
    }
    gpu_gen_launch(g, n, n, 1);
    // capture after the real work: a captured stream queues nothing, and replaying the same step
    // again would only rewrite the same keys, values and history
    cudaGraph_t graph;
    cudaCheck(cudaStreamBeginCapture(g->stream, cudaStreamCaptureModeThreadLocal));
    gpu_gen_launch(g, n, n, 1);
    cudaCheck(cudaStreamEndCapture(g->stream, &graph));
    cudaCheck(cudaGraphInstantiate(&g->graph, graph, 0));
    cudaCheck(cudaGraphDestroy(graph));
    g->graph_ready = 1;
    g->graph_cfg = g->cfg;
}

// GenEngine's step (see r1.h): the host works out each new token's slot and position, each
// sequence's last token and history, packs them with the coins into one pinned buffer, and copies
// it over in one go; the sampled tokens and log-probs come back in one copy.
static void gpu_gen_step(void* ctx, const int* ids, const int* seq_slot, const int* n_new, const int* slot_len,
                         int nseq, const int* want, const float* coins, const int* const* context,
                         const int* context_len, int* tokens, float* logprobs) {
    GpuGen* g = (GpuGen*)ctx;
    size_t T = (size_t)g->max_tokens, R = (size_t)g->rows;
    int *h_ids = g->h_in, *h_slot = g->h_in + T, *h_pos = g->h_in + 2 * T;
    int *h_last = g->h_in + 3 * T, *h_hist_row = h_last + R, *h_hist_len = h_last + 2 * R;
    float* h_coins = (float*)(h_last + 3 * R);
    if (nseq < 1 || nseq > g->slots) {
        fatal("gpu_gen_step: %d sequences in a step, the engine holds %d", nseq, g->slots);
    }
    int N = 0, max_new = 0;
    for (int s = 0; s < nseq; s++) {
        int sl = seq_slot[s];
        if (sl < 0 || sl >= g->slots || n_new[s] < 1 || slot_len[s] < 0 || slot_len[s] + n_new[s] > g->max_len ||
            N + n_new[s] > g->max_tokens) {
            fatal("gpu_gen_step: sequence %d (slot %d, %d tokens cached, %d new) does not fit the engine (%d slots "
                  "of %d tokens, steps of %d tokens)", s, sl, slot_len[s], n_new[s], g->slots, g->max_len,
                  g->max_tokens);
        }
        for (int j = 0; j < n_new[s]; j++, N++) {
            h_ids[N] = ids[N];
            h_slot[N] = sl;
            h_pos[N] = slot_len[s] + j;
        }
        h_last[s] = N - 1;
        h_hist_row[s] = sl;
        h_hist_len[s] = slot_len[s] + n_new[s]; // = context_len[s] where want[s]: the history row is the context
        h_coins[s] = coins[s];
        max_new = n_new[s] > max_new ? n_new[s] : max_new;
    }
    int graphed = g->use_graph && max_new == 1;
    int rows = graphed ? g->slots : nseq;
    for (int s = nseq; s < rows; s++, N++) { // padding: a dummy token at position 0 of the spare slot
        h_ids[N] = 0;
        h_slot[N] = g->slots;
        h_pos[N] = 0;
        h_last[s] = N;
        h_hist_row[s] = g->slots;
        h_hist_len[s] = 1;
        h_coins[s] = 0.0f;
    }
    cudaCheck(cudaMemcpyAsync(g->d_in, g->h_in, g->in_ints * sizeof(int), cudaMemcpyHostToDevice, g->stream));
    if (graphed) {
        gpu_gen_graph_step(g);
    } else {
        gpu_gen_launch(g, N, nseq, max_new);
    }
    g->steps++;
    cudaCheck(cudaMemcpyAsync(g->h_out, g->d_out, 2 * R * sizeof(int), cudaMemcpyDeviceToHost, g->stream));
    cudaCheck(cudaStreamSynchronize(g->stream));
    const float* h_logprobs = (const float*)(g->h_out + R);
    for (int s = 0; s < nseq; s++) {
        tokens[s] = g->h_out[s];
        logprobs[s] = h_logprobs[s];
    }
}

static void gpu_gen_end(void* ctx) {
    (void)ctx; // the buffers and the graph stay for the next run
}

// One line on how the steps ran (how many decode steps replayed the graph).
static void gpu_gen_summary(const GpuGen* g) {
    fprintf(stderr, "gpu engine: %d steps, %d of them replayed the decode graph%s\n", g->steps, g->graphed_steps,
            g->use_graph ? "" : " (--no-graph)");
}

static GenEngine gpu_gen_engine(GpuGen* g) {
    GenEngine e = {g, gpu_gen_begin, gpu_gen_step, gpu_gen_end};
    return e;
}

#endif // __CUDACC__

typedef struct {
    const char* model;
    const char* prompts;
    const char* out;
    int n;              // samples per prompt
    int chat;           // -1: on when the tokenizer has a chat template
    const char* system; // NULL: the preset's, else the model's default
    const char* preset;
    int interactive;
    int ids;            // write token ids and log-probs too
    int threads;
    int cpu;            // --cpu: the r1.h engine even with a GPU
    int no_graph;       // --no-graph: decode steps launched one kernel at a time, not replayed from a CUDA graph
    int ignore_eos;     // --ignore-eos: the model's eos ids do not stop generation (benchmarks)
    GenerateConfig g;
    // sampling flags given on the command line (they override generation_config.json)
    float temperature, top_p, repetition_penalty;
    int top_k, max_new_tokens;
    int stop_ids[GEN_MAX_IDS], n_stop_ids;
    int min_think, max_think;
} GenArgs;

static void gen_usage(FILE* f) {
    fprintf(f,
            "usage: ./generate --model DIR (--prompts FILE.jsonl --out FILE.jsonl | --interactive) [options]\n"
            "Samples completions (KV cache, continuous batching) on the GPU when there is one, else with r1.h on the CPU.\n"
            "  --model DIR             Hugging Face Qwen2.5 folder (config.json, safetensors, vocab.json, merges.txt,\n"
            "                          tokenizer_config.json; generation_config.json gives the sampling defaults)\n"
            "  --prompts FILE          jsonl: {\"prompt\": text} or {\"messages\": [...]} per line (also \"problem\",\n"
            "                          \"question\", or Countdown's \"nums\" + \"target\" with --preset)\n"
            "  --out FILE              completions jsonl: {\"idx\", \"sample\", \"completion\", \"tokens\", \"finish\"}\n"
            "  -n N                    samples per prompt (default 1)\n"
            "  --interactive           read prompts from stdin, one per line (each a new conversation), and stream\n"
            "                          the answers\n"
            "prompt:\n"
            "  --chat / --no-chat      chat template on or off (default: on when the tokenizer has one)\n"
            "  --system TEXT           system prompt (default: the preset's, else the model's default)\n"
            "  --preset NAME           prompt template: boxed | r1 | openr1 | countdown (fills {problem}, {nums},\n"
            "                          {target} from the row)\n"
            "sampling (defaults: the model's generation_config.json, else greedy):\n"
            "  --temperature T         0 = greedy\n"
            "  --top-k K  --top-p P  --repetition-penalty R\n"
            "  --seed S                sample k of prompt i is reproducible from (S, i, k) (default 1)\n"
            "stopping:\n"
            "  --max-new-tokens N      (default: generation_config.json's, else 256)\n"
            "  --max-len N             context: prompt + completion (default: max_position_embeddings; more is\n"
            "                          allowed, RoPE extends, but the model was not trained that far)\n"
            "  --stop-id ID            stop on this token id too (repeatable; eos ids of the model are used too)\n"
            "  --ignore-eos            the model's eos ids do not stop generation: every completion gets\n"
            "                          --max-new-tokens tokens unless a --stop/--stop-id ends it (benchmarks; vLLM's ignore_eos)\n"
            "  --stop STR              stop once the completion contains STR (repeatable), e.g. --stop '</answer>'\n"
            "  --strip-stop            cut the stop string off the text (default: keep it, as rewards need it)\n"
            "  --min-think N           budget forcing (s1): an end of thinking before N tokens becomes \"Wait\"\n"
            "  --max-think N           budget forcing: \"</think>\" is forced after N tokens of thinking\n"
            "engine:\n"
            "  --slots N               sequences generated at once (default: 8 on the CPU; on a GPU as many as the\n"
            "                          completions, at most 256, that fit in 70%% of the free memory)\n"
            "  --cpu                   run r1.h's CPU engine even when a CUDA device is present\n"
            "  --no-graph              GPU: launch decode steps kernel by kernel instead of replaying a CUDA graph\n"
            "  --threads N             OpenMP threads (default: all cores)\n"
            "  --ids                   also write \"ids\" and \"logprobs\" of each completion\n");
}

static int gen_int(const char* flag, const char* v, int min) {
    char* end;
    long x = strtol(v, &end, 10);
    if (*v == '\0' || *end || x < min || x > 2147483647L) {
        fatal("%s %s: expected an integer >= %d", flag, v, min);
    }
    return (int)x;
}

static float gen_float(const char* flag, const char* v, float min) {
    char* end;
    double x = strtod(v, &end);
    if (*v == '\0' || *end || !(x >= min)) {
        fatal("%s %s: expected a number >= %g", flag, v, min);
    }
    return (float)x;
}

static GenArgs gen_parse_args(int argc, char** argv) {
    GenArgs a;
    memset(&a, 0, sizeof(a));
    a.n = 1, a.chat = -1, a.temperature = -1, a.top_p = -1, a.repetition_penalty = -1, a.top_k = -1;
    a.max_new_tokens = -1;
    generate_config_default(&a.g);
    for (int i = 1; i < argc; i++) {
        const char* f = argv[i];
        if (!strcmp(f, "--help") || !strcmp(f, "-h")) {
            gen_usage(stdout);
            exit(0);
        }
        int flag_only = !strcmp(f, "--chat") || !strcmp(f, "--no-chat") || !strcmp(f, "--interactive") ||
                        !strcmp(f, "--strip-stop") || !strcmp(f, "--ids") || !strcmp(f, "--cpu") ||
                        !strcmp(f, "--no-graph") || !strcmp(f, "--ignore-eos");
        if (flag_only) {
            if (!strcmp(f, "--chat") || !strcmp(f, "--no-chat")) a.chat = !strcmp(f, "--chat");
            else if (!strcmp(f, "--interactive")) a.interactive = 1;
            else if (!strcmp(f, "--strip-stop")) a.g.strip_stop = 1;
            else if (!strcmp(f, "--cpu")) a.cpu = 1;
            else if (!strcmp(f, "--no-graph")) a.no_graph = 1;
            else if (!strcmp(f, "--ignore-eos")) a.ignore_eos = 1;
            else a.ids = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fatal("%s needs a value (see ./generate --help)", f);
        }
        const char* v = argv[++i];
        if (!strcmp(f, "--model")) a.model = v;
        else if (!strcmp(f, "--prompts")) a.prompts = v;
        else if (!strcmp(f, "--out")) a.out = v;
        else if (!strcmp(f, "-n")) a.n = gen_int(f, v, 1);
        else if (!strcmp(f, "--system")) a.system = v;
        else if (!strcmp(f, "--preset")) a.preset = v;
        else if (!strcmp(f, "--temperature")) a.temperature = gen_float(f, v, 0);
        else if (!strcmp(f, "--top-k")) a.top_k = gen_int(f, v, 0);
        else if (!strcmp(f, "--top-p")) a.top_p = gen_float(f, v, 0);
        else if (!strcmp(f, "--repetition-penalty")) a.repetition_penalty = gen_float(f, v, 1e-6f);
        else if (!strcmp(f, "--seed")) a.g.seed = (uint64_t)gen_int(f, v, 0);
        else if (!strcmp(f, "--max-new-tokens")) a.max_new_tokens = gen_int(f, v, 1);
        else if (!strcmp(f, "--max-len")) a.g.max_len = gen_int(f, v, 2);
        else if (!strcmp(f, "--slots")) a.g.slots = gen_int(f, v, 1);
        else if (!strcmp(f, "--threads")) a.threads = gen_int(f, v, 1);
        else if (!strcmp(f, "--min-think")) a.min_think = gen_int(f, v, 0);
        else if (!strcmp(f, "--max-think")) a.max_think = gen_int(f, v, 0);
        else if (!strcmp(f, "--stop-id")) {
            if (a.n_stop_ids == GEN_MAX_IDS) {
                fatal("--stop-id: at most %d", GEN_MAX_IDS);
            }
            a.stop_ids[a.n_stop_ids++] = gen_int(f, v, 0);
        } else if (!strcmp(f, "--stop")) {
            if (a.g.n_stop == GEN_MAX_STOP || v[0] == '\0') {
                fatal("--stop: at most %d stop strings, none empty", GEN_MAX_STOP);
            }
            a.g.stop[a.g.n_stop++] = v;
        } else {
            fatal("unknown flag %s (see ./generate --help)", f);
        }
    }
    if (!a.model) {
        fatal("a model folder is needed: --model DIR (a Hugging Face Qwen2.5 folder, e.g. Qwen2.5-0.5B-Instruct, or "
              "a checkpoint written by ./train_sft or ./train_grpo)");
    }
    if (!a.interactive && (!a.prompts || !a.out)) {
        fatal("give --prompts FILE.jsonl and --out FILE.jsonl, or --interactive (see ./generate --help)");
    }
    if (a.chat == 0 && a.system) {
        fatal("--system needs the chat template (drop --no-chat)");
    }
    if (a.preset && !prompt_preset(a.preset)) {
        fatal("unknown --preset '%s' (boxed, r1, openr1, countdown)", a.preset);
    }
    return a;
}

// Sampling defaults from generation_config.json, then the flags; eos ids from the model.
static void gen_configure(GenArgs* a, const Qwen2Config* c, const Tokenizer* tok) {
    GenerateConfig* g = &a->g;
    generation_config_load(a->model, g);
    if (a->temperature >= 0) g->sampling.temperature = a->temperature;
    if (a->top_k >= 0) g->sampling.top_k = a->top_k;
    if (a->top_p >= 0) g->sampling.top_p = a->top_p;
    if (a->repetition_penalty >= 0) g->sampling.repetition_penalty = a->repetition_penalty;
    if (a->max_new_tokens > 0) g->max_new_tokens = a->max_new_tokens;
    // eos: generation_config.json's (transformers uses only these), config.json's, the tokenizer's, and in
    // chat mode <|im_end|>, which ends an assistant turn even in base models whose config lists only
    // <|endoftext|> (none of them with --ignore-eos); then --stop-id
    if (a->ignore_eos) {
        g->n_eos = 0;
    } else {
        if (c->eos_token_id >= 0 && c->eos_token_id < c->vocab_size) generate_add_eos(g, c->eos_token_id);
        if (tok->eos_id >= 0 && tok->eos_id < c->vocab_size) generate_add_eos(g, tok->eos_id);
        if (a->chat && tok->im_end_id >= 0 && tok->im_end_id < c->vocab_size) generate_add_eos(g, tok->im_end_id);
    }
    for (int i = 0; i < a->n_stop_ids; i++) {
        if (a->stop_ids[i] >= c->vocab_size) {
            fatal("--stop-id %d: unknown token (the model's vocabulary is 0..%d)", a->stop_ids[i], c->vocab_size - 1);
        }
        generate_add_eos(g, a->stop_ids[i]);
    }
    if (a->min_think > 0 || a->max_think > 0) {
        generate_config_budget(g, tok, a->min_think, a->max_think);
    }
}

// --- prompts -------------------------------------------------------------------------

typedef struct {
    int** ids; // (n) token ids of each prompt
    int* lens; // (n)
    int n, cap;
} GenPrompts;

static void gen_prompts_add(GenPrompts* p, int* ids, int len) {
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 64;
        p->ids = (int**)realloc_check(p->ids, (size_t)p->cap * sizeof(int*));
        p->lens = (int*)realloc_check(p->lens, (size_t)p->cap * sizeof(int));
    }
    p->ids[p->n] = ids;
    p->lens[p->n++] = len;
}

// The user text of a row: "prompt", "problem" or "question" (or Countdown's numbers and target),
// put into the preset's template when there is one. NULL when the row has none of these.
static char* gen_user_text(const Json* row, const PromptPreset* pp, const char* where) {
    const Json* nums = json_get(row, "nums");
    const Json* target = json_get(row, "target");
    char nbuf[512] = "", tbuf[32] = "";
    if (nums && nums->type == JSON_ARRAY && target && target->type == JSON_NUMBER) {
        size_t len = (size_t)snprintf(nbuf, sizeof(nbuf), "[");
        for (size_t i = 0; i < nums->len && len < sizeof(nbuf) - 16; i++) {
            len += (size_t)snprintf(nbuf + len, sizeof(nbuf) - len, "%s%.0f", i ? ", " : "", nums->items[i].number);
        }
        snprintf(nbuf + len, sizeof(nbuf) - len, "]");
        snprintf(tbuf, sizeof(tbuf), "%.0f", target->number);
    }
    const char* keys[3] = {"prompt", "problem", "question"};
    const char* text = NULL;
    for (int k = 0; k < 3 && !text; k++) {
        text = json_get_string(row, keys[k]);
    }
    if (!text && !nbuf[0]) {
        return NULL;
    }
    if (!pp) {
        if (!text) {
            fatal("%s: a Countdown row (nums, target) needs --preset countdown", where);
        }
        return strdup_check(text);
    }
    const char* pkeys[3] = {"problem", "nums", "target"};
    const char* values[3] = {text ? text : nbuf, nbuf, tbuf};
    return prompt_fill(pp->user, pkeys, values, 3);
}

// Token ids of one prompt row. Chat: the preset's or --system's system prompt, the user text, and the
// assistant header; "messages" rows as they are (a final assistant message is continued).
static int gen_encode_row(const GenArgs* a, const Tokenizer* tok, const Json* row, const char* where, int** ids) {
    const PromptPreset* pp = a->preset ? prompt_preset(a->preset) : NULL;
    const char* system = a->system ? a->system : pp ? pp->system : NULL;
    const Json* msgs = json_get(row, "messages");
    if (row->type != JSON_OBJECT) {
        fatal("%s: expected a JSON object like {\"prompt\": \"...\"}", where);
    }
    if (msgs) {
        if (!a->chat) {
            fatal("%s: a \"messages\" row needs the chat template (drop --no-chat)", where);
        }
        if (msgs->type != JSON_ARRAY || msgs->len == 0) {
            fatal("%s: \"messages\" must be a non-empty list of {\"role\", \"content\"}", where);
        }
        ChatMessage* cm = (ChatMessage*)malloc_check(msgs->len * sizeof(ChatMessage));
        for (size_t i = 0; i < msgs->len; i++) {
            cm[i].role = json_get_string(&msgs->items[i], "role");
            cm[i].content = json_get_string(&msgs->items[i], "content");
            if (!cm[i].role || !cm[i].content) {
                fatal("%s: message %zu needs string \"role\" and \"content\"", where, i);
            }
        }
        int cont = strcmp(cm[msgs->len - 1].role, "assistant") == 0;
        int n = chat_encode(tok, cm, (int)msgs->len, system, !cont, cont, ids, NULL);
        free(cm);
        return n;
    }
    char* user = gen_user_text(row, pp, where);
    if (!user) {
        fatal("%s: no prompt: expected \"prompt\" (or \"messages\", \"problem\", \"question\", \"nums\"+\"target\")",
              where);
    }
    int n;
    if (a->chat) {
        ChatMessage m = {"user", user};
        n = chat_encode(tok, &m, 1, system, 1, 0, ids, NULL);
    } else {
        n = tokenizer_encode(tok, user, strlen(user), ids);
    }
    free(user);
    return n;
}

// Reads the prompts file (jsonl; errors name file:line).
static GenPrompts gen_read_prompts(const GenArgs* a, const Tokenizer* tok) {
    GenPrompts p;
    memset(&p, 0, sizeof(p));
    size_t n;
    char* text = read_file(a->prompts, &n);
    size_t line = 0;
    for (char* s = text; s < text + n;) {
        char* e = (char*)memchr(s, '\n', (size_t)(text + n - s));
        e = e ? e : text + n;
        line++;
        char* t = s;
        while (t < e && isspace((unsigned char)*t)) {
            t++;
        }
        if (t < e) {
            char err[256], where[1100];
            snprintf(where, sizeof(where), "%s:%zu", a->prompts, line);
            Json* row = json_parse(s, (size_t)(e - s), err, sizeof(err));
            if (!row) {
                fatal("%s: malformed JSON (%s); expected one object per line like {\"prompt\": \"...\"}", where,
                      strncmp(err, "line 1, ", 8) == 0 ? err + 8 : err); // the parser saw one line
            }
            int* ids;
            int len = gen_encode_row(a, tok, row, where, &ids);
            if (len == 0) {
                fatal("%s: the prompt is empty", where);
            }
            gen_prompts_add(&p, ids, len);
            json_free(row);
        }
        s = e + 1;
    }
    free(text);
    if (p.n == 0) {
        fatal("%s: no prompts (an empty file?)", a->prompts);
    }
    return p;
}

// --- output --------------------------------------------------------------------------

static void gen_write(const GenArgs* a, const Completion* out, int n_prompts) {
    char* tmp;
    FILE* f = atomic_open(a->out, &tmp);
    for (int i = 0; i < n_prompts; i++) {
        for (int k = 0; k < a->n; k++) {
            const Completion* c = &out[(size_t)i * a->n + k];
            fprintf(f, "{\"idx\": %d, \"sample\": %d, \"completion\": ", i, k);
            json_write_string(f, c->text, c->text_len);
            fprintf(f, ", \"tokens\": %d, \"finish\": \"%s\"", c->n_tokens, c->finish == FINISH_STOP ? "stop" : "length");
            if (a->ids) {
                fprintf(f, ", \"ids\": [");
                for (int j = 0; j < c->n_tokens; j++) {
                    fprintf(f, "%s%d", j ? ", " : "", c->tokens[j]);
                }
                fprintf(f, "], \"logprobs\": [");
                for (int j = 0; j < c->n_tokens; j++) {
                    fprintf(f, "%s%.6g", j ? ", " : "", c->logprobs[j]);
                }
                fprintf(f, "]");
            }
            fprintf(f, "}\n");
        }
    }
    atomic_commit(f, tmp, a->out);
}

typedef struct {
    int done, total;
    double t0;
} GenProgress;

static void gen_progress(void* user, int prompt, int sample, const Completion* c) {
    GenProgress* p = (GenProgress*)user;
    p->done++;
    if (p->done == p->total || p->done % 16 == 0) {
        fprintf(stderr, "\rgenerate: %d/%d completions, %.0f s", p->done, p->total, wall_time() - p->t0);
        fflush(stderr);
    }
}

// --- interactive mode: one prompt per line from stdin, the answer streamed ------------------------

typedef struct {
    const Tokenizer* tok;
    TokenStream stream;
} GenStream;

static void gen_stream_token(void* user, int prompt, int sample, int token) {
    GenStream* s = (GenStream*)user;
    size_t len;
    const char* piece = token_stream_push(s->tok, &s->stream, token, 1, &len);
    fwrite(piece, 1, len, stdout);
    fflush(stdout);
}

static void gen_interactive(GenArgs* a, const GenEngine* e, const Qwen2Config* c, const Tokenizer* tok) {
    GenStream s;
    memset(&s, 0, sizeof(s));
    s.tok = tok;
    a->g.on_token = gen_stream_token;
    a->g.user = &s;
    char* line = NULL;
    size_t cap = 0;
    ssize_t got;
    for (int turn = 0;; turn++) {
        fprintf(stderr, "> ");
        if ((got = getline(&line, &cap, stdin)) < 0) {
            break;
        }
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) {
            line[--got] = '\0';
        }
        if (got == 0) {
            continue;
        }
        Json row;
        memset(&row, 0, sizeof(row));
        const char* key = "prompt";
        char* keys[1] = {(char*)key};
        Json value;
        memset(&value, 0, sizeof(value));
        value.type = JSON_STRING, value.string = line, value.len = (size_t)got;
        row.type = JSON_OBJECT, row.keys = keys, row.items = &value, row.len = 1;
        int* ids;
        int n = gen_encode_row(a, tok, &row, "stdin", &ids);
        Completion out;
        a->g.seed += (uint64_t)(turn > 0); // a new draw each turn
        double t0 = wall_time();
        generate_batch_engine(e, c, tok, &ids, &n, 1, 1, &a->g, &out);
        size_t len;
        const char* rest = token_stream_flush(&s.stream, &len);
        fwrite(rest, 1, len, stdout);
        printf("\n");
        fflush(stdout);
        fprintf(stderr, "[%d tokens, %s, %.1f tokens/s]\n", out.n_tokens, out.finish == FINISH_STOP ? "stop" : "length",
                out.n_tokens / (wall_time() - t0));
        completion_free(&out);
        free(ids);
    }
    free(line);
    token_stream_free(&s.stream);
}

// --- the engine: the GPU's when there is a CUDA device, else r1.h's ------------------------------

typedef struct {
    GenEngine e;
    CpuEngine cpu;
#ifdef __CUDACC__
    int on_gpu;
    GpuModel gm;
    GpuGen gpu;
#endif
} GenBackend;

// Picks the engine and says which runs: the GPU's (the model copied over in floatX) unless --cpu or
// no CUDA device, else r1.h's on the host copy of the model.
static void gen_backend_init(GenBackend* b, GenArgs* a, Qwen2* m) {
    memset(b, 0, sizeof(*b));
#ifdef __CUDACC__
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
        cudaGetLastError();
        fprintf(stderr, "no CUDA device: running the r1.h CPU path\n");
    } else if (a->cpu) {
        fprintf(stderr, "--cpu: running the r1.h CPU path\n");
    } else {
        cudaDeviceProp prop;
        cudaCheck(cudaGetDeviceProperties(&prop, 0));
        fprintf(stderr, "GPU engine on %s (%s%s)\n", prop.name, PRECISION_NAME,
                a->no_graph ? ", no CUDA graphs" : ", decode steps in a CUDA graph");
        gpu_model_from_host(&b->gm, m);
        gpu_gen_init(&b->gpu, &b->gm, !a->no_graph);
        b->e = gpu_gen_engine(&b->gpu);
        b->on_gpu = 1;
        if (a->g.step_tokens == 0) {
            a->g.step_tokens = 2048; // prompts go in bigger pieces: a GPU step of 512 tokens is mostly overhead
        }
        return;
    }
#else
    (void)a;
#endif
    b->cpu.m = m;
    GenEngine e = {&b->cpu, cpu_engine_begin, cpu_engine_step, cpu_engine_end};
    b->e = e;
}

static void gen_backend_free(GenBackend* b) {
#ifdef __CUDACC__
    if (b->on_gpu) {
        gpu_gen_summary(&b->gpu);
        gpu_gen_free(&b->gpu);
        gpu_model_free(&b->gm);
    }
#endif
    memset(b, 0, sizeof(*b));
}

// Without --slots the CPU engine runs 8 sequences at once; a GPU needs hundreds to keep busy, so there
// the default is as many as the completions, at most 256, and as many KV cache slots (of the prompts'
// longest + max_new_tokens, as generate_batch_engine sizes them) as fit in 70% of the free memory.
static void gen_default_slots(const GenBackend* b, GenArgs* a, const Qwen2Config* c, const GenPrompts* p) {
#ifdef __CUDACC__
    if (!b->on_gpu || a->g.slots > 0) {
        return;
    }
    int longest = 0, context = a->g.max_len > 0 ? a->g.max_len : c->max_position_embeddings;
    for (int i = 0; i < p->n; i++) {
        longest = p->lens[i] > longest ? p->lens[i] : longest;
    }
    long max_len = (long)longest + a->g.max_new_tokens < context ? (long)longest + a->g.max_new_tokens : context;
    double per_slot = 2.0 * c->num_layers * max_len * c->num_kv_heads * c->head_dim * sizeof(floatX);
    size_t free_b = 0, total_b = 0;
    cudaCheck(cudaMemGetInfo(&free_b, &total_b));
    double fit = 0.7 * (double)free_b / per_slot - 1; // (one more slot pads the graphed decode steps)
    long want = (long)p->n * a->n < 256 ? (long)p->n * a->n : 256;
    a->g.slots = (int)(fit < want ? (fit > 1 ? fit : 1) : want);
    fprintf(stderr, "slots: %d (%ld completions; --slots to choose)\n", a->g.slots, (long)p->n * a->n);
#else
    (void)b, (void)a, (void)c, (void)p;
#endif
}

#ifndef R1_NO_GENERATE_MAIN
int main(int argc, char** argv) {
    GenArgs a = gen_parse_args(argc, argv);
#ifdef _OPENMP
    if (a.threads > 0) {
        omp_set_num_threads(a.threads);
    }
#endif
    Qwen2 m;
    qwen2_load(&m, a.model);
    GenBackend b;
    gen_backend_init(&b, &a, &m);
    Tokenizer tok;
    tokenizer_load(&tok, a.model);
    if (a.chat < 0) {
        a.chat = tok.chat_template != NULL;
    }
    gen_configure(&a, &m.config, &tok);
    if (a.interactive) {
        gen_interactive(&a, &b.e, &m.config, &tok);
    } else {
        GenPrompts p = gen_read_prompts(&a, &tok);
        gen_default_slots(&b, &a, &m.config, &p);
        int total = p.n * a.n;
        Completion* out = (Completion*)calloc_check((size_t)total, sizeof(Completion));
        GenProgress prog = {0, total, wall_time()};
        a.g.on_done = gen_progress;
        a.g.user = &prog;
        generate_batch_engine(&b.e, &m.config, &tok, p.ids, p.lens, p.n, a.n, &a.g, out);
        double secs = wall_time() - prog.t0;
        gen_write(&a, out, p.n);
        long tokens = 0, prompt_tokens = 0;
        for (int i = 0; i < total; i++) {
            tokens += out[i].n_tokens;
            completion_free(&out[i]);
        }
        for (int i = 0; i < p.n; i++) {
            prompt_tokens += (long)p.lens[i] * a.n;
            free(p.ids[i]);
        }
        fprintf(stderr, "\ngenerate: %d completions, %ld new tokens (prompts: %ld tokens) in %.2f s: %.1f tokens/s -> %s\n",
                total, tokens, prompt_tokens, secs, tokens / (secs > 0 ? secs : 1e-9), a.out);
        free(out), free(p.ids), free(p.lens);
    }
    gen_backend_free(&b);
    tokenizer_free(&tok);
    qwen2_free(&m);
    return 0;
}
#endif // R1_NO_GENERATE_MAIN

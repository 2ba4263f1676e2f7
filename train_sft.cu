/*
train_sft: supervised fine-tuning (R1's cold start / distillation) of a Qwen2.5 model.

    ./train_sft                                   the tiny built-in model on Countdown traces (CPU, ~30 s)
    ./train_sft --model Qwen2.5-0.5B-Instruct --data traces.jsonl --out runs/sft

The loop itself (packing, accumulation, AdamW, held-out loss, checkpoints, resume) is r1.h's
(sft_train); this file parses the flags, loads the model and the data, and runs it. Built with nvcc
and run where a CUDA device is present, the forward, backward and AdamW of each update run on the GPU
(GpuTrain below, bf16 activations and fp32 master weights, gradients and moments; --gpus N for data
parallel with ZeRO-1 over the GPUs of one machine), through r1.h's SftBackend hooks, so the loop, the
data, the checkpoints and the metrics are the same as on the CPU. With --cpu, with no device, or built
with gcc -x c (plain C), the r1.h CPU path runs. --memory-plan prints what a GPU run needs; --recompute
keeps one layer of activations instead of all and recomputes each layer's just before its backward.

    ./train_sft --model Qwen2.5-3B-Instruct --data traces.jsonl --gpus 3 --batch 1 --seq-len 4096 --accum 8
    ./train_sft --memory-plan --preset 3B --gpus 3 --batch 1 --seq-len 4096
*/
#ifndef R1_NO_GENERATE_MAIN
#define R1_NO_GENERATE_MAIN // generate.cu's main is not ours
#endif
#include "generate.cu"
#ifdef __CUDACC__
#include <cuda_runtime.h>

// ----------------------------------------------------------------------------
// GPU: training kernels (twins of r1.h's *_backward, logprobs_forward/backward, adamw_update,
// clip_grad_norm)
// The backward pass, the loss and the optimizer, each the twin of the r1.h function of the same
// name without "_gpu". Precision, as in the forward kernels: activations and their gradients are
// floatX; parameter gradients, AdamW's moments and the master weights are fp32 (a bf16 gradient
// would round away the small contributions of single tokens once a million of them are summed);
// sums, softmax statistics and log-probs are fp32. Matmuls go through cuBLAS with fp32
// accumulation. Launchers never synchronise and never allocate: scratch comes in, sized by the
// matching *_scratch_bytes function. Element-wise kernels loop grid-stride over size_t indices.

#ifdef ENABLE_FP32
#define SFT_CUDA_FLOATX CUDA_R_32F
#else
#define SFT_CUDA_FLOATX CUDA_R_16BF
#endif

// Blocks for an element-wise kernel over n items (grid-stride loops cover the rest).
static unsigned sft_blocks(size_t n, int block) {
    size_t b = (n + (size_t)block - 1) / (size_t)block;
    return (unsigned)(b < 65536 ? (b > 0 ? b : 1) : 65536);
}

// Scratch regions start at multiples of 256 bytes (cuBLAS and vector loads like aligned pointers).
static size_t sft_align(size_t bytes) { return (bytes + 255) & ~(size_t)255; }

// The sum of v over a block (blockDim.x a multiple of 32): every thread gets the total. `shared`
// holds 32 values; the first __syncthreads lets a loop call this again with the same array.
template <typename T>
__device__ T sft_block_sum(T v, T* shared) {
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nwarps = blockDim.x / 32;
    for (int o = 16; o > 0; o >>= 1) {
        v += __shfl_xor_sync(0xffffffffu, v, o);
    }
    __syncthreads();
    if (lane == 0) {
        shared[warp] = v;
    }
    __syncthreads();
    v = lane < nwarps ? shared[lane] : (T)0;
    for (int o = 16; o > 0; o >>= 1) {
        v += __shfl_xor_sync(0xffffffffu, v, o);
    }
    return v;
}

// --- cuBLAS ---------------------------------------------------------------------------------------
// The training layer's own handle, created on first use (training steps are not graph-captured), one
// per host thread (= per GPU under dist_run). The default math mode keeps fp32 matmuls in true fp32
// (no TF32), which the PRECISION=FP32 tests need.
static thread_local cublasHandle_t sft_cublas = NULL;

// C = op(A) op(B) + beta C in cuBLAS's column-major terms: A and B floatX, C fp32 (ctype CUDA_R_32F)
// or floatX, fp32 accumulation. A row-major (R, K) matrix is a column-major (K, R) one with leading
// dimension K; every call below is written that way.
static void sft_gemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const floatX* A, int lda,
                     const floatX* B, int ldb, float beta, void* C, cudaDataType_t ctype, int ldc,
                     cudaStream_t stream) {
    if (sft_cublas == NULL) {
        cublasCheck(cublasCreate(&sft_cublas));
    }
    const float alpha = 1.0f;
    cublasCheck(cublasSetStream(sft_cublas, stream));
    cublasCheck(cublasGemmEx(sft_cublas, ta, tb, m, n, k, &alpha, A, SFT_CUDA_FLOATX, lda, B, SFT_CUDA_FLOATX, ldb,
                             &beta, C, ctype, ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

// --- embedding --------------------------------------------------------------------------------------

// dembed[ids[i]] += dout[i]. A token that appears several times adds into the same row, so the adds
// are atomic (fp32): the order of those few adds, and so the last bit, varies from run to run.
// The ids were checked by the forward pass.
__global__ void embedding_backward_kernel(float* dembed, const floatX* dout, const int* ids, int N, int C) {
    size_t n = (size_t)N * C;
    for (size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x; idx < n; idx += (size_t)gridDim.x * blockDim.x) {
        size_t i = idx / C, c = idx % C;
        atomicAdd(dembed + (size_t)ids[i] * C + c, to_float(dout[idx]));
    }
}

static void embedding_backward_gpu(float* dembed,      // (V, C)  +=, fp32
                                   const floatX* dout, // (N, C)
                                   const int* ids,     // (N)
                                   int N, int C, cudaStream_t stream) {
    if (N == 0) {
        return;
    }
    embedding_backward_kernel<<<sft_blocks((size_t)N * C, 256), 256, 0, stream>>>(dembed, dout, ids, N, C);
    cudaCheck(cudaGetLastError());
}

// --- RMSNorm ----------------------------------------------------------------------------------------
// dx = r (w dy - xhat mean(w dy xhat)) with xhat = x r, added (+=) into dinp in floatX: it is the
// residual stream's gradient, which the GPU path keeps in floatX as it keeps the stream itself.
// dweight = sum over rows of dy xhat, in fp32. A fixed number of blocks each take every
// RMSNORM_BWD_BLOCKS-th row and keep their share of dweight in shared memory; a second kernel
// adds the shares in block order, so the result is the same on every run.
#define RMSNORM_BWD_BLOCKS 256

static size_t rmsnorm_backward_scratch_bytes(int N, int C) {
    int blocks = N < RMSNORM_BWD_BLOCKS ? N : RMSNORM_BWD_BLOCKS;
    return (size_t)(blocks > 0 ? blocks : 1) * C * sizeof(float);
}

__global__ void rmsnorm_backward_kernel(floatX* dinp, float* partial /*(gridDim.x, C)*/, const floatX* dout,
                                        const floatX* inp, const floatX* weight, const float* rstd, int N, int C) {
    extern __shared__ float dw[]; // (C) this block's share of dweight; thread t owns j = t, t + blockDim.x, ...
    __shared__ float red[32];
    for (int j = threadIdx.x; j < C; j += blockDim.x) {
        dw[j] = 0.0f;
    }
    for (int i = blockIdx.x; i < N; i += gridDim.x) {
        const floatX* dy = dout + (size_t)i * C;
        const floatX* x = inp + (size_t)i * C;
        floatX* dx = dinp + (size_t)i * C;
        float r = rstd[i];
        float sum = 0.0f; // sum_j w_j dy_j xhat_j
        for (int j = threadIdx.x; j < C; j += blockDim.x) {
            sum += to_float(weight[j]) * to_float(dy[j]) * (to_float(x[j]) * r);
        }
        float mean = sft_block_sum(sum, red) / C;
        for (int j = threadIdx.x; j < C; j += blockDim.x) {
            float dyj = to_float(dy[j]), xhat = to_float(x[j]) * r;
            dx[j] = from_float(to_float(dx[j]) + r * (to_float(weight[j]) * dyj - xhat * mean));
            dw[j] += dyj * xhat;
        }
    }
    for (int j = threadIdx.x; j < C; j += blockDim.x) { // only this thread wrote dw[j]: no barrier needed
        partial[(size_t)blockIdx.x * C + j] = dw[j];
    }
}

__global__ void rmsnorm_backward_dweight_kernel(float* dweight, const float* partial, int blocks, int C) {
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j < C) {
        float s = 0.0f;
        for (int b = 0; b < blocks; b++) {
            s += partial[(size_t)b * C + j];
        }
        dweight[j] += s;
    }
}

static void rmsnorm_backward_gpu(floatX* dinp,         // (N, C)  +=, floatX
                                 float* dweight,       // (C)     +=, fp32
                                 const floatX* dout,   // (N, C)
                                 const floatX* inp,    // (N, C)
                                 const floatX* weight, // (C)
                                 const float* rstd,    // (N)     from rmsnorm_forward_gpu
                                 int N, int C,
                                 void* scratch,        // rmsnorm_backward_scratch_bytes(N, C)
                                 cudaStream_t stream) {
    if (N == 0) {
        return;
    }
    size_t smem = (size_t)C * sizeof(float);
    if (smem + 32 * sizeof(float) > 48 * 1024) { // (the static red[32] counts against the 48 KB too)
        fatal("rmsnorm_backward_gpu: hidden size %d is above the 12256 this kernel keeps in shared memory", C);
    }
    int blocks = N < RMSNORM_BWD_BLOCKS ? N : RMSNORM_BWD_BLOCKS;
    float* partial = (float*)scratch;
    rmsnorm_backward_kernel<<<blocks, 256, smem, stream>>>(dinp, partial, dout, inp, weight, rstd, N, C);
    cudaCheck(cudaGetLastError());
    rmsnorm_backward_dweight_kernel<<<ceil_div(C, 256), 256, 0, stream>>>(dweight, partial, blocks, C);
    cudaCheck(cudaGetLastError());
}

// --- matmul (nn.Linear) -----------------------------------------------------------------------------
// Backward of out = inp . weight^T + bias, as r1.h's matmul_backward:
//     dinp    += dout . weight      floatX, cuBLAS (beta = 1)
//     dweight += dout^T . inp       fp32,   cuBLAS (beta = 1)
//     dbias   += column sums of dout, fp32: a block per 32 columns, its 32 warps take every 32nd row
//                and the block adds their sums in a fixed order (deterministic, no atomics).

__global__ void matmul_backward_bias_kernel(float* dbias, const floatX* dout, int N, int OC) {
    __shared__ float part[32][33];
    int o = blockIdx.x * 32 + threadIdx.x;
    float s = 0.0f;
    if (o < OC) {
        for (int i = threadIdx.y; i < N; i += blockDim.y) {
            s += to_float(dout[(size_t)i * OC + o]);
        }
    }
    part[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y == 0 && o < OC) {
        float t = 0.0f;
        for (int k = 0; k < blockDim.y; k++) {
            t += part[k][threadIdx.x];
        }
        dbias[o] += t;
    }
}

static void matmul_backward_gpu(floatX* dinp,         // (N, C)   +=, or NULL (nothing to propagate)
                                float* dweight,       // (OC, C)  +=, fp32, or NULL (frozen)
                                float* dbias,         // (OC)     +=, fp32, or NULL (no bias)
                                const floatX* dout,   // (N, OC)
                                const floatX* inp,    // (N, C)
                                const floatX* weight, // (OC, C)
                                int N, int C, int OC, cudaStream_t stream) {
    if (N == 0) {
        return;
    }
    if (dinp) { // column-major: dinp^T (C, N) += weight^T (C, OC) . dout^T (OC, N)
        sft_gemm(CUBLAS_OP_N, CUBLAS_OP_N, C, N, OC, weight, C, dout, OC, 1.0f, dinp, SFT_CUDA_FLOATX, C, stream);
    }
    if (dweight) { // column-major: dweight^T (C, OC) += inp^T (C, N) . dout (N, OC)
        sft_gemm(CUBLAS_OP_N, CUBLAS_OP_T, C, OC, N, inp, C, dout, OC, 1.0f, dweight, CUDA_R_32F, C, stream);
    }
    if (dbias) {
        matmul_backward_bias_kernel<<<ceil_div(OC, 32), dim3(32, 32), 0, stream>>>(dbias, dout, N, OC);
        cudaCheck(cudaGetLastError());
    }
}

// --- RoPE -------------------------------------------------------------------------------------------
// The gradient of a rotation is the inverse rotation, in place on dx. The angles are computed as
// rope_forward_gpu computes them (r1.h's rope_tables: inv_freq = 1 / theta^(2j / HD) with the exponent
// in fp32 and the power in double, rounded, as glibc's powf rounds it; angle = pos * inv_freq in fp32;
// precise cosf / sinf), so forward and backward rotate by exactly the same angle.

__global__ void rope_backward_kernel(floatX* dx, const int* pos, int N, int NHX, int HD, float theta) {
    int half = HD / 2;
    size_t n = (size_t)N * half; // one thread per (token, pair j): the angle once, then every head
    for (size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x; idx < n; idx += (size_t)gridDim.x * blockDim.x) {
        int i = (int)(idx / half), j = (int)(idx % half);
        float inv_freq = 1.0f / (float)pow((double)theta, (double)((float)(2 * j) / (float)HD));
        float angle = (float)pos[i] * inv_freq;
        float c = cosf(angle), s = sinf(angle);
        for (int h = 0; h < NHX; h++) {
            floatX* d1 = dx + ((size_t)i * NHX + h) * HD + j; // its partner d2 is d1[half]
            float a = to_float(d1[0]), b = to_float(d1[half]);
            d1[0] = from_float(a * c + b * s);
            d1[half] = from_float(b * c - a * s);
        }
    }
}

static void rope_backward_gpu(floatX* dx,     // (N, NHX, HD)  in place; NHX = NH for q, NKV for k
                              const int* pos, // (N)           position of each token
                              int N, int NHX, int HD, float theta, cudaStream_t stream) {
    if (HD <= 0 || HD % 2 != 0) {
        fatal("rope_backward_gpu: head_dim %d must be even", HD);
    }
    if (N == 0) {
        return;
    }
    size_t n = (size_t)N * (HD / 2);
    rope_backward_kernel<<<sft_blocks(n, 256), 256, 0, stream>>>(dx, pos, N, NHX, HD, theta);
    cudaCheck(cudaGetLastError());
}

// --- SwiGLU -----------------------------------------------------------------------------------------
// silu'(x) = s (1 + x (1 - s)) with s = sigmoid(x). dgate and dup are overwritten (=).

__global__ void swiglu_backward_kernel(floatX* dgate, floatX* dup, const floatX* dout, const floatX* gate,
                                       const floatX* up, size_t n) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float g = to_float(gate[i]), d = to_float(dout[i]);
        float s = 1.0f / (1.0f + expf(-g));
        dup[i] = from_float(d * g * s);
        dgate[i] = from_float(d * to_float(up[i]) * s * (1.0f + g * (1.0f - s)));
    }
}

static void swiglu_backward_gpu(floatX* dgate,      // (N, I)  =
                                floatX* dup,        // (N, I)  =
                                const floatX* dout, // (N, I)
                                const floatX* gate, // (N, I)
                                const floatX* up,   // (N, I)
                                size_t n, cudaStream_t stream) {
    if (n == 0) {
        return;
    }
    swiglu_backward_kernel<<<sft_blocks(n, 256), 256, 0, stream>>>(dgate, dup, dout, gate, up, n);
    cudaCheck(cudaGetLastError());
}

// --- LM head: log-probs, loss and their gradient, chunk by chunk -------------------------------------
// Qwen2.5's vocabulary is 151,936: the fp32 logits of 16k tokens would take 10 GB, so they never exist
// whole. lm_head_loss_gpu takes `chunk_rows` rows at a time through
//     logits   = h . lm_head^T                          fp32, cuBLAS          (chunk_rows, V)
//     logprobs = logits[target] - logsumexp(logits)     logprobs_forward_gpu
//     dlogits  = dlogprobs * (onehot - softmax)         logprobs_backward_gpu, floatX (chunk_rows, V)
//     dh += dlogits . lm_head,  dlm_head += dlogits^T . h   matmul_backward_gpu
// so the scratch holds one chunk's logits and dlogits. dlogits is floatX because cuBLAS multiplies
// it with the floatX lm_head (no fp32 x bf16 products); in bf16 that rounds each entry to 3 digits.

// One block per row: an online log-sum-exp (running max and sum of exp(x - max) per thread, merged
// across the block), then logprob = logits[target] - lse. -100 targets get 0 (as r1.h); a target
// outside [0, V) gets NaN, so a bad label shows up as a non-finite loss instead of a wild read.
__device__ void sft_lse_merge(float* m, float* s, float m2, float s2) {
    float mm = fmaxf(*m, m2);
    if (mm == -INFINITY) { // both empty
        return;
    }
    *s = *s * expf(*m - mm) + s2 * expf(m2 - mm);
    *m = mm;
}

__global__ void logprobs_forward_kernel(float* logprobs, float* lse, const float* logits, const int* targets,
                                        int N, int V) {
    __shared__ float sm[32], ss[32];
    int i = blockIdx.x, lane = threadIdx.x % 32, warp = threadIdx.x / 32, nwarps = blockDim.x / 32;
    const float* x = logits + (size_t)i * V;
    float m = -INFINITY, s = 0.0f;
    for (int j = threadIdx.x; j < V; j += blockDim.x) {
        float xj = x[j];
        if (xj > m) {
            s = s * expf(m - xj) + 1.0f;
            m = xj;
        } else if (xj != -INFINITY) { // (-inf adds 0; with m = -inf too, exp(-inf - -inf) would be NaN)
            s += expf(xj - m);
        }
    }
    for (int o = 16; o > 0; o >>= 1) {
        sft_lse_merge(&m, &s, __shfl_xor_sync(0xffffffffu, m, o), __shfl_xor_sync(0xffffffffu, s, o));
    }
    if (lane == 0) {
        sm[warp] = m, ss[warp] = s;
    }
    __syncthreads();
    if (warp == 0) {
        m = lane < nwarps ? sm[lane] : -INFINITY;
        s = lane < nwarps ? ss[lane] : 0.0f;
        for (int o = 16; o > 0; o >>= 1) {
            sft_lse_merge(&m, &s, __shfl_xor_sync(0xffffffffu, m, o), __shfl_xor_sync(0xffffffffu, s, o));
        }
        if (lane == 0) {
            float l = m + logf(s);
            int t = targets[i];
            lse[i] = l;
            logprobs[i] = t == IGNORE_INDEX ? 0.0f : (t < 0 || t >= V ? NAN : x[t] - l);
        }
    }
}

static void logprobs_forward_gpu(float* logprobs,     // (N)     out
                                 float* lse,          // (N)     out: log-sum-exp of each row
                                 const float* logits, // (N, V)  fp32
                                 const int* targets,  // (N)     -100 = ignored
                                 int N, int V, cudaStream_t stream) {
    if (N == 0) {
        return;
    }
    logprobs_forward_kernel<<<N, 512, 0, stream>>>(logprobs, lse, logits, targets, N, V);
    cudaCheck(cudaGetLastError());
}

// dlogits = g (onehot(target) - softmax) with g = dlogprobs[i]: zeros where the target is -100 or
// g is 0 (as r1.h). One block per row.
__global__ void logprobs_backward_kernel(floatX* dlogits, const float* dlogprobs, const float* logits,
                                         const float* lse, const int* targets, int N, int V) {
    int i = blockIdx.x, t = targets[i];
    float g = dlogprobs[i], l = lse[i];
    const float* x = logits + (size_t)i * V;
    floatX* dx = dlogits + (size_t)i * V;
    int off = t == IGNORE_INDEX || g == 0.0f;
    for (int j = threadIdx.x; j < V; j += blockDim.x) {
        float d = off ? 0.0f : -g * expf(x[j] - l);
        if (j == t && !off) {
            d += g;
        }
        dx[j] = from_float(d);
    }
}

static void logprobs_backward_gpu(floatX* dlogits,        // (N, V)  =
                                  const float* dlogprobs, // (N)     d loss / d logprob of each token
                                  const float* logits,    // (N, V)  fp32
                                  const float* lse,       // (N)     from logprobs_forward_gpu
                                  const int* targets,     // (N)
                                  int N, int V, cudaStream_t stream) {
    if (N == 0) {
        return;
    }
    logprobs_backward_kernel<<<N, 512, 0, stream>>>(dlogits, dlogprobs, logits, lse, targets, N, V);
    cudaCheck(cudaGetLastError());
}

// dlogprobs for the mean cross-entropy: `scale` on each counted token, 0 where the target is -100.
// scale = -1 / (the loss tokens of the whole update, all micro-batches), as r1.h's sft_update.
__global__ void loss_dlogprobs_kernel(float* dlogprobs, const int* targets, int N, float scale) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < N) {
        dlogprobs[i] = targets[i] != IGNORE_INDEX ? scale : 0.0f;
    }
}

static void loss_dlogprobs_gpu(float* dlogprobs,  // (N) out
                               const int* targets, // (N)
                               int N, float scale, cudaStream_t stream) {
    if (N == 0) {
        return;
    }
    loss_dlogprobs_kernel<<<ceil_div(N, 256), 256, 0, stream>>>(dlogprobs, targets, N, scale);
    cudaCheck(cudaGetLastError());
}

// loss = -sum of the log-probs (ignored tokens hold 0), in double in one block: the same every run.
__global__ void lm_head_loss_sum_kernel(float* loss, const float* logprobs, int N) {
    __shared__ double red[32];
    double s = 0.0;
    for (int i = threadIdx.x; i < N; i += blockDim.x) {
        s -= (double)logprobs[i];
    }
    s = sft_block_sum(s, red);
    if (threadIdx.x == 0) {
        *loss = (float)s;
    }
}

#define LM_HEAD_CHUNK_ROWS 1024 // rows per chunk: 1024 x 151,936 x 6 bytes = 0.93 GB of scratch in bf16

static size_t lm_head_loss_scratch_bytes(int chunk_rows, int V) {
    size_t rv = (size_t)chunk_rows * V;
    return sft_align(rv * sizeof(float)) + sft_align(rv * sizeof(floatX)) + sft_align((size_t)chunk_rows * sizeof(float));
}

// Per-token log-probs, the summed loss and (when dlogprobs is given) the gradients, chunk by chunk.
// Forward only (evaluation, or GRPO's first look at the log-probs) with dlogprobs = NULL.
static void lm_head_loss_gpu(float* logprobs,         // (N)     out: log p(target), 0 where ignored
                             float* loss,             // (1)     out: -sum of logprobs, or NULL
                             floatX* dh,              // (N, C)  +=, or NULL
                             float* dlm_head,         // (V, C)  +=, fp32, or NULL (with tied embeddings: the
                                                      //         embedding's gradient)
                             const floatX* h,         // (N, C)  final norm's output
                             const floatX* lm_head,   // (V, C)
                             const int* targets,      // (N)     -100 = ignored
                             const float* dlogprobs,  // (N)     d loss / d logprob (loss_dlogprobs_gpu), or NULL
                             int N, int C, int V,
                             int chunk_rows,          // e.g. LM_HEAD_CHUNK_ROWS
                             void* scratch,           // lm_head_loss_scratch_bytes(chunk_rows, V)
                             cudaStream_t stream) {
    if (chunk_rows <= 0) {
        fatal("lm_head_loss_gpu: chunk_rows %d must be positive", chunk_rows);
    }
    size_t rv = (size_t)chunk_rows * V;
    float* logits = (float*)scratch;                                                // (chunk_rows, V)
    floatX* dlogits = (floatX*)((char*)scratch + sft_align(rv * sizeof(float)));   // (chunk_rows, V)
    float* lse = (float*)((char*)dlogits + sft_align(rv * sizeof(floatX)));        // (chunk_rows)
    for (int r0 = 0; r0 < N; r0 += chunk_rows) {
        int n = N - r0 < chunk_rows ? N - r0 : chunk_rows;
        const floatX* hc = h + (size_t)r0 * C;
        // column-major: logits^T (V, n) = lm_head (V, C) . hc^T (C, n)
        sft_gemm(CUBLAS_OP_T, CUBLAS_OP_N, V, n, C, lm_head, C, hc, C, 0.0f, logits, CUDA_R_32F, V, stream);
        logprobs_forward_gpu(logprobs + r0, lse, logits, targets + r0, n, V, stream);
        if (dlogprobs && (dh || dlm_head)) {
            logprobs_backward_gpu(dlogits, dlogprobs + r0, logits, lse, targets + r0, n, V, stream);
            matmul_backward_gpu(dh ? dh + (size_t)r0 * C : NULL, dlm_head, NULL, dlogits, hc, lm_head, n, C, V, stream);
        }
    }
    if (loss) { // N = 0 writes 0
        lm_head_loss_sum_kernel<<<1, 1024, 0, stream>>>(loss, logprobs, N);
        cudaCheck(cudaGetLastError());
    }
}

// --- gradient norm and clipping -----------------------------------------------------------------------
// As r1.h's grad_norm: the sum of squares in double (each thread, then each of GRAD_NORM_BLOCKS
// blocks into scratch, then one block over those), so the norm does not depend on how the work is
// split beyond the last bit, and is the same on every run. clip_grad_norm_gpu then scales by
// max_norm / (norm + 1e-6) when that is below 1, reading the norm on the device (no host round trip).
#define GRAD_NORM_BLOCKS 512

static size_t grad_norm_scratch_bytes(void) { return GRAD_NORM_BLOCKS * sizeof(double); }

__global__ void grad_norm_partial_kernel(double* partial, const float* g, size_t n) {
    __shared__ double red[32];
    double s = 0.0;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        s += (double)g[i] * (double)g[i];
    }
    s = sft_block_sum(s, red);
    if (threadIdx.x == 0) {
        partial[blockIdx.x] = s;
    }
}

__global__ void grad_norm_final_kernel(float* norm, const double* partial, int blocks) {
    __shared__ double red[32];
    double s = 0.0;
    for (int b = threadIdx.x; b < blocks; b += blockDim.x) {
        s += partial[b];
    }
    s = sft_block_sum(s, red);
    if (threadIdx.x == 0) {
        *norm = (float)sqrt(s);
    }
}

static void grad_norm_gpu(float* norm,     // (1) out: the L2 norm of g
                          const float* g,  // (n) fp32 gradients
                          size_t n,
                          void* scratch,   // grad_norm_scratch_bytes()
                          cudaStream_t stream) {
    double* partial = (double*)scratch;
    grad_norm_partial_kernel<<<GRAD_NORM_BLOCKS, 512, 0, stream>>>(partial, g, n);
    cudaCheck(cudaGetLastError());
    grad_norm_final_kernel<<<1, 512, 0, stream>>>(norm, partial, GRAD_NORM_BLOCKS);
    cudaCheck(cudaGetLastError());
}

__global__ void clip_grad_norm_kernel(float* g, size_t n, const float* norm, float max_norm) {
    float nm = *norm;
    float coef = max_norm / (nm + 1e-6f);
    if (!isfinite(nm) || !(coef < 1.0f)) { // non-finite: left as is, the caller skips the update
        return;
    }
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        g[i] *= coef;
    }
}

// Global-norm clipping as torch.nn.utils.clip_grad_norm_ (r1.h's clip_grad_norm): norm is the norm
// before clipping (what gets logged); max_norm <= 0 only measures.
static void clip_grad_norm_gpu(float* norm,    // (1) out
                               float* g,       // (n) fp32 gradients, scaled in place
                               size_t n, float max_norm,
                               void* scratch,  // grad_norm_scratch_bytes()
                               cudaStream_t stream) {
    grad_norm_gpu(norm, g, n, scratch, stream);
    if (max_norm > 0.0f && n > 0) {
        clip_grad_norm_kernel<<<sft_blocks(n, 256), 256, 0, stream>>>(g, n, norm, max_norm);
        cudaCheck(cudaGetLastError());
    }
}

// --- AdamW --------------------------------------------------------------------------------------------
// r1.h's adamw_update step for step, on fp32 master weights and moments; the scalars are computed
// on the host in double exactly as there. params_x, when given, receives the updated weights in
// floatX: the working copy the forward and backward kernels read.

__global__ void adamw_update_kernel(float* params, const float* grads, float* m, float* v, size_t n, float decay,
                                    int decays, float step_size, float bc2_sqrt, float w1, float w2, float beta2,
                                    float eps, floatX* params_x) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float g = grads[i];
        float p = decays ? params[i] * decay : params[i]; // decoupled decay, on the old weight
        float mi = m[i] + w1 * (g - m[i]);
        float vi = v[i] * beta2 + w2 * g * g;
        float denom = sqrtf(vi) / bc2_sqrt + eps; // eps after the bias correction, as torch
        p = p + (-step_size) * (mi / denom);
        m[i] = mi, v[i] = vi, params[i] = p;
        if (params_x) {
            params_x[i] = from_float(p);
        }
    }
}

static void adamw_update_gpu(float* params,       // (n) fp32 master weights, updated
                             const float* grads,  // (n) fp32
                             float* m, float* v,  // (n) fp32 moments, updated
                             size_t n, int t,     // t: 1-based count of updates, this one included
                             float lr, float beta1, float beta2, float eps, float weight_decay,
                             floatX* params_x,    // (n) out: floatX copy of params, or NULL
                             cudaStream_t stream) {
    if (n == 0) {
        return;
    }
    float decay = (float)(1.0 - (double)lr * weight_decay);
    float step_size = (float)((double)lr / (1.0 - pow(beta1, t)));
    float bc2_sqrt = (float)sqrt(1.0 - pow(beta2, t));
    float w1 = (float)(1.0 - (double)beta1), w2 = (float)(1.0 - (double)beta2);
    adamw_update_kernel<<<sft_blocks(n, 256), 256, 0, stream>>>(params, grads, m, v, n, decay, weight_decay != 0.0f,
                                                                step_size, bc2_sqrt, w1, w2, beta2, eps, params_x);
    cudaCheck(cudaGetLastError());
}

// A whole model: one adamw_update_gpu per tensor, weight decay where param_decays says (matrices).
// params, grads, m, v (fp32) and params_x (floatX) are laid out as r1.h's param_point lays out the
// flat buffer (with tied embeddings there is no separate lm_head).
static void adamw_update_model_gpu(const Qwen2Config* c, float* params, const float* grads, float* m, float* v,
                                   int t, float lr, const AdamWConfig* cfg, floatX* params_x, cudaStream_t stream) {
    size_t sizes[NUM_PARAM_TENSORS + 1], at = 0;
    param_sizes(c, sizes);
    for (int i = 0; i <= NUM_PARAM_TENSORS; i++) {
        float wd = param_decays(PARAM_SPECS[i].hf_name) ? cfg->weight_decay : 0.0f;
        adamw_update_gpu(params + at, grads + at, m + at, v + at, sizes[i], t, lr, cfg->beta1, cfg->beta2, cfg->eps,
                         wd, params_x ? params_x + at : NULL, stream);
        at += sizes[i];
    }
}


// ----------------------------------------------------------------------------
// GPU: attention for training (twins of r1.h's attention_forward / attention_backward: packed
// documents, flash-style, no T x T matrix)
// Flash attention (FlashAttention-2's algorithm) in fp32 arithmetic on CUDA cores: nothing of size
// T x T is ever stored, so T = 4096 and beyond fit, and shared memory does not grow with T. Token t
// of row b attends to keys doc_start[b, t] .. t (its own document, causal); query head h reads kv
// head h / (NH / NKV).
//   forward:  out and lse = m + log(l) per (b, h, t) (the softmax's log-normaliser, kept for backward)
//   backward: D = rowsum(dout * out) per (b, h, t) (= sum_j P_j dP_j, the softmax backward's shift);
//             then dK, dV by key tiles (a block owns keys j0.. of one kv head and walks every query
//             head of its group and every query that can see those keys, summing in registers: each
//             dk/dv element has one writer, no atomics) and dQ by query tiles (a second pass that
//             recomputes P and dP: two more products than with atomics, but deterministic).
// Layout of the work: G = HD / 16 adjacent threads share one row (a query, or a key in the dK/dV
// pass) and each holds 16 of its dims in registers, as 4 float4 chunks at 4 g + 4 G kk (g = thread
// in the group, kk = 0..3), so the G lanes read consecutive 16-byte words of a shared-memory row (no
// bank conflicts) and every other group of the warp reads the same words (a broadcast). A dot product
// is 16 FMAs per thread and a butterfly over the G lanes, after which every lane of the group holds
// the same bits (float addition is commutative), so the softmax statistics agree across the group.
// The other operand streams through shared memory in fp32 tiles of 32 rows x HD (16 KB at HD 128;
// every kernel stays under 48 KB of static shared memory). Scores are scaled by HD^-0.5 after the
// dot product, as r1.h does. Both passes are deterministic: the same inputs give the same bits.

#define TATT_THREADS 256 // threads per block, every kernel here
#define TATT_TILE 32     // rows per shared-memory tile: keys (forward, dQ) or queries (dK/dV)

// The 16 dims of thread g (of a group of G = HD / 16): chunk kk (0..3) holds dims 4 g + 4 G kk + 0..3.
template <int HD>
__device__ __forceinline__ int tatt_dim(int g, int kk) {
    return 4 * g + 4 * (HD / 16) * kk;
}

// A row's 16 dims of this thread, global floatX -> fp32 registers.
template <int HD>
__device__ __forceinline__ void tatt_load_regs(float* x, const floatX* row, int g) {
#pragma unroll
    for (int kk = 0; kk < 4; kk++) {
#pragma unroll
        for (int e = 0; e < 4; e++) {
            x[4 * kk + e] = to_float(row[tatt_dim<HD>(g, kk) + e]);
        }
    }
}

// fp32 registers (each divided by div) -> a row's 16 dims of this thread in global floatX.
template <int HD>
__device__ __forceinline__ void tatt_store_regs(floatX* row, const float* x, float div, int g) {
#pragma unroll
    for (int kk = 0; kk < 4; kk++) {
#pragma unroll
        for (int e = 0; e < 4; e++) {
            row[tatt_dim<HD>(g, kk) + e] = from_float(x[4 * kk + e] / div);
        }
    }
}

// This thread's part of the dot product of its registers x with a shared-memory row of HD floats.
template <int HD>
__device__ __forceinline__ float tatt_dot(const float* srow, const float* x, int g) {
    float s = 0.0f;
#pragma unroll
    for (int kk = 0; kk < 4; kk++) {
        float4 r = *reinterpret_cast<const float4*>(srow + tatt_dim<HD>(g, kk));
        s += x[4 * kk] * r.x + x[4 * kk + 1] * r.y + x[4 * kk + 2] * r.z + x[4 * kk + 3] * r.w;
    }
    return s;
}

// acc += a * (this thread's dims of a shared-memory row)
template <int HD>
__device__ __forceinline__ void tatt_axpy(float* acc, float a, const float* srow, int g) {
#pragma unroll
    for (int kk = 0; kk < 4; kk++) {
        float4 r = *reinterpret_cast<const float4*>(srow + tatt_dim<HD>(g, kk));
        acc[4 * kk] += a * r.x, acc[4 * kk + 1] += a * r.y, acc[4 * kk + 2] += a * r.z, acc[4 * kk + 3] += a * r.w;
    }
}

// The sum over the G adjacent lanes of a group (G divides 32); every lane gets the same bits.
template <int G>
__device__ __forceinline__ float tatt_group_sum(float s) {
#pragma unroll
    for (int off = 1; off < G; off <<= 1) {
        s += __shfl_xor_sync(0xffffffffu, s, off);
    }
    return s;
}

// Rows r0 .. r0+TATT_TILE-1 of one head (rows `stride` floatX apart, HD wide, 16-byte aligned) into
// shared memory as fp32, 16 bytes at a time; rows at or past `end` become zeros.
template <int HD>
__device__ __forceinline__ void tatt_load_tile(float* dst, const floatX* src, size_t stride, int r0, int end) {
    constexpr int PPR = HD / PACKX; // 16-byte packs per row
    for (int idx = threadIdx.x; idx < TATT_TILE * PPR; idx += TATT_THREADS) {
        int r = idx / PPR, c = (idx % PPR) * PACKX;
        float* o = dst + r * HD + c;
        if (r0 + r < end) {
            PackX x = load_packx(src + (size_t)(r0 + r) * stride + c);
#pragma unroll
            for (int e = 0; e < PACKX; e += 4) {
                *reinterpret_cast<float4*>(o + e) =
                    make_float4(to_float(x.v[e]), to_float(x.v[e + 1]), to_float(x.v[e + 2]), to_float(x.v[e + 3]));
            }
        } else {
#pragma unroll
            for (int e = 0; e < PACKX; e += 4) {
                *reinterpret_cast<float4*>(o + e) = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
            }
        }
    }
}

// The first key any query of rows i0 .. iend-1 needs: the smallest doc_start among them (doc_start
// only grows along a row, but the minimum costs nothing and holds for any doc_start <= t).
__device__ __forceinline__ int tatt_first_key(const int* dstart, int i0, int iend, int* red) {
    if (threadIdx.x == 0) {
        *red = iend;
    }
    __syncthreads();
    int mn = iend;
    for (int i = i0 + threadIdx.x; i < iend; i += TATT_THREADS) {
        mn = min(mn, dstart[i]);
    }
    atomicMin(red, mn);
    __syncthreads();
    return *red;
}

// --- forward ---

// One block per (ROWS = TATT_THREADS / G query rows, query head, batch row); the block walks the key
// tiles from the first key its rows need to its last row, with an online softmax per row (running max
// m and sum l, the accumulator rescaled when the max grows). Row tiles run last-first: the longest
// rows start first.
template <int HD>
__global__ void __launch_bounds__(TATT_THREADS)
    attention_train_forward_kernel(floatX* out,          // (B, T, NH, HD)
                                   float* lse,           // (B, NH, T)
                                   const floatX* q,      // (B, T, NH, HD)
                                   const floatX* k,      // (B, T, NKV, HD)
                                   const floatX* v,      // (B, T, NKV, HD)
                                   const int* doc_start, // (B, T)
                                   int T, int NH, int NKV, float scale) {
    constexpr int G = HD / 16, ROWS = TATT_THREADS / G;
    __shared__ __align__(16) float ks[TATT_TILE * HD];
    __shared__ __align__(16) float vs[TATT_TILE * HD];
    __shared__ int red;
    const int b = blockIdx.z, h = blockIdx.y, kvh = h / (NH / NKV), g = threadIdx.x % G;
    const int i0 = (gridDim.x - 1 - blockIdx.x) * ROWS, iend = min(i0 + ROWS, T);
    const int i = i0 + threadIdx.x / G, ic = min(i, T - 1); // rows past T compute on row T-1, write nothing
    const size_t QD = (size_t)NH * HD, KVD = (size_t)NKV * HD;
    const int* dstart = doc_start + (size_t)b * T;
    const int first = dstart[ic], last = i < T ? i : -1; // this row's keys: first .. last
    const int kmin = tatt_first_key(dstart, i0, iend, &red);
    const floatX* kb = k + (size_t)b * T * KVD + (size_t)kvh * HD; // (T, HD), rows KVD apart
    const floatX* vb = v + (size_t)b * T * KVD + (size_t)kvh * HD;
    float qr[16], acc[16], m = -INFINITY, l = 0.0f;
    tatt_load_regs<HD>(qr, q + ((size_t)b * T + ic) * QD + (size_t)h * HD, g);
#pragma unroll
    for (int d = 0; d < 16; d++) {
        acc[d] = 0.0f;
    }
    for (int k0 = kmin; k0 < iend; k0 += TATT_TILE) {
        __syncthreads(); // the previous tile is read
        tatt_load_tile<HD>(ks, kb, KVD, k0, iend);
        tatt_load_tile<HD>(vs, vb, KVD, k0, iend);
        __syncthreads();
        float s[TATT_TILE], mx = -INFINITY;
#pragma unroll
        for (int c = 0; c < TATT_TILE; c++) {
            float dot = tatt_group_sum<G>(tatt_dot<HD>(ks + c * HD, qr, g));
            int j = k0 + c;
            s[c] = j >= first && j <= last ? dot * scale : -INFINITY;
            mx = fmaxf(mx, s[c]);
        }
        float m_new = fmaxf(m, mx);
        float m_use = m_new == -INFINITY ? 0.0f : m_new; // no key yet: exp(-inf - 0) = 0 rather than NaN
        float corr = expf(m - m_use);
        l *= corr;
#pragma unroll
        for (int d = 0; d < 16; d++) {
            acc[d] *= corr;
        }
#pragma unroll
        for (int c = 0; c < TATT_TILE; c++) {
            float p = expf(s[c] - m_use);
            l += p;
            tatt_axpy<HD>(acc, p, vs + c * HD, g);
        }
        m = m_new;
    }
    if (i < T) {
        tatt_store_regs<HD>(out + ((size_t)b * T + i) * QD + (size_t)h * HD, acc, l, g);
        if (g == 0) {
            lse[((size_t)b * NH + h) * T + i] = m + logf(l);
        }
    }
}

// --- backward ---

// D[b, h, t] = dout . out over the HD dims of one (b, t, h): one warp per row.
__global__ void attention_backward_preprocess_kernel(float* dsum,         // (B, NH, T)
                                                     const floatX* dout,  // (B, T, NH, HD)
                                                     const floatX* out,   // (B, T, NH, HD)
                                                     int B, int T, int NH, int HD) {
    size_t row = (size_t)blockIdx.x * (TATT_THREADS / 32) + threadIdx.x / 32; // (b, t, h)
    int lane = threadIdx.x % 32;
    if (row >= (size_t)B * T * NH) { // the whole warp leaves together
        return;
    }
    const floatX* a = dout + row * HD;
    const floatX* o = out + row * HD;
    float s = 0.0f;
    for (int d = lane; d < HD; d += 32) {
        s += to_float(a[d]) * to_float(o[d]);
    }
    for (int off = 16; off > 0; off >>= 1) {
        s += __shfl_xor_sync(0xffffffffu, s, off);
    }
    if (lane == 0) {
        int h = (int)(row % NH);
        size_t bt = row / NH;
        dsum[((bt / T) * NH + h) * T + bt % T] = s;
    }
}

// dK and dV: one block per (KEYS = TATT_THREADS / G keys, kv head, batch row). A key j is seen by the
// queries t >= j of its document; the block finds tend = 1 + the last query that sees any of its keys,
// then, for each query head of the group and each tile of queries j0 .. tend-1 (queries, their output
// gradients, lse and D in shared memory), every key group walks the tile row by row:
//     p = exp(q.k * scale - lse)   dp = dout . v   ds = p (dp - D) * scale
//     dV += p dout                 dK += ds q
// with the key's k, v, dK and dV in registers. dk and dv are written once (=), as r1.h's are.
template <int HD>
__global__ void __launch_bounds__(TATT_THREADS)
    attention_backward_dkdv_kernel(floatX* dk,           // (B, T, NKV, HD)
                                   floatX* dv,           // (B, T, NKV, HD)
                                   const floatX* dout,   // (B, T, NH, HD)
                                   const float* lse,     // (B, NH, T)
                                   const float* dsum,    // (B, NH, T)
                                   const floatX* q,      // (B, T, NH, HD)
                                   const floatX* k,      // (B, T, NKV, HD)
                                   const floatX* v,      // (B, T, NKV, HD)
                                   const int* doc_start, // (B, T)
                                   int T, int NH, int NKV, float scale) {
    constexpr int G = HD / 16, KEYS = TATT_THREADS / G;
    __shared__ __align__(16) float qs[TATT_TILE * HD];
    __shared__ __align__(16) float dos[TATT_TILE * HD];
    __shared__ float lse_s[TATT_TILE], dsum_s[TATT_TILE];
    __shared__ int first_s[TATT_TILE];
    __shared__ int tend_s;
    const int b = blockIdx.z, kvh = blockIdx.y, group = NH / NKV, g = threadIdx.x % G;
    const int j0 = blockIdx.x * KEYS, jlast = min(j0 + KEYS, T) - 1; // the first tiles have the most queries
    const int j = j0 + threadIdx.x / G, jc = min(j, T - 1);          // keys past T compute on key T-1, write nothing
    const size_t QD = (size_t)NH * HD, KVD = (size_t)NKV * HD;
    const int* dstart = doc_start + (size_t)b * T;
    if (threadIdx.x == 0) {
        tend_s = jlast + 1; // query jlast sees key jlast
    }
    __syncthreads();
    int mx = jlast + 1;
    for (int t = jlast + 1 + threadIdx.x; t < T; t += TATT_THREADS) {
        if (dstart[t] <= jlast) {
            mx = t + 1;
        }
    }
    atomicMax(&tend_s, mx);
    __syncthreads();
    const int tend = tend_s;
    float kr[16], vr[16], dkr[16], dvr[16];
    tatt_load_regs<HD>(kr, k + ((size_t)b * T + jc) * KVD + (size_t)kvh * HD, g);
    tatt_load_regs<HD>(vr, v + ((size_t)b * T + jc) * KVD + (size_t)kvh * HD, g);
#pragma unroll
    for (int d = 0; d < 16; d++) {
        dkr[d] = 0.0f, dvr[d] = 0.0f;
    }
    for (int h = kvh * group; h < (kvh + 1) * group; h++) {
        const floatX* qb = q + (size_t)b * T * QD + (size_t)h * HD; // (T, HD), rows QD apart
        const floatX* dob = dout + (size_t)b * T * QD + (size_t)h * HD;
        const float* lse_h = lse + ((size_t)b * NH + h) * T; // (T)
        const float* dsum_h = dsum + ((size_t)b * NH + h) * T;
        for (int t0 = j0; t0 < tend; t0 += TATT_TILE) {
            __syncthreads(); // the previous tile is read
            tatt_load_tile<HD>(qs, qb, QD, t0, tend);
            tatt_load_tile<HD>(dos, dob, QD, t0, tend);
            if (threadIdx.x < TATT_TILE) {
                int t = t0 + threadIdx.x;
                bool in = t < tend;
                lse_s[threadIdx.x] = in ? lse_h[t] : 0.0f;
                dsum_s[threadIdx.x] = in ? dsum_h[t] : 0.0f;
                first_s[threadIdx.x] = in ? dstart[t] : T;
            }
            __syncthreads();
            const int rows = min(TATT_TILE, tend - t0); // the same for the whole block
#pragma unroll 2
            for (int r = 0; r < rows; r++) {
                const float* qrow = qs + r * HD;
                const float* dorow = dos + r * HD;
                float s = tatt_group_sum<G>(tatt_dot<HD>(qrow, kr, g));
                float dp = tatt_group_sum<G>(tatt_dot<HD>(dorow, vr, g));
                int t = t0 + r;
                float p = j <= t && j >= first_s[r] ? expf(s * scale - lse_s[r]) : 0.0f; // (j <= t < T)
                float ds = p * (dp - dsum_s[r]) * scale;
                tatt_axpy<HD>(dvr, p, dorow, g);
                tatt_axpy<HD>(dkr, ds, qrow, g);
            }
        }
    }
    if (j < T) {
        tatt_store_regs<HD>(dk + ((size_t)b * T + j) * KVD + (size_t)kvh * HD, dkr, 1.0f, g);
        tatt_store_regs<HD>(dv + ((size_t)b * T + j) * KVD + (size_t)kvh * HD, dvr, 1.0f, g);
    }
}

// dQ: the forward's layout (one block per (ROWS query rows, query head, batch row), key tiles in
// shared memory), recomputing p and dp per key:  dQ = sum_j ds_j k_j.
template <int HD>
__global__ void __launch_bounds__(TATT_THREADS)
    attention_backward_dq_kernel(floatX* dq,           // (B, T, NH, HD)
                                 const floatX* dout,   // (B, T, NH, HD)
                                 const float* lse,     // (B, NH, T)
                                 const float* dsum,    // (B, NH, T)
                                 const floatX* q,      // (B, T, NH, HD)
                                 const floatX* k,      // (B, T, NKV, HD)
                                 const floatX* v,      // (B, T, NKV, HD)
                                 const int* doc_start, // (B, T)
                                 int T, int NH, int NKV, float scale) {
    constexpr int G = HD / 16, ROWS = TATT_THREADS / G;
    __shared__ __align__(16) float ks[TATT_TILE * HD];
    __shared__ __align__(16) float vs[TATT_TILE * HD];
    __shared__ int red;
    const int b = blockIdx.z, h = blockIdx.y, kvh = h / (NH / NKV), g = threadIdx.x % G;
    const int i0 = (gridDim.x - 1 - blockIdx.x) * ROWS, iend = min(i0 + ROWS, T);
    const int i = i0 + threadIdx.x / G, ic = min(i, T - 1);
    const size_t QD = (size_t)NH * HD, KVD = (size_t)NKV * HD;
    const int* dstart = doc_start + (size_t)b * T;
    const int first = dstart[ic], last = i < T ? i : -1;
    const int kmin = tatt_first_key(dstart, i0, iend, &red);
    const floatX* kb = k + (size_t)b * T * KVD + (size_t)kvh * HD;
    const floatX* vb = v + (size_t)b * T * KVD + (size_t)kvh * HD;
    const float L = lse[((size_t)b * NH + h) * T + ic], D = dsum[((size_t)b * NH + h) * T + ic];
    float qr[16], dor[16], dqr[16];
    tatt_load_regs<HD>(qr, q + ((size_t)b * T + ic) * QD + (size_t)h * HD, g);
    tatt_load_regs<HD>(dor, dout + ((size_t)b * T + ic) * QD + (size_t)h * HD, g);
#pragma unroll
    for (int d = 0; d < 16; d++) {
        dqr[d] = 0.0f;
    }
    for (int k0 = kmin; k0 < iend; k0 += TATT_TILE) {
        __syncthreads();
        tatt_load_tile<HD>(ks, kb, KVD, k0, iend);
        tatt_load_tile<HD>(vs, vb, KVD, k0, iend);
        __syncthreads();
#pragma unroll 4
        for (int c = 0; c < TATT_TILE; c++) {
            float s = tatt_group_sum<G>(tatt_dot<HD>(ks + c * HD, qr, g));
            float dp = tatt_group_sum<G>(tatt_dot<HD>(vs + c * HD, dor, g));
            int j = k0 + c;
            float p = j >= first && j <= last ? expf(s * scale - L) : 0.0f;
            float ds = p * (dp - D) * scale;
            tatt_axpy<HD>(dqr, ds, ks + c * HD, g);
        }
    }
    if (i < T) {
        tatt_store_regs<HD>(dq + ((size_t)b * T + i) * QD + (size_t)h * HD, dqr, 1.0f, g);
    }
}

// --- launchers ---

// Backward scratch: D, one float per (b, h, t).
static size_t attention_train_scratch_bytes(int B, int T, int NH, int NKV, int HD) {
    (void)NKV, (void)HD;
    return (size_t)B * NH * T * sizeof(float);
}

static void attention_train_check(const char* who, int B, int NH, int NKV, int HD, const void* const* ptrs, int n) {
    if (NKV <= 0 || NH % NKV != 0) {
        fatal("%s: %d query heads do not split into groups of %d kv heads", who, NH, NKV);
    }
    if (HD != 16 && HD != 32 && HD != 64 && HD != 128) {
        fatal("%s: head_dim %d is not supported (16, 32, 64 or 128)", who, HD);
    }
    if (B > 65535 || NH > 65535) {
        fatal("%s: B %d or NH %d exceeds a grid dimension (65535)", who, B, NH);
    }
    for (int i = 0; i < n; i++) {
        if (!is_aligned16(ptrs[i])) {
            fatal("%s: q, k, v and dout must be 16-byte aligned (tiles are read 16 bytes at a time)", who);
        }
    }
}

template <int HD>
static void attention_forward_launch(floatX* out, float* lse, const floatX* q, const floatX* k, const floatX* v,
                                     const int* doc_start, int B, int T, int NH, int NKV, cudaStream_t stream) {
    dim3 grid(ceil_div(T, TATT_THREADS / (HD / 16)), NH, B);
    attention_train_forward_kernel<HD><<<grid, TATT_THREADS, 0, stream>>>(out, lse, q, k, v, doc_start, T, NH, NKV,
                                                                           1.0f / sqrtf((float)HD));
}

// Twin of r1.h's attention_forward, without its (B, NH, T, T) probabilities: lse (the log of each
// row's softmax normaliser, scores scaled) is what the backward pass needs instead.
static void attention_forward_gpu(floatX* out,          // (B, T, NH, HD)
                                  float* lse,           // (B, NH, T) kept for backward
                                  const floatX* q,      // (B, T, NH, HD)
                                  const floatX* k,      // (B, T, NKV, HD)
                                  const floatX* v,      // (B, T, NKV, HD)
                                  const int* doc_start, // (B, T) device
                                  int B, int T, int NH, int NKV, int HD, cudaStream_t stream) {
    if (B <= 0 || T <= 0) {
        return;
    }
    const void* ptrs[3] = {q, k, v};
    attention_train_check("attention_forward_gpu", B, NH, NKV, HD, ptrs, 3);
    switch (HD) {
    case 16: attention_forward_launch<16>(out, lse, q, k, v, doc_start, B, T, NH, NKV, stream); break;
    case 32: attention_forward_launch<32>(out, lse, q, k, v, doc_start, B, T, NH, NKV, stream); break;
    case 64: attention_forward_launch<64>(out, lse, q, k, v, doc_start, B, T, NH, NKV, stream); break;
    case 128: attention_forward_launch<128>(out, lse, q, k, v, doc_start, B, T, NH, NKV, stream); break;
    }
    cudaCheck(cudaGetLastError());
}

template <int HD>
static void attention_backward_launch(floatX* dq, floatX* dk, floatX* dv, const floatX* dout, const float* lse,
                                      const float* dsum, const floatX* q, const floatX* k, const floatX* v,
                                      const int* doc_start, int B, int T, int NH, int NKV, cudaStream_t stream) {
    constexpr int G = HD / 16;
    float scale = 1.0f / sqrtf((float)HD);
    attention_backward_dkdv_kernel<HD><<<dim3(ceil_div(T, TATT_THREADS / G), NKV, B), TATT_THREADS, 0, stream>>>(
        dk, dv, dout, lse, dsum, q, k, v, doc_start, T, NH, NKV, scale);
    attention_backward_dq_kernel<HD><<<dim3(ceil_div(T, TATT_THREADS / G), NH, B), TATT_THREADS, 0, stream>>>(
        dq, dout, lse, dsum, q, k, v, doc_start, T, NH, NKV, scale);
}

// Twin of r1.h's attention_backward: dq, dk, dv are overwritten (=). out and lse are the forward's
// (attention_forward_gpu on the same q, k, v); scratch: attention_train_scratch_bytes(B, T, NH, NKV, HD).
static void attention_backward_gpu(floatX* dq,           // (B, T, NH, HD)   =
                                   floatX* dk,           // (B, T, NKV, HD)  =
                                   floatX* dv,           // (B, T, NKV, HD)  =
                                   const floatX* dout,   // (B, T, NH, HD)
                                   const floatX* out,    // (B, T, NH, HD)
                                   const float* lse,     // (B, NH, T)
                                   const floatX* q,      // (B, T, NH, HD)
                                   const floatX* k,      // (B, T, NKV, HD)
                                   const floatX* v,      // (B, T, NKV, HD)
                                   const int* doc_start, // (B, T) device
                                   int B, int T, int NH, int NKV, int HD, void* scratch, cudaStream_t stream) {
    if (B <= 0 || T <= 0) {
        return;
    }
    const void* ptrs[4] = {q, k, v, dout};
    attention_train_check("attention_backward_gpu", B, NH, NKV, HD, ptrs, 4);
    if (scratch == NULL) {
        fatal("attention_backward_gpu: needs attention_train_scratch_bytes(B, T, NH, NKV, HD) bytes of scratch");
    }
    float* dsum = (float*)scratch; // (B, NH, T)
    size_t rows = (size_t)B * T * NH, blocks = (rows + TATT_THREADS / 32 - 1) / (TATT_THREADS / 32);
    if (blocks > 0x7fffffffu) {
        fatal("attention_backward_gpu: %zu rows are too many for one launch", rows);
    }
    attention_backward_preprocess_kernel<<<(unsigned int)blocks, TATT_THREADS, 0, stream>>>(dsum, dout, out, B, T, NH,
                                                                                            HD);
    switch (HD) {
    case 16: attention_backward_launch<16>(dq, dk, dv, dout, lse, dsum, q, k, v, doc_start, B, T, NH, NKV, stream); break;
    case 32: attention_backward_launch<32>(dq, dk, dv, dout, lse, dsum, q, k, v, doc_start, B, T, NH, NKV, stream); break;
    case 64: attention_backward_launch<64>(dq, dk, dv, dout, lse, dsum, q, k, v, doc_start, B, T, NH, NKV, stream); break;
    case 128: attention_backward_launch<128>(dq, dk, dv, dout, lse, dsum, q, k, v, doc_start, B, T, NH, NKV, stream); break;
    }
    cudaCheck(cudaGetLastError());
}

// ----------------------------------------------------------------------------
// GPU: several GPUs in one process (NCCL, data parallel, ZeRO-1)
// One process drives all the GPUs of a node: dist_run starts one host thread per GPU, each with its
// own DistCtx (rank, NCCL communicator, stream). Every rank runs forward and backward on its own part
// of the batch; the update is ZeRO-1 as r1.h's optimizer_step_zero1_virtual (its CPU reference) does
// it: reduce-scatter of the fp32 gradients (rank r gets the sum for its shard), the global norm from
// the shards' squared norms (all-reduce), clip, AdamW on the shard only (the moments exist for the
// shard only: 8 bytes per parameter become 8/world), all-gather of the updated floatX weights.
// With one GPU (world 1) nothing here calls NCCL: the shard is the whole buffer and the collectives
// return at once. A build without NCCL (-DR1_NO_NCCL) compiles no NCCL call and runs world 1 only.
//
// Padding: NCCL's reduce-scatter and all-gather move the same count on every rank, so every buffer a
// collective touches (the fp32 gradients, the floatX working weights, the fp32 master weights when
// gathered) is allocated with zero1_padded_count(n, world) elements = world whole shards of
// zero1_shard_size(n, world). Rank r's part starts at r * shard size (NCCL's in-place layout). The
// tail past n is padding: keep it zero in the gradients (zero it with the rest), never read it as a
// weight. The functions take the model's n and work out the shard themselves.

#ifndef R1_NO_NCCL
#include <nccl.h>
#else
typedef struct ncclComm* ncclComm_t; // this build has no NCCL: world 1 only
#endif
#include <pthread.h>

#ifdef ENABLE_FP32
#define NCCL_FLOATX ncclFloat32
#else
#define NCCL_FLOATX ncclBfloat16
#endif

typedef struct {
    int rank, world;
    ncclComm_t comm;     // NULL when world == 1: no NCCL call is made
    cudaStream_t stream; // this rank's stream, on its device (dist_run creates it)
    int device;          // this rank's CUDA device
} DistCtx;

// The rank of the calling host thread (-1 outside dist_run), so errors say which rank failed.
static thread_local int dist_rank = -1;

#ifndef R1_NO_NCCL
static void nccl_check(ncclResult_t r, const char* call, const char* file, int line) {
    if (r != ncclSuccess) {
        fatal("NCCL error on rank %d at %s:%d in %s: %s (run with NCCL_DEBUG=WARN for NCCL's own explanation)",
              dist_rank, file, line, call, ncclGetErrorString(r));
    }
}
#define ncclCheck(call) (nccl_check((call), #call, __FILE__, __LINE__))
#else // the call is only stringified, never compiled: reaching it (world > 1) is an error
#define ncclCheck(call) fatal("rank %d: %s: this build has no NCCL (-DR1_NO_NCCL), so it runs on one GPU only", \
                              dist_rank, #call)
#endif

// A world of one on the current device and the given stream (the single-GPU trainer, the tests).
static DistCtx dist_single(cudaStream_t stream) {
    DistCtx d = {0, 1, NULL, stream, 0};
    cudaCheck(cudaGetDevice(&d.device));
    return d;
}

// --- collectives ----------------------------------------------------------------------------------

// After the backward pass each rank holds the gradients of its part of the batch; afterwards the
// rank's shard [begin, end) of grads holds their SUM over the ranks (make the loss a mean over the
// global batch, e.g. divide by the global token count, for a mean gradient); the rest of the buffer
// is not meaningful any more. fp32: bf16 sums would round away small contributions.
static void dist_reduce_scatter_grads_gpu(const DistCtx* d,
                                          float* grads, // (zero1_padded_count(n, world)) fp32, in place; tail zero
                                          size_t n, cudaStream_t stream) {
    size_t shard = zero1_shard_size(n, d->world);
    if (d->world == 1 || shard == 0) {
        return;
    }
    ncclCheck(ncclReduceScatter(grads, grads + (size_t)d->rank * shard, shard, ncclFloat32, ncclSum, d->comm, stream));
}

// Every rank's shard of the floatX working weights to every rank (in place): afterwards all ranks hold
// the same weights. The last shards carry padding past n, which lands in the others' padding.
static void dist_all_gather_params_gpu(const DistCtx* d,
                                       floatX* params_x, // (zero1_padded_count(n, world)) in place
                                       size_t n, cudaStream_t stream) {
    size_t shard = zero1_shard_size(n, d->world);
    if (d->world == 1 || shard == 0) {
        return;
    }
    ncclCheck(ncclAllGather(params_x + (size_t)d->rank * shard, params_x, shard, NCCL_FLOATX, d->comm, stream));
}

// The same for the fp32 master weights. Each rank's AdamW updates only its shard of them, so the rest
// of its copy is stale until this runs: call it before the master weights go to the host (checkpoint,
// evaluation); the training step itself does not need it.
static void dist_all_gather_master_gpu(const DistCtx* d,
                                       float* params, // (zero1_padded_count(n, world)) in place
                                       size_t n, cudaStream_t stream) {
    size_t shard = zero1_shard_size(n, d->world);
    if (d->world == 1 || shard == 0) {
        return;
    }
    ncclCheck(ncclAllGather(params + (size_t)d->rank * shard, params, shard, ncclFloat32, d->comm, stream));
}

// x = the sum of x over the ranks, in place (losses and token counts for the log, ...).
static void dist_allreduce_sum_gpu(const DistCtx* d, float* x /* (count) */, size_t count, cudaStream_t stream) {
    if (d->world == 1 || count == 0) {
        return;
    }
    ncclCheck(ncclAllReduce(x, x, count, ncclFloat32, ncclSum, d->comm, stream));
}

// --- the sharded update ---------------------------------------------------------------------------

// grad_norm_gpu's two stages, with the rank's sum of squares (double) all-reduced between them: the
// norm of the whole gradient, the same on every rank. With world 1 it is grad_norm_gpu exactly.
__global__ void zero1_sumsq_kernel(double* sumsq, const double* partial, int blocks) {
    __shared__ double red[32];
    double s = 0.0;
    for (int b = threadIdx.x; b < blocks; b += blockDim.x) {
        s += partial[b];
    }
    s = sft_block_sum(s, red);
    if (threadIdx.x == 0) {
        *sumsq = s;
    }
}

__global__ void zero1_norm_kernel(float* norm, const double* sumsq) { *norm = (float)sqrt(*sumsq); }

// Scratch of dist_clip_grad_norm_gpu and zero1_update_gpu: the norm's partial sums, the sum of
// squares (double) and the norm itself (float, at zero1_norm_of(scratch)).
static size_t zero1_scratch_bytes(void) {
    return sft_align(grad_norm_scratch_bytes()) + sft_align(sizeof(double)) + sizeof(float);
}
static double* zero1_sumsq_of(void* scratch) {
    return (double*)((char*)scratch + sft_align(grad_norm_scratch_bytes()));
}
static float* zero1_norm_of(void* scratch) {
    return (float*)((char*)scratch + sft_align(grad_norm_scratch_bytes()) + sft_align(sizeof(double)));
}

// The global gradient norm from each rank's reduced shard, then each rank clips its own shard as
// clip_grad_norm does (max_norm <= 0: measure only; a non-finite norm leaves the gradients alone).
// Every rank must call it, empty shards too (the all-reduce).
static void dist_clip_grad_norm_gpu(const DistCtx* d,
                                    float* norm,  // (1) out: the norm before clipping
                                    float* grads, // (padded) fp32; only this rank's shard is read and scaled
                                    size_t n, float max_norm,
                                    void* scratch, // zero1_scratch_bytes()
                                    cudaStream_t stream) {
    size_t b, e;
    zero1_shard(n, d->rank, d->world, &b, &e);
    double* sumsq = zero1_sumsq_of(scratch);
    grad_norm_partial_kernel<<<GRAD_NORM_BLOCKS, 512, 0, stream>>>((double*)scratch, grads + b, e - b);
    cudaCheck(cudaGetLastError());
    zero1_sumsq_kernel<<<1, 512, 0, stream>>>(sumsq, (const double*)scratch, GRAD_NORM_BLOCKS);
    cudaCheck(cudaGetLastError());
    if (d->world > 1) {
        ncclCheck(ncclAllReduce(sumsq, sumsq, 1, ncclFloat64, ncclSum, d->comm, stream));
    }
    zero1_norm_kernel<<<1, 1, 0, stream>>>(norm, sumsq);
    cudaCheck(cudaGetLastError());
    if (max_norm > 0.0f && e > b) {
        clip_grad_norm_kernel<<<sft_blocks(e - b, 256), 256, 0, stream>>>(grads + b, e - b, norm, max_norm);
        cudaCheck(cudaGetLastError());
    }
}

// r1.h's adamw_update_shard: AdamW on the shard [begin, end) of the flat buffers, each tensor's piece
// inside the shard with that tensor's weight decay (one adamw_update_gpu per piece). params, grads and
// params_x are whole buffers; m and v hold the shard's moments only (m[0] belongs to element begin).
static void adamw_update_shard_gpu(const Qwen2Config* c,
                                   float* params,      // (n) fp32 master weights; [begin, end) updated
                                   const float* grads, // (n) fp32; [begin, end) read
                                   float* m, float* v, // (end - begin) fp32 moments of the shard
                                   size_t begin, size_t end, int t, float lr, const AdamWConfig* cfg,
                                   floatX* params_x,   // (n) floatX working copy: [begin, end) written, or NULL
                                   cudaStream_t stream) {
    size_t sizes[NUM_PARAM_TENSORS + 1], at = 0;
    param_sizes(c, sizes);
    for (int i = 0; i <= NUM_PARAM_TENSORS; i++) {
        size_t lo = at > begin ? at : begin, hi = at + sizes[i] < end ? at + sizes[i] : end;
        if (lo < hi) {
            float wd = param_decays(PARAM_SPECS[i].hf_name) ? cfg->weight_decay : 0.0f;
            adamw_update_gpu(params + lo, grads + lo, m + (lo - begin), v + (lo - begin), hi - lo, t, lr, cfg->beta1,
                             cfg->beta2, cfg->eps, wd, params_x ? params_x + lo : NULL, stream);
        }
        at += sizes[i];
    }
}

// One ZeRO-1 update after every rank's backward pass: this rank's part of r1.h's
// optimizer_step_zero1_virtual. Reduce-scatter, global norm and clip, AdamW on the shard at step t
// (1-based) and lr, all-gather of the floatX weights. m and v are the shard's moments (zero1_shard's
// end - begin; the whole model when world is 1). loss must be the same value on every rank (the
// all-reduced loss, or 0 when not checked here). Returns 1 when the update was applied, 0 when it was
// skipped because the loss or the norm is not finite (every rank sees the same norm, so all ranks skip
// together; then t must not advance), as optimizer_step; *norm_out gets the norm before clipping.
// A step, not a launcher: it waits for the norm on the host (one sync of `stream`).
static int zero1_update_gpu(const DistCtx* d, const Qwen2Config* c,
                            float* params,      // (padded) fp32 master weights: this rank's shard is updated
                            float* grads,       // (padded) fp32 this rank's gradients, tail zero; reduced in place
                            float* m, float* v, // (end - begin) fp32 this shard's moments
                            floatX* params_x,   // (padded) floatX working weights: all of them afterwards
                            int t, float lr, const AdamWConfig* cfg, float max_grad_norm, float loss,
                            float* norm_out,
                            void* scratch,      // zero1_scratch_bytes()
                            cudaStream_t stream) {
    size_t n = param_count(c), b, e;
    zero1_shard(n, d->rank, d->world, &b, &e);
    dist_reduce_scatter_grads_gpu(d, grads, n, stream);
    dist_clip_grad_norm_gpu(d, zero1_norm_of(scratch), grads, n, max_grad_norm, scratch, stream);
    float norm;
    cudaCheck(cudaMemcpyAsync(&norm, zero1_norm_of(scratch), sizeof(float), cudaMemcpyDeviceToHost, stream));
    cudaCheck(cudaStreamSynchronize(stream));
    if (norm_out) {
        *norm_out = norm;
    }
    if (!isfinite(loss) || !isfinite(norm)) {
        return 0;
    }
    adamw_update_shard_gpu(c, params, grads, m, v, b, e, t, lr, cfg, params_x, stream);
    dist_all_gather_params_gpu(d, params_x, n, stream);
    return 1;
}

// --- one host thread per GPU ------------------------------------------------------------------------

typedef struct {
    DistCtx ctx;
    void (*fn)(int rank, DistCtx* d, void* arg);
    void* arg;
} DistThread;

// A rank's thread: its device, its stream (a blocking one, so plain cudaMemcpy calls on the legacy
// default stream still wait for it), fn, then everything fn queued is finished.
static void* dist_thread_main(void* p) {
    DistThread* th = (DistThread*)p;
    dist_rank = th->ctx.rank;
    cudaCheck(cudaSetDevice(th->ctx.device));
    cudaCheck(cudaStreamCreate(&th->ctx.stream));
    th->fn(th->ctx.rank, &th->ctx, th->arg);
    cudaCheck(cudaStreamSynchronize(th->ctx.stream));
    cudaCheck(cudaStreamDestroy(th->ctx.stream));
    return NULL;
}

// Runs fn(rank, ctx, arg) for ranks 0..world-1, each on its own host thread and GPU (devices[rank],
// or rank when devices is NULL), and returns when all have finished. The communicators come from
// ncclCommInitAll (one process, all GPUs) and are destroyed at the end; with world 1 fn runs on the
// calling thread and NCCL is never touched. Every rank must make the same collective calls in the
// same order (NCCL hangs otherwise). A failure anywhere ends the process (fatal), naming the rank.
static void dist_run(int world, const int* devices, void (*fn)(int rank, DistCtx* d, void* arg), void* arg) {
    int count = 0, prev = 0;
    cudaCheck(cudaGetDeviceCount(&count));
    cudaCheck(cudaGetDevice(&prev));
    if (world < 1 || world > count) {
        fatal("dist_run: %d GPUs asked for, %d visible (check CUDA_VISIBLE_DEVICES, or ask for fewer)", world, count);
    }
    int* devs = (int*)malloc_check((size_t)world * sizeof(int));
    for (int r = 0; r < world; r++) {
        devs[r] = devices ? devices[r] : r;
        if (devs[r] < 0 || devs[r] >= count) {
            fatal("dist_run: rank %d asks for GPU %d, but only 0..%d exist", r, devs[r], count - 1);
        }
        for (int q = 0; q < r; q++) {
            if (devs[q] == devs[r]) {
                fatal("dist_run: GPU %d given to ranks %d and %d (one rank per GPU)", devs[r], q, r);
            }
        }
    }
    ncclComm_t* comms = (ncclComm_t*)calloc_check((size_t)world, sizeof(ncclComm_t));
    if (world > 1) {
        ncclCheck(ncclCommInitAll(comms, world, devs));
    }
    DistThread* th = (DistThread*)calloc_check((size_t)world, sizeof(DistThread));
    pthread_t* tid = (pthread_t*)calloc_check((size_t)world, sizeof(pthread_t));
    for (int r = 0; r < world; r++) {
        th[r].ctx.rank = r, th[r].ctx.world = world, th[r].ctx.comm = comms[r], th[r].ctx.device = devs[r];
        th[r].fn = fn, th[r].arg = arg;
    }
    if (world == 1) {
        dist_thread_main(&th[0]);
        dist_rank = -1;
    } else {
        for (int r = 0; r < world; r++) {
            int err = pthread_create(&tid[r], NULL, dist_thread_main, &th[r]);
            if (err != 0) {
                fatal("dist_run: cannot start the thread of rank %d: %s", r, strerror(err));
            }
        }
        for (int r = 0; r < world; r++) {
            pthread_join(tid[r], NULL);
        }
        for (int r = 0; r < world; r++) {
            ncclCheck(ncclCommDestroy(comms[r]));
        }
    }
    cudaCheck(cudaSetDevice(prev));
    free(devs), free(comms), free(th), free(tid);
}


// ----------------------------------------------------------------------------
// GPU: the model for training (activations kept for backward), one update, the engine behind sft_train
// (after the ZeRO-1 section: it uses DistCtx and the sharded update)
// GpuTrain is qwen2_forward and qwen2_backward_from_dlogits on one GPU, without the LM head: the
// head (SFT's cross-entropy, GRPO's clipped ratio) is a separate chunked pass that reads the final
// hidden states tr->hfinal and writes their gradient into tr->dhfinal, so the (B*T, V) logits never
// exist whole. What one GPU holds, all allocated once in gpu_train_init (the sizes come from
// gpu_train_sizes, which --memory-plan prints without a GPU):
//   weights    the floatX working copy the kernels read, n parameters in r1.h's flat layout
//   master     fp32 weights, updated by AdamW: this rank's ZeRO-1 shard (all n on one GPU)
//   grads      fp32, n, summed over micro-batches (+=) as r1.h's grads_memory
//   moments    AdamW's m and v, fp32, this rank's shard
//   acts       what qwen2_forward keeps for backward, for maxB x maxT tokens, in floatX (the RMSNorm
//              rstd and the attention's log-sum-exp in fp32; no T x T attention matrix)
//   grad acts  one layer's activation gradients, reused from the top layer down (as r1.h)
//   scratch    RMSNorm / attention backward and grad-norm scratch (one buffer, used in turn), and
//              the head's chunk of logits (head_scratch, lm_head_loss_scratch_bytes)
// With W > 1 GPUs the gradient and weight buffers are padded to W whole shards (zero1_padded_count:
// NCCL moves equal counts per rank), and the update is the ZeRO-1 section's above.
// Activation recompute (gpu_train_init_ex's recompute, train_sft --recompute): the forward keeps only
// each layer's input (the residual stream: encoded and res3, L x (B,T,C)); every other per-layer tensor
// (ln1, q, k, v, atty + lse, res2, ln2, gate, up, swiglu, the rstds) has one layer's buffer, which the
// backward refills with that layer's forward just before the layer's backward: the same kernels on the
// same inputs, so the gradients are bit-identical, for about one more forward pass of compute.

typedef struct GpuTrain GpuTrain;
struct GpuTrain {
    Qwen2Config config;
    DistCtx dist;                  // this rank's (a world of one when gpu_train_init got none)
    int rank, world;
    cudaStream_t stream;
    int own_stream;
    int maxB, maxT;                // the activations hold maxB x maxT tokens
    int recompute;                 // 1: one layer of activations, recomputed in backward (see above)
    int B, T;                      // the batch of the last forward pass
    size_t n;                      // parameters
    size_t n_alloc;                // n padded to world whole shards
    size_t shard_begin, shard_end; // this rank's ZeRO-1 shard of the flat buffer ([0, n) on one GPU)
    floatX* params_x;              // (n_alloc) working copy
    GpuParams p;                   // its tensors (p.lm_head == p.embed when tied)
    float* master;                 // (shard_end - shard_begin) fp32: master[0] is element shard_begin
    float* grads;                  // (n_alloc) fp32
    ParameterTensors g;            // its tensors, device pointers (g.lm_head == g.embed when tied)
    float *adam_m, *adam_v;        // (shard_end - shard_begin)
    // activations kept for backward; per-layer tensors stacked over L, each layer maxB*maxT tokens apart
    // (with recompute only res3 is; the others below it are one layer, (1, B, T, ...))
    floatX* encoded;               // (B, T, C)          embeddings: the residual stream into layer 0
    floatX* ln1;                   // (L, B, T, C)
    float* ln1_rstd;               // (L, B, T)
    floatX *q, *k, *v;             // (L, B, T, NH|NKV, HD)  q and k after RoPE
    float* lse;                    // (L, B, NH, T)      the attention's log-sum-exp per query
    floatX* atty;                  // (L, B, T, NH, HD)  attention output
    floatX *res2, *ln2;            // (L, B, T, C)
    float* ln2_rstd;               // (L, B, T)
    floatX *gate, *up, *swiglu;    // (L, B, T, I)
    floatX* res3;                  // (L, B, T, C)       each layer's output
    floatX* hfinal;                // (B, T, C)          the final norm's output: the head's input
    float* lnf_rstd;               // (B, T)
    // one layer's activation gradients
    floatX *dres, *dln;            // (B, T, C)
    floatX *dq, *datty;            // (B, T, NH, HD)
    floatX *dk, *dv;               // (B, T, NKV, HD)
    floatX *dgate, *dup, *dswiglu; // (B, T, I)
    floatX* dhfinal;               // (B, T, C)          the head writes d loss / d hfinal here (+=)
    int *d_ids, *d_pos, *d_doc_start; // (B, T)
    int* h_doc_start;              // (B, T) host
    void* scratch;                 // backward / grad-norm scratch
    void* head_scratch;            // lm_head_loss_scratch_bytes(head_chunk_rows, V)
    size_t head_scratch_bytes;
    int head_chunk_rows;
    char* acts_memory;             // the one allocation behind everything from encoded on
};

// --- sizes: the allocator and the memory plan use the same arithmetic ------------------------------

typedef struct {
    size_t weights, master, grads, moments; // bytes on one GPU (rank 0: the largest shard)
    size_t acts, grad_acts, scratch, head;  // bytes, all inside acts_memory
    size_t total;                           // everything above + the cuBLASLt workspace
} GpuTrainSizes;

// Hands out aligned pieces of one allocation (or only counts them when base is NULL).
typedef struct {
    char* base;
    size_t used;
} GpuArena;

static void* gpu_arena_take(GpuArena* a, size_t bytes) {
    void* p = a->base ? (void*)(a->base + a->used) : NULL;
    a->used += sft_align(bytes);
    return p;
}

// Points tr's activations, activation gradients, index arrays and scratch into base for B x T tokens
// (base NULL: sizes only); fills the acts / grad_acts / scratch / head fields of s (bytes). With
// recompute the per-layer tensors other than res3 get one layer (LR = 1) instead of L.
static void gpu_train_point_acts(GpuTrain* tr, const Qwen2Config* c, int B, int T, int recompute, char* base,
                                 GpuTrainSizes* s) {
    size_t L = c->num_layers, C = c->hidden_size, I = c->intermediate_size, V = c->vocab_size;
    size_t LR = recompute ? 1 : L; // layers of the recomputable activations
    size_t NH = c->num_heads, QD = (size_t)c->num_heads * c->head_dim, KVD = (size_t)c->num_kv_heads * c->head_dim;
    size_t BT = (size_t)B * T, X = sizeof(floatX), F = sizeof(float);
    GpuArena a = {base, 0};
    tr->encoded = (floatX*)gpu_arena_take(&a, BT * C * X);
    tr->ln1 = (floatX*)gpu_arena_take(&a, LR * BT * C * X);
    tr->ln1_rstd = (float*)gpu_arena_take(&a, LR * BT * F);
    tr->q = (floatX*)gpu_arena_take(&a, LR * BT * QD * X);
    tr->k = (floatX*)gpu_arena_take(&a, LR * BT * KVD * X);
    tr->v = (floatX*)gpu_arena_take(&a, LR * BT * KVD * X);
    tr->lse = (float*)gpu_arena_take(&a, LR * BT * NH * F);
    tr->atty = (floatX*)gpu_arena_take(&a, LR * BT * QD * X);
    tr->res2 = (floatX*)gpu_arena_take(&a, LR * BT * C * X);
    tr->ln2 = (floatX*)gpu_arena_take(&a, LR * BT * C * X);
    tr->ln2_rstd = (float*)gpu_arena_take(&a, LR * BT * F);
    tr->gate = (floatX*)gpu_arena_take(&a, LR * BT * I * X);
    tr->up = (floatX*)gpu_arena_take(&a, LR * BT * I * X);
    tr->swiglu = (floatX*)gpu_arena_take(&a, LR * BT * I * X);
    tr->res3 = (floatX*)gpu_arena_take(&a, L * BT * C * X);
    tr->hfinal = (floatX*)gpu_arena_take(&a, BT * C * X);
    tr->lnf_rstd = (float*)gpu_arena_take(&a, BT * F);
    tr->d_ids = (int*)gpu_arena_take(&a, BT * sizeof(int));
    tr->d_pos = (int*)gpu_arena_take(&a, BT * sizeof(int));
    tr->d_doc_start = (int*)gpu_arena_take(&a, BT * sizeof(int));
    s->acts = a.used;
    tr->dres = (floatX*)gpu_arena_take(&a, BT * C * X);
    tr->dln = (floatX*)gpu_arena_take(&a, BT * C * X);
    tr->dq = (floatX*)gpu_arena_take(&a, BT * QD * X);
    tr->datty = (floatX*)gpu_arena_take(&a, BT * QD * X);
    tr->dk = (floatX*)gpu_arena_take(&a, BT * KVD * X);
    tr->dv = (floatX*)gpu_arena_take(&a, BT * KVD * X);
    tr->dgate = (floatX*)gpu_arena_take(&a, BT * I * X);
    tr->dup = (floatX*)gpu_arena_take(&a, BT * I * X);
    tr->dswiglu = (floatX*)gpu_arena_take(&a, BT * I * X);
    tr->dhfinal = (floatX*)gpu_arena_take(&a, BT * C * X);
    s->grad_acts = a.used - s->acts;
    size_t scratch = rmsnorm_backward_scratch_bytes((int)BT, (int)C);
    size_t att = attention_train_scratch_bytes(B, T, c->num_heads, c->num_kv_heads, c->head_dim);
    scratch = att > scratch ? att : scratch;
    scratch = zero1_scratch_bytes() > scratch ? zero1_scratch_bytes() : scratch;
    tr->scratch = gpu_arena_take(&a, scratch);
    s->scratch = a.used - s->acts - s->grad_acts;
    tr->head_chunk_rows = BT < LM_HEAD_CHUNK_ROWS ? (int)BT : LM_HEAD_CHUNK_ROWS;
    tr->head_scratch_bytes = lm_head_loss_scratch_bytes(tr->head_chunk_rows, (int)V);
    tr->head_scratch = gpu_arena_take(&a, tr->head_scratch_bytes);
    s->head = a.used - s->acts - s->grad_acts - s->scratch;
}

// The bytes one GPU needs (rank 0, whose shard is the largest) to train config c on B x T tokens per
// micro-batch over `world` GPUs, with or without activation recompute.
static void gpu_train_sizes_ex(const Qwen2Config* c, int B, int T, int world, int recompute, GpuTrainSizes* s) {
    memset(s, 0, sizeof(*s));
    size_t n = param_count(c), begin, end;
    zero1_shard(n, 0, world, &begin, &end);
    size_t n_alloc = world > 1 ? zero1_padded_count(n, world) : n;
    s->weights = sft_align(n_alloc * sizeof(floatX));
    s->master = sft_align((end - begin) * sizeof(float));
    s->grads = sft_align(n_alloc * sizeof(float));
    s->moments = 2 * sft_align((end - begin) * sizeof(float));
    GpuTrain dummy;
    gpu_train_point_acts(&dummy, c, B, T, recompute, NULL, s);
    s->total = s->weights + s->master + s->grads + s->moments + s->acts + s->grad_acts + s->scratch + s->head +
               CUBLASLT_WORKSPACE_BYTES;
}

static void gpu_train_sizes(const Qwen2Config* c, int B, int T, int world, GpuTrainSizes* s) {
    gpu_train_sizes_ex(c, B, T, world, 0, s);
}

// The plan, one line per buffer, in GiB per GPU (with recompute: and what it saves).
static void gpu_train_print_plan_ex(FILE* f, const Qwen2Config* c, int B, int T, int world, int recompute) {
    GpuTrainSizes s;
    gpu_train_sizes_ex(c, B, T, world, recompute, &s);
    double G = 1073741824.0, n = (double)param_count(c);
    int chunk = B * T < LM_HEAD_CHUNK_ROWS ? B * T : LM_HEAD_CHUNK_ROWS;
    fprintf(f, "memory plan per GPU: %.2f%s parameters (%d layers, hidden %d, vocab %d), micro-batch %d x %d tokens, "
               "%d GPU%s, %s\n", n >= 1e8 ? n / 1e9 : n / 1e6, n >= 1e8 ? "B" : "M", c->num_layers, c->hidden_size,
            c->vocab_size, B, T, world, world > 1 ? "s (ZeRO-1: master weights and AdamW moments sharded)" : "",
            PRECISION_NAME);
    char label[96];
    const char* part = world > 1 ? "this GPU's shard" : "all";
    snprintf(label, sizeof(label), "weights (%s working copy)", PRECISION_NAME);
    fprintf(f, "  %-40s %8.2f GiB\n", label, s.weights / G);
    snprintf(label, sizeof(label), "master weights (fp32, %s)", part);
    fprintf(f, "  %-40s %8.2f GiB\n", label, s.master / G);
    fprintf(f, "  %-40s %8.2f GiB\n", "gradients (fp32, all)", s.grads / G);
    snprintf(label, sizeof(label), "AdamW m + v (fp32, %s)", part);
    fprintf(f, "  %-40s %8.2f GiB\n", label, s.moments / G);
    fprintf(f, "  %-40s %8.2f GiB\n",
            recompute ? "activations (layer inputs + one layer)" : "activations kept for backward", s.acts / G);
    fprintf(f, "  %-40s %8.2f GiB\n", "activation gradients (one layer)", s.grad_acts / G);
    fprintf(f, "  %-40s %8.2f GiB\n", "backward scratch + cuBLASLt workspace",
            (s.scratch + CUBLASLT_WORKSPACE_BYTES) / G);
    snprintf(label, sizeof(label), "LM head chunk (%d rows of fp32 logits)", chunk);
    fprintf(f, "  %-40s %8.2f GiB\n", label, s.head / G);
    fprintf(f, "  %-40s %8.2f GiB (+ the CUDA context and cuBLAS / NCCL buffers, about 1 GiB)\n", "total",
            s.total / G);
    GpuTrainSizes other; // the same run with recompute the other way
    gpu_train_sizes_ex(c, B, T, world, !recompute, &other);
    if (recompute) {
        fprintf(f, "  --recompute saves %.2f GiB of activations (%.2f GiB without it), for about one more forward "
                   "pass per step\n", (other.acts - s.acts) / G, other.total / G);
    } else {
        fprintf(f, "  (--recompute would save %.2f GiB: total %.2f GiB)\n", (s.acts - other.acts) / G, other.total / G);
    }
}

static void gpu_train_print_plan(FILE* f, const Qwen2Config* c, int B, int T, int world) {
    gpu_train_print_plan_ex(f, c, B, T, world, 0);
}

// --- set-up, copies to and from the host ------------------------------------------------------------

static void gpu_train_point_params(GpuTrain* tr) {
    param_point(&tr->config, &tr->g, tr->grads); // pointer arithmetic only: the device offsets
    const float* g[15] = {tr->g.embed, tr->g.ln1, tr->g.wq,    tr->g.bq,  tr->g.wk,    tr->g.bk,   tr->g.wv,
                          tr->g.bv,    tr->g.wo,  tr->g.ln2,   tr->g.wgate, tr->g.wup, tr->g.wdown, tr->g.norm,
                          tr->g.lm_head};
    floatX** p[15] = {&tr->p.embed, &tr->p.ln1,   &tr->p.wq,  &tr->p.bq,    &tr->p.wk,   &tr->p.bk,
                      &tr->p.wv,    &tr->p.bv,    &tr->p.wo,  &tr->p.ln2,   &tr->p.wgate, &tr->p.wup,
                      &tr->p.wdown, &tr->p.norm,  &tr->p.lm_head};
    for (int i = 0; i < 15; i++) {
        *p[i] = tr->params_x + (g[i] - tr->grads);
    }
}

// Weights (all of them, as floatX) and this rank's shard of the master weights and the moments from
// the host (adam_m / adam_v NULL: zeros, a fresh run). Converts on the host a chunk at a time, as
// gpu_model_from_host does.
static void gpu_train_from_host(GpuTrain* tr, const Qwen2* m, const float* adam_m, const float* adam_v) {
    if (m->num_parameters != tr->n) {
        fatal("gpu_train_from_host: the model has %zu parameters, the GPU buffers %zu", m->num_parameters, tr->n);
    }
    cudaCheck(cudaStreamSynchronize(tr->stream));
    size_t n = tr->n, b = tr->shard_begin, len = tr->shard_end - tr->shard_begin;
    const size_t chunk = (size_t)1 << 24;
    floatX* buf = (floatX*)malloc_check((n < chunk ? n : chunk) * sizeof(floatX));
    for (size_t at = 0; at < n; at += chunk) {
        size_t k = n - at < chunk ? n - at : chunk;
        const float* src = m->params_memory + at;
#pragma omp parallel for
        for (size_t i = 0; i < k; i++) {
            buf[i] = (floatX)src[i];
        }
        cudaCheck(cudaMemcpy(tr->params_x + at, buf, k * sizeof(floatX), cudaMemcpyHostToDevice));
    }
    free(buf);
    cudaCheck(cudaMemcpy(tr->master, m->params_memory + b, len * sizeof(float), cudaMemcpyHostToDevice));
    if (adam_m && adam_v) {
        cudaCheck(cudaMemcpy(tr->adam_m, adam_m + b, len * sizeof(float), cudaMemcpyHostToDevice));
        cudaCheck(cudaMemcpy(tr->adam_v, adam_v + b, len * sizeof(float), cudaMemcpyHostToDevice));
    } else {
        cudaCheck(cudaMemset(tr->adam_m, 0, len * sizeof(float)));
        cudaCheck(cudaMemset(tr->adam_v, 0, len * sizeof(float)));
    }
}

// This rank's shard of the fp32 master weights and of the moments into the host buffers (n each; NULL
// moments are skipped). With W GPUs every rank must call it: the shards together are the whole.
static void gpu_train_to_host(GpuTrain* tr, Qwen2* m, float* adam_m, float* adam_v) {
    cudaCheck(cudaStreamSynchronize(tr->stream));
    size_t b = tr->shard_begin, len = tr->shard_end - tr->shard_begin;
    cudaCheck(cudaMemcpy(m->params_memory + b, tr->master, len * sizeof(float), cudaMemcpyDeviceToHost));
    if (adam_m && adam_v) {
        cudaCheck(cudaMemcpy(adam_m + b, tr->adam_m, len * sizeof(float), cudaMemcpyDeviceToHost));
        cudaCheck(cudaMemcpy(adam_v + b, tr->adam_v, len * sizeof(float), cudaMemcpyDeviceToHost));
    }
}

// Everything for training model m on micro-batches of up to B rows of T tokens, on the current device.
// d: this rank's DistCtx from dist_run (its stream is used), or NULL: one GPU, a stream of its own.
// recompute: keep one layer of activations and recompute it in backward (see GpuTrain).
static void gpu_train_init_ex(GpuTrain* tr, const Qwen2* m, int B, int T, const DistCtx* d, int recompute) {
    memset(tr, 0, sizeof(*tr));
    const Qwen2Config* c = &m->config;
    if (B < 1 || T < 1) {
        fatal("gpu_train_init: micro-batch %d x %d is empty", B, T);
    }
    tr->config = *c;
    if (d) {
        tr->dist = *d;
        tr->stream = d->stream;
    } else {
        cudaCheck(cudaStreamCreate(&tr->stream));
        tr->own_stream = 1;
        tr->dist = dist_single(tr->stream);
    }
    tr->rank = tr->dist.rank;
    tr->world = tr->dist.world;
    tr->maxB = B, tr->maxT = T;
    tr->recompute = recompute != 0;
    tr->n = m->num_parameters;
    tr->n_alloc = tr->world > 1 ? zero1_padded_count(tr->n, tr->world) : tr->n;
    zero1_shard(tr->n, tr->rank, tr->world, &tr->shard_begin, &tr->shard_end);
    GpuTrainSizes s;
    gpu_train_sizes_ex(c, B, T, tr->world, tr->recompute, &s);
    size_t free_b = 0, total_b = 0;
    cudaCheck(cudaMemGetInfo(&free_b, &total_b));
    if (s.total > free_b) {
        gpu_train_print_plan_ex(stderr, c, B, T, tr->world, tr->recompute);
        fatal("training needs %.2f GiB of GPU memory (the plan above) and %.2f GiB of %.2f GiB are free: lower --batch "
              "(rows per micro-batch; raise --accum to keep the step's size) or --seq-len, or use more --gpus%s",
              s.total / 1073741824.0, free_b / 1073741824.0, total_b / 1073741824.0,
              tr->recompute ? "" : " (train_sft: or --recompute)");
    }
    matmul_init();
    size_t shard = tr->shard_end - tr->shard_begin;
    tr->params_x = (floatX*)cuda_malloc_check(tr->n_alloc * sizeof(floatX), "the weights (working copy)");
    tr->master = (float*)cuda_malloc_check((shard > 0 ? shard : 1) * sizeof(float), "the fp32 master weights");
    tr->grads = (float*)cuda_malloc_check(tr->n_alloc * sizeof(float), "the fp32 gradients");
    tr->adam_m = (float*)cuda_malloc_check((shard > 0 ? shard : 1) * sizeof(float), "AdamW's first moment");
    tr->adam_v = (float*)cuda_malloc_check((shard > 0 ? shard : 1) * sizeof(float), "AdamW's second moment");
    size_t acts = s.acts + s.grad_acts + s.scratch + s.head;
    tr->acts_memory = (char*)cuda_malloc_check(acts, "the activations kept for backward (lower --batch or --seq-len)");
    gpu_train_point_acts(tr, c, B, T, tr->recompute, tr->acts_memory, &s);
    tr->h_doc_start = (int*)malloc_check((size_t)B * T * sizeof(int));
    cudaCheck(cudaMemset(tr->params_x, 0, tr->n_alloc * sizeof(floatX))); // the padding stays 0
    cudaCheck(cudaMemset(tr->grads, 0, tr->n_alloc * sizeof(float)));
    gpu_train_point_params(tr);
    gpu_train_from_host(tr, m, NULL, NULL);
}

static void gpu_train_init(GpuTrain* tr, const Qwen2* m, int B, int T, const DistCtx* d) {
    gpu_train_init_ex(tr, m, B, T, d, 0);
}

static void gpu_train_free(GpuTrain* tr) {
    cudaCheck(cudaStreamSynchronize(tr->stream));
    cudaCheck(cudaFree(tr->params_x)), cudaCheck(cudaFree(tr->master)), cudaCheck(cudaFree(tr->grads));
    cudaCheck(cudaFree(tr->adam_m)), cudaCheck(cudaFree(tr->adam_v)), cudaCheck(cudaFree(tr->acts_memory));
    if (tr->own_stream) {
        cudaCheck(cudaStreamDestroy(tr->stream));
    }
    free(tr->h_doc_start);
    memset(tr, 0, sizeof(*tr));
}

static void gpu_train_zero_grad(GpuTrain* tr) {
    cudaCheck(cudaMemsetAsync(tr->grads, 0, tr->n_alloc * sizeof(float), tr->stream));
}

// The LM head's weight and its fp32 gradient (with tied embeddings: the embedding's).
static floatX* gpu_train_lm_head(GpuTrain* tr) { return tr->p.lm_head; }
static float* gpu_train_dlm_head(GpuTrain* tr) { return tr->g.lm_head; }

// --- forward and backward ------------------------------------------------------------------------------
// qwen2_forward's layer loop, line for line, with the GPU kernels (q and k are stored after RoPE, as
// there). Layer l's slice of a stacked activation starts l * maxB * maxT tokens in.

static size_t gpu_train_layer(const GpuTrain* tr, int l, size_t width) {
    return (size_t)l * tr->maxB * tr->maxT * width;
}

// Layer l's activations, as both passes read them: the forward writes them, the backward reads them back.
// With recompute every tensor but the residual stream (residual, res3) is in the one-layer buffers,
// which hold the last layer the forward (or gpu_train_layer_forward in backward) ran.
typedef struct {
    floatX *residual /*(B,T,C) the layer's input*/, *ln1, *q, *k, *v, *atty, *res2, *ln2, *gate, *up, *swiglu, *res3;
    float *ln1_rstd /*(B,T)*/, *lse /*(B,NH,T)*/, *ln2_rstd /*(B,T)*/;
} GpuLayerActs;

static GpuLayerActs gpu_train_layer_acts(const GpuTrain* tr, int l) {
    const Qwen2Config* c = &tr->config;
    size_t C = c->hidden_size, I = c->intermediate_size, NH = c->num_heads;
    size_t QD = NH * c->head_dim, KVD = (size_t)c->num_kv_heads * c->head_dim;
    int lr = tr->recompute ? 0 : l; // the layer slot of the recomputable tensors
    GpuLayerActs a;
    a.residual = l == 0 ? tr->encoded : tr->res3 + gpu_train_layer(tr, l - 1, C);
    a.ln1 = tr->ln1 + gpu_train_layer(tr, lr, C);
    a.q = tr->q + gpu_train_layer(tr, lr, QD);
    a.k = tr->k + gpu_train_layer(tr, lr, KVD);
    a.v = tr->v + gpu_train_layer(tr, lr, KVD);
    a.atty = tr->atty + gpu_train_layer(tr, lr, QD);
    a.res2 = tr->res2 + gpu_train_layer(tr, lr, C);
    a.ln2 = tr->ln2 + gpu_train_layer(tr, lr, C);
    a.gate = tr->gate + gpu_train_layer(tr, lr, I);
    a.up = tr->up + gpu_train_layer(tr, lr, I);
    a.swiglu = tr->swiglu + gpu_train_layer(tr, lr, I);
    a.res3 = tr->res3 + gpu_train_layer(tr, l, C);
    a.ln1_rstd = tr->ln1_rstd + gpu_train_layer(tr, lr, 1);
    a.lse = tr->lse + gpu_train_layer(tr, lr, NH);
    a.ln2_rstd = tr->ln2_rstd + gpu_train_layer(tr, lr, 1);
    return a;
}

// Layer l's forward on tr->B x tr->T tokens (ids, positions and doc starts already on the device):
// everything up to the MLP's swiglu, then, when `output`, down_proj and the residual into res3. The
// backward's recompute calls it with output 0: res3 (the next layer's input, kept) is not rewritten.
static void gpu_train_layer_forward(GpuTrain* tr, int l, int output) {
    const Qwen2Config* c = &tr->config;
    int C = c->hidden_size, I = c->intermediate_size;
    int NH = c->num_heads, NKV = c->num_kv_heads, HD = c->head_dim, QD = NH * HD, KVD = NKV * HD;
    int B = tr->B, T = tr->T, BT = B * T;
    cudaStream_t s = tr->stream;
    GpuParams p = tr->p;
    float eps = c->rms_norm_eps, theta = c->rope_theta;
    size_t nBTC = (size_t)BT * C;
    GpuLayerActs a = gpu_train_layer_acts(tr, l);
    // attention block: res2 = residual + o_proj(attention(rope(q), rope(k), v))
    rmsnorm_forward_gpu(a.ln1, a.ln1_rstd, a.residual, p.ln1 + (size_t)l * C, BT, C, eps, s);
    matmul_forward_gpu(a.q, a.ln1, p.wq + (size_t)l * QD * C, p.bq + (size_t)l * QD, BT, C, QD, s);
    matmul_forward_gpu(a.k, a.ln1, p.wk + (size_t)l * KVD * C, p.bk + (size_t)l * KVD, BT, C, KVD, s);
    matmul_forward_gpu(a.v, a.ln1, p.wv + (size_t)l * KVD * C, p.bv + (size_t)l * KVD, BT, C, KVD, s);
    rope_forward_gpu(a.q, tr->d_pos, BT, NH, HD, theta, s);
    rope_forward_gpu(a.k, tr->d_pos, BT, NKV, HD, theta, s);
    attention_forward_gpu(a.atty, a.lse, a.q, a.k, a.v, tr->d_doc_start, B, T, NH, NKV, HD, s);
    matmul_forward_gpu(a.res2, a.atty, p.wo + (size_t)l * C * QD, NULL, BT, QD, C, s);
    residual_forward_gpu(a.res2, a.res2, a.residual, nBTC, s);
    // MLP block: res3 = res2 + down_proj(silu(gate_proj(x)) * up_proj(x)), x = norm(res2)
    rmsnorm_forward_gpu(a.ln2, a.ln2_rstd, a.res2, p.ln2 + (size_t)l * C, BT, C, eps, s);
    matmul_forward_gpu(a.gate, a.ln2, p.wgate + (size_t)l * I * C, NULL, BT, C, I, s);
    matmul_forward_gpu(a.up, a.ln2, p.wup + (size_t)l * I * C, NULL, BT, C, I, s);
    swiglu_forward_gpu(a.swiglu, a.gate, a.up, (size_t)BT * I, s);
    if (output) {
        matmul_forward_gpu(a.res3, a.swiglu, p.wdown + (size_t)l * C * I, NULL, BT, I, C, s);
        residual_forward_gpu(a.res3, a.res3, a.res2, nBTC, s);
    }
}

// All layers and the final norm for B rows of T tokens (ids and pos on the host; pos restarts at 0 at
// each packed document). Leaves the normed hidden states in tr->hfinal and zeroes tr->dhfinal.
static void gpu_train_forward_hidden(GpuTrain* tr, const int* ids, const int* pos, int B, int T) {
    const Qwen2Config* c = &tr->config;
    int L = c->num_layers, C = c->hidden_size, V = c->vocab_size;
    if (B < 1 || T < 1 || B > tr->maxB || T > tr->maxT) {
        fatal("gpu_train_forward_hidden: batch %d x %d does not fit the %d x %d the buffers were made for", B, T,
              tr->maxB, tr->maxT);
    }
    int BT = B * T;
    for (int i = 0; i < BT; i++) { // as qwen2_forward: check the inputs before any work
        if (ids[i] < 0 || ids[i] >= V) {
            fatal("token id %d at position %d is outside the vocabulary [0, %d)", ids[i], i, V);
        }
        if (pos[i] < 0) {
            fatal("position id %d at position %d is negative", pos[i], i);
        }
    }
    cudaStream_t s = tr->stream;
    attention_doc_starts(tr->h_doc_start, pos, B, T);
    cudaCheck(cudaMemcpyAsync(tr->d_ids, ids, (size_t)BT * sizeof(int), cudaMemcpyHostToDevice, s));
    cudaCheck(cudaMemcpyAsync(tr->d_pos, pos, (size_t)BT * sizeof(int), cudaMemcpyHostToDevice, s));
    cudaCheck(cudaMemcpyAsync(tr->d_doc_start, tr->h_doc_start, (size_t)BT * sizeof(int), cudaMemcpyHostToDevice, s));
    tr->B = B, tr->T = T;
    GpuParams p = tr->p;
    float eps = c->rms_norm_eps;
    size_t nBTC = (size_t)BT * C;
    embedding_forward_gpu(tr->encoded, tr->d_ids, p.embed, BT, C, V, s);
    for (int l = 0; l < L; l++) {
        gpu_train_layer_forward(tr, l, 1);
    }
    rmsnorm_forward_gpu(tr->hfinal, tr->lnf_rstd, tr->res3 + gpu_train_layer(tr, L - 1, C), p.norm, BT, C, eps, s);
    cudaCheck(cudaMemsetAsync(tr->dhfinal, 0, nBTC * sizeof(floatX), s));
}

// qwen2_backward_from_dlogits from the final norm down, line for line: from tr->dhfinal (what the head
// wrote) through the final norm and every layer to the embedding. Parameter gradients are added (+=)
// into tr->grads in fp32; the activation gradients are floatX, one layer's worth reused.
static void gpu_train_backward_hidden(GpuTrain* tr) {
    const Qwen2Config* c = &tr->config;
    int L = c->num_layers, C = c->hidden_size, I = c->intermediate_size;
    int NH = c->num_heads, NKV = c->num_kv_heads, HD = c->head_dim, QD = NH * HD, KVD = NKV * HD;
    int B = tr->B, T = tr->T, BT = B * T;
    if (BT == 0) {
        fatal("gpu_train_backward_hidden: call gpu_train_forward_hidden first");
    }
    cudaStream_t s = tr->stream;
    GpuParams p = tr->p;
    ParameterTensors g = tr->g;
    float theta = c->rope_theta;
    size_t X = sizeof(floatX);
    // final norm: the residual stream's gradient starts here
    cudaCheck(cudaMemsetAsync(tr->dres, 0, (size_t)BT * C * X, s));
    rmsnorm_backward_gpu(tr->dres, g.norm, tr->dhfinal, tr->res3 + gpu_train_layer(tr, L - 1, C), p.norm, tr->lnf_rstd,
                         BT, C, tr->scratch, s);
    for (int l = L - 1; l >= 0; l--) {
        // with recompute, refill the one-layer buffers with layer l (the top layer is still there from the
        // forward: the head in between touches none of them)
        if (tr->recompute && l < L - 1) {
            gpu_train_layer_forward(tr, l, 0);
        }
        GpuLayerActs a = gpu_train_layer_acts(tr, l);
        size_t wl = (size_t)l * I * C; // one layer of wgate / wup / wdown
        // MLP block: tr->dres is the gradient of res3; the skip passes it to res2 as is and the MLP branch
        // adds its share through rmsnorm_backward_gpu's +=
        cudaCheck(cudaMemsetAsync(tr->dswiglu, 0, (size_t)BT * I * X, s));
        matmul_backward_gpu(tr->dswiglu, g.wdown + wl, NULL, tr->dres, a.swiglu, p.wdown + wl, BT, I, C, s);
        swiglu_backward_gpu(tr->dgate, tr->dup, tr->dswiglu, a.gate, a.up, (size_t)BT * I, s);
        cudaCheck(cudaMemsetAsync(tr->dln, 0, (size_t)BT * C * X, s));
        matmul_backward_gpu(tr->dln, g.wgate + wl, NULL, tr->dgate, a.ln2, p.wgate + wl, BT, C, I, s);
        matmul_backward_gpu(tr->dln, g.wup + wl, NULL, tr->dup, a.ln2, p.wup + wl, BT, C, I, s);
        rmsnorm_backward_gpu(tr->dres, g.ln2 + (size_t)l * C, tr->dln, a.res2, p.ln2 + (size_t)l * C, a.ln2_rstd, BT,
                             C, tr->scratch, s);
        // attention block: tr->dres is now the gradient of res2
        cudaCheck(cudaMemsetAsync(tr->datty, 0, (size_t)BT * QD * X, s));
        matmul_backward_gpu(tr->datty, g.wo + (size_t)l * C * QD, NULL, tr->dres, a.atty, p.wo + (size_t)l * C * QD,
                            BT, QD, C, s);
        attention_backward_gpu(tr->dq, tr->dk, tr->dv, tr->datty, a.atty, a.lse, a.q, a.k, a.v, tr->d_doc_start, B, T,
                               NH, NKV, HD, tr->scratch, s);
        rope_backward_gpu(tr->dq, tr->d_pos, BT, NH, HD, theta, s);
        rope_backward_gpu(tr->dk, tr->d_pos, BT, NKV, HD, theta, s);
        cudaCheck(cudaMemsetAsync(tr->dln, 0, (size_t)BT * C * X, s));
        matmul_backward_gpu(tr->dln, g.wq + (size_t)l * QD * C, g.bq + (size_t)l * QD, tr->dq, a.ln1,
                            p.wq + (size_t)l * QD * C, BT, C, QD, s);
        matmul_backward_gpu(tr->dln, g.wk + (size_t)l * KVD * C, g.bk + (size_t)l * KVD, tr->dk, a.ln1,
                            p.wk + (size_t)l * KVD * C, BT, C, KVD, s);
        matmul_backward_gpu(tr->dln, g.wv + (size_t)l * KVD * C, g.bv + (size_t)l * KVD, tr->dv, a.ln1,
                            p.wv + (size_t)l * KVD * C, BT, C, KVD, s);
        rmsnorm_backward_gpu(tr->dres, g.ln1 + (size_t)l * C, tr->dln, a.residual, p.ln1 + (size_t)l * C, a.ln1_rstd,
                             BT, C, tr->scratch, s);
    }
    embedding_backward_gpu(g.embed, tr->dres, tr->d_ids, BT, C, s);
}

// --- the update ------------------------------------------------------------------------------------------
// optimizer_step's order: the global gradient norm, the clip, then (when the norm is finite) AdamW.
// One GPU: clip_grad_norm_gpu and AdamW over everything. ZeRO-1 (r1.h's optimizer_step_zero1_virtual on
// real GPUs): reduce-scatter the gradients (this rank's shard then holds the sum over ranks), sum the
// shards' squares over ranks, clip and update the own shard, all-gather the floatX weights.

// The global gradient norm before clipping (what gets logged), and the clip when max_norm > 0 and the
// norm is finite: the ZeRO-1 section's reduce-scatter (nothing on one GPU) and dist_clip_grad_norm_gpu
// (on one GPU: clip_grad_norm_gpu's sums). Reads the norm back to the host (one sync per update).
static float gpu_train_clip_grad_norm(GpuTrain* tr, float max_norm) {
    cudaStream_t s = tr->stream;
    dist_reduce_scatter_grads_gpu(&tr->dist, tr->grads, tr->n, s);
    float* d_norm = zero1_norm_of(tr->scratch);
    dist_clip_grad_norm_gpu(&tr->dist, d_norm, tr->grads, tr->n, max_norm, tr->scratch, s);
    float norm;
    cudaCheck(cudaMemcpyAsync(&norm, d_norm, sizeof(float), cudaMemcpyDeviceToHost, s));
    cudaCheck(cudaStreamSynchronize(s));
    return norm;
}

// AdamW update number t at learning rate lr on this rank's shard, each tensor's piece with its own
// weight decay, writing the new floatX weights too; then the all-gather of the weights. This is
// adamw_update_shard_gpu with the master weights indexed from the shard's start (GpuTrain keeps only
// its shard of them: 4 bytes per parameter become 4/W); on one GPU it is adamw_update_model_gpu.
static void gpu_train_adamw(GpuTrain* tr, int t, float lr, const AdamWConfig* cfg) {
    size_t sizes[NUM_PARAM_TENSORS + 1], at = 0, begin = tr->shard_begin, end = tr->shard_end;
    param_sizes(&tr->config, sizes);
    for (int i = 0; i <= NUM_PARAM_TENSORS; i++) {
        size_t lo = at > begin ? at : begin, hi = at + sizes[i] < end ? at + sizes[i] : end;
        if (lo < hi) {
            float wd = param_decays(PARAM_SPECS[i].hf_name) ? cfg->weight_decay : 0.0f;
            adamw_update_gpu(tr->master + (lo - begin), tr->grads + lo, tr->adam_m + (lo - begin),
                             tr->adam_v + (lo - begin), hi - lo, t, lr, cfg->beta1, cfg->beta2, cfg->eps, wd,
                             tr->params_x + lo, tr->stream);
        }
        at += sizes[i];
    }
    dist_all_gather_params_gpu(&tr->dist, tr->params_x, tr->n, tr->stream); // (nothing on one GPU)
}

// One update from the summed gradients: returns the norm before clipping; a non-finite norm leaves
// the weights and moments as they were (the caller counts the skip, as optimizer_step does).
static float gpu_train_update(GpuTrain* tr, float lr, int t, const AdamWConfig* cfg, float max_grad_norm) {
    float norm = gpu_train_clip_grad_norm(tr, max_grad_norm);
    if (isfinite(norm)) {
        gpu_train_adamw(tr, t, lr, cfg);
    }
    return norm;
}

// --- the SFT engine: sft_train's forward, backward and update on one or more GPUs ------------------------
// r1.h's loop calls these through its SftBackend hooks (sft_update, sft_eval_loss, checkpoints), so
// data, schedule, non-finite guard, metrics and checkpoints are the CPU path's. Each GPU has a thread
// (dist_run) with its GpuTrain and the SFT head's buffers. Rank 0's thread runs sft_train; when a hook
// needs every GPU it hands a command to all ranks (a pair of barriers: start, done), the other ranks
// wait for commands in sft_gpu_worker. The step's accum x B rows are dealt out in contiguous blocks:
// rank r takes rows [r R / W, (r + 1) R / W) of the R rows, in micro-batches of at most B rows; every
// counted token's log-prob gets -1 / (the loss tokens of the whole step), so the summed gradients are
// those of the step's mean loss, as on one GPU or the CPU.

enum { SFT_GPU_STEP, SFT_GPU_CLIP, SFT_GPU_ADAMW, SFT_GPU_TO_HOST, SFT_GPU_FROM_HOST, SFT_GPU_QUIT };

typedef struct {
    GpuTrain tr;
    int* d_targets;     // (B, T) labels shifted left by one, -100 = ignored
    float* d_logprobs;  // (B, T)
    float* d_dlogprobs; // (B, T)
    float* d_loss;      // (max_micro) the summed -log p of each micro-batch of the step
    int* h_targets;     // (B, T) host
    float* h_loss;      // (max_micro) host
    double loss_sum;    // this rank's share of the last step's summed loss
} SftGpuRank;

typedef struct {
    int world, B, T, max_micro;
    int recompute;           // GpuTrain's activation recompute (--recompute)
    SftGpuRank* ranks;       // (world)
    pthread_barrier_t start, done, ready;
    int cmd;                 // the command in flight and its arguments:
    const int *ids, *pos, *labels; // SFT_GPU_STEP: rows x T tokens of the step
    int rows;
    long long n_targets;
    float max_norm, norm;    // SFT_GPU_CLIP
    int t;                   // SFT_GPU_ADAMW
    float lr;
    const AdamWConfig* adamw;
    Qwen2* model;            // SFT_GPU_TO_HOST / FROM_HOST (and the start)
    float *adam_m, *adam_v;
    // the run rank 0 does
    const Tokenizer* tok;
    const SftTokens *train, *eval;
    SftOptions opt;
    SftBackend backend;
    SftResult result;
} SftGpu;

// targets = labels shifted left by one, as qwen2_forward makes them; returns the loss tokens
static int sft_gpu_targets(SftGpuRank* g, const int* labels, int B, int T) {
    int n = 0;
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) {
            int y = t + 1 < T ? labels[b * T + t + 1] : IGNORE_INDEX;
            g->h_targets[b * T + t] = y;
            n += y != IGNORE_INDEX;
        }
    }
    cudaCheck(cudaMemcpyAsync(g->d_targets, g->h_targets, (size_t)B * T * sizeof(int), cudaMemcpyHostToDevice,
                              g->tr.stream));
    return n;
}

// Forward and backward of rank r's rows of the step; the summed loss of its rows into g->loss_sum.
static void sft_gpu_rank_step(SftGpu* s, int r) {
    SftGpuRank* g = &s->ranks[r];
    GpuTrain* tr = &g->tr;
    const Qwen2Config* c = &tr->config;
    int T = s->T, lo = (int)((long long)s->rows * r / s->world), hi = (int)((long long)s->rows * (r + 1) / s->world);
    float scale = s->n_targets > 0 ? (float)(-1.0 / (double)s->n_targets) : 0.0f; // as sft_update
    gpu_train_zero_grad(tr);
    int k = 0;
    for (int a = lo; a < hi; a += s->B, k++) {
        int b = hi - a < s->B ? hi - a : s->B;
        size_t at = (size_t)a * T;
        if (k >= s->max_micro) {
            fatal("sft_gpu_rank_step: more than %d micro-batches in a step", s->max_micro);
        }
        gpu_train_forward_hidden(tr, s->ids + at, s->pos + at, b, T);
        sft_gpu_targets(g, s->labels + at, b, T);
        loss_dlogprobs_gpu(g->d_dlogprobs, g->d_targets, b * T, scale, tr->stream);
        lm_head_loss_gpu(g->d_logprobs, g->d_loss + k, tr->dhfinal, gpu_train_dlm_head(tr), tr->hfinal,
                         gpu_train_lm_head(tr), g->d_targets, g->d_dlogprobs, b * T, c->hidden_size, c->vocab_size,
                         tr->head_chunk_rows, tr->head_scratch, tr->stream);
        gpu_train_backward_hidden(tr);
    }
    g->loss_sum = 0.0;
    if (k > 0) {
        cudaCheck(cudaMemcpyAsync(g->h_loss, g->d_loss, (size_t)k * sizeof(float), cudaMemcpyDeviceToHost, tr->stream));
    }
    cudaCheck(cudaStreamSynchronize(tr->stream));
    for (int i = 0; i < k; i++) {
        g->loss_sum += g->h_loss[i];
    }
}

// Rank r's part of the command in s->cmd.
static void sft_gpu_do(SftGpu* s, int r) {
    GpuTrain* tr = &s->ranks[r].tr;
    switch (s->cmd) {
    case SFT_GPU_STEP:
        sft_gpu_rank_step(s, r);
        break;
    case SFT_GPU_CLIP: {
        float norm = gpu_train_clip_grad_norm(tr, s->max_norm);
        if (r == 0) {
            s->norm = norm;
        }
        break;
    }
    case SFT_GPU_ADAMW:
        gpu_train_adamw(tr, s->t, s->lr, s->adamw);
        cudaCheck(cudaStreamSynchronize(tr->stream));
        break;
    case SFT_GPU_TO_HOST:
        gpu_train_to_host(tr, s->model, s->adam_m, s->adam_v);
        break;
    case SFT_GPU_FROM_HOST:
        gpu_train_from_host(tr, s->model, s->adam_m, s->adam_v);
        break;
    }
}

// Rank 0: runs a command on every rank and returns when all have finished it.
static void sft_gpu_command(SftGpu* s, int cmd) {
    s->cmd = cmd;
    pthread_barrier_wait(&s->start);
    if (cmd == SFT_GPU_QUIT) {
        return;
    }
    sft_gpu_do(s, 0);
    pthread_barrier_wait(&s->done);
}

// The other ranks: wait for commands until SFT_GPU_QUIT.
static void sft_gpu_worker(SftGpu* s, int r) {
    for (;;) {
        pthread_barrier_wait(&s->start);
        if (s->cmd == SFT_GPU_QUIT) {
            return;
        }
        sft_gpu_do(s, r);
        pthread_barrier_wait(&s->done);
    }
}

// --- the SftBackend hooks (called by r1.h on rank 0's thread) ---

static double sft_gpu_forward_backward(void* ctx, const int* ids, const int* pos, const int* labels, int rows, int B,
                                       int T, long long n_targets) {
    SftGpu* s = (SftGpu*)ctx;
    if (B != s->B || T != s->T) {
        fatal("sft_gpu_forward_backward: micro-batch %d x %d, the GPU buffers are for %d x %d", B, T, s->B, s->T);
    }
    s->ids = ids, s->pos = pos, s->labels = labels, s->rows = rows, s->n_targets = n_targets;
    sft_gpu_command(s, SFT_GPU_STEP);
    double sum = 0.0;
    for (int r = 0; r < s->world; r++) {
        sum += s->ranks[r].loss_sum;
    }
    return sum;
}

static float sft_gpu_clip_grad_norm(void* ctx, float max_norm) {
    SftGpu* s = (SftGpu*)ctx;
    s->max_norm = max_norm;
    sft_gpu_command(s, SFT_GPU_CLIP);
    return s->norm;
}

static void sft_gpu_adamw(void* ctx, int t, float lr, const AdamWConfig* cfg) {
    SftGpu* s = (SftGpu*)ctx;
    s->t = t, s->lr = lr, s->adamw = cfg;
    sft_gpu_command(s, SFT_GPU_ADAMW);
}

// The held-out loss of B rows: forward only, on rank 0 (no collectives), the head without gradients.
static double sft_gpu_eval_forward(void* ctx, const int* ids, const int* pos, const int* labels, int B, int T,
                                   long long* n) {
    SftGpu* s = (SftGpu*)ctx;
    SftGpuRank* g = &s->ranks[0];
    GpuTrain* tr = &g->tr;
    const Qwen2Config* c = &tr->config;
    gpu_train_forward_hidden(tr, ids, pos, B, T);
    *n = sft_gpu_targets(g, labels, B, T);
    lm_head_loss_gpu(g->d_logprobs, g->d_loss, NULL, NULL, tr->hfinal, gpu_train_lm_head(tr), g->d_targets, NULL,
                     B * T, c->hidden_size, c->vocab_size, tr->head_chunk_rows, tr->head_scratch, tr->stream);
    cudaCheck(cudaMemcpyAsync(g->h_loss, g->d_loss, sizeof(float), cudaMemcpyDeviceToHost, tr->stream));
    cudaCheck(cudaStreamSynchronize(tr->stream));
    return g->h_loss[0];
}

static void sft_gpu_sync_to_host(void* ctx, Qwen2* m, float* adam_m, float* adam_v) {
    SftGpu* s = (SftGpu*)ctx;
    s->model = m, s->adam_m = adam_m, s->adam_v = adam_v;
    sft_gpu_command(s, SFT_GPU_TO_HOST);
}

static void sft_gpu_from_host(void* ctx, const Qwen2* m, const float* adam_m, const float* adam_v) {
    SftGpu* s = (SftGpu*)ctx;
    s->model = (Qwen2*)m, s->adam_m = (float*)adam_m, s->adam_v = (float*)adam_v;
    sft_gpu_command(s, SFT_GPU_FROM_HOST);
}

// --- one thread per GPU ---

static void sft_gpu_rank_init(SftGpu* s, int r, const DistCtx* d) {
    SftGpuRank* g = &s->ranks[r];
    size_t BT = (size_t)s->B * s->T;
    gpu_train_init_ex(&g->tr, s->model, s->B, s->T, d, s->recompute);
    g->d_targets = (int*)cuda_malloc_check(BT * sizeof(int), "the SFT targets");
    g->d_logprobs = (float*)cuda_malloc_check(BT * sizeof(float), "the SFT log-probs");
    g->d_dlogprobs = (float*)cuda_malloc_check(BT * sizeof(float), "the SFT log-prob gradients");
    g->d_loss = (float*)cuda_malloc_check((size_t)s->max_micro * sizeof(float), "the SFT losses");
    g->h_targets = (int*)malloc_check(BT * sizeof(int));
    g->h_loss = (float*)malloc_check((size_t)s->max_micro * sizeof(float));
}

static void sft_gpu_rank_free(SftGpuRank* g) {
    gpu_train_free(&g->tr);
    cudaCheck(cudaFree(g->d_targets)), cudaCheck(cudaFree(g->d_logprobs)), cudaCheck(cudaFree(g->d_dlogprobs));
    cudaCheck(cudaFree(g->d_loss));
    free(g->h_targets), free(g->h_loss);
}

// dist_run's function: every rank sets up its GPU; rank 0 then runs sft_train with the GPU hooks and
// tells the others to stop when it ends.
static void sft_gpu_rank_main(int rank, DistCtx* d, void* arg) {
    SftGpu* s = (SftGpu*)arg;
    sft_gpu_rank_init(s, rank, d);
    pthread_barrier_wait(&s->ready);
    if (rank == 0) {
        s->opt.backend = &s->backend;
        s->result = sft_train(s->model, s->tok, s->train, s->eval, &s->opt);
        sft_gpu_command(s, SFT_GPU_QUIT);
    } else {
        sft_gpu_worker(s, rank);
    }
    sft_gpu_rank_free(&s->ranks[rank]);
}

// sft_train on `world` GPUs (devices 0..world-1): the same run as r1.h's on the CPU, m updated at the end.
// recompute: keep one layer of activations per GPU and recompute it in backward (the same results).
static SftResult sft_train_gpu(Qwen2* m, const Tokenizer* tok, const SftTokens* train, const SftTokens* eval,
                               const SftOptions* o, int world, int recompute) {
    SftGpu s;
    memset(&s, 0, sizeof(s));
    s.world = world, s.B = o->batch_size, s.T = o->seq_len, s.recompute = recompute;
    if (s.B < 1 || s.T < 2 || o->grad_accum < 1) {
        fatal("batch size %d, sequence length %d, accumulation %d: need B >= 1, T >= 2, accumulation >= 1", s.B, s.T,
              o->grad_accum);
    }
    int rows = o->grad_accum * o->batch_size;
    s.max_micro = (rows / world + 1 + s.B - 1) / s.B + 1; // a rank's rows, in micro-batches of B
    s.ranks = (SftGpuRank*)calloc_check((size_t)world, sizeof(SftGpuRank));
    int* devices = (int*)malloc_check((size_t)world * sizeof(int));
    for (int r = 0; r < world; r++) {
        devices[r] = r;
    }
    s.model = m, s.tok = tok, s.train = train, s.eval = eval, s.opt = *o;
    SftBackend b = {&s,
                    sft_gpu_forward_backward,
                    sft_gpu_clip_grad_norm,
                    sft_gpu_adamw,
                    sft_gpu_eval_forward,
                    sft_gpu_sync_to_host,
                    sft_gpu_from_host};
    s.backend = b;
    gpu_train_print_plan_ex(stdout, &m->config, s.B, s.T, world, recompute);
    pthread_barrier_init(&s.start, NULL, (unsigned)world);
    pthread_barrier_init(&s.done, NULL, (unsigned)world);
    pthread_barrier_init(&s.ready, NULL, (unsigned)world);
    dist_run(world, devices, sft_gpu_rank_main, &s);
    pthread_barrier_destroy(&s.start), pthread_barrier_destroy(&s.done), pthread_barrier_destroy(&s.ready);
    free(devices), free(s.ranks);
    return s.result;
}

#endif // __CUDACC__

typedef struct {
    SftOptions o;
    const char* model;       // NULL: the tiny built-in model
    const char* data[64];    // --data files
    int n_data;
    const char* eval_data;   // --eval-data file
    double eval_frac;        // held-out fraction of --data when there is no --eval-data
    int countdown_n;         // built-in Countdown traces (training) when there is no --data
    int countdown_eval;      // built-in Countdown traces from the held-out targets
    CountdownConfig countdown;
    const char* tmpl;        // assistant template (name or literal); NULL: by data
    int skip_bad;
    int no_cache;
    int resume;              // --resume: continue from the newest checkpoint in --out
    int threads;
    int lr_set, batch_set, steps_set, eval_every_set, log_every_set; // given on the command line (the tiny model's defaults differ)
    int cpu;                 // --cpu: the r1.h CPU path even with a GPU
    int gpus;                // --gpus N: GPUs in the data-parallel run (default 1)
    int memory_plan;         // --memory-plan: print the GPU memory plan and exit
    int recompute;           // --recompute: one layer of activations on the GPU, recomputed in backward
    const char* preset;      // --preset: a published Qwen2.5 shape for --memory-plan
} SftArgs;

static void sft_usage(FILE* f) {
    SftOptions d;
    sft_options_default(&d);
    fprintf(f,
            "usage: ./train_sft [options]\n"
            "Supervised fine-tuning of a Qwen2.5 model on reasoning traces, loss on the assistant's tokens only.\n"
            "model and data:\n"
            "  --model DIR          Hugging Face model folder (default: the tiny built-in model, random init)\n"
            "  --data FILE          training data, jsonl or JSON array (repeatable): chat messages, problem+solution,\n"
            "                       question+answer (GSM8K), prompt+thinking+answer, nums+target (Countdown)\n"
            "                       (default: Countdown traces made on the fly)\n"
            "  --eval-data FILE     held-out data for the evaluation loss (default: --eval-frac of --data)\n"
            "  --eval-frac F        fraction of --data held out when there is no --eval-data (default 0.05)\n"
            "  --countdown N        built-in Countdown traces to train on (default 2000)\n"
            "  --countdown-eval N   built-in Countdown traces from the held-out targets (default 16)\n"
            "  --countdown-nums K   numbers per Countdown problem, K or K1-K2 (default 3)\n"
            "  --trace-lines L      search lines in a Countdown trace before it skips ahead (default 4: every\n"
            "                       trace then fits in 1024 tokens)\n"
            "  --template T         assistant turn: r1, countdown, answer, or a literal with {thinking} {answer}\n"
            "                       (default: countdown for the built-in data, r1 for --data)\n"
            "  --skip-bad           skip malformed data rows (counted) instead of stopping at the first\n"
            "  --no-cache           do not read or write the token cache FILE.r1tok\n"
            "training:\n"
            "  --batch B            rows per micro-batch (default %d; 1 for the tiny model)\n"
            "  --seq-len T          tokens per row; longer documents are truncated (default %d)\n"
            "  --accum N            micro-batches per update (default %d)\n"
            "  --lr LR              peak learning rate (default 2e-3 for the tiny model, %g for --model)\n"
            "  --schedule S         constant, constant_with_warmup, linear, cosine, cosine_with_min_lr (default %s)\n"
            "  --warmup W           warmup: fraction of the steps (<1) or steps (>=1) (default %g)\n"
            "  --min-lr LR          the cosine's floor (default 0: down to 0; 0.1 x lr for the tiny model)\n"
            "  --weight-decay WD    AdamW weight decay on matrices (default %g)\n"
            "  --beta1 B1 --beta2 B2 --eps E   AdamW (default %g %g %g)\n"
            "  --clip C             gradient clipping to global norm C, 0 = off (default %g)\n"
            "  --steps N            updates in the run (default: from --epochs; 150 for the tiny model)\n"
            "  --epochs E           passes over the data when --steps is not given (default %g)\n"
            "  --stop-at N          stop after step N, with a checkpoint (the schedule still spans --steps):\n"
            "                       a run in sessions, continued with --resume\n"
            "  --max-bad-steps N    stop after N non-finite steps in a row (default %d)\n"
            "  --seed S             data order and the tiny model's initial weights (default %llu)\n"
            "  --threads N          CPU threads (default: OMP_NUM_THREADS or all cores)\n"
            "output:\n"
            "  --out DIR            checkpoints (HF folders + training state) and metrics.jsonl (default: none)\n"
            "  --save-every N       checkpoint every N steps, and at the end (default: at the end only)\n"
            "  --keep N             checkpoints kept, 0 = all (default %d)\n"
            "  --resume             continue from the newest checkpoint in --out (a fresh start if there is none)\n"
            "  --resume-from DIR    continue from this checkpoint folder\n"
            "  --eval-every N       held-out loss every N steps, and at the end (default: at the end; 50 for the tiny model)\n"
            "  --eval-rows N        rows of the held-out set per evaluation, 0 = all (default 0)\n"
            "  --log-every N        progress line every N steps (default %d; 10 for the tiny model)\n"
            "GPU (a CUDA build on a machine with a CUDA device; otherwise the same run on the CPU):\n"
            "  --gpus N             GPUs of this machine, one process, data parallel with ZeRO-1 (default 1). The\n"
            "                       step's R = accum x batch rows are dealt out in contiguous blocks: GPU r takes\n"
            "                       rows [r R/N, (r+1) R/N), in micro-batches of at most --batch rows; the update is\n"
            "                       the one a single GPU makes from all R rows (choose R a multiple of N)\n"
            "  --cpu                run on the CPU even when there is a GPU\n"
            "  --recompute          GPU: keep only each layer's input and recompute the layer's activations just\n"
            "                       before its backward: activations of one layer + L x (B,T,C) instead of L\n"
            "                       layers, the same results (the same kernels on the same inputs), about a third\n"
            "                       more compute per step\n"
            "  --memory-plan        print the GPU memory per GPU for --model (or --preset), --batch, --seq-len and\n"
            "                       --gpus (and --recompute), and exit (no GPU needed)\n"
            "  --preset P           with --memory-plan: a published Qwen2.5 shape, 0.5B, 1.5B, 3B or 7B\n"
            "  --help               this text\n",
            d.batch_size, d.seq_len, d.grad_accum, d.lr, d.schedule, d.warmup, d.weight_decay, d.beta1, d.beta2,
            d.eps, d.max_grad_norm, d.epochs, d.max_bad_steps, (unsigned long long)d.seed, d.keep, d.log_every);
}

static double sft_num_arg(int argc, char** argv, int i) {
    if (i + 1 >= argc) {
        fatal("%s needs a value (see --help)", argv[i]);
    }
    char* end;
    double v = strtod(argv[i + 1], &end);
    if (*end != '\0' || end == argv[i + 1] || !isfinite(v) || v < 0) {
        fatal("%s: '%s' is not a non-negative number", argv[i], argv[i + 1]);
    }
    return v;
}

static int sft_int_arg(int argc, char** argv, int i) {
    double v = sft_num_arg(argc, argv, i);
    if (v != floor(v) || v > 2000000000.0) {
        fatal("%s: '%s' is not a whole number", argv[i], argv[i + 1]);
    }
    return (int)v;
}

// "\n" and "\t" typed in a template on the command line become the characters.
static char* sft_unescape(const char* s) {
    char* out = strdup_check(s);
    size_t k = 0;
    for (size_t i = 0; s[i]; i++) {
        if (s[i] == '\\' && (s[i + 1] == 'n' || s[i + 1] == 't' || s[i + 1] == '\\')) {
            out[k++] = s[i + 1] == 'n' ? '\n' : s[i + 1] == 't' ? '\t' : '\\';
            i++;
        } else {
            out[k++] = s[i];
        }
    }
    out[k] = '\0';
    return out;
}

static SftArgs sft_parse_args(int argc, char** argv) {
    SftArgs a;
    memset(&a, 0, sizeof(a));
    sft_options_default(&a.o);
    a.eval_frac = 0.05, a.countdown_n = 2000, a.countdown_eval = 16;
    a.countdown = countdown_config_default();
    a.countdown.min_nums = a.countdown.max_nums = 3, a.countdown.trace_lines = 4;
    a.o.min_lr = -1.0f; // not given
    a.gpus = 1;
    for (int i = 1; i < argc; i++) {
        const char* f = argv[i];
        if (strcmp(f, "--help") == 0 || strcmp(f, "-h") == 0) {
            sft_usage(stdout);
            exit(0);
        }
        // flags without a value
        if (strcmp(f, "--skip-bad") == 0) {
            a.skip_bad = 1;
            continue;
        } else if (strcmp(f, "--no-cache") == 0) {
            a.no_cache = 1;
            continue;
        } else if (strcmp(f, "--resume") == 0) {
            a.resume = 1;
            continue;
        } else if (strcmp(f, "--cpu") == 0) {
            a.cpu = 1;
            continue;
        } else if (strcmp(f, "--memory-plan") == 0) {
            a.memory_plan = 1;
            continue;
        } else if (strcmp(f, "--recompute") == 0) {
            a.recompute = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fatal("%s needs a value, or is not an option (see --help)", f);
        }
        const char* v = argv[i + 1];
        if (strcmp(f, "--model") == 0) {
            a.model = v;
        } else if (strcmp(f, "--data") == 0) {
            if (a.n_data == 64) {
                fatal("at most 64 --data files");
            }
            a.data[a.n_data++] = v;
        } else if (strcmp(f, "--eval-data") == 0) {
            a.eval_data = v;
        } else if (strcmp(f, "--eval-frac") == 0) {
            a.eval_frac = sft_num_arg(argc, argv, i);
        } else if (strcmp(f, "--countdown") == 0) {
            a.countdown_n = sft_int_arg(argc, argv, i);
        } else if (strcmp(f, "--countdown-eval") == 0) {
            a.countdown_eval = sft_int_arg(argc, argv, i);
        } else if (strcmp(f, "--countdown-nums") == 0) {
            if (sscanf(v, "%d-%d", &a.countdown.min_nums, &a.countdown.max_nums) == 1) {
                a.countdown.max_nums = a.countdown.min_nums;
            }
        } else if (strcmp(f, "--trace-lines") == 0) {
            a.countdown.trace_lines = sft_int_arg(argc, argv, i);
        } else if (strcmp(f, "--template") == 0) {
            a.tmpl = sft_unescape(v);
        } else if (strcmp(f, "--batch") == 0) {
            a.o.batch_size = sft_int_arg(argc, argv, i), a.batch_set = 1;
        } else if (strcmp(f, "--seq-len") == 0) {
            a.o.seq_len = sft_int_arg(argc, argv, i);
        } else if (strcmp(f, "--accum") == 0) {
            a.o.grad_accum = sft_int_arg(argc, argv, i);
        } else if (strcmp(f, "--lr") == 0) {
            a.o.lr = (float)sft_num_arg(argc, argv, i), a.lr_set = 1;
        } else if (strcmp(f, "--schedule") == 0) {
            a.o.schedule = v;
            lr_schedule_from_name(v); // checks the name now
        } else if (strcmp(f, "--warmup") == 0) {
            a.o.warmup = sft_num_arg(argc, argv, i);
        } else if (strcmp(f, "--min-lr") == 0) {
            a.o.min_lr = (float)sft_num_arg(argc, argv, i);
        } else if (strcmp(f, "--weight-decay") == 0) {
            a.o.weight_decay = (float)sft_num_arg(argc, argv, i);
        } else if (strcmp(f, "--beta1") == 0) {
            a.o.beta1 = (float)sft_num_arg(argc, argv, i);
        } else if (strcmp(f, "--beta2") == 0) {
            a.o.beta2 = (float)sft_num_arg(argc, argv, i);
        } else if (strcmp(f, "--eps") == 0) {
            a.o.eps = (float)sft_num_arg(argc, argv, i);
        } else if (strcmp(f, "--clip") == 0) {
            a.o.max_grad_norm = (float)sft_num_arg(argc, argv, i);
        } else if (strcmp(f, "--steps") == 0) {
            a.o.max_steps = sft_int_arg(argc, argv, i), a.steps_set = 1;
        } else if (strcmp(f, "--epochs") == 0) {
            a.o.epochs = sft_num_arg(argc, argv, i), a.steps_set = 1;
        } else if (strcmp(f, "--stop-at") == 0) {
            a.o.stop_at = sft_int_arg(argc, argv, i);
        } else if (strcmp(f, "--max-bad-steps") == 0) {
            a.o.max_bad_steps = sft_int_arg(argc, argv, i);
        } else if (strcmp(f, "--seed") == 0) {
            a.o.seed = (uint64_t)sft_int_arg(argc, argv, i);
        } else if (strcmp(f, "--threads") == 0) {
            a.threads = sft_int_arg(argc, argv, i);
        } else if (strcmp(f, "--out") == 0) {
            a.o.out_dir = v;
        } else if (strcmp(f, "--save-every") == 0) {
            a.o.save_every = sft_int_arg(argc, argv, i);
        } else if (strcmp(f, "--keep") == 0) {
            a.o.keep = sft_int_arg(argc, argv, i);
        } else if (strcmp(f, "--resume-from") == 0) {
            a.o.resume_from = v;
        } else if (strcmp(f, "--eval-every") == 0) {
            a.o.eval_every = sft_int_arg(argc, argv, i), a.eval_every_set = 1;
        } else if (strcmp(f, "--eval-rows") == 0) {
            a.o.eval_rows = sft_int_arg(argc, argv, i);
        } else if (strcmp(f, "--log-every") == 0) {
            a.o.log_every = sft_int_arg(argc, argv, i), a.log_every_set = 1;
        } else if (strcmp(f, "--gpus") == 0) {
            a.gpus = sft_int_arg(argc, argv, i);
            if (a.gpus < 1) {
                fatal("--gpus %d: give 1 or more", a.gpus);
            }
        } else if (strcmp(f, "--preset") == 0) {
            a.preset = v;
        } else {
            fatal("unknown option '%s' (see --help)", f);
        }
        i++;
    }
    if (a.countdown.min_nums < 2 || a.countdown.max_nums > COUNTDOWN_MAX_NUMS ||
        a.countdown.min_nums > a.countdown.max_nums) {
        fatal("--countdown-nums: give K or K1-K2 within 2..%d", COUNTDOWN_MAX_NUMS);
    }
    if (a.resume && a.o.out_dir == NULL) {
        fatal("--resume continues the run in --out: give --out DIR");
    }
    if (a.eval_frac >= 1.0) {
        fatal("--eval-frac %g: must be below 1", a.eval_frac);
    }
    return a;
}

// The training and held-out tokens, from --data files or the built-in Countdown generator.
static void sft_load_data(SftArgs* a, const Tokenizer* tok, SftTokens* train, SftTokens* eval) {
    memset(train, 0, sizeof(*train)), memset(eval, 0, sizeof(*eval));
    if (a->n_data == 0) {
        const char* tmpl = sft_template(a->tmpl ? a->tmpl : "countdown");
        SftDataset d = sft_countdown_dataset(&a->countdown, (size_t)a->countdown_n, a->o.seed, 0);
        sft_tokenize(tok, &d, tmpl, train);
        sft_free(&d);
        d = sft_countdown_dataset(&a->countdown, (size_t)a->countdown_eval, a->o.seed, 1);
        sft_tokenize(tok, &d, tmpl, eval);
        sft_free(&d);
        printf("data: %zu Countdown traces (%zu tokens), %zu held-out (targets never trained on)\n", train->n_docs,
               train->n, eval->n_docs);
        return;
    }
    const char* tmpl = sft_template(a->tmpl);
    SftTokens all;
    memset(&all, 0, sizeof(all));
    for (int i = 0; i < a->n_data; i++) {
        SftTokens part;
        int cached = sft_tokens_load(tok, a->data[i], tmpl, a->skip_bad, !a->no_cache, &part);
        printf("data: %s: %zu examples, %zu tokens%s", a->data[i], part.n_docs, part.n,
               cached ? " (from the token cache)" : "");
        printf(part.skipped ? ", %zu malformed rows skipped\n" : "\n", part.skipped);
        sft_tokens_append(&all, &part);
        sft_tokens_free(&part);
    }
    if (all.n_docs == 0) {
        fatal("no training examples in the --data files%s", all.skipped ? " (every row was malformed)" : "");
    }
    if (a->eval_data) {
        *train = all;
        sft_tokens_load(tok, a->eval_data, tmpl, a->skip_bad, !a->no_cache, eval);
    } else {
        sft_tokens_split(&all, a->eval_frac, a->o.seed, train, eval);
        sft_tokens_free(&all);
    }
    printf("data: %zu training examples, %zu held out\n", train->n_docs, eval->n_docs);
}

// Says where the run goes and returns the GPUs it uses (0: the r1.h CPU path).
static int sft_report_device(const SftArgs* a) {
#ifdef __CUDACC__
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
        cudaGetLastError();
        printf("no CUDA device: running the r1.h CPU path\n");
        return 0;
    }
    if (a->cpu) {
        printf("--cpu: running the r1.h CPU path\n");
        return 0;
    }
    if (a->gpus > n) {
        fatal("--gpus %d: this machine shows %d CUDA device%s (check CUDA_VISIBLE_DEVICES)", a->gpus, n,
              n == 1 ? "" : "s");
    }
    cudaDeviceProp prop;
    cudaCheck(cudaGetDeviceProperties(&prop, 0));
    printf("GPU path: %d x %s, %s%s\n", a->gpus, prop.name, PRECISION_NAME,
           a->gpus > 1 ? ", data parallel with ZeRO-1" : "");
    return a->gpus;
#else
    if (a->gpus > 1) {
        printf("--gpus %d: this build has no CUDA (built as plain C): running the r1.h CPU path\n", a->gpus);
    }
    return 0;
#endif
}

// --memory-plan: the model's shape from --model's config.json, --preset, or the tiny model; then the
// bytes per GPU as gpu_train_init would allocate them.
static void sft_memory_plan(const SftArgs* a) {
    Qwen2Config c;
    if (a->model) {
        config_load(&c, a->model);
    } else if (a->preset) {
        if (!config_preset(&c, a->preset)) {
            fatal("--preset %s: unknown; use 0.5B, 1.5B, 3B or 7B", a->preset);
        }
    } else {
        Tokenizer tok;
        tokenizer_init_bytes(&tok);
        config_tiny(&c, &tok);
        tokenizer_free(&tok);
    }
#ifdef __CUDACC__
    int B = a->model || a->preset || a->batch_set ? a->o.batch_size : 1;
    gpu_train_print_plan_ex(stdout, &c, B, a->o.seq_len, a->gpus, a->recompute);
#else
    fatal("--memory-plan: this train_sft was built as plain C (no CUDA); build it with nvcc (make)");
#endif
}

#ifndef R1_NO_SFT_MAIN
int main(int argc, char** argv) {
    SftArgs a = sft_parse_args(argc, argv);
    if (a.memory_plan) {
        sft_memory_plan(&a);
        return 0;
    }
    int gpus = sft_report_device(&a);
    if (a.recompute && gpus == 0) {
        printf("--recompute: only the GPU path recomputes activations; the CPU path keeps them all\n");
    }
#ifdef _OPENMP
    if (a.threads > 0) {
        omp_set_num_threads(a.threads);
    }
#endif
    Tokenizer tok;
    Qwen2 model;
    if (a.model) {
        tokenizer_load(&tok, a.model);
        qwen2_load(&model, a.model);
        a.o.model_dir = a.model;
        a.o.min_lr = a.o.min_lr < 0 ? 0.0f : a.o.min_lr;
    } else {
        tokenizer_init_bytes(&tok);
        qwen2_init_tiny(&model, &tok, a.o.seed);
        // the demo: 150 steps of one 1024-token row, about 30 s on 2 cores, loss 5.8 -> about 1.3
        a.o.lr = a.lr_set ? a.o.lr : 2e-3f;
        a.o.batch_size = a.batch_set ? a.o.batch_size : 1;
        a.o.max_steps = a.steps_set ? a.o.max_steps : 150;
        a.o.eval_every = a.eval_every_set ? a.o.eval_every : 50;
        a.o.log_every = a.log_every_set ? a.o.log_every : 10;
        a.o.min_lr = a.o.min_lr < 0 ? 0.1f * a.o.lr : a.o.min_lr;
    }
    Qwen2Config* c = &model.config;
    printf("model: %s: %d layers, hidden %d, heads %d/%d, vocab %d, %.2fM parameters\n",
           a.model ? a.model : "tiny built-in (random init)", c->num_layers, c->hidden_size, c->num_heads,
           c->num_kv_heads, c->vocab_size, model.num_parameters / 1e6);
    SftTokens train, eval;
    sft_load_data(&a, &tok, &train, &eval);
    printf("data: the loss tokens' unigram entropy is %.3f nats (a model that only learned token frequencies); "
           "ln(V) = %.3f (a uniform guess)\n", sft_unigram_entropy(&train, c->vocab_size), log((double)c->vocab_size));
    size_t longest, n_long = sft_count_long(&train, a.o.seq_len, &longest);
    if (n_long > 0) {
        fprintf(stderr, "r1: warning: %zu of %zu training documents are longer than --seq-len %d (the longest: %zu "
                        "tokens): they are truncated, %zu of them to nothing but prompt (raise --seq-len)\n", n_long,
                train.n_docs, a.o.seq_len, longest, sft_count_no_loss(&train, a.o.seq_len));
    }
    char* latest = NULL;
    if (a.resume && a.o.resume_from == NULL) {
        latest = sft_latest_checkpoint(a.o.out_dir);
        if (latest == NULL) {
            printf("--resume: no checkpoint in %s yet: starting from the beginning\n", a.o.out_dir);
        }
        a.o.resume_from = latest;
    }
    if (a.o.out_dir) {
        printf("output: %s (checkpoints, metrics.jsonl)\n", a.o.out_dir);
    }
#ifdef _OPENMP
    printf("threads: %d\n", omp_get_max_threads());
#endif
    double t0 = wall_time();
#ifdef __CUDACC__
    SftResult r = gpus > 0 ? sft_train_gpu(&model, &tok, &train, &eval, &a.o, gpus, a.recompute)
                           : sft_train(&model, &tok, &train, &eval, &a.o);
#else
    (void)gpus;
    SftResult r = sft_train(&model, &tok, &train, &eval, &a.o);
#endif
    printf("done: %d steps in %.1f s, loss %.4f (first step %.4f)", r.steps, wall_time() - t0, r.loss, r.first_loss);
    if (r.eval_loss >= 0) {
        printf(", held-out loss %.4f", r.eval_loss);
    }
    printf("\n");
    if (a.o.out_dir) {
        char* ck = sft_latest_checkpoint(a.o.out_dir);
        if (ck) {
            printf("checkpoint: %s (load it with transformers' from_pretrained)\n", ck);
        }
        free(ck);
    }
    free(latest);
    sft_tokens_free(&train), sft_tokens_free(&eval);
    qwen2_free(&model);
    tokenizer_free(&tok);
    return 0;
}
#endif

/*
train_sft: supervised fine-tuning (R1's cold start / distillation) of a Qwen2.5 model.

    ./train_sft                                   the tiny built-in model on Countdown traces (CPU, ~30 s)
    ./train_sft --model Qwen2.5-0.5B-Instruct --data traces.jsonl --out runs/sft

The loop itself (packing, accumulation, AdamW, held-out loss, checkpoints, resume) is r1.h's
(sft_train); this file parses the flags, loads the model and the data, and runs it. Built with nvcc
it is the GPU driver's layer between generate.cu and train_grpo.cu; until the GPU path exists it runs
the r1.h CPU path everywhere (and says so). Built with gcc -x c it is plain C.
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
// The training layer's own handle, created on first use (training steps are not graph-captured). The
// default math mode keeps fp32 matmuls in true fp32 (no TF32), which the PRECISION=FP32 tests need.
static cublasHandle_t sft_cublas = NULL;

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
    if (smem > 48 * 1024) {
        fatal("rmsnorm_backward_gpu: hidden size %d is above the 12288 this kernel keeps in shared memory", C);
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
        } else {
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

// @@SFT_KERNELS@@

// ----------------------------------------------------------------------------
// GPU: attention for training (twins of r1.h's attention_forward / attention_backward: packed
// documents, flash-style, no T x T matrix)
// @@TRAIN_ATTENTION@@

// ----------------------------------------------------------------------------
// GPU: the model for training (activations kept for backward), one update, the engine behind sft_train
// @@TRAIN_MODEL@@

// ----------------------------------------------------------------------------
// GPU: several GPUs in one process (NCCL, data parallel, ZeRO-1)
// @@ZERO1@@

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

static void sft_report_device(void) {
#ifdef __CUDACC__
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
        printf("no CUDA device: running the r1.h CPU path\n");
    } else {
        printf("GPU path not implemented yet: running the r1.h CPU path\n");
    }
#endif
}

#ifndef R1_NO_SFT_MAIN
int main(int argc, char** argv) {
    SftArgs a = sft_parse_args(argc, argv);
    sft_report_device();
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
    SftResult r = sft_train(&model, &tok, &train, &eval, &a.o);
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

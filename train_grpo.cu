// train_grpo.cu: GRPO, the reinforcement-learning stage of DeepSeek-R1, for Qwen2.5 models.
// The third layer of the GPU program (generate.cu ⊂ train_sft.cu ⊂ train_grpo.cu). The loop itself
// (prompts -> rollouts -> rewards -> group advantages -> GRPO loss -> update -> log -> checkpoint)
// is r1.h's (its GRPO training section); this file parses the flags and runs it. Built with nvcc and
// run where there is a CUDA device, it hands the loop a GrpoBackend (below): rollouts with
// generate.cu's engine, updates with train_sft.cu's GpuTrain and the GRPO head of this file. Without a
// device (or with --cpu, or built with gcc -x c) it runs the r1.h CPU path.
//
//   ./train_grpo                                 R1-Zero in miniature: the tiny built-in model, a short
//                                                cold-start SFT on Countdown, then GRPO on Countdown,
//                                                held-out accuracy before and after
//   ./train_grpo --model DIR --recipe datawhale  a published recipe on a Hugging Face Qwen2.5 folder
#define R1_NO_SFT_MAIN
#include "train_sft.cu"
#ifdef __CUDACC__
// ----------------------------------------------------------------------------
// GPU: the GRPO loss and its logit gradient, chunked with the LM head (twin of r1.h's
// grpo_loss_backward), and the GPU step behind grpo_update
// GRPO's head. The loss only sees the model through each completion token's log-prob and entropy
// under softmax(logits / Temp), so, as on the CPU, there is no autograd here: the gradient of the
// loss with respect to the logits is written directly (r1.h's grpo_token_backward explains it). The
// whole (B*T, V) logits of a micro-batch never exist (at V = 151,936 a token's row is 600 KB):
// grpo_lm_head_loss_gpu takes chunk_rows rows at a time, as lm_head_loss_gpu does,
//     logits  = h . lm_head^T                               fp32, cuBLAS           (chunk_rows, V)
//     dlogits = the GRPO gradient of the row                grpo_loss_backward_gpu, floatX
//     dh += dlogits . lm_head,  dlm_head += dlogits^T . h   matmul_backward_gpu
// grpo_loss_backward_gpu is grpo_loss_backward with one block per row: one pass over the row gives its
// log-sum-exp and entropy, one thread does the token's scalar math (ratio, clipping, KL, in double,
// branch for branch as r1.h's grpo_pg and grpo_kl), a second pass writes the gradient. Instead of
// adding to a GrpoStats it writes each token's statistics to a (N, GRPO_TOKEN_STATS) array: no
// atomics, and grpo_stats_sum_gpu sums them in a fixed order (the same numbers on every run).
// grpo_lm_head_logp_gpu is the forward-only pass (r1.h's grpo_row_logp): the reference model's and
// the sampling policy's log-probs of the completion tokens.

#define GRPO_BLOCK 512 // threads per row

// The columns of the per-token statistics (GrpoStats's fields, plus the token's share of the loss).
#define GRPO_TS_LOSS 0      // w l - c we H
#define GRPO_TS_TOKENS 1    // 1 for a token that enters the loss, 0 for a masked one (all columns 0)
#define GRPO_TS_KL 2        // the KL estimate (kl_type; 0 when beta = 0)
#define GRPO_TS_ENTROPY 3   // H of softmax(logits / Temp)
#define GRPO_TS_RATIO 4     // rho
#define GRPO_TS_CLIP_LOW 5  // 1 when clipped at 1 - eps_low
#define GRPO_TS_CLIP_HIGH 6 // 1 when clipped at 1 + eps_high
#define GRPO_TS_CLIP_DUAL 7 // 1 when capped by the dual clip
#define GRPO_TOKEN_STATS 8

// r1.h's grpo_kl on the device: dl/dlogp of the KL term, its value in *kl.
__device__ double grpo_kl_dev(double logp, double logr, const GrpoConfig& cfg, double* kl) {
    double d = logp - logr, grad;
    if (cfg.kl_type == GRPO_KL_K1) {
        *kl = d, grad = 1.0;
    } else if (cfg.kl_type == GRPO_KL_K2) {
        *kl = 0.5 * d * d, grad = d;
    } else {
        double x = logr - logp, dx = -1.0;
        if (cfg.verl_clamps && (x > 20.0 || x < -20.0)) {
            x = x > 0 ? 20.0 : -20.0, dx = 0.0;
        }
        *kl = exp(x) - x - 1.0, grad = (exp(x) - 1.0) * dx;
        if (cfg.verl_clamps && *kl > 10.0) {
            *kl = 10.0, grad = 0.0;
        }
    }
    return cfg.kl_k2_grad ? d : grad;
}

// r1.h's grpo_pg on the device: dl/dlogp of the clipped surrogate, its value in *pg, rho in *ratio,
// and which clip took the token in *clip (GRPO_TS_CLIP_LOW / _HIGH / _DUAL, or 0 for none).
__device__ double grpo_pg_dev(double logp, double old_logp, int has_old, double A, const GrpoConfig& cfg, double* pg,
                              double* ratio, int* clip) {
    double lr = has_old ? logp - old_logp : 0.0, drho = 1.0;
    if (cfg.verl_clamps && (lr > 20.0 || lr < -20.0)) {
        lr = lr > 0 ? 20.0 : -20.0, drho = 0.0;
    }
    double rho = exp(lr);
    double lo = 1.0 - cfg.eps_low, hi = 1.0 + cfg.eps_high;
    double rho_clip = rho < lo ? lo : rho > hi ? hi : rho;
    *ratio = rho, *clip = 0;
    if ((A > 0 && rho > hi) || (A < 0 && rho < lo)) {
        *clip = A > 0 ? GRPO_TS_CLIP_HIGH : GRPO_TS_CLIP_LOW;
        *pg = -rho_clip * A;
        return 0.0;
    }
    if (A < 0 && cfg.dual_clip > 0 && rho > cfg.dual_clip) {
        *clip = GRPO_TS_CLIP_DUAL;
        *pg = -A * cfg.dual_clip;
        return 0.0;
    }
    *pg = -rho * A;
    return -A * rho * drho;
}

// Merges two partial (max m, s = sum exp(z - m), e = sum exp(z - m) (m - z)) of one row; e >= 0
// is rescaled to the new max as e' = exp(m - M) (e + (M - m) s). An empty part has m = -inf.
__device__ void grpo_lse_merge(float* m, float* s, float* e, float m2, float s2, float e2) {
    if (m2 == -INFINITY) {
        return;
    }
    if (*m == -INFINITY) {
        *m = m2, *s = s2, *e = e2;
        return;
    }
    float M = fmaxf(*m, m2), a1 = expf(*m - M), a2 = expf(m2 - M);
    *e = a1 * (*e + (M - *m) * *s) + a2 * (e2 + (M - m2) * s2);
    *s = a1 * *s + a2 * s2;
    *m = M;
}

// The log-sum-exp of z = x / Temp over one row of V and the entropy of softmax(z), by the whole block
// (blockDim.x a multiple of 32) in one pass; every thread gets both. H = sum p (lse - z) = e / s + log s
// is a sum of non-negative terms: none of the cancellation of lse - sum p z on a peaked row.
__device__ void grpo_row_lse_entropy(const float* x, int V, float inv_t, float* lse_out, float* h_out) {
    __shared__ float sm[32], ss[32], se[32], res[2];
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nwarps = blockDim.x / 32;
    float m = -INFINITY, s = 0.0f, e = 0.0f;
    for (int j = threadIdx.x; j < V; j += blockDim.x) {
        float z = x[j] * inv_t;
        if (z > m) { // a new max: what came before shrinks by exp(m - z)
            float a = expf(m - z);
            e = m == -INFINITY ? 0.0f : a * (e + (z - m) * s);
            s = s * a + 1.0f;
            m = z;
        } else {
            float p = expf(z - m);
            s += p;
            e += p * (m - z);
        }
    }
    for (int o = 16; o > 0; o >>= 1) {
        float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
        float e2 = __shfl_xor_sync(0xffffffffu, e, o);
        grpo_lse_merge(&m, &s, &e, m2, s2, e2);
    }
    if (lane == 0) {
        sm[warp] = m, ss[warp] = s, se[warp] = e;
    }
    __syncthreads();
    if (warp == 0) {
        m = lane < nwarps ? sm[lane] : -INFINITY;
        s = lane < nwarps ? ss[lane] : 0.0f;
        e = lane < nwarps ? se[lane] : 0.0f;
        for (int o = 16; o > 0; o >>= 1) {
            float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
            float e2 = __shfl_xor_sync(0xffffffffu, e, o);
            grpo_lse_merge(&m, &s, &e, m2, s2, e2);
        }
        if (lane == 0) {
            res[0] = m + logf(s);
            res[1] = e / s + logf(s);
        }
    }
    __syncthreads();
    *lse_out = res[0], *h_out = res[1];
}

// One block per row (token) i: dlogits row i, and the token's statistics.
__global__ void __launch_bounds__(GRPO_BLOCK)
    grpo_loss_backward_kernel(floatX* dlogits, float* tok_stats, const float* logits, const int* tokens,
                              const float* old_logp, const float* ref_logp, const float* adv, const float* weight,
                              const float* ent_weight, int V, GrpoConfig cfg) {
    __shared__ float bc[2]; // a = w g and c = entropy_coef we, from thread 0 to the block
    int i = blockIdx.x, y = tokens[i];
    const float* x = logits + (size_t)i * V;
    floatX* dx = dlogits + (size_t)i * V;
    float* st = tok_stats + (size_t)i * GRPO_TOKEN_STATS;
    float w = weight[i], we = ent_weight ? ent_weight[i] : w;
    if (w == 0.0f && we == 0.0f) { // masked (the same for the whole block): no loss, no gradient, not counted
        for (int j = threadIdx.x; j < V; j += blockDim.x) {
            dx[j] = from_float(0.0f);
        }
        if (threadIdx.x < GRPO_TOKEN_STATS) {
            st[threadIdx.x] = 0.0f;
        }
        return;
    }
    float inv_t = 1.0f / cfg.temperature, lse, H;
    grpo_row_lse_entropy(x, V, inv_t, &lse, &H);
    if (threadIdx.x == 0) {
        double logp = y >= 0 && y < V ? (double)(x[y] * inv_t) - (double)lse : NAN; // a bad token shows as NaN
        double pg, rho, kl = 0.0;
        int clip;
        double g = grpo_pg_dev(logp, old_logp ? old_logp[i] : 0.0f, old_logp != NULL, adv[i], cfg, &pg, &rho, &clip);
        if (cfg.beta != 0.0f) {
            g += cfg.beta * grpo_kl_dev(logp, ref_logp[i], cfg, &kl);
        }
        double a = w * g, c = (double)cfg.entropy_coef * we;
        st[GRPO_TS_LOSS] = (float)(w * (pg + cfg.beta * kl) - c * H);
        st[GRPO_TS_TOKENS] = 1.0f;
        st[GRPO_TS_KL] = (float)kl;
        st[GRPO_TS_ENTROPY] = H;
        st[GRPO_TS_RATIO] = (float)rho;
        st[GRPO_TS_CLIP_LOW] = clip == GRPO_TS_CLIP_LOW;
        st[GRPO_TS_CLIP_HIGH] = clip == GRPO_TS_CLIP_HIGH;
        st[GRPO_TS_CLIP_DUAL] = clip == GRPO_TS_CLIP_DUAL;
        bc[0] = (float)a, bc[1] = (float)c;
    }
    __syncthreads();
    float a = bc[0], c = bc[1];
    // dL/du_v = [a (1[v==y] - p_v) + c p_v (log p_v + H)] / Temp
    for (int j = threadIdx.x; j < V; j += blockDim.x) {
        float lp = x[j] * inv_t - lse, p = expf(lp);
        dx[j] = from_float((a * ((j == y ? 1.0f : 0.0f) - p) + c * p * (lp + H)) * inv_t);
    }
}

// grpo_loss_backward on N rows of raw logits (fp32, on the device). Argument order and conventions
// as r1.h's: old_logp NULL = num_iterations 1 (old = current, detached); ref_logp may be NULL when
// beta = 0; ent_weight NULL = weight. The loss and GrpoStats come as per-token statistics instead
// (sum them with grpo_stats_sum_gpu).
static void grpo_loss_backward_gpu(floatX* dlogits,         // (N, V)  =, floatX
                                   float* tok_stats,        // (N, GRPO_TOKEN_STATS)  =
                                   const float* logits,     // (N, V)  raw (not divided by Temp), fp32
                                   const int* tokens,       // (N)     the sampled token each row scores
                                   const float* old_logp,   // (N)     or NULL
                                   const float* ref_logp,   // (N)     or NULL when beta = 0
                                   const float* adv,        // (N)     the completion's advantage
                                   const float* weight,     // (N)     aggregation weight x mask
                                   const float* ent_weight, // (N)     or NULL (= weight)
                                   int N, int V, const GrpoConfig* cfg, cudaStream_t stream) {
    if (cfg->beta != 0.0f && ref_logp == NULL) {
        fatal("grpo_loss_backward_gpu: beta = %g needs the reference model's log-probs (ref_logp is NULL)", cfg->beta);
    }
    if (!(cfg->temperature > 0.0f)) {
        fatal("grpo_loss_backward_gpu: temperature must be > 0 (got %g); use 1 for plain logits", cfg->temperature);
    }
    if (N == 0) {
        return;
    }
    grpo_loss_backward_kernel<<<N, GRPO_BLOCK, 0, stream>>>(dlogits, tok_stats, logits, tokens, old_logp, ref_logp,
                                                            adv, weight, ent_weight, V, *cfg);
    cudaCheck(cudaGetLastError());
}

// r1.h's grpo_row_logp, one block per row: log_softmax(logits / Temp)[token]; rows whose token is < 0
// (positions that predict no completion token) get 0, a token >= V gets NaN.
__global__ void __launch_bounds__(GRPO_BLOCK)
    grpo_row_logp_kernel(float* logp, const float* logits, const int* tokens, int V, float inv_t) {
    int i = blockIdx.x, y = tokens[i];
    if (y < 0) { // (the same for the whole block)
        if (threadIdx.x == 0) {
            logp[i] = 0.0f;
        }
        return;
    }
    const float* x = logits + (size_t)i * V;
    float lse, H;
    grpo_row_lse_entropy(x, V, inv_t, &lse, &H);
    if (threadIdx.x == 0) {
        logp[i] = y < V ? x[y] * inv_t - lse : NAN;
    }
}

static void grpo_row_logp_gpu(float* logp,         // (N)     out
                              const float* logits, // (N, V)  raw, fp32
                              const int* tokens,   // (N)     < 0: none (logp 0)
                              int N, int V, float temperature, cudaStream_t stream) {
    if (!(temperature > 0.0f)) {
        fatal("grpo_row_logp_gpu: temperature must be > 0 (got %g)", temperature);
    }
    if (N == 0) {
        return;
    }
    grpo_row_logp_kernel<<<N, GRPO_BLOCK, 0, stream>>>(logp, logits, tokens, V, 1.0f / temperature);
    cudaCheck(cudaGetLastError());
}

// sums[k] += the sum over the N tokens of column k, in double, in one block (a fixed order: the same
// sums on every run). The caller copies the 8 numbers back once a step (grpo_stats_add).
__global__ void grpo_stats_sum_kernel(double* sums, const float* tok_stats, int N) {
    __shared__ double red[32];
    double acc[GRPO_TOKEN_STATS];
    for (int k = 0; k < GRPO_TOKEN_STATS; k++) {
        acc[k] = 0.0;
    }
    for (int i = threadIdx.x; i < N; i += blockDim.x) {
        for (int k = 0; k < GRPO_TOKEN_STATS; k++) {
            acc[k] += (double)tok_stats[(size_t)i * GRPO_TOKEN_STATS + k];
        }
    }
    for (int k = 0; k < GRPO_TOKEN_STATS; k++) {
        double s = sft_block_sum(acc[k], red);
        if (threadIdx.x == 0) {
            sums[k] += s;
        }
    }
}

static void grpo_stats_sum_gpu(double* sums,           // (GRPO_TOKEN_STATS)  +=
                               const float* tok_stats, // (N, GRPO_TOKEN_STATS)
                               int N, cudaStream_t stream) {
    if (N == 0) {
        return;
    }
    grpo_stats_sum_kernel<<<1, 512, 0, stream>>>(sums, tok_stats, N);
    cudaCheck(cudaGetLastError());
}

// The sums of grpo_stats_sum_gpu (copied to the host) into r1.h's GrpoStats; returns the loss.
static double grpo_stats_add(GrpoStats* st, const double* sums) {
    st->tokens += sums[GRPO_TS_TOKENS], st->kl += sums[GRPO_TS_KL], st->entropy += sums[GRPO_TS_ENTROPY];
    st->ratio += sums[GRPO_TS_RATIO], st->clip_low += sums[GRPO_TS_CLIP_LOW];
    st->clip_high += sums[GRPO_TS_CLIP_HIGH], st->clip_dual += sums[GRPO_TS_CLIP_DUAL];
    return sums[GRPO_TS_LOSS];
}

#define GRPO_CHUNK_ROWS 1024 // rows per chunk: 1024 x 151,936 x 6 bytes = 0.93 GB of scratch in bf16

static size_t grpo_lm_head_scratch_bytes(int chunk_rows, int V) {
    size_t rv = (size_t)chunk_rows * V;
    return sft_align(rv * sizeof(float)) + sft_align(rv * sizeof(floatX));
}

// The GRPO loss's gradient through the LM head, chunk by chunk: grpo_loss_backward on the logits
// h . lm_head^T, then dh += dlogits . lm_head and dlm_head += dlogits^T . h.
static void grpo_lm_head_loss_gpu(float* tok_stats,        // (N, GRPO_TOKEN_STATS)  out
                                  floatX* dh,              // (N, C)  +=, or NULL
                                  float* dlm_head,         // (V, C)  +=, fp32, or NULL (tied: the embedding's)
                                  const floatX* h,         // (N, C)  the final norm's output
                                  const floatX* lm_head,   // (V, C)
                                  const int* tokens,       // (N)     as grpo_loss_backward_gpu
                                  const float* old_logp,   // (N)     or NULL
                                  const float* ref_logp,   // (N)     or NULL when beta = 0
                                  const float* adv,        // (N)
                                  const float* weight,     // (N)
                                  const float* ent_weight, // (N)     or NULL
                                  int N, int C, int V, const GrpoConfig* cfg,
                                  int chunk_rows,          // e.g. GRPO_CHUNK_ROWS
                                  void* scratch,           // grpo_lm_head_scratch_bytes(chunk_rows, V)
                                  cudaStream_t stream) {
    if (chunk_rows <= 0) {
        fatal("grpo_lm_head_loss_gpu: chunk_rows %d must be positive", chunk_rows);
    }
    size_t rv = (size_t)chunk_rows * V;
    float* logits = (float*)scratch;                                              // (chunk_rows, V)
    floatX* dlogits = (floatX*)((char*)scratch + sft_align(rv * sizeof(float))); // (chunk_rows, V)
    for (int r0 = 0; r0 < N; r0 += chunk_rows) {
        int n = N - r0 < chunk_rows ? N - r0 : chunk_rows;
        const floatX* hc = h + (size_t)r0 * C;
        // column-major: logits^T (V, n) = lm_head (V, C) . hc^T (C, n)
        sft_gemm(CUBLAS_OP_T, CUBLAS_OP_N, V, n, C, lm_head, C, hc, C, 0.0f, logits, CUDA_R_32F, V, stream);
        grpo_loss_backward_gpu(dlogits, tok_stats + (size_t)r0 * GRPO_TOKEN_STATS, logits, tokens + r0,
                               old_logp ? old_logp + r0 : NULL, ref_logp ? ref_logp + r0 : NULL, adv + r0,
                               weight + r0, ent_weight ? ent_weight + r0 : NULL, n, V, cfg, stream);
        matmul_backward_gpu(dh ? dh + (size_t)r0 * C : NULL, dlm_head, NULL, dlogits, hc, lm_head, n, C, V, stream);
    }
}

// Forward only: logp[i] = log_softmax(h_i . lm_head^T / Temp)[tokens[i]] (0 where tokens[i] < 0),
// chunk by chunk. The reference model's log-probs, and the old policy's when num_iterations > 1.
static void grpo_lm_head_logp_gpu(float* logp,           // (N)     out
                                  const floatX* h,       // (N, C)
                                  const floatX* lm_head, // (V, C)
                                  const int* tokens,     // (N)     < 0: none
                                  int N, int C, int V, float temperature,
                                  int chunk_rows,        // e.g. GRPO_CHUNK_ROWS
                                  void* scratch,         // grpo_lm_head_scratch_bytes(chunk_rows, V)
                                  cudaStream_t stream) {
    if (chunk_rows <= 0) {
        fatal("grpo_lm_head_logp_gpu: chunk_rows %d must be positive", chunk_rows);
    }
    float* logits = (float*)scratch; // (chunk_rows, V)
    for (int r0 = 0; r0 < N; r0 += chunk_rows) {
        int n = N - r0 < chunk_rows ? N - r0 : chunk_rows;
        sft_gemm(CUBLAS_OP_T, CUBLAS_OP_N, V, n, C, lm_head, C, h + (size_t)r0 * C, C, 0.0f, logits, CUDA_R_32F, V,
                 stream);
        grpo_row_logp_gpu(logp + r0, logits, tokens + r0, n, V, temperature, stream);
    }
}

// dh rows back to their positions: out[rows[i]] += in[i] (the rows are distinct: no atomics).
__global__ void grpo_scatter_add_rows_kernel(floatX* out, const floatX* in, const int* rows, int n, int C) {
    size_t total = (size_t)n * C;
    for (size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total; idx += (size_t)gridDim.x * blockDim.x) {
        size_t i = idx / C, c = idx % C;
        floatX* o = out + (size_t)rows[i] * C + c;
        *o = from_float(to_float(*o) + to_float(in[idx]));
    }
}

static void grpo_scatter_add_rows_gpu(floatX* out,       // (N, C)  +=, rows `rows` only
                                      const floatX* in,  // (n, C)
                                      const int* rows,   // (n)     distinct, in [0, N)
                                      int n, int C, cudaStream_t stream) {
    if (n == 0) {
        return;
    }
    grpo_scatter_add_rows_kernel<<<sft_blocks((size_t)n * C, 256), 256, 0, stream>>>(out, in, rows, n, C);
    cudaCheck(cudaGetLastError());
}

// ----------------------------------------------------------------------------
// GPU: the GRPO step on one GPU (r1.h's GrpoBackend)
// Rollouts: generate.cu's engine over a GpuModel that is a view of the trainer's floatX working
// weights, so each update is sampled from at once, with no copy. The update: GpuTrain's forward to
// the final norm, the GRPO head above, GpuTrain's backward and AdamW. Only the positions that predict
// a completion token go through the LM head (the prompt's and the padding's predict nothing and have
// weight 0): their rows of the hidden states are gathered first, and their dh scattered back, which
// skips the largest matmul of the model for every prompt token. The reference model (beta > 0) is a
// frozen second GpuModel, scored with the inference forward (a prefill of whole rows through a KV
// cache of its own) and the forward-only head. GpuTrain's calls run on its own stream: the device is
// synchronised around them (a few times a micro-batch, nothing next to a forward and backward).

typedef struct {
    Qwen2* host;            // the policy on the host: its layout gives the offsets of the weights
    float *adam_m, *adam_v; // the run's host moments (kept while the buffers grow)
    Qwen2Config c;
    GpuTrain tr;
    int B, T;               // rows and positions that tr's activations and the buffers below hold
    GpuModel view;          // the rollout engine's model: a view of tr's floatX weights
    GpuGen gen;
    GenEngine engine;
    int has_ref;
    GpuModel ref;           // the frozen reference model
    GpuKV ref_kv;           // its prefill cache: B rows of T
    floatX* ref_h;          // (B*T, C) its final norm's output
    // one micro-batch (B*T each), device
    int *d_ids, *d_slot, *d_pos, *d_last, *d_rows, *d_y;
    float *d_w, *d_adv, *d_old, *d_ref, *d_out, *d_stats;
    double* d_sums;         // (GRPO_TOKEN_STATS)
    floatX *d_hc, *d_dhc;   // (B*T, C) the gathered rows and their dh
    // host staging (B*T each)
    int *h_rows, *h_y, *h_slot, *h_last;
    float *h_w, *h_adv, *h_old, *h_ref, *h_out;
    // several GPUs (grpo_train_gpus below): this rank's DistCtx and the barrier that gpu_grpo_fit
    // waits on between writing its shard to the host and reading all of it back; NULL on one GPU
    const DistCtx* dist;
    pthread_barrier_t* fit_barrier;
} GpuGrpo;

static void gpu_grpo_sync(void) { cudaCheck(cudaDeviceSynchronize()); }

// The engine's GpuModel: tr's floatX working weights and their tensors, shared (no copy).
static void gpu_grpo_view(GpuGrpo* g) {
    GpuModel* v = &g->view;
    memset(v, 0, sizeof(*v));
    v->config = g->c, v->params = g->tr.p, v->params_memory = g->tr.params_x, v->num_parameters = g->tr.n;
    matmul_init(); // (before any graph capture)
}

static void gpu_grpo_buffers_free(GpuGrpo* g) {
    void* dev[] = {g->d_ids, g->d_slot, g->d_pos, g->d_last, g->d_rows, g->d_y, g->d_w, g->d_adv, g->d_old,
                   g->d_ref, g->d_out, g->d_stats, g->d_sums, g->d_hc, g->d_dhc, g->ref_h};
    for (size_t k = 0; k < sizeof(dev) / sizeof(dev[0]); k++) {
        if (dev[k]) {
            cudaCheck(cudaFree(dev[k]));
        }
    }
    free(g->h_rows), free(g->h_y), free(g->h_slot), free(g->h_last), free(g->h_w), free(g->h_adv), free(g->h_old);
    free(g->h_ref), free(g->h_out);
    if (g->has_ref && g->ref_kv.k) {
        gpu_kv_free(&g->ref_kv);
    }
}

static void gpu_grpo_buffers(GpuGrpo* g) {
    size_t n = (size_t)g->B * g->T, C = g->c.hidden_size;
    int** di[] = {&g->d_ids, &g->d_slot, &g->d_pos, &g->d_last, &g->d_rows, &g->d_y};
    for (size_t k = 0; k < sizeof(di) / sizeof(di[0]); k++) {
        *di[k] = (int*)cuda_malloc_check(n * sizeof(int), "GRPO micro-batch");
    }
    float** df[] = {&g->d_w, &g->d_adv, &g->d_old, &g->d_ref, &g->d_out};
    for (size_t k = 0; k < sizeof(df) / sizeof(df[0]); k++) {
        *df[k] = (float*)cuda_malloc_check(n * sizeof(float), "GRPO micro-batch");
    }
    g->d_stats = (float*)cuda_malloc_check(n * GRPO_TOKEN_STATS * sizeof(float), "GRPO statistics");
    g->d_sums = (double*)cuda_malloc_check(GRPO_TOKEN_STATS * sizeof(double), "GRPO statistics");
    g->d_hc = (floatX*)cuda_malloc_check(n * C * sizeof(floatX), "GRPO head rows");
    g->d_dhc = (floatX*)cuda_malloc_check(n * C * sizeof(floatX), "GRPO head rows");
    g->h_rows = (int*)malloc_check(n * sizeof(int)), g->h_y = (int*)malloc_check(n * sizeof(int));
    g->h_slot = (int*)malloc_check(n * sizeof(int)), g->h_last = (int*)malloc_check(n * sizeof(int));
    float** hf[] = {&g->h_w, &g->h_adv, &g->h_old, &g->h_ref, &g->h_out};
    for (size_t k = 0; k < sizeof(hf) / sizeof(hf[0]); k++) {
        *hf[k] = (float*)malloc_check(n * sizeof(float));
    }
    g->ref_h = NULL;
    if (g->has_ref) {
        gpu_kv_init(&g->ref_kv, &g->c, g->B, g->T, (int)n);
        g->ref_h = (floatX*)cuda_malloc_check(n * C * sizeof(floatX), "the reference model's hidden states");
    }
}

// The policy from the host (weights and moments) into a GpuTrain for B rows of T positions.
static void gpu_grpo_train_init(GpuGrpo* g) {
    gpu_train_init(&g->tr, g->host, g->B, g->T, g->dist); // (NULL: one GPU, no NCCL)
    gpu_train_from_host(&g->tr, g->host, g->adam_m, g->adam_v);
    gpu_grpo_view(g);
}

// B rows of T positions must fit: else everything sized by them is made again, larger (the weights
// and moments pass through the host; the decode graph, which holds the old weights' address, goes).
static void gpu_grpo_fit(GpuGrpo* g, int B, int T) {
    if (B <= g->B && T <= g->T) {
        return;
    }
    gpu_grpo_sync();
    gpu_train_to_host(&g->tr, g->host, g->adam_m, g->adam_v);
    if (g->fit_barrier) { // several GPUs: every rank's shard is on the host before any reads it back
        pthread_barrier_wait(g->fit_barrier);
    }
    gpu_train_free(&g->tr);
    gpu_grpo_buffers_free(g);
    g->B = B > g->B ? B : g->B;
    g->T = T > g->T ? (T + 63) / 64 * 64 : g->T;
    gpu_grpo_train_init(g);
    gpu_gen_drop_graph(&g->gen);
    gpu_grpo_buffers(g);
}

// d: this rank's DistCtx (several GPUs; every rank gets a rollout engine over its own copy of the
// weights), or NULL: one GPU.
static void gpu_grpo_init_rank(GpuGrpo* g, Qwen2* policy, const Qwen2* ref, float* adam_m, float* adam_v, int B,
                               int T, const DistCtx* d, pthread_barrier_t* fit_barrier) {
    memset(g, 0, sizeof(*g));
    g->host = policy, g->adam_m = adam_m, g->adam_v = adam_v, g->c = policy->config;
    g->B = B, g->T = (T + 63) / 64 * 64;
    g->dist = d, g->fit_barrier = fit_barrier;
    gpu_grpo_train_init(g);
    gpu_gen_init(&g->gen, &g->view, 1); // (a stream; the cache and buffers come with the first run)
    g->engine = gpu_gen_engine(&g->gen);
    if (ref) {
        gpu_model_from_host(&g->ref, ref);
        g->has_ref = 1;
    }
    gpu_grpo_buffers(g);
}

static void gpu_grpo_init(GpuGrpo* g, Qwen2* policy, const Qwen2* ref, float* adam_m, float* adam_v, int B, int T) {
    gpu_grpo_init_rank(g, policy, ref, adam_m, adam_v, B, T, NULL, NULL);
}

static void gpu_grpo_free(GpuGrpo* g) {
    gpu_grpo_sync();
    if (g->dist && g->dist->world > 1) {
        fprintf(stderr, "gpu engine of rank %d (GPU %d): %d steps, %d of them replayed the decode graph\n",
                g->dist->rank, g->dist->device, g->gen.steps, g->gen.graphed_steps);
    } else {
        gpu_gen_summary(&g->gen);
    }
    gpu_gen_free(&g->gen);
    gpu_grpo_buffers_free(g);
    if (g->has_ref) {
        gpu_model_free(&g->ref);
    }
    gpu_train_free(&g->tr);
    memset(g, 0, sizeof(*g));
}

static void gpu_grpo_to_device(void* d, const void* h, size_t bytes) {
    cudaCheck(cudaMemcpy(d, h, bytes, cudaMemcpyHostToDevice));
}

// GrpoBackend.logps: the policy's log-probs (GpuTrain's forward) or the reference model's (a prefill
// of the B rows, one per slot, through its KV cache), then the forward-only head on the rows that
// predict a completion token.
static void gpu_grpo_logps(void* ctx, int ref, const int* ids, const int* pos, const int* y, int B, int T,
                           float temperature, float* out) {
    GpuGrpo* g = (GpuGrpo*)ctx;
    gpu_grpo_fit(g, B, T);
    int N = B * T, C = g->c.hidden_size, V = g->c.vocab_size, n = 0;
    const floatX *h, *W;
    if (ref) {
        if (!g->has_ref) {
            fatal("GRPO on the GPU: the reference model's log-probs were asked for, but none was loaded");
        }
        for (int i = 0; i < N; i++) {
            g->h_slot[i] = i / T;
        }
        for (int b = 0; b < B; b++) {
            g->h_last[b] = b * T + T - 1;
        }
        gpu_grpo_to_device(g->d_ids, ids, (size_t)N * sizeof(int));
        gpu_grpo_to_device(g->d_slot, g->h_slot, (size_t)N * sizeof(int));
        gpu_grpo_to_device(g->d_pos, pos, (size_t)N * sizeof(int));
        gpu_grpo_to_device(g->d_last, g->h_last, (size_t)B * sizeof(int));
        gpu_forward_cached(&g->ref, &g->ref_kv, g->d_ids, g->d_slot, g->d_pos, g->d_last, N, B, T, 0);
        rmsnorm_forward_gpu(g->ref_h, NULL, g->ref_kv.x, g->ref.params.norm, N, C, g->c.rms_norm_eps, 0);
        h = g->ref_h, W = g->ref.params.lm_head;
    } else {
        gpu_grpo_sync();
        gpu_train_forward_hidden(&g->tr, ids, pos, B, T);
        gpu_grpo_sync();
        h = g->tr.hfinal, W = gpu_train_lm_head(&g->tr);
    }
    for (int i = 0; i < N; i++) {
        out[i] = 0.0f;
        if (y[i] >= 0) {
            g->h_rows[n] = i, g->h_y[n] = y[i], n++;
        }
    }
    if (n == 0) {
        return;
    }
    gpu_grpo_to_device(g->d_rows, g->h_rows, (size_t)n * sizeof(int));
    gpu_grpo_to_device(g->d_y, g->h_y, (size_t)n * sizeof(int));
    embedding_forward_gpu(g->d_hc, g->d_rows, h, n, C, N, 0); // gather the rows (a lookup with h as table)
    grpo_lm_head_logp_gpu(g->d_out, g->d_hc, W, g->d_y, n, C, V, temperature, g->tr.head_chunk_rows,
                          g->tr.head_scratch, 0);
    cudaCheck(cudaMemcpy(g->h_out, g->d_out, (size_t)n * sizeof(float), cudaMemcpyDeviceToHost));
    for (int k = 0; k < n; k++) {
        out[g->h_rows[k]] = g->h_out[k];
    }
}

static void gpu_grpo_zero_grad(void* ctx) {
    GpuGrpo* g = (GpuGrpo*)ctx;
    gpu_grpo_sync();
    gpu_train_zero_grad(&g->tr);
}

// GrpoBackend.forward_backward: one micro-batch (r1.h's grpo_micro_step on the GPU).
static double gpu_grpo_forward_backward(void* ctx, const int* ids, const int* pos, const int* y, const float* w,
                                        const float* adv, const float* old, const float* ref, int B, int T,
                                        const GrpoConfig* cfg, GrpoStats* st) {
    GpuGrpo* g = (GpuGrpo*)ctx;
    gpu_grpo_fit(g, B, T);
    int N = B * T, C = g->c.hidden_size, V = g->c.vocab_size, n = 0;
    for (int i = 0; i < N; i++) { // the positions with a weight (ent_weight is NULL: = weight)
        if (w[i] != 0.0f) {
            g->h_rows[n] = i, g->h_y[n] = y[i], g->h_w[n] = w[i], g->h_adv[n] = adv[i];
            g->h_old[n] = old ? old[i] : 0.0f, g->h_ref[n] = ref ? ref[i] : 0.0f;
            n++;
        }
    }
    gpu_grpo_sync();
    gpu_train_forward_hidden(&g->tr, ids, pos, B, T); // (also zeroes tr.dhfinal)
    gpu_grpo_sync();
    double sums[GRPO_TOKEN_STATS] = {0};
    if (n > 0) {
        gpu_grpo_to_device(g->d_rows, g->h_rows, (size_t)n * sizeof(int));
        gpu_grpo_to_device(g->d_y, g->h_y, (size_t)n * sizeof(int));
        gpu_grpo_to_device(g->d_w, g->h_w, (size_t)n * sizeof(float));
        gpu_grpo_to_device(g->d_adv, g->h_adv, (size_t)n * sizeof(float));
        gpu_grpo_to_device(g->d_old, g->h_old, (size_t)n * sizeof(float));
        gpu_grpo_to_device(g->d_ref, g->h_ref, (size_t)n * sizeof(float));
        embedding_forward_gpu(g->d_hc, g->d_rows, g->tr.hfinal, n, C, N, 0);
        cudaCheck(cudaMemset(g->d_dhc, 0, (size_t)n * C * sizeof(floatX)));
        cudaCheck(cudaMemset(g->d_sums, 0, GRPO_TOKEN_STATS * sizeof(double)));
        grpo_lm_head_loss_gpu(g->d_stats, g->d_dhc, gpu_train_dlm_head(&g->tr), g->d_hc, gpu_train_lm_head(&g->tr),
                              g->d_y, old ? g->d_old : NULL, ref ? g->d_ref : NULL, g->d_adv, g->d_w, NULL, n, C, V,
                              cfg, g->tr.head_chunk_rows, g->tr.head_scratch, 0);
        grpo_stats_sum_gpu(g->d_sums, g->d_stats, n, 0);
        grpo_scatter_add_rows_gpu(g->tr.dhfinal, g->d_dhc, g->d_rows, n, C, 0);
        cudaCheck(cudaMemcpy(sums, g->d_sums, sizeof(sums), cudaMemcpyDeviceToHost)); // (synchronises)
    }
    gpu_train_backward_hidden(&g->tr);
    return grpo_stats_add(st, sums);
}

// GrpoBackend.update: optimizer_step's order, as the hook says: the norm (and the clip) always, so the
// logged norm of a skipped step is the CPU path's too; AdamW only when loss and norm are finite.
static float gpu_grpo_update(void* ctx, float loss, int t, float lr, const AdamWConfig* cfg, float max_grad_norm) {
    GpuGrpo* g = (GpuGrpo*)ctx;
    gpu_grpo_sync();
    float norm = gpu_train_clip_grad_norm(&g->tr, max_grad_norm);
    if (isfinite(loss) && isfinite(norm)) {
        gpu_train_adamw(&g->tr, t, lr, cfg);
    }
    gpu_grpo_sync();
    return norm;
}

static void gpu_grpo_sync_to_host(void* ctx, Qwen2* m, float* adam_m, float* adam_v) {
    GpuGrpo* g = (GpuGrpo*)ctx;
    gpu_grpo_sync();
    gpu_train_to_host(&g->tr, m, adam_m, adam_v);
}

static void gpu_grpo_from_host(void* ctx, const Qwen2* m, const float* adam_m, const float* adam_v) {
    GpuGrpo* g = (GpuGrpo*)ctx;
    gpu_grpo_sync();
    gpu_train_from_host(&g->tr, (Qwen2*)m, (float*)adam_m, (float*)adam_v); // (whichever constness it takes)
}

static GrpoBackend gpu_grpo_backend(GpuGrpo* g) {
    GrpoBackend be;
    memset(&be, 0, sizeof(be));
    be.ctx = g, be.engine = &g->engine, be.step_tokens = 2048; // prompts in big pieces, as generate's GPU default
    be.logps = gpu_grpo_logps, be.zero_grad = gpu_grpo_zero_grad, be.forward_backward = gpu_grpo_forward_backward;
    be.update = gpu_grpo_update, be.sync_to_host = gpu_grpo_sync_to_host, be.from_host = gpu_grpo_from_host;
    return be;
}

// ----------------------------------------------------------------------------
// GPU: GRPO on several GPUs of one process (--gpus N), data-parallel
// dist_run gives each GPU a host thread with a GpuGrpo of its own (GpuTrain with ZeRO-1: gradients
// reduce-scattered, moments sharded, weights all-gathered after each update). Rank 0's thread runs
// r1.h's loop (grpo_train) through the GrpoBackend hooks below; a hook that needs every GPU hands a
// command to all ranks (barriers start / done, as train_sft.cu's SFT engine), the others wait for
// commands in grpo_gpus_worker. Rollouts (and held-out evaluation) run on every GPU: r1.h's scheduler
// (generate_batch_engine, on rank 0's thread) drives one GenEngine, grpo_gpus_engine below, that deals
// its slots out to the ranks' own engines, each over that rank's copy of the weights (identical on
// every rank: the all-gather after each update writes all of them). Each micro-batch's B rows are
// dealt out in contiguous blocks, rank r taking rows [r B / W, (r + 1) B / W), for the policy's and
// the reference model's log-probs and for forward + backward. The aggregation weights come from rank
// 0's host, made for the whole batch (grpo_token_weights: global token counts, BNPO's per micro-batch
// mean included), so the gradients summed over ranks are those of one GPU; loss and statistics are
// summed on rank 0. Every rank runs every command, so every rank makes the same collective calls
// (only the update's).
//
// The rollout engine on W GPUs. Slot s of a run belongs to rank s % W, as its local slot s / W
// (interleaved: a run of few sequences still spreads over every GPU); rank r holds the slots s < S
// with s % W == r, (S - r + W - 1) / W of them, and none (no begin, no step) when that is 0. A step's
// sequences are split by owner, in the step's order, every rank runs its part on its own engine at
// the same time (one command), and the tokens and log-probs go back to the caller's order. Each
// rank's engine may get a step of up to the run's whole max_tokens (one rank can own every prompt
// piece of a step), so each sizes its step scratch for all of it. The sampled tokens do not depend on
// W: the scheduler draws each sequence's coin on the host from the sequence's own random stream, and
// a sequence's logits come from its own slot's cache and tokens only, the same on any rank; what can
// differ is the rounding of batched matmuls over a different number of rows, as with a different
// slot count on one GPU (tests/test_kernels.cu: equal tokens in the fp32 build).
//
// GPU memory during a run, per GPU: the trainer's state and buffers (GpuTrain: floatX weights, fp32
// gradients, the ZeRO-1 shard of master weights and moments, activations for this rank's rows of a
// micro-batch; the reference model, its prefill cache and the micro-batch buffers above) stay
// allocated through rollouts, and the rollout engine's KV cache, ((S / W rounded up) + 1) slots of
// the run's longest prompt + max_completion tokens for a run of S sequences, plus its step scratch
// (max_tokens tokens) and sampler scratch, stays allocated through training: generate.cu's end keeps
// its buffers for the next run, and they grow to the largest run so far, never shrink (the held-out
// evaluation, --eval-n greedy sequences at once, can be larger than a rollout's prompts x G). The peak
// is the sum of both; freeing the cache after each run would not lower it (the trainer's buffers are
// still there during the next rollout), only cost an allocation and a graph capture per run. Dealing
// the slots out divides the cache by W: with rollouts on one GPU, rank 0 held all S + 1 slots.

enum { GRPO_GPUS_FIT, GRPO_GPUS_LOGPS, GRPO_GPUS_ZERO_GRAD, GRPO_GPUS_FB, GRPO_GPUS_UPDATE, GRPO_GPUS_TO_HOST,
       GRPO_GPUS_FROM_HOST, GRPO_GPUS_GEN_BEGIN, GRPO_GPUS_GEN_STEP, GRPO_GPUS_GEN_END, GRPO_GPUS_QUIT };

// One rank's part of a rollout run (host, filled on rank 0's thread): its slots, and one step's
// sequences in GenEngine.step's arrays, with seq_slot the local slots; idx maps each back to its
// place in the caller's step.
typedef struct {
    int slots;              // this run's local slots (0: the rank sits the run out)
    int nseq, N;            // this step's sequences and tokens
    int *ids;               // (max_tokens)
    int *seq_slot, *n_new, *slot_len, *want, *context_len, *idx, *tokens; // (slots) each
    float *coins, *logprobs;
    const int** context;
} GrpoGenPart;

typedef struct {
    int world, B0, T0;       // the starting micro-batch (rows per rank) and positions
    GpuGrpo* ranks;          // (world)
    double* loss;            // (world) each rank's share of a micro-batch's loss
    GrpoStats* st;           // (world) each rank's statistics of a micro-batch
    pthread_barrier_t start, done, ready, fit;
    int cmd;                 // the command in flight and its arguments:
    int B, T, ref;           // FIT: B rows per rank; LOGPS / FB: the micro-batch's B x T
    const int *ids, *pos, *y;
    const float *w, *adv, *old, *refl;
    float temperature, lossf, lr, max_norm, norm;
    float* out;              // LOGPS: (B, T)
    const GrpoConfig* cfg;
    int t;                   // UPDATE
    const AdamWConfig* adamw;
    Qwen2* model;            // the policy on the host; TO_HOST / FROM_HOST: the model and moments
    const Qwen2* ref_model;  // NULL when beta = 0
    float *adam_m, *adam_v;
    GrpoBackend backend;     // rank 0's hooks
    GenEngine engine;        // the rollout engine over every rank (grpo_gpus_engine)
    GrpoGenPart* gen;        // (world) GEN_*: each rank's part of the run and of the step
    int gen_slots, gen_max_len, gen_max_tokens; // GEN_*: the run's
    SamplingConfig sampling;
    void (*body)(void* arg, const GrpoBackend* be); // what rank 0 runs (grpo_train and its evaluations)
    void* body_arg;
} GrpoGpus;

// Rank r's rows of a micro-batch of B rows.
static void grpo_gpus_rows(const GrpoGpus* s, int r, int B, int* lo, int* hi) {
    *lo = (int)((long long)B * r / s->world), *hi = (int)((long long)B * (r + 1) / s->world);
}

// Rank r's part of the command in s->cmd.
static void grpo_gpus_do(GrpoGpus* s, int r) {
    GpuGrpo* g = &s->ranks[r];
    int lo, hi;
    grpo_gpus_rows(s, r, s->B, &lo, &hi);
    size_t at = (size_t)lo * s->T;
    switch (s->cmd) {
    case GRPO_GPUS_FIT: // (every rank decides the same: all hold the same B, T)
        gpu_grpo_fit(g, s->B, s->T);
        break;
    case GRPO_GPUS_LOGPS: // (forward only: no collectives, a rank with no rows does nothing)
        if (hi > lo) {
            gpu_grpo_logps(g, s->ref, s->ids + at, s->pos + at, s->y + at, hi - lo, s->T, s->temperature, s->out + at);
        }
        break;
    case GRPO_GPUS_ZERO_GRAD:
        gpu_grpo_zero_grad(g);
        break;
    case GRPO_GPUS_FB:
        s->loss[r] = 0.0;
        memset(&s->st[r], 0, sizeof(GrpoStats));
        if (hi > lo) {
            s->loss[r] = gpu_grpo_forward_backward(g, s->ids + at, s->pos + at, s->y + at, s->w + at, s->adv + at,
                                                   s->old ? s->old + at : NULL, s->refl ? s->refl + at : NULL, hi - lo,
                                                   s->T, s->cfg, &s->st[r]);
        }
        gpu_grpo_sync();
        break;
    case GRPO_GPUS_UPDATE: { // reduce-scatter, the global norm (all-reduce), AdamW on the shard, all-gather
        float norm = gpu_grpo_update(g, s->lossf, s->t, s->lr, s->adamw, s->max_norm);
        if (r == 0) {
            s->norm = norm;
        }
        break;
    }
    case GRPO_GPUS_TO_HOST: // each rank its shard
        gpu_grpo_sync_to_host(g, s->model, s->adam_m, s->adam_v);
        break;
    case GRPO_GPUS_FROM_HOST:
        gpu_grpo_from_host(g, s->model, s->adam_m, s->adam_v);
        break;
    case GRPO_GPUS_GEN_BEGIN: // (generation: no collectives, a rank with no slots or sequences does nothing)
        if (s->gen[r].slots > 0) {
            g->engine.begin(g->engine.ctx, s->gen[r].slots, s->gen_max_len, s->gen_max_tokens, &s->sampling);
        }
        break;
    case GRPO_GPUS_GEN_STEP: {
        GrpoGenPart* p = &s->gen[r];
        if (p->nseq > 0) {
            g->engine.step(g->engine.ctx, p->ids, p->seq_slot, p->n_new, p->slot_len, p->nseq, p->want, p->coins,
                           p->context, p->context_len, p->tokens, p->logprobs);
        }
        break;
    }
    case GRPO_GPUS_GEN_END:
        if (s->gen[r].slots > 0) {
            g->engine.end(g->engine.ctx);
        }
        break;
    }
}

// Rank 0: runs a command on every rank and returns when all have finished it.
static void grpo_gpus_command(GrpoGpus* s, int cmd) {
    s->cmd = cmd;
    pthread_barrier_wait(&s->start);
    if (cmd == GRPO_GPUS_QUIT) {
        return;
    }
    grpo_gpus_do(s, 0);
    pthread_barrier_wait(&s->done);
}

// The other ranks: wait for commands until GRPO_GPUS_QUIT.
static void grpo_gpus_worker(GrpoGpus* s, int r) {
    for (;;) {
        pthread_barrier_wait(&s->start);
        if (s->cmd == GRPO_GPUS_QUIT) {
            return;
        }
        grpo_gpus_do(s, r);
        pthread_barrier_wait(&s->done);
    }
}

// Every rank's buffers hold its share of B rows of T positions (a command of its own: growing them
// passes the weights through the host, which all ranks do together).
static void grpo_gpus_fit(GrpoGpus* s, int B, int T) {
    int per = (B + s->world - 1) / s->world;
    GpuGrpo* g = &s->ranks[0];
    if (per <= g->B && T <= g->T) {
        return;
    }
    s->B = per, s->T = T;
    grpo_gpus_command(s, GRPO_GPUS_FIT);
}

// --- the GrpoBackend hooks (called by r1.h on rank 0's thread) ---

static void grpo_gpus_logps(void* ctx, int ref, const int* ids, const int* pos, const int* y, int B, int T,
                            float temperature, float* out) {
    GrpoGpus* s = (GrpoGpus*)ctx;
    grpo_gpus_fit(s, B, T);
    s->ref = ref, s->ids = ids, s->pos = pos, s->y = y, s->B = B, s->T = T, s->temperature = temperature, s->out = out;
    grpo_gpus_command(s, GRPO_GPUS_LOGPS);
}

static void grpo_gpus_zero_grad(void* ctx) { grpo_gpus_command((GrpoGpus*)ctx, GRPO_GPUS_ZERO_GRAD); }

static double grpo_gpus_forward_backward(void* ctx, const int* ids, const int* pos, const int* y, const float* w,
                                         const float* adv, const float* old, const float* ref, int B, int T,
                                         const GrpoConfig* cfg, GrpoStats* st) {
    GrpoGpus* s = (GrpoGpus*)ctx;
    grpo_gpus_fit(s, B, T);
    s->ids = ids, s->pos = pos, s->y = y, s->w = w, s->adv = adv, s->old = old, s->refl = ref, s->B = B, s->T = T;
    s->cfg = cfg;
    grpo_gpus_command(s, GRPO_GPUS_FB);
    double loss = 0.0;
    for (int r = 0; r < s->world; r++) { // as grpo_micro_step sums its threads' parts
        const GrpoStats* p = &s->st[r];
        loss += s->loss[r];
        st->tokens += p->tokens, st->kl += p->kl, st->entropy += p->entropy, st->ratio += p->ratio;
        st->clip_low += p->clip_low, st->clip_high += p->clip_high, st->clip_dual += p->clip_dual;
    }
    return loss;
}

static float grpo_gpus_update(void* ctx, float loss, int t, float lr, const AdamWConfig* cfg, float max_grad_norm) {
    GrpoGpus* s = (GrpoGpus*)ctx;
    s->lossf = loss, s->t = t, s->lr = lr, s->adamw = cfg, s->max_norm = max_grad_norm;
    grpo_gpus_command(s, GRPO_GPUS_UPDATE);
    return s->norm;
}

static void grpo_gpus_sync_to_host(void* ctx, Qwen2* m, float* adam_m, float* adam_v) {
    GrpoGpus* s = (GrpoGpus*)ctx;
    s->model = m, s->adam_m = adam_m, s->adam_v = adam_v;
    grpo_gpus_command(s, GRPO_GPUS_TO_HOST);
}

static void grpo_gpus_from_host(void* ctx, const Qwen2* m, const float* adam_m, const float* adam_v) {
    GrpoGpus* s = (GrpoGpus*)ctx;
    s->model = (Qwen2*)m, s->adam_m = (float*)adam_m, s->adam_v = (float*)adam_v;
    grpo_gpus_command(s, GRPO_GPUS_FROM_HOST);
}

// --- the rollout engine over every rank (GenEngine's hooks, called by r1.h's scheduler on rank 0's thread) ---

static void grpo_gpus_gen_free(GrpoGpus* s) {
    for (int r = 0; r < s->world; r++) {
        GrpoGenPart* p = &s->gen[r];
        free(p->ids), free(p->seq_slot), free(p->n_new), free(p->slot_len), free(p->want), free(p->context_len);
        free(p->idx), free(p->tokens), free(p->coins), free(p->logprobs), free((void*)p->context);
        memset(p, 0, sizeof(*p));
    }
}

static void grpo_gpus_gen_begin(void* ctx, int slots, int max_len, int max_tokens, const SamplingConfig* sampling) {
    GrpoGpus* s = (GrpoGpus*)ctx;
    if (slots < 1 || max_tokens < slots) {
        fatal("grpo_gpus_gen_begin: %d slots, steps of %d tokens (at least 1 slot, and a token for each)", slots,
              max_tokens);
    }
    grpo_gpus_gen_free(s); // (a run that did not end)
    s->gen_slots = slots, s->gen_max_len = max_len, s->gen_max_tokens = max_tokens, s->sampling = *sampling;
    for (int r = 0; r < s->world; r++) {
        GrpoGenPart* p = &s->gen[r];
        size_t n = (size_t)(p->slots = (slots - r + s->world - 1) / s->world);
        if (n == 0) {
            continue;
        }
        p->ids = (int*)malloc_check((size_t)max_tokens * sizeof(int));
        int** pi[] = {&p->seq_slot, &p->n_new, &p->slot_len, &p->want, &p->context_len, &p->idx, &p->tokens};
        for (size_t k = 0; k < sizeof(pi) / sizeof(pi[0]); k++) {
            *pi[k] = (int*)malloc_check(n * sizeof(int));
        }
        p->coins = (float*)malloc_check(n * sizeof(float)), p->logprobs = (float*)malloc_check(n * sizeof(float));
        p->context = (const int**)malloc_check(n * sizeof(const int*));
    }
    grpo_gpus_command(s, GRPO_GPUS_GEN_BEGIN);
}

static void grpo_gpus_gen_step(void* ctx, const int* ids, const int* seq_slot, const int* n_new, const int* slot_len,
                               int nseq, const int* want, const float* coins, const int* const* context,
                               const int* context_len, int* tokens, float* logprobs) {
    GrpoGpus* s = (GrpoGpus*)ctx;
    int W = s->world;
    for (int r = 0; r < W; r++) {
        s->gen[r].nseq = s->gen[r].N = 0;
    }
    for (int i = 0, at = 0; i < nseq; at += n_new[i], i++) { // (ids: sequence after sequence)
        int sl = seq_slot[i];
        if (sl < 0 || sl >= s->gen_slots || n_new[i] < 1) {
            fatal("grpo_gpus_gen_step: sequence %d (slot %d, %d new tokens) does not fit the run's %d slots", i, sl,
                  n_new[i], s->gen_slots);
        }
        GrpoGenPart* p = &s->gen[sl % W];
        int k = p->nseq++;
        if (k >= p->slots || p->N + n_new[i] > s->gen_max_tokens) {
            fatal("grpo_gpus_gen_step: rank %d gets more than its %d slots or %d tokens in a step", sl % W, p->slots,
                  s->gen_max_tokens);
        }
        memcpy(p->ids + p->N, ids + at, (size_t)n_new[i] * sizeof(int));
        p->N += n_new[i];
        p->seq_slot[k] = sl / W, p->n_new[k] = n_new[i], p->slot_len[k] = slot_len[i], p->want[k] = want[i];
        p->coins[k] = coins[i], p->context[k] = context[i], p->context_len[k] = context_len[i], p->idx[k] = i;
        p->tokens[k] = -1, p->logprobs[k] = 0.0f;
    }
    grpo_gpus_command(s, GRPO_GPUS_GEN_STEP);
    for (int r = 0; r < W; r++) {
        const GrpoGenPart* p = &s->gen[r];
        for (int k = 0; k < p->nseq; k++) {
            tokens[p->idx[k]] = p->tokens[k], logprobs[p->idx[k]] = p->logprobs[k];
        }
    }
}

static void grpo_gpus_gen_end(void* ctx) {
    GrpoGpus* s = (GrpoGpus*)ctx;
    grpo_gpus_command(s, GRPO_GPUS_GEN_END); // (generate.cu's engines keep their buffers: the memory plan above)
    grpo_gpus_gen_free(s);
}

static GenEngine grpo_gpus_engine(GrpoGpus* s) {
    GenEngine e = {s, grpo_gpus_gen_begin, grpo_gpus_gen_step, grpo_gpus_gen_end};
    return e;
}

// dist_run's function: every rank sets up its GPU; rank 0 then runs the body with the hooks (rollouts
// on every rank's engine when there are several) and tells the others to stop when it ends.
static void grpo_gpus_rank_main(int rank, DistCtx* d, void* arg) {
    GrpoGpus* s = (GrpoGpus*)arg;
    GpuGrpo* g = &s->ranks[rank];
    gpu_grpo_init_rank(g, s->model, s->ref_model, s->adam_m, s->adam_v, s->B0, s->T0, d,
                       s->world > 1 ? &s->fit : NULL);
    pthread_barrier_wait(&s->ready);
    if (rank == 0) {
        GrpoBackend* be = &s->backend;
        memset(be, 0, sizeof(*be));
        s->engine = grpo_gpus_engine(s);
        // one GPU: its own engine, as gpu_grpo_backend's (grpo_gpus_engine would only add the commands)
        be->ctx = s, be->engine = s->world > 1 ? &s->engine : &g->engine, be->step_tokens = 2048;
        be->logps = grpo_gpus_logps, be->zero_grad = grpo_gpus_zero_grad;
        be->forward_backward = grpo_gpus_forward_backward, be->update = grpo_gpus_update;
        be->sync_to_host = grpo_gpus_sync_to_host, be->from_host = grpo_gpus_from_host;
        s->body(s->body_arg, be);
        grpo_gpus_command(s, GRPO_GPUS_QUIT);
    } else {
        grpo_gpus_worker(s, rank);
    }
    gpu_grpo_free(g);
}

// Runs body(arg, backend) on rank 0's thread with a GrpoBackend over `world` GPUs (devices
// 0..world-1): the policy (and adam_m / adam_v, NULL: zeros) and the reference model (NULL: none)
// from the host, micro-batches of up to `rows` rows of T positions to start with (they grow if a
// batch needs more). world 1 runs the same code, on the calling thread, without NCCL.
static void grpo_train_gpus(int world, Qwen2* policy, const Qwen2* ref, float* adam_m, float* adam_v, int rows, int T,
                            void (*body)(void* arg, const GrpoBackend* be), void* arg) {
    GrpoGpus s;
    memset(&s, 0, sizeof(s));
    s.world = world, s.B0 = (rows + world - 1) / world, s.T0 = T;
    s.ranks = (GpuGrpo*)calloc_check((size_t)world, sizeof(GpuGrpo));
    s.loss = (double*)calloc_check((size_t)world, sizeof(double));
    s.st = (GrpoStats*)calloc_check((size_t)world, sizeof(GrpoStats));
    s.gen = (GrpoGenPart*)calloc_check((size_t)world, sizeof(GrpoGenPart));
    s.model = policy, s.ref_model = ref, s.adam_m = adam_m, s.adam_v = adam_v, s.body = body, s.body_arg = arg;
    pthread_barrier_init(&s.start, NULL, (unsigned)world);
    pthread_barrier_init(&s.done, NULL, (unsigned)world);
    pthread_barrier_init(&s.ready, NULL, (unsigned)world);
    pthread_barrier_init(&s.fit, NULL, (unsigned)world);
    dist_run(world, NULL, grpo_gpus_rank_main, &s);
    pthread_barrier_destroy(&s.start), pthread_barrier_destroy(&s.done), pthread_barrier_destroy(&s.ready);
    pthread_barrier_destroy(&s.fit);
    grpo_gpus_gen_free(&s);
    free(s.ranks), free(s.loss), free(s.st), free(s.gen);
}

#endif // __CUDACC__

// What the flags set, besides GrpoOptions.
typedef struct {
    const char* model_dir;   // NULL: the miniature run on the tiny model
    const char* recipe;
    int resume;
    int sft_steps, sft_batch, sft_seq_len, sft_examples; // the miniature's cold start
    float sft_lr;
    int eval_before_after;   // print held-out Countdown accuracy before and after
    int cpu;                 // --cpu: the r1.h CPU path even with a CUDA device
    int gpus;                // --gpus N (0: not given = 1)
} GrpoCli;

static void grpo_usage(void) {
    printf(
        "usage: ./train_grpo [--model DIR] [--recipe miniature|datawhale|tinyzero|open-r1] [options]\n"
        "GRPO (DeepSeekMath / DeepSeek-R1) with rule-based rewards on Qwen2.5 models.\n"
        "With no --model: R1-Zero in miniature (the tiny built-in model: cold-start SFT on Countdown,\n"
        "then GRPO on Countdown, held-out accuracy before and after; ~10 minutes on 2 CPU cores).\n"
        "\n"
        "model and recipe\n"
        "  --model DIR             Hugging Face Qwen2.5 folder (config.json, safetensors, tokenizer)\n"
        "  --recipe NAME           miniature (the default without --model: tiny model, 3 numbers below 30,\n"
        "                          short prompt, G 8, 16 prompts, 64 tokens, T 0.7, lr 1e-4 cosine, 200 steps),\n"
        "                          datawhale (Datawhale-R1 / Mini-R1: Countdown, lr 5e-7 cosine, beta 0.001,\n"
        "                          G 8, 16 prompts, 1024 tokens, 450 steps), tinyzero (TinyZero's GRPO fork:\n"
        "                          Countdown, base template, verl loss), open-r1 (math, accuracy+format+tag_count)\n"
        "                          flags after it override its values\n"
        "task and prompts\n"
        "  --task countdown|math   countdown: generated problems; math: --data jsonl (GSM8K/MATH)\n"
        "  --data PATH             math problems (question/answer, problem/answer|solution, messages)\n"
        "  --prompt-format F       countdown: short (tiny model), base, chat (TinyZero), minir1 (Datawhale)\n"
        "  --system TEXT           math: system prompt (default open-r1's)\n"
        "  --nums MIN:MAX          Countdown numbers per problem (default 3:4)\n"
        "  --max-target N          Countdown targets up to N, numbers below N (default 100)\n"
        "rollouts\n"
        "  --steps N               rollout steps (default 100)\n"
        "  --prompts N             prompts per step (default 16)\n"
        "  --group-size G          completions per prompt (default 8)\n"
        "  --max-completion N      new tokens per completion at most (default 256)\n"
        "  --micro-batch N         completions per forward/backward pass (memory only; default 16)\n"
        "  --temperature T         sampling temperature, also divides the logits when scoring (default 1)\n"
        "  --top-p P, --top-k K, --repetition-penalty R   sampling filters (default off)\n"
        "  --stop STR              stop string (repeatable), e.g. --stop '</answer>'\n"
        "  --mask-truncated        no loss on completions cut at --max-completion\n"
        "rewards and loss\n"
        "  --reward SPEC           weighted reward functions, e.g. countdown or minir1_format:1,minir1_equation:1\n"
        "                          (countdown, minir1_format, minir1_equation, format, tag_count,\n"
        "                          reasoning_steps, accuracy, cosine, repetition)\n"
        "  --loss-type T           grpo, bnpo, dr_grpo, dapo (default dapo, TRL's)\n"
        "  --scale-rewards S       group, batch, none (Dr. GRPO) (default group)\n"
        "  --adv-eps E             added to the std (default 1e-4, TRL; verl 1e-6)\n"
        "  --epsilon E             clip range, both sides (default 0.2)\n"
        "  --epsilon-low E, --epsilon-high E   clip range below / above 1 (DAPO: 0.2 / 0.28)\n"
        "  --dual-clip C           verl's dual clip (e.g. 3; default 0 = off)\n"
        "  --beta B                KL coefficient; 0 loads no reference model (default 0)\n"
        "  --kl k1|k2|k3|k1+|k3+   KL estimator ('+': its value, k2's gradient) (default k3)\n"
        "  --verl-clamps           clamp log-ratios and k3 as verl does\n"
        "  --entropy-coef C        entropy bonus (TinyZero 0.001; default 0)\n"
        "  --num-iterations MU     updates per rollout batch (default 1)\n"
        "optimizer\n"
        "  --lr LR                 peak learning rate (default 1e-6)\n"
        "  --schedule NAME         constant, constant_with_warmup, linear, cosine, cosine_with_min_lr (default linear)\n"
        "  --warmup W              warmup: a fraction (< 1) or a number of updates (default 0)\n"
        "  --weight-decay W, --adam-beta1 B, --adam-beta2 B, --max-grad-norm N (defaults 0, 0.9, 0.999, 1)\n"
        "the run\n"
        "  --seed N                prompts, sampling, the tiny model's weights (default 42)\n"
        "  --out DIR               checkpoints + metrics.jsonl (plot with: python3 dev/plot.py DIR/metrics.jsonl)\n"
        "  --save-every N          checkpoint every N steps (and at the end)\n"
        "  --resume                continue the run in --out from its latest checkpoint\n"
        "  --stop-at N             stop after step N as if interrupted (a checkpoint is written)\n"
        "  --eval-every N          held-out Countdown accuracy every N steps (default 0: before and after)\n"
        "  --eval-n N              held-out Countdown problems, greedy (default 200; the miniature 1000)\n"
        "  --quiet                 no per-step progress lines\n"
        "  --show N                print N completions of each step and of each evaluation\n"
        "  --cpu                   run the r1.h CPU path even when a CUDA device is present\n"
        "  --gpus N                GPUs 0..N-1 of this node (default 1): each rollout's sequences and each\n"
        "                          micro-batch's rows shared out (generation, log-probs, forward and backward),\n"
        "                          ZeRO-1 update (NCCL)\n"
        "the miniature run's cold start (no --model)\n"
        "  --sft-steps N, --sft-batch B, --sft-seq-len T, --sft-lr LR, --sft-examples N\n"
        "                          (defaults 1600 steps of 8 rows x 256 tokens at lr 3e-3, from 20000 problems)\n"
        "\n"
        "Threads: OMP_NUM_THREADS (the CPU path).\n");
}

static const char* grpo_arg(int argc, char** argv, int* i) {
    if (*i + 1 >= argc) {
        fatal("%s needs a value (see ./train_grpo --help)", argv[*i]);
    }
    return argv[++*i];
}

static int grpo_int(const char* flag, const char* v, int min) {
    char* end;
    long x = strtol(v, &end, 10);
    if (*v == '\0' || *end != '\0' || x < min || x > 1000000000L) {
        fatal("%s: expected an integer >= %d, got '%s'", flag, min, v);
    }
    return (int)x;
}

static float grpo_float(const char* flag, const char* v, float min) {
    char* end;
    float x = strtof(v, &end);
    if (*v == '\0' || *end != '\0' || !isfinite(x) || x < min) {
        fatal("%s: expected a number >= %g, got '%s'", flag, min, v);
    }
    return x;
}

static int grpo_choice(const char* flag, const char* v, const char* const* names, int n) {
    for (int i = 0; i < n; i++) {
        if (strcmp(v, names[i]) == 0) {
            return i;
        }
    }
    char list[256] = "";
    for (int i = 0; i < n; i++) {
        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "", names[i]);
    }
    fatal("%s: unknown value '%s' (use %s)", flag, v, list);
    return 0;
}

// Every flag; the recipe (found first) sets defaults that the other flags override.
static void grpo_parse(int argc, char** argv, GrpoOptions* o, GrpoCli* cli) {
    memset(cli, 0, sizeof(*cli));
    cli->sft_steps = 1600, cli->sft_batch = 8, cli->sft_seq_len = 256, cli->sft_lr = 3e-3f, cli->sft_examples = 20000;
    *o = grpo_options_default();
    int has_model = 0, has_recipe = 0;
    for (int i = 1; i < argc; i++) {
        has_model |= strcmp(argv[i], "--model") == 0;
        has_recipe |= strcmp(argv[i], "--recipe") == 0;
    }
    if (!has_model && !has_recipe) { // the miniature run's settings, under any flags given
        grpo_recipe(o, "miniature");
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            grpo_usage();
            exit(0);
        }
        if (strcmp(argv[i], "--recipe") == 0) {
            cli->recipe = grpo_arg(argc, argv, &i);
            if (!grpo_recipe(o, cli->recipe)) {
                fatal("--recipe: unknown recipe '%s' (use miniature, datawhale, tinyzero or open-r1)", cli->recipe);
            }
        }
    }
    static const char* losses[] = {"grpo", "bnpo", "dr_grpo", "dapo"};
    static const char* scales[] = {"group", "batch", "none"};
    static const char* kls[] = {"k1", "k2", "k3", "k1+", "k2+", "k3+"};
    int n_stop = 0;
    for (int i = 1; i < argc; i++) {
        const char* a = argv[i];
#define FLAG(name) (strcmp(a, name) == 0)
        if (FLAG("--recipe")) {
            i++;
        } else if (FLAG("--model")) {
            cli->model_dir = grpo_arg(argc, argv, &i);
        } else if (FLAG("--task")) {
            static const char* tasks[] = {"countdown", "math"};
            o->task = tasks[grpo_choice(a, grpo_arg(argc, argv, &i), tasks, 2)];
        } else if (FLAG("--data")) {
            o->data = grpo_arg(argc, argv, &i);
        } else if (FLAG("--prompt-format")) {
            static const char* forms[] = {"short", "base", "chat", "minir1"};
            o->prompt_format = forms[grpo_choice(a, grpo_arg(argc, argv, &i), forms, 4)];
        } else if (FLAG("--system")) {
            o->system = grpo_arg(argc, argv, &i);
        } else if (FLAG("--nums")) {
            const char* v = grpo_arg(argc, argv, &i);
            if (sscanf(v, "%d:%d", &o->cd_min_nums, &o->cd_max_nums) != 2) {
                fatal("--nums: expected MIN:MAX, e.g. 3:4, got '%s'", v);
            }
        } else if (FLAG("--max-target")) {
            o->cd_max_target = grpo_int(a, grpo_arg(argc, argv, &i), 19);
        } else if (FLAG("--steps")) {
            o->steps = grpo_int(a, grpo_arg(argc, argv, &i), 0);
        } else if (FLAG("--prompts")) {
            o->prompts_per_step = grpo_int(a, grpo_arg(argc, argv, &i), 1);
        } else if (FLAG("--group-size") || FLAG("-G")) {
            o->group_size = grpo_int(a, grpo_arg(argc, argv, &i), 1);
        } else if (FLAG("--max-completion")) {
            o->max_completion = grpo_int(a, grpo_arg(argc, argv, &i), 1);
        } else if (FLAG("--micro-batch")) {
            o->micro_batch = grpo_int(a, grpo_arg(argc, argv, &i), 1);
        } else if (FLAG("--temperature")) {
            o->temperature = grpo_float(a, grpo_arg(argc, argv, &i), 0.0f);
            if (o->temperature <= 0.0f) {
                fatal("--temperature: GRPO samples, so the temperature must be > 0 (got %g)", o->temperature);
            }
        } else if (FLAG("--top-p")) {
            o->top_p = grpo_float(a, grpo_arg(argc, argv, &i), 0.0f);
        } else if (FLAG("--top-k")) {
            o->top_k = grpo_int(a, grpo_arg(argc, argv, &i), 0);
        } else if (FLAG("--repetition-penalty")) {
            o->repetition_penalty = grpo_float(a, grpo_arg(argc, argv, &i), 0.0f);
        } else if (FLAG("--stop")) {
            if (n_stop == GRPO_MAX_STOPS) {
                fatal("--stop: at most %d stop strings", GRPO_MAX_STOPS);
            }
            o->stop[n_stop++] = grpo_arg(argc, argv, &i);
        } else if (FLAG("--mask-truncated")) {
            o->mask_truncated = 1;
        } else if (FLAG("--reward")) {
            o->rewards = grpo_arg(argc, argv, &i);
        } else if (FLAG("--loss-type")) {
            o->agg = (GrpoAgg)grpo_choice(a, grpo_arg(argc, argv, &i), losses, 4);
        } else if (FLAG("--scale-rewards")) {
            o->scale = (GrpoScale)grpo_choice(a, grpo_arg(argc, argv, &i), scales, 3);
        } else if (FLAG("--adv-eps")) {
            o->adv_eps = grpo_float(a, grpo_arg(argc, argv, &i), 0.0f);
        } else if (FLAG("--epsilon")) {
            o->loss.eps_low = o->loss.eps_high = grpo_float(a, grpo_arg(argc, argv, &i), 0.0f);
        } else if (FLAG("--epsilon-low")) {
            o->loss.eps_low = grpo_float(a, grpo_arg(argc, argv, &i), 0.0f);
        } else if (FLAG("--epsilon-high")) {
            o->loss.eps_high = grpo_float(a, grpo_arg(argc, argv, &i), 0.0f);
        } else if (FLAG("--dual-clip")) {
            o->loss.dual_clip = grpo_float(a, grpo_arg(argc, argv, &i), 0.0f);
        } else if (FLAG("--beta")) {
            o->loss.beta = grpo_float(a, grpo_arg(argc, argv, &i), 0.0f);
        } else if (FLAG("--kl")) {
            int k = grpo_choice(a, grpo_arg(argc, argv, &i), kls, 6);
            o->loss.kl_type = (GrpoKl)(k % 3), o->loss.kl_k2_grad = k >= 3;
        } else if (FLAG("--verl-clamps")) {
            o->loss.verl_clamps = 1;
        } else if (FLAG("--entropy-coef")) {
            o->loss.entropy_coef = grpo_float(a, grpo_arg(argc, argv, &i), 0.0f);
        } else if (FLAG("--num-iterations")) {
            o->num_iterations = grpo_int(a, grpo_arg(argc, argv, &i), 1);
        } else if (FLAG("--lr")) {
            o->lr = grpo_float(a, grpo_arg(argc, argv, &i), 0.0f);
        } else if (FLAG("--schedule")) {
            o->schedule = grpo_arg(argc, argv, &i);
            lr_schedule_from_name(o->schedule); // fatal on an unknown name, before any work
        } else if (FLAG("--warmup")) {
            o->warmup = grpo_float(a, grpo_arg(argc, argv, &i), 0.0f);
        } else if (FLAG("--weight-decay")) {
            o->weight_decay = grpo_float(a, grpo_arg(argc, argv, &i), 0.0f);
        } else if (FLAG("--adam-beta1")) {
            o->beta1 = grpo_float(a, grpo_arg(argc, argv, &i), 0.0f);
        } else if (FLAG("--adam-beta2")) {
            o->beta2 = grpo_float(a, grpo_arg(argc, argv, &i), 0.0f);
        } else if (FLAG("--max-grad-norm")) {
            o->max_grad_norm = grpo_float(a, grpo_arg(argc, argv, &i), -1e30f);
        } else if (FLAG("--seed")) {
            o->seed = (uint64_t)grpo_int(a, grpo_arg(argc, argv, &i), 0);
        } else if (FLAG("--out")) {
            o->out_dir = grpo_arg(argc, argv, &i);
        } else if (FLAG("--save-every")) {
            o->save_every = grpo_int(a, grpo_arg(argc, argv, &i), 0);
        } else if (FLAG("--resume")) {
            cli->resume = 1;
        } else if (FLAG("--stop-at")) {
            o->stop_at = grpo_int(a, grpo_arg(argc, argv, &i), 1);
        } else if (FLAG("--eval-every")) {
            o->eval_every = grpo_int(a, grpo_arg(argc, argv, &i), 0);
        } else if (FLAG("--eval-n")) {
            o->eval_n = grpo_int(a, grpo_arg(argc, argv, &i), 0);
        } else if (FLAG("--show")) {
            o->show = grpo_int(a, grpo_arg(argc, argv, &i), 0);
        } else if (FLAG("--quiet")) {
            o->quiet = 1;
        } else if (FLAG("--cpu")) {
            cli->cpu = 1;
        } else if (FLAG("--gpus")) {
            cli->gpus = grpo_int(a, grpo_arg(argc, argv, &i), 1);
        } else if (FLAG("--sft-steps")) {
            cli->sft_steps = grpo_int(a, grpo_arg(argc, argv, &i), 0);
        } else if (FLAG("--sft-batch")) {
            cli->sft_batch = grpo_int(a, grpo_arg(argc, argv, &i), 1);
        } else if (FLAG("--sft-seq-len")) {
            cli->sft_seq_len = grpo_int(a, grpo_arg(argc, argv, &i), 16);
        } else if (FLAG("--sft-lr")) {
            cli->sft_lr = grpo_float(a, grpo_arg(argc, argv, &i), 0.0f);
        } else if (FLAG("--sft-examples")) {
            cli->sft_examples = grpo_int(a, grpo_arg(argc, argv, &i), 1);
        } else {
            fatal("unknown flag '%s' (see ./train_grpo --help)", a);
        }
#undef FLAG
    }
    if (strcmp(o->task, "math") == 0 && o->data == NULL) {
        fatal("--task math needs --data PATH (a GSM8K or MATH jsonl)");
    }
    if (strcmp(o->task, "countdown") == 0 && o->data != NULL) {
        fatal("--data is for --task math; Countdown problems are generated (--nums, --max-target)");
    }
    if (o->loss.eps_low >= 1.0f) {
        fatal("--epsilon-low %g: the clip range below 1 must be < 1", o->loss.eps_low);
    }
    if (cli->resume && o->out_dir == NULL) {
        fatal("--resume needs --out DIR (the folder of the run to continue)");
    }
    reward_parse(o->rewards); // fatal on a bad spec, before any work
}

// The stop tokens: the tokenizer's eos, the config's, and generation_config.json's.
static void grpo_set_eos(GrpoOptions* o, const Tokenizer* tok, const Qwen2Config* c, const char* model_dir) {
    GenerateConfig g;
    generate_config_default(&g);
    if (model_dir) {
        generation_config_load(model_dir, &g);
    }
    if (tok->eos_id >= 0) {
        generate_add_eos(&g, tok->eos_id);
    }
    if (c->eos_token_id >= 0 && c->eos_token_id < c->vocab_size) {
        generate_add_eos(&g, c->eos_token_id);
    }
    o->n_eos = g.n_eos;
    memcpy(o->eos_ids, g.eos_ids, sizeof(g.eos_ids));
}

// The optimizer as the flags say, over updates = steps * num_iterations.
static void grpo_optimizer_init(GrpoRun* r, const GrpoOptions* o) {
    int total = o->steps * o->num_iterations;
    memset(&r->opt, 0, sizeof(r->opt));
    r->opt.adamw = adamw_config_default();
    r->opt.adamw.beta1 = o->beta1, r->opt.adamw.beta2 = o->beta2, r->opt.adamw.weight_decay = o->weight_decay;
    r->opt.schedule = lr_schedule_make(lr_schedule_from_name(o->schedule), o->lr, lr_warmup_steps(o->warmup, total),
                                       total);
    r->opt.max_grad_norm = o->max_grad_norm;
    r->adam_m = (float*)calloc_check(r->policy->num_parameters, sizeof(float));
    r->adam_v = (float*)calloc_check(r->policy->num_parameters, sizeof(float));
}

#ifndef R1_NO_GRPO_MAIN
// What main runs once the policy is ready: held-out accuracy before, GRPO, accuracy after (on rank 0's
// thread with several GPUs, be then being their backend; else be is run->backend).
typedef struct {
    GrpoRun* run;
    const GrpoOptions* o;
    const GrpoCli* cli;
    int start, mini;
    double t1, t2; // out: GRPO's start and end
} GrpoBody;

static void grpo_body(void* arg, const GrpoBackend* be) {
    GrpoBody* a = (GrpoBody*)arg;
    GrpoRun* run = a->run;
    const GrpoOptions* o = a->o;
    double before = -1, after = -1;
    run->backend = be;
    int eval = strcmp(o->task, "countdown") == 0 && o->eval_n > 0 && (a->mini || o->eval_every > 0);
    if (eval && a->start == 0) {
        before = grpo_eval_countdown(run->policy, be, run->tok, o, o->eval_n);
        printf("held-out Countdown accuracy before GRPO: %.1f%% (%d problems, greedy)\n", 100.0 * before, o->eval_n);
    }
    run->eval_before = before;
    a->t1 = wall_time();
    grpo_train(run, o, a->start, a->cli->model_dir);
    a->t2 = wall_time();
    int finished = !(o->stop_at > 0 && o->stop_at < o->steps);
    if (eval && finished) {
        after = grpo_eval_countdown(run->policy, be, run->tok, o, o->eval_n);
        printf("held-out Countdown accuracy after GRPO: %.1f%% (%d problems, greedy)\n", 100.0 * after, o->eval_n);
        if (o->out_dir) { // the end of the curve, next to the steps' lines
            char* path = path_join(o->out_dir, "metrics.jsonl");
            FILE* f = fopen_check(path, "ab");
            fprintf(f, "{\"step\": %d, \"eval_accuracy\": %.6g}\n", o->steps, after);
            fclose(f);
            free(path);
        }
        if (before >= 0) {
            printf("GRPO changed held-out accuracy by %+.1f points (%.1f%% -> %.1f%%)\n", 100.0 * (after - before),
                   100.0 * before, 100.0 * after);
        }
    }
}

// The positions the GPU buffers are first made for (they grow if a batch is longer).
static int grpo_gpu_T0(const GrpoOptions* o, const Qwen2Config* c) {
    return o->max_completion + 256 < c->max_position_embeddings ? o->max_completion + 256 : c->max_position_embeddings;
}

int main(int argc, char** argv) {
    GrpoOptions o;
    GrpoCli cli;
    setvbuf(stdout, NULL, _IOLBF, 0); // progress lines appear as they happen, also in a log file
    grpo_parse(argc, argv, &o, &cli);
    int gpus = cli.gpus > 0 ? cli.gpus : 1;
#ifdef __CUDACC__
    int on_gpu = 0; // rollouts and updates on the GPU (GrpoBackend); else the r1.h CPU path
#endif
#ifdef __CUDACC__
    int n_dev = 0;
    if (cudaGetDeviceCount(&n_dev) != cudaSuccess || n_dev == 0) {
        cudaGetLastError();
        printf("no CUDA device: running the r1.h CPU path\n");
    } else if (cli.cpu) {
        printf("--cpu: running the r1.h CPU path\n");
    } else {
        cudaDeviceProp prop;
        cudaCheck(cudaGetDeviceProperties(&prop, 0));
        printf("GRPO on %s (%s, %d GPU%s): rollouts with the GPU engine, updates with the GPU trainer\n", prop.name,
               PRECISION_NAME, gpus, gpus > 1 ? "s" : "");
        on_gpu = 1;
    }
    if (!on_gpu && gpus > 1) {
        fatal("--gpus %d needs CUDA devices (this run is on the CPU path)", gpus);
    }
#else
    if (gpus > 1) {
        fatal("--gpus %d: this build has no CUDA (build train_grpo with nvcc for GPUs)", gpus);
    }
#endif
    int mini = cli.model_dir == NULL;
    Tokenizer tok;
    Qwen2 policy, ref;
    GrpoRun run;
    memset(&run, 0, sizeof(run));
    if (mini) {
        if (strcmp(o.task, "countdown") != 0) {
            fatal("the miniature run (no --model) is Countdown only: give --model DIR for --task math");
        }
        tokenizer_init_bytes(&tok);
        qwen2_init_tiny(&policy, &tok, o.seed);
    } else {
        tokenizer_load(&tok, cli.model_dir);
        qwen2_load(&policy, cli.model_dir);
    }
    grpo_set_eos(&o, &tok, &policy.config, cli.model_dir);
    SftDataset data;
    memset(&data, 0, sizeof(data));
    if (strcmp(o.task, "math") == 0) {
        data = sft_load(o.data, 0);
        if (data.n == 0) {
            fatal("%s: no problems", o.data);
        }
    }
    run.policy = &policy, run.tok = &tok, run.data = o.data ? &data : NULL;
    run.rewards = reward_parse(o.rewards);
    grpo_optimizer_init(&run, &o);
    int start = 0;
    char* ckpt = cli.resume ? sft_latest_checkpoint(o.out_dir) : NULL;
    if (o.out_dir && !cli.resume) {
        SftOptions probe; // refuses an --out that holds an earlier run's checkpoints
        sft_options_default(&probe);
        probe.out_dir = o.out_dir;
        sft_prepare_out(&probe);
    }
    if (ckpt) {
        start = grpo_checkpoint_load(&run, &o, ckpt);
        printf("resumed from %s at step %d\n", ckpt, start);
        free(ckpt);
    } else if (cli.resume) {
        printf("no checkpoint in %s: starting a new run\n", o.out_dir);
    }
    double t0 = wall_time();
    if (mini && start == 0) {
        printf("R1-Zero in miniature: tiny model (%zu parameters), cold-start SFT (%d steps), then GRPO (%d steps)\n",
               policy.num_parameters, cli.sft_steps, o.steps);
        grpo_cold_start(&policy, &tok, &o, cli.sft_examples, cli.sft_steps, cli.sft_batch, cli.sft_seq_len,
                        cli.sft_lr, o.quiet ? 0 : 50);
        if (o.out_dir) { // the SFT model: GRPO's starting point (and its reference model on resume)
            char* dir = path_join(o.out_dir, "cold-start");
            model_save(dir, &policy.config, &policy.params, "F32");
            sft_write_generation_config(dir, &policy.config, &tok, NULL);
            tokenizer_save(&tok, dir);
            printf("cold-start model saved in %s\n", dir);
            free(dir);
        }
    }
    if (o.loss.beta != 0.0f) { // the reference model: a frozen copy of the policy as GRPO starts
        qwen2_build(&ref, &policy.config);
        if (start == 0) {
            memcpy(ref.params_memory, policy.params_memory, policy.num_parameters * sizeof(float));
        } else { // resumed: the reference is the model the run started from, not the checkpoint
            ParameterTensors p;
            char* from = mini ? path_join(o.out_dir, "cold-start") : strdup_check(cli.model_dir);
            float* w = model_load_weights(&ref.config, &p, from);
            free(from);
            memcpy(ref.params_memory, w, policy.num_parameters * sizeof(float));
            free(w);
        }
        run.ref = &ref;
    }
#ifdef __CUDACC__
    GpuGrpo gpu;
    GrpoBackend backend;
    if (on_gpu && gpus == 1) { // the policy (and its AdamW state, after a resume) and the reference model to the GPU
        int rows = o.micro_batch > 0 ? o.micro_batch : o.prompts_per_step * o.group_size;
        gpu_grpo_init(&gpu, &policy, run.ref, run.adam_m, run.adam_v, rows, grpo_gpu_T0(&o, &policy.config));
        backend = gpu_grpo_backend(&gpu);
        run.backend = &backend;
    }
#endif
    GrpoBody body = {&run, &o, &cli, start, mini, 0.0, 0.0};
#ifdef __CUDACC__
    if (on_gpu && gpus > 1) { // rank 0's thread runs the body; the GPUs' state lives and ends inside
        int rows = o.micro_batch > 0 ? o.micro_batch : o.prompts_per_step * o.group_size;
        grpo_train_gpus(gpus, &policy, run.ref, run.adam_m, run.adam_v, rows, grpo_gpu_T0(&o, &policy.config),
                        grpo_body, &body);
    } else
#endif
    {
        grpo_body(&body, run.backend);
    }
    double t1 = body.t1, t2 = body.t2;
    printf("done: GRPO %.1f s, total %.1f s%s%s\n", t2 - t1, wall_time() - t0, o.out_dir ? "; metrics in " : "",
           o.out_dir ? o.out_dir : "");
#ifdef __CUDACC__
    if (on_gpu && gpus == 1) {
        gpu_grpo_free(&gpu);
    }
#endif
    if (run.ref) {
        qwen2_free(&ref);
    }
    free(run.adam_m), free(run.adam_v);
    qwen2_free(&policy);
    tokenizer_free(&tok);
    if (o.data) {
        sft_free(&data);
    }
    return 0;
}
#endif

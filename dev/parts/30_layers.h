// ----------------------------------------------------------------------------
// Qwen2.5: the layers, forward and backward
// Every layer of Qwen2ForCausalLM as one function per direction, in fp32, computing exactly what
// Hugging Face transformers computes (tests/test_model.c checks logits, loss and every gradient
// against it). These are the CPU twins of the CUDA kernels: same names, same argument order.
//
// Conventions of this section:
// - Activations are row-major with the token index outermost: a (B, T, C) tensor holds token
//   (b, t) at [(b * T + t) * C]. Attention heads live inside the last dimension: q is (B, T, NH, HD).
// - A backward function *adds* into the gradients of parameters (dweight += ...), so gradients
//   accumulate over micro-batches until qwen2_zero_grad; gradients of activations it writes are
//   documented at each function ("+=" or "=").
// - The only non-obvious code is matmul's: it is written so that gcc -O3 -march=native turns the
//   inner loops into vector FMAs without -ffast-math (see matmul_kernel).

// --- small helpers -----------------------------------------------------------

// Dot product of two fp32 vectors. `omp simd reduction` lets the compiler keep 8 partial sums in
// one vector register (reassociating the sum, which plain C forbids without -ffast-math); fmaf
// makes each step a fused multiply-add, as BLAS does.
static inline float dot_f32(const float* a, const float* b, int n) {
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int i = 0; i < n; i++) {
        s = fmaf(a[i], b[i], s);
    }
    return s;
}

// y += alpha * x, vectorised over n.
static inline void axpy_f32(float* y, float alpha, const float* x, int n) {
    for (int i = 0; i < n; i++) {
        y[i] = fmaf(alpha, x[i], y[i]);
    }
}

// e^x in fp32, as a polynomial the compiler can vectorise: loops that call libm's expf run one
// element at a time (a function call per element), and the softmax of the LM head, the attention
// softmax and SiLU call exp once per element of large tensors; this is about 8x faster there.
// Cephes' expf: e^x = 2^n e^r with n = round(x / ln 2) and |r| <= ln(2)/2, e^r by a degree-7
// polynomial; within 1.3 ulp of the exact value on the clamped range [-87, 88] (e^-87 ~ 1.6e-38
// stands in for anything smaller). The clamps are written as arithmetic, not branches, so the
// loop stays vectorisable; infinite inputs give NaN (activations are finite in a healthy model).
static inline float exp_f32(float x) {
    x = x + (float)(x < -87.0f) * (-87.0f - x);
    x = x + (float)(x > 88.0f) * (88.0f - x);
    float n = rintf(x * 1.44269504088896341f); // x / ln 2, to the nearest integer
    float r = fmaf(n, -0.693359375f, x);        // r = x - n ln 2, with ln 2 split in two parts
    r = fmaf(n, 2.12194440e-4f, r);             // so that the product is exact
    float p = 1.9875691500e-4f;
    p = fmaf(p, r, 1.3981999507e-3f);
    p = fmaf(p, r, 8.3334519073e-3f);
    p = fmaf(p, r, 4.1665795894e-2f);
    p = fmaf(p, r, 1.6666665459e-1f);
    p = fmaf(p, r, 5.0000001201e-1f);
    p = fmaf(p, r * r, r + 1.0f); // e^r
    int32_t bits = ((int32_t)n + 127) << 23; // 2^n, built from its exponent bits
    float scale;
    memcpy(&scale, &bits, sizeof(scale));
    return p * scale;
}

// --- embedding -----------------------------------------------------------------

// out[b, t] = embed[ids[b, t]]: a row lookup.
static void embedding_forward(float* out,         // (B, T, C)
                              const int* ids,     // (B, T)
                              const float* embed, // (V, C)
                              int BT, int C, int V) {
    for (int i = 0; i < BT; i++) {
        if (ids[i] < 0 || ids[i] >= V) {
            fatal("token id %d at position %d is outside the vocabulary [0, %d)", ids[i], i, V);
        }
        memcpy(out + (size_t)i * C, embed + (size_t)ids[i] * C, (size_t)C * sizeof(float));
    }
}

// dembed[ids[b, t]] += dout[b, t]. A token that appears several times collects the sum. This runs
// serially: two threads could otherwise add into the same row at once.
static void embedding_backward(float* dembed,     // (V, C)
                               const float* dout, // (B, T, C)
                               const int* ids,    // (B, T)
                               int BT, int C) {
    for (int i = 0; i < BT; i++) {
        axpy_f32(dembed + (size_t)ids[i] * C, 1.0f, dout + (size_t)i * C, C);
    }
}

// --- RMSNorm -------------------------------------------------------------------

// out = weight * (x / sqrt(mean(x^2) + eps)). As transformers does: the statistic in fp32, x scaled
// first, the weight applied after. rstd = 1/sqrt(mean(x^2) + eps) is kept for the backward pass.
static void rmsnorm_forward(float* out,          // (B, T, C)
                            float* rstd,         // (B, T)
                            const float* inp,    // (B, T, C)
                            const float* weight, // (C)
                            int BT, int C, float eps) {
#pragma omp parallel for
    for (int i = 0; i < BT; i++) {
        const float* x = inp + (size_t)i * C;
        float* o = out + (size_t)i * C;
        float r = 1.0f / sqrtf(dot_f32(x, x, C) / C + eps);
        for (int j = 0; j < C; j++) {
            o[j] = weight[j] * (x[j] * r);
        }
        rstd[i] = r;
    }
}

// With xhat = x * r and y = w * xhat:  dw += dy * xhat, and since r depends on every x_j,
// dx = r * (w dy - xhat * mean(w dy * xhat)). dinp is accumulated (+=): it is the residual stream's
// gradient, which also receives the skip connection's share.
static void rmsnorm_backward(float* dinp,         // (B, T, C)  +=
                             float* dweight,      // (C)        +=
                             const float* dout,   // (B, T, C)
                             const float* inp,    // (B, T, C)
                             const float* weight, // (C)
                             const float* rstd,   // (B, T)
                             int BT, int C) {
#pragma omp parallel for
    for (int i = 0; i < BT; i++) {
        const float* dy = dout + (size_t)i * C;
        const float* x = inp + (size_t)i * C;
        float* dx = dinp + (size_t)i * C;
        float r = rstd[i];
        float sum = 0.0f; // sum_j w_j dy_j xhat_j
        for (int j = 0; j < C; j++) {
            sum += weight[j] * dy[j] * (x[j] * r);
        }
        float mean = sum / C;
        for (int j = 0; j < C; j++) {
            dx[j] += r * (weight[j] * dy[j] - (x[j] * r) * mean);
        }
    }
    // dweight sums over all tokens; a loop over channels keeps threads on separate elements
#pragma omp parallel for
    for (int j = 0; j < C; j++) {
        float s = 0.0f;
        for (int i = 0; i < BT; i++) {
            s += dout[(size_t)i * C + j] * (inp[(size_t)i * C + j] * rstd[i]);
        }
        dweight[j] += s;
    }
}

// --- matmul (nn.Linear) ----------------------------------------------------------
// out = inp . weight^T + bias, with weight stored (OC, C) as PyTorch's nn.Linear does. Nearly all
// of the time of a training step is spent here, so this is the one place written for speed, the
// way BLAS libraries do it (Goto's algorithm), in plain C:
//
// - matmul_kernel computes a 6 x 16 block of the output, keeping its 96 sums in 12 vector registers
//   (8 floats each with AVX2) while it runs down the depth K. Each step loads 16 values of b and 6 of
//   a and does 96 multiply-adds; `omp simd` and fmaf make gcc -O3 -march=native emit vector FMAs
//   (without the pragma gcc keeps the block in memory, ten times slower).
// - matmul_packed feeds it: it copies ("packs") a chunk of a and a panel of b so that the kernel reads
//   both sequentially from cache, 6 rows of a and 16 columns of b interleaved per depth step. The
//   packing also absorbs the layouts: a and b are given with a row and a column stride, so the
//   three products of a layer are one function:
//       forward   out  = inp . W^T     b[k][n] = W[n][k]
//       backward  dinp = dout . W
//       backward  dW   = dout^T . inp  a[m][k] = dout[k][m]

#define MATMUL_MR 6   // rows of the kernel's output block
#define MATMUL_NR 16  // columns of the kernel's output block (two AVX2 registers per row)
#define MATMUL_MC 96  // rows of a in one packed chunk (a multiple of MR)
#define MATMUL_NC 256 // columns of b in one packed panel (a multiple of NR)
#define MATMUL_KC 256 // depth of a slice: a chunk (96 x 256) and a panel of b (256 x 256) fit in L2

// c (mr x nr block, row stride ldc) += ap . bp, where ap is (K, MR) and bp is (K, NR) packed.
static void matmul_kernel(float* c, size_t ldc, const float* ap, const float* bp, int K, int mr, int nr) {
    float acc[MATMUL_MR][MATMUL_NR];
    for (int r = 0; r < MATMUL_MR; r++) {
        for (int n = 0; n < MATMUL_NR; n++) {
            acc[r][n] = 0.0f;
        }
    }
    for (int k = 0; k < K; k++) {
        const float* b = bp + (size_t)k * MATMUL_NR;
        for (int r = 0; r < MATMUL_MR; r++) {
            float a = ap[(size_t)k * MATMUL_MR + r];
#pragma omp simd
            for (int n = 0; n < MATMUL_NR; n++) {
                acc[r][n] = fmaf(a, b[n], acc[r][n]);
            }
        }
    }
    for (int r = 0; r < mr; r++) { // only the valid part of an edge block
        for (int n = 0; n < nr; n++) {
            c[r * ldc + n] += acc[r][n];
        }
    }
}

// Each thread packs into its own scratch, allocated on first use and kept for the life of the
// process (threadprivate: one copy per OpenMP thread), since a fresh 224 KiB malloc per call costs
// page faults that small products notice.
static float* matmul_scratch = NULL; // (MC * KC + KC * NC) floats
#pragma omp threadprivate(matmul_scratch)

// Packs rows [m0, m0 + mc) and depths [k0, k0 + kc) of a into ap as blocks of MR rows, each block
// (kc, MR): the kernel then reads its 6 values of a for one depth step from one place. Rows past mc
// are zero, so an edge block computes harmless zeros.
static void matmul_pack_a(float* ap, const float* a, size_t a_rs, size_t a_cs, int m0, int mc, int k0, int kc) {
    for (int i = 0; i < mc; i += MATMUL_MR) {
        float* dst = ap + (size_t)i * kc; // (kc, MR)
        int rows = mc - i < MATMUL_MR ? mc - i : MATMUL_MR;
        if (a_rs == 1) { // a read transposed (dout^T): its MR values per depth step are contiguous
            for (int k = 0; k < kc; k++) {
                const float* src = a + (size_t)(m0 + i) + (size_t)(k0 + k) * a_cs;
                for (int r = 0; r < MATMUL_MR; r++) {
                    dst[k * MATMUL_MR + r] = r < rows ? src[r] : 0.0f;
                }
            }
            continue;
        }
        for (int r = 0; r < MATMUL_MR; r++) { // rows of a contiguous: walk along each row
            const float* src = a + (size_t)(m0 + i + r) * a_rs + (size_t)k0 * a_cs;
            for (int k = 0; k < kc; k++) {
                dst[k * MATMUL_MR + r] = r < rows ? src[k * a_cs] : 0.0f;
            }
        }
    }
}

// Packs depths [k0, k0 + kc) and columns [n0, n0 + nc) of b into bp as strips of NR columns, each
// strip (kc, NR), zero-padded past nc.
static void matmul_pack_b(float* bp, const float* b, size_t b_rs, size_t b_cs, int k0, int kc, int n0, int nc) {
    for (int j = 0; j < nc; j += MATMUL_NR) {
        float* dst = bp + (size_t)j * kc; // (kc, NR)
        int cols = nc - j < MATMUL_NR ? nc - j : MATMUL_NR;
        if (b_cs == 1 && cols == MATMUL_NR) { // rows of b contiguous: copy 16 floats per depth step
            for (int k = 0; k < kc; k++) {
                memcpy(dst + k * MATMUL_NR, b + (size_t)(k0 + k) * b_rs + n0 + j, MATMUL_NR * sizeof(float));
            }
            continue;
        }
        for (int n = 0; n < MATMUL_NR; n++) { // b read transposed (W^T): walk along its rows
            const float* src = b + (size_t)k0 * b_rs + (size_t)(n0 + j + n) * b_cs;
            for (int k = 0; k < kc; k++) {
                dst[k * MATMUL_NR + n] = n < cols ? src[k * b_rs] : 0.0f;
            }
        }
    }
}

// c (M, N) += a (M, K) . b (K, N), where a[m][k] is at a[m*a_rs + k*a_cs] and b[k][n] at
// b[k*b_rs + n*b_cs]. The output is cut into tasks (a panel of NC columns x a part of the rows),
// shared out over the threads, with enough row parts that every thread gets work. A task walks the
// depth in slices of KC: it packs its slice of b once, then for each chunk of MC rows packs that
// chunk of a and runs the kernel over every (MR x NR) block.
static void matmul_packed(float* c, size_t ldc, const float* a, size_t a_rs, size_t a_cs, const float* b,
                          size_t b_rs, size_t b_cs, int M, int K, int N) {
    int tiles_n = (N + MATMUL_NC - 1) / MATMUL_NC;
    int threads = 1;
#ifdef _OPENMP
    threads = omp_in_parallel() ? 1 : omp_get_max_threads();
#endif
    int parts_m = (4 * threads + tiles_n - 1) / tiles_n; // aim for about 4 tasks per thread
    int max_parts = (M + MATMUL_MC - 1) / MATMUL_MC;
    parts_m = parts_m < 1 ? 1 : parts_m > max_parts ? max_parts : parts_m;
    int part_rows = ((M + parts_m - 1) / parts_m + MATMUL_MR - 1) / MATMUL_MR * MATMUL_MR;
#pragma omp parallel
    {
        if (matmul_scratch == NULL) {
            matmul_scratch = (float*)malloc_check((size_t)(MATMUL_MC + MATMUL_NC) * MATMUL_KC * sizeof(float));
        }
        float* ap = matmul_scratch;                         // (MC/MR, KC, MR)
        float* bp = matmul_scratch + MATMUL_MC * MATMUL_KC; // (NC/NR, KC, NR)
#pragma omp for collapse(2) schedule(dynamic, 1)
        for (int tn = 0; tn < tiles_n; tn++) {
            for (int pm = 0; pm < parts_m; pm++) {
                int n0 = tn * MATMUL_NC, nc = N - n0 < MATMUL_NC ? N - n0 : MATMUL_NC;
                int m_begin = pm * part_rows, m_end = m_begin + part_rows < M ? m_begin + part_rows : M;
                for (int k0 = 0; k0 < K; k0 += MATMUL_KC) {
                    int kc = K - k0 < MATMUL_KC ? K - k0 : MATMUL_KC;
                    matmul_pack_b(bp, b, b_rs, b_cs, k0, kc, n0, nc);
                    for (int m0 = m_begin; m0 < m_end; m0 += MATMUL_MC) {
                        int mc = m_end - m0 < MATMUL_MC ? m_end - m0 : MATMUL_MC;
                        matmul_pack_a(ap, a, a_rs, a_cs, m0, mc, k0, kc);
                        for (int j = 0; j < nc; j += MATMUL_NR) {     // a strip of b stays in L1 ...
                            for (int i = 0; i < mc; i += MATMUL_MR) { // ... while the blocks of a pass by
                                matmul_kernel(c + (size_t)(m0 + i) * ldc + n0 + j, ldc, ap + (size_t)i * kc,
                                              bp + (size_t)j * kc, kc, mc - i < MATMUL_MR ? mc - i : MATMUL_MR,
                                              nc - j < MATMUL_NR ? nc - j : MATMUL_NR);
                            }
                        }
                    }
                }
            }
        }
    }
}

// out = inp . weight^T + bias. With a handful of rows (generation, one token at a time) packing
// would cost more than it saves: each output is then one dot product, and weight is read once.
static void matmul_forward(float* out,          // (B, T, OC)
                           const float* inp,    // (B, T, C)
                           const float* weight, // (OC, C)
                           const float* bias,   // (OC) or NULL
                           int BT, int C, int OC) {
    if (BT < 16) {
#pragma omp parallel for
        for (int o = 0; o < OC; o++) {
            for (int i = 0; i < BT; i++) {
                float s = dot_f32(inp + (size_t)i * C, weight + (size_t)o * C, C);
                out[(size_t)i * OC + o] = bias ? bias[o] + s : s;
            }
        }
        return;
    }
    for (int i = 0; i < BT; i++) { // start from the bias, then add the product
        float* o = out + (size_t)i * OC;
        for (int j = 0; j < OC; j++) {
            o[j] = bias ? bias[j] : 0.0f;
        }
    }
    matmul_packed(out, OC, inp, C, 1, weight, 1, C, BT, C, OC);
}

// Backward of out = inp . weight^T + bias:
//     dinp    += dout . weight        (BT x OC) . (OC x C)
//     dweight += dout^T . inp         (OC x BT) . (BT x C)
//     dbias   += sum over tokens of dout
// dinp may be NULL (nothing to propagate); dbias is NULL when there is no bias.
static void matmul_backward(float* dinp,         // (B, T, C)  +=, or NULL
                            float* dweight,      // (OC, C)    +=
                            float* dbias,        // (OC)       +=, or NULL
                            const float* dout,   // (B, T, OC)
                            const float* inp,    // (B, T, C)
                            const float* weight, // (OC, C)
                            int BT, int C, int OC) {
    if (dinp) {
        matmul_packed(dinp, C, dout, OC, 1, weight, C, 1, BT, OC, C);
    }
    matmul_packed(dweight, C, dout, 1, OC, inp, C, 1, OC, BT, C);
    if (dbias) {
#pragma omp parallel for
        for (int o = 0; o < OC; o++) {
            float s = 0.0f;
            for (int i = 0; i < BT; i++) {
                s += dout[(size_t)i * OC + o];
            }
            dbias[o] += s;
        }
    }
}

// --- RoPE ----------------------------------------------------------------------
// Rotary position embedding, Qwen2 / Llama style ("rotate_half"): dimension i of a head is paired
// with dimension i + HD/2 (not with its neighbour as in the original paper), and the pair is rotated
// by the angle pos * theta^(-2i/HD). cos and sin depend only on the position, so they are computed
// once per forward pass for every token; the rotation is then applied to q and k of every layer.

// cos[b, t, i] = cos(pos[b, t] * inv_freq[i]), in the precision transformers uses:
// inv_freq = 1 / theta^(float(2i) / HD) and the angle pos * inv_freq, both in fp32.
static void rope_tables(float* cosines,      // (B, T, HD/2)
                        float* sines,        // (B, T, HD/2)
                        const int* pos_ids,  // (B, T)
                        int BT, int HD, float theta) {
    int half = HD / 2;
    for (int i = 0; i < BT; i++) {
        for (int j = 0; j < half; j++) {
            float inv_freq = 1.0f / powf(theta, (float)(2 * j) / (float)HD);
            float angle = (float)pos_ids[i] * inv_freq;
            cosines[(size_t)i * half + j] = cosf(angle);
            sines[(size_t)i * half + j] = sinf(angle);
        }
    }
}

// In place on x, for each head: (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin), where x1 is the
// first half of the head and x2 the second (transformers' q * cos + rotate_half(q) * sin).
static void rope_forward(float* x,             // (B, T, NHX, HD)  NHX = NH for q, NKV for k
                         const float* cosines, // (B, T, HD/2)
                         const float* sines,   // (B, T, HD/2)
                         int BT, int NHX, int HD) {
    int half = HD / 2;
#pragma omp parallel for
    for (int i = 0; i < BT; i++) {
        const float* c = cosines + (size_t)i * half;
        const float* s = sines + (size_t)i * half;
        for (int h = 0; h < NHX; h++) {
            float* x1 = x + ((size_t)i * NHX + h) * HD;
            float* x2 = x1 + half;
            for (int j = 0; j < half; j++) {
                float a = x1[j], b = x2[j];
                x1[j] = a * c[j] - b * s[j];
                x2[j] = b * c[j] + a * s[j];
            }
        }
    }
}

// A rotation's gradient is the inverse rotation (its transpose): in place on dx.
static void rope_backward(float* dx,            // (B, T, NHX, HD)
                          const float* cosines, // (B, T, HD/2)
                          const float* sines,   // (B, T, HD/2)
                          int BT, int NHX, int HD) {
    int half = HD / 2;
#pragma omp parallel for
    for (int i = 0; i < BT; i++) {
        const float* c = cosines + (size_t)i * half;
        const float* s = sines + (size_t)i * half;
        for (int h = 0; h < NHX; h++) {
            float* d1 = dx + ((size_t)i * NHX + h) * HD;
            float* d2 = d1 + half;
            for (int j = 0; j < half; j++) {
                float a = d1[j], b = d2[j];
                d1[j] = a * c[j] + b * s[j];
                d2[j] = b * c[j] - a * s[j];
            }
        }
    }
}

// --- attention -------------------------------------------------------------------
// Causal self-attention with grouped-query heads: query head h reads key/value head h / (NH/NKV).
// Several documents may be packed into one row: a document starts wherever its position id is 0,
// and a token attends only to itself and the earlier tokens of its own document.

// doc_start[b, t] = the index t' <= t where the document of token (b, t) begins.
static void attention_doc_starts(int* doc_start,    // (B, T)
                                 const int* pos_ids, // (B, T)
                                 int B, int T) {
    for (int b = 0; b < B; b++) {
        int start = 0;
        for (int t = 0; t < T; t++) {
            if (pos_ids[b * T + t] == 0) {
                start = t;
            }
            doc_start[b * T + t] = start;
        }
    }
}

// Zeroes T rows of n floats that are ld apart (one head's slice of a (B, T, NH, HD) tensor).
static void zero_rows(float* x, int T, int n, size_t ld) {
    for (int t = 0; t < T; t++) {
        memset(x + (size_t)t * ld, 0, (size_t)n * sizeof(float));
    }
}

// For each (b, h): scores = q k^T (T x T), the softmax of each row t over its window [doc_start,
// t] (the scores scaled by HD^-0.5 after the dot product, as transformers does; fp32, shifted by the
// max so exp never overflows), and out = att v. Both products are matmul_packed calls reading one
// head's columns through strides. They compute the whole T x T square, twice the causal work, but
// at matmul speed; the probabilities outside the window are exactly 0. att is kept for backward.
// The threads share out the (b, h) pairs; matmul_packed, called inside, then runs on one thread
// (OpenMP does not nest parallel regions unless asked to).
static void attention_forward(float* out,           // (B, T, NH, HD)
                              float* att,           // (B, NH, T, T)
                              const float* q,       // (B, T, NH, HD)
                              const float* k,       // (B, T, NKV, HD)
                              const float* v,       // (B, T, NKV, HD)
                              const int* doc_start, // (B, T)
                              int B, int T, int NH, int NKV, int HD) {
    size_t QD = (size_t)NH * HD, KVD = (size_t)NKV * HD, TT = (size_t)T * T;
    float scale = 1.0f / sqrtf((float)HD);
#pragma omp parallel for collapse(2) schedule(dynamic, 1)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            int kvh = h / (NH / NKV);
            const float* qh = q + (size_t)b * T * QD + (size_t)h * HD;    // (T, HD), rows QD apart
            const float* kh = k + (size_t)b * T * KVD + (size_t)kvh * HD; // (T, HD), rows KVD apart
            const float* vh = v + (size_t)b * T * KVD + (size_t)kvh * HD; // (T, HD), rows KVD apart
            float* oh = out + (size_t)b * T * QD + (size_t)h * HD;        // (T, HD), rows QD apart
            float* a = att + ((size_t)b * NH + h) * TT;                   // (T, T)
            memset(a, 0, TT * sizeof(float));
            matmul_packed(a, T, qh, QD, 1, kh, 1, KVD, T, HD, T); // a[t][t2] = q[t] . k[t2]
            for (int t = 0; t < T; t++) {
                float* row = a + (size_t)t * T;
                int t0 = doc_start[b * T + t];
                float maxval = -INFINITY, sum = 0.0f;
                for (int t2 = t0; t2 <= t; t2++) {
                    row[t2] *= scale;
                    maxval = fmaxf(maxval, row[t2]);
                }
#pragma omp simd reduction(+ : sum)
                for (int t2 = t0; t2 <= t; t2++) {
                    row[t2] = exp_f32(row[t2] - maxval);
                    sum += row[t2];
                }
                for (int t2 = 0; t2 < T; t2++) {
                    row[t2] = (t2 < t0 || t2 > t) ? 0.0f : row[t2] / sum;
                }
            }
            zero_rows(oh, T, HD, QD);
            matmul_packed(oh, QD, a, T, 1, vh, KVD, 1, T, T, HD); // out[t] = sum_t2 att[t][t2] v[t2]
        }
    }
}

// With P = att of one (b, h) and dO its output gradient:
//     dV += P^T dO      dP = dO V^T      dS = P * (dP - rowsum(P * dP)) * scale   (softmax backward)
//     dQ  = dS K        dK += dS^T Q
// dk and dv are sums over the NH/NKV query heads that share a kv head, hence the +=. The threads
// share out the (b, kv head) pairs and take the heads of a group one after the other, so no two
// threads ever add into the same element. datt holds one (T, T) matrix per thread.
static void attention_backward(float* dq,            // (B, T, NH, HD)   =
                               float* dk,            // (B, T, NKV, HD)  =
                               float* dv,            // (B, T, NKV, HD)  =
                               float* datt,          // (threads, T, T)  scratch
                               const float* dout,    // (B, T, NH, HD)
                               const float* q,       // (B, T, NH, HD)
                               const float* k,       // (B, T, NKV, HD)
                               const float* v,       // (B, T, NKV, HD)
                               const float* att,     // (B, NH, T, T)
                               const int* doc_start, // (B, T)
                               int B, int T, int NH, int NKV, int HD) {
    size_t QD = (size_t)NH * HD, KVD = (size_t)NKV * HD, TT = (size_t)T * T;
    float scale = 1.0f / sqrtf((float)HD);
    int group = NH / NKV;
    memset(dk, 0, (size_t)B * T * KVD * sizeof(float));
    memset(dv, 0, (size_t)B * T * KVD * sizeof(float));
#pragma omp parallel for collapse(2) schedule(dynamic, 1)
    for (int b = 0; b < B; b++) {
        for (int kvh = 0; kvh < NKV; kvh++) {
#ifdef _OPENMP
            float* ds = datt + (size_t)omp_get_thread_num() * TT; // (T, T) dP, then dS
#else
            float* ds = datt;
#endif
            size_t kvoff = (size_t)b * T * KVD + (size_t)kvh * HD; // k, v, dk, dv of this head: (T, HD), rows KVD apart
            for (int h = kvh * group; h < (kvh + 1) * group; h++) {
                size_t qoff = (size_t)b * T * QD + (size_t)h * HD; // q, dq, dout of this head: (T, HD), rows QD apart
                const float* p = att + ((size_t)b * NH + h) * TT;  // (T, T)
                matmul_packed(dv + kvoff, KVD, p, 1, T, dout + qoff, QD, 1, T, T, HD); // dV += P^T dO
                memset(ds, 0, TT * sizeof(float));
                matmul_packed(ds, T, dout + qoff, QD, 1, v + kvoff, 1, KVD, T, HD, T); // dP = dO V^T
                for (int t = 0; t < T; t++) {
                    const float* pt = p + (size_t)t * T;
                    float* dst = ds + (size_t)t * T;
                    int t0 = doc_start[b * T + t];
                    float pdp = 0.0f; // sum_j P[t][j] dP[t][j]
                    for (int t2 = t0; t2 <= t; t2++) {
                        pdp += pt[t2] * dst[t2];
                    }
                    for (int t2 = 0; t2 < T; t2++) { // outside the window P = 0, so dS = 0 there
                        dst[t2] = pt[t2] * (dst[t2] - pdp) * scale;
                    }
                }
                zero_rows(dq + qoff, T, HD, QD);
                matmul_packed(dq + qoff, QD, ds, T, 1, k + kvoff, KVD, 1, T, T, HD); // dQ = dS K
                matmul_packed(dk + kvoff, KVD, ds, 1, T, q + qoff, QD, 1, T, T, HD); // dK += dS^T Q
            }
        }
    }
}

// --- SwiGLU MLP ------------------------------------------------------------------

// out = silu(gate) * up, with silu(x) = x * sigmoid(x) = x / (1 + exp(-x)) (as PyTorch's SiLU).
static void swiglu_forward(float* out,        // (B, T, I)
                           const float* gate, // (B, T, I)
                           const float* up,   // (B, T, I)
                           size_t n) {
#pragma omp parallel for simd
    for (size_t i = 0; i < n; i++) {
        float g = gate[i];
        out[i] = g / (1.0f + exp_f32(-g)) * up[i];
    }
}

// silu'(x) = s (1 + x (1 - s)) with s = sigmoid(x). dgate and dup are overwritten (=).
static void swiglu_backward(float* dgate,      // (B, T, I)  =
                            float* dup,        // (B, T, I)  =
                            const float* dout, // (B, T, I)
                            const float* gate, // (B, T, I)
                            const float* up,   // (B, T, I)
                            size_t n) {
#pragma omp parallel for simd
    for (size_t i = 0; i < n; i++) {
        float g = gate[i];
        float s = 1.0f / (1.0f + exp_f32(-g));
        dup[i] = dout[i] * g * s;
        dgate[i] = dout[i] * up[i] * s * (1.0f + g * (1.0f - s));
    }
}

// --- residual ----------------------------------------------------------------------

// out = a + b: the skip connection around each block. (Its backward is the identity: the gradient
// flows unchanged to both inputs, which is why rmsnorm_backward and the layer loop use +=.)
static void residual_forward(float* out,     // (B, T, C)
                             const float* a, // (B, T, C)
                             const float* b, // (B, T, C)
                             size_t n) {
#pragma omp parallel for
    for (size_t i = 0; i < n; i++) {
        out[i] = a[i] + b[i];
    }
}

// --- LM head: log-probabilities and the loss ---------------------------------------
// logprobs[i] = log softmax(logits[i])[targets[i]], computed stably in fp32 as
// logits[target] - (max + log sum exp(logits - max)). Tokens whose target is -100 (the ignore index
// of PyTorch's cross_entropy) get log-prob 0 and no gradient. The log-sum-exp is kept for the
// backward pass, so the softmax is never stored.
#define IGNORE_INDEX (-100)
static void logprobs_forward(float* logprobs,     // (B, T)
                             float* lse,          // (B, T)
                             const float* logits, // (B, T, V)
                             const int* targets,  // (B, T)  -100 = ignored
                             int BT, int V) {
#pragma omp parallel for
    for (int i = 0; i < BT; i++) {
        const float* x = logits + (size_t)i * V;
        float maxval = -INFINITY;
#pragma omp simd reduction(max : maxval)
        for (int j = 0; j < V; j++) {
            maxval = x[j] > maxval ? x[j] : maxval;
        }
        float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
        for (int j = 0; j < V; j++) {
            sum += exp_f32(x[j] - maxval);
        }
        lse[i] = maxval + logf(sum);
        int target = targets[i];
        if (target != IGNORE_INDEX && (target < 0 || target >= V)) {
            fatal("target %d at position %d is outside the vocabulary [0, %d) (use -100 to ignore a token)", target,
                  i, V);
        }
        logprobs[i] = target == IGNORE_INDEX ? 0.0f : x[target] - lse[i];
    }
}

// d logprob / d logits[j] = onehot(target)[j] - softmax[j], so dlogits = dlogprobs * (onehot - p).
// For the mean cross-entropy loss, dlogprobs = -1/n on each of the n counted tokens, giving the
// familiar (p - onehot) / n. dlogits is overwritten (=); ignored tokens get zeros.
static void logprobs_backward(float* dlogits,         // (B, T, V)  =
                              const float* dlogprobs, // (B, T)
                              const float* logits,    // (B, T, V)
                              const float* lse,       // (B, T)
                              const int* targets,     // (B, T)
                              int BT, int V) {
#pragma omp parallel for
    for (int i = 0; i < BT; i++) {
        const float* x = logits + (size_t)i * V;
        float* dx = dlogits + (size_t)i * V;
        if (targets[i] == IGNORE_INDEX || dlogprobs[i] == 0.0f) {
            memset(dx, 0, (size_t)V * sizeof(float));
            continue;
        }
        float g = dlogprobs[i], m = lse[i];
#pragma omp simd
        for (int j = 0; j < V; j++) {
            dx[j] = -g * exp_f32(x[j] - m);
        }
        dx[targets[i]] += g;
    }
}

// --- the whole model ---------------------------------------------------------------
// The activations of a forward pass, each a pointer into one contiguous buffer (as llm.c). Every
// tensor the backward pass needs is kept; per-layer tensors are stacked over the L layers.
#define NUM_ACTIVATION_TENSORS 21
typedef struct {
    float* encoded;  // (B, T, C)          token embeddings: the residual stream entering layer 0
    float* ln1;      // (L, B, T, C)       input_layernorm output
    float* ln1_rstd; // (L, B, T)          its 1/rms
    float* q;        // (L, B, T, NH, HD)  queries, after RoPE
    float* k;        // (L, B, T, NKV, HD) keys, after RoPE
    float* v;        // (L, B, T, NKV, HD) values
    float* att;      // (L, B, NH, T, T)   attention probabilities
    float* atty;     // (L, B, T, NH, HD)  attention output, the input of o_proj
    float* res2;     // (L, B, T, C)       residual stream after the attention block
    float* ln2;      // (L, B, T, C)       post_attention_layernorm output
    float* ln2_rstd; // (L, B, T)
    float* gate;     // (L, B, T, I)       gate_proj output
    float* up;       // (L, B, T, I)       up_proj output
    float* swiglu;   // (L, B, T, I)       silu(gate) * up, the input of down_proj
    float* res3;     // (L, B, T, C)       residual stream after the MLP block: the layer's output
    float* lnf;      // (B, T, C)          final norm output
    float* lnf_rstd; // (B, T)
    float* logits;   // (B, T, V)
    float* lse;      // (B, T)             log-sum-exp of each row of logits
    float* logprobs; // (B, T)             log p(target) for each token (0 where ignored)
    float* rope;     // (2, B, T, HD/2)    cos then sin of every token's angles
} ActivationTensors;

// Gradients of activations: only one layer's worth, reused from the top layer down.
#define NUM_GRAD_ACT_TENSORS 11
typedef struct {
    float* dres;      // (B, T, C)          gradient of the residual stream, carried down the layers
    float* dln;       // (B, T, C)          gradient of a norm's output (lnf, ln2 or ln1)
    float* dq;        // (B, T, NH, HD)
    float* dk;        // (B, T, NKV, HD)
    float* dv;        // (B, T, NKV, HD)
    float* datty;     // (B, T, NH, HD)
    float* datt;      // (threads, T, T)    attention backward scratch, one head per thread at a time
    float* dgate;     // (B, T, I)
    float* dup;       // (B, T, I)
    float* dswiglu;   // (B, T, I)
    float* dlogits;   // (B, T, V)
} GradActTensors;

typedef struct {
    Qwen2Config config;
    ParameterTensors params; // the weights, in one buffer of num_parameters floats
    float* params_memory;
    size_t num_parameters;
    ParameterTensors grads; // same layout as params; allocated by the first backward pass
    float* grads_memory;
    ActivationTensors acts; // sized for max_BT tokens, (re)allocated when a bigger batch comes
    float* acts_memory;
    GradActTensors grad_acts;
    float* grad_acts_memory;
    size_t acts_size, grad_acts_size; // floats allocated for acts and grad_acts (grown when a batch needs more)
    size_t max_BT;   // tokens the per-token buffers below hold
    int B, T;        // the batch of the last forward pass
    int* inputs;     // (B, T) token ids of the last forward pass
    int* targets;    // (B, T) what each position predicts: labels shifted left by one, -100 = ignored
    int* doc_start;  // (B, T) where each token's document begins (from the position ids)
    float* dlogprobs; // (B, T) gradient of the loss with respect to logprobs
    int num_targets; // tokens counted in the loss
    float loss;      // mean cross-entropy of the last forward pass with labels; -1 without labels
} Qwen2;

// Points the activation tensors into one buffer for B*T = BT tokens; returns the float count.
static size_t qwen2_point_acts(const Qwen2Config* c, ActivationTensors* a, float* memory, size_t BT, int T) {
    size_t L = c->num_layers, C = c->hidden_size, I = c->intermediate_size, V = c->vocab_size;
    size_t QD = (size_t)c->num_heads * c->head_dim, KVD = (size_t)c->num_kv_heads * c->head_dim;
    size_t NH = c->num_heads, HD = c->head_dim;
    size_t sizes[NUM_ACTIVATION_TENSORS] = {
        BT * C,      L * BT * C, L * BT,     L * BT * QD, L * BT * KVD, L * BT * KVD, L * BT * NH * T,
        L * BT * QD, L * BT * C, L * BT * C, L * BT,      L * BT * I,   L * BT * I,   L * BT * I,
        L * BT * C,  BT * C,     BT,         BT * V,      BT,           BT,           2 * BT * (HD / 2)};
    float** ptrs[NUM_ACTIVATION_TENSORS] = {
        &a->encoded, &a->ln1,  &a->ln1_rstd, &a->q,    &a->k,      &a->v,      &a->att,
        &a->atty,    &a->res2, &a->ln2,      &a->ln2_rstd, &a->gate, &a->up,   &a->swiglu,
        &a->res3,    &a->lnf,  &a->lnf_rstd, &a->logits, &a->lse,  &a->logprobs, &a->rope};
    size_t total = 0;
    for (int i = 0; i < NUM_ACTIVATION_TENSORS; i++) {
        if (memory) {
            *ptrs[i] = memory + total;
        }
        total += sizes[i];
    }
    return total;
}

static size_t qwen2_point_grad_acts(const Qwen2Config* c, GradActTensors* g, float* memory, size_t BT, int T) {
    size_t C = c->hidden_size, I = c->intermediate_size, V = c->vocab_size;
    size_t QD = (size_t)c->num_heads * c->head_dim, KVD = (size_t)c->num_kv_heads * c->head_dim;
    size_t threads = 1;
#ifdef _OPENMP
    threads = (size_t)omp_get_max_threads();
#endif
    size_t sizes[NUM_GRAD_ACT_TENSORS] = {BT * C, BT * C, BT * QD, BT * KVD, BT * KVD, BT * QD,
                                          threads * T * T, BT * I, BT * I, BT * I, BT * V};
    float** ptrs[NUM_GRAD_ACT_TENSORS] = {&g->dres, &g->dln,   &g->dq,  &g->dk,      &g->dv,     &g->datty,
                                          &g->datt, &g->dgate, &g->dup, &g->dswiglu, &g->dlogits};
    size_t total = 0;
    for (int i = 0; i < NUM_GRAD_ACT_TENSORS; i++) {
        if (memory) {
            *ptrs[i] = memory + total;
        }
        total += sizes[i];
    }
    return total;
}

// A model with the given shape and all-zero weights (fill them with model_init_random, or use
// qwen2_load). Activations and gradients are allocated later, when first needed.
static void qwen2_build(Qwen2* m, const Qwen2Config* c) {
    memset(m, 0, sizeof(*m));
    m->config = *c;
    m->num_parameters = param_count(c);
    m->params_memory = param_point(c, &m->params, NULL);
    m->loss = -1.0f;
}

// Reads a Hugging Face model folder (config.json + safetensors) into a new model.
static void qwen2_load(Qwen2* m, const char* model_dir) {
    Qwen2Config c;
    config_load(&c, model_dir);
    memset(m, 0, sizeof(*m));
    m->config = c;
    m->num_parameters = param_count(&c);
    m->params_memory = model_load_weights(&c, &m->params, model_dir);
    m->loss = -1.0f;
}

static void qwen2_free(Qwen2* m) {
    free(m->params_memory);
    free(m->grads_memory);
    free(m->acts_memory);
    free(m->grad_acts_memory);
    free(m->inputs);
    free(m->targets);
    free(m->doc_start);
    free(m->dlogprobs);
    memset(m, 0, sizeof(*m));
}

// The forward pass: logits for every token and, when labels are given, the loss. Position ids say
// where each token sits in its document (0, 1, 2, ... restarting at 0 for each packed document).
// labels follow transformers' convention: labels[b, t] is the token at (b, t) itself (usually
// labels = input_ids with -100 on the tokens not to train on); the logits at t predict labels[t+1]
// and the loss is the mean of -log p over the counted tokens, exactly as Qwen2ForCausalLM.
static void qwen2_forward(Qwen2* m, const int* ids, const int* pos_ids, const int* labels, int B, int T) {
    Qwen2Config* c = &m->config;
    int L = c->num_layers, C = c->hidden_size, I = c->intermediate_size, V = c->vocab_size;
    int NH = c->num_heads, NKV = c->num_kv_heads, HD = c->head_dim;
    int QD = NH * HD, KVD = NKV * HD, BT = B * T;
    if (B <= 0 || T <= 0) {
        fatal("qwen2_forward: batch %d x %d is empty", B, T);
    }
    for (int i = 0; i < BT; i++) { // check the inputs before any work
        if (ids[i] < 0 || ids[i] >= V) {
            fatal("token id %d at position %d is outside the vocabulary [0, %d)", ids[i], i, V);
        }
        if (pos_ids[i] < 0) {
            fatal("position id %d at position %d is negative", pos_ids[i], i);
        }
        if (labels && labels[i] != IGNORE_INDEX && (labels[i] < 0 || labels[i] >= V)) {
            fatal("label %d at position %d is outside the vocabulary [0, %d) (use -100 to ignore a token)", labels[i],
                  i, V);
        }
    }
    // (re)allocate the activations when this batch needs more room than the last (the attention
    // matrices grow with B * T * T, the rest with B * T)
    size_t need = qwen2_point_acts(c, &m->acts, NULL, (size_t)BT, T);
    if (need > m->acts_size) {
        free(m->acts_memory);
        m->acts_memory = (float*)malloc_check(need * sizeof(float));
        m->acts_size = need;
    }
    if ((size_t)BT > m->max_BT) {
        free(m->inputs), free(m->targets), free(m->doc_start), free(m->dlogprobs);
        m->inputs = (int*)malloc_check((size_t)BT * sizeof(int));
        m->targets = (int*)malloc_check((size_t)BT * sizeof(int));
        m->doc_start = (int*)malloc_check((size_t)BT * sizeof(int));
        m->dlogprobs = (float*)malloc_check((size_t)BT * sizeof(float));
        m->max_BT = (size_t)BT;
    }
    qwen2_point_acts(c, &m->acts, m->acts_memory, (size_t)BT, T); // tensors packed for this B, T
    m->B = B;
    m->T = T;
    memcpy(m->inputs, ids, (size_t)BT * sizeof(int));
    ParameterTensors p = m->params;
    ActivationTensors a = m->acts;
    float* cosines = a.rope;
    float* sines = a.rope + (size_t)BT * (HD / 2);
    rope_tables(cosines, sines, pos_ids, BT, HD, c->rope_theta);
    attention_doc_starts(m->doc_start, pos_ids, B, T);

    embedding_forward(a.encoded, ids, p.embed, BT, C, V);
    for (int l = 0; l < L; l++) {
        size_t bc = (size_t)l * BT * C, bq = (size_t)l * BT * QD, bk = (size_t)l * BT * KVD;
        size_t bi = (size_t)l * BT * I;
        float* residual = l == 0 ? a.encoded : a.res3 + bc - (size_t)BT * C; // (B, T, C) layer input
        float* ln1 = a.ln1 + bc;                                              // (B, T, C)
        float* q = a.q + bq;                                                  // (B, T, NH, HD)
        float* k = a.k + bk;                                                  // (B, T, NKV, HD)
        float* v = a.v + bk;                                                  // (B, T, NKV, HD)
        float* att = a.att + (size_t)l * BT * NH * T;                         // (B, NH, T, T)
        float* atty = a.atty + bq;                                            // (B, T, NH, HD)
        float* res2 = a.res2 + bc;                                            // (B, T, C)
        float* ln2 = a.ln2 + bc;                                              // (B, T, C)
        float* res3 = a.res3 + bc;                                            // (B, T, C)
        // attention block: res2 = residual + o_proj(attention(rope(q), rope(k), v))
        rmsnorm_forward(ln1, a.ln1_rstd + (size_t)l * BT, residual, p.ln1 + (size_t)l * C, BT, C, c->rms_norm_eps);
        matmul_forward(q, ln1, p.wq + (size_t)l * QD * C, p.bq + (size_t)l * QD, BT, C, QD);
        matmul_forward(k, ln1, p.wk + (size_t)l * KVD * C, p.bk + (size_t)l * KVD, BT, C, KVD);
        matmul_forward(v, ln1, p.wv + (size_t)l * KVD * C, p.bv + (size_t)l * KVD, BT, C, KVD);
        rope_forward(q, cosines, sines, BT, NH, HD);
        rope_forward(k, cosines, sines, BT, NKV, HD);
        attention_forward(atty, att, q, k, v, m->doc_start, B, T, NH, NKV, HD);
        matmul_forward(res2, atty, p.wo + (size_t)l * C * QD, NULL, BT, QD, C);
        residual_forward(res2, res2, residual, (size_t)BT * C);
        // MLP block: res3 = res2 + down_proj(silu(gate_proj(x)) * up_proj(x)), x = norm(res2)
        rmsnorm_forward(ln2, a.ln2_rstd + (size_t)l * BT, res2, p.ln2 + (size_t)l * C, BT, C, c->rms_norm_eps);
        matmul_forward(a.gate + bi, ln2, p.wgate + (size_t)l * I * C, NULL, BT, C, I);
        matmul_forward(a.up + bi, ln2, p.wup + (size_t)l * I * C, NULL, BT, C, I);
        swiglu_forward(a.swiglu + bi, a.gate + bi, a.up + bi, (size_t)BT * I);
        matmul_forward(res3, a.swiglu + bi, p.wdown + (size_t)l * C * I, NULL, BT, I, C);
        residual_forward(res3, res3, res2, (size_t)BT * C);
    }
    float* last = a.res3 + (size_t)(L - 1) * BT * C; // (B, T, C)
    rmsnorm_forward(a.lnf, a.lnf_rstd, last, p.norm, BT, C, c->rms_norm_eps);
    matmul_forward(a.logits, a.lnf, p.lm_head, NULL, BT, C, V);

    if (labels == NULL) {
        m->loss = -1.0f;
        m->num_targets = 0;
        return;
    }
    // the shift: position t is scored on labels[t + 1]; the last position of a row predicts nothing
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) {
            m->targets[b * T + t] = t + 1 < T ? labels[b * T + t + 1] : IGNORE_INDEX;
        }
    }
    logprobs_forward(a.logprobs, a.lse, a.logits, m->targets, BT, V);
    double sum = 0.0;
    int n = 0;
    for (int i = 0; i < BT; i++) {
        if (m->targets[i] != IGNORE_INDEX) {
            sum -= a.logprobs[i];
            n++;
        }
    }
    // transformers returns NaN (0/0) when every label is -100; we return 0 so a training loop survives
    m->num_targets = n;
    m->loss = n > 0 ? (float)(sum / n) : 0.0f;
}

static void qwen2_zero_grad(Qwen2* m) {
    if (m->grads_memory) {
        memset(m->grads_memory, 0, m->num_parameters * sizeof(float));
    }
}

// The gradient of the loss with respect to the logits of the last forward pass, (B, T, V): the
// buffer a loss writes into before qwen2_backward_from_dlogits (allocated here on first use, with
// the parameter gradients).
static float* qwen2_dlogits(Qwen2* m) {
    const Qwen2Config* c = &m->config;
    if (m->acts_memory == NULL || m->B == 0) {
        fatal("qwen2_backward: call qwen2_forward first");
    }
    if (m->grads_memory == NULL) {
        m->grads_memory = param_point(c, &m->grads, NULL); // zeroed
    }
    size_t need = qwen2_point_grad_acts(c, &m->grad_acts, NULL, (size_t)m->B * m->T, m->T);
    if (need > m->grad_acts_size) {
        free(m->grad_acts_memory);
        m->grad_acts_memory = (float*)malloc_check(need * sizeof(float));
        m->grad_acts_size = need;
    }
    qwen2_point_grad_acts(c, &m->grad_acts, m->grad_acts_memory, (size_t)m->B * m->T, m->T);
    return m->grad_acts.dlogits;
}

// The backward pass, from the gradient of the logits in qwen2_dlogits(m) down to the embedding.
// Gradients are added (+=) into m->grads.
static void qwen2_backward_from_dlogits(Qwen2* m) {
    Qwen2Config* c = &m->config;
    int B = m->B, T = m->T, BT = B * T;
    int L = c->num_layers, C = c->hidden_size, I = c->intermediate_size, V = c->vocab_size;
    int NH = c->num_heads, NKV = c->num_kv_heads, HD = c->head_dim;
    int QD = NH * HD, KVD = NKV * HD;
    qwen2_dlogits(m); // makes sure the buffers exist
    ParameterTensors p = m->params, g = m->grads;
    ActivationTensors a = m->acts;
    GradActTensors d = m->grad_acts;
    float* cosines = a.rope;
    float* sines = a.rope + (size_t)BT * (HD / 2);

    // LM head and final norm
    memset(d.dln, 0, (size_t)BT * C * sizeof(float));
    matmul_backward(d.dln, g.lm_head, NULL, d.dlogits, a.lnf, p.lm_head, BT, C, V); // tied: g.lm_head == g.embed
    memset(d.dres, 0, (size_t)BT * C * sizeof(float));
    rmsnorm_backward(d.dres, g.norm, d.dln, a.res3 + (size_t)(L - 1) * BT * C, p.norm, a.lnf_rstd, BT, C);

    for (int l = L - 1; l >= 0; l--) {
        size_t bc = (size_t)l * BT * C, bq = (size_t)l * BT * QD, bk = (size_t)l * BT * KVD;
        size_t bi = (size_t)l * BT * I;
        float* residual = l == 0 ? a.encoded : a.res3 + bc - (size_t)BT * C; // (B, T, C)
        // MLP block. d.dres is the gradient of res3; the skip connection passes it to res2 as is,
        // and the MLP branch adds its share through rmsnorm_backward's +=.
        memset(d.dswiglu, 0, (size_t)BT * I * sizeof(float));
        matmul_backward(d.dswiglu, g.wdown + (size_t)l * C * I, NULL, d.dres, a.swiglu + bi, p.wdown + (size_t)l * C * I,
                        BT, I, C);
        swiglu_backward(d.dgate, d.dup, d.dswiglu, a.gate + bi, a.up + bi, (size_t)BT * I);
        memset(d.dln, 0, (size_t)BT * C * sizeof(float));
        matmul_backward(d.dln, g.wgate + (size_t)l * I * C, NULL, d.dgate, a.ln2 + bc, p.wgate + (size_t)l * I * C, BT, C, I);
        matmul_backward(d.dln, g.wup + (size_t)l * I * C, NULL, d.dup, a.ln2 + bc, p.wup + (size_t)l * I * C, BT, C, I);
        rmsnorm_backward(d.dres, g.ln2 + (size_t)l * C, d.dln, a.res2 + bc, p.ln2 + (size_t)l * C,
                         a.ln2_rstd + (size_t)l * BT, BT, C);
        // attention block: d.dres is now the gradient of res2
        memset(d.datty, 0, (size_t)BT * QD * sizeof(float));
        matmul_backward(d.datty, g.wo + (size_t)l * C * QD, NULL, d.dres, a.atty + bq, p.wo + (size_t)l * C * QD, BT, QD, C);
        attention_backward(d.dq, d.dk, d.dv, d.datt, d.datty, a.q + bq, a.k + bk, a.v + bk,
                           a.att + (size_t)l * BT * NH * T, m->doc_start, B, T, NH, NKV, HD);
        rope_backward(d.dq, cosines, sines, BT, NH, HD);
        rope_backward(d.dk, cosines, sines, BT, NKV, HD);
        memset(d.dln, 0, (size_t)BT * C * sizeof(float));
        matmul_backward(d.dln, g.wq + (size_t)l * QD * C, g.bq + (size_t)l * QD, d.dq, a.ln1 + bc, p.wq + (size_t)l * QD * C,
                        BT, C, QD);
        matmul_backward(d.dln, g.wk + (size_t)l * KVD * C, g.bk + (size_t)l * KVD, d.dk, a.ln1 + bc,
                        p.wk + (size_t)l * KVD * C, BT, C, KVD);
        matmul_backward(d.dln, g.wv + (size_t)l * KVD * C, g.bv + (size_t)l * KVD, d.dv, a.ln1 + bc,
                        p.wv + (size_t)l * KVD * C, BT, C, KVD);
        rmsnorm_backward(d.dres, g.ln1 + (size_t)l * C, d.dln, residual, p.ln1 + (size_t)l * C,
                         a.ln1_rstd + (size_t)l * BT, BT, C);
    }
    embedding_backward(g.embed, d.dres, m->inputs, BT, C);
}

// Backward from any gradient of the per-token log-probs of the last forward pass with labels
// (dlogprobs, (B, T)): the mean cross-entropy uses -1/n on each counted token (qwen2_backward); a
// trainer may pass its own per-token weights. Gradients are added (+=) into m->grads.
static void qwen2_backward_logprobs(Qwen2* m, const float* dlogprobs) {
    if (m->loss < 0.0f) {
        fatal("qwen2_backward: the last qwen2_forward had no labels, so there is no loss to differentiate");
    }
    float* dlogits = qwen2_dlogits(m);
    logprobs_backward(dlogits, dlogprobs, m->acts.logits, m->acts.lse, m->targets, m->B * m->T, m->config.vocab_size);
    qwen2_backward_from_dlogits(m);
}

// Backward of the mean cross-entropy loss computed by the last qwen2_forward with labels.
static void qwen2_backward(Qwen2* m) {
    int BT = m->B * m->T;
    if (m->loss < 0.0f) {
        fatal("qwen2_backward: the last qwen2_forward had no labels, so there is no loss to differentiate");
    }
    for (int i = 0; i < BT; i++) {
        m->dlogprobs[i] = m->targets[i] != IGNORE_INDEX ? -1.0f / m->num_targets : 0.0f;
    }
    qwen2_backward_logprobs(m, m->dlogprobs);
}

// ----------------------------------------------------------------------------
// sampling
// Turning the logits of the last position into the next token, the way Hugging Face `generate`
// does with do_sample=True: repetition penalty first, then temperature, top-k and top-p, then a
// draw from the softmax. Each step is its own function working in place on one row of V logits;
// a removed token gets -INFINITY, so its probability is exactly 0 after the softmax.

typedef struct {
    float temperature;        // 1: unchanged; 0: greedy (argmax)
    int top_k;                // 0: off
    float top_p;              // 1: off
    float repetition_penalty; // 1: off
} SamplingConfig;

// CTRL's repetition penalty (HF RepetitionPenaltyLogitsProcessor): every token id that occurs in the
// context (prompt and generated so far) has its logit divided by the penalty when positive and
// multiplied by it when negative, once, however often it occurs. `seen` is V bytes of scratch.
static void repetition_penalty_forward(float* logits, int V, const int* context, int n, float penalty,
                                       unsigned char* seen) {
    if (penalty == 1.0f) {
        return;
    }
    memset(seen, 0, (size_t)V);
    for (int i = 0; i < n; i++) {
        int id = context[i];
        if (id < 0 || id >= V || seen[id]) {
            continue;
        }
        seen[id] = 1;
        logits[id] = logits[id] < 0 ? logits[id] * penalty : logits[id] / penalty;
    }
}

static void temperature_forward(float* logits, int V, float temperature) {
    for (int i = 0; i < V; i++) {
        logits[i] /= temperature;
    }
}

// Keeps the k largest logits (and any tied with the k-th, as HF's `scores < kth` does). The k-th
// largest value is found with a min-heap of size k, O(V log k), instead of sorting all V logits.
static void sample_top_k(float* logits, int V, int k, float* heap) {
    if (k <= 0 || k >= V) {
        return;
    }
    int n = 0; // heap[0] is the smallest of the k largest seen so far
    for (int i = 0; i < V; i++) {
        float x = logits[i];
        if (n < k) { // sift up
            int c = n++;
            while (c > 0 && heap[(c - 1) / 2] > x) {
                heap[c] = heap[(c - 1) / 2];
                c = (c - 1) / 2;
            }
            heap[c] = x;
        } else if (x > heap[0]) { // replace the root, sift down
            int c = 0;
            for (;;) {
                int l = 2 * c + 1, r = l + 1, m = c;
                float mv = x;
                if (l < k && heap[l] < mv) {
                    m = l, mv = heap[l];
                }
                if (r < k && heap[r] < mv) {
                    m = r;
                }
                if (m == c) {
                    break;
                }
                heap[c] = heap[m];
                c = m;
            }
            heap[c] = x;
        }
    }
    float kth = heap[0];
    for (int i = 0; i < V; i++) {
        if (logits[i] < kth) {
            logits[i] = -INFINITY;
        }
    }
}

// Softmax of one row in place (max subtracted first so exp never overflows; sums in double).
static void softmax_row(float* x, int V) {
    float max = -INFINITY;
    for (int i = 0; i < V; i++) {
        max = x[i] > max ? x[i] : max;
    }
    double sum = 0.0;
    for (int i = 0; i < V; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    for (int i = 0; i < V; i++) {
        x[i] = (float)(x[i] / sum);
    }
}

typedef struct {
    float prob;
    int index;
} ProbIndex;

static int compare_prob_desc(const void* a, const void* b) {
    float pa = ((const ProbIndex*)a)->prob, pb = ((const ProbIndex*)b)->prob;
    return (pa < pb) - (pa > pb);
}

// Nucleus sampling's filter (HF TopPLogitsWarper): a token survives when the probability mass of the
// tokens ranked strictly above it is below p, so the smallest set of top tokens reaching mass p is
// kept (the top token always). Tokens with probability under (1 - p) / (V - 1) can never be in that
// set (all of them together hold less than 1 - p), so only the others are sorted (as llama2.c does).
static void sample_top_p(float* logits, int V, float p, float* probs, ProbIndex* scratch) {
    if (p >= 1.0f) {
        return;
    }
    memcpy(probs, logits, (size_t)V * sizeof(float));
    softmax_row(probs, V);
    float cutoff = (1.0f - p) / (float)(V - 1);
    int n = 0;
    for (int i = 0; i < V; i++) {
        if (probs[i] >= cutoff) {
            scratch[n].prob = probs[i];
            scratch[n].index = i;
            n++;
        } else {
            logits[i] = -INFINITY;
        }
    }
    qsort(scratch, (size_t)n, sizeof(ProbIndex), compare_prob_desc);
    float above = 0.0f; // mass of the tokens ranked above the current one
    for (int j = 0; j < n; j++) {
        if (j > 0 && above >= p) {
            logits[scratch[j].index] = -INFINITY;
        }
        above += scratch[j].prob;
    }
}

static int argmax(const float* x, int V) {
    int best = 0;
    for (int i = 1; i < V; i++) {
        if (x[i] > x[best]) {
            best = i;
        }
    }
    return best;
}

// Draws an index from probabilities that sum to 1, given a coin in [0, 1).
static int sample_mult(const float* probs, int V, float coin) {
    float cdf = 0.0f;
    int last = 0;
    for (int i = 0; i < V; i++) {
        if (probs[i] > 0.0f) {
            cdf += probs[i];
            last = i;
            if (coin < cdf) {
                return i;
            }
        }
    }
    return last; // rounding: the coin fell past the last cdf value
}

// Scratch memory for sample_token, sized for a vocabulary of V.
typedef struct {
    int V;
    float* logits;       // (V) the processed logits
    float* heap;         // (V) top-k heap; top-p probabilities
    ProbIndex* sorted;   // (V) top-p candidates
    unsigned char* seen; // (V) repetition penalty marks
} Sampler;

static void sampler_init(Sampler* s, int V) {
    s->V = V;
    s->logits = (float*)malloc_check((size_t)V * sizeof(float));
    s->heap = (float*)malloc_check((size_t)V * sizeof(float));
    s->sorted = (ProbIndex*)malloc_check((size_t)V * sizeof(ProbIndex));
    s->seen = (unsigned char*)malloc_check((size_t)V);
}

static void sampler_free(Sampler* s) {
    free(s->logits);
    free(s->heap);
    free(s->sorted);
    free(s->seen);
}

// Applies the whole HF chain to a copy of `logits` (left in s->logits as probabilities) and draws
// the next token. *logprob gets log_softmax(logits / T)[token] of the raw logits: the log-prob that
// GRPO's trainer computes when it rescores the same token (grpo.md §1), not the log-prob under the
// filtered distribution, so rollout and trainer log-probs agree.
static int sample_token(Sampler* s, const float* logits, const SamplingConfig* cfg, const int* context,
                        int n_context, uint64_t* rng, float* logprob) {
    int V = s->V;
    float* x = s->logits;
    memcpy(x, logits, (size_t)V * sizeof(float));
    repetition_penalty_forward(x, V, context, n_context, cfg->repetition_penalty, s->seen);
    int token;
    if (cfg->temperature <= 0.0f) {
        token = argmax(x, V);
    } else {
        temperature_forward(x, V, cfg->temperature);
        sample_top_k(x, V, cfg->top_k, s->heap);
        sample_top_p(x, V, cfg->top_p, s->heap, s->sorted);
        softmax_row(x, V);
        token = sample_mult(x, V, random_f32(rng));
    }
    if (logprob) { // log_softmax(logits / T)[token] of the raw logits, in double for accuracy
        double t = cfg->temperature > 0.0f ? cfg->temperature : 1.0, max = -INFINITY, sum = 0.0;
        for (int i = 0; i < V; i++) {
            max = logits[i] / t > max ? logits[i] / t : max;
        }
        for (int i = 0; i < V; i++) {
            sum += exp(logits[i] / t - max);
        }
        *logprob = (float)(logits[token] / t - max - log(sum));
    }
    return token;
}


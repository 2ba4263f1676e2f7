// @@REWARDS@@

// ----------------------------------------------------------------------------
// GRPO: group advantages
// Each prompt gets G completions; a completion's advantage is how much better its reward is than
// its group's mean, usually divided by the group's spread. The std is the unbiased one (N - 1), as
// torch.std computes it in TRL and verl, and eps is added to the std, not put inside the sqrt:
// TRL uses eps = 1e-4, verl/TinyZero 1e-6. Scaling modes (TRL's `scale_rewards`):
//   GROUP  A = (r - mean_g) / (std_g + eps)    DeepSeekMath, TRL "group", verl default
//   BATCH  A = (r - mean_g) / (std_all + eps)  TRL "batch": group mean, std of the whole batch
//   NONE   A = r - mean_g                      Dr. GRPO (no difficulty bias), verl norm_adv_by_std=False
// A group of one completion has no spread: like verl we take mean 0 and std 1 (A = r / (1 + eps)).
// An all-equal group gets A = 0 everywhere: eps keeps it from being 0/0.

typedef enum { GRPO_SCALE_GROUP, GRPO_SCALE_BATCH, GRPO_SCALE_NONE } GrpoScale;

// Unbiased standard deviation of n values (0 when n < 2), in double.
static double grpo_std(const float* x, size_t n) {
    if (n < 2) {
        return 0.0;
    }
    double mean = 0, ss = 0;
    for (size_t i = 0; i < n; i++) {
        mean += x[i];
    }
    mean /= (double)n;
    for (size_t i = 0; i < n; i++) {
        ss += ((double)x[i] - mean) * ((double)x[i] - mean);
    }
    return sqrt(ss / (double)(n - 1));
}

// rewards and adv are (n_groups, G): the G completions of one prompt are consecutive.
static void grpo_advantages(float* adv, const float* rewards, int n_groups, int G, GrpoScale scale, float eps) {
    double batch_std = grpo_std(rewards, (size_t)n_groups * G);
    for (int g = 0; g < n_groups; g++) {
        const float* r = rewards + (size_t)g * G;
        double mean = 0, std = 1.0; // the values verl gives a group of one
        if (G > 1) {
            for (int i = 0; i < G; i++) {
                mean += r[i];
            }
            mean /= G;
            std = grpo_std(r, (size_t)G);
        }
        double denom = scale == GRPO_SCALE_GROUP ? std + eps : scale == GRPO_SCALE_BATCH ? batch_std + eps : 1.0;
        for (int i = 0; i < G; i++) {
            adv[(size_t)g * G + i] = (float)(((double)r[i] - mean) / denom);
        }
    }
}

// ----------------------------------------------------------------------------
// GRPO: loss aggregation weights
// The loss is one sum over tokens, L = sum_{i,t} w_{i,t} m_{i,t} l_{i,t}; the variants of GRPO differ
// only in the weight w (grpo.md §1). B is the number of completions in this micro-batch, |o_i| the
// number of unmasked tokens of completion i, GA the gradient-accumulation steps:
//   GRPO     1 / (B |o_i|) / GA   DeepSeekMath; TRL "grpo"; verl "seq-mean-token-mean". Each completion
//                                 counts equally however long it is, which biases toward short right
//                                 answers and long wrong ones (the Dr. GRPO paper's length bias).
//   BNPO     1 / sum(m) / GA      TRL "bnpo": a token mean over the micro-batch
//   DR_GRPO  1 / (B Lmax) / GA    TRL "dr_grpo", verl "seq-mean-token-sum-norm" (Lmax = max length)
//   DAPO     1 / N_window         TRL "dapo" (its default since v0.22), verl "token-mean": a token
//                                 mean over the whole accumulation window (N_window tokens), so every
//                                 token of the optimizer step weighs the same.
// Parity notes: an empty completion counts as length 1 in GRPO, as TRL's clamp(min=1) (verl drops
// empty completions from B instead); global_tokens <= 0 for DAPO means "this micro-batch only".

typedef enum { GRPO_AGG_GRPO, GRPO_AGG_BNPO, GRPO_AGG_DR_GRPO, GRPO_AGG_DAPO } GrpoAgg;

// w and mask are (B, T); mask is 1 on completion tokens up to and including the first EOS.
static void grpo_token_weights(float* w, const float* mask, int B, int T, GrpoAgg agg, int max_len,
                               double global_tokens, int grad_accum) {
    double total = 0;
    for (size_t i = 0; i < (size_t)B * T; i++) {
        total += mask[i];
    }
    double ga = grad_accum > 0 ? grad_accum : 1;
    for (int b = 0; b < B; b++) {
        const float* m = mask + (size_t)b * T;
        double len = 0;
        for (int t = 0; t < T; t++) {
            len += m[t];
        }
        double scale;
        if (agg == GRPO_AGG_GRPO) {
            scale = 1.0 / ((double)B * (len > 1 ? len : 1)) / ga;
        } else if (agg == GRPO_AGG_BNPO) {
            scale = 1.0 / (total > 1 ? total : 1) / ga;
        } else if (agg == GRPO_AGG_DR_GRPO) {
            scale = 1.0 / ((double)B * max_len) / ga;
        } else {
            double n = global_tokens > 0 ? global_tokens : total;
            scale = 1.0 / (n > 1 ? n : 1);
        }
        for (int t = 0; t < T; t++) {
            w[(size_t)b * T + t] = (float)(scale * m[t]);
        }
    }
}

// ----------------------------------------------------------------------------
// GRPO: the loss and its gradient with respect to the logits
// Per token (grpo.md §1), with logp = log_softmax(u / Temp)[y] for raw logits u and sampled token y:
//   rho = exp(logp - logp_old)                      the importance ratio
//   pg  = -min(rho A, clip(rho, 1 - eps_low, 1 + eps_high) A)     PPO's clipped surrogate
//   kl  = k1: logp - logr,  k2: (logp - logr)^2 / 2,  k3: exp(logr - logp) - (logr - logp) - 1
//   l   = pg + beta kl,    and the loss  L = sum_t w_t l_t  -  c sum_t we_t H_t
// where H_t is the entropy of the token's distribution (an exploration bonus, weight c) and w, we
// are the aggregation weights above (TRL token-means the entropy: we = BNPO weights; verl uses the
// loss's own aggregation: we = w).
// The whole model only sees L through logp and H, so we skip autograd and write dL/du directly:
// it is cross-entropy's backward, p - onehot(y), scaled by a per-token factor g = dl/dlogp:
//   g = (clipped ? 0 : -A rho) + beta dkl/dlogp,   dk1 = 1, dk2 = logp - logr, dk3 = 1 - exp(logr - logp)
//   dL/du_v = [ w g (1[v==y] - p_v)  +  c we p_v (log p_v + H) ] / Temp
// The "/ Temp" is the chain rule through u / Temp: the sampler drew y from softmax(u / Temp), so the
// loss must score it at the same temperature (TRL since PR #3029, verl's logits.div_(temperature)).
// "clipped" means min() picked the constant clipped branch, which has no gradient:
//   A > 0 and rho > 1 + eps_high (already made more likely enough), or A < 0 and rho < 1 - eps_low.
// With num_iterations = 1 the trainer never has an older policy: old = logp.detach(), so rho = 1 in
// value but not in gradient (d rho / d logp = rho = 1). Pass old_logp = NULL for that: nothing clips,
// g = -A + beta dkl, and the loss value is only the KL term (plus a token-level remainder), which is
// why GRPO's logged loss sits near 0 while the model learns (open-r1 #239, TRL #2703).
// verl options: dual clip (if A < 0 the loss is capped at -A c, c = clip_ratio_c = 3, so a token
// with a huge ratio cannot blow up the step); its clamps (log-ratio and logr - logp to [-20, 20],
// k3 to at most 10, with zero gradient where clamped); "k3+" (the k3 value, the k2 gradient).

typedef enum { GRPO_KL_K1, GRPO_KL_K2, GRPO_KL_K3 } GrpoKl;

typedef struct {
    float temperature;  // the sampling temperature: logits are divided by it (1 = none)
    float eps_low;      // clip range below 1 (0.2)
    float eps_high;     // clip range above 1 (0.2; DAPO's clip-higher uses 0.28)
    float dual_clip;    // verl clip_ratio_c (3.0); 0 turns it off (TRL has none)
    float beta;         // KL coefficient (0 = no reference model needed)
    GrpoKl kl_type;     // TRL always uses k3 (verl "low_var_kl")
    int kl_k2_grad;     // verl "k1+"/"k3+": value of kl_type, gradient of k2
    int verl_clamps;    // clamp as verl does (see above); TRL does not clamp
    float entropy_coef; // c: the entropy bonus (TinyZero/simpleRL 0.001; 0 = off)
} GrpoConfig;

static GrpoConfig grpo_config_default(void) { // TRL's GRPOConfig defaults (v0.19 and later)
    GrpoConfig c = {1.0f, 0.2f, 0.2f, 0.0f, 0.0f, GRPO_KL_K3, 0, 0, 0.0f};
    return c;
}

// Statistics to log, summed over the unmasked tokens seen (divide by `tokens` for means).
// Zero it once per step; grpo_loss_backward adds to it.
typedef struct {
    double tokens;    // unmasked tokens
    double kl;        // sum of the KL estimate (kl_type)
    double entropy;   // sum of H
    double ratio;     // sum of rho
    double clip_low;  // tokens clipped at 1 - eps_low (A < 0), TRL "clip_ratio/low_mean"
    double clip_high; // tokens clipped at 1 + eps_high (A > 0), TRL "clip_ratio/high_mean"
    double clip_dual; // tokens capped by the dual clip (verl "pg_clipfrac_lower")
} GrpoStats;

// dl/dlogp of the KL term, and its value in *kl (clamped as verl when asked).
static double grpo_kl(double logp, double logr, const GrpoConfig* cfg, double* kl) {
    double d = logp - logr, grad;
    if (cfg->kl_type == GRPO_KL_K1) {
        *kl = d, grad = 1.0;
    } else if (cfg->kl_type == GRPO_KL_K2) {
        *kl = 0.5 * d * d, grad = d;
    } else {
        double x = logr - logp, dx = -1.0; // dx = dx/dlogp
        if (cfg->verl_clamps && (x > 20.0 || x < -20.0)) {
            x = x > 0 ? 20.0 : -20.0, dx = 0.0;
        }
        *kl = exp(x) - x - 1.0, grad = (exp(x) - 1.0) * dx;
        if (cfg->verl_clamps && *kl > 10.0) {
            *kl = 10.0, grad = 0.0;
        }
    }
    return cfg->kl_k2_grad ? d : grad; // straight-through: the k2 gradient under any value
}

// dl/dlogp of the clipped surrogate for one token, its value in *pg; counts clipping in stats.
static double grpo_pg(double logp, double old_logp, int has_old, double A, const GrpoConfig* cfg, double* pg,
                      GrpoStats* st) {
    double lr = has_old ? logp - old_logp : 0.0, drho = 1.0; // drho = (d rho / d logp) / rho
    if (cfg->verl_clamps && (lr > 20.0 || lr < -20.0)) {
        lr = lr > 0 ? 20.0 : -20.0, drho = 0.0;
    }
    double rho = exp(lr);
    double lo = 1.0 - cfg->eps_low, hi = 1.0 + cfg->eps_high;
    double rho_clip = rho < lo ? lo : rho > hi ? hi : rho;
    st->ratio += rho;
    if ((A > 0 && rho > hi) || (A < 0 && rho < lo)) { // min() takes the constant clipped branch
        st->clip_high += A > 0, st->clip_low += A < 0;
        *pg = -rho_clip * A;
        return 0.0;
    }
    if (A < 0 && cfg->dual_clip > 0 && rho > cfg->dual_clip) { // verl's cap at -A c
        st->clip_dual += 1;
        *pg = -A * cfg->dual_clip;
        return 0.0;
    }
    *pg = -rho * A;
    return -A * rho * drho;
}

// One token: fills dlogit (V) and returns this token's share of the loss, w l - c we H.
// logit (V) is the raw row; y the sampled token; old_logp is ignored when has_old is 0.
static double grpo_token_backward(float* dlogit, const float* logit, int y, float old_logp, int has_old,
                                  float ref_logp, float A, float w, float we, int V, const GrpoConfig* cfg,
                                  GrpoStats* st) {
    if (w == 0.0f && we == 0.0f) { // masked: no loss, no gradient
        memset(dlogit, 0, (size_t)V * sizeof(float));
        return 0.0;
    }
    // softmax of u / Temp in double sums; p is kept in dlogit until the end
    double inv_t = 1.0 / cfg->temperature, maxz = -INFINITY, sum = 0.0, pz = 0.0;
    for (int v = 0; v < V; v++) {
        double z = logit[v] * inv_t;
        maxz = z > maxz ? z : maxz;
    }
    for (int v = 0; v < V; v++) {
        sum += exp(logit[v] * inv_t - maxz);
    }
    double lse = maxz + log(sum);
    for (int v = 0; v < V; v++) {
        double p = exp(logit[v] * inv_t - lse);
        dlogit[v] = (float)p;
        pz += p * logit[v] * inv_t;
    }
    double logp = logit[y] * inv_t - lse;
    double H = lse - pz; // -sum p log p = sum p (lse - z)
    double pg, kl = 0.0, g = grpo_pg(logp, old_logp, has_old, A, cfg, &pg, st);
    if (cfg->beta != 0.0f) {
        g += cfg->beta * grpo_kl(logp, ref_logp, cfg, &kl);
    }
    st->tokens += 1, st->kl += kl, st->entropy += H;
    // dL/du_v = [w g (1[v==y] - p_v) + c we p_v (log p_v + H)] / Temp
    double a = w * g, c = (double)cfg->entropy_coef * we;
    for (int v = 0; v < V; v++) {
        double p = dlogit[v], logpv = logit[v] * inv_t - lse;
        dlogit[v] = (float)((a * ((v == y) - p) + c * p * (logpv + H)) * inv_t);
    }
    return w * (pg + cfg->beta * kl) - c * H;
}

// N rows at a time (a chunk of the (B*T, V) logits, never all of them at once for a real vocabulary).
// dlogits, logits: (N, V). tokens, old_logp, ref_logp, adv, weight, ent_weight: (N). old_logp NULL
// means num_iterations = 1 (old = current, detached); ref_logp may be NULL when beta = 0; adv is the
// completion's advantage copied to each of its tokens; weight = w m from grpo_token_weights;
// ent_weight NULL means "= weight". Writes the chunk's loss to *loss_out and adds to *stats.
static void grpo_loss_backward(float* dlogits, float* loss_out, const float* logits, const int* tokens,
                               const float* old_logp, const float* ref_logp, const float* adv, const float* weight,
                               const float* ent_weight, int N, int V, const GrpoConfig* cfg, GrpoStats* stats) {
    if (cfg->beta != 0.0f && ref_logp == NULL) {
        fatal("grpo_loss_backward: beta = %g needs the reference model's log-probs (ref_logp is NULL)", cfg->beta);
    }
    double loss = 0.0;
    for (int i = 0; i < N; i++) {
        size_t row = (size_t)i * V;
        loss += grpo_token_backward(dlogits + row, logits + row, tokens[i], old_logp ? old_logp[i] : 0.0f,
                                    old_logp != NULL, ref_logp ? ref_logp[i] : 0.0f, adv[i], weight[i],
                                    ent_weight ? ent_weight[i] : weight[i], V, cfg, stats);
    }
    *loss_out = (float)loss;
}

// ----------------------------------------------------------------------------
// optimizer: gradient clipping, AdamW, learning-rate schedules
// One training update, as the Hugging Face Trainer (and so TRL's SFT and GRPO trainers) takes it:
//   1. norm = the global L2 norm of all gradients; if the loss or the norm is not finite, skip the
//      update altogether (the Trainer would write NaN into every weight; we count the skip instead)
//   2. clip: scale every gradient by min(1, max_norm / (norm + 1e-6))      (clip_grad_norm_)
//   3. lr  = the schedule's value for this update                           (transformers schedules)
//   4. AdamW with decoupled weight decay, only on the matrices              (torch.optim.AdamW)
// Each step is written to give the same numbers as the PyTorch code it names; tests/test_optim.c
// checks them against fixtures made by dev/oracle/optim_oracle.py from torch and transformers.

// The L2 norm of n gradients, accumulated in double. Why double: a float sum of a billion squares
// stops growing once the sum is 2^24 times bigger than a term (every further term rounds away), and
// a double sum also makes the result nearly independent of how OpenMP splits the loop.
static float grad_norm(const float* g, size_t n) {
    double sum = 0.0;
#pragma omp parallel for reduction(+ : sum)
    for (size_t i = 0; i < n; i++) {
        sum += (double)g[i] * (double)g[i];
    }
    return (float)sqrt(sum);
}

// Global-norm clipping as torch.nn.utils.clip_grad_norm_: coef = max_norm / (norm + 1e-6), clamped
// to 1, so gradients are only ever scaled down. Returns the norm *before* clipping (what the Trainer
// logs as grad_norm). A non-finite norm leaves g untouched: the caller must skip this update.
static float clip_grad_norm(float* g, size_t n, float max_norm) {
    float norm = grad_norm(g, n);
    if (!isfinite(norm) || max_norm <= 0.0f) {
        return norm;
    }
    float coef = max_norm / (norm + 1e-6f);
    if (coef < 1.0f) {
#pragma omp parallel for
        for (size_t i = 0; i < n; i++) {
            g[i] *= coef;
        }
    }
    return norm;
}

// The non-finite guard: returns 1 when the update may be applied, 0 when it must be skipped because
// the loss or the gradient norm is NaN or infinite. Keeps *consecutive_skips up to date so the
// training loop can stop after too many bad steps in a row (a diverged run, not a one-off spike).
static int update_is_finite(float loss, float norm, int* consecutive_skips) {
    int ok = isfinite(loss) && isfinite(norm);
    if (consecutive_skips) {
        *consecutive_skips = ok ? 0 : *consecutive_skips + 1;
    }
    return ok;
}

// ----------------------------------------------------------------------------
// AdamW
// Written in the order of torch.optim.AdamW's for-loop implementation (torch/optim/adam.py,
// _single_tensor_adam with decoupled_weight_decay=True), so the float rounding matches too:
//   p  = p * (1 - lr * wd)                 decay first, on the old weights ("decoupled": not via g)
//   m  = m + (1 - beta1) * (g - m)         torch's lerp_ (the same as beta1 * m + (1 - beta1) * g)
//   v  = v * beta2 + (1 - beta2) * g * g
//   p  = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// t is the 1-based count of updates applied so far, this one included. eps sits outside the square
// root and is added after the bias correction, as torch does (some papers put it elsewhere).

typedef struct {
    float beta1, beta2, eps; // Trainer defaults 0.9, 0.999, 1e-8 (TRL GRPO recipes often use 0.9, 0.99)
    float weight_decay;      // Trainer default 0.0; applied to matrices only (see param_decays)
} AdamWConfig;

static AdamWConfig adamw_config_default(void) {
    AdamWConfig c = {0.9f, 0.999f, 1e-8f, 0.0f};
    return c;
}

// One AdamW update of n parameters (one tensor, or any slice of the flat buffer). The CUDA kernel
// adamw_update_kernel takes the same arguments.
static void adamw_update(float* params, const float* grads, float* m, float* v, size_t n, int t, float lr,
                         float beta1, float beta2, float eps, float weight_decay) {
    // scalars in double, as Python computes them, then rounded once to float
    float decay = (float)(1.0 - (double)lr * weight_decay);
    float step_size = (float)((double)lr / (1.0 - pow(beta1, t)));
    float bc2_sqrt = (float)sqrt(1.0 - pow(beta2, t));
    float w1 = (float)(1.0 - (double)beta1), w2 = (float)(1.0 - (double)beta2);
#pragma omp parallel for
    for (size_t i = 0; i < n; i++) {
        float g = grads[i];
        float p = weight_decay != 0.0f ? params[i] * decay : params[i];
        m[i] = m[i] + w1 * (g - m[i]);
        v[i] = v[i] * beta2 + w2 * g * g;
        float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        params[i] = p + (-step_size) * (m[i] / denom);
    }
}

// Which parameters get weight decay, decided from the Hugging Face name exactly as
// Trainer.get_decay_parameter_names decides it: no decay when the lower-cased name contains "bias",
// "layernorm" or "rmsnorm", has a dotted component "norm", or has "_norm" ending a component.
// For Qwen2 that leaves every matrix decayed, the embedding and an untied lm_head included, and the
// q/k/v biases, input_layernorm, post_attention_layernorm and model.norm undecayed: the same split
// as PARAM_MATRIX versus PARAM_BIAS / PARAM_NORM in PARAM_SPECS.
static int param_decays(const char* hf_name) {
    char low[256];
    size_t n = strlen(hf_name);
    if (n >= sizeof(low)) {
        n = sizeof(low) - 1;
    }
    for (size_t i = 0; i < n; i++) {
        low[i] = (char)tolower((unsigned char)hf_name[i]);
    }
    low[n] = '\0';
    if (strstr(low, "bias") || strstr(low, "layernorm") || strstr(low, "rmsnorm")) {
        return 0;
    }
    for (const char* s = low; (s = strstr(s, "norm")) != NULL; s += 4) {
        int starts = s == low || s[-1] == '.' || s[-1] == '_';
        int ends = s[4] == '\0' || s[4] == '.';
        if (starts && ends) { // ".norm." / "^norm" / "norm$" / "_norm." / "_norm$"
            return 0;
        }
    }
    return 1;
}

// AdamW over a whole model's flat buffers (params, grads, m, v all laid out as param_point lays
// them out): one adamw_update per tensor, with weight decay only where param_decays says so.
static void adamw_update_model(const Qwen2Config* c, float* params, const float* grads, float* m, float* v, int t,
                               float lr, const AdamWConfig* cfg) {
    size_t sizes[NUM_PARAM_TENSORS + 1], at = 0;
    param_sizes(c, sizes);
    for (int i = 0; i <= NUM_PARAM_TENSORS; i++) {
        float wd = param_decays(PARAM_SPECS[i].hf_name) ? cfg->weight_decay : 0.0f;
        adamw_update(params + at, grads + at, m + at, v + at, sizes[i], t, lr, cfg->beta1, cfg->beta2, cfg->eps, wd);
        at += sizes[i];
    }
}

// ----------------------------------------------------------------------------
// learning-rate schedules
// As transformers.get_scheduler computes them. The schedule is a function of `step`, the number of
// updates already applied: update number t (1-based) uses lr_at_step(s, t - 1), because the Trainer
// calls optimizer.step() before scheduler.step(). So with warmup the very first update has lr 0.

typedef enum {
    LR_CONSTANT,             // "constant"
    LR_CONSTANT_WITH_WARMUP, // "constant_with_warmup"
    LR_LINEAR,               // "linear": warmup, then straight down to 0 at total_steps (Trainer default)
    LR_COSINE,               // "cosine": warmup, then half a cosine (num_cycles 0.5) down to 0
    LR_COSINE_WITH_MIN_LR,   // "cosine_with_min_lr": the cosine ends at min_lr_rate * lr instead of 0
} LrScheduleType;

typedef struct {
    LrScheduleType type;
    float lr;          // peak learning rate (the optimizer's lr in PyTorch)
    int warmup_steps;  // linear warmup from 0 over this many updates
    int total_steps;   // num_training_steps
    float num_cycles;  // cosine only: 0.5 = half a wave, from lr down to the minimum
    float min_lr_rate; // cosine_with_min_lr: the floor as a fraction of lr (set min_lr_rate = min_lr / lr
                       // when the floor is given as an absolute min_lr, as transformers does)
} LrSchedule;

static LrSchedule lr_schedule_make(LrScheduleType type, float lr, int warmup_steps, int total_steps) {
    LrSchedule s = {type, lr, warmup_steps, total_steps, 0.5f, 0.0f};
    return s;
}

// "cosine" -> LR_COSINE etc. (the Trainer's lr_scheduler_type names); fatal on an unknown name.
static LrScheduleType lr_schedule_from_name(const char* name) {
    static const char* names[] = {"constant", "constant_with_warmup", "linear", "cosine", "cosine_with_min_lr"};
    for (int i = 0; i < 5; i++) {
        if (strcmp(name, names[i]) == 0) {
            return (LrScheduleType)i;
        }
    }
    fatal("unknown lr schedule '%s' (use constant, constant_with_warmup, linear, cosine or cosine_with_min_lr)",
          name);
    return LR_CONSTANT;
}

// The multiplier of the peak lr (LambdaLR's lambda), computed in double as in Python.
static double lr_lambda(const LrSchedule* s, int step) {
    double w = s->warmup_steps, total = s->total_steps;
    if (s->type == LR_CONSTANT) {
        return 1.0;
    }
    if (step < s->warmup_steps) { // linear warmup from 0
        return (double)step / (w > 1.0 ? w : 1.0);
    }
    if (s->type == LR_CONSTANT_WITH_WARMUP) {
        return 1.0;
    }
    double span = total - w > 1.0 ? total - w : 1.0;
    if (s->type == LR_LINEAR) {
        double f = (total - step) / span;
        return f > 0.0 ? f : 0.0;
    }
    double progress = (step - w) / span;
    double f = 0.5 * (1.0 + cos(3.14159265358979323846 * (double)s->num_cycles * 2.0 * progress));
    if (s->type == LR_COSINE_WITH_MIN_LR) {
        f = f * (1.0 - (double)s->min_lr_rate) + (double)s->min_lr_rate;
    }
    return f > 0.0 ? f : 0.0;
}

static float lr_at_step(const LrSchedule* s, int step) {
    return (float)((double)s->lr * lr_lambda(s, step));
}

// Warmup given as a fraction of the run (warmup < 1, e.g. 0.1) or as a step count (warmup >= 1),
// rounded as TrainingArguments.get_warmup_steps rounds it: ceil(total * fraction).
static int lr_warmup_steps(double warmup, int total_steps) {
    return warmup >= 1.0 ? (int)warmup : (int)ceil(total_steps * warmup);
}

// ----------------------------------------------------------------------------
// one update, start to end
// The order of the Trainer's training loop: gradient norm, clip, AdamW at the schedule's lr. Two
// details follow the Trainer too: clipping is off when max_grad_norm <= 0, and the schedule only
// moves when an update is applied (it skips scheduler.step() when the optimizer step was skipped),
// so `updates` is both AdamW's step count and the schedule's position.

typedef struct {
    AdamWConfig adamw;
    LrSchedule schedule;
    float max_grad_norm;   // 1.0 in the Trainer; <= 0 turns clipping off
    int updates;           // updates applied so far
    int consecutive_skips; // non-finite steps in a row (stop the run when this gets large)
    int total_skips;
    float last_grad_norm;  // for the metrics log: the norm before clipping
    float last_lr;         // the lr of the last applied update
} Optimizer;

// Applies one update to params (m and v are AdamW's moments, all laid out as param_point lays them
// out). grads are scaled in place by the clipping. Returns 1 when the update was applied, 0 when it
// was skipped because the loss or the gradient norm is not finite; then params, m, v and the step
// count are left as they were (the gradients may have been scaled: they are rebuilt next step anyway).
static int optimizer_step(Optimizer* o, const Qwen2Config* c, float* params, float* grads, float* m, float* v,
                          float loss) {
    size_t n = param_count(c);
    o->last_grad_norm = o->max_grad_norm > 0.0f ? clip_grad_norm(grads, n, o->max_grad_norm) : grad_norm(grads, n);
    if (!update_is_finite(loss, o->last_grad_norm, &o->consecutive_skips)) {
        o->total_skips++;
        return 0;
    }
    o->last_lr = lr_at_step(&o->schedule, o->updates);
    o->updates++;
    adamw_update_model(c, params, grads, m, v, o->updates, o->last_lr, &o->adamw);
    return 1;
}

// ----------------------------------------------------------------------------
// optimizer state on disk, for resuming a run
// Saved next to a checkpoint as a safetensors file: AdamW's moments over the flat parameter buffer
// ("exp_avg" = m, "exp_avg_sq" = v, the names torch gives them) and the counters, so a resumed run
// continues exactly where it stopped (same step count, same lr, same moments). The schedule and the
// AdamW settings are not saved: they come from the command line again.

static void optimizer_save(const char* path, const Optimizer* o, const float* m, const float* v, size_t n) {
    int32_t counters[3] = {o->updates, o->consecutive_skips, o->total_skips};
    SafetensorsTensor t[3] = {
        {"exp_avg", "F32", 1, {n}, m},
        {"exp_avg_sq", "F32", 1, {n}, v},
        {"counters", "I32", 1, {3}, counters}, // updates, consecutive_skips, total_skips
    };
    safetensors_write(path, t, 3);
}

// Loads what optimizer_save wrote into o's counters and m, v (n floats each); the file must have been
// saved for a model of the same size.
static void optimizer_load(const char* path, Optimizer* o, float* m, float* v, size_t n) {
    Safetensors st;
    safetensors_open(&st, path);
    const char* names[3] = {"exp_avg", "exp_avg_sq", "counters"};
    size_t want[3] = {n, n, 3};
    const SafetensorsEntry* e[3];
    for (int i = 0; i < 3; i++) {
        e[i] = safetensors_find(&st, names[i]);
        if (e[i] == NULL) {
            fatal("%s: no tensor \"%s\": not an r1 optimizer state file", path, names[i]);
        }
        if (safetensors_numel(e[i]) != want[i]) {
            fatal("%s: \"%s\" holds %zu values, expected %zu: was it saved for a model of another size?", path,
                  names[i], safetensors_numel(e[i]), want[i]);
        }
    }
    int32_t counters[3];
    safetensors_read_f32(&st, e[0], m);
    safetensors_read_f32(&st, e[1], v);
    safetensors_read_i32(&st, e[2], counters);
    safetensors_close(&st);
    if (counters[0] < 0 || counters[1] < 0 || counters[2] < 0) {
        fatal("%s: negative step counters (%d, %d, %d): corrupt file", path, counters[0], counters[1], counters[2]);
    }
    o->updates = counters[0], o->consecutive_skips = counters[1], o->total_skips = counters[2];
}

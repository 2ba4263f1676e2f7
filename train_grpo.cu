// train_grpo.cu: GRPO, the reinforcement-learning stage of DeepSeek-R1, for Qwen2.5 models.
// The third layer of the GPU program (generate.cu ⊂ train_sft.cu ⊂ train_grpo.cu). The loop itself
// (prompts -> rollouts -> rewards -> group advantages -> GRPO loss -> update -> log -> checkpoint)
// is r1.h's (its GRPO training section); this file parses the flags and runs it. GPU kernels come in
// a later issue: built with nvcc it reports the device and runs the r1.h CPU path for now.
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
// @@GRPO_KERNELS@@
#endif // __CUDACC__

// What the flags set, besides GrpoOptions.
typedef struct {
    const char* model_dir;   // NULL: the miniature run on the tiny model
    const char* recipe;
    int resume;
    int sft_steps, sft_batch, sft_seq_len, sft_examples; // the miniature's cold start
    float sft_lr;
    int eval_before_after;   // print held-out Countdown accuracy before and after
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
        "                          short prompt, G 16, 8 prompts, 64 tokens, lr 1e-4, 80 steps),\n"
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
        "  --eval-n N              held-out Countdown problems, greedy (default 200)\n"
        "  --quiet                 no per-step progress lines\n"
        "  --show N                print N completions of each step and of each evaluation\n"
        "the miniature run's cold start (no --model)\n"
        "  --sft-steps N, --sft-batch B, --sft-seq-len T, --sft-lr LR, --sft-examples N\n"
        "                          (defaults 800 steps of 8 rows x 256 tokens at lr 3e-3, from 20000 problems)\n"
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
    cli->sft_steps = 800, cli->sft_batch = 8, cli->sft_seq_len = 256, cli->sft_lr = 3e-3f, cli->sft_examples = 20000;
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
int main(int argc, char** argv) {
    GrpoOptions o;
    GrpoCli cli;
    setvbuf(stdout, NULL, _IOLBF, 0); // progress lines appear as they happen, also in a log file
    grpo_parse(argc, argv, &o, &cli);
#ifdef __CUDACC__
    int n_dev = 0;
    if (cudaGetDeviceCount(&n_dev) != cudaSuccess || n_dev == 0) {
        printf("no CUDA device: running the r1.h CPU path\n");
    } else {
        printf("GPU path not implemented yet: running the r1.h CPU path\n");
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
    double t0 = wall_time(), before = -1, after = -1;
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
    if (strcmp(o.task, "countdown") == 0 && start == 0 && o.eval_n > 0 && (mini || o.eval_every > 0)) {
        before = grpo_eval_countdown(&policy, &tok, &o, o.eval_n);
        printf("held-out Countdown accuracy before GRPO: %.1f%% (%d problems, greedy)\n", 100.0 * before, o.eval_n);
    }
    run.eval_before = before;
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
    double t1 = wall_time();
    grpo_train(&run, &o, start, cli.model_dir);
    double t2 = wall_time();
    int finished = !(o.stop_at > 0 && o.stop_at < o.steps);
    if (strcmp(o.task, "countdown") == 0 && finished && o.eval_n > 0 && (mini || o.eval_every > 0)) {
        after = grpo_eval_countdown(&policy, &tok, &o, o.eval_n);
        printf("held-out Countdown accuracy after GRPO: %.1f%% (%d problems, greedy)\n", 100.0 * after, o.eval_n);
        if (o.out_dir) { // the end of the curve, next to the steps' lines
            char* path = path_join(o.out_dir, "metrics.jsonl");
            FILE* f = fopen_check(path, "ab");
            fprintf(f, "{\"step\": %d, \"eval_accuracy\": %.6g}\n", o.steps, after);
            fclose(f);
            free(path);
        }
        if (before >= 0) {
            printf("GRPO changed held-out accuracy by %+.1f points (%.1f%% -> %.1f%%)\n", 100.0 * (after - before),
                   100.0 * before, 100.0 * after);
        }
    }
    printf("done: GRPO %.1f s, total %.1f s%s%s\n", t2 - t1, wall_time() - t0, o.out_dir ? "; metrics in " : "",
           o.out_dir ? o.out_dir : "");
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

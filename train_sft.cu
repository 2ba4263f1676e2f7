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
// @@SFT_KERNELS@@

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

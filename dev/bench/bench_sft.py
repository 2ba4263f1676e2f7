"""
dev/bench/bench_sft.py: tokens/s of one SFT step (forward + backward + clip + AdamW update) of the
same small Qwen2 model in r1.h (CPU, fp32, OpenMP: sft_update, the step train_sft runs) and in
PyTorch + transformers (CPU, fp32: the Hugging Face Trainer's step: zero_grad, forward with labels,
backward, clip_grad_norm_, AdamW.step, scheduler.step), on the same batch, with the same threads.

    python3 dev/bench/bench_sft.py [--threads 2] [--batch 1] [--seq 1024] [--rounds 3] [--steps 4]
                                   [--hidden 128 --layers 4 --heads 4 --kv-heads 2 --intermediate 384 --vocab 320]

The default model is train_sft's tiny built-in one (config_tiny). It writes the model
(save_pretrained) and the batch to a temporary folder, compiles the r1 side (embedded below) with
the Makefile's flags, and alternates the two sides for --rounds rounds (the machine may be shared),
keeping each side's best and median step. Both print their first loss, which must agree.
"""
import os, statistics, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common

args = common.parse_args(__doc__, steps=4, hidden=128, intermediate=384, vocab=320, batch=1, seq=1024)
import torch
import transformers

LR, WD, CLIP = 1e-3, 0.1, 1.0

R1_SIDE = r'''
#include "r1.h"
static int* read_i32(const Safetensors* st, const char* name, int* B, int* T) {
    const SafetensorsEntry* e = safetensors_find(st, name);
    int* out = (int*)malloc_check(safetensors_numel(e) * sizeof(int));
    safetensors_read_i32(st, e, (int32_t*)out);
    *B = (int)e->shape[0], *T = (int)e->shape[1];
    return out;
}
int main(int argc, char** argv) {
    int steps = atoi(argv[3]);
    Qwen2 m;
    qwen2_load(&m, argv[1]);
    Safetensors st;
    safetensors_open(&st, argv[2]);
    int B, T;
    int* ids = read_i32(&st, "input_ids", &B, &T);
    int* pos = read_i32(&st, "position_ids", &B, &T);
    int* labels = read_i32(&st, "labels", &B, &T);
    Tokenizer tok;
    tokenizer_init_bytes(&tok);
    SftOptions o;
    sft_options_default(&o);
    o.batch_size = B, o.seq_len = T, o.max_steps = 1000, o.lr = 1e-3f, o.weight_decay = 0.1f, o.warmup = 0;
    SftTokens dummy;
    memset(&dummy, 0, sizeof(dummy));
    unsigned char one = 1;
    sft_tokens_add(&dummy, ids, &one, 1);
    SftTrainer tr;
    sft_trainer_init(&tr, &m, &tok, &dummy, &o);
    printf("r1 step times");
    for (int s = 0; s <= steps; s++) { // step 0 warms up (allocations, page faults)
        memcpy(tr.ids, ids, (size_t)B * T * sizeof(int));
        memcpy(tr.pos, pos, (size_t)B * T * sizeof(int));
        memcpy(tr.labels, labels, (size_t)B * T * sizeof(int));
        double t0 = wall_time();
        sft_update(&tr);
        double dt = wall_time() - t0;
        if (s == 0) {
            fprintf(stderr, "r1 first loss %.6f\n", tr.loss);
        } else {
            printf(" %.5f", dt);
        }
    }
    printf("\n");
    return 0;
}
'''

model = common.make_model(args, rope_theta=1e4)
B, T = args.batch, args.seq
ids = torch.randint(0, args.vocab, (B, T))
pos = torch.arange(T).repeat(B, 1)
labels = ids.clone()
labels[:, : T // 3] = -100  # a prompt: loss on the rest only, as SFT

with tempfile.TemporaryDirectory() as tmp:
    model_dir, batch = common.write_inputs(tmp, model, ids, pos, labels)
    exe = os.path.join(tmp, "bench_sft")
    common.compile_r1(exe, text=R1_SIDE)

    decay = set(transformers.Trainer.get_decay_parameter_names(None, model))
    params = dict(model.named_parameters())
    opt = torch.optim.AdamW([{"params": [p for n, p in params.items() if n in decay], "weight_decay": WD},
                             {"params": [p for n, p in params.items() if n not in decay], "weight_decay": 0.0}],
                            lr=LR)  # torch's default implementation for CPU tensors (foreach)
    sched = transformers.get_scheduler("cosine", opt, num_warmup_steps=0, num_training_steps=1000)

    def torch_steps(n):
        times, first = [], None
        for s in range(n):
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=False)
            out = model(input_ids=ids, position_ids=pos, labels=labels, use_cache=False)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
            opt.step()
            sched.step()
            times.append(time.perf_counter() - t0)
            first = out.loss.item() if first is None else first
        return times, first

    _, torch_first = torch_steps(1)  # warm-up; its loss is the initial one (before any update)
    rt, tt, last = common.alternate(args, exe, model_dir, batch, lambda n: torch_steps(n)[0])
    r1_first = float(last.stderr.split("r1 first loss ")[1].split()[0])

tokens = B * T
params_n = sum(p.numel() for p in model.parameters())
r1_best, r1_med, t_best, t_med = min(rt), statistics.median(rt), min(tt), statistics.median(tt)
print(f"model: hidden {args.hidden}, {args.layers} layers, heads {args.heads}/{args.kv_heads}, intermediate "
      f"{args.intermediate}, vocab {args.vocab} (tied), {params_n / 1e6:.2f}M parameters; batch {B} x {T} tokens; "
      f"{args.threads} threads; torch {torch.__version__}, attention {args.attn}")
print(f"first loss: r1 {r1_first:.6f}, torch {torch_first:.6f}")
print(f"r1    SFT step (fwd+bwd+clip+AdamW): best {r1_best:.4f} s = {tokens / r1_best:8.0f} tokens/s, "
      f"median {r1_med:.4f} s = {tokens / r1_med:8.0f} tokens/s")
print(f"torch SFT step (fwd+bwd+clip+AdamW): best {t_best:.4f} s = {tokens / t_best:8.0f} tokens/s, "
      f"median {t_med:.4f} s = {tokens / t_med:8.0f} tokens/s")
print(f"r1 / torch tokens/s: best {t_best / r1_best:.2f}x, median {t_med / r1_med:.2f}x "
      f"({args.rounds} rounds x {args.steps} steps each, alternating)")

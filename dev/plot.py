"""
dev/plot.py: draws the curves of a metrics.jsonl (written by train_sft and train_grpo, one JSON
object per step) to a PNG: one panel per numeric key, against "step".

    python3 dev/plot.py runs/sft/metrics.jsonl                 -> runs/sft/metrics.png
    python3 dev/plot.py runs/sft/metrics.jsonl --out sft.png --keys loss,eval_loss,lr
    python3 dev/plot.py a/metrics.jsonl b/metrics.jsonl --labels sft,grpo --smooth 10

Any numeric key is drawn (loss, eval_loss, lr, grad_norm, tokens_per_s, reward means, kl, ...);
keys present only on some lines (eval_loss every N steps) are drawn at the steps that have them.
Keys named in --together (default: loss and eval_loss) share one panel. --smooth N adds a moving
average over N points next to the raw curve. Needs matplotlib (pip install matplotlib).
"""
import argparse, json, math, os, sys


def read_metrics(path):
    rows = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                sys.exit("%s:%d: not valid JSON (%s)" % (path, n, e))
    if not rows:
        sys.exit("%s: no metrics lines" % path)
    return rows


def numeric_keys(rows, xkey):
    keys = []
    for r in rows:
        for k, v in r.items():
            if k != xkey and k not in keys and isinstance(v, (int, float)) and not isinstance(v, bool):
                keys.append(k)
    return keys


def series(rows, key, xkey):
    xs, ys = [], []
    for i, r in enumerate(rows):
        v = r.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            xs.append(r.get(xkey, i + 1))
            ys.append(v)
    return xs, ys


def moving_average(ys, n):
    out, acc = [], 0.0
    for i, y in enumerate(ys):
        acc += y
        if i >= n:
            acc -= ys[i - n]
        out.append(acc / min(i + 1, n))
    return out


def main():
    ap = argparse.ArgumentParser(description="metrics.jsonl -> PNG curves")
    ap.add_argument("files", nargs="+")
    ap.add_argument("--out", help="PNG path (default: next to the first file, .png)")
    ap.add_argument("--keys", help="comma-separated keys to draw (default: every numeric key)")
    ap.add_argument("--skip", default="step_time,epoch,tokens,loss_tokens,skipped",
                    help="keys not drawn by default (default: %(default)s)")
    ap.add_argument("--together", default="loss,eval_loss", help="keys sharing one panel (default: %(default)s)")
    ap.add_argument("--labels", help="comma-separated names of the files (default: their folders)")
    ap.add_argument("--x", default="step", help="the x axis key (default: step)")
    ap.add_argument("--smooth", type=int, default=0, help="moving average over N points (default: off)")
    ap.add_argument("--title", default=None)
    args = ap.parse_args()
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("dev/plot.py needs matplotlib: pip install matplotlib")

    runs = [read_metrics(p) for p in args.files]
    labels = args.labels.split(",") if args.labels else [os.path.basename(os.path.dirname(os.path.abspath(p)))
                                                          for p in args.files]
    if args.keys:
        keys = args.keys.split(",")
    else:
        skip = set(args.skip.split(","))
        keys = []
        for rows in runs:
            keys += [k for k in numeric_keys(rows, args.x) if k not in keys and k not in skip]
    together = [k for k in args.together.split(",") if k in keys]
    panels = ([together] if len(together) > 1 else []) + [[k] for k in keys if len(together) < 2 or k not in together]
    if not panels:
        sys.exit("no numeric keys to draw")
    cols = min(3, len(panels))
    nrows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(5 * cols, 3.4 * nrows), squeeze=False)
    for i, panel in enumerate(panels):
        ax = axes[i // cols][i % cols]
        for rows, label in zip(runs, labels):
            for key in panel:
                xs, ys = series(rows, key, args.x)
                if not xs:
                    continue
                name = key if len(runs) == 1 else "%s %s" % (label, key)
                sparse = len(xs) < 0.5 * len(rows)  # e.g. eval_loss every N steps: show the points
                line, = ax.plot(xs, ys, "o-" if sparse else "-", ms=3, lw=1,
                                alpha=0.5 if args.smooth and key != "lr" else 1,
                                label=name)
                if args.smooth > 1 and not sparse and key != "lr":  # a schedule is smooth already
                    ax.plot(xs, moving_average(ys, args.smooth), "-", lw=1.8, color=line.get_color(),
                            label=name + " (avg %d)" % args.smooth)
        ax.set_title(" / ".join(panel))
        ax.set_xlabel(args.x)
        ax.grid(alpha=0.3)
        if len(ax.get_lines()) > 1:
            ax.legend(fontsize=8)
    for j in range(len(panels), nrows * cols):
        axes[j // cols][j % cols].axis("off")
    fig.suptitle(args.title or ", ".join(args.files), fontsize=10)
    fig.tight_layout()
    out = args.out or os.path.splitext(args.files[0])[0] + ".png"
    fig.savefig(out, dpi=110)
    print("wrote", out)


if __name__ == "__main__":
    main()

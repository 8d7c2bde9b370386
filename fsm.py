"""The paper's fork/lock toy: see, in a few seconds on a CPU, why self-distillation helps.

    python fsm.py                         # SSD with the paper's recipe: T_train 0.9, top-p 0.85
    python fsm.py --temp_only             # ablation: T_train 0.9, no truncation  -> no gain
    python fsm.py --trunc_only            # ablation: T_train 1.0, top-p 0.85     -> some gain
    python fsm.py --T_train=1.6 --top_k=5 --top_p=0.8    # any recipe
    python fsm.py --no_train              # only the analytic student (instant)
    python fsm.py --T_train=1 --top_p=1   # the fixed point: the student stays the teacher

The machine. 16 tokens. The root leads to two symmetric paths (tok0 -> path A, tok1 -> path B,
any other token -> FAIL). Each path is one fork state and then three lock states; at each of
them tok0 is the only right token, anything else ends in FAIL; after the third lock, PASS.
Every state's distribution is four stated head probabilities plus a geometric tail over the
other 12 tokens: tail_i = a * r**i (i = 0..11), with a chosen so the tail holds 1 - sum(head).
This plain reading reproduces every number the paper states (entropies 1.61 / 2.81 bits, the
best temperatures and successes, the kept-token counts), so no other reading was needed.

    lock  [0.750, 0.055, 0.050, 0.037] + tail r 0.75   one right token, a long tail of wrong ones
    fork  [0.148, 0.280, 0.140, 0.144] + tail r 0.5    the right token is only 2nd most likely
    root  [0.200, 0.190, 0.329, 0.126] + tail r 0.5    the single top token (tok2) FAILs

Decoding is temperature, then top-k, then top-p, with the functions of sample.py (imported, not
copied). The probability of PASS is exact, no sampling: P = (q_root[0] + q_root[1]) * q_fork[0]
* q_lock[0]**3, with q the decoded distribution at each state.

Two students, both decoded like the teacher at evaluation time (top-p 0.80, T swept):
  analytic  the teacher decoded with (T_train, top-k, top-p) and renormalised: the exact
            optimum of SFT on infinitely many of the teacher's samples
  trained   16 learnable logits per kind of state (root, fork, lock: both paths and all three
            locks share one set, as their teacher distributions are identical), initialised to
            the teacher, fitted by cross-entropy with Adam on walks *sampled* from the teacher
            decoded with (T_train, top-k, top-p), as SSD fine-tunes a model on its own sampled
            completions. A walk is never checked for PASS/FAIL before training on it.
The best T in (0, 5] is found on a 0.01 grid, then on a 0.0001 grid around the grid's best.
Success jumps where top-p admits one more token, and each optimum sits right before a jump.
"""
import argparse
import time

import torch
import torch.nn.functional as F

from data import number, run_main
from sample import entropy_bits, process_logits

V = 16
ROOT, FORK, LOCK = 0, 1, 2
NAMES = ("root", "fork", "lock")
SPEC = {  # state: (first four token probabilities, tail ratio)
    "root": ([0.200, 0.190, 0.329, 0.126], 0.5),
    "fork": ([0.148, 0.280, 0.140, 0.144], 0.5),
    "lock": ([0.750, 0.055, 0.050, 0.037], 0.75),
}
WALK = (ROOT, FORK, LOCK, LOCK, LOCK)   # the states a PASSing walk visits, in order
N_RIGHT = (2, 1, 1, 1, 1)               # tokens 0 .. N_RIGHT-1 are right at that step


# --- the machine ----------------------------------------------------------------------------
def state_dist(head, ratio):
    """Four head probabilities, then 12 geometric tail probabilities holding the rest."""
    head = torch.tensor(head, dtype=torch.float64)
    geo = ratio ** torch.arange(V - len(head), dtype=torch.float64)
    return torch.cat([head, (1 - head.sum()) * geo / geo.sum()])


def teacher():
    """(3, 16) float64: rows root, fork, lock. float64 because every optimum below sits right
    on a top-p decision (a cumulative sum against p), which should not hinge on rounding."""
    return torch.stack([state_dist(*SPEC[name]) for name in NAMES])


def decode(probs, temperature=1.0, top_k=0, top_p=1.0):
    """The distribution actually sampled from, by sample.py's own transforms (in float64).
    Log-probabilities serve as logits: softmax(log p) = p."""
    return F.softmax(process_logits(probs.log(), temperature, top_k, top_p), dim=-1)


def success(q):
    """Exact P(PASS) for decoded distributions q (3, 16): reach a path, take the fork, pass 3 locks."""
    return ((q[ROOT, 0] + q[ROOT, 1]) * q[FORK, 0] * q[LOCK, 0] ** 3).item()


# --- the two students -----------------------------------------------------------------------
def analytic_student(probs, T_train, top_k=0, top_p=1.0):
    """What SFT on the teacher's decoded samples converges to: the decoded teacher itself."""
    return decode(probs, T_train, top_k, top_p)


def sample_walks(q, n, generator):
    """n walks through the machine drawn from q (3, 16). Returns the state and the token of
    every visit (two long tensors) and the number of walks that reached PASS. Paths A and B
    share their states, so a walk does not need to remember which one it took."""
    states, tokens, alive = [], [], n
    for state, n_right in zip(WALK, N_RIGHT):
        if alive == 0:
            break
        tok = torch.multinomial(q[state], alive, replacement=True, generator=generator)
        states.append(torch.full_like(tok, state))
        tokens.append(tok)
        alive = int((tok < n_right).sum())   # wrong tokens end their walk in FAIL
    return torch.cat(states), torch.cat(tokens), alive


def train_student(probs, T_train, top_k=0, top_p=1.0, samples=100_000, steps=1000, lr=1.0, seed=0):
    """SSD for real: sample walks from the decoded teacher, then fit 16 logits per state by
    cross-entropy on every visited (state, token), full batch, Adam with a cosine schedule.
    Returns the student's probabilities (3, 16) and a dict of what happened."""
    g = torch.Generator().manual_seed(seed)
    states, tokens, n_pass = sample_walks(decode(probs, T_train, top_k, top_p), samples, g)
    # The loss is F.cross_entropy(logits[states], tokens), i.e. the mean over all visits of
    # -log q(token | state); grouping equal (state, token) visits into counts gives the same
    # number (up to rounding) at 48 terms per step instead of one row per visit.
    counts = torch.zeros(3, V, dtype=torch.float64).index_put_(
        (states, tokens), torch.ones(len(states), dtype=torch.float64), accumulate=True)
    logits = probs.log().clone().requires_grad_(True)    # the student starts as the teacher
    opt = torch.optim.Adam([logits], lr=lr)
    # the decay lets Adam settle on the optimum instead of jittering around it at a fixed lr
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1), eta_min=lr / 100)
    for _ in range(steps):
        loss = ce_from_counts(logits, counts)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    logits = logits.detach()
    student = F.softmax(logits, -1)
    info = dict(pass_rate=n_pass / samples, visits=counts.sum(-1).long().tolist(), counts=counts,
                loss=ce_from_counts(logits, counts).item(),
                # SFT pushes never-sampled tokens toward 0 but never to exactly 0
                leftover=student[counts == 0].max().item() if (counts == 0).any() else None)
    return student, info


def ce_from_counts(logits, counts):
    """Mean cross-entropy over all visits, from a (3, 16) table of visit counts."""
    return -(counts * F.log_softmax(logits, -1)).sum() / counts.sum()


# --- the temperature sweep ------------------------------------------------------------------
def sweep(probs, temps, top_p=0.8, top_k=0):
    return [success(decode(probs, t, top_k, top_p)) for t in temps]


def best_temperature(probs, top_p=0.8, top_k=0, t_max=5.0):
    """(T, success) at the best temperature: a 0.01 grid, then a 0.0001 grid around its best.
    Success is piecewise smooth with jumps, so golden-section search could stall on a jump."""
    temps = [i / 100 for i in range(1, round(t_max * 100) + 1)]
    s = sweep(probs, temps, top_p, top_k)
    c = temps[max(range(len(s)), key=s.__getitem__)]
    temps = [round(c + i / 10_000, 4) for i in range(-100, 101) if c + i / 10_000 > 0]
    s = sweep(probs, temps, top_p, top_k)
    i = max(range(len(s)), key=s.__getitem__)
    return temps[i], s[i]


# --- terminal output ------------------------------------------------------------------------
def bar(p, width=20):
    return "#" * round(p * width)


def show_states(models, shown=6):
    """Per state, side by side: each model's probabilities for tok0..tok5, the tail, entropy."""
    for s, name in enumerate(NAMES):
        right = "tok0 and tok1 lead on, the rest FAIL" if s == ROOT else "only tok0 leads on"
        print(f"\n{name.upper()} ({right})")
        print(" " * 11 + "".join(f"{n:<27}" for n in models))
        for t in range(shown + 1):
            label = f"tok{t}" if t < shown else f"tok{shown}-{V - 1}"
            row = [m[s, t].item() if t < shown else m[s, shown:].sum().item() for m in models.values()]
            print(f"  {label:<9}" + "".join(f"{p:5.3f} {bar(p):<21}" for p in row))
        ent = [f"{entropy_bits(m[s]).item():.2f} bits, {int((m[s] > 1e-3).sum())} tokens"
               for m in models.values()]
        print("  entropy  " + "".join(f"{e:<27}" for e in ent))
    print("  (tokens: how many have p > 0.001)")


def show_sweep(models, best, top_p, temps):
    print(f"\nP(PASS) by evaluation temperature (top-p {top_p:g}); * marks each model's best T")
    print("  T        " + "".join(f"{n:<27}" for n in models))
    for t in sorted(set(temps) | {b[0] for b in best.values()}):
        cells = []
        for n, m in models.items():
            p = success(decode(m, t, 0, top_p))
            cells.append(f"{100 * p:5.2f}%{'*' if t == best[n][0] else ' '} {bar(p, 100):<19}")
        print(f"  {t:<7.4g}  " + "".join(cells))


RECIPES = {  # name: (T_train, top_k, top_p)
    "paper's SSD (T_train 0.9, top-p 0.85)": (0.9, 0, 0.85),
    "temperature only (0.9, no truncation)": (0.9, 0, 1.0),
    "truncation only (1.0, top-p 0.85)": (1.0, 0, 0.85),
    "fixed point (1.0, no truncation)": (1.0, 0, 1.0),
}


# --- main -----------------------------------------------------------------------------------
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # bounds past which the toy says nothing more (and a huge --samples would only exhaust memory)
    ap.add_argument("--T_train", type=number(float, 0, high=100), default=0.9,
                    help="temperature of the teacher's samples, in (0, 100]")
    ap.add_argument("--top_k", type=number(int, 0, strict=False), default=0, help="top-k of the teacher's samples (0 = off)")
    ap.add_argument("--top_p", type=number(float, 0, high=1), default=0.85, help="top-p of the teacher's samples (1 = off)")
    ap.add_argument("--temp_only", action="store_true", help="ablation: T_train 0.9, no truncation")
    ap.add_argument("--trunc_only", action="store_true", help="ablation: T_train 1.0, top-p 0.85")
    ap.add_argument("--eval_top_p", type=number(float, 0, high=1), default=0.80, help="top-p while sweeping T")
    ap.add_argument("--samples", type=number(int, 0, high=10_000_000), default=100_000,
                    help="walks sampled for the trained student, 1..10,000,000")
    ap.add_argument("--steps", type=number(int, 0, strict=False, high=1_000_000), default=1000,
                    help="Adam steps (full batch), 0..1,000,000")
    ap.add_argument("--lr", type=number(float, 0, high=100), default=1.0,
                    help="peak learning rate (cosine decay to 1/100), in (0, 100]")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no_train", action="store_true", help="skip the trained student")
    args = ap.parse_args(argv)
    if args.temp_only and args.trunc_only:
        ap.error("--temp_only and --trunc_only exclude each other")
    if args.temp_only:
        args.T_train, args.top_k, args.top_p = RECIPES["temperature only (0.9, no truncation)"]
    if args.trunc_only:
        args.T_train, args.top_k, args.top_p = RECIPES["truncation only (1.0, top-p 0.85)"]
    t0 = time.time()

    top_k, top_p = args.top_k or "off", args.top_p if args.top_p < 1 else "off"
    print(f"SSD on the fork/lock toy: T_train {args.T_train:g}, top-k {top_k}, top-p {top_p}; "
          f"evaluation top-p {args.eval_top_p:g}")
    teacher_q = teacher()
    models = {"teacher": teacher_q, "SSD analytic": analytic_student(teacher_q, args.T_train, args.top_k, args.top_p)}
    if not args.no_train:
        models["SSD trained"], info = train_student(teacher_q, args.T_train, args.top_k, args.top_p,
                                                    args.samples, args.steps, args.lr, args.seed)
        left = f"{info['leftover']:.1e}" if info["leftover"] is not None else "none (all were sampled)"
        print(f"trained: {args.samples} walks sampled from the teacher; visits root/fork/lock "
              f"{'/'.join(map(str, info['visits']))};\n         {100 * info['pass_rate']:.1f}% of them "
              f"reached PASS (training never looks); {args.steps} Adam steps, loss {info['loss']:.4f};\n"
              f"         largest p left on a never-sampled token: {left}")
    show_states(models)

    best = {n: best_temperature(m, args.eval_top_p) for n, m in models.items()}
    show_sweep(models, best, args.eval_top_p, [0.0] + [i / 5 for i in range(1, 16)])
    print()
    for n, (t, p) in best.items():
        gain = p - best["teacher"][1]
        gain = "" if n == "teacher" else f"  ({100 * gain:+.2f} pp over the teacher's best)"
        print(f"best {n:<13} {100 * p:6.2f}% at T = {t:.4f}{gain}")

    print("\nrecipes compared (analytic students, each at its own best T):")
    for name, recipe in RECIPES.items():
        t, p = best_temperature(analytic_student(teacher_q, *recipe), args.eval_top_p)
        print(f"  {name:<40} {100 * p:6.2f}% at T = {t:.4f}")
    print(f"({time.time() - t0:.1f} s)")


if __name__ == "__main__":
    torch.set_num_threads(1)   # tensors of 48 numbers: waking a second thread costs more than the work
    run_main(main)

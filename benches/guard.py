#!/usr/bin/env python3
"""guard.py OUT_DIR [--record]: the performance targets, checked on one run
of ../shared/bench/ir/run_all.sh (counts, not times: they do not move with
the machine's load).

  cargo build --release --examples
  ../shared/bench/ir/build_peers.sh ../shared/bench target/ir-peers   # once
  ../shared/bench/ir/run_all.sh . target/ir-peers target/ir-out      # ~10 min
  python3 benches/guard.py target/ir-out

Prints each target with the figures and MET / NOT MET, then compares every
figure of ours with benches/baseline.json (the last recorded run) and fails
(exit 1) if one got more than 10% worse (20% for the echo and http Ir per
op of A1/A2: with 10 busy connections, how many events one wait returns
depends on the machine's timing, and the same build moves ~5% between a
loaded and a quiet machine): a regression guard. --record writes the
current figures as the new baseline.

Our servers run as the examples do by default: the fast interest mode
(`--interest when-changed`)."""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BASELINE = os.path.join(HERE, "baseline.json")
TOLERANCE = 1.10
# Figures whose count depends on how events batch per wait (see above).
BATCHED_TOLERANCE = 1.20
BATCHED = ("echo Ir/op", "http Ir/op")


def load(out):
    data = {}
    for part in ("a", "b", ""):
        path = os.path.join(out, part, "results.json")
        if os.path.exists(path):
            with open(path) as fh:
                data.update(json.load(fh))
    return data


def ir(data, key):
    r = data.get(key)
    if not r or not r.get("ok"):
        return None
    return (r["ir_measured"] - r.get("ir_measured_memset", 0)) / r["ops"]


def syscalls(data, key):
    r = data.get(key)
    if not r or not r.get("ok") or "syscalls" not in r:
        return None
    return sum(v["calls"] for v in r["syscalls"].values()) / r["ops"]


def setup_per_conn(data, n, s):
    r = data.get(f"setup-ir/{n}/{s}")
    return r["ir_setup"] / n if r and r.get("ok") and r.get("ir_setup") else None


def bytes_per_conn(data, s):
    z, t = data.get(f"mem/0/{s}"), data.get(f"mem/10000/{s}")
    if not (z and t and z.get("ok") and t.get("ok")):
        return None
    return (t["VmHWM"] - z["VmHWM"]) * 1024 / 10000


def size(data, s):
    v = data.get(f"size/{s}")
    return v["echo"]["stripped"] if v else None


def figures(data):
    f = {}
    for s in ("ours-poll", "ours-epoll", "mio", "popol"):
        f[f"echo Ir/op {s}"] = ir(data, f"ir/echo/{s}")
        f[f"http Ir/op {s}"] = ir(data, f"ir/http/{s}")
        for n in (0, 10000):
            f[f"idle {n} Ir/op {s}"] = ir(data, f"idle-ir/{n}/{s}")
        for n in (1000, 3000):
            f[f"accept Ir/conn at {n} {s}"] = setup_per_conn(data, n, s)
        f[f"churn syscalls/conn {s}"] = syscalls(data, f"churn-sys/echo/{s}")
        f[f"churn http syscalls/conn {s}"] = syscalls(data, f"churn-sys/http/{s}")
        f[f"bytes/idle conn {s}"] = bytes_per_conn(data, s)
        f[f"echo_server stripped {s}"] = size(data, s)
    return f


def check(name, ours, bound, what):
    if ours is None or bound is None:
        print(f"  ?       {name}: not measured")
        return
    verdict = "MET    " if ours <= bound else "NOT MET"
    print(f"  {verdict} {name}: {ours:,.0f} <= {bound:,.0f} ({what})")


def targets(f):
    print("targets (issue: O(active) iterations, accepts in batches, a lean per-operation path):")
    for b in ("poll", "epoll"):
        o = f"ours-{b}"
        check(f"echo round trip, {o}", f[f"echo Ir/op {o}"], f["echo Ir/op mio"], "mio")
        check(f"http request, {o}", f[f"http Ir/op {o}"], f["http Ir/op mio"], "mio")
        check(f"churned echo syscalls, {o}", f[f"churn syscalls/conn {o}"], f["churn syscalls/conn mio"], "mio")
        check(f"churned http syscalls, {o}", f[f"churn http syscalls/conn {o}"],
              f["churn http syscalls/conn mio"], "mio")
        check(f"accept at 3,000 vs 1,000, {o}", f[f"accept Ir/conn at 3000 {o}"],
              f[f"accept Ir/conn at 1000 {o}"] and 1.2 * f[f"accept Ir/conn at 1000 {o}"], "1.2x own")
        check(f"accept at 3,000, {o}", f[f"accept Ir/conn at 3000 {o}"],
              f["accept Ir/conn at 3000 mio"] and 2 * f["accept Ir/conn at 3000 mio"], "2x mio")
        check(f"bytes per idle connection, {o}", f[f"bytes/idle conn {o}"],
              f["bytes/idle conn mio"] and 1.2 * f["bytes/idle conn mio"], "1.2x mio")
    e0, e10k = f["idle 0 Ir/op ours-epoll"], f["idle 10000 Ir/op ours-epoll"]
    check("beside 10,000 idle, ours-epoll vs none idle", e10k, e0 and 1.1 * e0, "1.1x own")
    check("beside 10,000 idle, ours-epoll", e10k, f["idle 10000 Ir/op mio"] and 2 * f["idle 10000 Ir/op mio"], "2x mio")
    check("beside 10,000 idle, ours-poll", f["idle 10000 Ir/op ours-poll"], f["idle 10000 Ir/op popol"], "popol")
    check("stripped echo_server", f["echo_server stripped ours-poll"], f["echo_server stripped mio"], "mio")


def regressions(f):
    if not os.path.exists(BASELINE):
        print("no benches/baseline.json: record one with --record")
        return 0
    with open(BASELINE) as fh:
        base = json.load(fh)
    worse = 0
    for k, v in sorted(f.items()):
        if not k.endswith(("ours-poll", "ours-epoll")) or v is None or base.get(k) is None:
            continue
        tolerance = BATCHED_TOLERANCE if k.startswith(BATCHED) else TOLERANCE
        if v > tolerance * base[k]:
            print(f"  REGRESSION {k}: {v:,.1f} (baseline {base[k]:,.1f})")
            worse += 1
    print(f"regressions against benches/baseline.json: {worse}")
    return worse


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 1:
        print(__doc__)
        return 2
    f = figures(load(args[0]))
    targets(f)
    if "--record" in sys.argv:
        with open(BASELINE, "w") as fh:
            json.dump({k: v for k, v in f.items() if v is not None}, fh, indent=1, sort_keys=True)
        print(f"recorded {BASELINE}")
        return 0
    return 1 if regressions(f) else 0


if __name__ == "__main__":
    sys.exit(main())

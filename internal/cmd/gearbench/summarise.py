#!/usr/bin/env python3
"""Summarise a run.sh output file (gobench and gearbench result lines).

    python3 internal/cmd/gearbench/summarise.py FILE

Prints two Markdown tables: every configuration with the median (min-max) of
jobs/s over its repetitions and the medians of p50/p99 latency, of allocs/job
and of CPU time per job (user + system of the whole benchmark process,
clients and workers, over all the jobs it ran, warm-up included); then, per
server and load, raw baseline vs ours side by side with the ratio of the
medians.
"""
import re
import statistics
import sys
from collections import OrderedDict


def parse(path):
    rows = OrderedDict()
    warmup, last = 100, None
    for line in open(path):
        line = line.strip()
        if line.startswith("$ "):
            m = re.search(r"-warmup (\d+)", line)
            warmup = int(m.group(1)) if m else 100
            last = None
            continue
        m = re.match(r"cpu: user=([\d.]+) sys=([\d.]+)", line)
        if m and last is not None:
            r, jobs = last
            r["cpu"].append((float(m.group(1)) + float(m.group(2))) / jobs * 1e6)
            last = None
            continue
        if not (line.startswith("gobench ") or line.startswith("gearbench ")):
            continue
        kv = dict(re.findall(r"(\S+?)=(\S+)", line))
        tool = line.split()[0]
        server = line.split()[1] if "=" not in line.split()[1] else ""
        clients = int(kv["clients"])
        if tool == "gobench":
            impl = f"raw/raw (gobench)"
            conns = clients
        else:
            conns = int(kv["conns"])
            impl = f"ours/ours {kv['mode']}"
            if conns != clients:
                impl += f" conns={conns}"
        key = (server, int(kv["size"]), clients, impl)
        r = rows.setdefault(key, {"jps": [], "p50": [], "p99": [], "allocs": [], "cpu": [], "errors": 0, "timedout": 0})
        last = (r, int(kv["ok"]) + warmup)
        jps = int(kv["ok"]) / float(kv["elapsed"].rstrip("s")) if float(kv["elapsed"].rstrip("s")) > 0 else 0.0
        r["jps"].append(jps)
        r["p50"].append(ms(kv["p50"]))
        r["p99"].append(ms(kv["p99"]))
        if "allocs/job" in kv and kv["allocs/job"] != "-":
            r["allocs"].append(float(kv["allocs/job"]))
        r["errors"] += int(kv["errors"]) + int(kv.get("worker_errs", 0)) + int(kv.get("client_errs", 0))
        r["timedout"] += "TIMED_OUT" in line
    return rows


def ms(s):
    return float(s.rstrip("ms")) if s != "-" else float("nan")


def fmtj(x):
    return f"{x:.1f}" if x < 1000 else f"{x:.0f}"


def main():
    rows = parse(sys.argv[1])
    print("| server | size | C | client / worker | runs | jobs/s median (min-max) | MiB/s | p50 ms | p99 ms | allocs/job | CPU µs/job | errors |")
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (server, size, clients, impl), r in sorted(rows.items(), key=lambda kv: kv[0][:3]):
        med = statistics.median(r["jps"])
        allocs = f"{statistics.median(r['allocs']):.1f}" if r["allocs"] else "-"
        cpu = f"{statistics.median(r['cpu']):.0f}" if r["cpu"] else "-"
        err = str(r["errors"]) + (f" ({r['timedout']} timed out)" if r["timedout"] else "")
        print(f"| {server} | {size} | {clients} | {impl} | {len(r['jps'])} | {fmtj(med)} ({fmtj(min(r['jps']))}-{fmtj(max(r['jps']))}) | "
              f"{med * size / (1 << 20):.1f} | {statistics.median(r['p50']):.3f} | {statistics.median(r['p99']):.3f} | {allocs} | {cpu} | {err} |")

    print()
    print("| server | size | C | raw/raw jobs/s | ours jobs/s (x raw) | ours -do (x raw) | ours -stream (x raw) | ours -conns 1 (x raw) | CPU µs/job raw / ours / -do |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    groups = OrderedDict()
    cpus = {}
    for (server, size, clients, impl), r in rows.items():
        groups.setdefault((server, size, clients), {})[impl] = statistics.median(r["jps"])
        if r["cpu"]:
            cpus[(server, size, clients, impl)] = statistics.median(r["cpu"])
    for (server, size, clients), g in sorted(groups.items()):
        raw = g.get("raw/raw (gobench)")

        def cell(impl):
            v = g.get(impl)
            if v is None:
                return "-"
            return f"{fmtj(v)} ({v / raw:.2f}x)" if raw else fmtj(v)
        cpu = " / ".join(f"{cpus[k]:.0f}" if k in cpus else "-" for k in
                         ((server, size, clients, i) for i in ("raw/raw (gobench)", "ours/ours submit", "ours/ours do")))
        print(f"| {server} | {size} | {clients} | {fmtj(raw) if raw else '-'} | {cell('ours/ours submit')} | "
              f"{cell('ours/ours do')} | {cell('ours/ours stream')} | {cell(f'ours/ours submit conns=1')} | {cpu} |")


if __name__ == "__main__":
    main()

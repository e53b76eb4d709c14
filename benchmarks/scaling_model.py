"""A model, on paper, of kkpy-dnn beyond one machine: the tables of docs/scaling.md.

Nothing here runs the challenge.  From measured single-node figures
(docs/performance.md) and measured MPI costs (``benchmarks/mpi_costs.py``),
plus a few stated assumptions about a cluster, it predicts the challenge's
rate (images x edges of all layers / seconds) of kkpy's MPI mode on 1 to 64
16-core CPU nodes and on 1 to 64 H100 GPUs, strong (60000 images in all)
and weak (60000 images per node or GPU), and prints the tables as Markdown.

What a rank does (kkpy/dnn/_engine.py, run_challenge): it loads the whole
network itself, takes a contiguous block of the images balanced by their
nonzeros, runs every layer on its block without talking to the others, and
sends its categories (and its times and per-layer statistics) to rank 0 at
the end.  So the model of one run on R ranks is

    inference  = the slowest rank's t(n_rank) + the gather of the categories
    t(n)       = floor(L) + n * b(N, L)       per node (CPU) or GPU, n images
    rate       = images * entries / inference

with the per-layer floor (the cost of a layer whatever its rows) and the
per-image slope b taken from the anchors below; and the time to a result
adds start-up, loading and hashing the network on every rank, the warm-up
and rank 0's merge of every rank's per-layer statistics.

Usage::

    python benchmarks/scaling_model.py                   # the Markdown of docs/scaling.md
    python benchmarks/scaling_model.py --costs mpi_costs.json   # with a new mpi_costs run
    python benchmarks/scaling_model.py --json            # the numbers, for plotting
    python benchmarks/scaling_model.py --update docs/scaling.md   # rewrite its tables
"""
from __future__ import annotations

import argparse
import json
import math
import sys

IMAGES = 60000
BEGIN, END = "<!-- scaling_model.py: begin -->", "<!-- scaling_model.py: end -->"
NETWORKS = ((1024, 120), (65536, 120), (65536, 1920))
NODES = (1, 2, 4, 8, 16, 32, 64)
GPUS = (1, 2, 4, 8, 16, 32, 64)
RECORDS = {"kk_spdnn": (1.16e12, "KK-SpDNN, 20 Skylake nodes (Ellis and Rajamanickam, HPEC 2019)"),
           "summit": (1.8e14, "Summit V100s (Hidayetoglu et al., HPEC 2020)")}

# -- measured: this repository's figures ------------------------------------------------

#: ``python benchmarks/mpi_costs.py --repeat 5`` on dev-2c (2 cores, MPICH 5.0.2,
#: 2 ranks through shared memory), the quietest of this session's runs.
MPI_COSTS = {
    "floor_seconds": 0.0174,            # batch: one live row through 120 layers, 2 threads
    "floor_layers": 120,
    "gather_categories_950": 2.1e-5,    # collectives: 2 ranks, slowest rank, median
    "root_merge_per_rank_L120_seconds": 5.3e-5,    # python: unpickle + merge one rank's stats
    "root_merge_per_rank_L1920_seconds": 1.25e-3,
    "network_hash_entries_per_second": 2.6e8,      # python: 2 threads
    "startup_seconds": 0.75,   # startup: -n 1 run's wall less its load, warm-up and inference
    "mpi_start_seconds": 0.20,  # startup: wall of mpiexec -n 2 python -c 'from mpi4py import MPI'
}

#: Per-node anchors for 16-core CPU nodes: seconds for ``images`` images on one
#: node, measured there (1024 x 120) or a dev-2c time (2 threads) divided by the
#: 16-core host's speed-up over dev-2c at 1024 x 120 in the same configuration.
DEV2C_1024 = 1.650   # dev-2c, 2 threads, 1024 x 120, 60000 images (performance.md, first table)
CPU_CONFIG = {  # 16-core host, 1024 x 120, 60000 images (performance.md, thread scaling)
    "4 ranks x 4 threads": 0.209,
    "1 rank x 16 threads": 0.269,
}
CPU_ANCHORS = {
    (1024, 120): {"seconds_16": CPU_CONFIG, "images": IMAGES,
                  "source": "16-core host, 60000 images (thread scaling table)"},
    (65536, 120): {"dev2c_seconds": 42.6, "images": 6000,
                   "source": "dev-2c, 2 threads, 6000 images, 3.54e10 (GraphBLAS side-by-side "
                             "table), divided by the 16-core / dev-2c ratio at 1024 x 120"},
    (65536, 1920): {"dev2c_seconds": 100.0, "images": 1000,
                    "source": "dev-2c, 2 threads, 1000 images, streamed, 4.01e10 (twelve-network "
                              "sweep), divided by the 16-core / dev-2c ratio at 1024 x 120"},
}

#: One H100 per rank (performance.md, "Several GPUs" and "Earlier engine"):
#: (images on the GPU, seconds of the slowest rank).
GPU_POINTS = {
    (1024, 120): [(60000, 0.0078), (30000, 0.0062), (15000, 0.0052)],
    (65536, 120): [(60000, 0.424), (30000, 0.219), (15000, 0.117)],
    (65536, 1920): [(60000, 2.850)],
}

#: Share of one node's inference spent on the rows still alive after the first
#: layers (the categories-to-be), which the nonzero-balanced split does not
#: balance: 1024 x 120 from the CPU profile (performance.md, "a third"); 65536
#: from the H100 per-layer figures (1.35 ms a layer for 1550 live rows: 112 and
#: 1912 such layers of 0.424 and 2.850 s).
LIVE_SHARE = {(1024, 120): 1 / 3, (65536, 120): 112 * 1.35e-3 / 0.424,
              (65536, 1920): 1912 * 1.35e-3 / 2.850}
#: Live rows at the end of 60000 images: 950 (real rows x 50) and 1550 (generated).
LIVE_ROWS = {(1024, 120): 950, (65536, 120): 1550, (65536, 1920): 1550}

#: Loading the network from the binary cache, with the chain's transpose: 16384 x
#: 480 (2.52e8 entries) in 15.3 s on dev-2c (performance.md, streaming table).
LOAD_ENTRIES_PER_SECOND = 16384 * 32 * 480 / 15.3
#: Peak host memory per rank holding a network: 4.23 GB for those 2.52e8 entries.
HOST_BYTES_PER_ENTRY = 4.23e9 / (16384 * 32 * 480)

# -- assumed: a cluster we have not measured ---------------------------------------------

ASSUMED = {
    "net_latency_s": 2e-6,          # one MPI message between nodes (InfiniBand class)
    "net_bandwidth_Bps": 12.5e9,    # 100 Gb/s per node
    "fs_bandwidth_Bps": 100e9,      # the shared file system, all nodes together
    "node_memory_B": 128 * 2**30,   # per CPU node, and per 4-GPU node's host
    "gpus_per_node": 4,
}


def entries(N, L):
    return N * 32 * L


def cache_bytes(N, L):
    """The binary cache's size: 8 bytes an entry and 4 a row (docs/dnn.rst)."""
    return L * (8 * N * 32 + 4 * (N + 1))


# -- the model -----------------------------------------------------------------------------

class Platform:
    """t(n) = floor + n * slope for one node (CPU) or one GPU."""

    def __init__(self, kind, net, floor, slope, ranks_per_unit, note):
        self.kind, self.net = kind, net
        self.floor, self.slope = floor, slope
        self.ranks_per_unit = ranks_per_unit
        self.note = note

    def time(self, n):
        return self.floor + n * self.slope


def cpu_platform(net, costs):
    N, L = net
    floor = costs["floor_seconds"] * L / costs["floor_layers"]
    mem = entries(N, L) * HOST_BYTES_PER_ENTRY
    four = 4 * mem <= 0.75 * ASSUMED["node_memory_B"]
    config = "4 ranks x 4 threads" if four else "1 rank x 16 threads"
    ranks = 4 if four else 1
    a = CPU_ANCHORS[net]
    if "seconds_16" in a:
        t = a["seconds_16"][config]
    else:
        t = a["dev2c_seconds"] / (DEV2C_1024 / CPU_CONFIG[config])
    # the anchor is the whole node's time for a["images"]; the floor is paid once
    # per rank, and the ranks of a node run side by side
    slope = max(t - floor, 0.0) / a["images"]
    return Platform("cpu", net, floor, slope, ranks,
                    f"{config}; {mem / 1e9:.3g} GB of network a rank")


def fit_affine(points):
    """Least squares t = a + b n through (n, t) points; one point: a = 0."""
    if len(points) == 1:
        n, t = points[0]
        return 0.0, t / n
    k = len(points)
    sn = sum(p[0] for p in points)
    st = sum(p[1] for p in points)
    snn = sum(p[0] ** 2 for p in points)
    snt = sum(p[0] * p[1] for p in points)
    b = (k * snt - sn * st) / (k * snn - sn ** 2)
    return (st - b * sn) / k, b


def gpu_platform(net, floor_scale=1.0):
    N, L = net
    if len(GPU_POINTS[net]) > 1:
        a, b = fit_affine(GPU_POINTS[net])
        per_layer = a / L
        note = f"fit of {len(GPU_POINTS[net])} runs: {per_layer * 1e6:.0f} us a layer"
    else:  # the 120-layer fit's per-layer floor, for the same neurons
        a0, _ = fit_affine(GPU_POINTS[(N, 120)])
        per_layer = a0 / 120
        n, t = GPU_POINTS[net][0]
        b = (t - per_layer * L) / n
        note = f"one run; the {N} x 120 fit's {per_layer * 1e6:.0f} us a layer"
    floor = per_layer * L * floor_scale
    if floor_scale != 1.0:
        n, t = GPU_POINTS[net][0]
        b = (t - floor) / n
    return Platform("gpu", net, floor, b, 1, note)


def max_over(mean, ranks):
    """Expected largest of ``ranks`` Poisson counts of this mean (normal approximation)."""
    if ranks <= 1 or mean <= 0:
        return mean
    return mean + math.sqrt(2 * mean * math.log(ranks))


def gather_seconds(costs, ranks, nodes, categories):
    """Tree gather of the categories: a level per doubling (as measured between two
    ranks, plus the network's latency for the levels between nodes), the bytes
    once at the root."""
    if ranks <= 1:
        return 0.0
    levels = math.ceil(math.log2(ranks))
    across = math.ceil(math.log2(nodes)) if nodes > 1 else 0
    return (levels * costs["gather_categories_950"] + across * ASSUMED["net_latency_s"]
            + 8 * categories / ASSUMED["net_bandwidth_Bps"])


def predict(p, units, images_per_unit, costs, imbalance=False):
    """One run on ``units`` nodes or GPUs, ``images_per_unit`` images each."""
    N, L = p.net
    ranks = units * p.ranks_per_unit
    nodes = units if p.kind == "cpu" else math.ceil(units / ASSUMED["gpus_per_node"])
    t = p.time(images_per_unit)
    if imbalance and ranks > 1:
        live_mean = LIVE_ROWS[p.net] * images_per_unit / IMAGES / p.ranks_per_unit
        extra = max_over(live_mean, ranks) / live_mean - 1
        t += LIVE_SHARE[p.net] * images_per_unit * p.slope * extra
    images = units * images_per_unit
    cats = LIVE_ROWS[p.net] * images / IMAGES
    gather = gather_seconds(costs, ranks, nodes, cats)
    seconds = t + gather
    # the time to a result: every rank starts, loads and hashes the whole network
    fs = ranks * cache_bytes(N, L) / ASSUMED["fs_bandwidth_Bps"]
    load = max(entries(N, L) / LOAD_ENTRIES_PER_SECOND, fs)
    hash_ = entries(N, L) / costs["network_hash_entries_per_second"]
    start = costs["startup_seconds"] + (costs["mpi_start_seconds"] if ranks > 1 else 0.0)
    warm = 2 * p.floor
    merge = ranks * _merge_per_rank(costs, L) if ranks > 1 else 0.0
    return {"units": units, "ranks": ranks, "images": images, "seconds": seconds,
            "gather": gather, "rate": images * entries(N, L) / seconds,
            "wall": start + load + hash_ + warm + seconds + merge, "load": load,
            "merge": merge}


def _merge_per_rank(costs, L):
    a, b = (costs["root_merge_per_rank_L120_seconds"],
            costs["root_merge_per_rank_L1920_seconds"])
    return a + (b - a) * (L - 120) / (1920 - 120)


# -- the tables ---------------------------------------------------------------------------------

def sci(x):
    return f"{x:.2e}".replace("e+", "e")


def secs(x):
    return f"{x:.3g}"


def strong_table(p, counts, costs, unit):
    rows = [f"| {unit} | images each | inference s | edges/s | speed-up | efficiency | "
            "edges/s, live rows at random | time to a result s |",
            "|---|---|---|---|---|---|---|---|"]
    one = predict(p, 1, IMAGES, costs)
    for u in counts:
        s = predict(p, u, IMAGES / u, costs)
        si = predict(p, u, IMAGES / u, costs, imbalance=True)
        rows.append(f"| {u} | {IMAGES / u:.0f} | {secs(s['seconds'])} | {sci(s['rate'])} | "
                    f"{s['rate'] / one['rate']:.3g} | {s['rate'] / (u * one['rate']):.0%} | "
                    f"{sci(si['rate'])} | {secs(s['wall'])} |")
    return "\n".join(rows)


def weak_table(cpu, gpu, costs):
    rows = ["| nodes or GPUs | CPU nodes: edges/s | efficiency | live rows at random | "
            "H100s: edges/s | efficiency | live rows at random |",
            "|---|---|---|---|---|---|---|"]
    ones = [predict(p, 1, IMAGES, costs)["rate"] for p in (cpu, gpu)]
    for u in NODES:
        cells = []
        for p, one in zip((cpu, gpu), ones):
            r = predict(p, u, IMAGES, costs)["rate"]
            ri = predict(p, u, IMAGES, costs, imbalance=True)["rate"]
            cells += [sci(r), f"{r / (u * one):.0%}", sci(ri)]
        rows.append(f"| {u} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def memory_line(cpu, net):
    N, L = net
    host = entries(N, L) * HOST_BYTES_PER_ENTRY
    gpus = ASSUMED["gpus_per_node"]
    node = ASSUMED["node_memory_B"]
    flag = lambda need: "fits" if need <= node else "**does not fit**"  # noqa: E731
    return (f"Host memory: {host / 1e9:.3g} GB a rank; a CPU node of {cpu.ranks_per_unit} "
            f"rank(s) {cpu.ranks_per_unit * host / 1e9:.3g} GB, a {gpus}-GPU node's host "
            f"{gpus * host / 1e9:.3g} GB ({flag(gpus * host)} in "
            f"{node / 2**30:.0f} GiB).")


def needed(p, costs, target, weak, limit=4096):
    """Fewest units whose modelled rate (live-row imbalance included) reaches ``target``."""
    u = 1
    while u <= limit:
        r = predict(p, u, IMAGES if weak else IMAGES / u, costs, imbalance=True)["rate"]
        if r >= target:
            return u
        u += 1 if u < 64 else u // 8
    return None


def render(costs):
    out = []
    cpu = {net: cpu_platform(net, costs) for net in NETWORKS}
    gpu = {net: gpu_platform(net) for net in NETWORKS}
    out.append("### Per-node and per-GPU parameters\n")
    out.append("| network | unit | ranks a unit | floor s (whatever the batch) | s an image | "
               "one unit, 60000 images | where from |")
    out.append("|---|---|---|---|---|---|---|")
    for net in NETWORKS:
        N, L = net
        for p, unit in ((cpu[net], "16-core node"), (gpu[net], "H100")):
            src = CPU_ANCHORS[net]["source"] if p.kind == "cpu" else p.note
            if p.kind == "cpu":
                src = f"{p.note}; {src}"
            out.append(f"| {N} x {L} | {unit} | {p.ranks_per_unit} | {secs(p.floor)} | "
                       f"{p.slope:.3g} | {secs(p.time(IMAGES))} s, "
                       f"{sci(IMAGES * entries(N, L) / p.time(IMAGES))} | {src} |")
    for net in NETWORKS:
        N, L = net
        out.append(f"\n### {N} x {L} ({sci(entries(N, L))} entries, binary cache "
                   f"{cache_bytes(N, L) / 1e9:.3g} GB)\n")
        out.append(memory_line(cpu[net], net) + "\n")
        out.append("Strong scaling, 16-core CPU nodes:\n")
        out.append(strong_table(cpu[net], NODES, costs, "nodes"))
        out.append(f"\nStrong scaling, H100 GPUs ({ASSUMED['gpus_per_node']} a node):\n")
        out.append(strong_table(gpu[net], GPUS, costs, "GPUs"))
        out.append("\nWeak scaling, 60000 images on every node or GPU:\n")
        out.append(weak_table(cpu[net], gpu[net], costs))
    out.append("\n### Against the published multi-node figures\n")
    out.append("; ".join(f"{sci(v)}: {who}" for v, who in RECORDS.values())
               + ". Rates here with the live rows at random.\n")
    out.append("| network | model, 20 CPU nodes, strong | 20 CPU nodes, weak | CPU nodes to "
               "1.16e12 (strong / weak) | model, 64 H100s, strong | 64 H100s, weak | H100s to "
               "1.8e14 (strong / weak) |")
    out.append("|---|---|---|---|---|---|---|")
    for net in NETWORKS:
        N, L = net
        c20s = predict(cpu[net], 20, IMAGES / 20, costs, imbalance=True)["rate"]
        c20w = predict(cpu[net], 20, IMAGES, costs, imbalance=True)["rate"]
        g64s = predict(gpu[net], 64, IMAGES / 64, costs, imbalance=True)["rate"]
        g64w = predict(gpu[net], 64, IMAGES, costs, imbalance=True)["rate"]
        kk = [needed(cpu[net], costs, RECORDS["kk_spdnn"][0], w) for w in (False, True)]
        su = [needed(gpu[net], costs, RECORDS["summit"][0], w) for w in (False, True)]
        fmt = lambda v: "none up to 4096" if v is None else str(v)  # noqa: E731
        out.append(f"| {N} x {L} | {sci(c20s)} | {sci(c20w)} | {fmt(kk[0])} / {fmt(kk[1])} | "
                   f"{sci(g64s)} | {sci(g64w)} | {fmt(su[0])} / {fmt(su[1])} |")
    out.append("\n### How much the GPU floor matters (65536 x 1920, 64 H100s, strong)\n")
    out.append("| per-layer floor | floor s | edges/s (live rows at random) |")
    out.append("|---|---|---|")
    fit = gpu_platform((65536, 1920))
    batch = 1.35e-3 / 49  # one 32-row batch's share of a live layer at 1550 rows (49 batches)
    for what, scale in (("the 65536 x 120 fit's", 1.0), ("a third of it", 1 / 3),
                        (f"one 32-row batch's work, {batch * 1e6:.1f} us",
                         batch * 1920 / fit.floor)):
        p = gpu_platform((65536, 1920), floor_scale=scale)
        r = predict(p, 64, IMAGES / 64, costs, imbalance=True)["rate"]
        out.append(f"| {what} | {secs(p.floor)} | {sci(r)} |")
    return "\n".join(out)


def as_json(costs):
    res = []
    for net in NETWORKS:
        for p, counts in ((cpu_platform(net, costs), NODES), (gpu_platform(net), GPUS)):
            for u in counts:
                for mode, n in (("strong", IMAGES / u), ("weak", IMAGES)):
                    r = predict(p, u, n, costs, imbalance=True)
                    res.append({"neurons": net[0], "layers": net[1], "unit": p.kind,
                                "mode": mode, **r})
    return res


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--costs", help="a JSON file written by benchmarks/mpi_costs.py --out; "
                                   "its figures replace the recorded ones")
    p.add_argument("--json", action="store_true", help="print the predictions as JSON instead")
    p.add_argument("--update", metavar="MD",
                   help=f"write the tables into MD between the lines {BEGIN!r} and {END!r}")
    a = p.parse_args(argv)
    costs = dict(MPI_COSTS)
    if a.costs:
        with open(a.costs) as fh:
            costs.update(costs_from(json.load(fh)))
    if a.json:
        print(json.dumps(as_json(costs), indent=1))
    elif a.update:
        with open(a.update) as fh:
            text = fh.read()
        if BEGIN not in text or END not in text:
            p.error(f"--update {a.update}: no {BEGIN!r} ... {END!r} lines to write between")
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        with open(a.update, "w") as fh:
            fh.write(f"{head}{BEGIN}\n\n{render(costs)}\n\n{END}{tail}")
    else:
        print(render(costs))
    return 0


def costs_from(run):
    """The figures the model takes from a ``mpi_costs.py --out`` file."""
    got = {}
    if "batch" in run:
        got["floor_seconds"] = run["batch"]["floor_seconds"]
        got["floor_layers"] = run["batch"]["layers"]
    if "collectives" in run:
        c = run["collectives"]
        got["gather_categories_950"] = c["gather_categories_950"]
    if "python" in run:
        py = run["python"]
        for k in ("root_merge_per_rank_L120_seconds", "root_merge_per_rank_L1920_seconds",
                  "network_hash_entries_per_second"):
            got[k] = py[k]
    if "startup" in run:
        by = {(s["ranks"], s["what"]): s for s in run["startup"]}
        one, mpi = by.get((1, "kkpy-dnn run")), by.get((2, "mpi4py import"))
        if one:
            inside = one["load_seconds"] + one["warmup_seconds"] + one["seconds"]
            got["startup_seconds"] = one["wall_seconds"] - inside
        if mpi:
            got["mpi_start_seconds"] = mpi["wall_seconds"]
    return got


if __name__ == "__main__":
    __import__("_script")  # refuses another checkout's kkpy, as asv does

    sys.exit(main())

"""``kkpy-dnn sweep``: several challenge networks in one go, a table and a plot, resumable.

Each network is ``kkpy-dnn generate``'s (seed 0 unless asked), streamed
layer by layer (:class:`kkpy.sparse.ChainStream`), so memory holds a few
layers whatever the network's size.  After each network the table is
written again, as JSON (``sweep.json``) and CSV (``sweep.csv``), so an
interrupted sweep resumes where it stopped: networks already in the JSON
with the same images, seed and space are skipped.  ``--check-rows R``
compares the categories among the first ``R`` rows with a float64 scipy
recurrence over the same layers, made again one at a time.
"""
from __future__ import annotations

import csv
import io
import json
import os

import numpy as np

__all__ = ["NETWORKS", "parse_networks", "sweep"]

#: The challenge's twelve networks, (neurons, layers).
NETWORKS = [(n, layers) for n in (1024, 4096, 16384, 65536) for layers in (120, 480, 1920)]

COLUMNS = ["neurons", "layers", "images", "edges", "seconds", "edges_per_second", "categories",
           "checked_rows", "check", "peak_rss_bytes", "space", "threads", "seed", "ranks",
           "load_seconds", "warmup_seconds"]
# Columns added after the first tables were written: rows without them are still read.
_LATER = {"ranks": 1, "load_seconds": None, "warmup_seconds": None}


def parse_networks(text):
    """``"all"`` or a comma-separated list of ``NxL`` (e.g. ``1024x120,4096x480``).

    Examples
    --------
    >>> parse_networks("1024x120, 4096x480")
    [(1024, 120), (4096, 480)]
    >>> len(parse_networks("all"))
    12
    """
    from ._data import check_neurons

    if text.strip() == "all":
        return list(NETWORKS)
    out = []
    for item in text.split(","):
        n, sep, layers = item.strip().lower().partition("x")
        if not (sep and n.isdigit() and layers.isdigit() and int(layers) >= 1):
            raise ValueError(f"--networks: {item.strip()!r} is not NxL (e.g. 1024x120)")
        check_neurons(int(n))
        out.append((int(n), int(layers)))
    return out


def _key(row):
    return f"{row['neurons']}x{row['layers']}"


def _load_table(path):
    """The rows of an earlier sweep in ``path`` (none if it is not there).

    Read as every input is (:func:`~kkpy.sparse.extending.open_chunks`): a
    FIFO or a device in its place is refused, not waited on.
    """
    from ..sparse.extending import open_chunks

    if not os.path.lexists(path):
        return []
    try:
        with open_chunks(path) as chunks:
            rows = json.loads(b"".join(bytes(b) for b in chunks))["networks"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path}: not a sweep table ({err}); move it away or choose "
                         "another --out") from None
    return [{**_LATER, **r} for r in rows
            if isinstance(r, dict) and set(COLUMNS) - set(_LATER) <= set(r)]


def _write(out_dir, rows):
    """The table as JSON and CSV, each replaced whole (never left half-written)."""
    from ..sparse.extending import atomic_write

    ordered = sorted(rows, key=lambda r: (r["neurons"], r["layers"]))
    text = io.StringIO()
    w = csv.DictWriter(text, COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    w.writerows(ordered)
    for name, data in (("sweep.json", json.dumps({"networks": ordered}, indent=1) + "\n"),
                       ("sweep.csv", text.getvalue())):
        with atomic_write(os.path.join(out_dir, name)) as f:
            f.write(data.encode())


def _reference(neurons, layers, images, seed, rows):
    """Categories (0-based) among the first ``rows`` inputs, by float64 scipy."""
    import scipy.sparse as sp

    from ._data import bias_for
    from ._generate import GeneratedLayers, synthetic_images
    from ._peers import ScipyReference

    Y0 = sp.vstack([Y for _, Y in synthetic_images(neurons, min(rows, images), seed)],
                   format="csr")
    ref = ScipyReference(Y0, bias_for(neurons))
    for k, W in enumerate(GeneratedLayers(neurons, layers, seed)):
        ref(k, W)
    return ref.categories()


def plot(path, rows):
    """Edges per second of each network, as the challenge papers draw them (needs matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for layers in sorted({r["layers"] for r in rows}):
        pts = sorted((r["neurons"], r["edges_per_second"]) for r in rows if r["layers"] == layers)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=f"{layers} layers")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("neurons per layer")
    ax.set_ylabel("edges / second")
    first = rows[0]
    ranks = f"{first['ranks']} ranks x " if first.get("ranks", 1) > 1 else ""
    ax.set_title(f"kkpy sweep: {first['images']} images, {first['space']} space, "
                 f"{ranks}{first['threads']} threads")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def sweep(networks, images, out_dir, space="threads", threads=None, seed=0, check_rows=0,
          status=None, comm=None):
    """Run ``networks`` (``(neurons, layers)`` pairs); return the table's rows.

    Rows already in ``out_dir/sweep.json`` for the same images, seed, space,
    threads and ranks are kept and not run again.  Under MPI (``comm``)
    every rank calls it: the images are split across the ranks, and rank 0
    alone reads and writes the table, checks and reports (the others
    return an empty list).
    """
    from ._engine import run_challenge
    from ._provenance import peak_rss_bytes

    rank = comm.Get_rank() if comm is not None else 0
    nranks = comm.Get_size() if comm is not None else 1
    say = (status if rank == 0 else None) or (lambda message: None)
    rows = []
    if rank == 0:
        os.makedirs(out_dir, exist_ok=True)
        rows = _load_table(os.path.join(out_dir, "sweep.json"))
    if comm is not None:  # every rank skips the same networks
        rows = comm.bcast(rows, root=0)
    done = {_key(r): r for r in rows}
    rows = list(done.values())
    for neurons, layers in networks:
        old = done.get(f"{neurons}x{layers}")
        if old is not None and (old["images"], old["seed"], old["space"], old["ranks"]) \
                == (images, seed, space, nranks) \
                and (threads is None or old["threads"] == threads):
            say(f"{neurons} x {layers}: in the table already, skipped")
            continue
        say(f"{neurons} x {layers}, {images} images ...")
        r = run_challenge(neurons=neurons, layers=layers, images=images, space=space,
                          threads=threads, generate=seed, stream=space != "cuda", comm=comm)
        if r is None:  # not rank 0
            continue
        found = np.asarray(r["category_ids"])
        check = None
        checked = min(check_rows, images)
        if checked:
            want = _reference(neurons, layers, images, seed, checked)
            check = bool(np.array_equal(found[found < checked], want))
        row = {"neurons": neurons, "layers": layers, "images": images, "edges": r["edges"],
               "seconds": r["seconds"], "edges_per_second": r["edges_per_second"],
               "categories": r["categories"], "checked_rows": checked, "check": check,
               "peak_rss_bytes": peak_rss_bytes(), "space": r["space"], "threads": r["threads"],
               "seed": seed, "ranks": r["ranks"], "load_seconds": r["load_seconds"],
               "warmup_seconds": r["warmup_seconds"]}
        rows = [x for x in rows if _key(x) != _key(row)] + [row]
        _write(out_dir, rows)
        say(f"{neurons} x {layers}: {r['seconds']:.3f} s, {r['edges_per_second']:.3e} edges/s"
            + ("" if check is None else f", categories {'match' if check else 'DIFFER'}"))
    return sorted(rows, key=lambda r: (r["neurons"], r["layers"])) if rank == 0 else []

"""Draw the performance plots of the docs from ``docs/figures.json``.

Usage::

    python docs/plots.py [OUT_DIR]        # default: docs/_generated

The Sphinx build runs this itself (``conf.py``), so the PNGs are never
committed: edit ``figures.json`` and rebuild.  Each entry of ``figures`` is
one measured or published rate; entries of one ``group`` share a plot, one
row of bars per network, kkpy, its peers and the published records side by
side.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
FIGURES = os.path.join(HERE, "figures.json")

#: Bar colour of each kind of entry.
COLOURS = {"kkpy": "#1f77b4", "peer": "#8c8c8c", "record": "#ff7f0e"}
KINDS = tuple(COLOURS)
LEGEND = {"kkpy": "kkpy", "peer": "peer library", "record": "published record"}


def load(path=FIGURES):
    """The figures file, checked: every entry names its group, network, kind and rate."""
    with open(path) as f:
        data = json.load(f)
    for n, entry in enumerate(data["figures"]):
        for key in ("group", "network", "implementation", "kind", "edges_per_second", "source"):
            if key not in entry:
                raise ValueError(f"{path}: figure {n} has no {key!r}")
        if entry["kind"] not in KINDS:
            raise ValueError(f"{path}: figure {n}: kind must be one of {KINDS}")
        if entry["group"] not in data["groups"]:
            raise ValueError(f"{path}: figure {n}: group {entry['group']!r} is not in 'groups'")
    return data


def _label(entry):
    where = entry.get("hardware")
    return f"{entry['implementation']} ({where})" if where else entry["implementation"]


def draw(entries, title, path):
    """One horizontal grouped bar chart: a block of bars per network, log-scale rates."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    networks = list(dict.fromkeys(e["network"] for e in entries))
    ticks, labels, y = [], [], 0.0
    fig_height = 1.0 + 0.32 * (len(entries) + len(networks))
    fig, ax = plt.subplots(figsize=(8, fig_height))
    for network in networks:
        rows = sorted((e for e in entries if e["network"] == network),
                      key=lambda e: (KINDS.index(e["kind"]), -e["edges_per_second"]))
        for e in rows:
            ax.barh(y, e["edges_per_second"], color=COLOURS[e["kind"]])
            ax.text(e["edges_per_second"], y, f" {e['edges_per_second']:.3g}",
                    va="center", fontsize=8)
            ticks.append(y)
            labels.append(f"{network}: {_label(e)}")
            y -= 1
        y -= 0.6
    ax.set_yticks(ticks, labels, fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("edges per second (higher is better)")
    ax.set_title(title, fontsize=10)
    shown = [k for k in KINDS if any(e["kind"] == k for e in entries)]
    handles = [plt.Rectangle((0, 0), 1, 1, color=COLOURS[k]) for k in shown]
    ax.legend(handles, [LEGEND[k] for k in shown], fontsize=8, loc="lower right")
    lo = min(e["edges_per_second"] for e in entries)
    hi = max(e["edges_per_second"] for e in entries)
    ax.set_xlim(lo / 3, hi * 8)  # room for the value labels
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def _save(fig, path):
    # Write beside the target and rename, so a concurrent build never reads half a PNG.
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "wb") as f:
            fig.savefig(f, format="png", dpi=110, metadata={"Software": None})
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main(out_dir=None, figures=FIGURES):
    """Write ``perf-<group>.png`` for every group in ``figures``; returns the paths."""
    out_dir = out_dir or os.path.join(HERE, "_generated")
    os.makedirs(out_dir, exist_ok=True)
    data = load(figures)
    paths = []
    for group, title in data["groups"].items():
        entries = [e for e in data["figures"] if e["group"] == group]
        if entries:
            path = os.path.join(out_dir, f"perf-{group}.png")
            draw(entries, title, path)
            paths.append(path)
    return paths


if __name__ == "__main__":
    for p in main(*sys.argv[1:2]):
        print(p)

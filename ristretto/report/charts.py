"""PNG charts of a sweep: accuracy vs area and energy (Pareto fronts), vs width (Fig. 3), layer SQNR (Fig. 5)."""

from pathlib import Path

__all__ = ["pareto", "write_charts"]

COLORS = {"float32": "#444444", "dfp": "#1f77b4", "fixed": "#9467bd", "minifloat": "#ff7f0e", "pow2": "#2ca02c"}


def pareto(points, cost):
    """Points no other point beats (less or equal ``cost`` and higher top-1), by increasing cost."""
    front, best = [], -1.0
    for p in sorted(points, key=lambda p: (p[cost], -p["top1"])):
        if p["top1"] > best:
            front.append(p)
            best = p["top1"]
    return front


def _save(fig, path):
    """Save a figure atomically: a killed run never leaves half a PNG under the final name."""
    from ..files import atomic_path

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fig.savefig(fh, format="png")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _tradeoff(points, cost, label, path):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for fmt in dict.fromkeys(p["format"] for p in points):
        pts = [p for p in points if p["format"] == fmt]
        ax.scatter([p[cost] for p in pts], [100 * p["top1"] for p in pts], label=fmt, color=COLORS.get(fmt), s=36,
                   zorder=3)
        for p in pts:
            ax.annotate(str(p["width"]), (p[cost], 100 * p["top1"]), textcoords="offset points", xytext=(4, 3),
                        fontsize=7, color="#555555")
    front = pareto(points, cost)
    ax.step([p[cost] for p in front], [100 * p["top1"] for p in front], where="post", color="black", lw=1,
            ls="--", label="Pareto front", zorder=2)
    ax.set_xscale("log")
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels of a log axis collide
    ax.set_xlabel(label)
    ax.set_ylabel("top-1 accuracy (%)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"Accuracy vs {label.split(' (')[0]} (labels: word width)")
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def _widths(points, path):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for fmt in dict.fromkeys(p["format"] for p in points if p["format"] != "float32"):
        pts = sorted((p for p in points if p["format"] == fmt), key=lambda p: p["width"])
        ax.plot([p["width"] for p in pts], [100 * p["top1"] for p in pts], marker="o", label=fmt,
                color=COLORS.get(fmt))
    base = [p for p in points if p["format"] == "float32"]
    if base:
        ax.axhline(100 * base[0]["top1"], color="#444444", ls=":", label="float32")
    ax.set_xlabel("word width (bits)")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_title("Accuracy vs word width (paper Fig. 3)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def _sqnr(points, path, width=8):
    plt = _plt()
    pts = [p for p in points if p["width"] == width and p.get("layers")]
    if not pts:
        pts = [p for p in points if p.get("layers")][:3]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    if pts:
        layers = list(pts[0]["layers"])
        w = 0.8 / len(pts)
        for i, p in enumerate(pts):
            ax.bar([j + i * w for j in range(len(layers))], [p["layers"][n] for n in layers], width=w,
                   label=f"{p['format']} {p['w_bits']}-bit", color=COLORS.get(p["format"]))
        ax.set_xticks([j + 0.4 - w / 2 for j in range(len(layers))], layers)
    ax.set_ylabel("weight SQNR (dB)")
    ax.set_title(f"Per-layer SQNR of the quantized weights (paper Fig. 5), {width}-bit points")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def write_charts(points, out_dir):
    """Write the four PNG charts into ``out_dir``; returns their paths."""
    out = Path(out_dir)
    paths = [out / "accuracy_vs_area.png", out / "accuracy_vs_energy.png", out / "accuracy_vs_width.png",
             out / "layer_sqnr.png"]
    _tradeoff(points, "area_um2", "MAC area (um^2, OSU 0.18 um)", paths[0])
    _tradeoff(points, "energy_pj_per_mac", "energy per MAC (pJ at 100 MHz, unit energy per cycle / lanes)", paths[1])
    _widths(points, paths[2])
    _sqnr(points, paths[3])
    return paths

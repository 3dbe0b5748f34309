"""Charts of a sweep: accuracy vs area and energy (Pareto fronts), vs width (Fig. 3), layer SQNR (Fig. 5).

Each chart is returned as a matplotlib figure; ``report.write`` renders it once and
writes the PNG and the page that embeds it from the same bytes.
"""

__all__ = ["figures", "pareto", "png", "resolved"]

COLORS = {"float32": "#444444", "dfp": "#1f77b4", "fixed": "#9467bd", "minifloat": "#ff7f0e", "pow2": "#2ca02c",
          "mx": "#d62728", "fp8": "#8c564b"}  # one colour per scheme the report takes (matplotlib's default repeats)


def pareto(points, cost):
    """Points no other point beats (less or equal ``cost`` and higher top-1), by increasing cost."""
    front, best = [], -1.0
    for p in sorted(points, key=lambda p: (p[cost], -p["top1"])):
        if p["top1"] > best:
            front.append(p)
            best = p["top1"]
    return front


def resolved(front):
    """For each point of a Pareto front, whether its accuracy gain over the cheaper front point it follows is
    outside the noise: its 95% interval (``top1_lo``..``top1_hi``) does not overlap that point's. The cheapest
    point is always resolved; points without intervals count as resolved."""
    marks = []
    for i, p in enumerate(front):
        q = front[i - 1] if i else None
        marks.append(q is None or "top1_lo" not in p or "top1_hi" not in q or p["top1_lo"] > q["top1_hi"])
    return marks


def png(fig):
    """The PNG bytes of ``fig``; the figure is closed."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    _plt().close(fig)
    return buf.getvalue()


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _tradeoff(points, cost, label):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    for fmt in dict.fromkeys(p["format"] for p in points):
        pts = [p for p in points if p["format"] == fmt]
        ax.scatter([p[cost] for p in pts], [100 * p["top1"] for p in pts], label=fmt, color=COLORS.get(fmt), s=36,
                   zorder=3)
        if all("top1_lo" in p for p in pts):  # the 95% interval of each accuracy
            ax.errorbar([p[cost] for p in pts], [100 * p["top1"] for p in pts],
                        yerr=[[100 * (p["top1"] - p["top1_lo"]) for p in pts],
                              [100 * (p["top1_hi"] - p["top1"]) for p in pts]],
                        fmt="none", ecolor=COLORS.get(fmt), alpha=0.5, lw=1, zorder=2)
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
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside: never over a point
    ax.set_title(f"Accuracy vs {label.split(' (')[0]} (labels: word width; /wN: N-bit weights)\n"
                 "bars: 95% intervals of the accuracies", fontsize=10)
    fig.tight_layout()  # before the labels: they are placed in the final layout's display coordinates
    _labels(fig, ax, [(p[cost], 100 * p["top1"], str(p["width"]) if p.get("w_bits", p["width"]) == p["width"]
                       else f"{p['width']}/w{p['w_bits']}") for p in points])
    return fig


def _labels(fig, ax, items, fontsize=7):
    """Label each point ``(x, y, text)`` where its text overlaps no label placed before it and no point:
    candidate offsets around the point are tried in turn (display coordinates, after the layout is fixed)."""
    fig.canvas.draw()
    to_px = ax.transData.transform
    px_per_pt = fig.dpi / 72.0
    h = fontsize * 1.25 * px_per_pt
    dots = [tuple(to_px((x, y))) for x, y, _ in items]
    r = 3.5 * px_per_pt  # a marker of s=36 (6 points across) and a margin
    boxes = [(dx - r, dy - r, dx + r, dy + r) for dx, dy in dots]  # the markers themselves

    def free(b):
        return all(b[2] <= o[0] or b[0] >= o[2] or b[3] <= o[1] or b[1] >= o[3] for o in boxes)

    for (x, y, text), (dx, dy) in sorted(zip(items, dots, strict=True), key=lambda t: (t[1][0], -t[1][1])):
        w = 0.62 * fontsize * px_per_pt * len(text)
        offsets = [(r, 2), (r, -2 - h), (-r - w, 2), (-r - w, -2 - h)]
        offsets += [(r, k * h * s) for k in (1, 2, 3) for s in (1, -1)]
        offsets += [(-r - w, k * h * s) for k in (1, 2, 3) for s in (1, -1)]
        ox, oy = next((o for o in offsets if free((dx + o[0], dy + o[1], dx + o[0] + w, dy + o[1] + h))),
                      offsets[0])
        boxes.append((dx + ox, dy + oy, dx + ox + w, dy + oy + h))
        ax.annotate(text, (x, y), textcoords="offset points", xytext=(ox / px_per_pt, oy / px_per_pt),
                    fontsize=fontsize, color="#555555")


def _widths(points):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for fmt in dict.fromkeys(p["format"] for p in points if p["format"] != "float32"):
        pts = sorted((p for p in points if p["format"] == fmt), key=lambda p: p["width"])
        ax.plot([p["width"] for p in pts], [100 * p["top1"] for p in pts], marker="o", label=fmt,
                color=COLORS.get(fmt))
    base = [p for p in points if p["format"] == "float32"]
    if base:
        ax.axhline(100 * base[0]["top1"], color="#444444", ls=":", label="float32")
    mx = any(p["format"] == "mx" for p in points)
    ax.set_xlabel("word width (bits)" + ("; mx: element width (+ an 8-bit scale per 32)" if mx else ""))
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_title("Accuracy vs word width (paper Fig. 3)" + (": per-layer scales vs per-block MX" if mx else ""))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _plain(name):
    """A user's string as a literal label: a ``$`` would start matplotlib's mathtext, control characters no font
    draws become ``?``."""
    return "".join(c if c.isprintable() else "?" for c in str(name)).replace("$", r"\$")


def _sqnr(points, width=8):
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
        ax.set_xticks([j + 0.4 - w / 2 for j in range(len(layers))], [_plain(n) for n in layers])
    ax.set_ylabel("weight SQNR (dB)")
    ax.set_title(f"Per-layer SQNR of the quantized weights (paper Fig. 5), {width}-bit points")
    ax.grid(True, axis="y", alpha=0.3)
    if pts:  # points without per-layer figures leave the chart empty
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def figures(points):
    """The five charts of ``points``: ``{file stem: matplotlib figure}``."""
    return {"accuracy_vs_area": _tradeoff(points, "area_um2", "area of the network's units (um^2, OSU 0.18 um)"),
            "accuracy_vs_energy": _tradeoff(points, "energy_nj_per_inference",
                                            "energy per inference (nJ, MACs x energy per MAC)"),
            "accuracy_vs_width": _widths(points),
            "layer_sqnr": _sqnr(points),
            "accuracy_vs_weight_memory": _tradeoff(points, "weight_bits", "weight memory (bits)")}

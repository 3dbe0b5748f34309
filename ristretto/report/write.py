"""Report files: JSON, CSV, Markdown and a self-contained HTML page."""

import base64
import csv
import html
import io
from pathlib import Path

from ..files import write_bytes, write_json, write_text
from .charts import figures, pareto, png, resolved
from .sweep import POINT_FIELDS

__all__ = ["csv_safe", "md_escape", "write_report"]

_COLUMNS = [("format", "format", "{}"), ("width", "bits", "{}"), ("w_bits", "weight bits", "{}"),
            ("top1", "top-1 %", "{:.2%}"), ("ci", "95% interval", "{}"), ("top1_fp32", "fp32-mode %", "{:.2%}"),
            ("overflows", "overflows", "{}"), ("units", "units", "{}"), ("lanes", "lanes", "{}"),
            ("acc_bits", "acc bits", "{}"), ("area_um2", "area um^2", "{:.0f}"),
            ("area_um2_per_mac", "um^2/MAC", "{:.0f}"), ("energy_pj_per_mac", "pJ/MAC", "{:.2f}"),
            ("energy_nj_per_inference", "nJ/inference", "{:.1f}"), ("weight_bits", "weight bits total", "{:,}"),
            ("fmax_mhz", "fmax MHz", "{:.0f}"), ("clock_mhz", "clock MHz", "{:g}"),
            ("ice40_luts", "iCE40 LUTs", "{}"), ("ice40_fmax_mhz", "iCE40 MHz", "{:.0f}"),
            ("verified", "verified", "{}")]


_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]|#"})


def md_escape(text):
    """``text`` as literal Markdown: HTML tags inert (``<`` ``>`` ``&`` as entities), emphasis, code, links,
    headings and table pipes backslash-escaped."""
    return html.escape(str(text), quote=False).translate(_MD_SPECIAL)


def csv_safe(value):
    """A CSV cell a spreadsheet shows as text: a string starting with ``=``, ``+``, ``-``, ``@``, a tab or a
    carriage return (a formula to Excel and LibreOffice) gets a leading ``'``; numbers stay numbers."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _cell(p, key, fmt):
    if key == "ci":
        return f"{100 * p['top1_lo']:.1f}-{100 * p['top1_hi']:.1f}" if "top1_lo" in p else "-"
    v = p.get(key)
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if key == "clock_mhz" and p.get("clock_met") is False:
        return f"{v:g}!"  # some unit misses the clock asked for: its power is quoted at its own fmax
    return fmt.format(v).replace("%", "") if key.startswith("top1") else fmt.format(v)


def _fronts(points):
    """``{id(point): mark}`` on the accuracy-vs-energy front: ``*`` resolved, ``~`` within the noise."""
    front = pareto(points, "energy_nj_per_inference")
    return {id(p): "*" if ok else "~" for p, ok in zip(front, resolved(front), strict=True)}


def _markdown(points, meta):
    front = _fronts(points)
    e = md_escape
    lines = [f"# Accuracy vs hardware: {e(meta['model'])} on {e(meta['data'])}", "",
             f"Library {e(meta['liberty'])}, power at {meta['clock_mhz']:g} MHz (a unit that misses it: at its own "
             f"fmax), on each layer's own data. {e(meta['note'])}", "",
             "| " + " | ".join(h for _, h, _ in _COLUMNS) + " | Pareto (energy) |",
             "|" + "---|" * (len(_COLUMNS) + 1)]
    for p in points:
        cells = " | ".join(e(_cell(p, k, f)) for k, _, f in _COLUMNS)
        lines.append(f"| {cells} | {front.get(id(p), '')} |")
    lines += ["", "Pareto (energy): `*` on the accuracy-vs-energy-per-inference front, `~` on the front but its gain "
              "over the cheaper front point lies inside the 95% intervals (not resolved by this validation set). "
              "`clock MHz` with `!`: a unit misses the clock asked for, so it is quoted at its own fmax (the lowest "
              "such clock is shown)."]
    lines += ["", "Tools: " + e("; ".join(f"{k}: {v}" for k, v in meta["tools"].items())), ""]
    return "\n".join(lines)


def _html(points, meta, charts):
    """The page; ``charts`` is ``{stem: PNG bytes}``, embedded (the page opens offline)."""
    front = {k for k, v in _fronts(points).items() if v == "*"}
    rows = "".join(
        "<tr" + (' class="front"' if id(p) in front else "") + ">" +
        "".join(f"<td>{html.escape(_cell(p, k, f))}</td>" for k, _, f in _COLUMNS) + "</tr>" for p in points)
    imgs = "".join(
        f'<figure><img alt="{stem}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'
        f"<figcaption>{html.escape(stem.replace('_', ' '))}</figcaption></figure>" for stem, data in charts.items())
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h, _ in _COLUMNS)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Ristretto report</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2em auto;max-width:1500px;padding:0 1em;color:#222}}
table{{border-collapse:collapse;font-size:12px}}td,th{{border:1px solid #ccc;padding:3px 5px;text-align:right}}
.wide{{overflow-x:auto}}td{{white-space:nowrap}}
th{{background:#f2f2f2}}tr.front td{{background:#eef7ee;font-weight:600}}
figure{{display:inline-block;margin:8px}}img{{max-width:520px}}figcaption{{text-align:center;color:#555}}
.note{{color:#555}}
</style></head><body>
<h1>Accuracy vs hardware</h1>
<p>{html.escape(meta['model'])} on {html.escape(meta['data'])}: float32 top-1 {meta['baseline_top1']:.2%}.
Units synthesized on {html.escape(meta['liberty'])}; power at {meta['clock_mhz']:g} MHz (a unit that misses it:
at its own fmax), on each layer's own data.
Highlighted rows lie on the accuracy-vs-energy-per-inference Pareto front with a gain outside the 95%
intervals of {meta['validation_size']} validation images.</p>
<p class="note">{html.escape(meta['note'])}</p>
<div class="wide"><table><tr>{head}</tr>{rows}</table></div>
{imgs}
<p class="note">Tools: {html.escape('; '.join(f"{k}: {v}" for k, v in meta['tools'].items()))}</p>
</body></html>
"""


def write_report(report, out_dir):
    """Write report.json, report.csv, report.md, report.html and the PNG charts of ``report`` (what ``sweep``
    returns); return the paths. Each chart is rendered once: the PNG file and the page hold the same bytes."""
    points, meta = report.points, report.meta
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    charts = {stem: png(fig) for stem, fig in figures(points).items()}
    for stem, data in charts.items():
        write_bytes(out / f"{stem}.png", data)
    write_json(out / "report.json", {"meta": meta, "points": points}, indent=1)
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=POINT_FIELDS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows({k: csv_safe(v) for k, v in p.items()} for p in points)
    write_text(out / "report.csv", buf.getvalue())
    write_text(out / "report.md", _markdown(points, meta))
    write_text(out / "report.html", _html(points, meta, charts))
    return [out / n for n in ("report.json", "report.csv", "report.md", "report.html")] + \
        [out / f"{stem}.png" for stem in charts]

"""`latest.md` (the table the README quotes) and `latency.png` (latency distributions)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench._goals import evaluate
from bench._results import Results, summarise

__all__ = ["README_END", "README_START", "update_readme", "write_chart", "write_markdown"]

README_START = "<!-- bench-table:start -->"
README_END = "<!-- bench-table:end -->"


def _fmt(v: float | None, unit: str = "") -> str:
    if v is None:
        return "-"
    if unit == "ms" or abs(v) < 10:
        return f"{v:,.2f}"
    return f"{v:,.0f}"


def write_markdown(path: Path, results: Results, meta: dict[str, Any]) -> None:
    m = meta["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    lines = [
        "# Parley benchmark results",
        "",
        f"- Date: {m['date']}",
        f"- Machine: {m['cores']} cores ({m['cpu']}), {m['ram_gib']} GiB RAM, {m['os']}, "
        f"Python {m['python']}; generator, servers and Kafka/FerretDB share these cores",
        f"- Load average (1/5/15 min) before the run: {meta.get('load_before', '-')}, "
        f"after: {'/'.join(str(x) for x in m['load_average'])}",
        f"- Versions: {versions}",
        f"- Command: `{meta['command']}`",
        f"- Sizes: {meta['sizes']}",
        f"- Parley ran with: {meta['parley_env']}",
        *_generator_line(results),
        *(f"- Goal: {g.line()}" for g in evaluate(results.rows)),
        "",
        "Values are medians over the rounds (Parley and peer alternating in the same run); "
        "spread = (max - min) / median. Ratio = Parley / peer: above 1 is better where "
        "`better` is higher, below 1 is better where it is lower. Ceiling = the same generator "
        "against a no-op server: a figure near it is limited by the generator, not the server.",
        "",
        "| scenario | metric | Parley | spread | peer | peer value | ratio | better | unit "
        "| ceiling | note |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in results.rows:
        value, spread = summarise(row.values)
        peer_value, _ = summarise(row.peer_values)
        ratio = value / peer_value if value is not None and peer_value else None
        lines.append(
            f"| {row.scenario} | {row.metric} | {_fmt(value, row.unit)} | "
            f"{'-' if spread is None else f'{spread:.0%}'} | {row.peer or '-'} | "
            f"{_fmt(peer_value, row.unit)} | {'-' if ratio is None else f'{ratio:.2f}'} | "
            f"{row.better} | {row.unit} | {_fmt(row.ceiling, row.unit)} | {row.note} |"
        )
    if results.errors:
        lines += ["", "## Scenarios that produced no figures", ""]
        lines += [f"- {k}: {v}" for k, v in results.errors.items()]
    if results.notes:
        lines += ["", "## Notes", ""]
        lines += [f"- {n}" for n in results.notes]
    lines += ["", "Latency distributions: `latency.png` beside this file.", ""]
    path.write_text("\n".join(lines))


def _generator_line(results: Results) -> list[str]:
    if not results.generators:
        return []
    kinds = ", ".join(f"{kind} {gen}" for kind, gen in sorted(results.generators.items()))
    return [
        f"- Load generator per job (go: bench/loadgen_go, python: bench/loadgen; the same for "
        f"Parley, its peer and the ceiling): {kinds}"
    ]


def write_chart(path: Path, results: Results) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(name, series) for name, series in results.distributions.items() if series]
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(6 * max(1, len(panels)), 4.2))
    axes_list = list(axes) if len(panels) > 1 else [axes]
    for ax, (name, series) in zip(axes_list, panels, strict=False):
        for label, quantiles in series:
            if not quantiles:
                continue
            ms = [max(q * 1000, 1e-3) for q in quantiles]
            fraction = [i / (len(ms) - 1) for i in range(len(ms))] if len(ms) > 1 else [1.0]
            ax.plot(ms, fraction, label=label)
        ax.set_xscale("log")
        ax.set_xlabel("latency (ms, log scale)")
        ax.set_ylabel("fraction of deliveries")
        ax.set_title(name)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    if not panels:
        axes_list[0].text(0.5, 0.5, "no latency figures in this run", ha="center")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def update_readme(readme: Path, latest_md: Path) -> bool:
    """Put latest.md's summary (date, machine, table) between the README's bench markers.

    Returns False (and changes nothing) when the README has no markers."""
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        return False
    body = latest_md.read_text().split("\n## ", 1)[0]  # without errors and notes
    body = body.replace("# Parley benchmark results\n", "", 1).strip()
    head, rest = text.split(README_START, 1)
    _old, tail = rest.split(README_END, 1)
    readme.write_text(
        f"{head}{README_START}\n{body}\n\nFull results, notes and the latency chart: "
        f"`bench/results/`.\n{README_END}{tail}"
    )
    return True

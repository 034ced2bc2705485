"""What a newcomer sees (issue 29): cut-offs, invented numbers and readable charts, in every view.

The run: 6 bundled documents x extractive strategies, an oracle, two precomputed systems and a toy
model whose every summary stops at its budget mid-sentence ("... met Tomás Eche") with the details a
local model records (``stop_reason: length``, ``cut: true``). Expected values come from that set-up
(6 of 6 summaries cut) and from the bundled oracle of invented numbers in the padded example.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_rgb

from evalkit.cli import main
from evalkit.report import plots
from evalkit.report.html import document_data, render_html
from evalkit.run import registry
from evalkit.run.experiment import Experiment

REPO = Path(__file__).resolve().parents[1]
CASES = REPO / "evalkit" / "data_files" / "cases"
SAMPLE = REPO / "evalkit" / "data_files" / "sample_outputs.jsonl"
N_DOCS = 6
CUT_END = " On Monday officials said that 4,500 people met Tomás Eche"

TOY = f'''
"""A toy model whose summaries stop at the budget mid-sentence, with a local model's details."""
from evalkit.summarizers.base import Summarizer
from evalkit.core.text import sentences


class CutModel(Summarizer):
    kind = "toy-cut"

    def summarize_one(self, request):
        text = " ".join(sentences(request.document.text)[:1]) + {CUT_END!r}
        return text, {{"stop_reason": "length", "stopped_by": "budget", "cut": True, "trimmed_words": 0}}
'''

SYSTEMS = [{"kind": "lead", "name": "lead"}, {"kind": "lead", "name": "lead-words", "cut": "word"},
           {"kind": "textrank"}, {"kind": "lexrank"}, {"kind": "random", "seed": 0}, {"kind": "oracle"},
           {"kind": "precomputed", "name": "faithful", "path": str(SAMPLE), "system_column": "system",
            "system": "demo-faithful"},
           {"kind": "precomputed", "name": "hallucinating", "path": str(SAMPLE), "system_column": "system",
            "system": "demo-hallucinating"},
           {"kind": "toy-cut", "name": "cut-model"}]


@pytest.fixture(scope="module")
def toy_registered(tmp_path_factory):
    folder = tmp_path_factory.mktemp("toy")
    (folder / "toy_cut_model.py").write_text(textwrap.dedent(TOY), encoding="utf-8")
    mp = pytest.MonkeyPatch()
    mp.syspath_prepend(str(folder))
    mp.setitem(registry.SUMMARIZERS, "toy-cut", "toy_cut_model:CutModel")
    yield
    mp.undo()


@pytest.fixture(scope="module")
def run(toy_registered, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("views29")
    return Experiment(systems=SYSTEMS, metrics=[{"kind": "rouge"}, {"kind": "length"}, {"kind": "entities"}],
                      data={"path": "bundled", "limit": N_DOCS}, target={"sentences": 3}, name="views29",
                      output_dir=tmp / "runs", store=tmp / "store.sqlite", progress=False).run()


# -- cut-offs ----------------------------------------------------------------------------------

def _table(out: str) -> dict[str, dict[str, str]]:
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("system"))
    header = lines[start].split()
    rows = {}
    for line in lines[start + 2:]:
        if not line.strip():
            break
        rows[line.split()[0]] = dict(zip(header, line.split()))
    return rows


def test_the_cli_table_counts_summaries_cut_at_the_budget(run, capsys):
    assert main(["report", str(run.run_dir)]) == 0
    out = capsys.readouterr().out
    rows = _table(out)
    assert rows["cut-model"]["cut"] == str(N_DOCS)  # every one of its summaries stopped at the budget
    assert rows["cut-model"]["failed"] == "0"
    assert rows["lead"]["cut"] == "-"  # an extractive strategy records no stop reason: not "0"
    assert f"cut-model {N_DOCS}/{N_DOCS}" in out  # and a note says which system was cut
    assert "cut = summaries the length budget stopped" in out


def test_the_html_report_counts_cuts_and_badges_the_cut_summaries(run):
    page = render_html(run)
    table = page.split('id="table"', 1)[1].split("</section>", 1)[0]
    header = re.findall(r"<th[^>]*>(.*?)</th>", table.split("</thead>")[0])
    assert header[-2:] == ["failed", "cut"]
    row = re.search(r"<tr><th>cut-model</th>(.*?)</tr>", table).group(1)
    assert re.findall(r"<td[^>]*>(.*?)</td>", row)[-1] == str(N_DOCS)
    lead = re.search(r"<tr><th>lead</th>(.*?)</tr>", table).group(1)
    assert re.findall(r"<td[^>]*>(.*?)</td>", lead)[-1] == "–"
    # the drill-down's data: a badge for every cut summary, none for the others
    data = json.loads(page.split('id="evalkit-data">', 1)[1].split("</script>", 1)[0])
    column = data["systems"].index("cut-model")
    for _, _, entries in data["documents"]:
        assert entries[column][0].endswith("Tomás Eche")
        assert "ends mid-sentence" in entries[column][5]
        assert entries[data["systems"].index("lead")][5] is None


def test_the_html_drill_down_shows_the_cut_badge_in_a_browser(run, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    from shutil import which

    chromium = which("chromium") or which("chromium-browser")
    if chromium is None:
        pytest.skip("no chromium")
    page_file = tmp_path / "r.html"
    page_file.write_text(render_html(run), encoding="utf-8")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium)
        page = browser.new_page()
        page.goto(page_file.as_uri())
        page.click("#doclist button")
        badge = page.locator('.summary[data-system="cut-model"] h4 .badge.cut')
        assert badge.count() == 1 and "mid-sentence" in badge.inner_text()
        assert page.locator('.summary[data-system="lead"] .badge').count() == 0
        browser.close()


def test_the_length_chart_marks_cut_summaries(run):
    fig = plots.length_compliance(run, n_resamples=200)
    ax = fig.axes[0]
    crosses = [c for c in ax.collections if c.get_label() == "_cut-model cut"]
    assert len(crosses) == 1 and len(crosses[0].get_offsets()) == N_DOCS
    assert any(t.get_text().endswith(f"{N_DOCS} cut") for t in ax.get_xticklabels())
    assert "stopped at the length budget (cut)" in [t.get_text() for t in ax.get_legend().get_texts()]


# -- invented numbers next to invented entities ------------------------------------------------

def test_compare_lists_the_padded_examples_invented_numbers(tmp_path, capsys):
    config = tmp_path / "padded.yaml"
    config.write_text(json.dumps({
        "name": "padded", "target": {"words": 100},
        "systems": [{"kind": "precomputed", "name": "padded", "path": str(CASES / "scraped_example.outputs.jsonl"),
                     "system_column": "system", "system": "demo-padded"}],
        "metrics": [{"kind": "entities"}]}), encoding="utf-8")
    assert main(["compare", str(CASES / "scraped_example.txt"), "--config", str(config),
                 "--output", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("-- numbers not in the source: "))
    invented = json.loads((CASES / "scraped_example.outputs.expected.json").read_text(encoding="utf-8"))
    numbers = [item for item in invented["demo-padded"] if any(ch.isdigit() for ch in item)]
    assert len(numbers) >= 10
    missing = [n for n in numbers if n not in line]  # the oracle's core strings; a listed span may be wider
    assert not missing, f"invented numbers not listed: {missing}"


def test_the_html_report_and_the_document_view_highlight_invented_numbers(run):
    data = document_data(run, [])
    column = data["systems"].index("cut-model")
    numbers = [entries[column][4] for _, _, entries in data["documents"]]
    assert all(any("4,500" in n for n in found) for found in numbers)  # the toy invents 4,500 in every summary
    document = data["documents"][0][0]
    html = plots.document_view_html(run, document)
    assert re.search(r"<mark>[^<]*4,500[^<]*</mark>", html)
    table = plots.unsupported_table(run, document)
    assert "4,500" in table.loc["cut-model", "unsupported numbers"]
    assert table.loc["lead", "unsupported numbers"] == "none"


# -- visual and text slips ---------------------------------------------------------------------

def _quad(label, renderer) -> np.ndarray:
    """The four corners (pixels) of a tick label's box as drawn: its upright size, turned about its anchor."""
    angle = np.deg2rad(label.get_rotation())
    rotation = label.get_rotation()
    label.set_rotation(0)
    upright = label.get_window_extent(renderer)
    label.set_rotation(rotation)
    w, h = upright.width, upright.height
    x0 = {"left": 0.0, "center": -w / 2, "right": -w}[label.get_ha()]
    y0 = {"top": -h, "center": -h / 2, "center_baseline": -h / 2, "bottom": 0.0, "baseline": 0.0}[label.get_va()]
    if label.get_rotation_mode() != "anchor":  # default mode: the turned box is aligned, as drawn
        box = label.get_window_extent(renderer)
        return np.array([[box.x0, box.y0], [box.x1, box.y0], [box.x1, box.y1], [box.x0, box.y1]])
    corners = np.array([[x0, y0], [x0 + w, y0], [x0 + w, y0 + h], [x0, y0 + h]])
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    anchor = label.get_transform().transform(label.get_position())
    return corners @ turn.T + anchor


def _overlap(a: np.ndarray, b: np.ndarray) -> bool:
    """Two convex quadrilaterals overlap unless some edge normal separates them (separating axis theorem)."""
    for quad in (a, b):
        for i in range(4):
            edge = quad[(i + 1) % 4] - quad[i]
            normal = np.array([-edge[1], edge[0]])
            pa, pb = a @ normal, b @ normal
            if pa.max() <= pb.min() or pb.max() <= pa.min():
                return False
    return True


def test_the_separating_axis_check_sees_an_overlap():  # the checker below must be able to fail
    square = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], float)
    assert _overlap(square, square + 5) and not _overlap(square, square + 11)


def test_the_factuality_tick_labels_do_not_run_into_each_other(run):
    fig = plots.factuality(run, n_resamples=200)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        labels = [t for t in ax.get_xticklabels() if t.get_text()]
        assert len(labels) == len(SYSTEMS)
        assert not any("upper bound" in t.get_text() for t in labels)  # said once, in the axis label
        quads = [_quad(t, renderer) for t in labels]
        touching = [(labels[i].get_text(), labels[i + 1].get_text()) for i in range(len(quads) - 1)
                    if _overlap(quads[i], quads[i + 1])]
        assert not touching
    assert "upper bound" in fig.axes[0].get_xlabel()


def _labels_below_titles(fig, n_systems: int) -> None:
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    values = [t for t in ax.texts if "n=" in t.get_text()]
    assert len(values) == n_systems
    titles = [ax.title.get_window_extent(renderer), fig._suptitle.get_window_extent(renderer)]
    for text in values:
        box = text.get_window_extent(renderer)
        assert not any(box.overlaps(title) for title in titles), text.get_text()
        assert box.y1 <= ax.get_window_extent(renderer).y1


def test_overview_value_labels_stay_below_the_titles(run):
    _labels_below_titles(plots.factuality_overview(run, n_resamples=200), len(SYSTEMS))
    # means close together (0.96-1.0) leave little room above the bars: the two-line labels need it most
    import pandas as pd

    rng = np.random.default_rng(0)
    rows = [{"document_id": f"d{i}", "system": f"system-{k}", "metric": "entity_precision_source",
             "value": min(1.0, 0.96 + 0.01 * k + rng.uniform(0, 0.01))} for k in range(5) for i in range(20)]
    frame = pd.DataFrame(rows).assign(note=None)
    _labels_below_titles(plots.factuality_overview(frame, ["entity_precision_source"], n_resamples=200), 5)


def _lab(color: str) -> np.ndarray:
    """CIELAB (D65) of an sRGB colour (CIE 15:2004; sRGB per IEC 61966-2-1)."""
    rgb = np.array(to_rgb(color))
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ linear
    f = [t ** (1 / 3) if t > (6 / 29) ** 3 else t / (3 * (6 / 29) ** 2) + 4 / 29
         for t in xyz / np.array([0.95047, 1.0, 1.08883])]
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def test_lab_matches_known_values():  # white, black and sRGB red (L 53.2, a 80.1, b 67.2)
    assert _lab("#FFFFFF") == pytest.approx([100, 0, 0], abs=0.1)
    assert _lab("#000000") == pytest.approx([0, 0, 0], abs=0.1)
    assert _lab("#FF0000") == pytest.approx([53.24, 80.09, 67.20], abs=0.2)


def _apart(colors: dict[str, str], oracle: str = "oracle") -> None:
    """The oracle is a neutral grey (chroma < 5) and every other colour is more than 25 ΔE*ab from it
    (about 2.3 is a just-noticeable difference; 25 is plainly another colour)."""
    grey = _lab(colors[oracle])
    assert np.hypot(grey[1], grey[2]) < 5, colors[oracle]
    for system, color in colors.items():
        if system != oracle:
            assert np.linalg.norm(_lab(color) - grey) > 25, (system, color)


def test_the_oracles_colour_is_far_from_every_systems(run):
    colors = plots.system_colors(run)
    assert len(colors) == len(SYSTEMS)
    _apart(colors)
    # with more systems than the 8-colour palette holds, too; the others stay distinct from each other
    many = plots.system_colors([f"s{i}" for i in range(11)] + ["oracle"], upper_bounds=["oracle"])
    _apart(many)
    assert len({c for s, c in many.items() if s != "oracle"}) == 11
    fig = plots.factuality_overview(run, n_resamples=200)  # one bar per system, in run order
    bars = fig.axes[0].patches
    assert to_rgb(bars[list(colors).index("oracle")].get_facecolor()) == pytest.approx(to_rgb(colors["oracle"]))


def test_lengths_carry_their_unit_and_targets_read_as_phrases(run):
    data = document_data(run, ["length_words"])
    assert data["units"] == [" words"]  # "summary length: 51.0 words", not "51.0"
    page = render_html(run)
    meta = page.split('<p class="meta">', 1)[1].split("</p>", 1)[0]
    assert "length target: in 3 sentences;" in meta and "bound" not in meta
    assert {target for _, target, _ in data["documents"]} == {"in 3 sentences"}

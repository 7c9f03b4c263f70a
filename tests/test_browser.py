"""Lessons 00 and 01 in a real browser: JupyterLab (as `make lab` starts it) in headless Chromium.

The learner's first hour, end to end: JupyterLab opens the lesson, every cell is run through the
UI (Run → Run All Cells), and then what the learner sees is checked: no error output, the
checks' feedback rendered, tqdm bars drawn while the teacher trains, lesson 01's slider drawn and
redrawing its plot when dragged, no news pop-up, and MathJax used only where a lesson means
mathematics (never on a dollar amount). Screenshots are kept in the folder the test prints
(``COURSE_ARTIFACTS``, default ``test-artifacts/browser/``).

Needs `playwright` (pip; its own browser download is never used) and a Chromium on the machine
(Debian: `apt-get install chromium`; or set ``COURSE_CHROMIUM``). Skipped, with the reason,
without them. Run alone: ``pytest -m browser``.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from course_utils.build import money_as_math
from helpers import LESSONS, ROOT

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

LESSON_TIMEOUT_S = 300


def _chromium() -> str | None:
    for candidate in (os.environ.get("COURSE_CHROMIUM"), "chromium", "chromium-browser",
                      "google-chrome", "google-chrome-stable"):
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)
    return None


def _artifacts() -> Path:
    folder = Path(os.environ.get("COURSE_ARTIFACTS", ROOT / "test-artifacts")) / "browser"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install playwright; no browser download needed)")
    executable = _chromium()
    if executable is None:
        pytest.skip("no Chromium found (Debian: apt-get install chromium; or set COURSE_CHROMIUM)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, headless=True,
                              args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory, browser):
    """JupyterLab with the course's config (jupyter/jupyter_lab_config.py), on a free port with a
    token, serving copies of lessons 00 and 01 (autosave must never write into lessons/)."""
    home = tmp_path_factory.mktemp("lab")
    root = home / "lessons"
    root.mkdir()
    for name in ("00_welcome.ipynb", "01_soft_targets.ipynb"):
        shutil.copy(LESSONS / name, root / name)
    settings = home / "user-settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    # Every cell stays in the page (JupyterLab 4 otherwise drops cells scrolled out of view).
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    port, token = _free_port(), secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}   # inline figures
    env.update(PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
               COURSE_PROFILE="ci", COURSE_CACHE=str(home / "cache"),  # fresh: the teacher trains
               JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
               HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    log = open(home / "jupyter.log", "w")
    command = [sys.executable, "-m", "jupyterlab",
               f"--config={ROOT / 'jupyter' / 'jupyter_lab_config.py'}",
               "--no-browser", f"--port={port}", "--ip=127.0.0.1",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
               f"--LabApp.user_settings_dir={home / 'user-settings'}",
               f"--LabApp.workspaces_dir={home / 'workspaces'}",
               "--LabApp.expose_app_in_browser=True"]
    if hasattr(os, "getuid") and os.getuid() == 0:
        command.append("--allow-root")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=home)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
            break
        except OSError:
            if server.poll() is not None or time.time() > deadline:
                server.kill()
                pytest.fail(f"jupyter lab did not start:\n{(home / 'jupyter.log').read_text()[-3000:]}")
            time.sleep(0.5)
    yield dict(base=base, token=token, root=root, log=home / "jupyter.log")
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()


# --- driving JupyterLab -------------------------------------------------------------------
MODEL_JS = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const cells = panel.content.model.cells;
  const out = [];
  for (let i = 0; i < cells.length; i++) {
    const cell = cells.get(i).toJSON();
    out.push({type: cell.cell_type, count: cell.execution_count ?? null,
              outputs: (cell.outputs || []).map(o => ({type: o.output_type, ename: o.ename,
                                                       text: o.text, data: o.data}))});
  }
  return {status: panel.sessionContext.session?.kernel?.status ?? 'none', cells: out};
}"""


def _shutdown_kernels(lab):
    """Stop every kernel the server runs (a finished lesson's kernel must not slow the next)."""
    url = f"{lab['base']}/api/kernels?token={lab['token']}"
    for kernel in json.load(urllib.request.urlopen(url, timeout=10)):
        request = urllib.request.Request(
            f"{lab['base']}/api/kernels/{kernel['id']}?token={lab['token']}", method="DELETE")
        urllib.request.urlopen(request, timeout=30)


def _open(page, lab, name):
    # A workspace of its own, reset: only this lesson is open, and it is the current widget.
    page.goto(f"{lab['base']}/lab/workspaces/lesson{name[:2]}/tree/{name}?reset&token={lab['token']}")
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=90_000)
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                           " && window.jupyterapp.shell.currentWidget.sessionContext?.session?.kernel"
                           "?.status === 'idle'", timeout=120_000)


def _run_all_through_the_menu(page, watch=None):
    """Run → Run All Cells, as a learner would; wait until every code cell has run."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    seen = {}
    deadline = time.time() + LESSON_TIMEOUT_S
    while time.time() < deadline:
        if watch:
            watch(seen)
        model = page.evaluate(MODEL_JS)
        code = [c for c in model["cells"] if c["type"] == "code"]
        if model["status"] == "idle" and (all(c["count"] is not None for c in code)
                                          or _errors(model)):   # Run All stops at an error
            return model, seen
        time.sleep(0.25)
    page.screenshot(path=str(_artifacts() / "timeout.png"))
    pending = [i for i, c in enumerate(model["cells"]) if c["type"] == "code" and c["count"] is None]
    raise AssertionError(f"the lesson did not finish within {LESSON_TIMEOUT_S} s: kernel "
                         f"{model['status']}, cells not run: {pending}")


def _errors(model):
    return [f"cell {i}: {o['ename']}" for i, c in enumerate(model["cells"])
            for o in c["outputs"] if o["type"] == "error"]


def _math_cells(page):
    """Index (in the notebook) of every Markdown cell that holds a MathJax node."""
    return page.evaluate("""() => Array.from(document.querySelectorAll('.jp-Notebook .jp-Cell'))
        .map((cell, i) => [i, cell.classList.contains('jp-MarkdownCell'),
                           cell.querySelectorAll('mjx-container').length])
        .filter(([i, md, n]) => md && n > 0).map(([i]) => i)""")


def _means_math(source: str) -> bool:
    return "$" in re.sub(r"\\\$", "", re.sub(r"`[^`]*`", "", source))


def _check_math(page, name):
    cells = nbformat.read(LESSONS / name, as_version=4).cells
    wanted = {i for i, c in enumerate(cells) if c.cell_type == "markdown" and _means_math(c.source)}
    if wanted:
        page.wait_for_selector(".jp-MarkdownCell mjx-container", timeout=60_000)
        time.sleep(1.0)          # MathJax typesets cell by cell
    got = set(_math_cells(page))
    assert got <= wanted, f"{name}: MathJax in Markdown cells that mean no mathematics: {got - wanted}"
    assert got == wanted, f"{name}: cells whose mathematics was not typeset: {wanted - got}"
    for i, cell in enumerate(cells):
        assert not money_as_math(cell.source) if cell.cell_type == "markdown" else True, i


def _check_feedback(page, name) -> list[str]:
    """The checks' feedback as rendered (Markdown outputs): one block per `.check()` cell."""
    blocks = page.evaluate("""() => Array.from(document.querySelectorAll(
        '.jp-OutputArea-output.jp-RenderedMarkdown')).map(e => e.innerText)""")
    checks = [c for c in nbformat.read(LESSONS / name, as_version=4).cells
              if c.cell_type == "code" and ".check()" in c.source]
    assert len(blocks) >= len(checks) > 0, f"{name}: {len(checks)} checks, feedback: {blocks}"
    assert any("Not attempted" in b for b in blocks), blocks
    return blocks


def _progress_bars(page) -> int:
    return page.evaluate("() => document.querySelectorAll('.widget-hprogress, .jp-OutputArea "
                         "progress').length")


def test_lesson_00_in_jupyterlab(browser, lab, capsys):
    artifacts = _artifacts()
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    start = time.perf_counter()
    _open(page, lab, "00_welcome.ipynb")
    model, _ = _run_all_through_the_menu(page)
    page.screenshot(path=str(artifacts / "00_welcome_top.png"))
    assert not _errors(model), _errors(model)
    _check_feedback(page, "00_welcome.ipynb")
    text = page.inner_text(".jp-Notebook")
    story_text = re.sub(r"\s+", " ", text[text.find("DeepSeek-V3"):][:400])
    assert "5.576 million US dollars at 2 dollars per GPU-hour" in story_text, story_text
    assert "official Jupyter news" not in page.inner_text("body")     # no news pop-up
    _check_math(page, "00_welcome.ipynb")
    story = page.locator(".jp-MarkdownCell", has_text="5.576 million US dollars")
    story.scroll_into_view_if_needed()
    story.screenshot(path=str(artifacts / "00_welcome_story.png"))
    page.close()
    _shutdown_kernels(lab)
    with capsys.disabled():
        print(f"\n[browser] lesson 00 ran in JupyterLab in {time.perf_counter() - start:.0f} s; "
              f"screenshots in {artifacts}")


def test_lesson_01_in_jupyterlab_slider_redraws(browser, lab, capsys):
    artifacts = _artifacts()
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    start = time.perf_counter()
    _open(page, lab, "01_soft_targets.ipynb")

    def watch(seen):                       # tqdm bars only live while the teacher trains
        n = _progress_bars(page)
        if n and "progress" not in seen:
            seen["progress"] = n
            bar = page.locator(".jp-CodeCell", has=page.locator(".widget-hprogress")).first
            try:                           # the bar closes when training ends (leave=False)
                bar.scroll_into_view_if_needed(timeout=2000)
                bar.screenshot(path=str(artifacts / "01_tqdm_bar.png"), timeout=2000)
            except Exception:
                page.screenshot(path=str(artifacts / "01_tqdm_bar.png"))

    model, seen = _run_all_through_the_menu(page, watch)
    assert not _errors(model), _errors(model)
    assert seen.get("progress"), "no tqdm progress bar was drawn while the teacher trained"
    _check_feedback(page, "01_soft_targets.ipynb")
    _check_math(page, "01_soft_targets.ipynb")

    slider = page.locator(".widget-slider").first
    slider.wait_for(timeout=60_000)
    slider.scroll_into_view_if_needed()
    box = page.locator(".widget-vbox", has=slider).first
    image = box.locator("img").first
    image.wait_for(timeout=60_000)
    before = image.get_attribute("src")
    readout_before = box.locator(".widget-readout").first.inner_text()
    box.screenshot(path=str(artifacts / "01_slider_before.png"))
    handle = box.locator(".noUi-handle, .ui-slider-handle").first
    track = box.locator(".noUi-target, .ui-slider").first
    hb, tb = handle.bounding_box(), track.bounding_box()
    page.mouse.move(hb["x"] + hb["width"] / 2, hb["y"] + hb["height"] / 2)
    page.mouse.down()
    page.mouse.move(tb["x"] + 0.6 * tb["width"], hb["y"] + hb["height"] / 2, steps=8)
    page.mouse.up()
    deadline = time.time() + 30        # the Output widget replaces its image when it redraws
    while box.locator("img").first.get_attribute("src") == before:
        assert time.time() < deadline, "moving the slider did not redraw the plot"
        page.wait_for_timeout(200)
    readout_after = box.locator(".widget-readout").first.inner_text()
    assert readout_after != readout_before
    page.wait_for_timeout(500)
    box.screenshot(path=str(artifacts / "01_slider_after.png"))
    page.screenshot(path=str(artifacts / "01_soft_targets_view.png"))
    page.close()
    _shutdown_kernels(lab)
    with capsys.disabled():
        print(f"\n[browser] lesson 01 ran in JupyterLab in {time.perf_counter() - start:.0f} s "
              f"(slider T {readout_before} -> {readout_after} redrew the plot); "
              f"screenshots in {artifacts}")

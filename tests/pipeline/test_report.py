"""`shopseq report` on a tiny pipeline run, opened in headless Chromium.

The run is real: every stage on a tiny shop, the first candidate promoted to champion, then a
retrain with one param changed, so the page has a champion to compare with and a params diff.
The browser check proves what a reader would notice: every section is there and every chart loads.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tiny import write_tiny_params

from shopseq.config import load_params
from shopseq.report import SECTIONS

SHOPSEQ = Path(sys.executable).with_name("shopseq")
STAGES = ("ingest", "validate", "embed", "profiles", "sequences", "train", "champion", "evaluate", "gate",
          "score", "audiences", "forecast")
RETRAIN = ("train", "champion", "evaluate", "gate", "score", "audiences")

# Appended to a copy of the page: once everything has loaded, write what the browser saw into the DOM.
PROBE = """<script>
window.addEventListener("load", () => {
  const images = [...document.images];
  const result = {
    sections: [...document.querySelectorAll("main > section")].map(s => s.id),
    images: images.length,
    broken: images.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.alt),
  };
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify(result);
  document.body.appendChild(out);
});
</script>"""


@pytest.fixture(scope="module")
def chromium() -> str:
    """The browser; the tests that need it skip (before running the pipeline) when it is absent."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("chromium not installed (Debian: apt-get install chromium); the browser check needs it")
    return found


def browser(chromium: str, *args: str) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files", "--virtual-time-budget=10000"]
    return subprocess.run([chromium, *flags, *args], capture_output=True, text=True, timeout=120, check=False)


def run_stages(*stages: str) -> None:
    params = load_params()
    for stage in stages:
        importlib.import_module(f"shopseq.stages.{stage}").run(params)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("report")
    old = Path.cwd()
    os.chdir(root)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    try:
        write_tiny_params(root, train={"n_trials": 3})
        run_stages(*STAGES)
        from shopseq.registry import promote, register_candidate

        loaded = load_params()
        version = register_candidate(loaded.base, loaded.registry, loaded.paths.candidate, loaded.paths.reports)
        promote(loaded.base, loaded.registry, approved_by="tester", version=version, reason="first")
        params = yaml.safe_load(Path("params.yaml").read_text())
        params["train"]["epochs"] = 3
        Path("params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        run_stages(*RETRAIN)
        yield root
    finally:
        os.chdir(old)


@pytest.fixture(scope="module")
def page(project) -> Path:
    done = subprocess.run([str(SHOPSEQ), "--no-verbose", "report", "--out", "reports/run.html"],
                          cwd=project, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "wrote reports/run.html"
    return project / "reports" / "run.html"


@pytest.mark.slow
def test_the_page_compares_against_the_promoted_champion(page):
    html = page.read_text()
    assert "Champion: version 1." in html
    assert re.search(r'<tr class="changed"><td>train\.epochs</td><td class="text">3</td><td class="text">2</td>', html)
    assert "not run" not in html  # every stage ran, so no section says otherwise
    docs = re.search(r'href="([^"]+)">Great Expectations Data Docs', html).group(1)
    assert (page.parent / docs).exists()


@pytest.mark.slow
def test_chromium_shows_every_section_and_loads_every_image(chromium, page):
    probe = page.with_name("probe.html")
    probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    done = browser(chromium, "--dump-dom", probe.as_uri())
    found = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout)
    assert found, f"the probe did not run:\n{done.stderr[-2000:]}"
    seen = json.loads(found.group(1).replace("&quot;", '"'))
    assert [s for s in seen["sections"] if s != "notes"] == [s for s, _ in SECTIONS]
    assert seen["images"] == page.read_text().count("<img ") >= 3  # metric bars, training curves, trials
    assert seen["broken"] == []


@pytest.mark.slow
def test_chromium_takes_a_screenshot_of_the_page(chromium, page, tmp_path):
    shot = tmp_path / "report.png"
    browser(chromium, f"--screenshot={shot}", "--window-size=1280,3000", page.as_uri())
    assert shot.exists() and shot.stat().st_size > 10_000

"""The viewer and the report in headless Chromium: they render, and stored payloads never run.

Chromium and chromedriver come from Debian (``apt-get install chromium
chromium-driver``; ``.ci/run`` installs them). Without them these tests are
skipped, except under ``CI=true`` where they fail.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sample_runs import XSS_IMG, XSS_SCRIPT
from viewer_fixtures import SampleDb, make_sample_db, running_viewer

from autointerp.report import csp

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("AUTOINTERP_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("AUTOINTERP_CHROMEDRIVER", "/usr/bin/chromedriver")
SCREENSHOTS = os.environ.get("AUTOINTERP_SCREENSHOTS")  # a directory to save page screenshots in


def _browser_missing() -> str | None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).is_file()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package")
    return f"headless Chromium is not available (missing {', '.join(missing)})" if missing else None


@pytest.fixture(scope="module")
def driver() -> Iterator[object]:
    reason = _browser_missing()
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="autointerp-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={profile}", "--window-size=1400,1000"):
        options.add_argument(arg)
    browser = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    browser.set_page_load_timeout(30)
    try:
        yield browser
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleDb:
    return make_sample_db(tmp_path_factory.mktemp("browser"))


def _open(driver, url: str, name: str):  # noqa: ANN001, ANN202 - selenium types are loose
    from selenium.webdriver.common.by import By

    driver.get(url)
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(SCREENSHOTS) / f"{name}.png"))
    return driver.find_element(By.TAG_NAME, "body").text


def _assert_inert(driver, text: str) -> None:  # noqa: ANN001
    from selenium.webdriver.common.by import By

    assert driver.execute_script("return window.__xss") is None
    assert XSS_SCRIPT in text and XSS_IMG in text  # shown as text
    assert driver.find_elements(By.CSS_SELECTOR, "img, script, iframe, object, embed") == []


def test_viewer_pages_render_and_payloads_stay_text(driver, sample: SampleDb) -> None:  # noqa: ANN001
    from selenium.webdriver.common.by import By

    before = sample.fingerprint()
    with running_viewer(sample) as base:
        text = _open(driver, base + "/", "runs")
        assert "Runs" in driver.title
        links = driver.find_elements(By.CSS_SELECTOR, "a.run-link")
        assert sorted(a.text for a in links) == sorted([sample.agent_run, sample.oneshot_run])
        assert driver.execute_script("return window.__xss") is None and "tiny-gpt2" in text
        # open the agent run from the list, as a person would
        next(a for a in links if a.text == sample.agent_run).click()
        text = _open(driver, driver.current_url, "run")
        assert driver.current_url.endswith(f"/run/{sample.agent_run}")
        assert driver.find_element(By.TAG_NAME, "h1").text == "ioi · tiny-llama"
        _assert_inert(driver, text)
        svgs = driver.find_elements(By.CSS_SELECTOR, "svg")
        assert len(svgs) >= 8 and all(s.size["width"] > 0 for s in svgs[:5])
        assert driver.find_element(By.CSS_SELECTOR, 'svg[aria-label="circuit diagram"]').size["height"] > 50
        assert len(driver.find_elements(By.CSS_SELECTOR, "ol.timeline li")) > 20
        # the stylesheet is applied (allowed by its hash): the header bar has its dark background
        header = driver.find_element(By.CSS_SELECTOR, "header.top")
        assert header.value_of_css_property("background-color") in ("rgba(31, 45, 68, 1)", "rgb(31, 45, 68)")
        text = _open(driver, f"{base}/compare?a={sample.agent_run}&b={sample.oneshot_run}", "compare")
        assert driver.find_element(By.ID, "compare").is_displayed() and "oneshot:openai" in text
        _assert_inert(driver, text)
        text = _open(driver, f"{base}/run/{sample.agent_run}/report.html", "report-served")
        _assert_inert(driver, text)
    assert sample.fingerprint() == before  # browsing never wrote to the database


def test_static_report_file_renders_and_payloads_stay_text(driver, sample: SampleDb, tmp_path: Path) -> None:  # noqa: ANN001
    from selenium.webdriver.common.by import By

    import store as st
    from autointerp.report import open_readonly, render_report

    with open_readonly(sample.url) as store:
        html = render_report(st.load_run_for_audit(store, sample.agent_run))
    path = tmp_path / "run.html"
    path.write_text(html, encoding="utf-8")
    text = _open(driver, path.as_uri(), "report-file")
    _assert_inert(driver, text)
    driver.find_element(By.CSS_SELECTOR, "#sec-explanation > summary").click()  # folded below the first screen
    assert "Name movers copy the indirect object." in driver.find_element(By.TAG_NAME, "body").text
    assert len(driver.find_elements(By.CSS_SELECTOR, 'svg[aria-label$="heat-map"]')) == 2
    driver.find_element(By.CSS_SELECTOR, "#sec-experiments > summary").click()
    summary = driver.find_element(By.CSS_SELECTOR, "#exp-1 summary")
    summary.click()  # <details> open without script
    assert "clean_metric" in driver.find_element(By.ID, "exp-1").text


def test_the_policy_itself_blocks_inline_script(driver, tmp_path: Path) -> None:  # noqa: ANN001
    """Control experiment: the same inline script runs without our CSP and not with it."""
    body = "<p>x</p><script>window.__csp_probe = 1</script>"
    open_page = tmp_path / "open.html"
    open_page.write_text(f"<!doctype html><html><head></head><body>{body}</body></html>")
    guarded = tmp_path / "guarded.html"
    guarded.write_text('<!doctype html><html><head><meta http-equiv="Content-Security-Policy" '
                       f'content="{csp()}"></head><body>{body}</body></html>')
    driver.get(open_page.as_uri())
    assert driver.execute_script("return window.__csp_probe") == 1
    driver.get(guarded.as_uri())
    assert driver.execute_script("return window.__csp_probe") is None


def test_report_first_screen_holds_the_summary_at_1400px(driver, sample: SampleDb, tmp_path: Path) -> None:  # noqa: ANN001
    """Issue 18: task with example pairs, circuit, roles and scores above the fold; the rest folded, once."""
    from selenium.webdriver.common.by import By

    import store as st
    from autointerp.report import open_readonly, render_report

    with open_readonly(sample.url) as store:
        html = render_report(st.load_run_for_audit(store, sample.agent_run))
    path = tmp_path / "first.html"
    path.write_text(html, encoding="utf-8")
    driver.set_window_size(1400, 1000)
    text = _open(driver, path.as_uri(), "report-first-screen")
    screen = 900  # the first screen of a 1400 x 900 browser
    first = driver.find_element(By.ID, "summary")
    for heading in first.find_elements(By.TAG_NAME, "h2"):
        assert heading.rect["y"] < screen, heading.text
    assert "When Mary and John went to the store, John gave a drink to" in text  # an example pair, visible
    diagram = first.find_element(By.CSS_SELECTOR, 'svg[aria-label="circuit diagram"]')
    assert diagram.rect["y"] + diagram.rect["height"] < screen
    assert first.find_element(By.CSS_SELECTOR, 'svg[aria-label$="null distribution"]').rect["y"] < screen
    folds = driver.find_elements(By.CSS_SELECTOR, "details.fold")
    assert len(folds) >= 8 and not any(f.get_attribute("open") for f in folds)
    # folded: the whole page is short, and each section title appears once
    assert driver.find_element(By.TAG_NAME, "body").rect["height"] < 2500
    titles = [f.find_element(By.TAG_NAME, "summary").text for f in folds]
    assert len(titles) == len(set(titles))

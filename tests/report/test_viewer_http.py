"""The trace viewer over real HTTP: routes, filters, headers, and that it never writes."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from viewer_fixtures import SampleDb, make_sample_db, running_viewer

from autointerp.report import csp


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleDb:
    return make_sample_db(tmp_path_factory.mktemp("viewer"))


@pytest.fixture(scope="module")
def base(sample: SampleDb) -> Iterator[str]:
    with running_viewer(sample) as url:
        yield url


def get(url: str, method: str = "GET") -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(url, method=method, data=b"x" if method == "POST" else None)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read().decode()


def test_run_list_filters_and_headers(base: str, sample: SampleDb) -> None:
    status, headers, body = get(base + "/")
    assert status == 200 and sample.agent_run in body and sample.oneshot_run in body
    assert headers["Content-Security-Policy"].startswith(csp(form_action=True))
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["Cache-Control"] == "no-store"
    _, _, only = get(base + "/?agent=oneshot%3Aopenai")
    assert only.count('class="run-link"') == 1 and f'>{sample.oneshot_run}</a>' in only
    _, _, none = get(base + "/?status=failed&model=tiny-llama")
    assert "No runs match." in none
    assert '<option value="tiny-gpt2">' in body and "&lt;script&gt;" not in body.split('id="runs"')[0]


def test_run_page_report_and_audit_json(base: str, sample: SampleDb) -> None:
    status, _, page = get(f"{base}/run/{sample.oneshot_run}")
    assert status == 200 and 'id="timeline"' in page and 'id="circuit"' in page
    assert f"/compare?a={sample.agent_run}&amp;b={sample.oneshot_run}" in page  # compare with parent
    status, _, report = get(f"{base}/run/{sample.agent_run}/report.html")
    assert status == 200 and report.startswith("<!doctype html>") and "<script" not in report
    status, headers, raw = get(f"{base}/run/{sample.agent_run}/audit.json")
    audit = json.loads(raw)
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert audit["run"]["id"] == sample.agent_run and len(audit["experiments"]) == 13


def test_compare_side_by_side(base: str, sample: SampleDb) -> None:
    status, _, page = get(f"{base}/compare?a={sample.agent_run}&b={sample.oneshot_run}")
    assert status == 200 and 'id="compare"' in page
    table = page.split('id="compare"')[1].split("</table>")[0]
    assert "tiny-llama" in table and "tiny-gpt2" in table and "oneshot:openai" in table
    assert "3.80" in table and "2.80" in table  # z of each run
    _, _, form = get(f"{base}/compare")
    assert "Compare two runs" in form and sample.agent_run in form


def test_errors_are_pages_with_escaped_text(base: str) -> None:
    status, _, page = get(base + "/run/%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    assert status == 404 and "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>" not in page
    assert get(base + "/nowhere")[0] == 404
    status, headers, _ = get(base + "/", method="POST")
    assert status == 405 and headers["Allow"] == "GET, HEAD"


def test_viewer_never_writes_and_sees_new_runs(sample: SampleDb, tmp_path: Path) -> None:
    from sample_runs import make_run

    import store as st

    db = make_sample_db(tmp_path)
    before = db.fingerprint()
    with running_viewer(db) as url:
        for path in ("/", f"/run/{db.agent_run}", f"/run/{db.agent_run}/report.html", "/compare",
                     f"/compare?a={db.agent_run}&b={db.oneshot_run}", f"/run/{db.oneshot_run}/audit.json"):
            assert get(url + path)[0] == 200
        assert db.fingerprint() == before
        with st.open_store(db.url) as writer:  # another process keeps writing: the viewer sees it
            new = make_run(st, writer, agent="scripted", seed=7)
        assert new in get(url + "/")[2]
    with st.open_store(db.url) as reader:
        assert len(st.list_runs(reader)) == 3


def test_readonly_store_refuses_writes(sample: SampleDb) -> None:
    import store as st
    from autointerp.report import open_readonly

    with open_readonly(sample.url) as store, pytest.raises(st.StoreError, match="readonly"):
        st.start_run(store, task="t", model="m", agent="scripted")

"""The dashboard's fleet in headless Chromium (issue 19), with test_browser.py's DevTools client:
three replicas on one database, load sent to each; the dashboard opened on one of them through
the browser's Basic flow shows its fleet frame with a row per replica, the request-rate and p99
plots with points, a hostile region as text, no script and no CSP report in either document.
The screenshot goes to tests/out/fleet-dashboard.png."""

import os

import pytest

import harness
from auth_helpers import ADMIN_SECRET, start
from test_browser import CHROMIUM, browser, dashboard_url  # noqa: F401  (browser: a fixture)

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed "
                                "(sh tests/install.sh installs it)")

NAMES = ["fleet-a", "fleet-b", "fleet-c"]
HOSTILE = '<img src=x onerror=alert(1)>"&'
LOADS = [20, 40, 60]

# One evaluation reads the whole frame (it reloads itself every few seconds): null until a
# loaded frame document is there, then its rows, its plots' points (each point's title is its
# value), and what should not be in it.
FRAME = """(() => {
  const f = document.getElementById('fleet'), d = f && f.contentDocument;
  if (!d || d.readyState !== 'complete' || !d.querySelector('#plot-p99')) return null;
  const points = id => [...d.querySelectorAll(id + ' circle.pt')].map(
      c => parseFloat(c.querySelector('title').textContent));
  return {rows: [...d.querySelectorAll('#replicas tr.replica')].map(
              r => [...r.cells].map(c => c.textContent)),
          rate: points('#plot-rate'), p99: points('#plot-p99'),
          lines: d.querySelectorAll('#plot-rate polyline, #plot-p99 polyline').length,
          scripts: d.querySelectorAll('script').length, imgs: d.querySelectorAll('img').length,
          csp: d.defaultView.__csp || []};
})()"""


def test_dashboard_shows_the_fleet_with_plots(browser, droplin, fresh_db):  # noqa: F811
    reps = [start(droplin, db=fresh_db, HEARTBEAT_SECONDS="1", RAILWAY_REPLICA_ID=name,
                  RAILWAY_REPLICA_REGION=HOSTILE if name == "fleet-c" else "eu-west")
            for name in NAMES]
    for d, n in zip(reps, LOADS):
        for _ in range(n):
            assert d.get("/livez").status == 200

    def loaded():  # every replica's heartbeat counts its load, and all are ready
        r = reps[1].get("/admin/replicas", headers={"secret": ADMIN_SECRET})
        shown = {x["replica"]: x for x in r.json()["replicas"]}
        return set(shown) == set(NAMES) and all(
            shown[name]["ready"] and shown[name]["requests"] >= n
            for name, n in zip(NAMES, LOADS))
    harness.wait_until(loaded, 30, interval=0.2, what="the load in every replica's heartbeat")

    browser.open(dashboard_url(reps[0]), basic_auth=("admin", ADMIN_SECRET))
    frame = browser.wait_js(FRAME, timeout=30)
    assert [(r[0], r[1], r[4], r[7]) for r in frame["rows"]] == [
        ("fleet-a", "eu-west", "ready", "0"), ("fleet-b", "eu-west", "ready", "0"),
        ("fleet-c", HOSTILE, "ready", "0")], frame["rows"]
    # requests were answered in every 30-second bin the fleet has lived (the probes, the load,
    # the test's questions): every point of the rate plot is above zero, and a p99 for each
    assert frame["rate"] and all(v > 0 for v in frame["rate"]), frame
    assert len(frame["p99"]) == len(frame["rate"]) and all(0 < v <= 10000 for v in frame["p99"])
    assert frame["lines"] == 2, frame  # one line (or one point) per plot: no gap in the hour
    assert (frame["scripts"], frame["imgs"], frame["csp"]) == (0, 0, []), frame
    assert browser.js("document.querySelectorAll('script').length") == 0
    browser.call("Runtime.evaluate", expression="1")  # drain pending events
    assert browser.dialogs == [] and browser.csp_reports() == [] and \
        browser.script_errors() == [], (browser.dialogs, browser.csp_reports())
    path = browser.screenshot("fleet-dashboard.png")
    assert os.path.getsize(path) > 5000

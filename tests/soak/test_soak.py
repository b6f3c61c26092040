"""The short soak: twenty seconds of every promise at once (see tests/soak/harness.py), long
enough for every kind of kill and restart to strike at least once (`chaos_schedule`).
`python bench/soak.py --minutes N` runs the same soak for longer."""

from __future__ import annotations

import pytest

from tests.soak.harness import SoakConfig, run_soak


@pytest.mark.slow
def test_every_promise_holds_under_concurrency_and_attack():
    result = run_soak(SoakConfig(seconds=20))
    print("\n".join(result.lines()))
    assert result.problems == []
    figures = result.figures
    assert figures["lost"] == 0
    # The soak did what it says: events came both ways, were purged, and everything was hit.
    assert figures["acknowledged over HTTP"] > 0 and figures["acknowledged by the SDK"] > 0
    assert figures["purged (recorded)"] >= figures["expired stored"] > 0
    assert figures["receiver kills survived"] >= 1 and figures["producer kills survived"] >= 1
    assert figures["database restarts survived"] >= 1
    assert figures["exports recorded"] > 0

"""Fixtures: the embedded stack, and a namespace per test run so runs never see each other.

Every integration test talks to the real RabbitMQ, SecantusDB and SeaweedFS; `make test`
starts them (scripts/stack.py infra) and this file makes sure they are up.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import traceback
import warnings
from collections.abc import AsyncIterator, Generator, Iterator

import pytest

from aviary_devkit.processes import ROOT, ServiceSet, cleanup_namespace, isolated_settings, running
from aviary_devkit.wedge import TIMEOUTS_BEFORE_STOP, database_stacks, is_timeout
from shared.settings import Settings
from tests.support import Api


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that bound time ratios (`timing`) run first. The embedded database slows as a
    run fills it (it is one Python process holding every namespace the tests made: late in
    the suite an op that takes 15 ms on a fresh one was seen taking 900 ms), and a ratio taken
    then measures that, not the code."""
    items.sort(key=lambda item: item.get_closest_marker("timing") is None)


_timeouts: list[str] = []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A test that hung until its timeout: the database's stacks go into the report, and a
    second one ends the run (see aviary_devkit.wedge for why)."""
    report: pytest.TestReport = yield
    if report.failed and is_timeout(report.longrepr):
        _timeouts.append(item.nodeid)
        report.sections.append(("embedded database threads", database_stacks()))
        if len(_timeouts) >= TIMEOUTS_BEFORE_STOP:
            item.session.shouldstop = f"{len(_timeouts)} tests hung until timeout: {_timeouts}"
    return report


@pytest.fixture(scope="session")
def stack() -> None:
    """The embedded infrastructure, started if it is not running (idempotent)."""
    subprocess.run([sys.executable, str(ROOT / "scripts" / "stack.py"), "infra"], check=True)


# A namespace's cleanup (queues, databases, buckets) that has not ended by then is left to run
# on its own: the test is over, and a cleanup stuck in one of the servers must not hold every
# later test's teardown too (what it is stuck on shows in the warning's stacks).
CLEANUP_WAIT_S = 60


@pytest.fixture
async def settings(stack: None) -> AsyncIterator[Settings]:
    """A fresh namespace for one test."""
    s = isolated_settings()
    yield s
    cleanup = asyncio.create_task(cleanup_namespace(s), name=f"cleanup {s.namespace}")
    done, _ = await asyncio.wait({cleanup}, timeout=CLEANUP_WAIT_S)
    if done:
        cleanup.result()  # a cleanup that failed fails the test's teardown, as before
        return
    stacks = "".join(line for f in cleanup.get_stack() for line in traceback.format_stack(f))
    warnings.warn(
        f"namespace {s.namespace} not cleaned up after {CLEANUP_WAIT_S} s; left running:\n"
        f"{stacks}\n{database_stacks()}",
        stacklevel=1,
    )


@pytest.fixture(scope="session")
def services(stack: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceSet]:
    """All the services on test ports (18001..), in a namespace of their own."""
    # Tasks by state counted every 2 s (60 s in production): the metrics tests read them;
    # rollups every second (15 s), which the charts' tests read.
    settings = isolated_settings(task_count_s=2.0, rollup_interval_s=1.0)
    with running(settings, tmp_path_factory.mktemp("service-logs")) as service_set:
        yield service_set


@pytest.fixture(scope="module")
def api(services: ServiceSet) -> Iterator[Api]:
    """Calls to the shared services as the operator, clients and workers would make them."""
    a = Api(services)
    yield a
    a.http.close()

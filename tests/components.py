"""The components of system-packages.txt that tests need (the sandbox, a browser, a PostgreSQL server),
and DIGITCOURSE_WITHOUT, a developer's way to leave one out on a laptop that cannot run it (CI never
sets it): `require(component)` skips the test, saying so, where that variable names the component,
and fails it with one line where the component is missing.
"""
from __future__ import annotations

import os
import shutil

import pytest

from digitcourse.grading.student import sandbox

WITHOUT = set(os.environ.get("DIGITCOURSE_WITHOUT", "").replace(",", " ").split())
AVAILABLE = {
    "sandbox": (sandbox.available, f"{sandbox.WHY_NOT_HERE}; make install installs it"),
    "browser": (lambda: all(map(shutil.which, ("chromium", "chromedriver"))),
                "Debian's chromium and its driver are not installed here: make install installs them "
                "(apt-get install chromium chromium-driver)"),
    "pdf": (lambda: all(map(shutil.which, ("pdftoppm", "pdftotext", "pdfinfo"))),
            "poppler's pdftoppm, pdftotext and pdfinfo are not installed here: make install installs them "
            "(apt-get install poppler-utils)"),
}


def require(component: str) -> None:
    """Skip where DIGITCOURSE_WITHOUT names `component`; fail with one line where it cannot run (a
    server's fixture says why it did not start)."""
    if component in WITHOUT:
        pytest.skip(f"DIGITCOURSE_WITHOUT names {component}, so this test of it does not run")
    available, why_not = AVAILABLE.get(component, (lambda: True, ""))
    if not available():
        pytest.fail(why_not, pytrace=False)

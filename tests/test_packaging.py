"""Packaging as declared in the source tree: the distribution name, the SPDX license with its text,
one version, and a citation file that agrees (the built wheel is checked in test_wheel.py)."""

from __future__ import annotations

import re
import tomllib

import scaling
from conftest import ROOT

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_the_distribution_name_is_not_the_taken_one():
    assert PROJECT["name"] == "scaling-laws"


def test_the_license_is_an_spdx_string_with_its_text_shipped():
    assert PROJECT["license"] == "Apache-2.0"
    assert PROJECT["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_one_version_written_once():
    assert "version" not in PROJECT and PROJECT["dynamic"] == ["version"]
    dynamic = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["dynamic"]
    assert dynamic == {"version": {"attr": "scaling.__version__"}}
    assert re.fullmatch(r"\d+\.\d+\.\d+", scaling.__version__)


def test_the_citation_file_agrees():
    text = (ROOT / "CITATION.cff").read_text()
    fields = dict(re.findall(r"^([a-z-]+): (.+)$", text, re.M))
    assert fields["cff-version"] == "1.2.0"
    assert fields["type"] == "software"
    assert fields["license"] == PROJECT["license"]
    assert fields["version"].strip('"') == scaling.__version__
    assert re.search(r"^authors:\n  - name: \S", text, re.M)

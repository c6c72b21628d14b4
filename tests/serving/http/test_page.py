"""The clinician page's app in process: what it is built from, its calculator, its headers, and
which of its paths the guard leaves open. The page in a real browser: test_page_browser.py."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from features.record import FIELDS, FIELDS_BY_NAME
from features.sledai import DESCRIPTOR_WEIGHTS, DESCRIPTORS
from serving.http.page import STATIC, page_app
from serving.http.page.declaration import SECTIONS, declaration
from serving.http.security import is_open
from serving.http.settings import ServingSettings
from tests.serving.http.test_security import call, guarded  # noqa: F401  (fixture)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Any:
    settings = ServingSettings(home=tmp_path_factory.mktemp("page"))
    with TestClient(page_app(settings)) as client:
        yield client


def scored(*present: str) -> dict[str, Any]:
    return {"descriptors": {name: name in present for name in DESCRIPTORS}}


# -- what the page is built from ------------------------------------------------------------


def test_every_declared_field_is_on_the_page_with_its_label_and_requirement() -> None:
    shown = {entry["name"]: entry for entry in declaration()["fields"]}
    assert list(shown) == [spec.name for spec in FIELDS]
    for spec in FIELDS:
        assert shown[spec.name]["label"] == spec.label
        assert shown[spec.name]["required"] is spec.required
        assert shown[spec.name]["units"][0]["symbol"] == spec.unit
    assert shown["c3"]["label"] == "Complement C3"
    assert [name for name, entry in shown.items() if entry["required"]] == [
        "sledai_2k",
        "c3",
        "c4",
        "igg",
        "anti_dsdna",
        "anti_dsdna_cutoff",
    ]


def test_a_field_without_a_label_is_still_shown_by_its_name() -> None:
    from dataclasses import replace

    new = replace(FIELDS_BY_NAME["blys"], name="serum_ifn_alpha")
    assert new.label == "Serum ifn alpha"


def test_ranges_are_given_in_every_accepted_unit() -> None:
    c3 = next(entry for entry in declaration()["fields"] if entry["name"] == "c3")
    assert c3["unit_field"] == "c3_unit"
    by_unit = {unit["symbol"]: unit for unit in c3["units"]}
    assert by_unit["mg/dL"]["plausible_range"] == [5.0, 500.0]
    assert by_unit["mg/dL"]["training_range"] == [30.0, 200.0]
    # g/L x 100 = mg/dL (features.units)
    assert by_unit["g/L"]["plausible_range"] == pytest.approx([0.05, 5.0], rel=1e-12)
    assert by_unit["g/L"]["training_range"] == pytest.approx([0.3, 2.0], rel=1e-12)
    creatinine = next(entry for entry in declaration()["fields"] if entry["name"] == "creatinine")
    mg_dl = next(unit for unit in creatinine["units"] if unit["symbol"] == "mg/dL")
    # mg/dL x 88.4 = umol/L; the hard range 10-2500 umol/L, to 6 significant digits
    assert mg_dl["plausible_range"] == pytest.approx([10 / 88.4, 2500 / 88.4], rel=1e-5)


def test_every_role_has_a_section_and_every_descriptor_its_weight_and_definition() -> None:
    page = declaration()
    assert {spec.role for spec in FIELDS} <= {role for role, _ in SECTIONS}
    descriptors = page["sledai"]["descriptors"]
    assert [d["name"] for d in descriptors] == list(DESCRIPTORS)
    assert {d["name"]: d["weight"] for d in descriptors} == dict(DESCRIPTOR_WEIGHTS)
    assert all(d["label"] and d["definition"] for d in descriptors)


# -- the calculator: MRBS's own SLEDAI-2K ----------------------------------------------------


def test_the_calculator_gives_the_hand_scored_total(page: Any) -> None:
    # seizure 8 + arthritis 4 + rash 2 + low complement 2 + fever 1 (Gladman 2002 weights)
    body = scored("seizure", "arthritis", "rash", "low_complement", "fever")
    response = page.post("/sledai", json=body)
    assert response.status_code == 200
    assert response.json() == {"total": 17, "band": "high"}


@pytest.mark.parametrize(
    ("present", "total", "band"),
    [((), 0, "none"), (("fever", "leukopenia"), 2, "mild"), (tuple(DESCRIPTORS), 105, "very high")],
)
def test_the_calculator_at_its_bounds(
    page: Any, present: tuple[str, ...], total: int, band: str
) -> None:
    assert page.post("/sledai", json=scored(*present)).json() == {"total": total, "band": band}


def test_the_calculator_names_a_missing_or_wrong_descriptor(page: Any) -> None:
    body = scored("rash")
    del body["descriptors"]["pyuria"]
    body["descriptors"]["fever"] = "SENTINEL-4711"
    response = page.post("/sledai", json=body)
    assert response.status_code == 400
    problems = {tuple(item["loc"]): item["type"] for item in response.json()["detail"]}
    assert problems == {
        ("descriptors", "pyuria"): "missing",
        ("descriptors", "fever"): "bool_type",
    }
    assert "SENTINEL" not in response.text


def test_the_calculator_refuses_a_body_that_is_not_json(page: Any) -> None:
    response = page.post("/sledai", content=b"{not json")
    assert response.status_code == 400
    assert response.json()["detail"][0]["type"] == "json_invalid"


# -- the page's files and headers ------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/", "/static/page.js", "/static/page.css", "/static/print.css", "/form.json"]
)
def test_every_answer_carries_the_security_headers(page: Any, path: str) -> None:
    response = page.get(path)
    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_the_model_card_without_a_stored_card_says_so(page: Any) -> None:
    response = page.get("/model-card")
    assert response.status_code == 404
    assert "without its model card" in response.text
    assert "script-src" not in response.headers["content-security-policy"]


class _Inline(HTMLParser):
    """Collects what a strict Content-Security-Policy would block in a document."""

    def __init__(self) -> None:
        super().__init__()
        self.blocked: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self.blocked.append("inline <script>")
        if tag == "style":
            self.blocked.append("inline <style>")
        handlers = [name for name in names if name == "style" or name.startswith("on")]
        self.blocked += [f"{tag} {name}" for name in handlers]


def test_the_page_has_no_inline_script_or_style_and_fetches_nothing_from_elsewhere() -> None:
    parser = _Inline()
    parser.feed((STATIC / "index.html").read_text())
    assert parser.blocked == []
    for path in STATIC.iterdir():
        text = path.read_text()
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text), path.name
        assert "innerHTML" not in text, path.name


def test_static_files_are_package_data() -> None:
    import tomllib

    project = tomllib.loads((Path(__file__).parents[3] / "pyproject.toml").read_text())
    assert project["tool"]["setuptools"]["package-data"]["serving.http.page"] == ["static/*"]
    assert {path.name for path in STATIC.iterdir()} == {
        "index.html",
        "page.js",
        "page.css",
        "print.css",
        "icon.svg",
    }


# -- which paths the guard leaves open -------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "open_"),
    [
        ("/ui", True),
        ("/ui/", True),
        ("/ui/form.json", True),
        ("/ui/model-card", True),
        ("/ui/static/page.js", True),
        ("/ui/sledai", False),
        ("/ui/static/../sledai", False),
        ("/predict", False),
        ("/model", False),
        ("/readyz", True),
    ],
)
def test_only_the_page_files_are_open(path: str, open_: bool) -> None:
    assert is_open(path) is open_


def test_the_guard_serves_the_page_without_a_token_and_the_calculator_with_one(
    guarded: tuple[Any, str],  # noqa: F811
) -> None:
    guard, token = guarded
    assert call(guard, "/ui/static/page.js", None).status_code == 200
    assert call(guard, "/ui/form.json", None).status_code == 200
    assert call(guard, "/ui/sledai", None).status_code == 401
    assert call(guard, "/ui/sledai", "not-the-token").status_code == 401
    assert call(guard, "/ui/sledai", token).status_code == 200

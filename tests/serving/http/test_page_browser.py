"""The clinician page in a real headless Chromium, against the real server (`mrbs serve`).

The browser is the system's Chromium (Debian's ``chromium`` package), driven by Playwright; when
none starts, these tests fail with the command that installs one. The first test writes the
README's screenshot, ``docs/clinician-page.png``.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx
import pytest

from features.record import FIELDS_BY_NAME
from serving.http.launch import RunningService
from serving.http.schemas import example_patient
from tests.serving.http.served import ServedModel

pytestmark = pytest.mark.slow

SCREENSHOT: Final = Path(__file__).parents[3] / "docs" / "clinician-page.png"
BROWSERS: Final = ("chromium", "chromium-browser", "google-chrome")
INSTALL: Final = (
    "install Debian's Chromium: `apt-get install -y chromium chromium-driver` (.ci/run does "
    "this when it is missing)"
)
TOKEN_PROBLEM: Final = "Token missing or not valid"
#: WCAG 2.1 AA: 4.5:1 for text, 3:1 for large text (24 px, or 18.66 px bold).
CONTRAST: Final = """() => {
  const channel = (c) => {
    c /= 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  const parse = (text) => (text.match(/[\\d.]+/g) || []).map(Number);
  const luminance = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  const background = (node) => {
    for (let at = node; at && at.nodeType === 1; at = at.parentElement) {
      const colour = parse(getComputedStyle(at).backgroundColor);
      if (colour.length === 3 || (colour.length === 4 && colour[3] > 0)) return colour.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const failures = [];
  for (const node of document.querySelectorAll("body *")) {
    const own = [...node.childNodes].some((c) => c.nodeType === 3 && c.textContent.trim());
    if (!own || !node.getClientRects().length) continue;
    const style = getComputedStyle(node);
    if (style.visibility === "hidden") continue;
    const svgText = node instanceof SVGElement;
    const fore = parse(svgText ? style.fill : style.color).slice(0, 3);
    const back = background(svgText ? node.closest("svg").parentElement : node);
    const [light, dark] = [luminance(fore), luminance(back)].sort((a, b) => b - a);
    const ratio = (light + 0.05) / (dark + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) failures.push(`${node.tagName}#${node.id}: ${ratio.toFixed(2)}`);
  }
  return failures;
}"""


@dataclass
class Page:
    """One browser tab on the page, with what its console said."""

    tab: Any
    url: str
    console: list[tuple[str, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def errors(self) -> list[str]:
        return [text for kind, text in self.console if kind == "error"] + self.failures


def launch(driver: Any, candidates: tuple[str, ...] = BROWSERS) -> Any:
    """The first of ``candidates`` found, started headless; a test failure saying how to
    install one when none is found or it does not start."""
    from playwright.sync_api import Error

    executable = next(filter(None, map(shutil.which, candidates)), None)
    if executable is None:
        pytest.fail(f"no Chromium on this machine: {INSTALL}", pytrace=False)
    try:
        return driver.chromium.launch(executable_path=executable)
    except Error as error:
        pytest.fail(f"Chromium ({executable}) did not start: {error}\n{INSTALL}", pytrace=False)


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    """Playwright, once per module (its synchronous API runs one instance at a time)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="module")
def browser(driver: Any) -> Iterator[Any]:
    chromium = launch(driver)
    try:
        yield chromium
    finally:
        chromium.close()


@pytest.fixture
def page(browser: Any, live_service: RunningService) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    tab = context.new_page()
    opened = Page(tab=tab, url=f"{live_service.url}/ui/")
    tab.on("console", lambda message: opened.console.append((message.type, message.text)))
    tab.on("pageerror", lambda error: opened.failures.append(f"uncaught: {error}"))
    tab.goto(opened.url)
    tab.wait_for_selector("body[data-ready='true']")
    try:
        yield opened
    finally:
        context.close()


def use_token(page: Page, token: str) -> None:
    page.tab.fill("#token", token)
    page.tab.click("#token-form button[type='submit']")


def fill(page: Page, patient: dict[str, Any]) -> None:
    """Enter ``patient`` through the form, as a person would with a mouse."""
    for name, value in patient.items():
        if isinstance(value, bool):
            page.tab.check(f"#in-{name}-{'true' if value else 'false'}")
        elif page.tab.locator(f"#in-{name}").evaluate("node => node.tagName") == "SELECT":
            page.tab.select_option(f"#in-{name}", str(value))
        else:
            page.tab.fill(f"#in-{name}", _typed(value))


def _typed(value: Any) -> str:
    """A value as a person types it (9.0 as 9)."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def predicted(service: RunningService, served: ServedModel, patient: dict[str, Any]) -> Any:
    response = httpx.post(
        f"{service.url}/predict",
        json={"patient": patient, "interval": True},
        headers=served.headers,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()


def percent(probability: float) -> str:
    return f"{probability * 100:.1f} %"


def test_the_example_patient_through_the_form_shows_predicts_answer(
    page: Page, live_service: RunningService, served_model: ServedModel
) -> None:
    use_token(page, served_model.token)
    fill(page, example_patient())
    page.tab.click("#submit")
    page.tab.wait_for_selector("#intended-use:not([hidden])")
    answer = predicted(live_service, served_model, example_patient())

    shown = page.tab.locator("#probability")
    assert float(shown.get_attribute("data-value")) == answer["probability"]
    assert shown.inner_text() == percent(answer["probability"])
    interval = page.tab.inner_text("#interval")
    assert percent(answer["interval"]["lower"]) in interval
    assert percent(answer["interval"]["upper"]) in interval
    assert f"About {round(answer['probability'] * 100)} in 100" in page.tab.inner_text("#frequency")
    assert page.tab.inner_text("#band") == answer["risk_band"]
    bars = page.tab.locator("#chart rect.bar")
    assert bars.count() == len(answer["contributions"])
    predictors = [bars.nth(i).get_attribute("data-predictor") for i in range(bars.count())]
    assert predictors == [item["predictor"] for item in answer["contributions"]]
    assert len(set(predictors)) == len(predictors)
    warnings = page.tab.inner_text("#warnings")
    assert answer["imputed"]  # the example patient leaves BLyS out
    assert all(FIELDS_BY_NAME[name].label in warnings for name in answer["imputed"])
    assert "Inside the MRBS population" in page.tab.inner_text("#eligibility")
    assert page.tab.inner_text("#model") == f"mrbs-sri4, version {served_model.version}"
    assert "Intended use" in page.tab.inner_text("#result")

    card = httpx.get(f"{live_service.url}/ui/{page.tab.get_attribute('#model-card-link', 'href')}")
    assert card.status_code == 200
    assert "Intended use" in card.text
    assert page.tab.evaluate(CONTRAST) == []
    assert page.errors() == []

    page.tab.evaluate("window.scrollTo(0, 0)")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.tab.screenshot(path=str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 10_000

    printed = page.tab.pdf(format="A4")
    assert len(re.findall(rb"/Type\s*/Page[^s]", printed)) == 1


def test_the_sledai_calculator_gives_the_hand_scored_total(
    page: Page, served_model: ServedModel
) -> None:
    use_token(page, served_model.token)
    page.tab.click("details.calculator summary")
    # seizure 8 + arthritis 4 + rash 2 + low complement 2 + fever 1 (Gladman 2002 weights)
    for descriptor in ("seizure", "arthritis", "rash", "low_complement", "fever"):
        page.tab.check(f"#sledai-{descriptor}")
    page.tab.click("#sledai-compute")
    page.tab.locator("#sledai-status").filter(has_text="activity").wait_for()
    assert page.tab.input_value("#in-sledai_2k") == "17"
    assert "17 (high activity)" in page.tab.inner_text("#sledai-status")
    assert page.errors() == []


def test_an_out_of_range_and_a_missing_required_value_are_shown_at_their_fields(
    page: Page, served_model: ServedModel
) -> None:
    patient = {**example_patient(), "c3": 900.0, "c3_unit": "mg/dL"}
    del patient["igg"]
    use_token(page, served_model.token)
    fill(page, patient)
    page.tab.click("#submit")
    page.tab.wait_for_selector("#err-c3:not([hidden])")

    assert "plausible range" in page.tab.inner_text("#field-c3 .error")
    assert "Required" in page.tab.inner_text("#field-igg .error")
    assert page.tab.get_attribute("#in-c3", "aria-invalid") == "true"
    assert page.tab.get_attribute("#in-igg", "aria-invalid") == "true"
    others = page.tab.locator(".field .error:not([hidden])")
    assert others.count() == 2
    assert "2 values" in page.tab.inner_text("#result-status")
    assert page.tab.evaluate("document.activeElement.id") == "in-c3"
    assert page.tab.is_hidden("#result-body")
    assert page.failures == []
    assert all("status of 400" in text for text in page.errors())


def test_flags_estimates_and_every_failed_criterion_are_shown(
    page: Page, live_service: RunningService, served_model: ServedModel
) -> None:
    # C3 25 mg/dL: plausible (5-500) but outside the training population (30-200).
    patient = {**example_patient(), "c3": 25.0, "c3_unit": "mg/dL", "hiv_positive": True}
    patient["prior_rituximab"] = True
    for unknown in ("age", "hbcab_positive"):
        del patient[unknown]
    use_token(page, served_model.token)
    page.tab.select_option("#in-c3_unit", "g/L")
    assert "0.05–5 g/L" in page.tab.inner_text("#hint-c3")
    fill(page, patient)
    assert "5–500 mg/dL" in page.tab.inner_text("#hint-c3")
    page.tab.click("#submit")
    page.tab.wait_for_selector("#result-body:not([hidden])")
    answer = predicted(live_service, served_model, patient)

    assert answer["flags"]
    warnings = page.tab.inner_text("#warnings")
    assert all(flag in warnings for flag in answer["flags"])
    assert FIELDS_BY_NAME["age"].label in warnings  # estimated
    assert answer["eligibility"]["eligible"] is False
    assert "Outside the MRBS population" in page.tab.inner_text("#eligibility")
    reasons = page.tab.locator("#eligibility-reasons li").all_inner_texts()
    unknown = [
        f"Unknown: {FIELDS_BY_NAME[name].label}" for name in answer["eligibility"]["unknown"]
    ]
    assert reasons == answer["eligibility"]["reasons"] + unknown
    assert len(answer["eligibility"]["reasons"]) == 2
    assert page.errors() == []


@pytest.mark.parametrize("token", [None, "not-a-valid-token"])
def test_a_missing_or_wrong_token_shows_the_clear_message(page: Page, token: str | None) -> None:
    if token is not None:
        use_token(page, token)
    fill(page, example_patient())
    page.tab.click("#submit")
    page.tab.wait_for_selector("#result-status.problem")

    assert TOKEN_PROBLEM in page.tab.inner_text("#result-status")
    assert TOKEN_PROBLEM in page.tab.inner_text("#token-status")
    assert page.tab.is_hidden("#result-body")
    assert page.tab.evaluate("document.activeElement.id") == "token"
    assert page.failures == []
    assert all("status of 401" in text for text in page.errors())


def _focused(page: Page) -> dict[str, Any]:
    return dict(
        page.tab.evaluate(
            """() => {
              const at = document.activeElement;
              const style = getComputedStyle(at);
              return {id: at.id, tag: at.tagName, type: at.type || "", name: at.name || "",
                      outline: style.outlineStyle, width: parseFloat(style.outlineWidth)};
            }"""
        )
    )


def _choose(page: Page, focused: dict[str, Any], value: Any) -> None:
    """Set the focused control to ``value`` with the keyboard alone."""
    keyboard = page.tab.keyboard
    if focused["tag"] == "SELECT":
        options = page.tab.locator(f"#{focused['id']} option").evaluate_all(
            "options => options.map(option => option.value)"
        )
        current = page.tab.input_value(f"#{focused['id']}")
        for _ in range(options.index(str(value)) - options.index(current)):
            keyboard.press("ArrowDown")
        assert page.tab.input_value(f"#{focused['id']}") == str(value)
    elif focused["type"] == "radio":
        # Yes, No, Unknown; Unknown starts checked.
        for _ in range(2 if value else 1):
            keyboard.press("ArrowLeft")
        checked = page.tab.locator(f"input[name='{focused['name']}']:checked")
        assert checked.get_attribute("value") == str(value).lower()
    else:
        keyboard.type(_typed(value))


def test_the_form_can_be_completed_with_the_keyboard_alone(
    page: Page, live_service: RunningService, served_model: ServedModel
) -> None:
    patient = example_patient()
    done: set[str] = set()
    for _ in range(400):
        page.tab.keyboard.press("Tab")
        focused = _focused(page)
        assert focused["outline"] != "none", focused
        assert focused["width"] >= 2, focused
        if focused["id"] == "token" and "token" not in done:
            page.tab.keyboard.type(served_model.token)
            page.tab.keyboard.press("Enter")
            done.add("token")
        elif focused["name"] in patient and focused["name"] not in done:
            _choose(page, focused, patient[focused["name"]])
            done.add(focused["name"])
        elif focused["id"] == "submit":
            page.tab.keyboard.press("Enter")
            break
    assert done == {"token", *patient}
    page.tab.wait_for_selector("#result-body:not([hidden])")
    answer = predicted(live_service, served_model, patient)
    assert float(page.tab.get_attribute("#probability", "data-value")) == answer["probability"]
    assert page.errors() == []


def test_the_page_and_its_files_load_without_a_token_with_security_headers(
    live_service: RunningService,
) -> None:
    with httpx.Client(base_url=live_service.url) as client:
        assert client.get("/ui", follow_redirects=False).status_code in (307, 308)
        for path in ("/ui/", "/ui/static/page.js", "/ui/form.json", "/ui/model-card"):
            response = client.get(path)
            assert response.status_code == 200, path
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["referrer-policy"] == "no-referrer"
            assert "'unsafe-inline'" not in response.headers["content-security-policy"] or (
                path == "/ui/model-card"
                and "script-src" not in response.headers["content-security-policy"]
            )
        assert client.post("/ui/sledai", json={}).status_code == 401
        assert client.post("/predict", json={"patient": example_patient()}).status_code == 401


@pytest.mark.parametrize("candidate", ["no-such-browser", "true"])
def test_without_a_browser_the_tests_fail_saying_how_to_install_one(
    driver: Any, candidate: str
) -> None:
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y chromium"):
        launch(driver, (candidate,))

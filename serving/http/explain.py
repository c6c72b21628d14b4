"""One patient's prediction told in words: the CDS Hooks card and the RiskAssessment's rationale.

Both are built from the `PredictionResponse` that ``/predict`` answers, by the functions here, so
the card, the FHIR answer and the clinician page (built from ``/predict``'s response in the
browser) show the same facts: probability and interval, the strongest contributions, imputed
values, range flags, eligibility and the model version.
"""

from __future__ import annotations

from typing import Final, Literal

from serving.http.schemas import PredictionResponse

#: Contributions shown on a card: the strongest few, by absolute log-odds.
SHOWN_CONTRIBUTIONS: Final = 5
SUMMARY_LIMIT: Final = 140
INTENDED_USE: Final = (
    "Probability of an SRI-4 response at week 48 of belimumab 10 mg/kg IV for an adult with "
    "active, refractory SLE, from baseline data; supports, does not replace, clinical judgement."
)


def percent(probability: float) -> str:
    return f"{100 * probability:.0f} %"


def indicator(response: PredictionResponse) -> Literal["info", "warning"]:
    """``warning`` when the patient is outside (or not known to be inside) the MRBS population,
    a value was imputed, or a value lies outside the training population's range."""
    outside = response.eligibility.eligible is not True
    return "warning" if outside or response.imputed or response.flags else "info"


def summary(response: PredictionResponse) -> str:
    """One line under 140 characters with the probability (and the population caveat)."""
    text = f"MRBS: {percent(response.probability)} chance of SRI-4 response at week 48 on belimumab"
    if response.eligibility.eligible is False:
        text += " (outside the MRBS population)"
    elif response.eligibility.eligible is None:
        text += " (eligibility not confirmed)"
    elif response.imputed:
        text += " (some values imputed)"
    return text[: SUMMARY_LIMIT - 1]


def _interval(response: PredictionResponse) -> str:
    if response.interval is None:
        return ""
    bounds = response.interval
    return (
        f" ({100 * bounds.level:.0f} % interval {percent(bounds.lower)} to "
        f"{percent(bounds.upper)}, from {bounds.refits} bootstrap refits of the model)"
    )


def detail(response: PredictionResponse, page_url: str | None = None) -> str:
    """The card's GitHub-flavoured Markdown: probability with its interval, the strongest
    contributions, imputed values, flags, eligibility, intended use and the model."""
    lines = [
        f"**Probability of SRI-4 response at week 48: {percent(response.probability)}**"
        f"{_interval(response)}; risk band {response.risk_band}.",
        "",
    ]
    eligibility = response.eligibility
    if eligibility.eligible is False:
        lines.append("**Outside the MRBS population**: " + "; ".join(eligibility.reasons) + ".")
    elif eligibility.eligible is None:
        lines.append(
            "**Eligibility not confirmed**, unknown: " + ", ".join(eligibility.unknown) + "."
        )
    else:
        lines.append("Inside the MRBS population (every eligibility criterion checked).")
    lines += ["", "| strongest contributions | value | log-odds |", "|---|---|---|"]
    for item in response.contributions[:SHOWN_CONTRIBUTIONS]:
        value = "imputed" if item.imputed else f"{item.value} {item.unit}".strip()
        lines.append(f"| {item.predictor} | {value} | {item.log_odds:+.2f} |")
    lines.append("")
    if response.imputed:
        lines.append(
            "Imputed (missing, the development median was used): "
            + ", ".join(response.imputed)
            + "."
        )
    if response.flags:
        lines.append("Outside the training population's range: " + "; ".join(response.flags) + ".")
    lines += ["", f"Intended use: {INTENDED_USE}", ""]
    lines.append(f"Model {response.model.name}, version {response.model.version}.")
    if page_url:
        lines.append(f"[Open the MRBS clinician page]({page_url})")
    return "\n".join(lines)

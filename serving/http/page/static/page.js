// The MRBS clinician page. Built from form.json (the record declaration); answers come from the
// service: /predict for the result, /ui/sledai for the SLEDAI-2K total, /model for the model's
// intended use. Nothing clinical is computed here: this script only collects and displays.
"use strict";

const TOKEN_KEY = "mrbs.token";
const TOKEN_PROBLEM = "Token missing or not valid: enter the access token you were given.";
const SVG = "http://www.w3.org/2000/svg";

let declaration = null;
const fields = new Map();

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    node.append(child);
  }
  return node;
}

function svg(tag, attributes = {}, text = null) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  if (text !== null) node.textContent = text;
  return node;
}

function formatNumber(value) {
  return Number(value).toLocaleString("en", { maximumSignificantDigits: 6, useGrouping: false });
}

function range(bounds, symbol) {
  if (!bounds) return "";
  const unit = symbol ? ` ${symbol}` : "";
  return `${formatNumber(bounds[0])}–${formatNumber(bounds[1])}${unit}`;
}

// -- the token ------------------------------------------------------------------------------

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

function tokenStatus(text, problem = false) {
  const status = document.getElementById("token-status");
  status.textContent = text;
  status.className = problem ? "problem" : "";
}

function tokenRefused() {
  tokenStatus(TOKEN_PROBLEM, true);
  document.getElementById("token").setAttribute("aria-invalid", "true");
}

function setUpToken() {
  const input = document.getElementById("token");
  document.getElementById("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = input.value.trim();
    input.value = "";
    input.removeAttribute("aria-invalid");
    if (value) {
      sessionStorage.setItem(TOKEN_KEY, value);
      tokenStatus("Token kept for this browser tab.");
    } else {
      sessionStorage.removeItem(TOKEN_KEY);
      tokenStatus(TOKEN_PROBLEM, true);
    }
  });
  document.getElementById("forget-token").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    tokenStatus("Token forgotten.");
  });
  if (token()) tokenStatus("Token kept for this browser tab.");
}

async function call(path, body) {
  const headers = { "Content-Type": "application/json" };
  if (token()) headers.Authorization = `Bearer ${token()}`;
  const response = await fetch(new URL(path, document.baseURI), {
    method: "POST",
    headers,
    body: JSON.stringify(body),
    credentials: "omit",
  });
  let answer = null;
  try {
    answer = await response.json();
  } catch (error) {
    answer = null;
  }
  return { status: response.status, answer };
}

// -- the form -------------------------------------------------------------------------------

function need(field) {
  return field.required
    ? el("span", { class: "need required" }, " (required)")
    : el("span", { class: "need" }, " (optional: leave blank if unknown)");
}

function ids(field) {
  return { input: `in-${field.name}`, hint: `hint-${field.name}`, error: `err-${field.name}` };
}

function rangeHint(field, symbol) {
  const unit = field.units.find((candidate) => candidate.symbol === symbol) || field.units[0];
  const parts = [];
  if (unit.plausible_range) parts.push(`Accepted ${range(unit.plausible_range, unit.symbol)}`);
  if (unit.training_range) parts.push(`validated on ${range(unit.training_range, unit.symbol)}`);
  return parts.length ? `${parts.join("; ")}. ` : "";
}

function numberField(field) {
  const id = ids(field);
  const input = el("input", {
    id: id.input,
    name: field.name,
    type: "text",
    inputmode: field.kind === "integer" ? "numeric" : "decimal",
    autocomplete: "off",
    "aria-describedby": `${id.hint} ${id.error}`,
    "aria-required": field.required ? "true" : "false",
  });
  const inputs = el("div", { class: "inputs" }, input);
  const hint = el("p", { class: "hint", id: id.hint });
  let unitSelect = null;
  if (field.unit_field) {
    unitSelect = el("select", {
      id: `in-${field.unit_field}`,
      name: field.unit_field,
      "aria-label": `Unit of ${field.label}`,
      "aria-describedby": id.hint,
    });
    for (const unit of field.units) {
      unitSelect.append(el("option", { value: unit.symbol }, unit.symbol));
    }
    inputs.append(unitSelect);
  } else if (field.unit && field.unit !== "points") {
    inputs.append(el("span", { class: "unit" }, field.unit));
  }
  const describe = () => {
    const symbol = unitSelect ? unitSelect.value : field.unit;
    hint.textContent = `${rangeHint(field, symbol)}${field.description}`;
  };
  if (unitSelect) unitSelect.addEventListener("change", describe);
  describe();
  const box = el(
    "div",
    { class: "field", id: `field-${field.name}` },
    el("label", { for: id.input }, field.label, need(field)),
    inputs,
    hint,
    el("p", { class: "error", id: id.error, hidden: true }),
  );
  return { box, focus: input, read: () => readNumber(field, input, unitSelect) };
}

function readNumber(field, input, unitSelect) {
  const raw = input.value.trim();
  if (raw === "") return {};
  const number = Number(raw.replace(",", "."));
  // Text that is not a number goes to the service as it is, which names the field and why.
  const value = Number.isFinite(number) ? number : raw;
  const values = { [field.name]: value };
  if (unitSelect) values[field.unit_field] = unitSelect.value;
  return values;
}

function choiceField(field, options) {
  const id = ids(field);
  const group = el("div", { class: "choices" });
  const inputs = [];
  for (const [value, text] of options) {
    const input = el("input", {
      type: "radio",
      name: field.name,
      value,
      id: `${id.input}-${value || "unknown"}`,
      checked: value === "",
    });
    inputs.push(input);
    group.append(el("label", { class: value === "" ? "chosen" : "" }, input, ` ${text}`));
  }
  group.addEventListener("change", () => {
    for (const input of inputs) input.parentElement.classList.toggle("chosen", input.checked);
  });
  // A criterion reads as its full definition; a predictor as its label with the definition below.
  const criterion = field.role === "inclusion" || field.role === "exclusion";
  const box = el(
    "fieldset",
    { class: "field", id: `field-${field.name}`, "aria-describedby": `${id.hint} ${id.error}` },
    el("legend", {}, criterion ? field.description : field.label, need(field)),
    group,
    el("p", { class: "hint", id: id.hint, hidden: criterion }, field.description),
    el("p", { class: "error", id: id.error, hidden: true }),
  );
  const read = () => {
    const chosen = inputs.find((input) => input.checked);
    if (!chosen || chosen.value === "") return {};
    return { [field.name]: chosen.value === "true" };
  };
  return { box, focus: inputs[inputs.length - 1], read };
}

function textField(field) {
  const id = ids(field);
  let input;
  if (field.categories.length) {
    input = el("select", { id: id.input, name: field.name, "aria-describedby": `${id.hint} ${id.error}` });
    input.append(el("option", { value: "" }, "Unknown"));
    for (const category of field.categories) input.append(el("option", { value: category }, category));
  } else {
    input = el("input", {
      id: id.input,
      name: field.name,
      type: "text",
      autocomplete: "off",
      "aria-describedby": `${id.hint} ${id.error}`,
    });
  }
  const box = el(
    "div",
    { class: "field", id: `field-${field.name}` },
    el("label", { for: id.input }, field.label, need(field)),
    el("div", { class: "inputs" }, input),
    el("p", { class: "hint", id: id.hint }, field.description),
    el("p", { class: "error", id: id.error, hidden: true }),
  );
  const read = () => (input.value.trim() ? { [field.name]: input.value.trim() } : {});
  return { box, focus: input, read };
}

function fieldControl(field) {
  if (field.kind === "number" || field.kind === "integer") return numberField(field);
  if (field.kind === "boolean") {
    return choiceField(field, [["true", "Yes"], ["false", "No"], ["", "Unknown"]]);
  }
  return textField(field);
}

function calculator(sledai) {
  const status = el("p", { id: "sledai-status", role: "status" });
  const boxes = [];
  const list = el("div", { class: "descriptors" });
  for (const descriptor of sledai.descriptors) {
    const id = `sledai-${descriptor.name}`;
    const box = el("input", {
      type: "checkbox",
      id,
      name: descriptor.name,
      "aria-describedby": `${id}-definition`,
    });
    boxes.push(box);
    const points = descriptor.weight === 1 ? "1 point" : `${descriptor.weight} points`;
    list.append(
      el(
        "div",
        { class: "descriptor" },
        el("label", { for: id }, box, ` ${descriptor.label} (${points})`),
        el("p", { class: "hint", id: `${id}-definition` }, descriptor.definition),
      ),
    );
  }
  const button = el("button", { type: "button", id: "sledai-compute" }, "Compute SLEDAI-2K");
  button.addEventListener("click", async () => {
    const descriptors = Object.fromEntries(boxes.map((box) => [box.name, box.checked]));
    status.className = "";
    status.textContent = "Computing…";
    const { status: code, answer } = await call("sledai", { descriptors });
    if (code === 401) {
      tokenRefused();
      status.textContent = TOKEN_PROBLEM;
      status.className = "problem";
      return;
    }
    if (code !== 200 || !answer) {
      status.textContent = `The total could not be computed (HTTP ${code}).`;
      status.className = "problem";
      return;
    }
    document.getElementById(`in-${sledai.field}`).value = String(answer.total);
    status.textContent = `SLEDAI-2K ${answer.total} (${answer.band} activity), entered above.`;
  });
  return el(
    "details",
    { class: "calculator" },
    el("summary", {}, "Calculate SLEDAI-2K from its 24 descriptors"),
    el("p", { class: "hint" }, "Tick each descriptor present at the visit or in the preceding 10 days (Gladman 2002)."),
    list,
    button,
    status,
  );
}

function buildForm() {
  const container = document.getElementById("sections");
  for (const section of declaration.sections) {
    const members = declaration.fields.filter((field) => field.role === section.role);
    if (!members.length) continue;
    const body = el("div");
    for (const field of members) {
      const control = fieldControl(field);
      fields.set(field.name, { field, ...control });
      body.append(control.box);
      if (field.name === declaration.sledai.field) body.append(calculator(declaration.sledai));
    }
    container.append(
      el("fieldset", { class: "section", id: `section-${section.role}` }, el("legend", {}, section.title), body),
    );
  }
  document.getElementById("form-status").textContent = "";
}

function record() {
  const patient = {};
  for (const { box, read } of fields.values()) {
    const values = read();
    box.classList.toggle("blank", Object.keys(values).length === 0);
    Object.assign(patient, values);
  }
  return patient;
}

// -- errors next to their field ---------------------------------------------------------------

function clearErrors() {
  for (const { box } of fields.values()) {
    const error = box.querySelector(".error");
    error.textContent = "";
    error.hidden = true;
    for (const control of box.querySelectorAll("[aria-invalid]")) control.removeAttribute("aria-invalid");
  }
}

function fieldOf(location) {
  const names = location.filter((part) => typeof part === "string" && part !== "patient" && part !== "body");
  for (const name of names.reverse()) {
    if (fields.has(name)) return name;
    const owner = declaration.fields.find((field) => field.unit_field === name);
    if (owner) return owner.name;
  }
  return null;
}

function readable(problem) {
  if (problem.type === "missing") return "Required: enter a value.";
  return String(problem.msg || "not accepted").replace(/^Value error, /, "");
}

function showProblems(detail) {
  const general = [];
  let first = null;
  for (const problem of Array.isArray(detail) ? detail : [{ loc: [], msg: String(detail) }]) {
    const name = fieldOf(problem.loc || []);
    if (name === null) {
      general.push(readable(problem));
      continue;
    }
    const { box, focus } = fields.get(name);
    const error = box.querySelector(".error");
    error.textContent = error.textContent ? `${error.textContent} ${readable(problem)}` : readable(problem);
    error.hidden = false;
    for (const control of box.querySelectorAll("input, select")) control.setAttribute("aria-invalid", "true");
    if (first === null) first = focus;
  }
  const count = Array.isArray(detail) ? detail.length : 1;
  resultMessage(
    `The service could not use ${count === 1 ? "one value" : `${count} values`}: see the message next to each field. ${general.join(" ")}`.trim(),
    true,
  );
  if (first !== null) first.focus();
}

// -- the result -----------------------------------------------------------------------------

function resultMessage(text, problem = false) {
  const status = document.getElementById("result-status");
  status.textContent = text;
  status.className = problem ? "problem" : "";
  status.hidden = !text;
}

function percent(probability) {
  return `${(probability * 100).toFixed(1)} %`;
}

function labelOf(name) {
  return fields.has(name) ? fields.get(name).field.label : name;
}

function valueText(contribution) {
  if (contribution.value === null || contribution.value === undefined) {
    return contribution.imputed ? "(estimated)" : "";
  }
  let value = contribution.value;
  if (typeof value === "boolean") value = value ? "yes" : "no";
  else if (typeof value === "number") value = formatNumber(value);
  const unit = contribution.unit && contribution.unit !== "points" ? ` ${contribution.unit}` : "";
  return `${value}${unit}${contribution.imputed ? " (estimated)" : ""}`;
}

function chart(contributions) {
  const rowHeight = 24;
  const labelWidth = 250;
  const barWidth = 300;
  const width = labelWidth + barWidth + 60;
  const height = rowHeight * contributions.length + 30;
  const centre = labelWidth + barWidth / 2;
  const largest = Math.max(1e-9, ...contributions.map((c) => Math.abs(c.log_odds)));
  const figure = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-labelledby": "chart-title",
    "aria-describedby": "chart-description",
  });
  contributions.forEach((contribution, row) => {
    const y = row * rowHeight + 4;
    const length = (Math.abs(contribution.log_odds) / largest) * (barWidth / 2);
    const favours = contribution.log_odds >= 0;
    const group = svg("g", { class: "contribution" });
    const label = `${labelOf(contribution.predictor)} ${valueText(contribution)}`.trim();
    group.append(svg("text", { x: labelWidth - 8, y: y + 14, "text-anchor": "end" }, label));
    const bar = svg("rect", {
      class: `bar ${favours ? "favours" : "against"}`,
      "data-predictor": contribution.predictor,
      x: favours ? centre : centre - length,
      y,
      width: Math.max(length, 1),
      height: rowHeight - 8,
    });
    const sign = favours ? "+" : "−";
    bar.append(svg("title", {}, `${label}: ${sign}${Math.abs(contribution.log_odds).toFixed(3)} log-odds`));
    group.append(bar);
    group.append(
      svg(
        "text",
        { x: favours ? centre + length + 4 : centre - length - 4, y: y + 14, "text-anchor": favours ? "start" : "end" },
        `${sign}${Math.abs(contribution.log_odds).toFixed(2)}`,
      ),
    );
    figure.append(group);
  });
  const bottom = rowHeight * contributions.length + 4;
  figure.append(svg("line", { class: "axis", x1: centre, x2: centre, y1: 0, y2: bottom }));
  figure.append(svg("text", { x: centre - 6, y: bottom + 18, "text-anchor": "end" }, "← against response"));
  figure.append(svg("text", { x: centre + 6, y: bottom + 18 }, "favours response →"));
  const holder = document.getElementById("chart");
  holder.replaceChildren(figure);
}

function listInto(id, items) {
  document.getElementById(id).replaceChildren(...items.map((item) => el("li", {}, item)));
}

function showWarnings(response) {
  const warnings = [];
  if (response.imputed.length) {
    const names = response.imputed.map(labelOf).join(", ");
    warnings.push(`Estimated (not given, the development cohort's median was used): ${names}.`);
  }
  for (const flag of response.flags) warnings.push(`Outside the validated range: ${flag}.`);
  if (!warnings.length) warnings.push("None: every predictor was given and within the validated range.");
  document.getElementById("warnings").replaceChildren(
    ...warnings.map((text) => el("li", { class: response.imputed.length || response.flags.length ? "warning" : "" }, text)),
  );
}

function showEligibility(eligibility) {
  const text = {
    true: "Inside the MRBS population: the model applies.",
    false: "Outside the MRBS population: the model was not built for this patient.",
    null: "Not known: some criteria could not be checked.",
  }[String(eligibility.eligible)];
  const summary = document.getElementById("eligibility");
  summary.textContent = text;
  summary.className = eligibility.eligible === true ? "" : "problem";
  listInto("eligibility-reasons", [
    ...eligibility.reasons,
    ...eligibility.unknown.map((name) => `Unknown: ${labelOf(name)}`),
  ]);
}

function showResult(response) {
  resultMessage("");
  document.getElementById("result-body").hidden = false;
  const probability = document.getElementById("probability");
  probability.textContent = percent(response.probability);
  probability.dataset.value = String(response.probability);
  const interval = response.interval;
  document.getElementById("interval").textContent = interval
    ? `${Math.round(interval.level * 100)} % interval ${percent(interval.lower)} to ${percent(interval.upper)} (from ${interval.refits} bootstrap refits of the model).`
    : "No uncertainty interval: the model carries no bootstrap refits.";
  const frequency = Math.round(response.probability * 100);
  document.getElementById("frequency").textContent =
    `About ${frequency} in 100 similar patients would be SRI-4 responders at week 48.`;
  document.getElementById("band").textContent = response.risk_band;
  chart(response.contributions);
  showWarnings(response);
  showEligibility(response.eligibility);
  document.getElementById("model").textContent = `${response.model.name}, version ${response.model.version}`;
  document.getElementById("printed-at").textContent =
    `Estimated ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC.`;
}

async function showModel() {
  const { status, answer } = await call("../model", {});
  if (status !== 200 || !answer) return;
  document.getElementById("intended-use").hidden = false;
  document.getElementById("intended-use-text").textContent = answer.intended_use;
  document.getElementById("population-text").textContent = `Population: ${answer.population}`;
  const metrics = answer.metrics;
  if (metrics.auroc !== undefined) {
    const interval = metrics.auroc_lower !== undefined
      ? ` (95 % interval ${metrics.auroc_lower.toFixed(2)} to ${metrics.auroc_upper.toFixed(2)})` : "";
    const slope = metrics.calibration_slope !== undefined
      ? `; calibration slope ${metrics.calibration_slope.toFixed(2)}` : "";
    document.getElementById("metrics-text").textContent =
      `Validated AUROC ${metrics.auroc.toFixed(2)}${interval}${slope}. Trained ${answer.trained_at}.`;
  }
}

async function estimate(event) {
  event.preventDefault();
  clearErrors();
  resultMessage("Estimating…");
  const { status, answer } = await call("../predict", { patient: record(), interval: true });
  if (status === 401) {
    tokenRefused();
    document.getElementById("result-body").hidden = true;
    resultMessage(TOKEN_PROBLEM, true);
    document.getElementById("token").focus();
    return;
  }
  if (status === 400 && answer && answer.detail !== undefined) {
    document.getElementById("result-body").hidden = true;
    showProblems(answer.detail);
    return;
  }
  if (status !== 200 || !answer) {
    document.getElementById("result-body").hidden = true;
    const reason = answer && answer.error ? `: ${answer.error}` : "";
    resultMessage(`The service did not answer (HTTP ${status}${reason}). Try again shortly.`, true);
    return;
  }
  showResult(answer);
  await showModel();
}

async function start() {
  setUpToken();
  document.getElementById("print").addEventListener("click", () => window.print());
  const response = await fetch(new URL("form.json", document.baseURI));
  if (!response.ok) {
    document.getElementById("form-status").textContent = `The form could not be loaded (HTTP ${response.status}).`;
    return;
  }
  declaration = await response.json();
  buildForm();
  document.getElementById("patient-form").addEventListener("submit", estimate);
  document.body.dataset.ready = "true";
}

start();

// The product metrics dashboard's script, inlined into the page: sortable tables, the segment toggle and
// the growth calculator. The calculator follows growth_pipeline/growth/math.py and calculator.py (the
// same definitions, bands and messages as `growth-calc`); the bands come from the catalog, in the page.
"use strict";

const page = JSON.parse(document.getElementById("dashboard-data").textContent);

// growth/math.py: bands are compared after rounding to 10 decimals, so 101/100 - 1 is exactly 1%.
function classify(rate, bands = page.bands) {
  if (rate === null || Number.isNaN(rate)) return null;
  const g = Number(rate.toFixed(10));
  if (g >= bands.exceptional) return "exceptional";
  if (g >= bands.strong) return "strong";
  if (g >= bands.sustainable) return "sustainable";
  if (g > bands.okay) return "okay";
  return "not acceptable";
}

function compoundWeeklyGrowth(start, end, weeks) {
  return Math.pow(end / start, 1 / weeks) - 1;
}

function project(start, weeklyRate, weeks = page.weeks_per_year) {
  return start * Math.pow(1 + weeklyRate, weeks);
}

class InputError extends Error {}

// calculator.py's number(): a finite number, or an error naming the input.
function number(text, name) {
  const trimmed = text.trim();
  const value = trimmed === "" ? NaN : Number(trimmed.replace(/,/g, ""));
  if (!Number.isFinite(value)) throw new InputError(`${name} must be a number, got '${text}'`);
  return value;
}

function positive(value, name) {
  if (value <= 0) throw new InputError(`${name} must be greater than 0, got ${value}`);
  return value;
}

// calculator.py's percent(): '5' or '5%' is 5% a week, as a fraction above -100%.
function percent(text, name) {
  const value = number(text.trim().replace(/%$/, ""), `${name} (in percent)`) / 100;
  if (value <= -1) throw new InputError(`${name} must be above -100% a week, got ${text}`);
  return value;
}

const fmt = (value, digits) =>
  value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
const plain = (value) => value.toLocaleString("en-US", { maximumFractionDigits: 10 });
const signedPercent = (rate) => `${rate >= 0 ? "+" : ""}${(rate * 100).toFixed(2)}%`;

function bandChip(band) {
  const chip = document.createElement("span");
  chip.className = "band";
  chip.style.setProperty("--band", page.band_colours[band] || "#9aa0a6");
  chip.textContent = band;
  return chip;
}

function show(output, parts) {
  output.classList.remove("error");
  output.replaceChildren(...parts);
}

function showError(output, error) {
  if (!(error instanceof InputError)) throw error;
  output.classList.add("error");
  output.textContent = error.message;
}

function rateAnswer() {
  const output = document.getElementById("calc-rate-result");
  const fields = ["calc-start", "calc-end", "calc-weeks"].map((id) => document.getElementById(id).value);
  if (fields.some((text) => text.trim() === "")) {
    show(output, ["Enter a start value, an end value and the weeks between them."]);
    return;
  }
  try {
    const start = positive(number(fields[0], "start value"), "start value");
    const end = number(fields[1], "end value");
    if (end < 0) throw new InputError(`end value must not be negative, got ${end}`);
    const weeks = positive(number(fields[2], "weeks"), "weeks");
    const rate = compoundWeeklyGrowth(start, end, weeks);
    const band = classify(rate);
    const parts = [
      `From ${plain(start)} to ${plain(end)} over ${plain(weeks)} weeks: `,
      Object.assign(document.createElement("b"), { id: "calc-rate", textContent: signedPercent(rate) }),
      " a week ",
      Object.assign(bandChip(band), { id: "calc-band" }),
    ];
    if (rate > -1) {
      const multiple = Object.assign(document.createElement("b"), {
        id: "calc-multiple",
        textContent: `x${fmt(project(1, rate), 2)}`,
      });
      parts.push(document.createElement("br"), `Sustained for 12 months (52 weeks) that is `, multiple);
    }
    show(output, parts);
  } catch (error) {
    showError(output, error);
  }
}

function projectionAnswer() {
  const output = document.getElementById("proj-result");
  const fields = ["proj-start", "proj-rate"].map((id) => document.getElementById(id).value);
  if (fields.some((text) => text.trim() === "")) {
    show(output, ["Enter a start value and a sustained weekly rate."]);
    return;
  }
  try {
    const start = positive(number(fields[0], "start value"), "start value");
    const rate = percent(fields[1], "rate");
    const value = project(start, rate);
    show(output, [
      `From ${plain(start)} at ${plain(rate * 100)}% a week `,
      bandChip(classify(rate)),
      document.createElement("br"),
      "after 12 months (52 weeks): ",
      Object.assign(document.createElement("b"), { id: "proj-value", textContent: fmt(value, 1) }),
      ` (x${fmt(value / start, 2)})`,
    ]);
  } catch (error) {
    showError(output, error);
  }
}

// Sortable tables: a header click sorts by the cells' data-sort numbers (or their text); again to reverse.
// Cells without a value sort last either way.
function sortBy(table, column, header) {
  const descending = header.getAttribute("aria-sort") === "ascending";
  for (const th of table.tHead.rows[0].cells) th.removeAttribute("aria-sort");
  header.setAttribute("aria-sort", descending ? "descending" : "ascending");
  const key = (row) => {
    const cell = row.cells[column];
    if (!cell) return null;
    if (cell.hasAttribute("data-sort")) {
      const text = cell.getAttribute("data-sort");
      return text === "" ? null : Number(text);
    }
    return cell.textContent.trim() || null;
  };
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  rows.sort((a, b) => {
    const x = key(a);
    const y = key(b);
    if (x === null || y === null) return (x === null) - (y === null);
    const order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
    return descending ? -order : order;
  });
  body.append(...rows);
}

for (const table of document.querySelectorAll("table.sortable")) {
  Array.from(table.tHead.rows[0].cells).forEach((header, column) => {
    header.querySelector("button").addEventListener("click", () => sortBy(table, column, header));
  });
}

document.getElementById("show-segments")?.addEventListener("change", (event) => {
  document.body.classList.toggle("show-segments", event.target.checked);
});

for (const id of ["calc-start", "calc-end", "calc-weeks"]) {
  document.getElementById(id).addEventListener("input", rateAnswer);
}
for (const id of ["proj-start", "proj-rate"]) {
  document.getElementById(id).addEventListener("input", projectionAnswer);
}
for (const form of document.querySelectorAll("#calculator form")) {
  form.addEventListener("submit", (event) => event.preventDefault());
}

const legend = document.getElementById("band-legend");
for (const band of page.band_order) {
  const chip = bandChip(band);
  chip.textContent = page.band_labels[band];
  legend.append(chip);
}

// For tests and the curious: the calculator's definitions, callable from the console.
window.growthCalculator = { classify, compoundWeeklyGrowth, project };

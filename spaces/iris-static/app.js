// The Iris page: sliders in, species and probabilities out, the flower placed among the data.
// The model is iris-gradio's, exported to ONNX by its training script; onnxruntime-web runs it
// here, from files this Space serves itself (vendor/, copied from npm by `npm run build`).
import * as ort from "./vendor/ort.wasm.min.mjs";

const here = (path) => new URL(path, import.meta.url).href;
ort.env.wasm.wasmPaths = here("vendor/"); // the served copy, never a CDN
ort.env.wasm.numThreads = 1; // threads need cross-origin isolation, which a Space does not give

const FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"];
const EXAMPLES = { // one real row of each species from the data set, as in iris-gradio
  setosa: [5.1, 3.5, 1.4, 0.2],
  versicolor: [7.0, 3.2, 4.7, 1.4],
  virginica: [6.3, 3.3, 6.0, 2.5],
};
const YOURS = "your flower";
const COLORS = { setosa: "#4c78a8", versicolor: "#f58518", virginica: "#54a24b", [YOURS]: "#111" };
const $ = (id) => document.getElementById(id);

async function load() {
  const [meta, session, flowers] = await Promise.all([
    fetch(here("artifacts/metadata.json")).then((r) => r.json()),
    ort.InferenceSession.create(here("artifacts/model.onnx"), { executionProviders: ["wasm"] }),
    fetch(here("data/iris.csv")).then((r) => r.text()).then(parseFlowers),
  ]);
  return { meta, session, flowers };
}

function parseFlowers(csv) {
  const [header, ...lines] = csv.trim().split("\n");
  const names = header.split(",");
  return lines.map((line) => {
    const cells = line.split(",");
    return Object.fromEntries(names.map((n, i) => [n, n === "species" ? cells[i] : +cells[i]]));
  });
}

const model = load();
let queue = Promise.resolve(); // one session.run at a time

/** Species and class probabilities for rows of [sepal_length, sepal_width, petal_length, petal_width]. */
export async function predict(rows) {
  const { meta, session } = await model;
  const input = new ort.Tensor("float64", Float64Array.from(rows.flat()), [rows.length, 4]);
  const run = queue.then(() => session.run({ [session.inputNames[0]]: input }));
  queue = run.catch(() => {});
  const proba = (await run).probabilities.data;
  const k = meta.classes.length;
  return rows.map((_, i) => {
    const row = Array.from(proba.slice(i * k, (i + 1) * k));
    const best = row.indexOf(Math.max(...row));
    const probabilities = Object.fromEntries(meta.classes.map((c, j) => [c, row[j]]));
    return { species: meta.classes[best], probabilities };
  });
}

// --- the page ---------------------------------------------------------------------------------

function sliderRange({ min, max }) { // the Gradio Space's slider bounds
  return [Math.max(0.1, Math.floor(min * 0.8 * 10) / 10), Math.ceil(max * 1.2 * 10) / 10];
}

function values() {
  return FEATURES.map((f) => Number($(f).value));
}

function setValues(row) {
  FEATURES.forEach((f, i) => { $(f).value = row[i]; $(`${f}-value`).value = row[i]; });
}

function showPrediction({ species, probabilities }) {
  $("species").textContent = species;
  $("probabilities").replaceChildren(...Object.entries(probabilities)
    .sort((a, b) => b[1] - a[1])
    .map(([name, p]) => {
      const item = document.createElement("li");
      item.dataset.species = name;
      item.innerHTML = `<span>${name}</span><span class="bar"><span style="width:${(p * 100).toFixed(1)}%"></span></span><span>${(p * 100).toFixed(1)}%</span>`;
      return item;
    }));
}

let latest = 0;
async function update() {
  const row = values();
  const ticket = ++latest;
  const [prediction] = await predict([row]);
  if (ticket !== latest) return; // a newer flower is on its way
  showPrediction(prediction);
  const { flowers } = await model;
  plot($("petal-plot"), "petal", flowers, row);
  plot($("sepal-plot"), "sepal", flowers, row);
}

const SVG = "http://www.w3.org/2000/svg";
function svgNode(name, attrs, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function ticks(lo, hi) {
  const step = [0.2, 0.5, 1, 2].find((s) => (hi - lo) / s <= 8) ?? 5;
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-9; t += step) out.push(+t.toFixed(1));
  return out;
}

/** A scatter plot of `part`_length × `part`_width, coloured by species, the visitor's flower in black. */
function plot(svg, part, flowers, row) {
  const [w, h, m] = [440, 300, 40];
  const x = `${part}_length`, y = `${part}_width`;
  const yours = { [x]: row[FEATURES.indexOf(x)], [y]: row[FEATURES.indexOf(y)], species: YOURS };
  const points = [...flowers, yours];
  const extent = (key) => {
    const v = points.map((p) => p[key]);
    return [Math.floor(Math.min(...v)) - 0.2, Math.ceil(Math.max(...v)) + 0.2];
  };
  const [x0, x1] = extent(x), [y0, y1] = extent(y);
  const sx = (v) => m + ((v - x0) / (x1 - x0)) * (w - m - 10);
  const sy = (v) => h - m + 10 - ((v - y0) / (y1 - y0)) * (h - m - 10);
  svg.setAttribute("viewBox", `0 0 ${w} ${h + 20}`);
  const nodes = [];
  for (const t of ticks(x0, x1)) {
    nodes.push(svgNode("line", { x1: sx(t), x2: sx(t), y1: 10, y2: h - m + 10, class: "grid" }));
    nodes.push(svgNode("text", { x: sx(t), y: h - m + 26, "text-anchor": "middle" }, t));
  }
  for (const t of ticks(y0, y1)) {
    nodes.push(svgNode("line", { x1: m, x2: w - 10, y1: sy(t), y2: sy(t), class: "grid" }));
    nodes.push(svgNode("text", { x: m - 6, y: sy(t) + 4, "text-anchor": "end" }, t));
  }
  nodes.push(svgNode("text", { x: (w + m) / 2, y: h - 2, "text-anchor": "middle" }, `${part} length`));
  nodes.push(svgNode("text", { x: 12, y: (h - m) / 2, transform: `rotate(-90 12 ${(h - m) / 2})`, "text-anchor": "middle" }, `${part} width`));
  for (const p of points) {
    const mine = p.species === YOURS;
    nodes.push(svgNode("circle", {
      cx: sx(p[x]), cy: sy(p[y]), r: mine ? 7 : 4, fill: COLORS[p.species],
      "fill-opacity": mine ? 1 : 0.7, class: mine ? "yours" : "flower",
    }));
  }
  Object.entries(COLORS).forEach(([name, color], i) => {
    nodes.push(svgNode("circle", { cx: m + 10 + i * 100, cy: h + 10, r: 5, fill: color }));
    nodes.push(svgNode("text", { x: m + 18 + i * 100, y: h + 14 }, name));
  });
  svg.replaceChildren(...nodes);
}

function modelCard(meta) {
  const m = meta.metrics, pct = (v) => `${(v * 100).toFixed(1)}%`;
  return `Model ${meta.model_version} · CV accuracy ${pct(m.cv_accuracy_mean)} (± ${pct(m.cv_accuracy_std)}) · held-out test accuracy ${pct(m.test_accuracy)} on ${meta.data.test_rows} flowers · onnxruntime-web ${ort.env.versions.web}, in this browser.`;
}

async function start() {
  const { meta } = await model;
  FEATURES.forEach((f, i) => {
    const [lo, hi] = sliderRange(meta.features[i]);
    for (const input of [$(f), $(`${f}-value`)]) Object.assign(input, { min: lo, max: hi });
    $(f).addEventListener("input", () => { $(`${f}-value`).value = $(f).value; update(); });
    $(`${f}-value`).addEventListener("change", () => {
      $(f).value = $(`${f}-value`).value; // the slider keeps it within bounds
      $(`${f}-value`).value = $(f).value;
      update();
    });
  });
  for (const button of document.querySelectorAll("[data-example]")) {
    button.addEventListener("click", () => { setValues(EXAMPLES[button.dataset.example]); update(); });
  }
  $("card").textContent = modelCard(meta);
  setValues(EXAMPLES.setosa);
  await update();
  window.iris.firstPredictionMs = performance.now();
  $("status").textContent = `Ready: first prediction ${Math.round(window.iris.firstPredictionMs)} ms after the page opened.`;
  document.body.dataset.ready = "true";
}

window.iris = { predict, firstPredictionMs: null };
start().catch((error) => {
  $("status").textContent = `The model could not start: ${error.message}`;
  document.body.dataset.ready = "error";
  throw error;
});

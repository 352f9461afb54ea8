// The sentiment page: texts (typed, pasted or from a CSV) in, POSITIVE/NEGATIVE and a score out.
// transformers.js runs the model in this browser, from files this Space serves itself (vendor/,
// copied from npm by `npm run build`), never from a CDN.
import { env, pipeline } from "./vendor/transformers.min.js";

const here = (path) => new URL(path, import.meta.url).href;

// Settings, in one place. A Space variable SENTIMENT_MODEL (Settings → Variables and secrets)
// names another ONNX text classifier on the Hub, as in the sentiment-streamlit Space.
const dtypeParam = new URLSearchParams(location.search).get("dtype"); // ?dtype=q8 or ?dtype=fp32
const SETTINGS = {
  hubModel: window.huggingface?.variables?.SENTIMENT_MODEL
    ?? "Xenova/distilbert-base-uncased-finetuned-sst-2-english",
  hubDtype: ["q8", "fp32"].includes(dtypeParam) ? dtypeParam : "q8", // int8 weights: 4× less to download
  localModel: "model", // this folder's model/ (built by make; not uploaded to the Hub)
  localDtype: ["q8", "fp32"].includes(dtypeParam) ? dtypeParam : "fp32", // the server's own graph
  batch: 16, // texts per forward pass, grouped by length
  maxRows: 2000,
  maxCsvBytes: 5_000_000,
};

env.backends.onnx.wasm.wasmPaths = { // the served copy of onnxruntime-web (CPU build)
  mjs: here("vendor/ort-wasm-simd-threaded.mjs"),
  wasm: here("vendor/ort-wasm-simd-threaded.wasm"),
};
env.backends.onnx.wasm.numThreads = 1; // threads need cross-origin isolation
env.localModelPath = new URL("./", import.meta.url).pathname; // a path: transformers.js treats a URL as remote

const $ = (id) => document.getElementById(id);
const mb = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;

/** fetch, counting the bytes of the model's files for the progress bar and its size. */
const downloads = {};
env.fetch = async (url, init) => {
  const response = await fetch(url, init);
  const runtime = String(url).startsWith(here("vendor/")); // the WASM, not the model
  if (runtime || !response.ok || !response.body || init?.method === "HEAD") return response;
  const file = (downloads[String(url)] = {
    loaded: 0, total: Number(response.headers.get("content-length")) || 0,
  });
  const counter = new TransformStream({
    transform(chunk, controller) {
      file.loaded += chunk.byteLength;
      showProgress();
      controller.enqueue(chunk);
    },
  });
  const { status, statusText, headers } = response;
  return new Response(response.body.pipeThrough(counter), { status, statusText, headers });
};

function showProgress() {
  const files = Object.values(downloads);
  const loaded = files.reduce((sum, f) => sum + f.loaded, 0);
  const total = files.reduce((sum, f) => sum + Math.max(f.total, f.loaded), 0);
  $("progress").value = total ? loaded / total : 0;
  $("progress-text").textContent = `downloading ${mb(loaded)} of ${mb(total)}`;
}

/** Load `name` from the Hub (`remote`) or from this folder; resolves to the pipeline. */
async function loadOne(name, remote, dtype) {
  Object.assign(env, { allowRemoteModels: remote, allowLocalModels: !remote });
  for (const url of Object.keys(downloads)) delete downloads[url];
  return pipeline("text-classification", name, { dtype, device: "wasm" });
}

/** The Hub model; when the Hub cannot be reached, this Space's own model/ folder. */
async function load() {
  const bytes = () => Object.values(downloads).reduce((sum, f) => sum + f.loaded, 0);
  try {
    const dtype = SETTINGS.hubDtype;
    const classifier = await loadOne(SETTINGS.hubModel, true, dtype);
    return { classifier, dtype, bytes: bytes(), name: SETTINGS.hubModel, source: "the Hugging Face Hub" };
  } catch (error) {
    console.warn(`${SETTINGS.hubModel} could not be loaded from the Hub: ${error.message}`);
    const dtype = SETTINGS.localDtype;
    const classifier = await loadOne(SETTINGS.localModel, false, dtype);
    const name = "all-MiniLM-L6-v2 fine-tuned on IMDB reviews";
    const source = "this Space's model/ folder (the Hub could not be reached)";
    return { classifier, dtype, bytes: bytes(), name, source };
  }
}

const model = load();

function normalise({ label, score }) { // POSITIVE/NEGATIVE whatever the model calls them
  const name = String(label).toLowerCase();
  const negative = name.includes("neg") || name === "label_0" || name === "0";
  return { label: negative ? "NEGATIVE" : "POSITIVE", score };
}

/** Label and score for each text, in order: length-sorted passes of `SETTINGS.batch` texts. */
export async function classify(texts) {
  const { classifier } = await model;
  const order = texts.map((_, i) => i).sort((a, b) => texts[a].length - texts[b].length);
  const results = new Array(texts.length);
  for (let start = 0; start < order.length; start += SETTINGS.batch) {
    const chunk = order.slice(start, start + SETTINGS.batch);
    const out = await classifier(chunk.map((i) => texts[i]));
    chunk.forEach((i, j) => { results[i] = normalise([out].flat()[j]); });
  }
  return results;
}

// --- CSV --------------------------------------------------------------------------------------

function parseCsv(text) { // RFC 4180: quoted cells may hold commas, quotes ("") and newlines
  const rows = [];
  let row = [], cell = "", quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted && c === '"' && text[i + 1] === '"') { cell += '"'; i++; }
    else if (c === '"') quoted = !quoted;
    else if (!quoted && c === ",") { row.push(cell); cell = ""; }
    else if (!quoted && (c === "\n" || c === "\r")) {
      if (c === "\r" && text[i + 1] === "\n") i++;
      rows.push([...row, cell]); row = []; cell = "";
    } else cell += c;
  }
  if (cell || row.length) rows.push([...row, cell]);
  return rows;
}

/** The `text` column of a CSV (or its first column when no header says `text`). */
export function textsFromCsv(csv) {
  const rows = parseCsv(csv);
  const column = (rows[0] ?? []).map((c) => c.trim().toLowerCase()).indexOf("text");
  const body = column >= 0 ? rows.slice(1) : rows;
  return body.map((r) => (r[Math.max(column, 0)] ?? "").replace(/\s+/g, " ").trim()).filter(Boolean);
}

// --- the page ---------------------------------------------------------------------------------

let lastResults = [];

async function run() {
  const texts = $("texts").value.split("\n").map((t) => t.trim()).filter(Boolean);
  if (!texts.length) return say("Type at least one non-empty line of text.");
  if (texts.length > SETTINGS.maxRows) return say(`${texts.length} texts: at most ${SETTINGS.maxRows} at a time.`);
  say("");
  $("classify").disabled = true;
  const began = performance.now();
  try {
    const results = await classify(texts);
    show(texts, results, performance.now() - began);
  } catch (error) {
    say(`Could not classify: ${error.message}`);
  } finally {
    $("classify").disabled = false;
  }
}

function show(texts, results, ms) {
  lastResults = texts.map((text, i) => ({ text, ...results[i] }));
  const positive = results.filter((r) => r.label === "POSITIVE").length;
  $("summary").textContent = `${texts.length} text(s) in ${(ms / 1000).toFixed(2)} s: ${positive} POSITIVE, ${texts.length - positive} NEGATIVE.`;
  $("results").tBodies[0].replaceChildren(...lastResults.map(({ text, label, score }) => {
    const row = document.createElement("tr");
    row.dataset.label = label;
    for (const value of [text, `${label === "POSITIVE" ? "🙂" : "🙁"} ${label}`, score.toFixed(3)]) {
      row.insertCell().textContent = value;
    }
    return row;
  }));
  $("download").hidden = false;
}

function say(message) {
  $("message").textContent = message;
}

async function readCsv(file) {
  if (file.size > SETTINGS.maxCsvBytes) return say(`The file is ${mb(file.size)}; the limit is ${mb(SETTINGS.maxCsvBytes)}.`);
  const texts = textsFromCsv(await file.text());
  if (!texts.length) return say(`${file.name} has no text in it.`);
  $("texts").value = texts.join("\n");
  await run();
}

function download() {
  const quote = (v) => `"${String(v).replaceAll('"', '""')}"`;
  const lines = ["text,label,score", ...lastResults.map((r) => [quote(r.text), r.label, r.score].join(","))];
  const link = Object.assign(document.createElement("a"), {
    href: URL.createObjectURL(new Blob([lines.join("\n") + "\n"], { type: "text/csv" })),
    download: "sentiment.csv",
  });
  link.click();
  URL.revokeObjectURL(link.href);
}

async function start() {
  $("form").addEventListener("submit", (event) => { event.preventDefault(); run(); });
  $("texts").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); run(); }
  });
  $("csv").addEventListener("change", () => $("csv").files[0] && readCsv($("csv").files[0]));
  $("form").addEventListener("dragover", (event) => event.preventDefault());
  $("form").addEventListener("drop", (event) => {
    event.preventDefault();
    const file = event.dataTransfer.files[0];
    if (file) readCsv(file);
  });
  $("download").addEventListener("click", download);

  const { name, source, bytes, dtype } = await model;
  window.sentiment.model = { name, source, bytes, dtype };
  const size = bytes ? `${mb(bytes)} downloaded` : "from the browser's cache";
  const weights = dtype === "fp32" ? "fp32" : "int8";
  $("model").textContent = `Model: ${name}, from ${source} · ${weights} ONNX, ${size}`;
  $("progress-text").textContent = "";
  $("progress").value = 1;
  $("classify").disabled = false;
  await run(); // the example texts, so the page opens with answers
  window.sentiment.firstPredictionMs = performance.now();
  document.body.dataset.ready = "true";
}

window.sentiment = { classify, textsFromCsv, model: null, firstPredictionMs: null };
start().catch((error) => {
  $("model").textContent = `The model could not be loaded: ${error.message}`;
  document.body.dataset.ready = "error";
  throw error;
});

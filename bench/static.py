"""The static twins in headless Chromium: page weight, time to first prediction, throughput.

    python -m bench.static        (make static-bench; needs `make static` and `make browser`)

Each page is served from its own folder by `python -m http.server` on loopback, every other host
blocked, and opened in a fresh browser context (empty HTTP cache and Cache Storage: a cold load)
several times. The server Spaces' figures are cited from their own runs (bench/results/iris.json,
sentiment.json), not measured again here.
"""

from __future__ import annotations

import gzip
import json
import os
import statistics
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from bench.browser import CHROMIUM, CHROMIUM_ARGS, block_internet, static_server
from bench.loadgen import RESULTS, machine_info, write_results

REPO = Path(__file__).resolve().parents[1]
SPACES = REPO / "spaces"
SENTENCES = REPO / "tests" / "sentiment_static" / "sentences.txt"
COLD_LOADS = 3
PAGES = {  # label -> (folder, query, what the page runs)
    "iris-static": ("iris-static", "", "iris-gradio's SVC pipeline as ONNX"),
    "sentiment-static": ("sentiment-static", "", "model/ folder, fp32 (the offline default)"),
    "sentiment-static ?dtype=q8": ("sentiment-static", "?dtype=q8", "model/ folder, int8"),
}
TIMED = """async ([fn, items, repeats]) => {
  const run = fn === "iris" ? (x) => window.iris.predict(x) : (x) => window.sentiment.classify(x);
  await run(items);  // warm-up
  let t = performance.now();
  for (let i = 0; i < repeats; i++) await run(items);
  const batchMs = (performance.now() - t) / repeats;
  const singles = items.slice(0, 20);
  t = performance.now();
  for (const item of singles) await run([item]);
  return { batchMs, singleMs: (performance.now() - t) / singles.length };
}"""


def sentences() -> list[str]:
    """The project's test sentences."""
    lines = (line.strip() for line in SENTENCES.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def cold_load(browser: Any, url: str, folder: Path) -> dict[str, Any]:
    """Open the page in a new context; bytes fetched and ms to the first prediction shown."""
    context = browser.new_context()
    page = context.new_page()
    aborted = block_internet(page)
    sizes: dict[str, int] = {}

    def finished(request: Any) -> None:
        size = request.sizes()
        sizes[request.url] = size["responseBodySize"] + size["responseHeadersSize"]

    page.on("requestfinished", finished)
    page.goto(url, wait_until="load")
    page.wait_for_function("document.body.dataset.ready", timeout=180_000)
    assert page.evaluate("document.body.dataset.ready") == "true", f"{url} did not start"
    kind = "iris" if "iris" in folder.name else "sentiment"
    first = page.evaluate(f"window.{kind}.firstPredictionMs")
    files = [folder / urlparse(u).path.lstrip("/") for u in sizes]
    gzipped = sum(len(gzip.compress(f.read_bytes(), 6)) for f in files if f.is_file())
    return {
        "context": context,
        "page": page,
        "first_prediction_ms": round(first, 1),
        "bytes": sum(sizes.values()),
        "bytes_if_gzip_served": gzipped,
        "requests": len(sizes),
        "aborted": list(aborted),
    }


def measure(browser: Any, label: str) -> dict[str, Any]:
    """Cold loads of one page, then its throughput on a batch of 100 and one item at a time."""
    name, query, what = PAGES[label]
    folder = SPACES / name
    with static_server(folder) as url:
        loads = [cold_load(browser, url + query, folder) for _ in range(COLD_LOADS)]
        page = loads[-1]["page"]
        if name == "iris-static":
            from sklearn.datasets import load_iris

            items, repeats, unit = load_iris().data[:100].tolist(), 200, "flowers"
        else:
            items, repeats, unit = sentences()[:100], 5, "texts"
        timed = page.evaluate(TIMED, ["iris" if unit == "flowers" else "sentiment", items, repeats])
        agreement = server_agreement(page) if unit == "texts" else None
        model = page.evaluate("window.sentiment?.model ?? null")
        for load in loads:
            load.pop("page")
            load.pop("context").close()
    batch_ms = timed["batchMs"]
    return {
        "page": label,
        "runs": what,
        "model": model,
        "cold_loads": loads,
        "first_prediction_ms_median": statistics.median(x["first_prediction_ms"] for x in loads),
        "batch_of_100": {"unit": unit, "ms_mean": round(batch_ms, 2), "repeats": repeats},
        "per_second_batch_100": round(len(items) / batch_ms * 1000, 1),
        "single_item_ms_mean": round(timed["singleMs"], 2),
        "agreement_with_server": agreement,
    }


def server_agreement(page: Any) -> dict[str, float]:
    """Labels and scores of the page against the server Space's model (ONNX, fp32) on the
    project's sentences."""
    from sentiment_app.model import load_model
    from sentiment_app.settings import Settings

    texts = sentences()
    server = load_model(Settings(model=str(SPACES / "sentiment-streamlit" / "model"), workers=1))
    expected = np.array(server.positive_probability(texts))
    got = page.evaluate("texts => window.sentiment.classify(texts)", texts)
    browser = np.array([g["score"] if g["label"] == "POSITIVE" else 1 - g["score"] for g in got])
    delta = np.abs(browser - expected)
    return {
        "sentences": len(texts),
        "same_label": round(float(((browser >= 0.5) == (expected >= 0.5)).mean()), 4),
        "max_abs_score_diff": float(delta.max()),
        "mean_abs_score_diff": float(delta.mean()),
    }


def npm_versions() -> dict[str, str]:
    """The npm packages each page runs, from its package-lock.json."""
    found = {}
    for space, package in (("iris-static", "onnxruntime-web"), ("sentiment-static", None)):
        lock = json.loads((SPACES / space / "package-lock.json").read_text())["packages"]
        names = [package] if package else ["@huggingface/transformers", "onnxruntime-web"]
        for name in names:
            found[f"{space}: {name}"] = lock[f"node_modules/{name}"]["version"]
    return found


def cited_server_figures() -> dict[str, Any]:
    """The server Spaces' figures from their own benchmark runs."""
    iris = json.loads((RESULTS / "iris.json").read_text())
    sentiment = json.loads((RESULTS / "sentiment.json").read_text())
    c1 = next(r for r in iris["predict"] if r["concurrency"] == 1)["space"]
    batch = iris["predict_batch_1000_rows"][0]
    shipped, int8 = sentiment["micro-batched"], sentiment["micro-batched int8"]
    return {
        "source": "bench/results/iris.json and sentiment.json",
        "iris": {
            "date": iris["machine"]["date"],
            "predict_c1_rps": c1["rps"],
            "predict_c1_p50_ms": c1["p50_ms"],
            "batch_rows_per_s": round(batch["rps"] * 1000),
        },
        "sentiment": {
            "date": sentiment["machine"]["date"],
            "c1_texts_per_s": shipped["c1"]["rps"],
            "c1_p50_ms": shipped["c1"]["p50_ms"],
            "c32_texts_per_s": shipped["c32"]["rps"],
            "int8_c32_texts_per_s": int8["c32"]["rps"],
        },
    }


def summary(results: dict[str, Any]) -> str:
    """The Markdown report."""
    m, server = results["machine"], results["server_spaces"]
    lines = [
        "# Static twins in the browser (headless Chromium) beside their server Spaces",
        "",
        f"{m['date']} · {m['cpu']} · {m['cores']} cores · {results['chromium']} · "
        f"load average before/after {results['loadavg'][0]:.1f}/{results['loadavg'][1]:.1f}",
        "",
        f"Command: `python -m bench.static` (`make static-bench`). Each page: {COLD_LOADS} cold "
        "loads (a new browser context each time) from `python -m http.server` on loopback, every "
        "other host blocked; first prediction: median of the loads; throughput: mean of repeated "
        "runs after a warm-up; one at a time: mean of 20. `http.server` sends files "
        "uncompressed: the gzip column is what they weigh compressed, as a compressing server "
        "would send them.",
        "",
        "| page | runs | page weight | gzip | requests | first prediction, cold | "
        "batch of 100 | one at a time |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results["pages"]:
        load = r["cold_loads"][-1]
        unit = r["batch_of_100"]["unit"]
        lines.append(
            f"| {r['page']} | {r['runs']} | {load['bytes'] / 1e6:.1f} MB | "
            f"{load['bytes_if_gzip_served'] / 1e6:.1f} MB | {load['requests']} | "
            f"{r['first_prediction_ms_median'] / 1000:.2f} s | "
            f"{r['per_second_batch_100']:,.0f} {unit}/s | {r['single_item_ms_mean']} ms |"
        )
    lines += [
        "",
        "Sentiment pages against the server's model (ONNX Runtime, fp32) on "
        f"{results['pages'][1]['agreement_with_server']['sentences']} project sentences:",
        "",
    ]
    lines += ["| page | same label | largest score gap | mean score gap |", "|---|---|---|---|"]
    for r in results["pages"][1:]:
        a = r["agreement_with_server"]
        lines.append(
            f"| {r['page']} | {a['same_label']:.1%} | {a['max_abs_score_diff']:.1e} | "
            f"{a['mean_abs_score_diff']:.1e} |"
        )
    iris, sentiment = server["iris"], server["sentiment"]
    lines += [
        "",
        f"The server Spaces, cited from their own runs ({server['source']}), not re-measured:",
        "",
        f"- iris-gradio ({iris['date'][:10]}): `/predict` {iris['predict_c1_rps']} req/s at "
        f"concurrency 1 (p50 {iris['predict_c1_p50_ms']} ms, HTTP included); `/predict/batch` "
        f"{iris['batch_rows_per_s']:,} rows/s.",
        f"- sentiment-streamlit ({sentiment['date'][:10]}): {sentiment['c1_texts_per_s']} texts/s "
        f"at concurrency 1 (p50 {sentiment['c1_p50_ms']} ms), {sentiment['c32_texts_per_s']} at "
        f"concurrency 32 on 2 vCPUs; int8 (opt-in) {sentiment['int8_c32_texts_per_s']}.",
        "",
        "A server figure is shared by all visitors; a browser figure is one visitor's machine. "
        "The Hub copy of sentiment-static runs Xenova/distilbert-base-uncased-finetuned-sst-2-"
        "english (int8) from the Hub instead of model/: not measurable here (no Hub access).",
    ]
    return "\n".join(lines)


def main() -> None:
    """Measure every page and write bench/results/static.{json,md}."""
    from playwright.sync_api import sync_playwright

    before = os.getloadavg()[0]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            pages = [measure(browser, label) for label in PAGES]
            chromium = f"Chromium {browser.version}"
        finally:
            browser.close()
    results = {
        "benchmark": "static Spaces in headless Chromium, cold loads from a loopback file server",
        "machine": machine_info(["playwright", "onnxruntime"]) | {"npm": npm_versions()},
        "chromium": chromium,
        "loadavg": [before, os.getloadavg()[0]],
        "pages": pages,
        "server_spaces": cited_server_figures(),
    }
    write_results("static", results, summary(results))
    print(summary(results))


if __name__ == "__main__":
    main()

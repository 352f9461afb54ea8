# Every Docker Space (a spaces/<name>/Dockerfile) as an image in a registry, for container
# platforms (docs/containers.md):  make images REGISTRY=host:port/namespace
# The tag is the git commit (12 hex digits), never reused: a tag already in the registry is kept as
# it is, not pushed over. A Space folder with uncommitted changes is refused, unless ALLOW_DIRTY=1,
# which tags it <commit>-dirty-<hash of the changes> so that it can never pass for the commit.
# Each pushed image is printed as `pushed <name> <registry>/<name>:<tag>@sha256:...`.
IMAGE_SPACES := $(patsubst spaces/%/Dockerfile,%,$(wildcard spaces/*/Dockerfile))
IMAGE_BUILD ?= DOCKER_BUILDKIT=0 docker build --network host
# Extra `docker build` arguments, e.g. a local wheel folder: --build-arg PIP_FIND_LINKS=<url>
IMAGE_BUILD_ARGS ?=
ALLOW_DIRTY ?=
REGISTRY ?=

.PHONY: images
images: ## Build every Docker Space's image, tagged with the git commit, and push it to REGISTRY
	@test -n "$(REGISTRY)" || { echo "error: set REGISTRY=host:port/namespace" \
	  "(e.g. make images REGISTRY=127.0.0.1:5000/hf-spaces)" >&2; exit 2; }
	@commit=$$(git rev-parse --short=12 HEAD); \
	for space in $(IMAGE_SPACES); do \
	  changes=$$(git status --porcelain --untracked-files=all -- spaces/$$space); \
	  if [ -n "$$changes" ] && [ "$(ALLOW_DIRTY)" != 1 ]; then \
	    echo "error: spaces/$$space has uncommitted changes, so its image would not be commit" \
	      "$$commit; commit them, or set ALLOW_DIRTY=1 to tag it <commit>-dirty-<hash>:" >&2; \
	    echo "$$changes" >&2; exit 2; \
	  fi; \
	done
	$(if $(filter sentiment-streamlit,$(IMAGE_SPACES)),\
	  @$(MAKE) -s --no-print-directory $(SENTIMENT_DIR)/model/.key-$(SENTIMENT_KEY))
	@commit=$$(git rev-parse --short=12 HEAD); \
	for space in $(IMAGE_SPACES); do \
	  dir=spaces/$$space; tag=$$commit; \
	  if [ -n "$$(git status --porcelain --untracked-files=all -- $$dir)" ]; then \
	    hash=$$( { git diff HEAD -- $$dir; git ls-files -oz --exclude-standard -- $$dir \
	      | xargs -0r sha256sum; } | sha256sum | cut -c1-8); \
	    tag=$$commit-dirty-$$hash; \
	  fi; \
	  ref=$(REGISTRY)/$$space:$$tag; \
	  if docker manifest inspect --insecure $$ref >/dev/null 2>&1; then \
	    echo "kept $$space $$ref: the tag is in the registry already (tags are never pushed over)"; \
	    continue; \
	  fi; \
	  echo "building $$ref"; \
	  $(IMAGE_BUILD) -q -t $$ref $(IMAGE_BUILD_ARGS) \
	    --label org.opencontainers.image.revision=$$tag $$dir >/dev/null; \
	  docker push -q $$ref >/dev/null; \
	  digest=$$(docker image inspect -f '{{join .RepoDigests "\n"}}' $$ref \
	    | grep -m1 "^$(REGISTRY)/$$space@" | cut -d@ -f2); \
	  echo "pushed $$space $$ref@$$digest"; \
	done

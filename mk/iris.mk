# spaces/iris-gradio: the model artifact is committed; `make iris-train` rebuilds it.
.PHONY: iris-train
artifacts:: setup
iris-train: setup ## Retrain the Iris model and rewrite its committed artifact
	cd spaces/iris-gradio && ../../$(PY) -m iris_app.train

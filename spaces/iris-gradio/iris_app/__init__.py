"""The Iris Space: a scikit-learn classifier served by FastAPI with a mounted Gradio UI."""

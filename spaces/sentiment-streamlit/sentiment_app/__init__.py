"""Sentiment Space: a transformers classifier behind FastAPI and Streamlit."""

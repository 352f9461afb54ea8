"""Streamlit entry point: load the model once per process and draw the page."""

import streamlit as st

from sentiment_app.model import SentimentModel, load_model
from sentiment_app.settings import get_settings
from sentiment_app.ui import render


@st.cache_resource(show_spinner="Loading the sentiment model…")
def model() -> SentimentModel:
    """The model, shared by every session."""
    return load_model(get_settings())


render(model(), get_settings())

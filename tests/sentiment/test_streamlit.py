"""The Streamlit demo through AppTest: type, click, read; batches of pasted lines and a CSV."""

from __future__ import annotations

import io
import json
import re
import tomllib
from pathlib import Path

import pandas as pd
import pytest
from conftest import SPACES
from streamlit.testing.v1 import AppTest

from sentiment_app.ui import InputError, model_label, percent, texts_from_csv

SPACE = SPACES / "sentiment-streamlit"
APP = str(SPACE / "app.py")


@pytest.fixture
def app(model_dir) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception
    return at


def test_type_click_read(app: AppTest) -> None:
    app.text_area(key="text").input("What a wonderful, funny and touching film!")
    app.button(key="analyse").click().run()
    assert "POSITIVE" in app.metric[0].value
    assert not app.error


def test_example_fills_the_box_and_negative_is_found(app: AppTest) -> None:
    example = app.selectbox(key="example").options[2]
    app.selectbox(key="example").select(example).run()
    assert app.text_area(key="text").value == example
    app.button(key="analyse").click().run()
    assert "NEGATIVE" in app.metric[0].value


def test_empty_text_is_a_clear_message(app: AppTest) -> None:
    app.text_area(key="text").input("   ")
    app.button(key="analyse").click().run()
    assert app.error[0].value == "Please type some text first."
    assert not app.metric


def test_batch_of_pasted_lines(app: AppTest) -> None:
    app.text_area(key="lines").input("I loved it.\n\nI hated it.\nSuperb.")
    app.button(key="analyse_all").click().run()
    table = app.dataframe[0].value
    assert table["label"].tolist() == ["POSITIVE", "NEGATIVE", "POSITIVE"]
    assert not app.error


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def test_batch_from_csv(app: AppTest) -> None:
    app.radio(key="source").set_value("Upload a CSV").run()
    data = _csv(pd.DataFrame({"id": [1, 2], "review": ["A masterpiece.", "Utter rubbish."]}))
    app.file_uploader(key="csv").set_value(("reviews.csv", data, "text/csv"))
    app.text_input(key="column").input("review")
    app.button(key="analyse_all").click().run()
    assert not app.error
    assert app.dataframe[0].value["label"].tolist() == ["POSITIVE", "NEGATIVE"]


def test_csv_without_the_column_is_a_clear_message(app: AppTest) -> None:
    app.radio(key="source").set_value("Upload a CSV").run()
    data = _csv(pd.DataFrame({"comment": ["fine"]}))
    app.file_uploader(key="csv").set_value(("c.csv", data, "text/csv"))
    app.button(key="analyse_all").click().run()
    assert app.error[0].value == "The CSV has no column named 'text' (its columns: comment)."
    assert not app.dataframe


def test_empty_batch_and_missing_file_are_clear_messages(app: AppTest) -> None:
    app.button(key="analyse_all").click().run()
    assert app.error[0].value == "Paste at least one non-empty line of text."
    app.radio(key="source").set_value("Upload a CSV").run()
    app.button(key="analyse_all").click().run()
    assert app.error[0].value == "Upload a CSV file first."


def test_file_too_large_is_refused() -> None:
    big = io.BytesIO()
    pd.DataFrame({"text": ["x" * 1000] * 6000}).to_csv(big, index=False)
    with pytest.raises(InputError, match=r"too large: 6\.\d MB, the limit is 5 MB"):
        texts_from_csv(big.getvalue(), "text", 5)


def test_the_caption_names_the_model_and_its_accuracy_not_its_path(
    app: AppTest, model_dir: Path
) -> None:
    caption = app.caption[0].value
    accuracy = json.loads((model_dir / "metrics.json").read_text())["imdb_heldout"]["accuracy"]
    assert f"offline model fine-tuned on IMDB: {percent(accuracy)} accuracy on 2,000" in caption
    assert str(model_dir) not in caption
    assert str(SPACE) not in caption


def test_a_hub_model_is_named_by_its_id_and_a_bare_folder_by_its_name(tmp_path: Path) -> None:
    hub_id = "distilbert/distilbert-base-uncased-finetuned-sst-2-english"
    assert model_label(hub_id, None) == f"[`{hub_id}`](https://huggingface.co/{hub_id})"
    folder = tmp_path / "my-sentiment-model"
    folder.mkdir()
    assert model_label(str(folder), None) == "local model `my-sentiment-model`"
    assert model_label(str(folder), {"imdb_heldout": {}}) == "local model `my-sentiment-model`"


def test_visitors_get_no_developer_toolbar_and_the_image_gets_the_config() -> None:
    config = tomllib.loads((SPACE / ".streamlit" / "config.toml").read_text())
    assert config["client"]["toolbarMode"] == "viewer"  # no "Deploy" button
    ignored = [line.strip() for line in (SPACE / ".dockerignore").read_text().splitlines()]
    assert not [p for p in ignored if p.lstrip("/*").startswith((".streamlit", ".*"))]
    assert re.search(r"^COPY (--chown=\S+ )?\. ", (SPACE / "Dockerfile").read_text(), re.M)


def test_accuracy_is_printed_as_the_readme_prints_it() -> None:
    assert percent(0.8885) == "88.9%"  # binary 0.8885 is 0.88849..., so :.1% would say 88.8%
    assert percent(0.8211) == "82.1%"
    assert percent(1.0) == "100.0%"

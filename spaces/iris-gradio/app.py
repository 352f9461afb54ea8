"""The Space's entry point: the FastAPI API with the Gradio UI mounted at /, on $PORT."""

import uvicorn
from gradio import mount_gradio_app

from iris_app.api import create_app
from iris_app.settings import get_settings
from iris_app.ui import build_ui

settings = get_settings()
api = create_app(settings)
app = mount_gradio_app(api, build_ui(lambda: api.state.model), path="/")

if __name__ == "__main__":
    uvicorn.run(app, host=settings.host, port=settings.port)

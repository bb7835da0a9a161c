"""Parts of the Gradio app (``app.py`` lays them out and wires them): the phase editor and run control."""

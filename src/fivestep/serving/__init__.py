"""The HTTP server behind `serve.py`: request checks, batching, the model, the app."""

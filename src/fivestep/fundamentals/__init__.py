"""The article's lessons as runnable, tested modules: `python -m fivestep.fundamentals`."""

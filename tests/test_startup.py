"""`loading_libraries`: imports with the collector off, their objects frozen once."""

import gc

from fivestep import startup


def test_the_collector_is_off_while_loading_and_what_loaded_is_frozen_once(monkeypatch):
    monkeypatch.setattr(startup, "_FROZEN", False)
    assert gc.isenabled()
    before = gc.get_freeze_count()  # tests/conftest.py freezes what collecting loaded
    gc.unfreeze()
    try:
        with startup.loading_libraries():
            assert not gc.isenabled()
            loaded = [object() for _ in range(10)]  # what an import would leave alive
        assert gc.isenabled()
        frozen = gc.get_freeze_count()
        assert frozen >= len(loaded)
        garbage = [[] for _ in range(1000)]  # a multirun's next job: imports done
        with startup.loading_libraries():
            assert gc.isenabled()  # not switched off again
        assert gc.get_freeze_count() == frozen  # nor its objects frozen
        del garbage
    finally:
        gc.unfreeze()
        if before:
            gc.freeze()


def test_an_error_while_loading_still_turns_the_collector_back_on(monkeypatch):
    monkeypatch.setattr(startup, "_FROZEN", False)
    before = gc.get_freeze_count()
    try:
        try:
            with startup.loading_libraries():
                raise ImportError("a missing package")
        except ImportError:
            pass
        assert gc.isenabled()
    finally:
        gc.unfreeze()
        if before:
            gc.freeze()

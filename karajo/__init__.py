"""karajo: cron managed over HTTP.

Jobs run shell commands (or async Python callables) on an interval, on a
calendar schedule, or when a signed webhook asks; HTTP jobs send a signed
request on a timer.  Every run is logged to its own file.
"""

__version__ = "0.10.0"

# The library API, imported on first use so that `karajo version` and the
# zipapp's start stay quick.
__all__ = [
    "Environment",
    "JobConfig",
    "JobHttpConfig",
    "KarajoConfig",
    "RunLog",
    "Server",
    "load_environment",
    "run",
]

_LAZY = {
    "Environment": "karajo.config",
    "JobConfig": "karajo.config",
    "JobHttpConfig": "karajo.config",
    "KarajoConfig": "karajo.config",
    "load_environment": "karajo.config",
    "RunLog": "karajo.log_store",
    "Server": "karajo.server",
    "run": "karajo.cli",
}


def __getattr__(name: str) -> object:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'karajo' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)

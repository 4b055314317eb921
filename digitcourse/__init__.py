"""digitcourse: the helper library of a deep-learning course on handwritten digits.

The names a notebook uses::

    dc.data.load(name, ...)            -> DigitData with .train / .val / .test tensors
    dc.models.mlp / cnn / ...          -> plain torch.nn modules
    dc.fit(model, data, **config)      -> History (one row per epoch)
    dc.evaluate(model, split)          -> loss, accuracy, per-class metrics
    dc.run_trials(make_model, data, seeds, **config) -> Trials (one row per seed, summary with sem)
    dc.plots.*                         -> figures (learning curves, comparisons, search scores, ...)
    dc.search.run(objective, space)    -> SearchResult (one row per setting tried, best first)
    dc.params.setup(...)               -> a notebook's checked parameters and profile sizes
    dc.record_results(table)           -> the headline numbers beside the report's, for the book

Modules load on first use (PEP 562), so the command line and the grader start without torch.
"""
from importlib import import_module

from .errors import ConfigError, DataError, DigitcourseError, show_briefly

_HOMES = {"data": ".data", "grading": ".grading", "models": ".models", "params": ".params", "plots": ".plots",
          "search": ".search", "fit": ".training", "evaluate": ".training", "History": ".training",
          "run_trials": ".trials", "Trials": ".trials", "record_results": ".results"}

__all__ = [*_HOMES, "DigitcourseError", "DataError", "ConfigError"]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'digitcourse' has no attribute {name!r}")
    module = import_module(_HOMES[name], __name__)
    value = module if _HOMES[name].lstrip(".") == name else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


show_briefly()

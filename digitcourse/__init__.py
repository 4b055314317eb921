"""digitcourse: the helper library of a deep-learning course on handwritten digits.

The names a notebook uses:
    dc.data.load(name, ...)            -> DigitData with .train / .val / .test tensors
    dc.models.mlp / cnn / ...          -> plain torch.nn modules
    dc.fit(model, data, **config)      -> History (one row per epoch)
    dc.evaluate(model, split)          -> loss, accuracy, per-class metrics
    dc.run_trials(make_model, data, seeds, **config) -> Trials (one row per seed, summary with sem)
    dc.plots.*, dc.search.*            -> figures and hyper-parameter searches
"""
from . import data, models, params, plots, search
from .errors import ConfigError, DataError, DigitcourseError, show_briefly
from .training import History, evaluate, fit
from .trials import Trials, run_trials

__all__ = ["data", "models", "fit", "evaluate", "History", "run_trials", "Trials",
           "DigitcourseError", "DataError", "ConfigError"]
__version__ = "0.1.0"

show_briefly()

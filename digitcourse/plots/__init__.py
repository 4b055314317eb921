"""Figures: learning curves, comparisons with standard errors (per setting, against a number, along a
sweep, on a grid), search scores, confusion matrices, class balance, image grids, surfaces.

Every function returns a matplotlib Figure and shows nothing itself: a notebook cell whose last line is
the call displays it once; a script saves it with `fig.savefig(path)`. pyplot does not keep these
figures open (no plt.show or plt.close needed).
"""
from .comparisons import compare, heatmap, means_against, search_scores, sweep
from .curves import learning_curves
from .images import class_balance, confusion_matrix, image_grid
from .surfaces import regression_surface, surface

__all__ = ["class_balance", "compare", "confusion_matrix", "heatmap", "image_grid", "learning_curves",
           "means_against", "regression_surface", "search_scores", "surface", "sweep"]

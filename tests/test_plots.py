"""Each plot returns a Figure whose axes carry the expected titles, labels and drawn data."""
import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure

import digitcourse as dc
from digitcourse import plots

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def digits():
    return dc.data.load("digits")


@pytest.fixture(scope="module")
def history(digits):
    return dc.fit(dc.models.mlp(64, (16,), 10), digits, epochs=2, progress=False)


@pytest.fixture(scope="module")
def trials(digits):
    return {width: dc.run_trials(lambda: dc.models.mlp(64, (width,), 10), digits, seeds=3, epochs=2,
                                 progress=False)
            for width in (8, 32)}


def legend_texts(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_learning_curves_of_one_history_draws_its_epochs(history):
    fig = plots.learning_curves(history)
    ax = fig.axes[0]
    assert isinstance(fig, Figure)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("epoch", "validation accuracy (fraction correct)")
    assert ax.get_title() == "Learning curves"
    assert len(ax.lines) == 1 and ax.get_legend() is None
    np.testing.assert_allclose(ax.lines[0].get_ydata(), history.epochs["val_accuracy"])


def test_learning_curves_of_trials_draw_the_mean_over_seeds_with_a_band(trials):
    fig = plots.learning_curves(trials[32], "train_loss")
    ax = fig.axes[0]
    curves = trials[32].curves
    assert ax.get_title() == "Learning curves (mean ± standard error over 3 seeds)"
    assert ax.get_ylabel() == "training loss (mean per example)"
    np.testing.assert_allclose(ax.lines[0].get_ydata(), curves.groupby("epoch")["train_loss"].mean())
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    sem = curves.groupby("epoch")["train_loss"].sem()
    assert band.max() == pytest.approx((curves.groupby("epoch")["train_loss"].mean() + sem).max())


def test_learning_curves_overlay_one_line_per_setting(trials, history):
    fig = plots.learning_curves({"narrow": trials[8], "wide": trials[32], "one run": history})
    ax = fig.axes[0]
    assert legend_texts(ax) == ["narrow", "wide", "one run"]
    assert len(ax.collections) == 3


def test_learning_curves_show_several_metrics_on_a_shared_axis(history):
    ax = plots.learning_curves(history, ["train_accuracy", "val_accuracy"]).axes[0]
    assert ax.get_ylabel() == "accuracy (fraction correct)"
    assert legend_texts(ax) == ["training accuracy", "validation accuracy"]


def test_learning_curves_name_the_nearest_metric_for_a_typo(history):
    with pytest.raises(dc.ConfigError, match="did you mean 'val_accuracy'"):
        plots.learning_curves(history, "val_acuracy")


def test_learning_curves_against_time_put_each_epoch_at_the_seeds_mean_running_time(trials):
    ax = plots.learning_curves(trials[32], "val_loss", x="time").axes[0]
    curves = trials[32].curves
    elapsed = curves.groupby("seed")["seconds"].cumsum().groupby(curves["epoch"]).mean()
    assert ax.get_xlabel() == "wall-clock training time (s)"
    np.testing.assert_allclose(ax.lines[0].get_xdata(), elapsed)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), curves.groupby("epoch")["val_loss"].mean())


def test_learning_curves_against_a_column_the_caller_added_average_a_tables_seeds(trials):
    curves = trials[8].curves.assign(updates=lambda table: 7 * table["epoch"])
    ax = plots.learning_curves({"narrow": curves}, "train_loss", x="updates").axes[0]
    assert ax.get_xlabel() == "updates (optimizer steps)"
    np.testing.assert_allclose(ax.lines[0].get_xdata(), [7, 14])
    np.testing.assert_allclose(ax.lines[0].get_ydata(), curves.groupby("epoch")["train_loss"].mean())
    assert ax.lines[0].get_marker() == "o"


def test_learning_curves_of_many_epochs_draw_no_marker_on_each(history):
    long = pd.concat([history.epochs.assign(epoch=history.epochs["epoch"] + 2 * k) for k in range(40)])
    ax = plots.learning_curves(long.sort_values("epoch"), "train_loss").axes[0]
    assert len(ax.lines[0].get_xdata()) == 80 and ax.lines[0].get_marker() in ("None", None, "")


def test_learning_curves_of_several_settings_and_metrics_keep_the_legend_beside_the_axes(trials, history):
    ax = plots.learning_curves({"narrow": trials[8], "one run": history}, ["train_loss", "val_loss"]).axes[0]
    assert "training loss" in legend_texts(ax) and "narrow" in legend_texts(ax)
    assert ax.get_legend().get_bbox_to_anchor().x0 >= ax.bbox.x1 - 1


def test_learning_curves_name_the_nearest_x_for_a_typo(history):
    with pytest.raises(dc.ConfigError, match="x='tme' is not recorded.*did you mean 'time'"):
        plots.learning_curves(history, "val_loss", x="tme")


def test_compare_plots_each_settings_mean_with_standard_error_bars(trials):
    fig = plots.compare({"narrow": trials[8], "wide": trials[32]}, kind="bar")
    ax = fig.axes[0]
    heights = [bar.get_height() for container in ax.containers for bar in container]
    means = [trials[w].final["test_accuracy"].mean() for w in (8, 32)]
    assert heights == pytest.approx(means)
    assert ax.get_title() == "Mean ± standard error, 3 seeds"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("setting", "test accuracy (fraction correct)")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["narrow", "wide"]
    error_bar = ax.lines[0].get_ydata()
    sem = trials[8].final["test_accuracy"].sem()
    assert (np.nanmax(error_bar) - np.nanmin(error_bar)) / 2 == pytest.approx(sem)


def test_compare_puts_train_and_test_accuracy_side_by_side(trials):
    ax = plots.compare({"narrow": trials[8], "wide": trials[32]}, ["train_accuracy", "test_accuracy"],
                       kind="bar").axes[0]
    assert sum(len(container) for container in ax.containers) == 4
    assert legend_texts(ax) == ["training accuracy", "test accuracy"]
    assert ax.get_ylabel() == "accuracy (fraction correct)"


def test_compare_point_plot_marks_the_means(trials):
    ax = plots.compare({"narrow": trials[8], "wide": trials[32]}).axes[0]
    means = [trials[w].final["test_accuracy"].mean() for w in (8, 32)]
    marked = [line for line in ax.lines if line.get_marker() not in (None, "None", "")]
    np.testing.assert_allclose(marked[0].get_ydata(), means)


def test_compare_rejects_an_unknown_kind(trials):
    with pytest.raises(dc.ConfigError, match="did you mean 'bar'"):
        plots.compare({"wide": trials[32]}, kind="bars")


def test_means_against_puts_each_settings_mean_and_standard_error_at_its_number(trials):
    sizes = {"narrow": 8 * 64 + 8 + 8 * 10 + 10, "wide": 32 * 64 + 32 + 32 * 10 + 10}
    runs = {"narrow": trials[8], "wide": trials[32]}
    fig = plots.means_against(runs, sizes, ["train_accuracy", "test_accuracy"], xlabel="parameters",
                              groups={"narrow": "depth 1", "wide": "depth 1"}, log_x=True)
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_xscale()) == ("parameters", "log")
    assert ax.get_title() == "Mean ± standard error over 3 seeds"
    assert legend_texts(ax) == ["training accuracy, depth 1", "test accuracy, depth 1"]
    test = ax.containers[1]
    np.testing.assert_allclose(test.lines[0].get_xdata().astype(float), [sizes["narrow"], sizes["wide"]])
    means = [runs[name].final["test_accuracy"].mean() for name in ("narrow", "wide")]
    np.testing.assert_allclose(test.lines[0].get_ydata().astype(float), means)
    sem = runs["wide"].final["test_accuracy"].sem()
    bar = test.lines[2][0].get_segments()[1][:, 1]
    np.testing.assert_allclose(bar, [means[1] - sem, means[1] + sem])


def test_means_against_needs_a_number_for_every_setting(trials):
    with pytest.raises(dc.ConfigError, match="x has no number for 'wide'"):
        plots.means_against({"narrow": trials[8], "wide": trials[32]}, {"narrow": 1.0}, xlabel="n")


def test_confusion_matrix_writes_every_count():
    matrix = np.array([[5, 1, 0], [2, 7, 0], [0, 0, 9]])
    fig = plots.confusion_matrix(matrix, ("a", "b", "c"))
    ax = fig.axes[0]
    assert [int(t.get_text()) for t in ax.texts] == matrix.ravel().tolist()
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted class", "true class")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c"]


def test_confusion_matrix_refuses_a_non_square_matrix():
    with pytest.raises(dc.ConfigError, match="square"):
        plots.confusion_matrix(np.zeros((2, 3), dtype=int))


def test_class_balance_draws_each_class_share_in_percent_with_the_balanced_line():
    fig = plots.class_balance(torch.tensor([0, 0, 0, 1, 2, 2, 2, 2]))
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("class", "share of the images (%)", "Class balance")
    np.testing.assert_allclose([bar.get_height() for bar in ax.patches], [37.5, 12.5, 50.0])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2"]
    np.testing.assert_allclose(ax.lines[-1].get_ydata(), [100 / 3, 100 / 3])


def test_class_balance_puts_several_sets_side_by_side_with_their_sizes():
    fig = plots.class_balance({"train": np.array([0, 1, 1, 1]), "validation": np.array([1, 0])},
                              classes=["zero", "one", "two"])
    ax = fig.axes[0]
    assert legend_texts(ax) == ["train (4)", "validation (2)"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["zero", "one", "two"]
    heights = sorted(round(bar.get_height(), 6) for bar in ax.patches if bar.get_height() > 0)
    assert heights == [25.0, 50.0, 50.0, 75.0]


def test_class_balance_refuses_labels_that_are_not_class_indices():
    with pytest.raises(dc.ConfigError, match="class_balance needs"):
        plots.class_balance(torch.rand(5))


def test_image_grid_titles_each_image_and_marks_mistakes_red():
    x = torch.rand(7, 1, 8, 8)
    fig = plots.image_grid(x, labels=[0, 1, 2, 3, 4, 5, 6], predictions=[0, 1, 2, 9, 4, 5, 6], ncols=4,
                           title="Misclassified")
    shown = [ax for ax in fig.axes if ax.images]
    assert len(fig.axes) == 8 and len(shown) == 7
    assert [ax.get_title() for ax in shown][3] == "3 / 9"
    colours = [matplotlib.colors.to_hex(ax.title.get_color()) for ax in shown]
    assert colours.count("#ff0000") == 1 and colours[3] == "#ff0000"
    assert fig.get_suptitle() == "Misclassified (true / predicted)"


def test_image_grid_shows_class_names_and_colour_images():
    fig = plots.image_grid(torch.rand(2, 3, 4, 4), labels=torch.tensor([1, 0]), classes=["cat", "dog"])
    assert [ax.get_title() for ax in fig.axes] == ["dog", "cat"]
    assert fig.axes[0].images[0].get_array().shape == (4, 4, 3)


def test_image_grid_refuses_images_without_a_channel_axis():
    with pytest.raises(dc.ConfigError, match=r"\[N, C, H, W\]"):
        plots.image_grid(torch.rand(5, 28, 28))


def test_regression_surface_draws_prediction_beside_the_truth():
    data = dc.data.regression_data(50, grid=12)
    model = dc.models.mlp(2, (8,), 1)
    fig = plots.regression_surface(model, data.test.x)
    assert [ax.get_title() for ax in fig.axes] == ["Predicted f(x1, x2)",
                                                   "True f(x1, x2) = x1 exp(-x1² - x2²)"]
    assert [ax.name for ax in fig.axes] == ["3d", "3d"]
    assert fig.axes[1].get_zlim()[1] == pytest.approx(data.test.y.max().item(), abs=0.05)


def test_surface_refuses_points_that_are_not_a_square_grid():
    with pytest.raises(dc.ConfigError, match="square grid"):
        plots.surface(torch.rand(10, 2), {"z": torch.rand(10)})


def test_surface_labels_each_panel_z_axis_as_asked():
    data = dc.data.regression_data(20, grid=6)
    fig = plots.surface(data.test.x, {"true": data.test.y, "error": 0 * data.test.y},
                        zlabel={"error": "prediction - f(x1, x2)"})
    assert [ax.get_zlabel() for ax in fig.axes] == ["f(x1, x2)", "prediction - f(x1, x2)"]
    assert plots.surface(data.test.x, {"z": data.test.y}, zlabel="z").axes[0].get_zlabel() == "z"


def test_compare_takes_a_table_with_one_row_per_seed_beside_trials(trials):
    ensemble = pd.DataFrame({"seed": [0, 1, 2], "test_accuracy": [0.90, 0.92, 0.94]})
    ax = plots.compare({"wide": trials[32], "ensemble": ensemble}, kind="bar").axes[0]
    heights = [bar.get_height() for container in ax.containers for bar in container]
    assert heights == pytest.approx([trials[32].final["test_accuracy"].mean(), 0.92])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["wide", "ensemble"]


def sweep_table():
    return pd.DataFrame({"seed": [0, 1, 2] * 4, "epsilon": [0.0] * 3 + [0.1] * 3 + [0.0] * 3 + [0.1] * 3,
                         "model": ["plain"] * 6 + ["robust"] * 6,
                         "accuracy": [0.9, 0.92, 0.94, 0.3, 0.4, 0.5, 0.88, 0.9, 0.92, 0.7, 0.72, 0.74]})


def test_sweep_draws_the_mean_per_x_with_a_standard_error_band_per_hue():
    table = sweep_table()
    ax = plots.sweep(table, "epsilon", "accuracy", hue="model", xlabel="ε").axes[0]
    assert legend_texts(ax) == ["plain", "robust"]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [0.92, 0.4])
    np.testing.assert_allclose(ax.lines[1].get_ydata(), [0.9, 0.72])
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert band.max() == pytest.approx(0.92 + table["accuracy"][:3].sem())
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("ε", "accuracy")
    assert ax.get_title() == "accuracy against epsilon (mean ± standard error over 3 seeds)"


def test_sweep_names_the_nearest_column_for_a_typo():
    with pytest.raises(dc.ConfigError, match="did you mean 'epsilon'"):
        plots.sweep(sweep_table(), "epsilom", "accuracy")


def test_heatmap_writes_each_cells_mean_and_standard_error_in_one_panel_per_group():
    table = pd.DataFrame({"layers": [2, 2, 3, 3] * 4, "width": [128, 256] * 8,
                          "activation": ["relu"] * 8 + ["sigmoid"] * 8, "seed": [0] * 4 + [1] * 4 + [0] * 4 + [1] * 4,
                          "accuracy": np.linspace(0.90, 0.975, 16)})
    fig = plots.heatmap(table, rows="layers", columns="width", value="accuracy", panels="activation",
                        scale=100, label="test accuracy (%)")
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["activation = relu", "activation = sigmoid"]
    cell = table[(table.activation == "relu") & (table.layers == 2) & (table.width == 128)]["accuracy"] * 100
    assert panels[0].texts[0].get_text() == f"{cell.mean():.1f}\n± {cell.sem():.1f}"
    assert len(panels[0].texts) == 4 and (panels[0].get_xlabel(), panels[0].get_ylabel()) == ("width", "layers")
    assert [t.get_text() for t in panels[0].get_xticklabels()] == ["128", "256"]
    assert len(fig.axes) == 3  # two panels and one shared colour bar
    assert fig.axes[-1].get_ylabel() == "test accuracy (%)"


def test_heatmap_without_seeds_shows_the_values_alone():
    table = pd.DataFrame({"a": [1, 1, 2, 2], "b": ["x", "y", "x", "y"], "score": [0.1, 0.2, 0.3, 0.4]})
    ax = plots.heatmap(table, rows="a", columns="b", value="score", digits=2).axes[0]
    assert [t.get_text() for t in ax.texts] == ["0.10", "0.20", "0.30", "0.40"]


def test_search_scores_draw_choices_spanning_decades_on_a_log_axis():
    table = pd.DataFrame({"lr": [1e-4, 1e-2, 1e-3], "batch_size": [32, 128, 64], "value": [0.8, 0.9, 0.85],
                          "setting": [0, 1, 2], "state": ["COMPLETE"] * 3, "seconds": [1.0] * 3})
    result = dc.search.SearchResult(table, {"lr": 1e-2, "batch_size": 128}, 0.9, {"lr": "choice", "batch_size": "choice"})
    fig = plots.search_scores(result, labels={"lr": "learning rate"})
    assert [ax.get_xscale() for ax in fig.axes] == ["log", "linear"]
    assert [ax.get_xlabel() for ax in fig.axes] == ["learning rate", "batch_size"]
    np.testing.assert_allclose(fig.axes[0].collections[0].get_offsets()[:, 1], [0.8, 0.9, 0.85])

"""Answers students really write to the exercises of the course notebooks, for grading tests.

`WRONG`: notebook -> exercise -> [(kind, text of the solution, text a student writes instead)]: each a
realistic mistake, wrong for some legal input of the exercise's docstring, of the kinds that used to
earn full marks (unstable at extreme inputs, integer or float32 arithmetic where the formula is real, a
wrong type or dtype, a result attached to autograd or aliasing an input, state left on the arguments, a
tie resolved against the rule) and plain ones. `RIGHT`: notebook -> exercise -> [(text of the solution,
a correct answer written another way)], which must keep full marks. `submissions` makes the notebooks
to grade: the k-th wrong answer of every exercise in the k-th submission (the exercises are
independent: each test cell calls only its own), and all the correct forms in one more.
"""
from __future__ import annotations

import copy

WRONG: dict[str, dict[str, list[tuple[str, str, str]]]] = {
    "hw1_linear_models": {
        "perceptron_update": [
            ("tie to the last class", "predicted = np.argmax(W @ x)", "predicted = len(W) - 1 - np.argmax((W @ x)[::-1])"),
            ("float32 scores", "predicted = np.argmax(W @ x)", "predicted = np.argmax((W @ x).astype(np.float32))"),
        ],
        "logistic_regression_step": [
            ("no max shift", "np.exp(scores - scores.max())", "np.exp(scores)"),
            ("shift by the min", "np.exp(scores - scores.max())", "np.exp(scores - scores.min())"),
            ("float32 scores", "scores = W @ x", "scores = (W @ x).astype(np.float32)"),
        ],
        "mlp_loss_and_gradients": [
            ("no max shift", "shifted = s - s.max(axis=1, keepdims=True)", "shifted = s"),
            ("the batch's max", "shifted = s - s.max(axis=1, keepdims=True)", "shifted = s - s.max()"),
        ],
        "sign_net_weights": [("off by one", "b1 = np.array([0.5 - A, B + 0.5])", "b1 = np.array([0.5 - A, B - 0.5])")],
        "relu_net_weights": [("margin too thin", "w2, b2 = np.array([-1.0, -1.0]), 0.5", "w2, b2 = np.array([-1.0, -1.0]), 0.05")],
    },
    "hw2_architectures": {
        "LocallyConnected2d": [
            ("float32 only", "patches = F.unfold(x, self.kernel_size", "patches = F.unfold(x.float(), self.kernel_size"),
            ("a cached copy of the weight", "kernels = self.weight.flatten(3).flatten(0, 1)",
             'kernels = self.__dict__.setdefault("_kernels", self.weight.detach().flatten(3).flatten(0, 1).clone())'),
        ],
        "locally_connected_parameters": [
            ("a tensor", "return rows * columns * out_channels * (in_channels * kernel_size ** 2 + int(bias))",
             "return torch.tensor(rows * columns * out_channels * (in_channels * kernel_size ** 2 + int(bias)))"),
            ("float32 counting", "return rows * columns * out_channels * (in_channels * kernel_size ** 2 + int(bias))",
             "return int(torch.tensor(rows * columns * out_channels, dtype=torch.float32) * (in_channels * kernel_size ** 2 + int(bias)))"),
        ],
        "init_std": [
            ("integer halving of an odd fan sum", "return math.sqrt(2 / (fan_in + fan_out))",
             "return math.sqrt(1 / ((fan_in + fan_out) // 2))"),
            ("a tensor", "return math.sqrt(2 / fan_in)", "return torch.sqrt(torch.tensor(2 / fan_in))"),
        ],
        "ensemble_average": [
            ("no max shift", "torch.softmax(z, 1) for z in logits", "z.exp() / z.exp().sum(1, keepdim=True) for z in logits"),
            ("int32 predictions", "return probabilities, probabilities.argmax(1)", "return probabilities, probabilities.argmax(1).int()"),
            ("float32 probabilities", ".mean(0)", ".mean(0).float()"),
            ("logits shifted in place", "torch.softmax(z, 1) for z in logits",
             "z.sub_(z.max(1, keepdim=True).values).softmax(1) for z in logits"),
        ],
        "fgsm": [
            ("gradients left on the model", "(gradient,) = torch.autograd.grad(F.cross_entropy(model(x), y), x)",
             "F.cross_entropy(model(x), y).backward()\n    gradient = x.grad"),
            ("attached to autograd", ".clamp(0, 1).detach()", ".clamp(0, 1)"),
            ("x's own .grad", "x = x.detach().clone().requires_grad_(True)\n    (gradient,) = torch.autograd.grad(F.cross_entropy(model(x), y), x)",
             "x.requires_grad_(True)\n    F.cross_entropy(model(x), y).backward()\n    gradient = x.grad"),
            ("x itself for eps = 0", "x = x.detach().clone()", "if eps == 0:\n        return x\n    x = x.detach().clone()"),
        ],
    },
    "hw3_regularization": {
        "softmax_cross_entropy": [
            ("the batch's max", "logits.max(dim=1, keepdim=True).values", "logits.max()"),
            ("no max shift", "shifted = logits - logits.max(dim=1, keepdim=True).values", "shifted = logits"),
            ("logits shifted in place", "shifted = logits - logits.max(dim=1, keepdim=True).values",
             "shifted = logits.sub_(logits.max(dim=1, keepdim=True).values)"),
            ("the loss as a float", "loss = -log_probs[rows, y].mean()", "loss = -log_probs[rows, y].mean().item()"),
        ],
        "dropout": [
            ("a private generator from the initial seed", "generator=generator)",
             "generator=torch.Generator(a.device).manual_seed(generator.initial_seed()))"),
            ("the global generator", "torch.bernoulli(torch.full_like(a, keep), generator=generator)",
             "torch.bernoulli(torch.full_like(a, keep))"),
            ("a scaled in place", "return a * mask / keep, mask", "return a.mul_(mask).div_(keep), mask"),
        ],
        "forward": [
            ("keep ignored", "if keep < 1:", "if False:"),
            ("relu in place", "a = z.clamp(min=0)", "a = z.clamp_(min=0)"),
        ],
        "backward": [
            ("masks ignored", 'da = dropout_backward(da, cache[f"m{layer - 1}"], cache["keep"])', "pass"),
            ("float32 gradients", 'grads[f"W{layer}"] = dz.T @ cache[f"a{layer - 1}"]',
             'grads[f"W{layer}"] = (dz.T @ cache[f"a{layer - 1}"]).float()'),
        ],
        "penalty_gradients": [
            ("sign by division", "torch.sign(W)", "W / (W.abs() + 1e-8)"),
            ("W changed in place", "return l1 * torch.sign(W) + 2 * l2 * W", "return W.mul_(2 * l2).add_(l1 * torch.sign(W))"),
            ("W itself without a penalty", "return l1 * torch.sign(W) + 2 * l2 * W",
             "if l1 == 0 and l2 == 0:\n        return W\n    return l1 * torch.sign(W) + 2 * l2 * W"),
        ],
        "add_gradient_noise": [
            ("a fixed seed", "generator=generator", "generator=torch.Generator().manual_seed(0)"),
            ("a private generator from the initial seed", "generator=generator",
             "generator=torch.Generator().manual_seed(generator.initial_seed())"),
            ("grads changed in place", "g + sigma * torch.randn_like(g, generator=generator)",
             "g.add_(sigma * torch.randn_like(g, generator=generator))"),
            ("the given dict for sigma = 0", "    return {name: g + sigma",
             "    if sigma == 0:\n        return grads\n    return {name: g + sigma"),
        ],
        "sgd_step": [
            ("params changed in place", "p - lr * grads[name]", "p.sub_(lr * grads[name])"),
            ("float32", "p - lr * grads[name]", "(p - lr * grads[name]).float()"),
            ("the given tensors for lr = 0", "    return {name: p - lr",
             "    if lr == 0:\n        return dict(params)\n    return {name: p - lr"),
        ],
        "standard_error": [
            ("float32 arithmetic", "values = np.asarray(values, dtype=float)", "values = np.asarray(values)"),
            ("ddof 0", "ddof=1", "ddof=0"),
            ("a tensor", "return float(values.std(ddof=1) / math.sqrt(len(values)))",
             "return torch.tensor(values).std() / math.sqrt(len(values))"),
        ],
    },
    "hw4_capacity": {
        "best_setting": [
            ("rounded means", '[["val_accuracy", "test_accuracy"]].mean()', '[["val_accuracy", "test_accuracy"]].mean().round(6)'),
            ("a tie to the larger lam", "ascending=[False, True]", "ascending=[False, False]"),
        ],
        "count_parameters": [
            ("a tensor", "return sum(fan_in * fan_out + fan_out for fan_in, fan_out in zip(widths[:-1], widths[1:]))",
             "return torch.tensor([a * b + b for a, b in zip(widths[:-1], widths[1:])]).sum()"),
            ("float32 counting", "return sum(fan_in * fan_out + fan_out for fan_in, fan_out in zip(widths[:-1], widths[1:]))",
             "return int(torch.tensor([a * b + b for a, b in zip(widths[:-1], widths[1:])], dtype=torch.float32).sum())"),
        ],
    },
    "project_digit_recognizer": {
        "macro_f1": [
            ("a tensor", "return (2 * true_positives[scored] / denominator[scored]).sum() / len(confusion)",
             "return torch.tensor((2 * true_positives[scored] / denominator[scored]).sum() / len(confusion))"),
            ("absent classes left out", "/ len(confusion)", "/ scored.sum()"),
        ],
        "predictions_to_submission": [
            ("scores through numpy", "labels = scores.argmax(dim=1).tolist()", "labels = scores.numpy().argmax(axis=1).tolist()"),
            ("ImageId from 0", "range(1, len(labels) + 1)", "range(len(labels))"),
        ],
    },
}

RIGHT: dict[str, dict[str, list[tuple[str, str]]]] = {
    "hw1_linear_models": {
        "perceptron_update": [("predicted = np.argmax(W @ x)", "W = W.copy()\n    predicted = int(np.argmax(W @ x))")],
        "logistic_regression_step": [("np.exp(scores - scores.max())", "np.exp(scores - np.logaddexp.reduce(scores))")],
    },
    "hw2_architectures": {
        "locally_connected_parameters": [("rows = (height + 2 * padding - kernel_size) // stride + 1",
                                          "rows = int((height + 2 * padding - kernel_size) / stride + 1)")],
        "init_std": [("math.sqrt(2 / (fan_in + fan_out))", "(1 / ((fan_in + fan_out) / 2)) ** 0.5")],
        "ensemble_average": [("torch.softmax(z, 1) for z in logits", "F.softmax(z, dim=-1) for z in logits")],
        "fgsm": [("x = x.detach().clone().requires_grad_(True)", "x = x.clone().detach().requires_grad_()")],
    },
    "hw3_regularization": {
        "softmax_cross_entropy": [("shifted - shifted.exp().sum(dim=1, keepdim=True).log()",
                                   "logits - torch.logsumexp(logits, dim=1, keepdim=True)")],
        "dropout": [("mask = torch.bernoulli(torch.full_like(a, keep), generator=generator)",
                     "mask = (torch.rand(a.shape, generator=generator, dtype=a.dtype) < keep).to(a.dtype)")],
        "sgd_step": [("p - lr * grads[name]", "torch.add(p, grads[name], alpha=-lr)")],
        "standard_error": [("values = np.asarray(values, dtype=float)\n    return float(values.std(ddof=1) / math.sqrt(len(values)))",
                            "return float(scipy.stats.tstd(np.asarray(values, dtype=float)) / len(values) ** 0.5)")],
    },
    "hw4_capacity": {
        "count_parameters": [("return sum(fan_in * fan_out + fan_out for fan_in, fan_out in zip(widths[:-1], widths[1:]))",
                              "return sum(p.numel() for p in nn.Sequential(*[nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:])]).parameters())")],
    },
    "project_digit_recognizer": {
        "predictions_to_submission": [("labels = scores.argmax(dim=1).tolist()",
                                       "labels = scores.detach().argmax(1).numpy()")],
    },
}


def _grade_ids(notebook) -> dict[str, object]:
    return {cell.metadata.get("nbgrader", {}).get("grade_id"): cell for cell in notebook.cells}


def answered(notebook, answers: dict[str, tuple[str, str]]):
    """A copy of `notebook` with each exercise's solution text replaced (exercise -> (old, new))."""
    notebook = copy.deepcopy(notebook)
    cells = _grade_ids(notebook)
    for exercise, (old, new) in answers.items():
        assert old in cells[exercise].source, f"{exercise}: {old!r} is not in its solution"
        cells[exercise].source = cells[exercise].source.replace(old, new, 1)
    return notebook


def submissions(name: str, notebook) -> dict[str, tuple[object, set[str]]]:
    """Student -> (notebook, the exercises answered wrong): the k-th wrong answer of each exercise in
    submission "wrong_k", and every correct form in "right_forms"."""
    wrong = WRONG.get(name, {})
    found = {}
    for k in range(max((len(answers) for answers in wrong.values()), default=0)):
        picked = {exercise: answers[k][1:] for exercise, answers in wrong.items() if k < len(answers)}
        found[f"wrong_{k + 1}"] = (answered(notebook, picked), set(picked))
    right = {exercise: forms[0] for exercise, forms in RIGHT.get(name, {}).items()}
    found["right_forms"] = (answered(notebook, right), set())
    return found

"""The grading benchmark's 8 hw3 submissions, in FOLDER/submissions: the solution three times, the
wrong answers of tests/student_answers.py (wrong_1 to wrong_4) and their right forms.

    python benchmarks/grading/submissions.py FOLDER
"""
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, "tests")
from student_answers import submissions  # noqa: E402

out = Path(sys.argv[1]) / "submissions"
solution = nbformat.read("notebooks/hw3_regularization.ipynb", as_version=4)
made = {f"solution_{k}": solution for k in (1, 2, 3)}
made.update({name: notebook for name, (notebook, _) in submissions("hw3_regularization", solution).items()})
for name, notebook in made.items():
    (out / name).mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, out / name / "hw3_regularization.ipynb")
print(f"{len(made)} submissions in {out}")

"""The student-code layer: where a submission's code runs and what crosses to it.

- `sandbox` (bubblewrap and cgroups) holds the student's kernel;
- `kernel` starts that kernel in it and drives it over its sockets;
- `agent` is the grader's helper inside the kernel;
- `wire` and `arguments` are the data that crosses between the two;
- `remote` shows the kernel's exercises as proxies in the grader's process, and `substitute`
  (``dc.grading.substitute``) lets a test replace an exercise the tested one calls.

It imports nothing else of `digitcourse.grading`: the grading commands build on it.
"""

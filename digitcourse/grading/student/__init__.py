"""The student-code layer: where a submission's code runs and what crosses to it.

- `sandbox` (bubblewrap and cgroups) holds the student's kernel;
- `zygote` forks that kernel into it from a process that imported torch and the rest once;
- `kernel` starts the sandbox and the kernel and drives the kernel over its sockets;
- `agent` is the grader's helper inside the kernel;
- `wire` and `arguments` are the data that crosses between the two;
- `remote` shows the kernel's exercises as proxies in the grader's process, and `substitute`
  (``dc.grading.substitute``) lets a test replace an exercise the tested one calls.

It imports nothing else of `digitcourse.grading`: the grading commands build on it.
"""

# Two commands do all the set-up: `make book` (the main job) and `make test`.
# Each installs the Debian packages the tests use where missing (system-packages.txt), creates .venv if
# missing and installs the pinned, tested set from constraints.txt.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
PROFILE ?= full
STUDENT ?= 0
JOBS ?= 1
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: install system-packages test book benchmark clean

install: system-packages $(INSTALLED)

# Checked on every run (a few lookups): a package removed since the last run is installed again.
system-packages:
	scripts/system-packages system-packages.txt

# torch goes first so that the pin holds: nothing that depends on it may pull another build.
$(INSTALLED): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || { echo "make install: digitcourse "\
		"needs Python 3.10 or newer; $(PYTHON) is $$($(PYTHON) -V 2>&1): run make PYTHON=python3.11"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt torch
	$(PY) -m pip install -q -c constraints.txt -e ".[course,test]"
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

# pytest's exit code 5 means it collected no test: say so, and do not pass silently.
# Two xdist workers on two cores: one torch thread each (kernels they start inherit it) avoids
# oversubscription, which made training tests up to ten times slower. The 15 slowest tests are listed
# at the end: where the run's minutes go.
test: install
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -m pytest -n 2 --dist loadgroup --durations=15 tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: is tests/ missing?"; fi; exit $$rc

book: install
	$(PY) -m digitcourse book --profile $(PROFILE) --jobs $(JOBS) $(if $(SCHEDULER),--scheduler $(SCHEDULER)) $(if $(filter 1,$(STUDENT)),--student)

benchmark: install
	$(PY) benchmarks/run.py

clean:
	rm -rf book/_build book/executed build release

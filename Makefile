# relucert: `make demo` and `make test` each work on a fresh clone (they create .venv and install).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# the test tools and every optional extra the tests exercise (plots, Dask, Marabou in the side-by-side bench)
EXTRAS ?= dev,plot,dask,marabou

.PHONY: install demo test test-quick bench bench-quick proofs clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -e ".[$(EXTRAS)]"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/relucert demo

# the whole suite, slow tests included (CI runs this); one pytest worker per core (pytest-xdist)
JOBS ?= 2
test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider -n $(JOBS) --dist worksteal

# while developing: everything not marked slow
test-quick: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider -n $(JOBS) --dist worksteal -m "not slow"

bench: $(STAMP)
	$(VENV)/bin/relucert bench run

bench-quick: $(STAMP)
	$(VENV)/bin/relucert bench run --quick

# rebuild the certificates in proofs/ and re-check every one of them
proofs: $(STAMP)
	$(PY) proofs/make_proofs.py
	$(VENV)/bin/relucert check proofs/*.cert.json

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis

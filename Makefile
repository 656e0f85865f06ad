# The two commands: `make run` and `make test`. Everything else is installed by them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test bench lint lock clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $@

run: $(BIN)/.installed
	$(BIN)/servicecore serve --demo

# One test process per core (pytest-xdist), each test file whole in one of them (a file's
# module fixtures and its tests' order kept); each process has its own database and broker.
# TEST_WORKERS=0 runs everything in one process.
TEST_WORKERS ?= auto
test: $(BIN)/.installed
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

lint: $(BIN)/.installed
	$(BIN)/ruff check domain projections api workers analytics servicecore tests bench
	$(BIN)/mypy domain projections api workers analytics servicecore

bench: $(BIN)/.installed
	$(BIN)/python -m bench.run_all

# requirements.lock: the runtime dependencies the image installs (exact versions + hashes),
# pinned to the versions installed in .venv, i.e. the ones the tests ran on. pip-tools runs
# from a venv of its own under var/; only PyPI is asked for the hashes.
lock: $(BIN)/.installed
	test -x var/pip-tools/bin/pip-compile || ($(PYTHON) -m venv var/pip-tools \
		&& var/pip-tools/bin/pip install -q pip-tools)
	$(BIN)/pip freeze --exclude-editable > var/installed.txt
	env -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null CUSTOM_COMPILE_COMMAND="make lock" \
		var/pip-tools/bin/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe \
		--constraint var/installed.txt --output-file requirements.lock pyproject.toml
	sed -i '/#   -c var\/installed.txt/d' requirements.lock

clean:
	rm -rf $(VENV) var

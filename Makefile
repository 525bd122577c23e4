# The two commands of the README's Quick start: `make demo` and `make test`.
.PHONY: demo test lint bench setup

TYPED = onshi server clinic_client cardreader_emulator rehearsal benchmarks

setup:
	./scripts/bootstrap.sh

demo: setup
	.venv/bin/onshi demo

# Lint and type check are part of the tests: main stays ruff- and mypy-clean.
test:
	./scripts/bootstrap.sh --browser
	.venv/bin/ruff check .
	.venv/bin/mypy $(TYPED)
	.venv/bin/python -m pytest -n 2 $(PYTEST_ARGS)

lint: setup
	.venv/bin/ruff check .
	.venv/bin/mypy $(TYPED)

bench: setup
	.venv/bin/onshi bench

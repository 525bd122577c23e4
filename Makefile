# The two commands of the README's Quick start: `make demo` and `make test`.
.PHONY: demo test lint bench setup

setup:
	./scripts/bootstrap.sh

demo: setup
	.venv/bin/onshi demo

test:
	./scripts/bootstrap.sh --browser
	.venv/bin/python -m pytest -n 2 $(PYTEST_ARGS)

lint: setup
	.venv/bin/ruff check .
	.venv/bin/mypy onshi server clinic_client cardreader_emulator

bench: setup
	.venv/bin/onshi bench

# Thin wrappers around dev.py so both people and CI use the same commands.
.PHONY: demo test install lint format bench

demo:
	python3 dev.py demo

test:
	python3 dev.py test

install:
	python3 dev.py install

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format:
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

bench:
	.venv/bin/python -m benchmarks

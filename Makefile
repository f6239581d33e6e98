# `make demo`: install everything, then simulate a shipped design on a shipped workload.
# `make test`: install everything, then run the whole test suite (CI runs this).
.PHONY: setup demo test lint bench
setup:
	./setup.sh
demo: setup
	.venv/bin/bnnarch simulate designs/xnor32.yaml --workload workloads/resnet18.json
test: setup
	.venv/bin/python -m pytest -n 2 -q tests
lint: setup
	.venv/bin/ruff check bnnarch tests bench
bench: setup
	.venv/bin/python bench/run_all.py

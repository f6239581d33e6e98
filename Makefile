# `make demo`: install everything, then simulate a shipped design on a shipped workload.
# `make test`: install everything, run the guardrails (`make lint`), then the whole test suite
#   (CI runs this).
# `make test-fast`: the suite without slow, external-tool and PostgreSQL tests (no lint).
# `make lint`: ruff, the import-layer contracts ([tool.importlinter]) and mypy ([tool.mypy]).
.PHONY: setup demo test test-fast lint bench
setup:
	./setup.sh
demo: setup
	.venv/bin/bnnarch simulate designs/xnor32.yaml --workload workloads/resnet18.json
test: setup lint
	.venv/bin/python -m pytest -n 2 -q tests
test-fast: setup
	.venv/bin/python -m pytest -n 2 -q -m "not slow and not tools and not postgres" tests
lint: setup
	.venv/bin/ruff check bnnarch tests bench
	.venv/bin/lint-imports
	.venv/bin/mypy bnnarch
bench: setup
	.venv/bin/python bench/run_all.py

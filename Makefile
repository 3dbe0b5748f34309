# The two commands of the README: `make demo` (the main job) and `make test`.
.PHONY: setup demo test lint bench waves clean

setup:
	@bash tools/setup.sh

demo: setup
	.venv/bin/ristretto report --out report

test: setup
	.venv/bin/tox run -e lint,py

lint: setup
	.venv/bin/ruff check .

waves: setup  # the README's timing diagrams (docs/waves/), simulated
	.venv/bin/python tools/waves.py

bench: setup
	.venv/bin/python -m pip install -q -c constraints.txt -e ".[bench]"
	.venv/bin/python benchmarks/bench_quantize.py
	.venv/bin/python benchmarks/bench_network.py
	cd benchmarks && ../.venv/bin/python bench_mobile.py

clean:
	rm -rf .venv .tox build *.egg-info

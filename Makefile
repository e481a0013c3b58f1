# The two commands most people need: `make demo` and `make test`.
.PHONY: help demo demo-node demo-down test unit e2e node lint crds lock release bench clean

demo:  ## start a local control plane with the operator, the CRDs and the examples
	bash hack/demo.sh $(if $(KEEP),--keep)

demo-node:  ## the same story on a real node: the chart from the Dockerfile's image, a real SDK pod, torn down after
	bash hack/demo-node.sh

demo-down:  ## stop what `make demo KEEP=1` left running
	bash hack/make.sh demo-down

test:  ## the whole test suite (lint, types, unit, end-to-end on a real control plane, the node suite on a real node)
	bash hack/test.sh

unit:  ## lint and the unit tests (no Go, no cluster)
	bash hack/test.sh tests/unit tests/fuzz

lint:  ## ruff, ruff format, mypy --strict and the import contracts
	bash hack/make.sh lint

e2e:  ## lint and the end-to-end tests on a real control plane
	bash hack/test.sh tests/e2e

node:  ## only the node suite (needs root; installs the node's host packages)
	bash hack/test.sh tests/node

crds:  ## regenerate crds/ and the chart's crds/ from the API models
	bash hack/make.sh crds

lock:  ## regenerate requirements/runtime.lock, the image's hash-locked runtime dependencies, from pyproject.toml
	bash hack/make.sh lock

release:  ## wheel, sdist, image, SBOM and chart package in dist/, image and chart pushed to a registry on 127.0.0.1 (KEEP=1 leaves it serving)
	bash hack/release.sh $(if $(KEEP),--keep)

bench:  ## the benchmarks, each printing ratios to a baseline measured in the same run (see docs/performance.md)
	bash hack/make.sh bench

clean:  ## remove the virtualenv and the build output (caches under ~/.cache/modelroute stay)
	rm -rf .venv build dist *.egg-info

help:  ## list the targets, each with what it does
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

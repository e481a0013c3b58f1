# The two commands most people need: `make demo` and `make test`.
.PHONY: demo demo-node demo-down test unit e2e node lint crds bench clean

demo:  ## start a local control plane with the operator, the CRDs and the examples
	bash hack/demo.sh $(if $(KEEP),--keep)

demo-node:  ## the same story on a real node: the chart from the Dockerfile's image, a real SDK pod, torn down after
	bash hack/demo-node.sh

demo-down:  ## stop what `make demo KEEP=1` left running
	-kill $$(cat .demo/operator.pid 2>/dev/null) 2>/dev/null
	.venv/bin/python hack/localcluster.py down --workdir .demo

test:  ## the whole test suite (lint, types, unit, end-to-end on a real control plane, the node suite on a real node)
	bash hack/test.sh

unit:
	bash hack/test.sh tests/unit

e2e:
	bash hack/test.sh tests/e2e

node:  ## only the node suite (needs root; installs the node's host packages)
	bash hack/test.sh tests/node

crds:  ## regenerate crds/ and the chart's crds/ from the API models
	.venv/bin/modelroute crds --write crds --write charts/modelroute/crds

bench:  ## the benchmarks, each printing ratios to a baseline measured in the same run (see README, Performance)
	.venv/bin/python -m tests.bench.bench_check
	.venv/bin/python -m tests.bench.bench_webhook
	MODELROUTE_BIN_DIR="$$(bash hack/build-control-plane.sh | tail -n 1)" .venv/bin/python -m tests.bench.bench_pods
	MODELROUTE_BIN_DIR="$$(bash hack/build-control-plane.sh | tail -n 1)" .venv/bin/python -m tests.bench.bench_scale

clean:
	rm -rf .venv build dist *.egg-info

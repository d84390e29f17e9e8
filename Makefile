# Two commands matter: `make dev` (the shop on this machine) and `make test` (every test).
# Python tools live in project-local virtualenvs under .local/, created on first use.

SHELL := bash
PYTHON ?= python3
VENV := .local/venv
LINT_VENV := .local/lint-venv
FUZZ_VENV := .local/fuzz-venv
PACKAGE_VENV := .local/package-venv
CONSOLE := functions/admin/console
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0

.PHONY: dev test fuzz lint layers template-check package bench shopctl funnel clean console console-test console-e2e

$(VENV)/.installed: infra/requirements-emulator.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r $<
	touch $@

$(FUZZ_VENV)/.installed: infra/requirements-fuzz.txt
	$(PYTHON) -m venv $(FUZZ_VENV)
	$(FUZZ_VENV)/bin/pip install --quiet --disable-pip-version-check -r $<
	touch $@

$(PACKAGE_VENV)/.installed: infra/requirements-package.txt
	$(PYTHON) -m venv $(PACKAGE_VENV)
	$(PACKAGE_VENV)/bin/pip install --quiet --disable-pip-version-check -r $<
	touch $@

$(LINT_VENV)/.installed: infra/requirements-lint.txt
	$(PYTHON) -m venv $(LINT_VENV)
	$(LINT_VENV)/bin/pip install --quiet --disable-pip-version-check -r $<
	touch $@

## The merchant console's npm packages, exactly as package-lock.json pins them.
$(CONSOLE)/node_modules/.installed: $(CONSOLE)/package-lock.json
	cd $(CONSOLE) && npm ci --no-audit --no-fund
	touch $@

## The console's static bundle in functions/admin/console/dist, rebuilt only when its source changed.
$(CONSOLE)/dist/index.html: $(CONSOLE)/node_modules/.installed $(shell find $(CONSOLE)/src -type f) $(CONSOLE)/index.html $(CONSOLE)/vite.config.ts $(CONSOLE)/tsconfig.json
	cd $(CONSOLE) && npm run --silent build
console: $(CONSOLE)/dist/index.html

## The console's own logic (money and time formatting, the API client's errors) under vitest.
console-test: $(CONSOLE)/node_modules/.installed
	cd $(CONSOLE) && npx vitest run

## The console in headless Chromium against a local shop of its own (screenshots in
## target/console-screenshots/); needs Debian's chromium (apt-get install chromium).
console-e2e: $(VENV)/.installed console
	infra/scripts/console-test.sh

## The shop on http://127.0.0.1:3000 with the emulator, the WeChat sandbox and a demo catalog;
## the merchant console at http://127.0.0.1:3000/console/.
dev: $(VENV)/.installed console
	cargo build --locked -p devstack --bin devstack
	MOTO_PYTHON=$(VENV)/bin/python ./target/debug/devstack dev

## The merchant's tool against the shop `make dev` runs: make shopctl ARGS="coupon list".
shopctl:
	@test -f .local/dev.env || { echo "start the shop with make dev first (it writes .local/dev.env)"; exit 2; }
	cargo build --locked -q -p shopctl
	set -a && . .local/dev.env && set +a && ./target/debug/shopctl $(ARGS)

## The funnel from the metric lines the shop `make dev` runs wrote: make funnel ARGS="--since 2h".
funnel:
	cargo build --locked -q -p shopctl
	./target/debug/shopctl funnel $(ARGS)

## Every test: template checks, unit tests and integration tests against a fresh emulator,
## then schemathesis over the API document against the local shop.
test: $(VENV)/.installed template-check layers console console-test
	infra/scripts/test.sh
	$(MAKE) fuzz
	$(MAKE) console-e2e

## schemathesis from openapi.yaml against a local shop on free ports (FUZZ_EXAMPLES per operation).
fuzz: $(VENV)/.installed $(FUZZ_VENV)/.installed
	infra/scripts/fuzz.sh

## cfn-lint and sam validate on the template as written; then the SAM transform's output as
## CloudFormation will see it (dependency cycles, dangling references, secrets in Environment).
template-check: $(LINT_VENV)/.installed
	$(LINT_VENV)/bin/cfn-lint template.yaml
	$(LINT_VENV)/bin/sam validate --lint --template template.yaml
	cd infra/scripts && ../../$(LINT_VENV)/bin/python -m unittest --quiet test_transformed_template test_deploy_guide test_check_package test_layers
	$(LINT_VENV)/bin/python infra/scripts/transformed_template.py template.yaml

## What `sam deploy` uploads: sam build (cargo-lambda, arm64 release) into .aws-sam/build, each
## function's bootstrap checked (an aarch64 ELF under 8 MB) and its size printed.
package: $(LINT_VENV)/.installed $(PACKAGE_VENV)/.installed console
	PATH="$(CURDIR)/$(PACKAGE_VENV)/bin:$(CURDIR)/$(LINT_VENV)/bin:$$PATH" \
	  PACKAGE_PYTHON=$(LINT_VENV)/bin/python infra/scripts/package.sh

## The workspace's shape: each shared crate only on the layers below it (README, Layout), no
## module circle inside any crate, no AWS, HTTP, tokio or crypto provider under the domain.
layers:
	$(PYTHON) infra/scripts/layers.py

lint: layers
	cargo fmt --all --check
	cargo clippy --locked --workspace --all-targets -- -D warnings

## Cold start, latency, memory and size of each function's release binary.
bench: $(VENV)/.installed
	infra/scripts/bench.sh

clean:
	rm -rf .local target .aws-sam $(CONSOLE)/node_modules $(CONSOLE)/dist

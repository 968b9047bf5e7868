# Vigie: two commands. `make demo` and `make test` each set everything up first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo demo-cluster test test-any-day lint typecheck pytest bench clean web-assets screenshots pg-pair

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,cluster]'
	@touch $(STAMP)

# The live centre on SQLite with a simulated population: API and console on http://127.0.0.1:8000.
demo: $(STAMP) system-deps web-assets
	$(BIN)/vigie centre demo

# The production topology on this machine (README, "Production"): kill any process by hand.
demo-cluster: $(STAMP) system-deps web-assets
	$(BIN)/vigie cluster demo

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) system-deps web-assets
	$(BIN)/pytest

# The whole suite on other days, to catch a fixed date compared with the clock before the
# calendar does: in-process tests under libfaketime; the tests that start servers, brokers, a
# browser or detection processes (marker `processes`) with the centre's own clock offset.
ANY_DAYS ?= 400 3650
test-any-day: $(STAMP) system-deps web-assets
	@set -e; for days in $(ANY_DAYS); do \
	  echo "== +$$days days: in-process tests under libfaketime"; \
	  FAKETIME_DONT_FAKE_MONOTONIC=1 faketime -f "+$${days}d" $(BIN)/pytest -m "not processes"; \
	  echo "== +$$days days: tests that start processes, on VIGIE_CLOCK_OFFSET_S"; \
	  VIGIE_CLOCK_OFFSET_S=$$((days * 86400)) $(BIN)/pytest -m processes; \
	done

bench: $(STAMP)
	$(BIN)/python bench/detect.py
	$(BIN)/python bench/quality.py
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/store_churn.py
	$(BIN)/python bench/store_packed.py
	$(BIN)/python bench/device_reads.py
	$(BIN)/python bench/ingest_hold.py
	$(BIN)/python bench/gateway.py
	$(BIN)/python bench/export.py
	$(BIN)/python bench/cluster.py

# The console's front-end libraries, from npm at build time (package-lock.json), copied into the
# static folder: nothing is loaded from a CDN at run time. Installed under build/ (gitignored).
# axe-core (a devDependency) stays in build/npm: the browser tests inject it, no page loads it.
VENDOR := src/vigie/web/static/vendor
NPM_DIR := build/npm
web-assets: $(VENDOR)/.copied

$(VENDOR)/.copied: package.json package-lock.json
	mkdir -p $(NPM_DIR) $(VENDOR)/images
	cp package.json package-lock.json $(NPM_DIR)/
	cd $(NPM_DIR) && npm ci --no-audit --no-fund --loglevel=error
	cp $(NPM_DIR)/node_modules/leaflet/dist/leaflet.js $(NPM_DIR)/node_modules/leaflet/dist/leaflet.css $(VENDOR)/
	cp $(NPM_DIR)/node_modules/leaflet/dist/images/*.png $(VENDOR)/images/
	cp $(NPM_DIR)/node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/
	cp $(NPM_DIR)/node_modules/leaflet.markercluster/dist/leaflet.markercluster.js $(VENDOR)/
	cp $(NPM_DIR)/node_modules/leaflet.markercluster/dist/MarkerCluster.css $(NPM_DIR)/node_modules/leaflet.markercluster/dist/MarkerCluster.Default.css $(VENDOR)/
	cp $(NPM_DIR)/node_modules/@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.js $(VENDOR)/
	cp $(NPM_DIR)/node_modules/@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.css $(VENDOR)/
	cd $(NPM_DIR)/node_modules/swagger-ui-dist && cp swagger-ui-bundle.js swagger-ui.css favicon-32x32.png $(CURDIR)/$(VENDOR)/
	@touch $@

# Screenshots of the console's main pages for the README, taken by the browser tests' server.
screenshots: $(STAMP) system-deps web-assets
	VIGIE_SCREENSHOTS_DIR=docs/screenshots $(BIN)/pytest tests/web/test_screenshots.py

# A PostgreSQL primary and its synchronous streaming standby on free loopback ports, the centre's
# database migrated: prints VIGIE_DATABASE_URL (both hosts) and how to promote; Ctrl-C stops both.
pg-pair: $(STAMP) system-deps
	$(BIN)/python -m vigie.store.pg_local

# PostgreSQL 15 + PostGIS 3 (and WeasyPrint's libraries) for the centre's tests and demo.
system-deps:
	@bash scripts/system-deps.sh

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .mypy_cache .ruff_cache

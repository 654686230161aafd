# OpsDeck: `make help` lists the targets.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8501

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): requirements.txt
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $(STAMP)

install: $(STAMP) ## create .venv and install the pinned requirements

db: $(STAMP) ## migrate the database and seed demo data and accounts if it is empty
	$(BIN)/python -m ops init
	$(BIN)/python -m ops seed --size default --if-empty

run: db ## set up everything and start the app on http://127.0.0.1:8501
	$(BIN)/streamlit run app.py --server.address $(HOST) --server.port $(PORT) --server.headless true

test: $(STAMP) ## run the whole test suite (SQLite, plus PostgreSQL when OPS_TEST_DATABASE_URL is set)
	$(BIN)/python -m pytest -n 2 --dist loadfile

lint: $(STAMP) ## ruff and mypy (strict on ops/)
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: $(STAMP) ## time the page loads at bench size against the naive approach; writes bench/out/
	$(BIN)/python -m bench.run

seed: $(STAMP) ## reseed the database with demo data (SIZE=small|default|bench)
	$(BIN)/python -m ops init
	$(BIN)/python -m ops seed --size $(or $(SIZE),default)

.PHONY: help install db run test lint bench seed

# Every target creates and reuses .venv itself: `make demo` and `make test` are
# the only set-up a fresh machine needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo serve test test-all bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

DEMO := demo-out
# Wide enough for the summary tables when the output is a log, not a terminal.
export COLUMNS ?= 120

# The main job on the bundled synthetic data: synthesise a national population
# (scale 0.1), validate it against the data standard, summarise it by area, then
# measure proven reoffending per provider and quarter against the 2011 baseline,
# with a funnel plot (demo-out/funnel.html); then pay every CRC under the
# tr2014 and staged designs into a SQLite ledger, verify its hash chain, list
# the staged design's renewals, and end with one provider's statements under
# each design (tables, plus printable HTML in demo-out/). Then plant a service
# with a known effect (demo-out/service/planted.json) and evaluate it with a
# matched comparison (demo-out/evaluation/report.html). Last, the wind tunnel:
# simulate the national market (at a twentieth of its size) under tr2014, staged
# and accelerator, 20 replicates each, and write the comparison report
# (demo-out/compare.html, opens offline) and its metrics (demo-out/compare/);
# then load the programme into the portal's database and print one demo account
# per role (`make serve`, or `make demo SERVE=1`, serves it).
# Running it again writes nothing new to the ledger: the runs are idempotent.
LEDGER := $(DEMO)/ledger.sqlite
PORTAL_DB := $(DEMO)/portal.sqlite
demo: $(STAMP)
	$(BIN)/pbrkit synth --out $(DEMO)/data --start 2011-01-01 --years 7 --scale 0.1 --seed 1
	$(BIN)/pbrkit validate $(DEMO)/data
	$(BIN)/pbrkit summary $(DEMO)/data
	$(BIN)/pbrkit measure $(DEMO)/data --by provider --period quarter --baseline 2011 \
		--out $(DEMO)/measures.csv --chart $(DEMO)/funnel.html --save-model $(DEMO)/baseline-model.json
	$(BIN)/pbrkit pay $(DEMO)/data --design tr2014 --through 2017Q4 --as-of 2017-12-31 --db $(LEDGER)
	$(BIN)/pbrkit pay $(DEMO)/data --design staged --through 2017Q4 --as-of 2017-12-31 --db $(LEDGER)
	$(BIN)/pbrkit ledger verify --db $(LEDGER)
	$(BIN)/pbrkit renewals --db $(LEDGER)
	$(BIN)/pbrkit statement --db $(LEDGER) --provider crc-wales --contract tr2014-crc-wales --period 2017Q1 \
		--format html --out $(DEMO)/statement-tr2014-crc-wales-2017Q1.html
	$(BIN)/pbrkit statement --db $(LEDGER) --provider crc-wales --contract staged-crc-wales --period 2017Q1 \
		--format html --out $(DEMO)/statement-staged-crc-wales-2017Q1.html
	$(BIN)/pbrkit plant-service $(DEMO)/data --out $(DEMO)/service --share 0.03 --reduction 0.25 --seed 1
	$(BIN)/pbrkit evaluate $(DEMO)/service/data --treated $(DEMO)/service/treated.csv --out $(DEMO)/evaluation
	$(BIN)/pbrkit compare tr2014 staged accelerator --replicates 20 --scale 0.05 --seed 1 \
		--out $(DEMO)/compare.html --metrics-dir $(DEMO)/compare
	$(BIN)/pbrkit portal-demo $(DEMO)/data --db $(PORTAL_DB) --storage $(DEMO)/portal-files \
		--report $(DEMO)/compare.html
	@if [ -n "$(SERVE)" ]; then $(MAKE) --no-print-directory serve; \
	else echo "Open the portal with: make serve  (or make demo SERVE=1)"; fi

# The portal on the demo's programme, in development mode on http://127.0.0.1:8000.
serve: $(STAMP)
	PBRKIT_STORAGE_DIR=$(DEMO)/portal-files $(BIN)/pbrkit serve --db $(PORTAL_DB) --development

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) $(DEMO) bench-out .pytest_cache

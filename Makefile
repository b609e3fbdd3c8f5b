# symbolic-v2m: set-up, demo, tests, benchmarks.
#
#   make setup   virtual environment + pip packages + (as root) Debian packages; idempotent
#   make demo    set up, then compose a soundtrack for a demo clip the project generates itself
#   make test    set up, then run the test suite (pytest; shared_data tests run when ../shared exists)
#   make bench   set up, then run the benchmarks in bench/
#
# GPU users: override the torch pin, e.g.
#   make setup TORCH_SPEC="torch==2.13.0" TORCH_INDEX="--index-url https://download.pytorch.org/whl/cu128"

PYTHON      ?= python3
VENV        ?= .venv
TORCH_SPEC  ?= torch==2.13.0
TORCH_INDEX ?=
# fluidsynth: WAV rendering; ffmpeg: muxing and test fixtures; the soundfont: General MIDI sounds (MIT licence);
# musescore3: the test that our MIDI imports into a notation program (skipped without it).
APT_PACKAGES ?= fluidsynth libfluidsynth3 ffmpeg musescore-general-soundfont-small musescore3

BIN    := $(VENV)/bin
STAMP  := $(VENV)/.setup-stamp
DEMO_DIR ?= demo_out

.PHONY: setup system-deps demo test fuzz bench clean

setup: system-deps $(STAMP)

# Installs only what is missing; without root, prints the exact command instead.
system-deps:
	@missing=""; \
	for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian packages:$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -q --no-install-recommends $$missing >/dev/null 2>&1 || \
	  { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $$missing >/dev/null; } || \
	  { echo "apt-get install failed for:$$missing" >&2; exit 1; }; \
	elif command -v apt-get >/dev/null 2>&1; then \
	  echo "Missing Debian packages:$$missing"; \
	  echo "Run: sudo apt-get install -y$$missing"; \
	else \
	  echo "Missing system packages (Debian names):$$missing; install their equivalents with your package manager."; \
	fi

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH_INDEX) "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

demo: setup
	$(BIN)/python -m symbolic_v2m.video.synthetic $(DEMO_DIR)/demo_clip.mp4
	$(BIN)/symbolic-v2m compose $(DEMO_DIR)/demo_clip.mp4 --out $(DEMO_DIR)/soundtrack --force

test: setup
	$(BIN)/python -m pytest -q -rs tests

# new random inputs for the property and fuzz tests each run (make test repeats the same ones)
fuzz: setup
	HYPOTHESIS_PROFILE=explore $(BIN)/python -m pytest -q -rs tests/reliability/test_fuzz_readers.py \
		tests/music/test_tokens.py tests/timeline/test_timeline.py tests/export/test_score_notation.py

bench: setup
	$(BIN)/python bench/speed.py

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache

# Tresor: the two commands are `make run` and `make test`.
BUILD    ?= build
JOBS     ?= $(shell nproc)
DATA     ?= $(if $(TRESOR_DATA),$(TRESOR_DATA),var)
SERVE_ARGS ?=
TRESOR   := $(BUILD)/src/app/tresor
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTRESOR_WERROR=ON

.PHONY: all deps build test run bench sanitize tsan fuzz format clean

all: build

deps:
	@scripts/install-deps

build: deps
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

# Unit tests and the suites that drive the real binary with DCMTK's clients.
test: build
	@cd $(BUILD) && ctest --output-on-failure -j2

# Builds, initializes $(DATA) on first use (prints the admin password once), registers
# a loopback echo-only peer for a first check, and serves in the foreground.
run: build
	@if [ ! -f "$(DATA)/tresor.conf" ]; then \
	  $(TRESOR) init --data "$(DATA)" && \
	  $(TRESOR) peer add try-echo --ae ECHOSCU --host 127.0.0.1 --allow echo --data "$(DATA)"; \
	fi
	@exec $(TRESOR) serve --data "$(DATA)" $(SERVE_ARGS)

# Benchmarks against DCMTK's storescp and Orthanc (long; not part of `make test`):
# ingest, query, retrieve, web and viewer in one go, written to bench/RESULTS.md.
bench: build
	@bench/run-all

# Address and undefined-behaviour sanitizers over the whole test suite.
sanitize: deps
	@cmake -S . -B $(BUILD)-asan -DCMAKE_BUILD_TYPE=Debug -DTRESOR_SANITIZE=ON >/dev/null
	@cmake --build $(BUILD)-asan -j$(JOBS)
	@cd $(BUILD)-asan && ctest --output-on-failure -j2

# ThreadSanitizer over the integration suites (slow). A report stops the server with
# exit status 66 (halt_on_error), so the suite that provoked it fails.
TSAN_OPTIONS_DEFAULT := halt_on_error=1 exitcode=66 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/tsan.supp
tsan: deps
	@cmake -S . -B $(BUILD)-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTRESOR_TSAN=ON >/dev/null
	@cmake --build $(BUILD)-tsan -j$(JOBS)
	@cd $(BUILD)-tsan && TSAN_OPTIONS="$(TSAN_OPTIONS_DEFAULT) $$TSAN_OPTIONS" \
	  ctest -R integration --output-on-failure -j2

# libFuzzer over every parser of untrusted input (fuzz/, docs/fuzzing.md): builds the
# targets with clang-14 + ASan/UBSan in $(BUILD)-fuzz and runs them for FUZZ_SECONDS in all.
FUZZ_SECONDS ?= 240
fuzz: deps
	@FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_BUILD=$(CURDIR)/$(BUILD)-fuzz fuzz/run

format:
	@clang-format -i $$(git ls-files 'src/*.cc' 'src/*.h')

clean:
	@rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-tsan $(BUILD)-fuzz

# Ferry: a thin wrapper over CMake and the local stack. See README.md.
#   make test   install deps, build (normal + sanitizers), stack up, ctest both, stack down
#   make demo   install deps, build, stack up, run the demo
.PHONY: all deps build build-asan build-fuzz fuzz fuzz-smoke test unit demo stack-up stack-down format format-check banned-check clean

JOBS ?= $(shell nproc)
BUILD ?= build
BUILD_ASAN ?= build-asan
BUILD_FUZZ ?= build-fuzz
FUZZ_SECONDS ?= 60

all: build

deps:
	deploy/install-deps.sh

build:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j $(JOBS)

build-asan:
	cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DFERRY_SANITIZE=ON
	cmake --build $(BUILD_ASAN) -j $(JOBS)

# The libFuzzer targets (fuzz/, docs/fuzzing.md), built with clang and the sanitizers.
build-fuzz:
	CC=clang cmake -S . -B $(BUILD_FUZZ) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFERRY_FUZZ=ON
	cmake --build $(BUILD_FUZZ) -j $(JOBS) --target fuzz_targets

# Each target for FUZZ_SECONDS (default 60); fails on a crash. fuzz-smoke: 15 s each, as the
# test command runs them.
fuzz: build-fuzz
	fuzz/run.sh $(FUZZ_SECONDS) $(BUILD_FUZZ)

fuzz-smoke: build-fuzz
	fuzz/run.sh 15 $(BUILD_FUZZ)

# Unit tests only: no services needed.
unit: build
	cd $(BUILD) && ctest -L unit --output-on-failure

test: deps
	tests/run.sh

demo: deps build
	deploy/demo.sh

stack-up:
	deploy/local/stack up

stack-down:
	deploy/local/stack down

FORMAT_FILES = $(shell git ls-files '*.c' '*.h')

format:
	clang-format -i $(FORMAT_FILES)

format-check:
	clang-format --dry-run --Werror $(FORMAT_FILES)

# Functions STYLE.md bans: unbounded copies and unchecked conversions.
BANNED = sprintf|vsprintf|strcpy|strcat|strtok|atoi|atol|atoll|gets
banned-check:
	@if grep -nE '(^|[^[:alnum:]_])($(BANNED))[[:space:]]*\(' $(FORMAT_FILES); then \
	    echo "banned functions used (see STYLE.md)"; exit 1; fi

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ)

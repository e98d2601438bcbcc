# agentplane — the two commands every user relies on are `make run` and `make test`.
# Each installs what is missing (scripts/install-deps.sh), builds, then runs.
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)

.PHONY: all deps build run test bench fuzz clean format

all: build

deps:
	@scripts/install-deps.sh

$(BUILD_DIR)/build.ninja: CMakeLists.txt
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

build: deps $(BUILD_DIR)/build.ninja
	@scripts/install-deps.sh npm ui
	cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	$(BUILD_DIR)/agentplane up --config examples/local.yaml

test: build
	@scripts/install-deps.sh npm tests/sdk tests/telemetry_sdk tests/ui
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

bench: build
	@scripts/install-deps.sh npm bench/gateway
	bench/gateway/run.sh

fuzz: deps
	fuzz/run.sh

clean:
	rm -rf $(BUILD_DIR) build-fuzz

format:
	clang-format -i $$(git ls-files 'src/*.cc' 'src/*.h' 'tests/*.cc' 'tests/*.h')

# Convenience wrapper around meson/ninja.  The README's two commands:
#   make demo   - install dependencies, build, run the main job end to end
#   make check  - install dependencies, build, run every test
BUILD ?= build

.PHONY: all build deps check check-unit check-iotests demo bench install \
        install-compat-links clean

all: build

$(BUILD)/build.ninja:
	./configure --builddir=$(BUILD)

build: $(BUILD)/build.ninja
	ninja -C $(BUILD)

deps:
	scripts/install-deps.sh

check: deps
	$(MAKE) build
	scripts/run-tests.sh $(BUILD)

check-unit: build
	meson test -C $(BUILD) --suite unit --print-errorlogs

check-iotests: build
	tests/qemu-iotests/check --build $(BUILD) -raw

demo: deps
	$(MAKE) build
	scripts/demo.sh $(BUILD)

bench: build
	tests/bench/io-bench.sh $(BUILD)
	tests/bench/convert-bench.sh $(BUILD)
	tests/bench/throttle-bench.sh $(BUILD)
	tests/bench/daemon-bench.sh $(BUILD)
	tests/bench/bitmap-bench.sh $(BUILD)

install: build
	meson install -C $(BUILD)

# qemu-img style names next to the strata ones, for drop-in use.
install-compat-links: install
	scripts/install-compat-links.sh

clean:
	rm -rf $(BUILD)

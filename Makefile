# The two commands of the README and a few helpers around CMake.
# make (build), make test (install what is missing, build, run ctest), make demo (train on
# Fashion-MNIST with progressive resizing and print the test accuracy).
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
CTEST_FLAGS ?= -LE slow

.PHONY: all build deps test test-slow demo asan clean

all: build

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

deps:
	scripts/install-deps.sh all

test: deps
	$(MAKE) build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_FLAGS)

test-slow: deps build
	cd $(BUILD) && ctest --output-on-failure -L slow

# The same tests under AddressSanitizer and UndefinedBehaviorSanitizer, in their own build folder.
asan:
	$(MAKE) test BUILD=build-asan CMAKE_FLAGS="-DCRESCENDO_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)"

demo: deps
	$(MAKE) build
	scripts/demo.sh $(BUILD)/crescendo

clean:
	rm -rf $(BUILD) build-asan

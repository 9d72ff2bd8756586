# SPDX-License-Identifier: GPL-2.0
#
# kvm-contract: build the conformance tests, kernel-selftest style.
#
#   make                                   tests for the host architecture
#   make ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu-   static arm64 tests
#   make O=DIR                             build out of tree
#   make KDIR=~/linux                      UAPI headers (after headers_install)
#                                          and the kselftest harness from a tree
#   make unit                              build and run the oracle's unit tests
#   make check                             the project's own tests (README)
#   make deps                              install the Debian packages needed
#   make install INSTALL_PATH=DIR          a kselftest tree for run_kselftest.sh
#   make gen_tar                           that tree as kselftest.tar.gz
#
# Without KDIR the UAPI headers and the harness come from Debian's
# linux-libc-dev and linux-source packages, fetched once into a cache by
# scripts/debian.sh.

HOST_ARCH := $(patsubst aarch64,arm64,$(shell uname -m))
ARCH ?= $(HOST_ARCH)
override ARCH := $(patsubst aarch64,arm64,$(ARCH))

ifeq ($(ARCH),arm64)
TRIPLET := aarch64-linux-gnu
GUEST_ARCH_FLAGS := -mgeneral-regs-only -mbranch-protection=none -mstrict-align
else ifeq ($(ARCH),x86_64)
TRIPLET := x86_64-linux-gnu
GUEST_ARCH_FLAGS := -mgeneral-regs-only -mno-red-zone -fcf-protection=none
else
$(error ARCH=$(ARCH) is not supported: use ARCH=arm64 or ARCH=x86_64)
endif

ifeq ($(ARCH),$(HOST_ARCH))
CROSS_COMPILE ?=
else ifeq ($(ARCH),arm64)
CROSS_COMPILE ?= aarch64-linux-gnu-
else
CROSS_COMPILE ?= x86_64-linux-gnu-
endif

TARGET_CXX := $(CROSS_COMPILE)g++
# ccache, where installed, for what a fresh clone compiles again (the
# runners' tests build copies of the clone; CI starts from one): paths are
# hashed relative to the clone and not by its directory, so the same
# sources in another clone hit. CCACHE= turns it off.
CCACHE ?= $(shell command -v ccache 2>/dev/null)
ifneq ($(CCACHE),)
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1
endif
CXX_OBJ := $(CCACHE) $(TARGET_CXX)
OBJCOPY := $(CROSS_COMPILE)objcopy
STRIP := $(CROSS_COMPILE)strip
HOSTCXX ?= g++
HOST_TRIPLET := $(shell $(HOSTCXX) -dumpmachine 2>/dev/null | sed -e 's/-pc-/-/' -e 's/-unknown-/-/')

# make splits every name at spaces, so a path with a space cannot be a
# target. Every recipe runs in this directory: the default O stays relative
# to it, and the clone's own path (which may hold a space) never appears
# in a target name. Only O and KDIR given by hand must be free of spaces.
O ?= build/$(ARCH)
ifneq ($(words $(O)),1)
$(error O="$(O)": make cannot build in a path with a space; use a path relative to $(CURDIR) or one without spaces)
endif
ifneq ($(words $(KDIR)),$(if $(KDIR),1,0))
$(error KDIR="$(KDIR)": make cannot use a path with a space; link the tree to a path without one)
endif
OUT := $(O)

# Goals that must work before any dependency is fetched.
NO_FETCH_GOALS := deps clean help check bench check-kernel-build mutation
ifneq ($(KDIR),)
UAPI := $(abspath $(KDIR))/usr/include
HARNESS := $(abspath $(KDIR))/tools/testing/selftests
else ifneq ($(filter-out $(NO_FETCH_GOALS),$(or $(MAKECMDGOALS),all)),)
include $(OUT)/deps.mk
endif

# A missing compiler is named before anything else fails on it.
ifneq ($(filter-out $(NO_FETCH_GOALS),$(or $(MAKECMDGOALS),all)),)
ifeq ($(shell command -v $(TARGET_CXX) 2>/dev/null),)
$(error $(TARGET_CXX) not found: install it with "make deps" (as root), or set CROSS_COMPILE)
endif
endif

# With KDIR nothing is fetched; otherwise objects wait for the fetch.
DEPS_STAMP := $(if $(KDIR),,$(OUT)/deps.mk)

# Where the fetched dependencies are; made once (make clean forgets it).
$(OUT)/deps.mk:
	@mkdir -p $(@D)
	scripts/debian.sh build-deps > $@.tmp
	@mv $@.tmp $@

# Sections per function and --gc-sections at the link: a static test
# binary keeps only the parts of libc and libstdc++ it calls (half the
# size: the test VM's initramfs unpacks faster).
COMMON_CXXFLAGS := -std=c++20 -O2 -g -Wall -Wextra -Iinclude -ffunction-sections -fdata-sections
UAPI_FLAGS = -isystem $(UAPI) -isystem $(UAPI)/$(TRIPLET)
HOST_UAPI_FLAGS = -isystem $(UAPI) -isystem $(UAPI)/$(HOST_TRIPLET)
# The harness is C and needs -fpermissive under g++ (see include/harness.h);
# only sources that include it get the flag.
HARNESS_FLAGS = -fpermissive -I$(HARNESS)
LDFLAGS := -static -Wl,--gc-sections

# ---- guest program: a flat image linked into every test binary ----------
GUEST_FLAGS := -std=c++20 -O2 -Wall -Wextra -Iinclude -Iguest_code/$(ARCH) \
	-ffreestanding -fno-builtin -nostdlib -fno-exceptions -fno-rtti \
	-fno-threadsafe-statics -fno-asynchronous-unwind-tables -fno-unwind-tables \
	-fno-stack-protector -fno-pic -fno-pie $(GUEST_ARCH_FLAGS)
GUEST_SRCS := guest_code/$(ARCH)/start.S guest_code/fault_program.cpp \
	$(wildcard guest_code/$(ARCH)/*.cpp)
GUEST_OBJS := $(patsubst %,$(OUT)/guest/%.o,$(basename $(GUEST_SRCS)))
GUEST_HEADERS := include/guest.h include/layout.h include/$(ARCH)/layout.h $(wildcard include/$(ARCH)/svm.h) \
	guest_code/$(ARCH)/guest_arch.h

$(OUT)/guest/%.o: %.S $(GUEST_HEADERS)
	@mkdir -p $(@D)
	$(CXX_OBJ) $(GUEST_FLAGS) -c -o $@ $<

$(OUT)/guest/%.o: %.cpp $(GUEST_HEADERS)
	@mkdir -p $(@D)
	$(CXX_OBJ) $(GUEST_FLAGS) -c -o $@ $<

$(OUT)/guest/guest.ld: guest_code/guest.ld.S include/$(ARCH)/layout.h
	@mkdir -p $(@D)
	$(TARGET_CXX) -E -P -x c -std=c11 -Iinclude -o $@ $<

$(OUT)/guest/guest.elf: $(GUEST_OBJS) $(OUT)/guest/guest.ld
	$(TARGET_CXX) $(GUEST_FLAGS) -static -no-pie -Wl,--build-id=none \
		-Wl,-T,$(OUT)/guest/guest.ld -o $@ $(GUEST_OBJS)

$(OUT)/guest/guest.bin: $(OUT)/guest/guest.elf
	$(OBJCOPY) -O binary $< $@

# ---- host library --------------------------------------------------------
LIB_SRCS := lib/kvm.cpp lib/names.cpp lib/oracle.cpp lib/guest_vm.cpp lib/test_util.cpp lib/cgroup.cpp \
	lib/health.cpp lib/record.cpp lib/backing.cpp lib/userfault.cpp \
	$(wildcard lib/$(ARCH)/*.cpp)
LIB_OBJS := $(patsubst %.cpp,$(OUT)/obj/%.o,$(LIB_SRCS)) $(OUT)/obj/lib/guest_image.o

# In the multi-call binary each test file is a program of its own: its
# entry point, and the harness's one global object (the fixture of plain
# TEST()s; everything else in kselftest_harness.h is static), get the
# file's name.
$(OUT)/obj/tests/%.o: CXXFLAGS_EXTRA = $(HARNESS_FLAGS) -DKVMC_TEST_ENTRY=kvmc_test_$(notdir $*) \
	-D_fixture_global=kvmc_fixture_global_$(notdir $*)

# Objects depend on how they are compiled, not only on their sources: a
# changed flag (or a build directory from before the multi-call binary)
# rebuilds them instead of failing at the link.
$(OUT)/obj/flags.stamp: FORCE
	@mkdir -p $(@D)
	$(call write_if_changed,$@,'$(TARGET_CXX) $(COMMON_CXXFLAGS) $(UAPI_FLAGS) $(HARNESS_FLAGS) multicall-1')

$(OUT)/obj/%.o: %.cpp $(DEPS_STAMP) $(OUT)/obj/flags.stamp
	@mkdir -p $(@D)
	$(CXX_OBJ) $(COMMON_CXXFLAGS) $(UAPI_FLAGS) $(CXXFLAGS_EXTRA) -MMD -MP -c -o $@ $<

$(OUT)/obj/lib/guest_image.o: lib/guest_image.S $(OUT)/guest/guest.bin
	@mkdir -p $(@D)
	$(TARGET_CXX) -DGUEST_IMAGE='"$(OUT)/guest/guest.bin"' -c -o $@ $<

# ---- tests ---------------------------------------------------------------
# One flat directory of tests, the architecture's own ones included, as a
# kselftest collection wants it. They are one static multi-call binary,
# kvm-contract-tests, under each test file's name (a symbolic link): the
# C and C++ libraries once instead of once per test keep the test VM's
# initramfs small, and it unpacks that much sooner. Each test file's
# KVMC_TEST_MAIN is renamed kvmc_test_<file> (include/harness.h);
# lib/multicall.cpp runs the one the binary's name asks for.
TEST_SRCS := $(wildcard tests/*.cpp tests/$(ARCH)/*.cpp)
TEST_NAMES := $(basename $(notdir $(TEST_SRCS)))
TESTS := $(addprefix $(OUT)/tests/,$(TEST_NAMES))
TEST_OBJS := $(patsubst %.cpp,$(OUT)/obj/%.o,$(TEST_SRCS))
MULTICALL := $(OUT)/tests/kvm-contract-tests

# The list of test files, rewritten only when it changes.
$(OUT)/obj/multicall.def: FORCE
	@mkdir -p $(@D)
	$(call write_if_changed,$@,$(foreach t,$(TEST_NAMES),'KVMC_TEST($(t))'))

$(OUT)/obj/lib/multicall.o: lib/multicall.cpp $(OUT)/obj/multicall.def
	@mkdir -p $(@D)
	$(CXX_OBJ) $(COMMON_CXXFLAGS) -I$(OUT)/obj -c -o $@ $<

$(MULTICALL): $(TEST_OBJS) $(OUT)/obj/lib/multicall.o $(LIB_OBJS)
	@mkdir -p $(@D)
	$(TARGET_CXX) $(LDFLAGS) -o $@ $^

$(TESTS): $(MULTICALL)
	ln -sfn $(notdir $(MULTICALL)) $@

# Every test's full name, as the binaries' --names prints them, read from
# the preprocessed sources (scripts/kvmc/testnames.py), one list per test
# file, made again when its object is: known on a host that cannot run
# another architecture's binaries, so that run_tests.sh refuses a -t that
# matches no test before it boots anything.
$(OUT)/obj/%.names: %.cpp $(OUT)/obj/%.o scripts/kvmc/testnames.py
	$(TARGET_CXX) -E -P $(COMMON_CXXFLAGS) $(UAPI_FLAGS) $(HARNESS_FLAGS) -DKVMC_TEST_ENTRY=kvmc_test_$(notdir $*) \
		-D_fixture_global=kvmc_fixture_global_$(notdir $*) -o $@.i $<
	(cd scripts && python3 -m kvmc.testnames) < $@.i > $@.tmp
	@rm -f $@.i
	@mv $@.tmp $@

$(OUT)/tests/kvm-contract-names.txt: $(TEST_OBJS:.o=.names)
	@mkdir -p $(@D)
	cat $^ > $@.tmp
	@mv $@.tmp $@

# ---- the oracle's unit tests: always for the build machine ---------------
UNIT_LIB_SRCS := lib/names.cpp lib/oracle.cpp lib/health.cpp lib/record.cpp lib/x86_64/nested.cpp \
	lib/arm64/nested.cpp
UNIT_SRCS := $(wildcard tests/unit/*.cpp)
UNIT_TESTS := $(patsubst tests/unit/%.cpp,$(OUT)/unit/%,$(UNIT_SRCS))
UNIT_OBJS := $(patsubst %.cpp,$(OUT)/unit/obj/%.o,$(UNIT_LIB_SRCS))

$(OUT)/unit/obj/%.o: %.cpp $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CCACHE) $(HOSTCXX) $(COMMON_CXXFLAGS) $(HOST_UAPI_FLAGS) $(CXXFLAGS_EXTRA) -MMD -MP -c -o $@ $<

$(OUT)/unit/obj/tests/%.o: CXXFLAGS_EXTRA = $(HARNESS_FLAGS)

$(OUT)/unit/%: $(OUT)/unit/obj/tests/unit/%.o $(UNIT_OBJS)
	$(HOSTCXX) -o $@ $^

# ---- goals ---------------------------------------------------------------
.PHONY: all unit unit-build check check-kernel-build check-coverage mutation bench deps clean help install gen_tar FORCE
.DEFAULT_GOAL := all
.SECONDARY:

# The list of test binaries, rewritten only when it changes (run_tests.sh
# rebuilds the VM's initramfs when anything under tests/ is newer).
define write_if_changed
	@printf '%s\n' $(2) > $(1).tmp
	@if cmp -s $(1).tmp $(1); then rm $(1).tmp; else mv $(1).tmp $(1); fi
endef

all: $(TESTS) $(OUT)/tests/kvm-contract-names.txt
	$(call write_if_changed,$(OUT)/tests/kvm-contract-list.txt,$(patsubst $(OUT)/tests/%,%,$(TESTS)))

# A kselftest install tree, as "make -C tools/testing/selftests install"
# makes one: run_kselftest.sh runs it as the collection "kvm-contract".
INSTALL_PATH ?= $(OUT)/kselftest_install
install: all
	scripts/kselftest-install.sh $(OUT)/tests "$(INSTALL_PATH)" $(HARNESS) $(STRIP)

# The install tree packed as kselftest's gen_tar packs it, for LAVA/KernelCI.
gen_tar: install
	@mkdir -p $(OUT)/kselftest-packages
	tar -C "$(INSTALL_PATH)" -czf $(OUT)/kselftest-packages/kselftest.tar.gz .
	@echo "$(OUT)/kselftest-packages/kselftest.tar.gz"

unit-build: $(UNIT_TESTS)
	$(call write_if_changed,$(OUT)/unit/kvm-contract-list.txt,$(patsubst $(OUT)/unit/%,%,$(UNIT_TESTS)))

unit: unit-build
	scripts/ktap-runner.sh $(OUT)/unit

# The project's own tests: the oracle's unit tests here, then the suite
# against real KVM on every architecture, always in VMs booting Debian's
# kernel (the baseline describes those kernels, not whatever kernel this
# machine runs), with the known deviations of Debian's kernels as XFAIL.
# x86_64-shadow: x86 again with kvm_amd npt=0, KVM's shadow MMU.
# arm64-nested: arm64 under QEMU 10 with kvm-arm.mode=nested (guest
# hypervisors, the N scenarios). check-kernel-build comes first so that
# the closing "N passed, N failed" line is the whole suite's.
check: check-kernel-build
	./run_tests.sh --unit --vm --baseline baselines/debian.txt \
		--arch arm64 --arch arm64-nested --arch x86_64 --arch x86_64-shadow

# A kernel built from Debian's linux-source (a git worktree in the cache,
# built once, then incrementally), the arm64 suite on it, and the
# mutation tool's smoke test on the same build: two mutants the suite
# must kill and an equivalent one it must not.
# CHECK_WORKTREE names the cache's worktree used (make check
# CHECK_WORKTREE=demo leaves a mutation study running in "mutation" alone).
MUTATION_SMOKE := arm64-nisv-errno,arm64-mmio-phys-addr-page,eq-arm64-mmio-fill-order
CHECK_WORKTREE ?= mutation
check-kernel-build:
	scripts/deps.sh
	tree=$$(cd scripts && python3 -m kvmc.kernel_tree --worktree "$(CHECK_WORKTREE)") && \
		./run_tests.sh --build "$$tree" --arch arm64 --baseline baselines/debian.txt -o results/built
	cd scripts && python3 -m kvmc.mutation check
	cd scripts && python3 -m kvmc.fixdemo check
	cd scripts && python3 -m kvmc.mutation run --arch arm64 --config arm64 --worktree "$(CHECK_WORKTREE)" --mutants $(MUTATION_SMOKE) \
		--expect-kills --json "$(CURDIR)/results/mutation/smoke.json" --doc "$(CURDIR)/results/mutation/smoke.md"

# Kernel coverage (--coverage, docs/coverage.md): the smoke test, a few
# tests on a gcov build of Debian's linux-source with the report checked
# for the functions that decide what KVM_RUN reports. Cold it is a whole
# kernel build; make check runs the same case once that build is cached.
check-coverage:
	scripts/deps.sh
	KVMC_COVERAGE_SMOKE=1 tests/runner/runner_test.sh -t coverage_

# Kernel mutation study (docs/mutation.md, docs/mutation.json):
#   make mutation [MUTATION_ARCH=arm64|x86_64|all] [MUTANTS=id,id]
MUTATION_ARCH ?= all
mutation:
	cd scripts && python3 -m kvmc.mutation run --arch $(MUTATION_ARCH) --mutants "$(MUTANTS)"

# Time to verdict: warm runs (add BENCH_ARGS=--cold for a fresh clone).
bench:
	scripts/benchmark.sh $(BENCH_ARGS)

deps:
	scripts/deps.sh

clean:
	rm -rf $(OUT)

help:
	@sed -n '3,19p' Makefile | sed 's/^# \{0,1\}//'

-include $(shell find $(OUT)/obj $(OUT)/unit/obj -name '*.d' 2>/dev/null)

# SPDX-License-Identifier: Apache-2.0
# npshim - NetworkPolicy enforcement and audit through NFQUEUE.
#
#   make            build ./npshim
#   make check      install missing packages, build, run every test suite
#   make bench      benchmarks (figures and ratios against reference points)
#   make demo       the main job on the embedded example cluster
#   make deps       install missing Debian packages (says which)
#   make fuzz       build the libFuzzer targets (clang)
#   make install    binary, systemd unit, config, man page, completion
#                   (PREFIX=/usr/local, DESTDIR=, SYSCONFDIR=/etc)
#   V=1 shows commands, WERROR=1 adds -Werror (CI).

PKG_CONFIG ?= pkg-config
CC ?= cc
FUZZ_CC ?= clang
PREFIX ?= /usr/local
DESTDIR ?=
SYSCONFDIR ?= /etc
UNITDIR ?= $(PREFIX)/lib/systemd/system

PKGS := libnetfilter_queue libmnl libnfnetlink libcurl libcjson yaml-0.1 sqlite3 libsystemd libmicrohttpd

CFLAGS ?= -O2 -g
override CFLAGS += -std=gnu11 -D_GNU_SOURCE -I. -pthread \
	-Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wmissing-declarations -Wformat=2 -Wpointer-arith -Wundef \
	-Wno-unused-parameter -MMD -MP
ifeq ($(WERROR),1)
override CFLAGS += -Werror
endif
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
override CFLAGS += $(PKG_CFLAGS)
LDLIBS += $(PKG_LIBS) -pthread -lm

SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -O1

MODULES := core policy k8s nfq audit store cli
LIB_SRCS := $(filter-out core/main.c,$(sort $(wildcard $(addsuffix /*.c,$(MODULES)))))
UNIT_SRCS := $(sort $(wildcard test/unit/test_*.c))
TOOL_SRCS := $(sort $(wildcard test/tools/*.c))
BENCH_SRCS := $(sort $(wildcard test/bench/*.c))
FUZZ_SRCS := $(sort $(wildcard test/fuzz/fuzz_*.c))

B := build
LIB_OBJS := $(LIB_SRCS:%.c=$(B)/obj/%.o)
SAN_OBJS := $(LIB_SRCS:%.c=$(B)/asan/%.o)
FUZZ_OBJS := $(LIB_SRCS:%.c=$(B)/fuzzobj/%.o)
UNIT_BINS := $(UNIT_SRCS:test/unit/%.c=$(B)/test/%)
SAN_UNIT_BINS := $(UNIT_SRCS:test/unit/%.c=$(B)/asan/test/%)
TOOL_BINS := $(TOOL_SRCS:test/tools/%.c=$(B)/tools/%)
# Tools the suites also run under ASan+UBSan (over hostile inputs).
SAN_TOOL_BINS := $(B)/asan/tools/load_cluster
BENCH_BINS := $(BENCH_SRCS:test/bench/%.c=$(B)/bench/%)
FUZZ_BINS := $(FUZZ_SRCS:test/fuzz/%.c=$(B)/fuzz/%)

ifeq ($(V),1)
Q :=
else
Q := @
endif

.PHONY: all check bench demo deps fuzz tests clean install help
all: npshim

npshim: $(B)/obj/core/main.o $(B)/libnpshim.a
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/libnpshim.a: $(LIB_OBJS)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(B)/libnpshim-asan.a: $(SAN_OBJS)
	$(Q)rm -f $@ && ar rcs $@ $^

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

$(B)/asan/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC[san] $<")
	$(Q)$(CC) $(CFLAGS) $(SAN_FLAGS) -c -o $@ $<

$(B)/fuzzobj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC[fuz] $<")
	$(Q)$(FUZZ_CC) $(filter-out -Wformat=2 -MMD -MP,$(CFLAGS)) -Wno-unused-command-line-argument -fsanitize=fuzzer-no-link,address,undefined -DNPSHIM_FUZZING -c -o $@ $<

$(B)/test/%: test/unit/%.c $(B)/libnpshim.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  TEST    $@")
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(B)/asan/test/%: test/unit/%.c $(B)/libnpshim-asan.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(SAN_FLAGS) -o $@ $^ $(LDLIBS)

$(B)/tools/%: test/tools/%.c $(B)/libnpshim.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  TOOL    $@")
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(B)/asan/tools/%: test/tools/%.c $(B)/libnpshim-asan.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  TOOL[s] $@")
	$(Q)$(CC) $(CFLAGS) $(SAN_FLAGS) -o $@ $^ $(LDLIBS)

$(B)/bench/%: test/bench/%.c $(B)/libnpshim.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  BENCH   $@")
	$(Q)$(CC) $(CFLAGS) -O2 -o $@ $^ $(LDLIBS)

$(B)/fuzz/%: test/fuzz/%.c $(FUZZ_OBJS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZ    $@")
	$(Q)$(FUZZ_CC) $(filter-out -Wformat=2 -MMD -MP,$(CFLAGS)) -Wno-unused-command-line-argument -fsanitize=fuzzer,address,undefined -DNPSHIM_FUZZING -o $@ $^ $(LDLIBS)

# Everything the test suites run: the binary, unit tests (plain and
# ASan+UBSan), test tools. Fuzzers are built by their own suite when clang
# can link libFuzzer.
tests: npshim $(UNIT_BINS) $(SAN_UNIT_BINS) $(TOOL_BINS) $(SAN_TOOL_BINS)

fuzz: $(FUZZ_BINS)

# The instrumented objects are shared by every fuzz target; keep them.
.SECONDARY: $(FUZZ_OBJS) $(SAN_OBJS)

deps:
	@scripts/deps.sh

# deps runs first in its own make so the pkg-config flags above are read
# again once the packages are there.
check:
	@scripts/deps.sh --if-missing
	@$(MAKE) --no-print-directory tests
	@scripts/run-tests.sh

bench:
	@scripts/deps.sh --if-missing
	@$(MAKE) --no-print-directory npshim $(BENCH_BINS) $(TOOL_BINS)
	@scripts/run-bench.sh

demo:
	@scripts/deps.sh --if-missing
	@$(MAKE) --no-print-directory npshim $(TOOL_BINS)
	@scripts/demo.sh

# The unit names the installed binary; an existing configuration file is
# never replaced (the example goes next to it as npshim.conf.example).
install: npshim
	install -D -m 0755 npshim $(DESTDIR)$(PREFIX)/sbin/npshim
	install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/npshim \
		$(DESTDIR)$(PREFIX)/share/man/man8 $(DESTDIR)$(PREFIX)/share/bash-completion/completions
	sed 's|/usr/local/sbin/npshim|$(PREFIX)/sbin/npshim|g; s|/etc/npshim/|$(SYSCONFDIR)/npshim/|g' \
		systemd/npshim.service >$(DESTDIR)$(UNITDIR)/npshim.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/npshim.service
	if [ -e $(DESTDIR)$(SYSCONFDIR)/npshim/npshim.conf ]; then \
		install -m 0644 systemd/npshim.conf $(DESTDIR)$(SYSCONFDIR)/npshim/npshim.conf.example; \
	else \
		install -m 0644 systemd/npshim.conf $(DESTDIR)$(SYSCONFDIR)/npshim/npshim.conf; \
	fi
	install -m 0644 doc/npshim.8 $(DESTDIR)$(PREFIX)/share/man/man8/npshim.8
	install -m 0644 systemd/npshim.bash-completion \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/npshim

clean:
	rm -rf $(B) npshim

help:
	@sed -n '2,13p' Makefile | sed 's/^# \{0,1\}//'

-include $(LIB_OBJS:.o=.d) $(SAN_OBJS:.o=.d) $(B)/obj/core/main.d

# mnmfa — hand-written Makefile. Objects go to build/ (build/san/ for the
# sanitizer build); `make help` lists the targets.

PREFIX   ?= /usr/local
BUILD    ?= build
CC       ?= cc
PKGS      = libmicrohttpd gnutls openssl sqlite3 libcjson libcurl hiredis
TEST_PKGS = cmocka
# The daemon, and the benchmarks that stand for it, allocate with tcmalloc
# (gperftools' minimal library): glibc's malloc cost each mint ~20% more CPU
# (docs/performance.md). The sanitizer builds keep the sanitizers' allocator.
MALLOC_PKG = libtcmalloc_minimal

WARN    = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
          -Wformat=2 -Wno-format-nonliteral
HARDEN  = -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIE
OPT    ?= -O2 -g
CFLAGS += -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) $(HARDEN) -Iinclude -I$(BUILD)/gen
LDFLAGS += -pie -Wl,-z,relro,-z,now
LDLIBS  = -lpthread -lm

ifeq ($(SANITIZE),1)
  BUILD   = build/san
  OPT     = -O1 -g -fno-omit-frame-pointer
  CFLAGS += -fsanitize=address,undefined -fno-sanitize-recover=undefined
  LDFLAGS += -fsanitize=address,undefined
  HARDEN  = -fstack-protector-strong -fPIE
  MALLOC_PKG =
endif

# Library modules (everything but main); unit tests and fuzzers link these.
LIB_SRCS = util.c log.c crypto.c caldate.c challenge.c store.c validate.c form.c \
           backoff.c delivery.c chatfuel.c webhook.c \
           config.c certgen.c tlsmat.c http.c sockaddr.c tlscork.c page.c assets.c api.c api_fields.c decide.c web.c notify.c audit.c audit_rows.c audit_item.c audit_settle.c audit_pages.c \
           buf.c fileio.c utf8.c json_out.c \
           chain.c checkpoint.c anchor.c auditdb.c outbox.c audit_export.c cmd_audit.c \
           config_keys.c \
           timeline.c report.c evidence.c backlog.c cli.c \
           health.c url.c deadline.c \
           metrics.c limiter.c server.c web_doubt.c web_lock.c
SRCS     = $(LIB_SRCS) main.c
LIB_OBJS = $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
OBJS     = $(LIB_OBJS) $(BUILD)/obj/main.o
# The store and limiter implementations behind their interfaces.
LIB_SRCS += store_mem.c store_mem_table.c limiter_mem.c
# Several nodes on Redis.
LIB_SRCS += redis.c store_redis.c store_redis_doubt.c store_redis_rec.c store_redis_lua.c limiter_redis.c

UNIT_TESTS = $(patsubst tests/unit/test_%.c,%,$(wildcard tests/unit/test_*.c))
UNIT_BINS  = $(UNIT_TESTS:%=$(BUILD)/tests/test_%)
E2E_BIN    = $(BUILD)/tests/e2e
BROWSER_TESTS = tests/browser/run.mjs tests/browser/report.mjs

DEPS_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
DEPS_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
TEST_CFLAGS := $(shell pkg-config --cflags $(TEST_PKGS) 2>/dev/null)
TEST_LIBS   := $(shell pkg-config --libs $(TEST_PKGS) 2>/dev/null)
MALLOC_LIBS := $(if $(MALLOC_PKG),$(shell pkg-config --libs $(MALLOC_PKG) 2>/dev/null))

.PHONY: FORCE all deps test-deps run test unit e2e browser sanitize soak bench fuzz fuzz-build image-test install clean help

all: $(BUILD)/mnmfa

help:
	@echo "make            build $(BUILD)/mnmfa"
	@echo "make run        build, make a dev certificate, start on https://localhost:8443 (API :8000)"
	@echo "make test       unit + end-to-end + browser tests, fuzz seeds replayed (installs missing packages first)"
	@echo "make sanitize   build and test with ASan+UBSan (build/san)"
	@echo "make soak       3 minutes of the ASan+UBSan build under load with faults (SOAK_SECONDS)"
	@echo "make bench      mnmfa beside nginx on loopback: CPU per request, req/s, p99 (docs/performance.md)"
	@echo "make fuzz       build each libFuzzer harness (clang, -Werror) and run it for FUZZ_SECONDS (default 20)"
	@echo "make image-test build the Docker image with a local engine and run it hardened (root)"
	@echo "make install    install to PREFIX (default /usr/local)"

# Installs the Debian packages when pkg-config cannot find a library.
deps:
	@command -v pkg-config >/dev/null 2>&1 && pkg-config --exists $(PKGS) $(MALLOC_PKG) || scripts/install-deps --build
test-deps:
	@command -v pkg-config >/dev/null 2>&1 && pkg-config --exists $(PKGS) $(MALLOC_PKG) $(TEST_PKGS) \
	  && command -v wrk >/dev/null && command -v chromium >/dev/null && command -v promtool >/dev/null \
	  && command -v redis-sentinel >/dev/null && command -v haproxy >/dev/null \
	  && command -v clang >/dev/null && command -v ip >/dev/null \
	  && test -d node_modules/playwright-core || scripts/install-deps

# Embedded page assets: assets/* become C arrays (scripts/embed-assets).
ASSETS = $(sort $(wildcard assets/*))
$(BUILD)/gen/assets_data.h: $(ASSETS) scripts/embed-assets
	@mkdir -p $(@D)
	scripts/embed-assets $(ASSETS) > $@.tmp && mv $@.tmp $@
$(BUILD)/obj/assets.o: $(BUILD)/gen/assets_data.h

$(BUILD)/obj/%.o: src/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(DEPS_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libmnmfa.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

# The daemon's link libraries, rewritten only when they change: a binary
# linked without tcmalloc (or with it) is linked again when that changes.
LINK_STAMP = $(BUILD)/link-libs
LINK_LIBS  = $(DEPS_LIBS) $(MALLOC_LIBS) $(LDLIBS)
$(LINK_STAMP): FORCE
	@mkdir -p $(@D)
	@echo '$(LINK_LIBS)' | cmp -s - $@ 2>/dev/null || echo '$(LINK_LIBS)' > $@
FORCE:

$(BUILD)/mnmfa: $(BUILD)/obj/main.o $(BUILD)/libmnmfa.a $(LINK_STAMP)
	@if [ -n "$(MALLOC_PKG)" ] && [ -z "$(MALLOC_LIBS)" ]; then \
	  echo "make: pkg-config finds no $(MALLOC_PKG): run scripts/install-deps --build" \
	       "(Debian's libgoogle-perftools-dev), or build with MALLOC_PKG= for glibc's malloc" >&2; \
	  exit 2; fi
	$(CC) $(LDFLAGS) -o $@ $(filter-out $(LINK_STAMP),$^) $(LINK_LIBS)

$(BUILD)/tests/test_%: tests/unit/test_%.c $(BUILD)/libmnmfa.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(DEPS_CFLAGS) $(TEST_CFLAGS) $(LDFLAGS) -o $@ $^ $(TEST_LIBS) $(DEPS_LIBS) $(LDLIBS)

E2E_SRCS = $(sort $(wildcard tests/e2e/*.c))
$(E2E_BIN): $(E2E_SRCS) $(wildcard tests/e2e/*.h) $(BUILD)/libmnmfa.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(DEPS_CFLAGS) -Itests/e2e $(LDFLAGS) -o $@ $(E2E_SRCS) $(BUILD)/libmnmfa.a $(DEPS_LIBS) $(LDLIBS)

unit: $(UNIT_BINS)
	@scripts/run-tests unit $(UNIT_BINS)

e2e: $(BUILD)/mnmfa $(E2E_BIN)
	@scripts/run-tests e2e $(E2E_BIN) $(BUILD)/mnmfa

browser: $(BUILD)/mnmfa
	@for s in $(BROWSER_TESTS); do scripts/run-tests browser node $$s $(BUILD)/mnmfa || exit 1; done

# The runner gets these lists and runs nothing else (no glob of build/).
# make test also builds every fuzzer and replays its seeds once (seconds once
# built), so a change that breaks `make fuzz` fails on the branch, not in CI.
test: test-deps
	@$(MAKE) --no-print-directory all $(UNIT_BINS) $(E2E_BIN)
ifneq ($(SANITIZE),1)
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=0
endif
	@scripts/run-tests all $(BUILD)/mnmfa $(E2E_BIN) --unit $(UNIT_BINS) --browser $(BROWSER_TESTS)

sanitize:
	@$(MAKE) --no-print-directory SANITIZE=1 test

# The soak (tests/soak/soak.c, on the e2e harness; not part of `make test`):
# the sanitizer build under load while Chatfuel fails, the database is locked,
# SIGHUP and SIGTERM+restart come; every minted challenge must end in the log.
SOAK_SECONDS ?= 180
SOAK_SRCS = tests/soak/soak.c tests/e2e/harness.c tests/e2e/fake_chatfuel.c tests/e2e/mfa.c \
            tests/e2e/servers.c
$(BUILD)/tests/soak: $(SOAK_SRCS) $(wildcard tests/e2e/*.h) $(BUILD)/libmnmfa.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(DEPS_CFLAGS) -Itests/e2e $(LDFLAGS) -o $@ $(SOAK_SRCS) $(BUILD)/libmnmfa.a $(DEPS_LIBS) $(LDLIBS)

soak: test-deps
	@$(MAKE) --no-print-directory SANITIZE=1 build/san/mnmfa build/san/tests/soak
	build/san/tests/soak build/san/mnmfa $(SOAK_SECONDS)

run: deps
	@$(MAKE) --no-print-directory $(BUILD)/mnmfa
	@scripts/dev-run $(BUILD)/mnmfa

# The audit writer's benchmark (bench/writer.c), run by bench/run; not a test.
$(BUILD)/bench/writer: bench/writer.c $(BUILD)/libmnmfa.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(DEPS_CFLAGS) $(LDFLAGS) -o $@ $^ $(DEPS_LIBS) $(MALLOC_LIBS) $(LDLIBS)

# One request per new TLS connection, full or resumed (bench/tlsconn.c).
$(BUILD)/bench/tlsconn: bench/tlsconn.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(DEPS_CFLAGS) $(LDFLAGS) -o $@ $< $(DEPS_LIBS) $(LDLIBS)

# Idle keep-alive connections held while requests are timed (bench/idle.c).
$(BUILD)/bench/idle: bench/idle.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(DEPS_CFLAGS) $(LDFLAGS) -o $@ $< $(DEPS_LIBS) $(LDLIBS)

# One expiry sweep's cost with 1,000,000 live challenges (bench/sweep.c).
$(BUILD)/bench/sweep: bench/sweep.c $(BUILD)/libmnmfa.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(DEPS_CFLAGS) $(LDFLAGS) -o $@ $^ $(DEPS_LIBS) $(MALLOC_LIBS) $(LDLIBS)

bench: $(BUILD)/mnmfa $(BUILD)/bench/writer $(BUILD)/bench/tlsconn $(BUILD)/bench/sweep $(BUILD)/bench/idle
	@bench/run $(BUILD)/mnmfa && bench/redis $(BUILD)/mnmfa

# Fuzzers: each tests/fuzz/fuzz_NAME.c with libFuzzer, linked against the
# library compiled again by clang with coverage, ASan and UBSan, with the
# same warnings and -Werror (out of tree, in build/fuzz/); then each runs for
# FUZZ_SECONDS (0: replay the corpora once). scripts/run-fuzz only runs them.
FUZZ_CC      ?= clang
FUZZ_BUILD    = build/fuzz
FUZZ_SECONDS ?= 20
FUZZERS       = $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS     = $(FUZZERS:%=$(FUZZ_BUILD)/fuzz_%)
FUZZ_OBJS     = $(LIB_SRCS:%.c=$(FUZZ_BUILD)/obj/%.o)
FUZZ_SAN      = -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS   = -std=c11 -D_GNU_SOURCE -O1 -g -fno-omit-frame-pointer $(WARN) $(FUZZ_SAN) \
                -Iinclude -I$(FUZZ_BUILD)/gen $(DEPS_CFLAGS)

$(FUZZ_BUILD)/gen/assets_data.h: $(ASSETS) scripts/embed-assets
	@mkdir -p $(@D)
	scripts/embed-assets $(ASSETS) > $@.tmp && mv $@.tmp $@
$(FUZZ_BUILD)/obj/assets.o: $(FUZZ_BUILD)/gen/assets_data.h

$(FUZZ_BUILD)/obj/%.o: src/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_BUILD)/libmnmfa.a: $(FUZZ_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_BUILD)/libmnmfa.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -MMD -MP -o $@ $< $(FUZZ_BUILD)/libmnmfa.a \
	  $(DEPS_LIBS) $(LDLIBS)

fuzz-build: deps
	@command -v $(FUZZ_CC) >/dev/null || { echo "make fuzz needs $(FUZZ_CC) (scripts/install-deps)"; exit 2; }
	@$(MAKE) --no-print-directory $(FUZZ_BINS)

fuzz: fuzz-build
	@scripts/run-fuzz $(FUZZ_SECONDS) $(FUZZ_BINS)

# Not part of `make test`: needs root, starts its own dockerd, takes minutes the first time.
image-test:
	@scripts/image-test

install: $(BUILD)/mnmfa
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BUILD)/mnmfa $(DESTDIR)$(PREFIX)/bin/mnmfa

clean:
	rm -rf build

-include $(OBJS:.o=.d) $(FUZZ_OBJS:.o=.d) $(FUZZ_BINS:=.d)

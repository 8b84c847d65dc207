# mailbot: see README.md. `make demo` and `make test` need only Go.
GO        ?= go
PREFIX    ?= /usr/local
DESTDIR   ?=
SYSCONFDIR ?= /etc
BIN       := bin/mailbot
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# A count, not a duration: Go 1.26's fuzz coordinator can fail a run with
# "context deadline exceeded" when a duration ends (golang/go#75804).
FUZZTIME  ?= 20000x

.PHONY: all build test demo e2e soak bench fuzz mutate check install clean

all: build

build:
	$(GO) build -trimpath -o $(BIN) ./cmd/mailbot

# Unit, corpus, crash and in-process server tests. Needs only Go.
test:
	$(GO) test -race -shuffle=on -count=1 ./...

# The whole job on an embedded IMAP server and SMTP sink, printed.
demo: build
	./$(BIN) demo

# Real Dovecot, Postfix and GnuPG on 127.0.0.1 (installs them with apt-get
# when missing; needs root). Shows the "e2e:" result lines, each test's
# verdict and the failures; the whole output is kept in e2e.log. POSIX sh:
# the exit status of go test travels through the pipe as the log's last line.
e2e:
	bash .ci/e2e-deps
	{ SOAK=short $(GO) test -tags e2e -race -count=1 -timeout 60m -v ./mailbot/e2e/ ./mailbot/pgp/ ./cmd/mailbot/ 2>&1; echo "e2e-exit $$?"; } \
	  | tee e2e.log \
	  | grep --line-buffered -E '^(--- |ok |FAIL|PASS$$|e2e:|panic:)|^ +(--- FAIL|[^ ]+\.go:[0-9]+: )'
	@tail -n 1 e2e.log | grep -qx 'e2e-exit 0' || { echo "e2e: FAILED (the whole output is in e2e.log)"; exit 1; }

# Issue 19: the accelerated soak. `make e2e` runs SOAK=short (a simulated
# week, about 6 minutes); this runs SOAK=month (30 simulated days, about 45
# minutes) with the seed SOAK_SEED, shows the "e2e:" lines (the oracle's
# table among them) and keeps the whole output in soak.log.
SOAK      ?= month
SOAK_SEED ?= 1
soak:
	bash .ci/e2e-deps
	{ SOAK=$(SOAK) SOAK_SEED=$(SOAK_SEED) $(GO) test -tags e2e -count=1 -timeout 120m -run '^TestSoak$$' -v ./mailbot/e2e/ 2>&1; echo "soak-exit $$?"; } \
	  | tee soak.log \
	  | grep --line-buffered -E '^(--- |ok |FAIL|PASS$$|e2e:|panic:)|^ +(--- FAIL|[^ ]+\.go:[0-9]+: )'
	@tail -n 1 soak.log | grep -qx 'soak-exit 0' || { echo "soak: FAILED (the whole output is in soak.log)"; exit 1; }

# Issue 9: per-stage benchmarks and the targets (ack latency, ingest, peak
# RSS, store growth); prints the table, writes bench/out/results.json.
# Under 10 minutes on 2 cores; BENCH_SHORT=1 for a quick look (see .ci/bench).
bench:
	bash .ci/bench

# Every fuzz target for FUZZTIME executions each.
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list 'Fuzz.*' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

# Mutation testing of the packages that decide who speaks for the team
# (issue 15), the business calendar and clocks, and the outbox sender
# (issue 19). Prints each package's score (killed among the tested mutants) and
# fails below MUTATE_MIN percent. gremlins runs on a copy of the module with
# the module renamed (tools/mutate says why); known equivalent survivors are
# in tools/mutate/EQUIVALENT.md. About 40 minutes on 2 busy cores; MUTATE_PKGS=./mailbot/team for one.
GREMLINS       := github.com/go-gremlins/gremlins/cmd/gremlins@v0.6.0
MUTATE_PKGS    ?= ./mailbot/team ./mailbot/triage ./policy ./mailbot/outbox
MUTATE_MIN     ?= 90
MUTATE_WORKERS ?= 2
# On top of gremlins' defaults: && <-> || and break <-> continue, the ways a
# check gets switched off.
MUTATORS       ?= invert-logical,invert-loopctrl
mutate:
	$(GO) run ./tools/mutate -gremlins $(GREMLINS) -min $(MUTATE_MIN) -workers $(MUTATE_WORKERS) \
	  -mutators $(MUTATORS) $(MUTATE_PKGS)

check:
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }

# Installs the binary, the systemd units and the mailbot user (sysusers.d),
# and makes $(SYSCONFDIR)/mailbot 0750 root:mailbot: the layout README's
# "Install and run under systemd" describes and `mailbot init --system`
# fills. An existing configuration is never overwritten. With DESTDIR set
# (packaging) the user is not created and nothing is chowned.
install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/mailbot
	install -D -m 0644 cmd/mailbot/mailbot.service $(DESTDIR)$(PREFIX)/lib/systemd/system/mailbot.service
	install -D -m 0644 cmd/mailbot/mailbot@.service $(DESTDIR)$(PREFIX)/lib/systemd/system/mailbot@.service
	install -D -m 0644 cmd/mailbot/mailbot.sysusers $(DESTDIR)$(PREFIX)/lib/sysusers.d/mailbot.conf
	install -d -m 0750 $(DESTDIR)$(SYSCONFDIR)/mailbot
	@if [ -z "$(DESTDIR)" ]; then \
	  systemd-sysusers $(PREFIX)/lib/sysusers.d/mailbot.conf && chgrp mailbot $(SYSCONFDIR)/mailbot; \
	fi
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/mailbot/mailbot.toml ]; then \
	  echo "keeping existing $(DESTDIR)$(SYSCONFDIR)/mailbot/mailbot.toml"; \
	else \
	  echo "no configuration yet: run 'mailbot init --system --address ... --imap-host ... --smtp-host ...' (see README)"; \
	fi

clean:
	rm -rf bin e2e.log soak.log

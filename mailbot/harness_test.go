package mailbot_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"

	"mailbot/mailbot"
	"mailbot/mailbot/config"
	"mailbot/mailbot/devmail"
	"mailbot/mailbot/inbox"
	"mailbot/policy"
	"mailbot/store"
	"mailbot/templates"
)

const (
	botAddr = "security@example.org"
	ada     = "ada@research.example"
	eve     = "eve@elsewhere.example"
	pw      = "secret"
)

// clock is an injectable clock for the daemon.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// harness is one bot on a real store, with in-process IMAP and SMTP servers.
type harness struct {
	t      *testing.T
	srv    *devmail.Server
	cfg    *config.Config
	store  *store.Store
	pol    *policy.Policy
	tmpl   *templates.Set
	clock  *clock
	events chan inbox.Event
	d      *mailbot.Daemon
	stop   func()
}

type option func(*harness, *mailbot.Options)

func withFaults(f func(string) error) option {
	return func(_ *harness, o *mailbot.Options) { o.Faults = f }
}

func newHarness(t *testing.T, extraTOML string, opts ...option) *harness {
	t.Helper()
	srv, err := devmail.Start(devmail.Options{Domain: "example.org", Users: map[string]string{botAddr: pw, ada: pw}})
	if err != nil {
		t.Fatalf("devmail.Start() = %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pw"), []byte(pw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pol, err := filepath.Abs("../testdata/policies/002_imis_innovation.toml")
	if err != nil {
		t.Fatal(err)
	}
	if i := strings.Index(extraTOML, "policy = "); i >= 0 {
		// The test names its own policy.
		line := extraTOML[i:]
		line = line[:strings.IndexByte(line, '\n')+1]
		extraTOML = strings.Replace(extraTOML, line, "", 1)
		fmt.Sscanf(strings.TrimPrefix(line, "policy = "), "%q", &pol)
	}
	// Top-level keys of extraTOML go before the first table.
	var top string
	for extraTOML != "" && !strings.HasPrefix(extraTOML, "[") {
		line, rest, _ := strings.Cut(extraTOML, "\n")
		top += line + "\n"
		extraTOML = rest
	}
	ihost, iport, _ := strings.Cut(srv.IMAPAddr, ":")
	_, sport, _ := strings.Cut(srv.SMTPAddr, ":")
	toml := fmt.Sprintf(`%saddress = %q
store = "bot.db"
policy = %q
[imap]
host = %q
port = %s
tls = "none"
username = %q
password = { file = "pw" }
mode = "fast"
fast_interval = "5ms"
resync_interval = "1s"
command_timeout = "5s"
[smtp]
host = %q
port = %s
tls = "none"
username = %q
password = { file = "pw" }
timeout = "5s"
%s`, top, botAddr, pol, ihost, iport, botAddr, ihost, sport, botAddr, extraTOML)
	cfg, err := config.Parse(filepath.Join(dir, "mailbot.toml"), []byte(toml))
	if err != nil {
		t.Fatalf("config.Parse() = %v", err)
	}
	h := &harness{t: t, srv: srv, cfg: cfg, events: make(chan inbox.Event, 4096),
		clock: &clock{t: time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC)}}
	if h.pol, err = policy.Load(cfg.Policy); err != nil {
		t.Fatalf("policy.Load() = %v", err)
	}
	if h.tmpl, err = templates.Load(""); err != nil {
		t.Fatal(err)
	}
	h.open(opts...)
	return h
}

// open (re)opens the store and makes a new daemon on it, as a restart does.
func (h *harness) open(opts ...option) {
	h.t.Helper()
	st, err := store.Open(h.cfg.Store, store.Options{Timeout: time.Second, CasePrefix: h.cfg.CasePrefix})
	if err != nil {
		h.t.Fatalf("store.Open() = %v", err)
	}
	h.store = st
	o := mailbot.Options{Config: h.cfg, Store: st, Policy: h.pol, Templates: h.tmpl, Now: h.clock.Now, InboxEvents: h.events}
	for _, opt := range opts {
		opt(h, &o)
	}
	if h.d, err = mailbot.New(o); err != nil {
		h.t.Fatalf("mailbot.New() = %v", err)
	}
	h.t.Cleanup(func() { h.close() })
}

// close stops the daemon (if running) and closes the store: a restart.
func (h *harness) close() {
	if h.stop != nil {
		h.stop()
		h.stop = nil
	}
	if h.store != nil {
		h.store.Close()
		h.store = nil
	}
}

func (h *harness) restart(opts ...option) {
	h.close()
	h.open(opts...)
}

// run starts the daemon: IMAP intake and the outbox sender.
func (h *harness) run() {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	d := h.d
	go func() { done <- d.Run(ctx, context.Background()) }()
	h.stop = func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				h.t.Errorf("Run() = %v, want nil after stop", err)
			}
		case <-time.After(10 * time.Second):
			h.t.Errorf("Run() did not return 10s after stop")
		}
	}
}

// deliver puts raw into the bot's INBOX as an MTA would.
func (h *harness) deliver(raw []byte) uint32 {
	h.t.Helper()
	uid, err := h.srv.Deliver("INBOX", botAddr, raw)
	if err != nil {
		h.t.Fatalf("Deliver() = %v", err)
	}
	return uid
}

// waitProcessed waits for n more "processed" events of the intake.
func (h *harness) waitProcessed(n int) {
	h.t.Helper()
	timeout := time.After(20 * time.Second)
	for n > 0 {
		select {
		case e := <-h.events:
			if e.Kind == "processed" {
				n--
			}
		case <-timeout:
			h.t.Fatalf("timed out waiting for %d more processed messages", n)
		}
	}
}

// waitEvent waits for the next intake event of kind.
func (h *harness) waitEvent(kind string) inbox.Event {
	h.t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case e := <-h.events:
			if e.Kind == kind {
				return e
			}
		case <-timeout:
			h.t.Fatalf("timed out waiting for a %q event", kind)
		}
	}
}

func (h *harness) ingest(raw []byte) mailbot.Result {
	h.t.Helper()
	res, err := h.d.Ingest(context.Background(), bytes.NewReader(raw))
	if err != nil {
		h.t.Fatalf("Ingest() = %v, want nil", err)
	}
	return res
}

// send runs the outbox sender once.
func (h *harness) send() {
	h.t.Helper()
	if _, err := h.d.Sender().RunOnce(context.Background()); err != nil {
		h.t.Fatalf("RunOnce() = %v", err)
	}
}

func (h *harness) cases() []*store.Case {
	h.t.Helper()
	var out []*store.Case
	err := h.store.View(func(tx *store.Tx) error {
		return tx.Cases(func(c *store.Case) bool { out = append(out, c); return true })
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

func (h *harness) outbox() []*store.OutboxItem {
	h.t.Helper()
	var out []*store.OutboxItem
	err := h.store.View(func(tx *store.Tx) error {
		return tx.Outbox(func(o *store.OutboxItem) bool { out = append(out, o); return true })
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

func (h *harness) caseByRef(ref string) *store.Case {
	h.t.Helper()
	var c *store.Case
	if err := h.store.View(func(tx *store.Tx) (err error) { c, err = tx.CaseByRef(ref); return err }); err != nil {
		h.t.Fatalf("CaseByRef(%q) = %v", ref, err)
	}
	return c
}

func (h *harness) events_(c *store.Case) []store.Event {
	h.t.Helper()
	var evs []store.Event
	if err := h.store.View(func(tx *store.Tx) (err error) { evs, err = tx.Events(c.ID); return }); err != nil {
		h.t.Fatal(err)
	}
	return evs
}

func hasEvent(evs []store.Event, kind, detail string) bool {
	for _, e := range evs {
		if e.Kind == kind && strings.Contains(e.Detail, detail) {
			return true
		}
	}
	return false
}

// msg builds a raw message from header pairs and a body.
func msg(body string, hdr ...string) []byte {
	var b bytes.Buffer
	for i := 0; i+1 < len(hdr); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", hdr[i], hdr[i+1])
	}
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\n\r\n")
	b.WriteString(strings.ReplaceAll(body, "\n", "\r\n"))
	return b.Bytes()
}

var nextID int

func report(from, subject string, extra ...string) []byte {
	nextID++
	hdr := append([]string{"From", from, "To", botAddr, "Subject", subject,
		"Date", "Tue, 03 Mar 2026 10:00:00 +0000", "Message-ID", fmt.Sprintf("<r%d.%d@research.example>", nextID, time.Now().UnixNano())}, extra...)
	return msg("The login form at https://app.example.org/login has an SQL injection.\nSteps: send ' OR 1=1 --\nImpact: all accounts.\n", hdr...)
}

// header reads one decoded header of a raw message.
func header(t *testing.T, raw []byte, key string) string {
	t.Helper()
	r, err := mail.CreateReader(bytes.NewReader(raw))
	if r == nil {
		t.Fatalf("CreateReader() = %v", err)
	}
	if key == "Subject" {
		s, _ := r.Header.Subject()
		return s
	}
	return r.Header.Get(key)
}

func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// decodedBody is the subject and decoded text of a plain (or signed) mail.
func decodedBody(t *testing.T, raw []byte) string {
	t.Helper()
	r, err := mail.CreateReader(bytes.NewReader(raw))
	if r == nil {
		t.Fatalf("CreateReader() = %v", err)
	}
	subj, _ := r.Header.Subject()
	var b strings.Builder
	b.WriteString(subj + "\n")
	for {
		p, err := r.NextPart()
		if err != nil {
			break
		}
		body, _ := io.ReadAll(p.Body)
		b.Write(body)
	}
	return b.String()
}

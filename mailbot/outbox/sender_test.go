package outbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"mailbot/mailbot/devmail"
	"mailbot/store"
)

// senderT0 is when the sender tests' items are created.
var senderT0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// testClock is a clock the test sets. With step set, every reading is step
// later than the one before: Run's timers then fire at once, and a due time
// is reached without a real wait.
type testClock struct {
	mu   sync.Mutex
	now  time.Time
	step time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.now
	c.now = c.now.Add(c.step)
	return t
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// syncBuffer collects log output written from Run's goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// senderEnv is a Sender on the real store in a temporary directory and
// devmail's SMTP server, with one case to send for.
type senderEnv struct {
	srv    *devmail.Server
	st     *store.Store
	clock  *testClock
	s      *Sender
	log    *syncBuffer
	caseID uint64

	mu       sync.Mutex
	results  []string // OnResult
	attempts []error  // OnAttempt
}

func newSenderEnv(t *testing.T) *senderEnv {
	t.Helper()
	e := &senderEnv{srv: startSMTPTestServer(t), clock: &testClock{now: senderT0}, log: &syncBuffer{}}
	st, err := store.Open(filepath.Join(t.TempDir(), "mailbot.db"), store.Options{NoSync: true, Now: func() time.Time { return senderT0 }})
	if err != nil {
		t.Fatalf("store.Open() = %v", err)
	}
	t.Cleanup(func() { st.Close() })
	e.st = st
	c := &store.Case{Subject: "XSS", Reporter: "researcher@example.net"}
	if err := st.Update(func(tx *store.Tx) error { return tx.NewCase(c) }); err != nil {
		t.Fatalf("NewCase() = %v", err)
	}
	e.caseID = c.ID
	e.s = &Sender{
		Store:  st,
		Client: newSMTPTestClient(t, SMTPOptions{Addr: e.srv.SMTPAddr}),
		Now:    e.clock.Now,
		Logger: slog.New(slog.NewTextHandler(e.log, nil)),
		OnResult: func(state string) {
			e.mu.Lock()
			e.results = append(e.results, state)
			e.mu.Unlock()
		},
		OnAttempt: func(err error) {
			e.mu.Lock()
			e.attempts = append(e.attempts, err)
			e.mu.Unlock()
		},
	}
	return e
}

// enqueue queues a mail for the case (caseless with noCase), due at due
// (zero: when created, senderT0).
func (e *senderEnv) enqueue(t *testing.T, name string, due time.Time, noCase bool) *store.OutboxItem {
	t.Helper()
	it := &store.OutboxItem{Kind: "ack", MessageID: name + "@example.org", From: smtpTestBot,
		To: []string{smtpTestAlice}, Raw: smtpTestMsg(name), NextAttempt: due, Created: senderT0}
	if !noCase {
		it.CaseID = e.caseID
	}
	if err := e.st.Update(func(tx *store.Tx) error { return tx.Enqueue(it) }); err != nil {
		t.Fatalf("Enqueue(%s) = %v", name, err)
	}
	return it
}

func (e *senderEnv) item(t *testing.T, id uint64) *store.OutboxItem {
	t.Helper()
	var it *store.OutboxItem
	if err := e.st.View(func(tx *store.Tx) (err error) {
		it, err = tx.OutboxItem(id)
		return err
	}); err != nil {
		t.Fatalf("OutboxItem(%d) = %v", id, err)
	}
	return it
}

// outboxEvents is the case's events written by the sender.
func (e *senderEnv) outboxEvents(t *testing.T) []store.Event {
	t.Helper()
	var evs []store.Event
	if err := e.st.View(func(tx *store.Tx) error {
		all, err := tx.Events(e.caseID)
		for _, ev := range all {
			if strings.HasPrefix(ev.Kind, "outbox.") {
				evs = append(evs, ev)
			}
		}
		return err
	}); err != nil {
		t.Fatalf("Events() = %v", err)
	}
	return evs
}

func (e *senderEnv) hooks() (results []string, attempts []error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.results), slices.Clone(e.attempts)
}

func (e *senderEnv) runOnce(t *testing.T) time.Time {
	t.Helper()
	next, err := e.s.RunOnce(smtpTestCtx(t))
	if err != nil {
		t.Fatalf("RunOnce() = %v, want nil", err)
	}
	return next
}

// checkSent checks that the server took exactly these items, in order, with
// their bytes and envelope.
func (e *senderEnv) checkSent(t *testing.T, items ...*store.OutboxItem) {
	t.Helper()
	sent := e.srv.Sent()
	if len(sent) != len(items) {
		t.Fatalf("server got %d messages, want %d", len(sent), len(items))
	}
	for i, m := range sent {
		if !bytes.Equal(m.Data, items[i].Raw) || m.From != items[i].From || !slices.Equal(m.To, items[i].To) {
			t.Errorf("message %d = %q from %s to %v, want %q from %s to %v", i, m.Data, m.From, m.To, items[i].Raw, items[i].From, items[i].To)
		}
	}
}

func TestBackoff(t *testing.T) {
	for n, want := range map[int]time.Duration{
		1: time.Minute, 2: 2 * time.Minute, 3: 4 * time.Minute, 6: 32 * time.Minute,
		7: time.Hour, 8: time.Hour, 100: time.Hour,
	} {
		if got := Backoff(n); got != want {
			t.Errorf("Backoff(%d) = %v, want %v", n, got, want)
		}
	}
}

// TestSenderSendsDueItems: RunOnce sends what is due, in due order, records
// each as sent with an event on its case (none for a caseless item), and
// says when the next one falls due.
func TestSenderSendsDueItems(t *testing.T) {
	e := newSenderEnv(t)
	var points []string
	e.s.Fault = func(point string) error {
		points = append(points, point)
		return nil
	}
	later := e.enqueue(t, "later", senderT0.Add(time.Hour), false)
	second := e.enqueue(t, "second", senderT0.Add(-time.Minute), false)
	first := e.enqueue(t, "first", senderT0.Add(-2*time.Minute), false)
	caseless := e.enqueue(t, "caseless", senderT0, true)

	if next := e.runOnce(t); !next.Equal(later.NextAttempt) {
		t.Errorf("RunOnce() next = %v, want %v", next, later.NextAttempt)
	}
	e.checkSent(t, first, second, caseless)
	for _, it := range []*store.OutboxItem{first, second, caseless} {
		got := e.item(t, it.ID)
		if got.State != store.OutboxSent || !got.SentAt.Equal(senderT0) || got.Attempts != 1 || got.LastError != "" {
			t.Errorf("item %s = %s at %v, %d attempts, error %q, want sent at %v after 1 attempt", it.MessageID, got.State, got.SentAt, got.Attempts, got.LastError, senderT0)
		}
	}
	if got := e.item(t, later.ID); got.State != store.OutboxQueued || got.Attempts != 0 {
		t.Errorf("item later = %s, %d attempts, want queued and untried", got.State, got.Attempts)
	}
	evs := e.outboxEvents(t)
	want := []store.Event{
		{Time: senderT0, Kind: "outbox.sent", Actor: "bot", Detail: "ack <first@example.org> to [alice@example.org]"},
		{Time: senderT0, Kind: "outbox.sent", Actor: "bot", Detail: "ack <second@example.org> to [alice@example.org]"},
	}
	if len(evs) != len(want) {
		t.Fatalf("case events = %+v, want %+v", evs, want)
	}
	for i := range evs {
		if !evs[i].Time.Equal(want[i].Time) || evs[i].Kind != want[i].Kind || evs[i].Actor != want[i].Actor || evs[i].Detail != want[i].Detail {
			t.Errorf("case event %d = %+v, want %+v", i, evs[i], want[i])
		}
	}
	results, attempts := e.hooks()
	if !slices.Equal(results, []string{"sent", "sent", "sent"}) || len(attempts) != 3 || attempts[0] != nil || attempts[1] != nil || attempts[2] != nil {
		t.Errorf("OnResult, OnAttempt = %v, %v, want 3 times sent and nil", results, attempts)
	}
	if !slices.Equal(points, []string{"after-send", "after-send", "after-send"}) {
		t.Errorf("Fault points = %v, want after-send for each send", points)
	}

	// Nothing more is due before the later item.
	if next := e.runOnce(t); !next.Equal(later.NextAttempt) || len(e.srv.Sent()) != 3 {
		t.Errorf("RunOnce() = %v after %d messages, want %v and nothing sent", next, len(e.srv.Sent()), later.NextAttempt)
	}
	e.clock.Set(later.NextAttempt)
	if next := e.runOnce(t); !next.IsZero() {
		t.Errorf("RunOnce() next = %v with an empty outbox, want zero", next)
	}
	e.checkSent(t, first, second, caseless, later)
}

// TestSenderDrainsMoreThanABatch: RunOnce reads the outbox 16 items at a
// time and goes on until nothing is due.
func TestSenderDrainsMoreThanABatch(t *testing.T) {
	e := newSenderEnv(t)
	var items []*store.OutboxItem
	for i := range 17 {
		items = append(items, e.enqueue(t, fmt.Sprintf("m%02d", i), senderT0.Add(time.Duration(i-17)*time.Second), false))
	}
	e.runOnce(t)
	e.checkSent(t, items...)
}

// TestSenderRetriesTemporaryFailure: a 4xx leaves the item queued with a
// growing backoff and no news on the case; the retry sends the same bytes.
func TestSenderRetriesTemporaryFailure(t *testing.T) {
	e := newSenderEnv(t)
	e.srv.FailNext(2, devmail.Fault{Code: 451, Message: "greylisted"})
	it := e.enqueue(t, "retry", time.Time{}, false)

	wantNext := senderT0.Add(time.Minute)
	if next := e.runOnce(t); !next.Equal(wantNext) {
		t.Errorf("RunOnce() next = %v, want %v (1m backoff)", next, wantNext)
	}
	got := e.item(t, it.ID)
	if got.State != store.OutboxQueued || got.Attempts != 1 || !got.NextAttempt.Equal(wantNext) || !strings.Contains(got.LastError, "451") {
		t.Errorf("item after a 451 = %s, %d attempts, next %v, error %q, want queued, 1, %v, the 451", got.State, got.Attempts, got.NextAttempt, got.LastError, wantNext)
	}

	e.clock.Set(wantNext.Add(-time.Second))
	if next := e.runOnce(t); !next.Equal(wantNext) || len(e.srv.Sent()) != 0 {
		t.Errorf("RunOnce() before the backoff ends = %v after %d messages, want %v and no try", next, len(e.srv.Sent()), wantNext)
	}
	e.clock.Set(wantNext)
	wantNext = wantNext.Add(2 * time.Minute)
	if next := e.runOnce(t); !next.Equal(wantNext) {
		t.Errorf("RunOnce() next after the second 451 = %v, want %v (2m backoff)", next, wantNext)
	}
	if got := e.item(t, it.ID); got.Attempts != 2 || !got.NextAttempt.Equal(wantNext) {
		t.Errorf("item after two 451 = %d attempts, next %v, want 2, %v", got.Attempts, got.NextAttempt, wantNext)
	}
	if evs := e.outboxEvents(t); len(evs) != 0 {
		t.Errorf("case events after retries = %+v, want none", evs)
	}

	e.clock.Set(wantNext)
	e.runOnce(t)
	got = e.item(t, it.ID)
	if got.State != store.OutboxSent || got.Attempts != 3 || got.LastError != "" || !got.SentAt.Equal(wantNext) {
		t.Errorf("item after the retry = %s, %d attempts, error %q, sent %v, want sent, 3, no error, %v", got.State, got.Attempts, got.LastError, got.SentAt, wantNext)
	}
	e.checkSent(t, it)
	if evs := e.outboxEvents(t); len(evs) != 1 || evs[0].Kind != "outbox.sent" {
		t.Errorf("case events = %+v, want one outbox.sent", evs)
	}
	results, attempts := e.hooks()
	if !slices.Equal(results, []string{"deferred", "deferred", "sent"}) {
		t.Errorf("OnResult = %v, want deferred, deferred, sent", results)
	}
	if len(attempts) != 3 || !IsTemporary(attempts[0]) || !IsTemporary(attempts[1]) || attempts[2] != nil {
		t.Errorf("OnAttempt = %v, want two temporary errors and nil", attempts)
	}
}

// TestSenderFailsPermanently: a 5xx fails the item for good, with the
// reason on its case.
func TestSenderFailsPermanently(t *testing.T) {
	e := newSenderEnv(t)
	e.srv.FailNext(1, devmail.Fault{Code: 550, Message: "no such user"})
	it := e.enqueue(t, "refused", time.Time{}, false)
	if next := e.runOnce(t); !next.IsZero() {
		t.Errorf("RunOnce() next = %v, want zero: nothing is queued", next)
	}
	got := e.item(t, it.ID)
	if got.State != store.OutboxFailed || got.Attempts != 1 || !strings.Contains(got.LastError, "no such user") {
		t.Errorf("item = %s, %d attempts, error %q, want failed after 1 attempt with the server's reason", got.State, got.Attempts, got.LastError)
	}
	evs := e.outboxEvents(t)
	if len(evs) != 1 || evs[0].Kind != "outbox.failed" || evs[0].Actor != "bot" || !evs[0].Time.Equal(senderT0) ||
		!strings.HasPrefix(evs[0].Detail, "ack <refused@example.org> to [alice@example.org]: ") || !strings.Contains(evs[0].Detail, "550") {
		t.Errorf("case events = %+v, want one outbox.failed with the item and the 550", evs)
	}
	if results, _ := e.hooks(); !slices.Equal(results, []string{"failed"}) {
		t.Errorf("OnResult = %v, want failed", results)
	}
	e.runOnce(t)
	if n := len(e.srv.Sent()); n != 0 {
		t.Errorf("server got %d messages after a 550, want none and no retry", n)
	}
}

// TestSenderGivesUp: temporary failures are retried until the item is
// GiveUp old (default five days), then it fails.
func TestSenderGivesUp(t *testing.T) {
	tests := []struct {
		giveUp time.Duration
		age    time.Duration
		want   string
	}{
		{0, 5*24*time.Hour - time.Second, store.OutboxQueued},
		{0, 5 * 24 * time.Hour, store.OutboxFailed},
		{time.Hour, time.Hour - time.Second, store.OutboxQueued},
		{time.Hour, time.Hour, store.OutboxFailed},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v after %v", tt.giveUp, tt.age), func(t *testing.T) {
			e := newSenderEnv(t)
			e.s.GiveUp = tt.giveUp
			e.srv.FailNext(1, devmail.Fault{Code: 421})
			it := e.enqueue(t, "old", time.Time{}, false)
			e.clock.Set(senderT0.Add(tt.age))
			e.runOnce(t)
			if got := e.item(t, it.ID); got.State != tt.want {
				t.Errorf("item after a 421 at age %v = %s, want %s", tt.age, got.State, tt.want)
			}
		})
	}
}

// TestSenderCrashAfterSend: a crash between the server's 250 and marking
// the item sent leaves it queued; it is sent again with the same bytes, so
// the one duplicate has the same Message-ID.
func TestSenderCrashAfterSend(t *testing.T) {
	e := newSenderEnv(t)
	crash := errors.New("crash")
	e.s.Fault = func(point string) error {
		if point == "after-send" {
			return crash
		}
		return nil
	}
	it := e.enqueue(t, "twice", time.Time{}, false)
	if _, err := e.s.RunOnce(smtpTestCtx(t)); !errors.Is(err, crash) {
		t.Fatalf("RunOnce() = %v, want the crash", err)
	}
	if got := e.item(t, it.ID); got.State != store.OutboxQueued || got.Attempts != 0 {
		t.Errorf("item after the crash = %s, %d attempts, want queued and not marked", got.State, got.Attempts)
	}
	if results, attempts := e.hooks(); len(results) != 0 || len(attempts) != 0 {
		t.Errorf("OnResult, OnAttempt = %v, %v after the crash, want nothing", results, attempts)
	}
	e.s.Fault = nil
	e.runOnce(t)
	e.checkSent(t, it, it)
	if got := e.item(t, it.ID); got.State != store.OutboxSent || got.Attempts != 1 {
		t.Errorf("item after the restart = %s, %d attempts, want sent, 1", got.State, got.Attempts)
	}
}

// TestSenderStopsTakingWork: once ctx ends RunOnce takes no new item; the
// one in hand is finished.
func TestSenderStopsTakingWork(t *testing.T) {
	e := newSenderEnv(t)
	first := e.enqueue(t, "first", senderT0.Add(-time.Minute), false)
	second := e.enqueue(t, "second", time.Time{}, false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.s.OnResult = func(string) { cancel() }
	next, err := e.s.RunOnce(ctx)
	if err != nil || !next.Equal(second.NextAttempt) {
		t.Errorf("RunOnce() = %v, %v, want %v (the item left), nil", next, err, second.NextAttempt)
	}
	e.checkSent(t, first)
	if got := e.item(t, first.ID); got.State != store.OutboxSent {
		t.Errorf("item in hand = %s, want sent", got.State)
	}
	if got := e.item(t, second.ID); got.State != store.OutboxQueued || got.Attempts != 0 {
		t.Errorf("next item = %s, %d attempts, want queued and untried", got.State, got.Attempts)
	}
	next, err = e.s.RunOnce(ctx)
	if err != nil || !next.Equal(second.NextAttempt) || len(e.srv.Sent()) != 1 {
		t.Errorf("RunOnce(done ctx) = %v, %v, %d sent, want %v, nil and nothing sent", next, err, len(e.srv.Sent()), second.NextAttempt)
	}
}

// TestSenderAbortCutsTheSend: abort cuts the SMTP exchange in hand; the item
// stays queued, a temporary failure, and is tried again later.
func TestSenderAbortCutsTheSend(t *testing.T) {
	e := newSenderEnv(t)
	it := e.enqueue(t, "cut", time.Time{}, false)
	abort, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.s.runOnce(smtpTestCtx(t), abort); err != nil {
		t.Fatalf("runOnce() = %v, want nil", err)
	}
	got := e.item(t, it.ID)
	if got.State != store.OutboxQueued || got.Attempts != 1 || got.LastError == "" {
		t.Errorf("item after abort = %s, %d attempts, error %q, want queued after 1 attempt with the reason", got.State, got.Attempts, got.LastError)
	}
	if results, _ := e.hooks(); !slices.Equal(results, []string{"deferred"}) {
		t.Errorf("OnResult = %v, want deferred", results)
	}
}

// TestSenderStoreError: RunOnce reports a store it cannot read.
func TestSenderStoreError(t *testing.T) {
	e := newSenderEnv(t)
	e.enqueue(t, "x", time.Time{}, false)
	e.st.Close()
	if _, err := e.s.RunOnce(smtpTestCtx(t)); err == nil {
		t.Errorf("RunOnce() on a closed store = nil, want an error")
	}
}

// TestSenderDefaults: a Sender with only a store and a client uses the wall
// clock and the default logger.
func TestSenderDefaults(t *testing.T) {
	e := newSenderEnv(t)
	s := &Sender{Store: e.st, Client: e.s.Client}
	it := e.enqueue(t, "plain", time.Now().Add(-time.Minute), false)
	before := time.Now()
	if _, err := s.RunOnce(smtpTestCtx(t)); err != nil {
		t.Fatalf("RunOnce() = %v", err)
	}
	got := e.item(t, it.ID)
	if got.State != store.OutboxSent || got.SentAt.Before(before) || got.SentAt.After(time.Now()) {
		t.Errorf("item = %s at %v, want sent at the wall clock", got.State, got.SentAt)
	}
}

// startRun runs e.s.Run until the test ends and checks it returns nil
// promptly when stopped.
func startRun(t *testing.T, e *senderEnv) {
	t.Helper()
	stop, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.s.Run(stop, context.Background()) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run() = %v, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run() did not return after stop")
		}
	})
}

// TestSenderRunWakes: Run sends what is queued when woken.
func TestSenderRunWakes(t *testing.T) {
	e := newSenderEnv(t)
	startRun(t, e)
	it := e.enqueue(t, "woken", time.Time{}, false)
	e.s.Wake()
	e.s.Wake() // never blocks
	if _, err := e.srv.WaitSent(smtpTestCtx(t), 1); err != nil {
		t.Fatalf("WaitSent() after Wake() = %v", err)
	}
	e.checkSent(t, it)
}

// TestSenderRunTimer: Run sends what falls due later by itself, without a
// Wake. Each clock reading is an hour later, so its timer fires at once.
func TestSenderRunTimer(t *testing.T) {
	e := newSenderEnv(t)
	e.clock.step = time.Hour
	it := e.enqueue(t, "timer", senderT0.Add(30*time.Minute), false)
	startRun(t, e)
	if _, err := e.srv.WaitSent(smtpTestCtx(t), 1); err != nil {
		t.Fatalf("WaitSent() for an item due later = %v", err)
	}
	e.checkSent(t, it)
	if log := e.log.String(); strings.Contains(log, "level=ERROR") {
		t.Errorf("log = %s, want no error", log)
	}
}

// TestSenderRunRecovers: an error or a panic in a round is logged and the
// round is tried again by itself, without a Wake.
func TestSenderRunRecovers(t *testing.T) {
	tests := []struct {
		fault string
		log   []string // error lines, in order
	}{
		{"error", []string{`level=ERROR msg=outbox err="disk on fire"`}},
		{"panic", []string{`level=ERROR msg="panic in outbox sender" err=boom`, `level=ERROR msg=outbox err="outbox: panic: boom"`}},
	}
	for _, tt := range tests {
		t.Run(tt.fault, func(t *testing.T) {
			e := newSenderEnv(t)
			e.clock.step = time.Hour
			var once sync.Once
			e.s.Fault = func(string) error {
				var err error
				once.Do(func() {
					if tt.fault == "panic" {
						panic("boom")
					}
					err = errors.New("disk on fire")
				})
				return err
			}
			it := e.enqueue(t, "again", time.Time{}, false)
			startRun(t, e)
			if _, err := e.srv.WaitSent(smtpTestCtx(t), 2); err != nil {
				t.Fatalf("WaitSent() = %v, want the message again after the %s", err, tt.fault)
			}
			e.checkSent(t, it, it)
			var errs []string
			for l := range strings.Lines(e.log.String()) {
				if i := strings.Index(l, "level=ERROR"); i >= 0 {
					errs = append(errs, l[i:])
				}
			}
			if len(errs) != len(tt.log) {
				t.Fatalf("error log lines = %q, want %q", errs, tt.log)
			}
			for i, w := range tt.log {
				if !strings.HasPrefix(errs[i], w) {
					t.Errorf("error log line %d = %q, want %q", i, errs[i], w)
				}
			}
		})
	}
}

// TestSenderMarkFailsNoResend: a server's answer the store cannot record
// (a full disk refuses the commit) is recorded again on the next rounds,
// the mail never sent again while the process lives (issue 19: one alarm
// was delivered 817 times). Only a crash may send it twice.
func TestSenderMarkFailsNoResend(t *testing.T) {
	tests := []struct {
		name   string
		fault  *devmail.Fault // the server's answer; nil: 250
		state  string
		result string
		event  string
		sent   int
	}{
		{"sent", nil, store.OutboxSent, "sent", "outbox.sent", 1},
		{"failed", &devmail.Fault{Code: 550, Message: "no such user"}, store.OutboxFailed, "failed", "outbox.failed", 0},
		{"deferred", &devmail.Fault{Code: 451, Message: "greylisted"}, store.OutboxQueued, "deferred", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newSenderEnv(t)
			if tt.fault != nil {
				e.srv.FailNext(1, *tt.fault)
			}
			const refusals = 3
			full := errors.New("store: commit: no space left on device")
			marks := 0
			e.s.update = func(fn func(*store.Tx) error) error {
				marks++
				if marks <= refusals {
					return full
				}
				return e.st.Update(fn)
			}
			it := e.enqueue(t, "alarm", time.Time{}, false)
			for i := range refusals {
				if _, err := e.s.RunOnce(smtpTestCtx(t)); !errors.Is(err, full) {
					t.Fatalf("RunOnce() %d with the store full = %v, want %v", i, err, full)
				}
			}
			e.runOnce(t)
			e.runOnce(t)
			if n := len(e.srv.Sent()); n != tt.sent {
				t.Errorf("server took the mail %d times, want %d", n, tt.sent)
			}
			results, attempts := e.hooks()
			if len(attempts) != 1 || !slices.Equal(results, []string{tt.result}) {
				t.Errorf("OnAttempt, OnResult = %v, %v, want one attempt, %s", attempts, results, tt.result)
			}
			if marks != refusals+1 {
				t.Errorf("store updates = %d, want %d refused and 1 committed", marks, refusals+1)
			}
			got := e.item(t, it.ID)
			if got.State != tt.state || got.Attempts != 1 {
				t.Errorf("item = %s, %d attempts, want %s, 1", got.State, got.Attempts, tt.state)
			}
			if tt.result == "deferred" && !got.NextAttempt.Equal(senderT0.Add(time.Minute)) {
				t.Errorf("item next attempt = %v, want %v (1m backoff)", got.NextAttempt, senderT0.Add(time.Minute))
			}
			evs := e.outboxEvents(t)
			if tt.event == "" && len(evs) != 0 || tt.event != "" && (len(evs) != 1 || evs[0].Kind != tt.event) {
				t.Errorf("case events = %+v, want one %q", evs, tt.event)
			}
			log := e.log.String()
			if n := strings.Count(log, `level=ERROR msg="outbox mark failed"`); n != refusals || !strings.Contains(log, "msgid=alarm@example.org") {
				t.Errorf("log = %s, want %d mark failures with the msgid", log, refusals)
			}
			if strings.Contains(log, "Thanks.") {
				t.Errorf("log = %s, want no body", log)
			}
		})
	}
}

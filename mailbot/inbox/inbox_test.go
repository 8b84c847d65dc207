package inbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-sasl"
)

func TestIdleDelivery(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	h := newTestHandler(t)
	opt := testOptions(ts)
	// QUIRK (memory server): an update queued between SELECT and the start
	// of IDLE is not flushed; a short resync bounds that race in this test.
	opt.ResyncInterval = 3 * time.Second
	r := start(t, opt, h)
	r.await(t, "idle", 0)

	raw := testMessage(1)
	uid := ts.appendMsg(t, "INBOX", raw)
	r.await(t, "processed", uid)

	got := h.committedCopy()
	if len(got) != 1 || got[0].UID != uid || got[0].Mailbox != "INBOX" || got[0].UIDValidity != ts.status(t, "INBOX").UIDValidity {
		t.Fatalf("committed = %+v, want one delivery of uid %d", got, uid)
	}
	if b := h.raw(t, got[0].Token); !bytes.Equal(b, raw) {
		t.Errorf("spooled = %q, want %q", b, raw)
	}
	if got[0].Size != int64(len(raw)) {
		t.Errorf("Size = %d, want %d", got[0].Size, len(raw))
	}
	if sd := ts.status(t, "INBOX"); *sd.NumUnseen != 1 {
		t.Errorf("NumUnseen = %d, want 1 (BODY.PEEK leaves \\Seen alone)", *sd.NumUnseen)
	}
}

func TestCatchUpInOrder(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	raws := map[uint32][]byte{}
	var want []uint32
	for i := range 100 {
		raw := testMessage(i)
		uid := ts.appendMsg(t, "INBOX", raw)
		raws[uid] = raw
		want = append(want, uid)
	}
	h := newTestHandler(t)
	opt := testOptions(ts)
	opt.BatchSize = 7 // several FETCH batches, one partial
	r := start(t, opt, h)
	r.await(t, "idle", 0)

	if got := h.committedUIDs(); !slices.Equal(got, want) {
		t.Fatalf("committed UIDs = %v, want %v", got, want)
	}
	for _, d := range h.committedCopy() {
		if b := h.raw(t, d.Token); !bytes.Equal(b, raws[d.UID]) {
			t.Errorf("uid %d spooled = %q, want %q", d.UID, b, raws[d.UID])
		}
	}
}

func TestRestartNoRedelivery(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	for i := range 3 {
		ts.appendMsg(t, "INBOX", testMessage(i))
	}
	h := newTestHandler(t)
	r := start(t, testOptions(ts), h)
	r.await(t, "idle", 0)
	r.stop(t)
	if got, want := h.attemptedUIDs(), []uint32{1, 2, 3}; !slices.Equal(got, want) {
		t.Fatalf("first run attempted = %v, want %v", got, want)
	}

	ts.appendMsg(t, "INBOX", testMessage(3))
	ts.appendMsg(t, "INBOX", testMessage(4))
	r = start(t, testOptions(ts), h)
	r.await(t, "idle", 0)
	if got, want := h.attemptedUIDs(), []uint32{1, 2, 3, 4, 5}; !slices.Equal(got, want) {
		t.Fatalf("attempted after restart = %v, want %v", got, want)
	}
}

// With the watermark at the highest UID, "UID SEARCH UID N+1:*" still
// returns N: nothing may be delivered.
func TestUIDStarQuirk(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	var last uint32
	for i := range 3 {
		last = ts.appendMsg(t, "INBOX", testMessage(i))
	}
	h := newTestHandler(t)
	h.setWatermark("INBOX", ts.status(t, "INBOX").UIDValidity, last)
	r := start(t, testOptions(ts), h)
	r.await(t, "idle", 0)
	r.s.Poke() // a second, full round
	r.await(t, "idle", 0)
	if got := h.attemptedUIDs(); len(got) != 0 {
		t.Fatalf("attempted = %v, want none", got)
	}
}

func TestPolling(t *testing.T) {
	tests := []struct {
		name string
		mode string
		so   serverOpts
	}{
		{"idle without IDLE capability", "idle", serverOpts{hideIdle: true, rev1: true}},
		{"poll mode", "poll", serverOpts{}},
		{"poll mode rev1", "poll", serverOpts{rev1: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, tt.so)
			h := newTestHandler(t)
			opt := testOptions(ts)
			opt.Mode = tt.mode
			opt.PollInterval = 20 * time.Millisecond
			r := start(t, opt, h)
			r.await(t, "poll", 0)
			uid := ts.appendMsg(t, "INBOX", testMessage(1))
			r.await(t, "processed", uid)
			r.await(t, "poll", 0)
			for _, e := range r.drain() {
				if e.Kind == "idle" {
					t.Fatalf("event %q in %s mode, want none", e.Kind, tt.mode)
				}
			}
			if got := h.committedUIDs(); !slices.Equal(got, []uint32{uid}) {
				t.Errorf("committed = %v, want [%d]", got, uid)
			}
		})
	}
}

func TestFastMode(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	h := newTestHandler(t)
	opt := testOptions(ts)
	opt.Mode = "fast"
	opt.FastInterval = 10 * time.Millisecond
	r := start(t, opt, h)
	r.await(t, "poll", 0)
	u1 := ts.appendMsg(t, "INBOX", testMessage(1))
	u2 := ts.appendMsg(t, "INBOX", testMessage(2))
	r.await(t, "processed", u2)
	if got := h.committedUIDs(); !slices.Equal(got, []uint32{u1, u2}) {
		t.Errorf("committed = %v, want [%d %d]", got, u1, u2)
	}
}

func TestUIDValidityChange(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	for i := range 2 {
		ts.appendMsg(t, "INBOX", testMessage(i))
	}
	h := newTestHandler(t)
	r := start(t, testOptions(ts), h)
	r.await(t, "processed", 2)
	r.await(t, "idle", 0)
	oldV := ts.status(t, "INBOX").UIDValidity

	if err := ts.user.Delete("INBOX"); err != nil {
		t.Fatalf("Delete() = %v, want nil", err)
	}
	if err := ts.user.Create("INBOX", nil); err != nil {
		t.Fatalf("Create() = %v, want nil", err)
	}
	for _, i := range []int{1, 2, 3} { // message 1 was seen before, under the old UIDVALIDITY
		ts.appendMsg(t, "INBOX", testMessage(i))
	}
	newV := ts.status(t, "INBOX").UIDValidity
	if newV == oldV {
		t.Fatalf("UIDVALIDITY = %d after re-create, want a new value", newV)
	}
	r.s.Poke()
	r.await(t, "uidvalidity", 0)
	r.await(t, "processed", 3)

	got := h.committedCopy()
	if len(got) != 5 {
		t.Fatalf("committed %d deliveries, want 5: %+v", len(got), got)
	}
	for i, d := range got[2:] {
		if d.UIDValidity != newV || d.UID != uint32(i+1) {
			t.Errorf("rescan delivery %d = (%d, %d), want (%d, %d)", i, d.UIDValidity, d.UID, newV, i+1)
		}
	}
	if got[1].Token != got[2].Token {
		t.Errorf("re-delivered message token %s, want %s (same content, same hash)", got[2].Token, got[1].Token)
	}
}

func TestWatchdogFrozenServer(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	h := newTestHandler(t)
	opt := testOptions(ts)
	opt.CommandTimeout = 200 * time.Millisecond
	r := start(t, opt, h)
	r.await(t, "idle", 0)

	ts.proxy.freeze()
	start := time.Now()
	r.s.Poke() // DONE is swallowed: the tagged OK never comes
	e := r.await(t, "error", 0)
	if !errors.Is(e.Err, ErrTimeout) || !e.Ended {
		t.Errorf("error event = %v, ended %v; want %v, ended", e.Err, e.Ended, ErrTimeout)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("watchdog fired after %v, want about 200ms", d)
	}
	r.await(t, "reconnect", 0)
	r.await(t, "idle", 0)
	uid := ts.appendMsg(t, "INBOX", testMessage(1))
	r.s.Poke()
	r.await(t, "processed", uid)
	if n := ts.proxy.accepted.Load(); n != 2 {
		t.Errorf("connections = %d, want 2", n)
	}
}

func TestDroppedConnection(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	h := newTestHandler(t)
	r := start(t, testOptions(ts), h)
	u1 := ts.appendMsg(t, "INBOX", testMessage(1))
	r.s.Poke()
	r.await(t, "processed", u1)
	r.await(t, "idle", 0)

	ts.proxy.drop()
	u2 := ts.appendMsg(t, "INBOX", testMessage(2)) // arrives while disconnected
	r.await(t, "reconnect", 0)
	r.await(t, "processed", u2)
	if got := h.committedUIDs(); !slices.Equal(got, []uint32{u1, u2}) {
		t.Errorf("committed = %v, want [%d %d]", got, u1, u2)
	}
}

func TestProcessErrors(t *testing.T) {
	tests := []struct {
		name         string
		err          error
		fails        int // how many times UID 2 fails
		wantAttempts []uint32
	}{
		// A temporary error stops the round; the session retries with
		// backoff on its own (no poke, no new mail, resync an hour away).
		{"temporary is retried", tempErr{errors.New("disk full")}, 3, []uint32{1, 2, 2, 2, 2, 3}},
		{"permanent is quarantined", errors.New("bad mail"), 1, []uint32{1, 2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, serverOpts{})
			for i := range 3 {
				ts.appendMsg(t, "INBOX", testMessage(i))
			}
			h := newTestHandler(t)
			fails := tt.fails
			h.processErr = func(d Delivery) error {
				if d.UID == 2 && fails > 0 {
					fails--
					return tt.err
				}
				return nil
			}
			r := start(t, testOptions(ts), h)
			e := r.await(t, "error", 2)
			if !errors.Is(e.Err, tt.err) {
				t.Errorf("error event = %v, want %v", e.Err, tt.err)
			}
			r.await(t, "processed", 3)
			if got := h.committedUIDs(); !slices.Equal(got, []uint32{1, 2, 3}) {
				t.Errorf("committed = %v, want [1 2 3]", got)
			}
			if got := h.attemptedUIDs(); !slices.Equal(got, tt.wantAttempts) {
				t.Errorf("attempted = %v, want %v", got, tt.wantAttempts)
			}
		})
	}
}

func TestSpoolFailure(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	for i := range 3 {
		ts.appendMsg(t, "INBOX", testMessage(i))
	}
	h := newTestHandler(t)
	diskFull := errors.New("no space left on device")
	h.spoolErr = func(n int) error {
		if n == 2 {
			return diskFull
		}
		return nil
	}
	r := start(t, testOptions(ts), h)
	e := r.await(t, "error", 2)
	if !errors.Is(e.Err, diskFull) || e.Ended {
		t.Errorf("error event = %v, ended %v; want %v, not ended (the session is still logged in)", e.Err, e.Ended, diskFull)
	}
	r.await(t, "idle", 0)
	if got := h.committedUIDs(); !slices.Equal(got, []uint32{1}) {
		t.Fatalf("committed after spool failure = %v, want [1]", got)
	}
	if n := h.spoolCalls(); n != 2 {
		t.Errorf("Spool calls after the failure = %d, want 2 (nothing spooled after it)", n)
	}
	r.s.Poke()
	r.await(t, "processed", 3)
	r.await(t, "resumed", 0) // the round after the stopped one went through
	if got := h.committedUIDs(); !slices.Equal(got, []uint32{1, 2, 3}) {
		t.Errorf("committed = %v, want [1 2 3]", got)
	}
}

func TestAfterCommit(t *testing.T) {
	tests := []struct {
		afterCommit              string
		so                       serverOpts
		inbox, unseen, processed uint32
		wantErr                  error
	}{
		{"", serverOpts{}, 1, 1, 0, nil},
		{"seen", serverOpts{}, 1, 0, 0, nil},
		{"move:Processed", serverOpts{}, 0, 0, 1, nil},
		{"move:Processed", serverOpts{rev1: true}, 1, 1, 0, ErrUnsafeMove},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q rev1=%v", tt.afterCommit, tt.so.rev1), func(t *testing.T) {
			ts := newTestServer(t, tt.so)
			uid := ts.appendMsg(t, "INBOX", testMessage(1))
			h := newTestHandler(t)
			opt := testOptions(ts)
			opt.AfterCommit = tt.afterCommit
			r := start(t, opt, h)
			r.await(t, "processed", uid)
			for _, e := range r.drain() {
				if e.Kind == "error" && !errors.Is(e.Err, tt.wantErr) {
					t.Errorf("error event %v, want %v", e.Err, tt.wantErr)
				}
			}
			inbox, processed := ts.status(t, "INBOX"), ts.status(t, "Processed")
			if *inbox.NumMessages != tt.inbox || *inbox.NumUnseen != tt.unseen || *processed.NumMessages != tt.processed {
				t.Errorf("INBOX (messages %d, unseen %d), Processed %d; want (%d, %d), %d",
					*inbox.NumMessages, *inbox.NumUnseen, *processed.NumMessages, tt.inbox, tt.unseen, tt.processed)
			}
			if got := h.committedUIDs(); !slices.Equal(got, []uint32{uid}) {
				t.Errorf("committed = %v, want [%d]", got, uid)
			}
		})
	}
}

func TestTooLarge(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	big := append(testMessage(2), bytes.Repeat([]byte("x"), 50_000)...)
	ts.appendMsg(t, "INBOX", testMessage(1))
	ts.appendMsg(t, "INBOX", big)
	ts.appendMsg(t, "INBOX", testMessage(3))
	h := newTestHandler(t)
	opt := testOptions(ts)
	opt.MaxSize = 1000
	r := start(t, opt, h)
	r.await(t, "processed", 3)

	got := h.committedCopy()
	want := []Delivery{
		{Mailbox: "INBOX", UIDValidity: got[0].UIDValidity, UID: 1, Size: int64(len(testMessage(1))), Token: got[0].Token},
		{Mailbox: "INBOX", UIDValidity: got[0].UIDValidity, UID: 2, Size: int64(len(big)), TooLarge: true},
		{Mailbox: "INBOX", UIDValidity: got[0].UIDValidity, UID: 3, Size: int64(len(testMessage(3))), Token: got[2].Token},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("committed = %+v, want %+v", got, want)
	}
	if got[0].Token == "" || got[2].Token == "" {
		t.Errorf("tokens = %q, %q, want non-empty", got[0].Token, got[2].Token)
	}
	if n := ts.proxy.toClient.Load(); n >= int64(len(big)) {
		t.Errorf("server sent %d bytes, want fewer than the %d of the oversized message (never downloaded)", n, len(big))
	}
}

func TestSpoolStreamsExactBytes(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	// 5 MB of base64-like lines with CRLF, as a large attachment looks.
	var b bytes.Buffer
	b.WriteString("From: a@example.org\r\nSubject: big\r\nContent-Type: application/octet-stream\r\n\r\n")
	line := make([]byte, 76)
	for b.Len() < 5<<20 {
		_, _ = rand.Read(line)
		for i := range line {
			line[i] = 'A' + line[i]%26
		}
		b.Write(line)
		b.WriteString("\r\n")
	}
	raw := b.Bytes()
	uid := ts.appendMsg(t, "INBOX", raw)
	h := newTestHandler(t)
	r := start(t, testOptions(ts), h)
	r.await(t, "processed", uid)
	got := h.committedCopy()
	if len(got) != 1 || got[0].Size != int64(len(raw)) {
		t.Fatalf("committed = %+v, want one delivery of %d bytes", got, len(raw))
	}
	if sp := h.raw(t, got[0].Token); !bytes.Equal(sp, raw) {
		t.Errorf("spooled %d bytes, differ from the %d appended", len(sp), len(raw))
	}
}

func TestPanicRecovered(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	uid := ts.appendMsg(t, "INBOX", testMessage(1))
	h := newTestHandler(t)
	h.panicOnce = func(d Delivery) bool { return true }
	r := start(t, testOptions(ts), h)
	e := r.await(t, "error", 0)
	if e.Err == nil || !bytes.Contains([]byte(e.Err.Error()), []byte("panic")) {
		t.Errorf("error event = %v, want a recovered panic", e.Err)
	}
	r.await(t, "reconnect", 0)
	r.await(t, "processed", uid)
	if got := h.committedUIDs(); !slices.Equal(got, []uint32{uid}) {
		t.Errorf("committed = %v, want [%d]", got, uid)
	}
}

func TestBackoff(t *testing.T) {
	maxRand := func(n int64) int64 { return n - 1 }
	tests := []struct {
		n    int
		want time.Duration
	}{
		{0, time.Second - 1},
		{1, 2*time.Second - 1},
		{3, 8*time.Second - 1},
		{9, 5*time.Minute - 1},
		{100, 5*time.Minute - 1},
	}
	for _, tt := range tests {
		if got := backoff(tt.n, time.Second, 5*time.Minute, maxRand); got != tt.want {
			t.Errorf("backoff(%d) = %v, want %v", tt.n, got, tt.want)
		}
	}
	if got := backoff(5, time.Second, time.Minute, func(int64) int64 { return 0 }); got != 0 {
		t.Errorf("backoff(5) with zero jitter = %v, want 0", got)
	}
}

func TestIsTemporary(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("x"), false},
		{tempErr{errors.New("x")}, true},
		{fmt.Errorf("wrapped: %w", tempErr{errors.New("x")}), true},
	}
	for _, tt := range tests {
		if got := IsTemporary(tt.err); got != tt.want {
			t.Errorf("IsTemporary(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestInvalidOptions(t *testing.T) {
	ok := testOptions(&testServer{addr: "127.0.0.1:1"})
	tests := []struct {
		name string
		mod  func(*Options)
	}{
		{"tls", func(o *Options) { o.TLS = "maybe" }},
		{"mode", func(o *Options) { o.Mode = "push" }},
		{"after-commit", func(o *Options) { o.AfterCommit = "delete" }},
		{"empty move", func(o *Options) { o.AfterCommit = "move:" }},
		{"no sasl", func(o *Options) { o.SASL = nil }},
		{"no addr", func(o *Options) { o.Addr = "" }},
	}
	for _, tt := range tests {
		opt := ok
		tt.mod(&opt)
		if err := New(opt, newTestHandler(t)).Run(t.Context(), t.Context()); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("%s: Run() = %v, want %v", tt.name, err, ErrInvalidOptions)
		}
	}
}

func TestTLSModes(t *testing.T) {
	for _, mode := range []string{"implicit", "starttls"} {
		t.Run(mode, func(t *testing.T) {
			srvCfg, cliCfg := testCert(t)
			ts := newTestServer(t, serverOpts{tls: mode, tlsConfig: srvCfg})
			uid := ts.appendMsg(t, "INBOX", testMessage(1))
			h := newTestHandler(t)
			opt := testOptions(ts)
			opt.TLS = mode
			opt.TLSConfig = cliCfg
			r := start(t, opt, h)
			r.await(t, "processed", uid)
		})
	}
	t.Run("untrusted certificate", func(t *testing.T) {
		srvCfg, _ := testCert(t)
		ts := newTestServer(t, serverOpts{tls: "implicit", tlsConfig: srvCfg})
		opt := testOptions(ts)
		opt.TLS = "implicit"
		r := start(t, opt, newTestHandler(t))
		var uerr x509.UnknownAuthorityError
		if e := r.await(t, "error", 0); !errors.As(e.Err, &uerr) {
			t.Errorf("error event = %v, want %T", e.Err, uerr)
		}
	})
}

// A rejected login is retried with backoff, asking for fresh SASL
// credentials each time; Run still returns nil on cancel.
func TestAuthFailureRetries(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	opt := testOptions(ts)
	var mu sync.Mutex
	calls := 0
	opt.SASL = func() (sasl.Client, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		return sasl.NewPlainClient("", "bot", "wrong"), nil
	}
	r := start(t, opt, newTestHandler(t))
	for range 3 {
		var ie *imap.Error
		if e := r.await(t, "error", 0); !errors.As(e.Err, &ie) {
			t.Fatalf("error event = %v, want an *imap.Error (NO)", e.Err)
		}
	}
	r.stop(t)
	for _, e := range r.drain() {
		if e.Kind == "connected" {
			t.Fatalf("event %q with a wrong password", e.Kind)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if calls < 3 {
		t.Errorf("SASL() called %d times, want at least 3 (one per login)", calls)
	}
}

// go-imap drops a FETCH response whose UID follows the literal: the session
// must notice the missing UID and never advance past it.
func TestUIDAfterLiteral(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	for i := range 3 {
		ts.appendMsg(t, "INBOX", testMessage(i))
	}
	ts.proxy.uidLate.Store(2)
	h := newTestHandler(t)
	r := start(t, testOptions(ts), h)
	for range 2 { // the first round, then a poked one: same result
		e := r.await(t, "error", 2)
		if !errors.Is(e.Err, ErrMissingUID) {
			t.Errorf("error event = %v, want %v", e.Err, ErrMissingUID)
		}
		r.await(t, "idle", 0)
		if got := h.committedUIDs(); !slices.Equal(got, []uint32{1}) {
			t.Fatalf("committed = %v, want [1]", got)
		}
		r.s.Poke()
	}
	ts.proxy.uidLate.Store(0)
	r.await(t, "processed", 3)
	if got := h.committedUIDs(); !slices.Equal(got, []uint32{1, 2, 3}) {
		t.Errorf("committed = %v, want [1 2 3]", got)
	}
}

// batchHandler commits every delivery of a call at once, as the daemon does.
type batchHandler struct {
	*testHandler
	calls [][]uint32
}

func (h *batchHandler) Process(ctx context.Context, ds []Delivery) (int, error) {
	h.mu.Lock()
	h.calls = append(h.calls, uidsOf(ds))
	h.mu.Unlock()
	for _, d := range ds {
		if err := h.processOne(d); err != nil {
			return 0, err
		}
	}
	return len(ds), nil
}

func TestBatchIsProcessedAndFlaggedTogether(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	for i := range 5 {
		ts.appendMsg(t, "INBOX", testMessage(i))
	}
	h := &batchHandler{testHandler: newTestHandler(t)}
	opt := testOptions(ts)
	opt.AfterCommit = "seen"
	opt.BatchSize = 3
	r := start(t, opt, h)
	r.await(t, "processed", 5)
	h.mu.Lock()
	calls := fmt.Sprint(h.calls)
	h.mu.Unlock()
	if want := "[[1 2 3] [4 5]]"; calls != want {
		t.Errorf("Process calls = %s, want %s (one per FETCH batch)", calls, want)
	}
	if st := ts.status(t, "INBOX"); *st.NumUnseen != 0 {
		t.Errorf("unseen = %d, want 0", *st.NumUnseen)
	}
}

// A crash between a commit and its STORE leaves committed mail unflagged:
// the next connection flags it.
func TestAfterCommitReappliedOnConnect(t *testing.T) {
	for _, ac := range []string{"seen", "move:Processed"} {
		t.Run(ac, func(t *testing.T) {
			ts := newTestServer(t, serverOpts{})
			for i := range 3 {
				ts.appendMsg(t, "INBOX", testMessage(i))
			}
			h := newTestHandler(t)
			// UIDs 1 and 2 were committed before the "crash"; 3 is new.
			h.setWatermark("INBOX", ts.status(t, "INBOX").UIDValidity, 2)
			opt := testOptions(ts)
			opt.AfterCommit = ac
			r := start(t, opt, h)
			r.await(t, "processed", 3)
			r.await(t, "reapplied", 1)
			inbox, processed := ts.status(t, "INBOX"), ts.status(t, "Processed")
			switch ac {
			case "seen":
				if *inbox.NumUnseen != 0 {
					t.Errorf("unseen = %d, want 0", *inbox.NumUnseen)
				}
			default:
				if *inbox.NumMessages != 0 || *processed.NumMessages != 3 {
					t.Errorf("INBOX %d, Processed %d; want 0, 3", *inbox.NumMessages, *processed.NumMessages)
				}
			}
			if got := h.attemptedUIDs(); !slices.Equal(got, []uint32{3}) {
				t.Errorf("attempted = %v, want [3] (nothing processed twice)", got)
			}
		})
	}
}

// After an EXISTS the session asks for the new UIDs and their sizes in one
// UID FETCH, with no UID SEARCH, and still refuses oversized mail before
// downloading it.
func TestNewMailFetchesSizesDirectly(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	h := newTestHandler(t)
	opt := testOptions(ts)
	opt.Mode = "fast" // NOOP: every EXISTS is reported, with no race
	opt.FastInterval = 10 * time.Millisecond
	opt.MaxSize = 1000
	r := start(t, opt, h)
	r.await(t, "poll", 0)
	first := len(ts.proxy.lines())

	small := testMessage(1)
	big := append(testMessage(2), bytes.Repeat([]byte("x"), 50_000)...)
	u1 := ts.appendMsg(t, "INBOX", small)
	u2 := ts.appendMsg(t, "INBOX", big)
	r.await(t, "processed", u2)

	got := h.committedCopy()
	if len(got) != 2 || got[0].UID != u1 || got[0].TooLarge || got[1].UID != u2 || !got[1].TooLarge || got[1].Size != int64(len(big)) {
		t.Fatalf("committed = %+v, want uid %d spooled and uid %d too large (%d bytes)", got, u1, u2, len(big))
	}
	if n := ts.proxy.toClient.Load(); n >= int64(len(big)) {
		t.Errorf("server sent %d bytes, want fewer than the %d of the oversized message", n, len(big))
	}
	var fetches []string
	for _, l := range ts.proxy.lines()[first:] {
		if strings.Contains(l, "SEARCH") {
			t.Errorf("client sent %q after an EXISTS, want no UID SEARCH", l)
		}
		if strings.Contains(l, "FETCH") {
			fetches = append(fetches, l)
		}
	}
	// The sizes of 1:* and then the body of the one that fits.
	if len(fetches) != 2 || !strings.HasSuffix(fetches[0], "UID FETCH 1:* (UID RFC822.SIZE)") || !strings.Contains(fetches[1], fmt.Sprintf("UID FETCH %d ", u1)) {
		t.Errorf("FETCH commands = %q, want the sizes of 1:* then the body of %d", fetches, u1)
	}
}

// RFC 3501 section 6.4.8 on the new-mail path: "UID FETCH N:*" returns the
// highest UID even when it is below N; nothing may be delivered.
func TestUIDStarQuirkOnNewMail(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	h := newTestHandler(t)
	opt := testOptions(ts)
	opt.Mode = "fast"
	opt.FastInterval = 10 * time.Millisecond
	r := start(t, opt, h)
	r.await(t, "poll", 0)
	// The message is already committed (say by `mailbot ingest`) when the
	// server announces it.
	h.setWatermark("INBOX", ts.status(t, "INBOX").UIDValidity, 1)
	ts.appendMsg(t, "INBOX", testMessage(1))
	ts.proxy.awaitLine(t, "UID FETCH 2:* (UID RFC822.SIZE)")
	r.drain()
	r.await(t, "poll", 0) // the next NOOP: the round is over
	if got := h.attemptedUIDs(); len(got) != 0 {
		t.Fatalf("attempted = %v, want none", got)
	}
}

// In IDLE the session sends its UID FETCH right behind DONE, without
// waiting for the IDLE's tagged OK (RFC 3501 section 5.5): the proxy holds
// that OK back until the next command comes.
func TestIdlePipelinesDone(t *testing.T) {
	ts := newTestServer(t, serverOpts{pollIdle: true})
	ts.proxy.holdIdleOK.Store(true)
	h := newTestHandler(t)
	opt := testOptions(ts)
	opt.ResyncInterval = time.Hour // only an EXISTS ends this IDLE
	r := start(t, opt, h)
	r.await(t, "idle", 0)

	uid := ts.appendMsg(t, "INBOX", testMessage(1))
	r.await(t, "processed", uid)
	r.await(t, "idle", 0)
	if n := ts.proxy.heldTimeout.Load(); n != 0 {
		t.Errorf("IDLE OKs released only after %v: %d, want 0 (the client waited for the OK)", holdTimeout, n)
	}
	if n := ts.proxy.released.Load(); n != 1 {
		t.Errorf("IDLE OKs released by a pipelined command = %d, want 1", n)
	}
	lines := ts.proxy.lines()
	i := ts.proxy.awaitLine(t, "DONE")
	if i+1 >= len(lines) || !strings.HasSuffix(lines[i+1], fmt.Sprintf("UID FETCH %d:* (UID RFC822.SIZE)", uid)) {
		t.Errorf("client lines = %q, want DONE followed by UID FETCH %d:* (UID RFC822.SIZE)", lines, uid)
	}
	if got := h.committedUIDs(); !slices.Equal(got, []uint32{uid}) {
		t.Errorf("committed = %v, want [%d]", got, uid)
	}
}

// deferErr is what a handler returns for a message it leaves on the server.
type deferErr struct{ error }

func (deferErr) Deferred() bool { return true }

// deferHandler defers UID 2 while low is set, as the daemon does with a new
// report on a low disk: it moves its watermark past it and keeps the UID.
type deferHandler struct {
	*testHandler
	low  atomic.Bool
	held atomic.Bool
}

func (h *deferHandler) Deferred(mailbox string, uidValidity uint32) ([]uint32, bool, error) {
	if !h.held.Load() {
		return nil, false, nil
	}
	return []uint32{2}, !h.low.Load(), nil
}

func TestDeferredStaysOnServerAndIsFetchedAgain(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	for i := range 3 {
		ts.appendMsg(t, "INBOX", testMessage(i))
	}
	h := &deferHandler{testHandler: newTestHandler(t)}
	h.low.Store(true)
	h.processErr = func(d Delivery) error {
		if d.UID == 2 && h.low.Load() {
			h.held.Store(true)
			return deferErr{errors.New("disk low")}
		}
		if d.UID == 2 {
			h.held.Store(false)
		}
		return nil
	}
	opt := testOptions(ts)
	opt.AfterCommit = "move:Processed"
	r := start(t, opt, h)
	r.await(t, "deferred", 2)
	r.await(t, "processed", 3)
	r.stop(t)
	// A new connection re-applies the move to everything below the
	// watermark: never to the held message.
	r = start(t, opt, h)
	r.await(t, "idle", 0)
	if inbox := ts.status(t, "INBOX"); *inbox.NumMessages != 1 {
		t.Errorf("INBOX holds %d messages while 2 is held, want 1 (the held one)", *inbox.NumMessages)
	}
	h.low.Store(false)
	r.s.Poke()
	r.await(t, "processed", 2)
	if inbox, processed := ts.status(t, "INBOX"), ts.status(t, "Processed"); *inbox.NumMessages != 0 || *processed.NumMessages != 3 {
		t.Errorf("INBOX %d, Processed %d after the retry; want 0, 3", *inbox.NumMessages, *processed.NumMessages)
	}
	if got := h.attemptedUIDs(); !slices.Equal(got, []uint32{1, 2, 3, 2}) {
		t.Errorf("attempted = %v, want [1 2 3 2]", got)
	}
}

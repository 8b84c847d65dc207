// Package inbox owns the IMAP intake session of the daemon: it connects,
// authenticates, selects the watched mailbox, checks UIDVALIDITY, catches up
// by UID and then waits for new mail with IDLE (or by polling), streaming each
// new message's BODY.PEEK[] literal straight into the daemon's spool. The
// daemon commits every message together with the UID watermark; this package
// never stores state of its own.
//
// It implements the client side of IMAP4rev1 (RFC 3501) and IMAP4rev2
// (RFC 9051), IDLE (RFC 2177), MOVE (RFC 6851), UIDPLUS (RFC 4315) and SASL
// authentication (RFC 4422), on top of github.com/emersion/go-imap/v2.
//
// go-imap has no response deadline: every command is time-boxed by a watchdog
// that closes the connection, and the outer loop reconnects with backoff.
package inbox

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
)

// Sentinel errors.
var (
	// ErrTimeout means a command did not complete within its watchdog
	// deadline; the connection was closed (temporary: the session reconnects).
	ErrTimeout = errors.New("inbox: command timed out")
	// ErrMissingUID means a FETCH response did not carry a UID that was asked
	// for (temporary: the next round retries from the watermark).
	ErrMissingUID = errors.New("inbox: message missing from FETCH response")
	// ErrUnsafeMove means AfterCommit asks for a move but the server has
	// neither MOVE nor UIDPLUS: the fallback would EXPUNGE every \Deleted
	// message in the mailbox, so the message is left in place (permanent).
	ErrUnsafeMove = errors.New("inbox: server has neither MOVE nor UIDPLUS")
	// ErrInvalidOptions is returned by Run for a configuration it cannot use.
	ErrInvalidOptions = errors.New("inbox: invalid options")
)

// Handler is the daemon side of the session.
type Handler interface {
	// Watermark returns the committed state of the mailbox (zero values when new).
	Watermark(mailbox string) (uidValidity, lastUID uint32, err error)
	// Spool consumes r (one message's literal; size is its length, which is
	// RFC822.SIZE on a compliant server) and keeps it; returns a token (the
	// content hash). It is called while the FETCH is streaming: it must not
	// call back into the session. The bytes need not be durable yet: Process
	// makes them so before it commits (one flush for a whole batch).
	Spool(r io.Reader, size int64) (token string, err error)
	// Process does the slow work for ds, one FETCH batch in UID order, and
	// commits each message together with the watermark (mailbox,
	// uidValidity, uid). It returns n, how many of ds from the first are
	// committed. A nil error with n < len(ds) means "call again with the
	// rest" (a handler may commit fewer than all, even one at a time). A
	// non-nil error is about ds[n]: marked temporary (IsTemporary), the
	// session stops and retries later; any other error the handler has
	// already recorded (quarantine) and the session goes on after ds[n].
	Process(ctx context.Context, ds []Delivery) (n int, err error)
}

// Deferrer is an optional part of a Handler. Process may leave a message on
// the server unprocessed by returning, for ds[n], an error for which
// IsDeferred is true: the session applies no after-commit action to it and
// goes on with ds[n+1:]. The handler keeps the UID (and may move its
// watermark past it); Deferred tells the session, every round, which UIDs at
// or below the watermark it holds, so that they are never flagged or moved
// when the after-commit action is re-applied, and whether to fetch them
// again now.
type Deferrer interface {
	Deferred(mailbox string, uidValidity uint32) (uids []uint32, retry bool, err error)
}

// IsDeferred reports whether err (or an error it wraps) implements
// interface{ Deferred() bool } and says true.
func IsDeferred(err error) bool {
	var d interface{ Deferred() bool }
	return errors.As(err, &d) && d.Deferred()
}

// Delivery is one message handed to Handler.Process.
type Delivery struct {
	Mailbox     string
	UIDValidity uint32
	UID         uint32
	Size        int64
	Token       string // from Spool; "" when TooLarge
	TooLarge    bool   // RFC822.SIZE over MaxSize: not downloaded; Process records it without raw (it stays on the server)
}

// Options configures a Session. Zero values get the documented defaults.
type Options struct {
	Addr      string
	TLS       string // "implicit", "starttls", "none"
	TLSConfig *tls.Config
	SASL      func() (sasl.Client, error) // called for every login (tokens refresh)
	Mailbox   string                      // default "INBOX"
	// Mode is "idle" (default; falls back to poll without the IDLE
	// capability), "poll", or "fast" (NOOP every FastInterval: Dovecot delays
	// IDLE notifications by 500 ms).
	Mode         string
	PollInterval time.Duration // default 60s
	FastInterval time.Duration // default 50ms
	// ResyncInterval: IDLE is broken and a UID search done at least this
	// often; default 5m.
	ResyncInterval time.Duration
	// CommandTimeout is the watchdog for every command (default 60s); a body
	// fetch gets CommandTimeout + Size/(64 KiB/s).
	CommandTimeout time.Duration
	MaxSize        int64 // default 64 MiB
	BatchSize      int   // UIDs fetched per FETCH, default 50
	// AfterCommit is "" (leave), "seen" (STORE +FLAGS.SILENT \Seen) or
	// "move:<Folder>".
	AfterCommit            string
	BackoffMin, BackoffMax time.Duration // reconnect backoff with full jitter; defaults 1s, 5m
	Logger                 *slog.Logger
	Events                 chan<- Event // optional, non-blocking sends
}

// Event reports progress, for tests and metrics. Kind is one of "connected",
// "idle", "poll", "fetched", "processed", "deferred", "error", "reconnect",
// "uidvalidity", "reapplied", "resumed" (a round succeeded after an
// "error" that stopped the round before it).
//
// An "error" with Ended set means the session is gone (connection lost,
// login refused): a "reconnect" follows. Without Ended the session is
// still logged in: a message was quarantined (UID set, not IsTemporary) or
// the round stopped (a temporary handler or store error such as a full
// disk, a NO to a command) and is retried on the same connection.
type Event struct {
	Kind    string
	Mailbox string
	UID     uint32
	Err     error
	Ended   bool
}

// Session is the intake of one mailbox. Run it once.
type Session struct {
	opt  Options
	h    Handler
	log  *slog.Logger
	poke chan struct{}

	// validityEvent is the server UIDVALIDITY for which an "uidvalidity"
	// event was last emitted (only touched by the Run goroutine).
	validityEvent uint32
}

// New returns a session; nothing happens until Run.
func New(opt Options, h Handler) *Session {
	if opt.Mailbox == "" {
		opt.Mailbox = "INBOX"
	}
	if opt.Mode == "" {
		opt.Mode = "idle"
	}
	setDefault(&opt.PollInterval, 60*time.Second)
	setDefault(&opt.FastInterval, 50*time.Millisecond)
	setDefault(&opt.ResyncInterval, 5*time.Minute)
	setDefault(&opt.CommandTimeout, 60*time.Second)
	setDefault(&opt.BackoffMin, time.Second)
	setDefault(&opt.BackoffMax, 5*time.Minute)
	if opt.BackoffMax < opt.BackoffMin {
		opt.BackoffMax = opt.BackoffMin
	}
	if opt.MaxSize <= 0 {
		opt.MaxSize = 64 << 20
	}
	if opt.BatchSize <= 0 {
		opt.BatchSize = 50
	}
	log := opt.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Session{opt: opt, h: h, log: log, poke: make(chan struct{}, 1)}
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

// TemporaryError marks a failure worth retrying later (store I/O, disk full):
// nothing was committed and the message stays unprocessed.
type TemporaryError struct{ Err error }

func (e *TemporaryError) Error() string   { return "temporary: " + e.Err.Error() }
func (e *TemporaryError) Unwrap() error   { return e.Err }
func (e *TemporaryError) Temporary() bool { return true }

// IsTemporary reports whether err (or an error it wraps) implements
// interface{ Temporary() bool } and says true.
func IsTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// Poke wakes the session now (e.g. after `mailbot ingest`, or in tests): it
// breaks IDLE or the poll wait and runs a full resync. It never blocks.
func (s *Session) Poke() {
	select {
	case s.poke <- struct{}{}:
	default:
	}
}

func (s *Session) validate() error {
	o := &s.opt
	switch {
	case s.h == nil:
		return fmt.Errorf("%w: nil handler", ErrInvalidOptions)
	case o.Addr == "":
		return fmt.Errorf("%w: empty address", ErrInvalidOptions)
	case o.SASL == nil:
		return fmt.Errorf("%w: no SASL client", ErrInvalidOptions)
	}
	switch o.TLS {
	case "implicit", "starttls", "none":
	default:
		return fmt.Errorf("%w: tls mode %q", ErrInvalidOptions, o.TLS)
	}
	switch o.Mode {
	case "idle", "poll", "fast":
	default:
		return fmt.Errorf("%w: mode %q", ErrInvalidOptions, o.Mode)
	}
	if ac := o.AfterCommit; ac != "" && ac != "seen" && (!strings.HasPrefix(ac, "move:") || ac == "move:") {
		return fmt.Errorf("%w: after-commit %q", ErrInvalidOptions, ac)
	}
	return nil
}

// Run keeps the session alive until ctx is done, then returns nil. Connection
// and server errors never end it: it reconnects with exponential backoff and
// full jitter, reset after a healthy session. It returns an error only for
// invalid options. Stopping waits for the message in hand (its commit and
// flag), unless abort ends too: then the connection is closed at once.
func (s *Session) Run(ctx, abort context.Context) error {
	if err := s.validate(); err != nil {
		return err
	}
	attempt := 0
	for {
		healthy, err := s.runOnce(ctx, abort)
		if ctx.Err() != nil {
			return nil
		}
		if healthy {
			attempt = 0
		}
		s.log.Warn("inbox: session ended, reconnecting", "mailbox", s.opt.Mailbox, "err", err)
		s.event(Event{Kind: "error", Err: err, Ended: true})
		delay := backoff(attempt, s.opt.BackoffMin, s.opt.BackoffMax, rand.Int64N)
		attempt++
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		s.event(Event{Kind: "reconnect"})
	}
}

// runOnce runs one connection and converts a panic into an error.
func (s *Session) runOnce(ctx, abort context.Context) (healthy bool, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("inbox: panic: %v\n%s", v, debug.Stack())
		}
	}()
	return s.session(ctx, abort)
}

// backoff returns the delay before reconnect attempt n (0-based): full
// jitter, uniform in [0, min(max, min*2^n)).
func backoff(n int, lo, hi time.Duration, randN func(int64) int64) time.Duration {
	d := hi
	if n < 32 {
		if c := lo << n; c > 0 && c < hi {
			d = c
		}
	}
	if d <= 0 {
		return 0
	}
	return time.Duration(randN(int64(d)))
}

// event sends e without blocking.
func (s *Session) event(e Event) {
	if s.opt.Events == nil {
		return
	}
	e.Mailbox = s.opt.Mailbox
	select {
	case s.opt.Events <- e:
	default:
	}
}

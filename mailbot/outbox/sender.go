package outbox

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"mailbot/mailbot/clock"
	"mailbot/store"
)

// Sender sends what the outbox holds, in due order, over one reused SMTP
// connection. Each item is sent with the same bytes and Message-ID on every
// try: 4xx and network errors are retried with backoff, 5xx fails the item
// with the reason on its case. A crash between the server's 250 and marking
// the item sent makes at most one duplicate, with the same Message-ID.
// While the process lives, an outcome the store refuses to record (a full
// disk) is kept in memory and only its record is retried: the mail is never
// sent again for it.
type Sender struct {
	Store  *store.Store
	Client *SMTPClient
	// Clock times Run's wait until the next item falls due (nil: the wall
	// clock): due times and backoffs are in its time. Now defaults to its Now.
	Clock  *clock.Clock
	Now    func() time.Time
	Logger *slog.Logger
	// Fault is a test hook: a non-nil error at "after-send" stops as a crash
	// between the send and marking it sent would.
	Fault func(point string) error
	// GiveUp is how long an item may keep failing temporarily before it is
	// failed for good; default five days (RFC 5321 section 4.5.4.1 suggests
	// 4-5 days).
	GiveUp time.Duration
	// OnResult, when set, is told each attempt's outcome: "sent",
	// "deferred" or "failed" (metrics).
	OnResult func(state string)
	// OnAttempt, when set, is told the SMTP outcome of each attempt (nil:
	// the server took the mail), for the health checks.
	OnAttempt func(err error)

	// update is a test hook: the store's Update through which an
	// attempt's outcome is recorded (nil: Store.Update). A test makes the
	// real store refuse a commit with it, as a full disk does.
	update func(fn func(*store.Tx) error) error

	once sync.Once
	wake chan struct{}
	// unmarked holds, by item ID, the attempts whose outcome the store
	// refused to record.
	mu       sync.Mutex
	unmarked map[uint64]outcome
}

// outcome is an attempt's result to record: the item as it now is and the
// event for its case (Kind empty: none).
type outcome struct {
	it *store.OutboxItem
	ev store.Event
}

// Backoff is the wait after the n-th failed attempt: 1m, 2m, 4m ... at most 1h.
func Backoff(n int) time.Duration {
	d := time.Minute << min(n-1, 6)
	return min(d, time.Hour)
}

func (s *Sender) init() {
	s.once.Do(func() {
		s.wake = make(chan struct{}, 1)
		s.unmarked = make(map[uint64]outcome)
		if s.Now == nil {
			s.Now = s.Clock.Now
		}
		if s.Logger == nil {
			s.Logger = slog.Default()
		}
		if s.update == nil {
			s.update = s.Store.Update
		}
		if s.GiveUp == 0 {
			s.GiveUp = 5 * 24 * time.Hour
		}
	})
}

// Wake makes Run look at the outbox now. It never blocks.
func (s *Sender) Wake() {
	s.init()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// storeRetry is how long Run waits, on the wall clock, after the store
// failed.
const storeRetry = 10 * time.Second

// Run sends until stop is done; the item in hand is finished first, unless
// abort ends too: then its SMTP exchange is cut (it stays queued and is sent
// again later, with the same Message-ID).
func (s *Sender) Run(stop, abort context.Context) error {
	s.init()
	for {
		next, err := s.safeRunOnce(stop, abort)
		var timer <-chan time.Time
		var t *time.Timer
		switch {
		case err != nil:
			// The store's trouble (a full disk) is tried again after a
			// wall pause: it is not a due time of the daemon's clock.
			s.Logger.Error("outbox", "err", err)
			t = time.NewTimer(storeRetry)
			timer = t.C
		case !next.IsZero():
			t = s.Clock.NewTimer(max(next.Sub(s.Now()), 0))
			timer = t.C
		}
		select {
		case <-stop.Done():
			return nil
		case <-s.wake:
		case <-timer:
		}
		if t != nil {
			t.Stop()
		}
	}
}

func (s *Sender) safeRunOnce(stop, abort context.Context) (next time.Time, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.Logger.Error("panic in outbox sender", "err", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("outbox: panic: %v", p)
		}
	}()
	return s.runOnce(stop, abort)
}

// RunOnce sends every item due now and returns when the next one falls due
// (zero when none waits). When ctx ends it takes no new item; the one in
// hand is finished (bounded by the client's timeout).
func (s *Sender) RunOnce(ctx context.Context) (time.Time, error) {
	return s.runOnce(ctx, context.Background())
}

func (s *Sender) runOnce(ctx, abort context.Context) (time.Time, error) {
	s.init()
	// Outcomes the store refused before are recorded first: their items
	// are still due in the store, and sending them again would duplicate.
	s.mu.Lock()
	ids := slices.Sorted(maps.Keys(s.unmarked))
	refused := make([]outcome, len(ids))
	for i, id := range ids {
		refused[i] = s.unmarked[id]
	}
	s.mu.Unlock()
	for _, o := range refused {
		if err := s.mark(o); err != nil {
			return time.Time{}, err
		}
	}
	for ctx.Err() == nil {
		var due []*store.OutboxItem
		err := s.Store.View(func(tx *store.Tx) error {
			var err error
			due, err = tx.DueOutbox(s.Now(), 16)
			return err
		})
		if err != nil {
			return time.Time{}, err
		}
		if len(due) == 0 {
			break
		}
		for _, it := range due {
			if ctx.Err() != nil {
				break
			}
			if err := s.send(abort, it); err != nil {
				return time.Time{}, err
			}
		}
	}
	var next time.Time
	err := s.Store.View(func(tx *store.Tx) error {
		if t, ok := tx.NextDue(); ok {
			next = t
		}
		return nil
	})
	return next, err
}

// send tries one item and records the outcome. The error is the store's or
// the fault hook's; SMTP failures are outcomes, not errors.
func (s *Sender) send(abort context.Context, it *store.OutboxItem) error {
	log := s.Logger.With("case", it.CaseID, "msgid", it.MessageID)
	// Stopping means taking no new work: a send in hand is finished (the
	// client's own timeout bounds it), so the outbox stays consistent;
	// abort cuts it (a temporary failure: the item is tried again).
	sendErr := s.Client.Send(abort, it.From, it.To, bytes.NewReader(it.Raw), int64(len(it.Raw)))
	if s.Fault != nil {
		if err := s.Fault("after-send"); err != nil {
			return err
		}
	}
	if s.OnAttempt != nil {
		s.OnAttempt(sendErr)
	}
	now := s.Now()
	it.Attempts++
	ev := store.Event{Time: now, Actor: "bot"}
	switch {
	case sendErr == nil:
		it.State, it.SentAt, it.LastError = "sent", now, ""
		ev.Kind, ev.Detail = "outbox.sent", fmt.Sprintf("%s <%s> to %v", it.Kind, it.MessageID, it.To)
		log.Info("sent", "kind", it.Kind)
	case IsTemporary(sendErr) && now.Sub(it.Created) < s.GiveUp:
		it.LastError = sendErr.Error()
		it.NextAttempt = now.Add(Backoff(it.Attempts))
		log.Warn("send deferred", "err", sendErr, "attempt", it.Attempts, "next", it.NextAttempt)
		ev = store.Event{} // a retry is not news on the case
	default:
		it.State, it.LastError = "failed", sendErr.Error()
		ev.Kind, ev.Detail = "outbox.failed", fmt.Sprintf("%s <%s> to %v: %v", it.Kind, it.MessageID, it.To, sendErr)
		log.Error("send failed", "err", sendErr, "attempt", it.Attempts)
	}
	if s.OnResult != nil {
		switch {
		case it.State == "queued":
			s.OnResult("deferred")
		default:
			s.OnResult(it.State)
		}
	}
	return s.mark(outcome{it: it, ev: ev})
}

// mark records an attempt's outcome. When the store refuses, the outcome is
// kept to be recorded again at the next round, and the mail is not sent
// again: a duplicate is only allowed after a crash in between.
func (s *Sender) mark(o outcome) error {
	err := s.update(func(tx *store.Tx) error {
		if err := tx.PutOutbox(o.it); err != nil {
			return err
		}
		if o.ev.Kind == "" || o.it.CaseID == 0 {
			return nil
		}
		return tx.AppendEvent(o.it.CaseID, o.ev)
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.unmarked[o.it.ID] = o
		s.Logger.Error("outbox mark failed", "case", o.it.CaseID, "msgid", o.it.MessageID, "state", o.it.State, "err", err)
		return err
	}
	delete(s.unmarked, o.it.ID)
	return nil
}

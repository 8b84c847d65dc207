package outbox

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"mailbot/mailbot/clock"
	"mailbot/mailbot/devmail"
)

// TestSenderScaledClock: on a scaled clock (a simulated hour is a wall
// second) Run waits next.Sub(now)/scale of wall time: an item due in a
// simulated half hour is tried about half a wall second later, and its
// retry after a 451 waits the 1m backoff in simulated time; the server
// gets it not before the due time plus the backoff, in simulated time.
// Without a Now the sender reads the clock's.
func TestSenderScaledClock(t *testing.T) {
	e := newSenderEnv(t)
	epoch := time.Now()
	c, err := clock.New(senderT0, epoch, 3600)
	if err != nil {
		t.Fatalf("clock.New() = %v", err)
	}
	e.s.Clock, e.s.Now = c, nil
	results := make(chan string, 4)
	e.s.OnResult = func(state string) { results <- state }
	e.srv.FailNext(1, devmail.Fault{Code: 451, Message: "greylisted"})
	due := c.Now().Add(30 * time.Minute)
	it := e.enqueue(t, "scaled", due, false)
	startRun(t, e)
	bound := time.NewTimer(20 * time.Second)
	defer bound.Stop()
	for _, want := range []string{"deferred", "sent"} {
		select {
		case got := <-results:
			if got != want {
				t.Fatalf("OnResult = %s, want %s", got, want)
			}
		case <-bound.C:
			t.Fatalf("no %s attempt within 20 wall seconds: the wait is not scaled", want)
		}
	}
	e.checkSent(t, it)
	at := senderT0.Add(c.Sim(e.srv.Sent()[0].At.Sub(epoch)))
	if want := due.Add(Backoff(1)); at.Before(want) {
		t.Errorf("server got the item at simulated %v, want not before %v (due, then the 1m backoff)", at, want)
	}
}

// errorsHandler is a slog.Handler that sends each error record's message.
type errorsHandler struct{ c chan string }

func (h errorsHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h errorsHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		select {
		case h.c <- r.Message:
		default:
		}
	}
	return nil
}
func (h errorsHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h errorsHandler) WithGroup(string) slog.Handler      { return h }

// TestSenderStoreErrorWaitsWallTime: a failing store (a full disk) is
// tried again after a wall pause, not a simulated one: on a scaled clock
// the sender must not spin on the error, logging it thousands of times.
func TestSenderStoreErrorWaitsWallTime(t *testing.T) {
	e := newSenderEnv(t)
	c, err := clock.New(senderT0, time.Now(), 3600)
	if err != nil {
		t.Fatalf("clock.New() = %v", err)
	}
	errs := make(chan string, 1000)
	e.s.Clock, e.s.Now, e.s.Logger = c, nil, slog.New(errorsHandler{errs})
	e.st.Close() // every transaction fails from now on
	startRun(t, e)
	select {
	case <-errs:
	case <-time.After(10 * time.Second):
		t.Fatal("Run() logged no error on a closed store")
	}
	// The next try is seconds away on the wall clock; on the scaled one it
	// would be 3 ms away, about a hundred tries in this bound.
	bound := time.NewTimer(300 * time.Millisecond)
	defer bound.Stop()
	again := 0
	for {
		select {
		case <-errs:
			again++
			continue
		case <-bound.C:
		}
		break
	}
	if again > 1 {
		t.Errorf("Run() logged the store error %d more times within 300 ms of wall time, want a wall pause between tries", again)
	}
}

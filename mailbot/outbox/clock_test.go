package outbox

import (
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

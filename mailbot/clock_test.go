package mailbot_test

import (
	"context"
	"testing"
	"time"

	"mailbot/mailbot"
	simclock "mailbot/mailbot/clock"
	"mailbot/mailbot/health"
	"mailbot/mailbot/metrics"
	"mailbot/store"
)

// scaledStart and scaledRate are the simulated clock of these tests: a
// simulated hour is a wall second.
var scaledStart = time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC)

const scaledRate = 3600

// withScaledClock runs the daemon on a scaled clock anchored at epoch (no
// injected Now) and sends the simulated time of every turn of the jobs'
// loop to beats.
func withScaledClock(t *testing.T, epoch time.Time, beats chan<- time.Time) option {
	c, err := simclock.New(scaledStart, epoch, scaledRate)
	if err != nil {
		t.Fatalf("clock.New() = %v", err)
	}
	return func(_ *harness, o *mailbot.Options) {
		o.Now, o.Clock = nil, c
		o.Heartbeat = func() {
			select {
			case beats <- c.Now():
			default:
			}
		}
	}
}

// simAt is the simulated time at wall time w on the tests' scaled clock.
func simAt(epoch, w time.Time) time.Time {
	return scaledStart.Add(time.Duration(float64(w.Sub(epoch)) * scaledRate))
}

// TestScaledClockJobs: on a scaled clock the jobs' loop turns every
// simulated minute (five turns within a wall bound that a wall-clock
// minute ticker would miss by far, and never faster than a simulated
// minute), and the IMAP health check judges the resync bound, a wall
// duration, in simulated time: a live session is not reported stale.
func TestScaledClockJobs(t *testing.T) {
	epoch := time.Now()
	beats := make(chan time.Time, 64)
	m := metrics.New(metrics.Options{})
	h := newHarness(t, "[health]\nselftest_interval = \"0s\"\n", withScaledClock(t, epoch, beats), withMetrics(m))
	h.run()
	h.waitEvent("connected")
	for len(beats) > 0 {
		<-beats // turns before the session was up
	}
	bound := time.NewTimer(20 * time.Second)
	defer bound.Stop()
	var turns []time.Time
	for len(turns) < 5 {
		select {
		case at := <-beats:
			turns = append(turns, at)
		case <-bound.C:
			t.Fatalf("the jobs' loop turned %d times in 20 wall seconds (%v), want 5 within 5 simulated minutes", len(turns), turns)
		}
	}
	// Four ticks; the first turn may have run up to one tick late.
	if span := turns[4].Sub(turns[0]); span < 3*time.Minute {
		t.Errorf("5 turns of the jobs' loop took %v simulated, want at least 3m (one a minute): %v", span, turns)
	}
	if why, _, bad := m.Problem(health.CheckIMAP); bad {
		t.Errorf("health problem %q on a live session, want none: the resync bound must be in simulated time", why)
	}
}

// TestScaledClockSender: the daemon's sender waits for an item due in a
// simulated hour a wall second (not an hour), and not less.
func TestScaledClockSender(t *testing.T) {
	epoch := time.Now()
	h := newHarness(t, "[health]\nselftest_interval = \"0s\"\n", withScaledClock(t, epoch, make(chan time.Time)))
	h.run()
	due := simAt(epoch, time.Now()).Add(time.Hour)
	it := &store.OutboxItem{Kind: "ack", MessageID: "scaled@example.org", From: botAddr, To: []string{ada},
		Raw: msg("due in a simulated hour", "From", botAddr, "To", ada, "Subject", "later"), NextAttempt: due, Created: scaledStart}
	if err := h.store.Update(func(tx *store.Tx) error { return tx.Enqueue(it) }); err != nil {
		t.Fatalf("Enqueue() = %v", err)
	}
	wait, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sent, err := h.srv.WaitSent(wait, 1)
	if err != nil {
		t.Fatalf("WaitSent() = %v, want the item sent about a wall second later", err)
	}
	if at := simAt(epoch, sent[0].At); at.Before(due) {
		t.Errorf("item due at %v sent at simulated %v, want not before", due, at)
	}
}

package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"mailbot/mailbot"
	"mailbot/mailbot/devmail"
	"mailbot/policy"
	"mailbot/store"
)

// demoClock is the demo's clock: the daemon reads it (mailbot.Options.Now)
// and demoReminder moves it forward, so a day of reminders takes a moment.
type demoClock struct {
	mu sync.Mutex
	t  time.Time
}

func newDemoClock(t time.Time) *demoClock { return &demoClock{t: t} }

// Now is the demo's current time.
func (c *demoClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *demoClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// demoStep is how far demoReminder moves the clock between two scheduler
// runs: less than remind.DefaultCatchUpAfter, so the walk is no catch-up.
const demoStep = 30 * time.Minute

// errNoReminder: the walk queued no reminder, most likely for want of a team.
var errNoReminder = errors.New("no reminder was queued: the demo configuration needs a [[team]] of two")

// demoReminder shows the scheduler (issue 6): it moves the demo's clock
// forward in half-hour steps to the last working moment before the first
// deadline of the demo's cases, running the scheduler at each step as the
// daemon would every minute, lists what it queued, and prints the first
// reminder as the SMTP sink received it. The daemon (with its sender) must
// be running with clock as its Now.
func demoReminder(ctx context.Context, out io.Writer, d *mailbot.Daemon, st *store.Store, p *policy.Policy, clock *demoClock, srv *devmail.Server) error {
	loc := p.Calendar.Location()
	start := clock.Now()
	var due time.Time
	var ref, name string
	var lastID uint64
	err := st.View(func(tx *store.Tx) error {
		err := tx.OpenCases(func(c *store.Case) bool {
			for _, cl := range c.Clocks {
				cm, ok := p.Commitment(cl.Name)
				if !ok || len(cm.Remind) == 0 || cl.State != policy.StateRunning || !cl.Due.After(start) {
					continue
				}
				if due.IsZero() || cl.Due.Before(due) {
					due, ref, name = cl.Due, c.Ref, cl.Name
				}
			}
			return true
		})
		if err != nil {
			return err
		}
		return tx.OutboxMeta(func(o *store.OutboxItem) bool { lastID = max(lastID, o.ID); return true })
	})
	if err != nil {
		return err
	}
	if due.IsZero() {
		return errors.New("no running deadline to remind of")
	}
	target := lastWorkingBefore(p.Calendar, due, start)
	fmt.Fprintf(out, "\n== the scheduler: the clock moves from %s to %s,\n"+
		"   just before the %q deadline of %s (%s)\n",
		start.In(loc).Format("Mon 15:04"), target.In(loc).Format("Mon 2 Jan 15:04"), name, ref, due.In(loc).Format("Mon 2 Jan 15:04 MST"))
	sentBefore := len(srv.Sent())
	for clock.Now().Before(target) {
		clock.Advance(min(demoStep, target.Sub(clock.Now())))
		if _, err := d.RemindNow(clock.Now()); err != nil {
			return err
		}
	}

	// What the walk (and the daemon's own ticks meanwhile) queued.
	var items []*store.OutboxItem
	err = st.View(func(tx *store.Tx) error {
		return tx.OutboxMeta(func(o *store.OutboxItem) bool {
			if o.ID > lastID {
				items = append(items, o)
			}
			return true
		})
	})
	if err != nil {
		return err
	}
	var first *store.OutboxItem
	for _, it := range items {
		fmt.Fprintf(out, "  %s  %-16s to %s\n", it.Created.In(loc).Format("Mon 15:04"), it.Kind, strings.Join(it.To, ", "))
		if first == nil && it.Kind == "remind" {
			first = it
		}
	}
	if first == nil {
		return errNoReminder
	}
	wait, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	sent, err := srv.WaitSent(wait, sentBefore+len(items))
	if err != nil {
		return fmt.Errorf("waiting for the scheduler's mail: %w", err)
	}
	for _, m := range sent {
		if messageID(m.Data) == first.MessageID {
			fmt.Fprintf(out, "\n--- the first reminder, as received, to %s\n%s", strings.Join(m.To, ", "), readable(m.Data))
			return nil
		}
	}
	return fmt.Errorf("the reminder <%s> did not reach the SMTP sink", first.MessageID)
}

// lastWorkingBefore is the last moment in working hours, on the quarter
// hour counted back from a minute before due, that is after from; due minus
// a minute when there is none.
func lastWorkingBefore(cal *policy.Calendar, due, from time.Time) time.Time {
	t := due.Add(-time.Minute)
	for i := 0; i < 31*24*4 && t.After(from); i++ {
		if cal.InWorkingHours(t) {
			return t
		}
		t = t.Add(-15 * time.Minute)
	}
	return due.Add(-time.Minute)
}

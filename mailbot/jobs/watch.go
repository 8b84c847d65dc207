package jobs

// Health checks, the alarm mail and the delivery self-test (issue 16). The
// rules live in mailbot/health and mailbot/probe; this file feeds them from
// the store and queues their mail. They run on the scheduler's loop, once a
// minute, and through CheckHealth in tests.

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-message/mail"

	"mailbot/mailbot/inbox"
	"mailbot/mailbot/outmail"
	"mailbot/mailbot/probe"
	"mailbot/policy"
	"mailbot/store"
)

// checkSelftest is the health check a lost probe sets.
const checkSelftest = "selftest"

// metaAlarm + check holds the start (RFC 3339) of the outage the on-duty
// members were told about; "" or absent: none. It makes one alarm per
// outage, across restarts.
const metaAlarm = "alarm."

// CheckHealth runs one round of the health checks, the alarm and the
// self-test at the daemon's clock (the main loop calls it every minute).
func (j *Jobs) CheckHealth(ctx context.Context) {
	now := j.Now()
	var due time.Time
	err := j.Store.View(func(tx *store.Tx) error {
		if t, ok := tx.NextDue(); ok && !t.After(now) {
			due = t
		}
		return nil
	})
	if err != nil {
		j.Log.Error("health", "err", err)
	}
	j.Health.Outbox(due)
	j.Health.CheckDisk()
	if err := j.probeOnce(ctx, now); err != nil {
		j.Log.Error("selftest", "err", err)
	}
	if _, err := j.alarmOnce(now); err != nil {
		j.Log.Error("alarm", "err", err)
	}
}

// outage is one thing the alarm watches.
type outage struct {
	check   string
	what    string    // what fails, for the mail
	since   time.Time // when it started failing
	failing bool      // failing long enough to alarm
	working bool      // positively working again (not merely unknown)
}

func (j *Jobs) outages(tx *store.Tx, now time.Time) ([]outage, error) {
	why, since, failing := j.Health.IMAPFailing()
	imap := outage{check: "imap", what: "reading the mailbox " + j.Config.IMAP.Mailbox + " on " + j.Config.IMAP.Addr() + ": " + why,
		since: since, working: !failing, failing: failing && now.Sub(since) >= j.Config.Health.AlarmAfter.Duration}
	r, ok, err := probe.Latest(tx)
	if err != nil {
		return nil, err
	}
	self := outage{check: checkSelftest, since: r.Queued, failing: ok && r.Lost, working: ok && !r.Arrived.IsZero(),
		what: fmt.Sprintf("the self-test mail sent to %s through %s at %s did not arrive within %s",
			j.Config.Address, j.Config.SMTP.Addr(), r.Queued.UTC().Format(time.RFC3339), j.Config.Health.SelftestTimeout.Duration)}
	return []outage{imap, self}, nil
}

// alarmOnce mails both on-duty members once when an outage is long enough
// and once when it is over, and records that in the same transaction.
func (j *Jobs) alarmOnce(now time.Time) (int, error) {
	act := func(tx *store.Tx, write bool) (int, error) {
		outs, err := j.outages(tx, now)
		if err != nil {
			return 0, err
		}
		n := 0
		q := j.Out.NewQueue()
		for _, o := range outs {
			told, _ := tx.Meta(metaAlarm + o.check)
			var subject, body, mark string
			switch {
			case told == "" && o.failing:
				mark = o.since.UTC().Format(time.RFC3339)
				subject = fmt.Sprintf("mailbot alarm: %s failing since %s", o.check, mark)
				body = fmt.Sprintf("mailbot for %s has a problem that needs a person.\n\nWhat fails: %s\nSince: %s\n\n"+
					"Until it is fixed, reports sent to %s may not be read. /healthz lists every problem, the log has the details.\n"+
					"You get one more mail when it works again.\n", j.Config.Address, o.what, mark, j.Config.Address)
			case told != "" && o.working:
				subject = fmt.Sprintf("mailbot recovered: %s works again", o.check)
				body = fmt.Sprintf("mailbot for %s: %s works again at %s (failing since %s).\n", j.Config.Address, o.check,
					now.UTC().Format(time.RFC3339), told)
			default:
				continue
			}
			if !write {
				n++
				continue
			}
			for _, m := range j.Out.TeamRecipients(policy.RemindOnDuty, nil, now) {
				q.Add(outmail.Mail{Kind: "alarm", Generated: true, CaseRef: "alarm", To: &mail.Address{Name: m.Name, Address: m.Address},
					Subject: subject, Body: body})
				n++
			}
			j.Log.Warn("alarm", "check", o.check, "subject", subject, "mails", n)
			if err := tx.SetMeta(metaAlarm+o.check, mark); err != nil {
				return n, err
			}
		}
		if _, err := q.Flush(tx); err != nil {
			return n, err
		}
		return n, nil
	}
	// Most minutes have nothing to say: look first under the read lock.
	var n int
	err := j.Store.View(func(tx *store.Tx) (err error) { n, err = act(tx, false); return err })
	if err != nil || n == 0 {
		return 0, err
	}
	err = j.Store.Update(func(tx *store.Tx) (err error) { n, err = act(tx, true); return err })
	if err != nil {
		return 0, err
	}
	return n, nil
}

// probeOnce moves the periodic self-test on: a probe that arrived is
// measured and removed from the mailbox, one overdue is declared lost, and
// a new one is queued every selftest_interval.
func (j *Jobs) probeOnce(ctx context.Context, now time.Time) error {
	h := j.Config.Health
	if h.SelftestInterval.Duration <= 0 {
		return nil
	}
	var r probe.Record
	var ok bool
	if err := j.Store.View(func(tx *store.Tx) (err error) { r, ok, err = probe.Latest(tx); return err }); err != nil {
		return err
	}
	switch {
	case ok && !r.Arrived.IsZero():
		j.clearProblem(checkSelftest)
		if !r.Removed {
			j.observeRoundTrip(r)
			if _, err := inbox.Remove(ctx, j.Inbox(), probe.Header, r.Token); err != nil {
				j.Log.Warn("selftest: probe not removed", "err", err)
			}
			r.Removed = true // tried once: a probe left behind is harmless
			if err := j.Store.Update(func(tx *store.Tx) error { return probe.Save(tx, r) }); err != nil {
				return err
			}
		}
	case ok && r.Lost:
		j.setProblem(checkSelftest, fmt.Sprintf("the probe queued at %s did not arrive within %s", r.Queued.UTC().Format(time.RFC3339), h.SelftestTimeout.Duration))
	case ok && now.Sub(r.Queued) > h.SelftestTimeout.Duration:
		r.Lost = true
		if err := j.Store.Update(func(tx *store.Tx) error { return probe.Save(tx, r) }); err != nil {
			return err
		}
		j.Log.Error("selftest: probe lost", "queued", r.Queued)
		return j.probeOnce(ctx, now)
	}
	// The first probe goes one interval after the daemon started (for one
	// now: `mailbot selftest`), the next one interval after the last.
	due := func(r probe.Record, ok bool) bool {
		if !ok {
			r.Queued = j.Started
		}
		return !r.Pending() && now.Sub(r.Queued) >= h.SelftestInterval.Duration
	}
	if !due(r, ok) {
		return nil
	}
	return j.Store.Update(func(tx *store.Tx) error {
		// Decided again in the transaction: one probe at a time.
		if r, ok, err := probe.Latest(tx); err != nil || !due(r, ok) {
			return err
		}
		r, err := probe.Start(tx, now)
		if err != nil {
			return err
		}
		q := j.Out.NewQueue()
		q.Add(j.probeMail(r))
		_, err = q.Flush(tx) // the commit wakes the sender
		return err
	})
}

// probeMail is the probe mail: from and to the bot's own address.
func (j *Jobs) probeMail(r probe.Record) outmail.Mail {
	return outmail.Mail{Kind: "probe", Generated: true, CaseRef: "probe", To: &mail.Address{Address: j.Config.Address}, Probe: r.Token,
		Subject: "mailbot delivery self-test",
		Body:    "This is mailbot's delivery self-test. It is removed from the mailbox as soon as it arrives.\n"}
}

func (j *Jobs) observeRoundTrip(r probe.Record) {
	if j.Metrics != nil {
		j.Metrics.SelftestRoundTrip.Observe(r.RoundTrip().Seconds())
	}
	j.Log.Info("selftest: probe arrived", "roundtrip", r.RoundTrip())
}

func (j *Jobs) setProblem(check, why string) {
	if j.Metrics != nil {
		j.Metrics.SetProblem(check, why)
	}
}

func (j *Jobs) clearProblem(check string) {
	if j.Metrics != nil {
		j.Metrics.ClearProblem(check)
	}
}

// Step is one step of a self-test, for `mailbot selftest`.
type Step struct {
	At   time.Duration // since the start
	What string
}

// Selftest runs one probe round trip now: it records a probe, submits it to
// the SMTP server at once (not through the outbox) and waits up to timeout
// for it in the mailbox, then removes it. With intake true a running
// daemon's intake records the arrival in the store; otherwise the mailbox
// is searched. step is told each step as it happens.
func (j *Jobs) Selftest(ctx context.Context, intake bool, timeout time.Duration, step func(Step)) (time.Duration, error) {
	start := time.Now()
	say := func(format string, args ...any) {
		step(Step{At: time.Since(start), What: fmt.Sprintf(format, args...)})
	}
	var r probe.Record
	var it *store.OutboxItem
	err := j.Store.Update(func(tx *store.Tx) (err error) {
		if r, err = probe.Start(tx, j.Now()); err != nil {
			return err
		}
		it, err = j.Out.Build(j.probeMail(r))
		return err
	})
	if err != nil {
		return 0, err
	}
	say("recorded probe %s", r.Token)
	if err := j.Client.Send(ctx, it.From, it.To, strings.NewReader(string(it.Raw)), int64(len(it.Raw))); err != nil {
		return 0, fmt.Errorf("selftest: submit to %s: %w", j.Config.SMTP.Addr(), err)
	}
	j.Client.Close()
	sent := time.Now()
	say("submitted to %s to %s", j.Config.SMTP.Addr(), j.Config.Address)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	deadline := time.After(timeout)
	for {
		if intake {
			var got probe.Record
			if err := j.Store.View(func(tx *store.Tx) (err error) { got, _, err = probe.Latest(tx); return err }); err != nil {
				return 0, err
			}
			if got.Token == r.Token && !got.Arrived.IsZero() {
				break
			}
		} else {
			n, err := inbox.Remove(ctx, j.Inbox(), probe.Header, r.Token)
			if err != nil {
				say("searching %s: %v", j.Config.IMAP.Mailbox, err)
			} else if n > 0 {
				r.Removed = true
				break
			}
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-deadline:
			return 0, fmt.Errorf("selftest: the probe is not in %s after %s", j.Config.IMAP.Mailbox, timeout)
		case <-t.C:
		}
	}
	rtt := time.Since(sent)
	say("arrived in %s on %s (round trip %s)", j.Config.IMAP.Mailbox, j.Config.IMAP.Addr(), rtt.Round(time.Millisecond))
	if !r.Removed {
		n, err := inbox.Remove(ctx, j.Inbox(), probe.Header, r.Token)
		if err != nil {
			say("not removed: %v", err)
		} else {
			say("removed %d message(s) from %s", n, j.Config.IMAP.Mailbox)
		}
	} else {
		say("removed from %s", j.Config.IMAP.Mailbox)
	}
	err = j.Store.Update(func(tx *store.Tx) error {
		got, _, err := probe.Latest(tx)
		if err != nil || got.Token != r.Token {
			return err
		}
		if got.Arrived.IsZero() {
			got.Arrived = got.Queued.Add(rtt)
		}
		got.Removed = true
		return probe.Save(tx, got)
	})
	if j.Metrics != nil {
		j.Metrics.SelftestRoundTrip.Observe(rtt.Seconds())
	}
	return rtt, err
}

// Package jobs owns the bot's periodic work: the scheduler's reminders,
// escalations, digests and reporter notes (planned by mailbot/remind), the
// health checks with their alarm mail and the delivery self-test
// (mailbot/health, mailbot/probe), and the housekeeping (rate-limit entries
// past their window, raw mail past retention_days).
//
// One clock drives them all (Run): every job at start, the scheduler and
// the health checks every minute and whenever poked (a commit that moved
// what the scheduler plans from pokes it), the housekeeping daily. Each
// job derives what is due from the store afresh and writes in ONE
// transaction together with what marks it done (tx.MarkSent, the alarm's
// meta key, the probe record), so a crash repeats nothing and loses
// nothing. Mail is queued the one way, through an outmail.Queue in that
// transaction; the commit wakes the sender (store.Store.OnCommit).
//
// It must not touch incoming mail or a case's messages (that is
// mailbot/intake), nor send mail itself, except the self-test's probe that
// `mailbot selftest` submits directly.
package jobs

import (
	"context"
	"log/slog"
	"runtime/debug"
	"time"

	"mailbot/mailbot/clock"
	"mailbot/mailbot/config"
	"mailbot/mailbot/health"
	"mailbot/mailbot/inbox"
	"mailbot/mailbot/metrics"
	"mailbot/mailbot/outbox"
	"mailbot/mailbot/outmail"
	"mailbot/policy"
	"mailbot/store"
)

// schedulerEvery is how often the jobs wake without being poked, in the
// daemon's time (Clock).
const schedulerEvery = time.Minute

// housekeepingEvery is how often the housekeeping runs.
const housekeepingEvery = 24 * time.Hour

// Jobs runs the periodic work. Config, Store, Out, Health, Log and Now are
// required; Policy, Metrics and Heartbeat may be nil. Make it with New.
type Jobs struct {
	Config  *config.Config
	Store   *store.Store
	Policy  *policy.Policy // nil: no clocks, nothing to remind of
	Out     *outmail.Composer
	Health  *health.Monitor
	Metrics *metrics.Metrics
	Log     *slog.Logger
	Now     func() time.Time
	// Clock times the minutes and the days of Run (nil: the wall clock); a
	// scaled clock makes them simulated ones. Now is its Now, or a test's.
	Clock *clock.Clock
	// Started is when the daemon started: the first self-test is due one
	// interval later.
	Started time.Time
	// Heartbeat is called on every turn of Run after the health checks.
	Heartbeat func()
	// Inbox is how to reach the mailbox (to remove arrived probes).
	Inbox func() inbox.Options
	// Client submits the self-test's probe (Selftest).
	Client *outbox.SMTPClient

	poke chan struct{}
}

// New returns j ready to run.
func New(j Jobs) *Jobs {
	j.poke = make(chan struct{}, 1)
	return &j
}

// Poke makes a running scheduler plan at once, e.g. after a team command
// assigned a case or moved the disclosure date. It never blocks.
func (j *Jobs) Poke() {
	select {
	case j.poke <- struct{}{}:
	default:
	}
}

// Run runs every job at start, then the scheduler and the health checks
// every minute and whenever poked, and the housekeeping daily, until ctx is
// done. A failing or panicking job is logged and tried again next time:
// each derives what is due from the store afresh.
func (j *Jobs) Run(ctx context.Context) error {
	minute := j.Clock.NewTicker(schedulerEvery)
	defer minute.Stop()
	daily := j.Clock.NewTicker(housekeepingEvery)
	defer daily.Stop()
	housekeeping := true
	for {
		j.safely("scheduler", func() {
			if _, err := j.remindOnce(j.Now()); err != nil {
				j.Log.Error("scheduler", "err", err)
			}
		})
		j.safely("health checks", func() { j.CheckHealth(ctx) })
		if j.Heartbeat != nil {
			j.Heartbeat()
		}
		if housekeeping {
			j.safely("retention", func() { j.housekeeping(ctx) })
			housekeeping = false
		}
		select {
		case <-ctx.Done():
			return nil
		case <-minute.C:
		case <-j.poke:
		case <-daily.C:
			housekeeping = true
		}
	}
}

// safely runs one job, its panic recovered and logged.
func (j *Jobs) safely(name string, job func()) {
	defer func() {
		if p := recover(); p != nil {
			j.Log.Error("panic in "+name, "err", p, "stack", string(debug.Stack()))
		}
	}()
	job()
}

// housekeeping drops old rate-limit entries always, and the raw mail of
// closed cases when retention_days is set.
func (j *Jobs) housekeeping(ctx context.Context) {
	if _, err := j.PruneSends(j.Now()); err != nil {
		j.Log.Error("retention", "err", err)
	}
	if _, err := j.PurgeRaw(ctx, j.Now()); err != nil {
		j.Log.Error("retention", "err", err)
	}
}

package mailbot

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"

	"mailbot/mailbot/auth"
	"mailbot/mailbot/clock"
	"mailbot/mailbot/config"
	"mailbot/mailbot/flood"
	"mailbot/mailbot/health"
	"mailbot/mailbot/inbox"
	"mailbot/mailbot/intake"
	"mailbot/mailbot/jobs"
	"mailbot/mailbot/metrics"
	"mailbot/mailbot/outbox"
	"mailbot/mailbot/outmail"
	"mailbot/mailbot/pgp"
	"mailbot/mailbot/remind"
	"mailbot/mailbot/team"
	"mailbot/policy"
	"mailbot/store"
	"mailbot/templates"
)

// Options are the parts a Daemon runs with. Config, Store and Templates are
// required; the rest have defaults.
type Options struct {
	Config    *config.Config
	Store     *store.Store
	Policy    *policy.Policy // nil: no clocks, no promised dates
	Templates *templates.Set
	Keys      *pgp.Keyring // nil: no OpenPGP
	Roster    *team.Roster // nil: no team (nobody is notified)
	// LookupTXT resolves DNS TXT records for DKIM (tests inject one).
	LookupTXT func(name string) ([]string, error)
	Now       func() time.Time // nil: Clock.Now; set by tests (the waits stay Clock's)
	Logger    *slog.Logger
	// Clock is the daemon's time (nil: the wall clock): Now, and the
	// scheduler's and the sender's waits follow it (mailbot/clock).
	Clock *clock.Clock
	// Faults, when set, is called at named points ("after-case",
	// "before-commit", "after-send") and a non-nil error aborts there, as
	// a crash would. Tests only.
	Faults func(point string) error
	// InboxEvents receives the intake's events (tests); the health monitor
	// turns them into the metrics itself.
	InboxEvents chan<- inbox.Event
	// Metrics, when set, is fed by the pipeline and the sender.
	Metrics *metrics.Metrics
	// Disk measures the free space and the store's size for
	// limits.min_free_bytes and limits.max_store_bytes (tests inject one);
	// nil: statfs of the store's directory and a walk of its files.
	Disk func() (flood.Disk, error)
	// Heartbeat, when set, is called on every turn of the daemon's main
	// loop (about once a minute) after the health checks: a hung daemon
	// stops calling it (the systemd watchdog).
	Heartbeat func()
}

// Daemon is the running bot: the parts, wired.
type Daemon struct {
	cfg   *config.Config
	store *store.Store
	clock *clock.Clock
	now   func() time.Time
	log   *slog.Logger

	inboxEvents chan<- inbox.Event
	health      *health.Monitor
	line        *intake.Line
	sender      *outbox.Sender
	jobs        *jobs.Jobs
	session     *inbox.Session
}

// New checks opt and builds a Daemon; nothing runs until Run.
func New(opt Options) (*Daemon, error) {
	if opt.Config == nil || opt.Store == nil || opt.Templates == nil {
		return nil, errors.New("mailbot: config, store and templates are required")
	}
	d := &Daemon{cfg: opt.Config, store: opt.Store, clock: opt.Clock, now: opt.Now, log: opt.Logger, inboxEvents: opt.InboxEvents}
	if d.now == nil {
		d.now = d.clock.Now
	}
	if opt.LookupTXT == nil {
		opt.LookupTXT = net.LookupTXT
	}
	if d.log == nil {
		d.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	out := &outmail.Composer{Config: d.cfg, Policy: opt.Policy, Templates: opt.Templates, Keys: opt.Keys, Roster: opt.Roster, Now: d.now, Log: d.log}
	d.line = intake.New(intake.Options{Config: d.cfg, Store: d.store, Policy: opt.Policy, Keys: opt.Keys, Roster: opt.Roster, Out: out,
		LookupTXT: opt.LookupTXT, Now: d.now, Logger: d.log, Faults: opt.Faults, Metrics: opt.Metrics, Disk: opt.Disk})
	// The IMAP resync and command timeout are wall durations (the
	// servers'), judged against the daemon's time: in its units.
	d.health = health.New(health.Options{Metrics: opt.Metrics, Now: d.now, Resync: d.clock.Sim(d.cfg.IMAP.ResyncInterval.Duration),
		CommandTimeout: d.clock.Sim(d.cfg.IMAP.CommandTimeout.Duration), Stale: d.cfg.Health.OutboxStale.Duration,
		FreeBytes: d.line.FreeBytes, MinFree: d.cfg.Limits.MinFreeBytes})
	d.sender = &outbox.Sender{
		Store:     d.store,
		Client:    outbox.NewSMTPClient(d.smtpOptions()),
		Now:       d.now,
		Clock:     d.clock,
		Logger:    d.log,
		Fault:     d.line.Fault,
		OnAttempt: d.health.SMTP,
	}
	d.jobs = jobs.New(jobs.Jobs{Config: d.cfg, Store: d.store, Policy: opt.Policy, Out: out, Health: d.health,
		Metrics: opt.Metrics, Log: d.log, Now: d.now, Clock: d.clock, Started: d.now(), Heartbeat: opt.Heartbeat,
		Inbox: d.inboxOptions, Client: d.sender.Client})
	if m := opt.Metrics; m != nil {
		d.sender.OnResult = func(state string) {
			if state == "failed" {
				m.OutboxFailures.Inc()
			}
		}
	}
	return d, nil
}

// Store is the daemon's store (for the admin commands).
func (d *Daemon) Store() *store.Store { return d.store }

// Sender is the outbox sender.
func (d *Daemon) Sender() *outbox.Sender { return d.sender }

// committed is told of every commit to the store while Run runs: queued
// mail goes out at once, and the scheduler plans again when what it plans
// from changed (after the commit, so its snapshot has the change).
func (d *Daemon) committed(c store.Commit) {
	if c.Enqueued > 0 {
		d.sender.Wake()
	}
	if c.Schedule {
		d.jobs.Poke()
	}
}

func saslFactory(s config.Server) func() (sasl.Client, error) {
	return func() (sasl.Client, error) {
		secret, err := auth.Secret(s.Password).Read()
		if err != nil {
			return nil, err
		}
		return auth.Client(auth.Method(s.Auth), s.Username, secret)
	}
}

func tlsConfig(s config.Server) *tls.Config {
	name := s.ServerName
	if name == "" {
		name = s.Host
	}
	return &tls.Config{ServerName: name, MinVersion: tls.VersionTLS12}
}

func (d *Daemon) smtpOptions() outbox.SMTPOptions {
	s := d.cfg.SMTP
	return outbox.SMTPOptions{
		Addr:      s.Addr(),
		TLS:       s.TLS,
		TLSConfig: tlsConfig(s.Server),
		HeloName:  s.Helo,
		SASL:      saslFactory(s.Server),
		Timeout:   s.Timeout.Duration,
	}
}

func (d *Daemon) inboxOptions() inbox.Options {
	c := d.cfg.IMAP
	return inbox.Options{
		Addr:           c.Addr(),
		TLS:            c.TLS,
		TLSConfig:      tlsConfig(c.Server),
		SASL:           saslFactory(c.Server),
		Mailbox:        c.Mailbox,
		Mode:           c.Mode,
		PollInterval:   c.PollInterval.Duration,
		FastInterval:   c.FastInterval.Duration,
		ResyncInterval: c.ResyncInterval.Duration,
		CommandTimeout: c.CommandTimeout.Duration,
		MaxSize:        d.cfg.Limits.MaxMessageBytes,
		AfterCommit:    c.After,
		Logger:         d.log,
		Events:         d.inboxEvents,
	}
}

// watchIntake feeds the intake's events to the health monitor and passes
// them on to Options.InboxEvents, until stop is done.
func (d *Daemon) watchIntake(stop context.Context, events <-chan inbox.Event) error {
	for {
		select {
		case <-stop.Done():
			return nil
		case e := <-events:
			d.health.IMAP(e)
			if d.inboxEvents != nil {
				select {
				case d.inboxEvents <- e:
				default:
				}
			}
		}
	}
}

// Run runs the intake and the sender until stop is done, then finishes the
// work in hand; abort cuts that short: every network wait ends with it
// (the cut work is done again later, exactly once). It returns nil after a
// stop, and an error when a part failed or did not end abortWait after
// abort.
func (d *Daemon) Run(stop, abort context.Context) error {
	stop, stopNow := context.WithCancel(stop)
	defer stopNow()
	defer context.AfterFunc(abort, stopNow)() // abort implies stop
	events := make(chan inbox.Event, 256)
	opt := d.inboxOptions()
	opt.Events = events
	d.session = inbox.New(opt, d.line.Handler())
	// Whoever queued mail or moved a case's clocks (intake, team
	// commands, scheduler, admin), the commit itself wakes who acts on it.
	defer d.store.OnCommit(d.committed)()
	var wg sync.WaitGroup
	errs := make(chan error, 4) // one per part
	var mu sync.Mutex
	running := map[string]string{} // part -> what it may wait for
	waiting := func() string {
		mu.Lock()
		defer mu.Unlock()
		var parts []string
		for name, on := range running {
			parts = append(parts, name+" ("+on+")")
		}
		sort.Strings(parts)
		return strings.Join(parts, ", ")
	}
	run := func(name, waitsFor string, fn func() error) {
		mu.Lock()
		running[name] = waitsFor
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				mu.Lock()
				delete(running, name)
				mu.Unlock()
			}()
			defer func() {
				if p := recover(); p != nil {
					d.log.Error("panic", "part", name, "err", p, "stack", string(debug.Stack()))
					errs <- fmt.Errorf("mailbot: %s: panic: %v", name, p)
				}
			}()
			if err := fn(); err != nil {
				errs <- fmt.Errorf("mailbot: %s: %w", name, err)
			}
		}()
	}
	run("intake", "IMAP server "+d.cfg.IMAP.Addr(), func() error { return d.session.Run(stop, abort) })
	run("health", "intake events", func() error { return d.watchIntake(stop, events) })
	run("sender", "SMTP server "+d.cfg.SMTP.Addr(), func() error { return d.sender.Run(stop, abort) })
	run("jobs", "store", func() error { return d.jobs.Run(stop) })
	d.log.Info("running", "mailbox", d.cfg.IMAP.Mailbox, "address", d.cfg.Address)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	if err := d.awaitStop(stop, abort, done, waiting); err != nil {
		return err
	}
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	// QUIT, unless abort ends first (a silent server).
	d.sender.Client.Shutdown(abort)
	return errors.Join(all...)
}

// abortWait is how long Run waits for its parts after abort: each of
// their waits ends with abort, so only a bug makes this matter.
const abortWait = 5 * time.Second

// awaitStop waits for done (every part returned) and, once stop is done,
// logs what is still waited for every few seconds, so that a slow stop
// says why. It fails when the parts do not end abortWait after abort.
func (d *Daemon) awaitStop(stop, abort context.Context, done <-chan struct{}, waiting func() string) error {
	select {
	case <-done:
		return nil
	case <-stop.Done():
	}
	if w := waiting(); w != "" {
		d.log.Info("stopping: finishing the work in hand", "waiting_for", w)
	}
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return nil
		case <-tick.C:
			d.log.Info("stopping: still waiting", "waiting_for", waiting())
		case <-abort.Done():
			d.log.Warn("aborting: cutting the work in hand", "waiting_for", waiting())
			t := time.NewTimer(abortWait)
			defer t.Stop()
			select {
			case <-done:
				return nil
			case <-t.C:
				return fmt.Errorf("mailbot: %s did not end %v after abort: %w", waiting(), abortWait, abort.Err())
			}
		}
	}
}

// Poke wakes the intake at once (after `mailbot ingest`, or in tests).
func (d *Daemon) Poke() {
	if d.session != nil {
		d.session.Poke()
	}
}

// Plan returns what the scheduler would send at now, without sending or
// recording anything (jobs.Jobs.Plan).
func (d *Daemon) Plan(now time.Time) ([]remind.Action, error) { return d.jobs.Plan(now) }

// RemindNow runs the scheduler once as of now and returns how many mails it
// queued (for the demo and tests; the daemon's loop calls the same code).
func (d *Daemon) RemindNow(now time.Time) (int, error) { return d.jobs.RemindNow(now) }

// CheckHealth runs one round of the health checks, the alarm and the
// self-test at the daemon's clock (the jobs' loop calls it every minute).
func (d *Daemon) CheckHealth(ctx context.Context) { d.jobs.CheckHealth(ctx) }

// Step is one step of a self-test, for `mailbot selftest`.
type Step = jobs.Step

// Selftest runs one probe round trip now (jobs.Jobs.Selftest).
func (d *Daemon) Selftest(ctx context.Context, intake bool, timeout time.Duration, step func(Step)) (time.Duration, error) {
	return d.jobs.Selftest(ctx, intake, timeout, step)
}

// PurgeRaw removes the raw mail of cases closed and untouched for
// retention_days (jobs.Jobs.PurgeRaw).
func (d *Daemon) PurgeRaw(ctx context.Context, now time.Time) (int, error) {
	return d.jobs.PurgeRaw(ctx, now)
}

// PruneSends drops rate-limit entries past their window (jobs.Jobs.PruneSends).
func (d *Daemon) PruneSends(now time.Time) (int, error) { return d.jobs.PruneSends(now) }

// The message line's results and errors, as the line (mailbot/intake)
// names them.
type (
	Result         = intake.Result
	Source         = intake.Source
	TemporaryError = intake.TemporaryError
	DeferredError  = intake.DeferredError
)

// Actions a processed message can lead to, as reported by `mailbot ingest --json`.
const (
	ActionOpened      = intake.ActionOpened
	ActionOpenedQuiet = intake.ActionOpenedQuiet
	ActionFollowUp    = intake.ActionFollowUp
	ActionRecorded    = intake.ActionRecorded
	ActionBounce      = intake.ActionBounce
	ActionDuplicate   = intake.ActionDuplicate
	ActionQuarantined = intake.ActionQuarantined
	ActionFolded      = intake.ActionFolded
	ActionHeld        = intake.ActionHeld
	ActionHeldSpam    = intake.ActionHeldSpam
)

// IsTemporary reports whether err says "try again later".
func IsTemporary(err error) bool { return inbox.IsTemporary(err) }

// IsDeferred reports whether err says the message was left on the IMAP
// server, to be fetched again later (DeferredError).
func IsDeferred(err error) bool { return inbox.IsDeferred(err) }

// Ingest spools r and processes it, as `mailbot ingest` does for mail handed
// over by an MTA.
func (d *Daemon) Ingest(ctx context.Context, r io.Reader) (Result, error) {
	return d.line.Ingest(ctx, r)
}

// IngestBatch spools rs and processes them as one intake batch, the way the
// IMAP intake handles a FETCH batch. It returns how many were committed,
// from the first.
func (d *Daemon) IngestBatch(ctx context.Context, rs []io.Reader) (int, error) {
	return d.line.IngestBatch(ctx, rs)
}

// Process handles one spooled message: everything it changes is committed
// in one transaction together with the mailbox watermark of src.
func (d *Daemon) Process(ctx context.Context, src Source, blob store.Blob) (Result, error) {
	return d.line.Process(ctx, src, blob)
}

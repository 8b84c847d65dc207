package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"mailbot/mailbot"
	"mailbot/mailbot/clock"
	"mailbot/mailbot/control"
	"mailbot/mailbot/metrics"
	"mailbot/store"
)

func init() {
	register(command{"run", "--config F", "run the daemon", cmdRun})
}

// cmdRun is the daemon. It owns the database for its whole life and serves
// the admin commands on the control socket. SIGHUP (env.Reload) reloads
// config, policy, templates and keys: the running bot is replaced only when
// all of them are valid; otherwise it keeps going with the old ones and the
// log says why. The first SIGTERM finishes the work in hand.
func cmdRun(ctx context.Context, env *Env, args []string) int {
	fs := flags(env, "run")
	cfgPath := fs.String("config", "", "configuration `file`")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	s, err := load(*cfgPath)
	if err != nil {
		// A bad configuration will not fix itself: systemd's
		// RestartPreventExitStatus=2 keeps it from restarting in a loop.
		return fail(env, "run", ExitUsage, err)
	}
	clk, err := daemonClock(env)
	if err != nil {
		return fail(env, "run", ExitUsage, err)
	}
	log := newLogger(env.Stderr, s.cfg.LogLevel)
	if clk.Scaled() {
		log.Warn(scaledClockWarning, "clock", clk.String(), "now", clk.Now())
	}
	st, err := openStore(s.cfg)
	if err != nil {
		return fail(env, "run", ExitFailure, err)
	}
	defer st.Close()

	var current atomic.Pointer[setup]
	current.Store(s)
	ln, err := control.Listen(s.cfg.Control)
	if err != nil {
		return fail(env, "run", ExitFailure, fmt.Errorf("control socket %s: %w", s.cfg.Control, err))
	}
	srv := &control.Server{Handlers: adminHandlers(current.Load, st), Logger: log}
	go srv.Serve(ctx, ln)

	// The problems' times are the daemon's; the liveness bound is the
	// servers' (wall) time, in the daemon's units.
	m := metrics.New(metrics.Options{Logger: log, Now: clk.Now,
		AliveTimeout: clk.Sim(2*s.cfg.IMAP.ResyncInterval.Duration + 2*s.cfg.IMAP.CommandTimeout.Duration + time.Minute)})
	if s.cfg.Metrics != "" {
		go func() {
			if err := m.Serve(ctx, s.cfg.Metrics); err != nil && ctx.Err() == nil {
				log.Error("metrics listener", "err", err)
			}
		}()
	}
	beat := heartbeat(st, m, log)

	for {
		d, err := mailbot.New(mailbot.Options{Config: s.cfg, Store: st, Policy: s.policy, Templates: s.tmpl, Keys: s.keys,
			Roster: s.roster, Logger: log, Metrics: m, Heartbeat: beat, Clock: clk})
		if err != nil {
			return fail(env, "run", ExitFailure, err)
		}
		runCtx, stopRun := context.WithCancel(ctx)
		defer stopRun() // one per reload: few
		done := make(chan error, 1)
		go func() { done <- d.Run(runCtx, env.Abort) }()
		m.SetReady(true)
		daemon.SdNotify(false, daemon.SdNotifyReady)
		reloaded := false
		for !reloaded {
			select {
			case err := <-done:
				stopRun()
				daemon.SdNotify(false, daemon.SdNotifyStopping)
				if err != nil {
					return fail(env, "run", ExitFailure, fmt.Errorf("stopped: %w", err))
				}
				log.Info("stopped")
				return ExitOK
			case <-env.Reload:
				next, err := load(*cfgPath)
				if err == nil && next.cfg.Store != s.cfg.Store {
					err = errors.New("store: the database cannot move on reload; restart instead")
				}
				if err != nil {
					log.Error("reload refused, keeping the running configuration", "err", err)
					continue
				}
				daemon.SdNotify(false, daemon.SdNotifyReloading)
				log.Info("reloading")
				stopRun()
				if err := <-done; err != nil {
					log.Error("stopping for reload", "err", err)
				}
				s = next
				current.Store(s)
				reloaded = true
			}
		}
	}
}

// scaledClockWarning is logged by `mailbot run` and printed by `mailbot
// check` when MAILBOT_CLOCK is set: it must never change a production
// service silently.
const scaledClockWarning = "clock is scaled: " + clock.Env + " is set, the bot keeps simulated time (for the soak only, never in production)"

// daemonClock is the daemon's time from MAILBOT_CLOCK (mailbot/clock):
// the wall clock when it is unset or empty.
func daemonClock(env *Env) (*clock.Clock, error) { return clock.Parse(env.Getenv(clock.Env)) }

// heartbeat is called by the daemon's main loop on every turn (about once a
// minute): it feeds systemd's watchdog (WatchdogSec=) only while that loop
// turns, the store answers and the intake loop is alive, so a hung daemon
// is restarted; a live daemon that is unhealthy (a wrong password) is not,
// but STATUS= shows why, for `systemctl status`.
func heartbeat(st *store.Store, m *metrics.Metrics, log *slog.Logger) func() {
	every, err := daemon.SdWatchdogEnabled(false)
	watchdog := err == nil && every > 0
	return func() {
		// A read transaction that answers is the store's health check.
		var depth int
		err := st.View(func(tx *store.Tx) error { depth = tx.Queued(); return nil })
		m.OutboxDepth.Set(float64(depth))
		_, why := m.Healthy()
		live, lwhy := m.Live()
		state := "STATUS=" + statusLine(why)
		switch {
		case err != nil || !live:
			log.Warn("watchdog not fed", "err", err, "live", lwhy, "health", why)
		case watchdog:
			state = daemon.SdNotifyWatchdog + "\n" + state
		}
		daemon.SdNotify(false, state)
	}
}

// statusLine is the health reason on one line (STATUS= is one line).
func statusLine(why string) string {
	return strings.ReplaceAll(why, "\n", "; ")
}

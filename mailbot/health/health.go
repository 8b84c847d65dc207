// Package health owns the rules that say whether the daemon does its job,
// judged from what it observes rather than from its loops merely turning:
//
//   - "imap": the intake session is logged in and a command succeeded
//     within the resync interval (plus one command timeout);
//   - "smtp": the last SMTP attempt did not fail for longer than the stale
//     bound (a server that refuses everything for that long);
//   - "outbox": no outgoing mail has been due and unsent for longer than the
//     stale bound;
//   - "store": the intake's last round in a live session did not stop on a
//     temporary store or disk error (a full disk while spooling); it clears
//     when a message is processed or a round succeeds again, and a full
//     disk also when the disk check (CheckDisk, once a minute) finds free
//     space. The disk check alone makes it red when the store's file
//     system has no space left, without waiting for mail. A round stopped
//     by a NO from the server counts under "imap" the same way.
//
// Each rule is one check on metrics.Metrics (SetProblem/ClearProblem), so
// /healthz answers 503 with every reason, and the gauges mailbot_imap_up,
// mailbot_imap_last_login_timestamp_seconds,
// mailbot_smtp_last_success_timestamp_seconds and
// mailbot_outbox_oldest_due_seconds follow. The Monitor keeps its own state
// too, so the alarm mail works without metrics.
package health

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"time"

	"mailbot/mailbot/inbox"
	"mailbot/mailbot/metrics"
)

// Check names on metrics.Metrics.
const (
	CheckIMAP   = "imap"
	CheckSMTP   = "smtp"
	CheckOutbox = "outbox"
	CheckStore  = "store"
)

// Options for New.
type Options struct {
	Metrics *metrics.Metrics // nil: nothing is exported
	Now     func() time.Time // nil: time.Now
	// Resync is the IMAP resync interval and CommandTimeout the IMAP command
	// timeout: a live session completes a command at least every
	// Resync+CommandTimeout.
	Resync, CommandTimeout time.Duration
	// Stale bounds how long SMTP may keep failing and an outbox item may
	// stay due and unsent.
	Stale time.Duration
	// FreeBytes measures the space left on the store's file system
	// (statfs); nil: CheckDisk does nothing.
	FreeBytes func() (int64, error)
	// MinFree is limits.min_free_bytes: below it the intake keeps new
	// reports on the server, so CheckDisk calls it red too.
	MinFree int64
}

// Monitor turns observations into the health checks. Its methods are safe
// for concurrent use.
type Monitor struct {
	opt Options

	mu         sync.Mutex
	started    time.Time
	imapUp     bool      // logged in, and no error since
	imapOK     time.Time // last successful command
	imapDown   time.Time // start of the current outage (zero when up)
	imapErr    string
	roundErr   string    // why the last round of the live session stopped; "": it did not
	roundBad   string    // the check roundErr counts under: CheckStore or CheckIMAP
	roundSince time.Time // the first of the current run of round errors
	roundDisk  bool      // roundErr is a full disk (ENOSPC)
	diskErr    string    // the disk check found no space, or failed; "": fine
	smtpFail   time.Time // first failure of the current run of failures
	smtpErr    string
	oldestDue  time.Time // due time of the first due outbox item; zero: none
}

// New returns a Monitor that has seen nothing yet: the IMAP session counts
// as down ("not logged in yet") until it reports a login.
func New(opt Options) *Monitor {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	h := &Monitor{opt: opt, started: opt.Now()}
	h.imapDown = h.started
	return h
}

// IMAP records an event of the intake session. Any event shows the intake
// loop turning (metrics.Metrics.Alive, the liveness behind the watchdog).
func (h *Monitor) IMAP(e inbox.Event) {
	if m := h.opt.Metrics; m != nil {
		m.Alive()
		if e.Kind == "reconnect" {
			m.IMAPReconnects.Inc()
		}
	}
	h.mu.Lock()
	now := h.opt.Now()
	switch e.Kind {
	case "connected": // logged in and the mailbox selected
		h.imapUp, h.imapOK, h.imapDown, h.imapErr = true, now, time.Time{}, ""
		h.roundErr = ""
		if m := h.opt.Metrics; m != nil {
			m.IMAPLastLogin.Set(float64(now.Unix()))
		}
	case "idle", "poll", "fetched", "processed", "reapplied", "uidvalidity", "deferred", "resumed":
		// Each follows a command the server answered with OK.
		h.imapOK = now
		if h.imapUp {
			h.imapDown, h.imapErr = time.Time{}, ""
		}
		if e.Kind == "processed" || e.Kind == "deferred" || e.Kind == "resumed" {
			h.roundErr = "" // the handler and the store took a message, or a round went through
		}
	case "error":
		switch {
		case e.Ended:
			if h.imapDown.IsZero() {
				h.imapDown = now
			}
			h.imapUp = false
			h.imapErr = "session failed"
			if e.Err != nil {
				h.imapErr = e.Err.Error()
			}
		case e.UID != 0 && !inbox.IsTemporary(e.Err):
			// One message was refused and kept aside: the session works.
		default:
			// The session is still logged in; the round is retried.
			if h.roundErr == "" {
				h.roundSince = now
			}
			h.roundErr, h.roundBad = roundProblem(e.Err)
			h.roundDisk = errors.Is(e.Err, syscall.ENOSPC)
		}
	}
	h.mu.Unlock()
	h.Check()
}

// roundProblem says why a round of a live session stopped and under which
// check: a temporary error is the handler's or the store's (the disk), any
// other the server's (a NO to a command).
func roundProblem(err error) (why, check string) {
	if err == nil {
		return "a round failed", CheckIMAP
	}
	switch {
	case errors.Is(err, syscall.ENOSPC):
		return "disk full, new mail waits: " + err.Error(), CheckStore
	case inbox.IsTemporary(err):
		return "store failed, new mail waits: " + err.Error(), CheckStore
	}
	return "round failed: " + err.Error(), CheckIMAP
}

// CheckDisk measures the free space on the store's file system (cheap: one
// statfs). No space left is a "store" problem at once, without waiting for
// mail to fail on it; space again clears it and a round error that was a
// full disk. The daemon calls it once a minute.
func (h *Monitor) CheckDisk() {
	if h.opt.FreeBytes == nil {
		return
	}
	free, err := h.opt.FreeBytes()
	h.mu.Lock()
	switch {
	case err != nil:
		h.diskErr = "disk check failed: " + err.Error()
	case free <= 0:
		h.diskErr = "disk full: no space left on the store's file system, new mail waits"
	case free < h.opt.MinFree:
		h.diskErr = fmt.Sprintf("disk low: %d bytes free on the store's file system, under limits.min_free_bytes %d: new reports wait", free, h.opt.MinFree)
	default:
		h.diskErr = ""
		if h.roundDisk {
			h.roundErr = ""
		}
	}
	h.mu.Unlock()
	h.Check()
}

// SMTP records the outcome of one SMTP attempt (nil: the server took it).
func (h *Monitor) SMTP(err error) {
	h.mu.Lock()
	now := h.opt.Now()
	if err == nil {
		h.smtpFail, h.smtpErr = time.Time{}, ""
		if m := h.opt.Metrics; m != nil {
			m.SMTPLastSent.Set(float64(now.Unix()))
		}
	} else {
		if h.smtpFail.IsZero() {
			h.smtpFail = now
		}
		h.smtpErr = err.Error()
	}
	h.mu.Unlock()
	h.Check()
}

// Outbox records when the outbox item due first fell due (zero: none).
func (h *Monitor) Outbox(oldestDue time.Time) {
	h.mu.Lock()
	h.oldestDue = oldestDue
	h.mu.Unlock()
	h.Check()
}

// IMAPFailing reports whether the intake is failing now, why and since when.
func (h *Monitor) IMAPFailing() (reason string, since time.Time, failing bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.imapState(h.opt.Now())
}

// IMAPUp reports whether the intake is logged in and answering.
func (h *Monitor) IMAPUp() bool {
	_, _, failing := h.IMAPFailing()
	return !failing
}

func (h *Monitor) imapState(now time.Time) (string, time.Time, bool) {
	switch {
	case !h.imapUp && h.imapErr == "":
		return "not logged in yet", h.imapDown, true
	case !h.imapUp:
		return "not logged in: " + h.imapErr, h.imapDown, true
	}
	if h.roundErr != "" && h.roundBad == CheckIMAP {
		return h.roundErr, h.roundSince, true
	}
	bound := h.opt.Resync + h.opt.CommandTimeout
	if age := now.Sub(h.imapOK); age > bound {
		return fmt.Sprintf("no IMAP command succeeded for %s (bound %s)", age.Truncate(time.Second), bound), h.imapOK.Add(bound), true
	}
	return "", time.Time{}, false
}

// Check evaluates every rule at the current time and updates the problems
// and gauges. The daemon calls it on every observation and once a minute.
func (h *Monitor) Check() {
	h.mu.Lock()
	now := h.opt.Now()
	imapWhy, _, imapBad := h.imapState(now)
	var smtpWhy, outboxWhy, storeWhy string
	if h.roundErr != "" && h.roundBad == CheckStore {
		storeWhy = h.roundErr
	}
	if h.diskErr != "" && (storeWhy == "" || !h.roundDisk) {
		storeWhy = strings.TrimPrefix(storeWhy+"; "+h.diskErr, "; ")
	}
	if !h.smtpFail.IsZero() && now.Sub(h.smtpFail) > h.opt.Stale {
		smtpWhy = fmt.Sprintf("every attempt failed for %s: %s", now.Sub(h.smtpFail).Truncate(time.Second), h.smtpErr)
	}
	var dueAge time.Duration
	if !h.oldestDue.IsZero() {
		dueAge = max(now.Sub(h.oldestDue), 0)
	}
	if dueAge > h.opt.Stale {
		outboxWhy = fmt.Sprintf("a mail due for %s is unsent (bound %s)", dueAge.Truncate(time.Second), h.opt.Stale)
	}
	h.mu.Unlock()
	m := h.opt.Metrics
	if m == nil {
		return
	}
	m.OutboxOldestDue.Set(dueAge.Seconds())
	up := 1.0
	if imapBad {
		up = 0
	}
	m.IMAPUp.Set(up)
	set(m, CheckIMAP, imapWhy)
	set(m, CheckSMTP, smtpWhy)
	set(m, CheckOutbox, outboxWhy)
	set(m, CheckStore, storeWhy)
}

func set(m *metrics.Metrics, check, why string) {
	if why == "" {
		m.ClearProblem(check)
		return
	}
	m.SetProblem(check, why)
}

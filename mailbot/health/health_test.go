package health

import (
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"mailbot/mailbot/inbox"
	"mailbot/mailbot/metrics"
)

type quarantined struct{ error }

// TestMonitorIMAP: the IMAP check follows the session's events: down until
// the first login, up after it, down with the reason when the session
// fails, not for a message kept aside, and down when no command succeeded
// within the resync interval plus a command timeout.
func TestMonitorIMAP(t *testing.T) {
	now := time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC)
	m := metrics.New(metrics.Options{Now: func() time.Time { return now }})
	h := New(Options{Metrics: m, Now: func() time.Time { return now }, Resync: 5 * time.Minute, CommandTimeout: time.Minute, Stale: 10 * time.Minute})
	check := func(wantUp bool, wantWhy string) {
		t.Helper()
		h.Check()
		why, _, failing := h.IMAPFailing()
		p, _, ok := m.Problem(CheckIMAP)
		if failing == wantUp || ok == wantUp || !strings.Contains(why, wantWhy) || !strings.Contains(p, wantWhy) {
			t.Fatalf("IMAPFailing() = %q, %v; Problem = %q, %v; want up %v with %q", why, failing, p, ok, wantUp, wantWhy)
		}
	}
	check(false, "not logged in yet")
	h.IMAP(inbox.Event{Kind: "connected"})
	check(true, "")
	h.IMAP(inbox.Event{Kind: "error", UID: 7, Err: quarantined{errors.New("unparseable")}})
	check(true, "")
	now = now.Add(6 * time.Minute)
	check(true, "")
	now = now.Add(time.Second)
	check(false, "no IMAP command succeeded for 6m1s (bound 6m0s)")
	h.IMAP(inbox.Event{Kind: "idle"})
	check(true, "")
	h.IMAP(inbox.Event{Kind: "error", Err: errors.New("authenticate: NO [AUTHENTICATIONFAILED]"), Ended: true})
	check(false, "not logged in: authenticate: NO [AUTHENTICATIONFAILED]")
	h.IMAP(inbox.Event{Kind: "idle"}) // not logged in: a stray event does not count
	check(false, "not logged in: ")
	h.IMAP(inbox.Event{Kind: "connected"})
	check(true, "")
}

// TestMonitorIMAPAlive: every intake event, even a failure, shows the
// intake loop turning (metrics.Alive), and reconnects are counted.
func TestMonitorIMAPAlive(t *testing.T) {
	m := metrics.New(metrics.Options{})
	h := New(Options{Metrics: m, Resync: 5 * time.Minute, CommandTimeout: time.Minute, Stale: 10 * time.Minute})
	if live, why := m.Live(); !live || why != "starting" {
		t.Fatalf("Live() before any event = %v %q, want true \"starting\"", live, why)
	}
	h.IMAP(inbox.Event{Kind: "error", Err: errors.New("dial: refused"), Ended: true})
	h.IMAP(inbox.Event{Kind: "reconnect"})
	h.IMAP(inbox.Event{Kind: "reconnect"})
	if live, why := m.Live(); !live || why != "ok" {
		t.Errorf("Live() after events = %v %q, want true \"ok\"", live, why)
	}
	if _, why := m.Healthy(); strings.Contains(why, "intake not seen alive") {
		t.Errorf("Healthy() = %q after intake events, want the intake seen alive", why)
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if body := rec.Body.String(); !strings.Contains(body, "mailbot_imap_reconnects_total 2\n") {
		t.Errorf("/metrics has no mailbot_imap_reconnects_total 2:\n%s", body)
	}
}

// TestMonitorIMAPRoundError (issue 19): an error that stops one round of a
// live session (a temporary store error such as a full disk while
// spooling) is a "store" problem, not "not logged in"; it clears when a
// later message is processed or a round succeeds again, without a
// reconnect. A session that ended stays "not logged in" through stray
// events until it is connected again.
func TestMonitorIMAPRoundError(t *testing.T) {
	now := time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC)
	m := metrics.New(metrics.Options{Now: func() time.Time { return now }})
	h := New(Options{Metrics: m, Now: func() time.Time { return now }, Resync: 5 * time.Minute, CommandTimeout: time.Minute, Stale: 10 * time.Minute})
	check := func(name, wantIMAP, wantStore string) {
		t.Helper()
		h.Check()
		imapWhy, _, imapBad := m.Problem(CheckIMAP)
		storeWhy, _, storeBad := m.Problem(CheckStore)
		if imapBad != (wantIMAP != "") || !strings.Contains(imapWhy, wantIMAP) ||
			storeBad != (wantStore != "") || !strings.Contains(storeWhy, wantStore) {
			t.Fatalf("%s: Problem(imap) = %q, %v; Problem(store) = %q, %v; want %q, %q", name, imapWhy, imapBad, storeWhy, storeBad, wantIMAP, wantStore)
		}
	}
	enospc := &inbox.TemporaryError{Err: fmt.Errorf("spool: write /var/lib/mailbot/x: %w", syscall.ENOSPC)}
	for _, after := range []string{"processed", "resumed"} {
		h.IMAP(inbox.Event{Kind: "connected"})
		h.IMAP(inbox.Event{Kind: "idle"})
		check("connected", "", "")
		h.IMAP(inbox.Event{Kind: "error", UID: 4, Err: fmt.Errorf("inbox: spool: %w", enospc)})
		h.IMAP(inbox.Event{Kind: "idle"}) // the session waits for the retry
		check("spool ENOSPC", "", "disk full, new mail waits: inbox: spool: ")
		now = now.Add(time.Minute)
		h.IMAP(inbox.Event{Kind: "error", Err: fmt.Errorf("inbox: watermark: %w", &inbox.TemporaryError{Err: errors.New("bbolt: read")})})
		check("store error", "", "store failed, new mail waits: inbox: watermark: ")
		h.IMAP(inbox.Event{Kind: after, UID: 4})
		h.IMAP(inbox.Event{Kind: "idle"})
		check("after "+after, "", "")
	}

	// A NO to a command in a live session is an IMAP problem, not a login one.
	h.IMAP(inbox.Event{Kind: "error", Err: errors.New("inbox: search: NO [SERVERBUG]")})
	check("NO", "round failed: inbox: search: NO [SERVERBUG]", "")
	failedAt := now
	now = now.Add(time.Minute)
	h.IMAP(inbox.Event{Kind: "idle"})
	h.IMAP(inbox.Event{Kind: "error", Err: errors.New("inbox: search: NO [SERVERBUG]")})
	if _, since, _ := h.IMAPFailing(); !since.Equal(failedAt) {
		t.Errorf("IMAPFailing() since %v, want %v (the first failed round)", since, failedAt)
	}
	h.IMAP(inbox.Event{Kind: "resumed"})
	check("NO resumed", "", "")

	// The connection is lost: red, and stray events do not clear it. The
	// store problem stays until a message is processed or a new session
	// starts (its first round reports the disk again if it is still full).
	h.IMAP(inbox.Event{Kind: "error", UID: 4, Err: enospc})
	h.IMAP(inbox.Event{Kind: "error", Err: errors.New("inbox: idle: connection reset"), Ended: true})
	check("lost", "not logged in: inbox: idle: connection reset", "disk full, ")
	h.IMAP(inbox.Event{Kind: "idle"})
	check("lost, then idle", "not logged in: ", "disk full, ")
	for _, k := range []string{"processed", "resumed", "idle"} {
		h.IMAP(inbox.Event{Kind: k})
		check("lost, then "+k, "not logged in: ", "")
	}
	h.IMAP(inbox.Event{Kind: "connected"})
	check("reconnected", "", "")
}

// TestMonitorCheckDisk (issue 19): the periodic disk check makes a full
// disk a "store" problem without waiting for mail to fail on it, and space
// again clears it together with a round error that was the full disk; a
// round error of another kind waits for a message or a round to go
// through.
func TestMonitorCheckDisk(t *testing.T) {
	now := time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC)
	m := metrics.New(metrics.Options{Now: func() time.Time { return now }})
	free, statErr := int64(0), error(nil)
	h := New(Options{Metrics: m, Now: func() time.Time { return now }, Resync: 5 * time.Minute, CommandTimeout: time.Minute, Stale: 10 * time.Minute,
		FreeBytes: func() (int64, error) { return free, statErr }, MinFree: 4096})
	check := func(name, want string) {
		t.Helper()
		why, _, bad := m.Problem(CheckStore)
		if bad != (want != "") || !strings.Contains(why, want) {
			t.Fatalf("%s: Problem(store) = %q, %v; want %q", name, why, bad, want)
		}
	}
	h.IMAP(inbox.Event{Kind: "connected"})
	h.CheckDisk()
	check("no space, no mail", "disk full: no space left on the store's file system")
	free = 4095
	h.CheckDisk()
	check("under min_free_bytes, no mail", "disk low: 4095 bytes free on the store's file system, under limits.min_free_bytes 4096")
	free = 1 << 20
	h.CheckDisk()
	check("space again", "")

	h.IMAP(inbox.Event{Kind: "error", UID: 3, Err: &inbox.TemporaryError{Err: fmt.Errorf("spool: %w", syscall.ENOSPC)}})
	free = 0
	h.CheckDisk()
	check("ENOSPC and no space", "disk full, new mail waits: temporary: spool: ")
	free = 1 << 20
	h.CheckDisk()
	check("ENOSPC, then space", "")

	h.IMAP(inbox.Event{Kind: "error", UID: 3, Err: &inbox.TemporaryError{Err: errors.New("commit: bbolt: tx closed")}})
	h.CheckDisk()
	check("store error, disk fine", "store failed, new mail waits: temporary: commit: bbolt: tx closed")
	statErr = errors.New("statfs: permission denied")
	h.CheckDisk()
	check("store error, disk check failed", "store failed, new mail waits: temporary: commit: bbolt: tx closed; disk check failed: statfs: permission denied")
	statErr = nil
	h.IMAP(inbox.Event{Kind: "processed", UID: 3})
	h.CheckDisk()
	check("processed", "")
}

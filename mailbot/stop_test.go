package mailbot_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"mailbot/mailbot/config"
	"mailbot/mailbot/devmail"
)

// startSilent starts a server on 127.0.0.1 that accepts and never answers.
func startSilent(t *testing.T) (*devmail.Silent, int) {
	t.Helper()
	s, err := devmail.StartSilent()
	if err != nil {
		t.Fatalf("StartSilent() = %v", err)
	}
	t.Cleanup(func() { s.Close() })
	_, port, _ := strings.Cut(s.Addr, ":")
	n, _ := strconv.Atoi(port)
	return s, n
}

// runStoppable runs the daemon with its own stop and abort. The returned
// function stops and aborts it, as the first SIGTERM and its grace do, and
// fails the test unless Run returns nil within 10 s; it returns how long
// Run took.
func runStoppable(t *testing.T, h *harness) (stopAndAbort func() time.Duration) {
	t.Helper()
	stop, stopNow := context.WithCancel(context.Background())
	abort, abortNow := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.d.Run(stop, abort) }()
	return func() time.Duration {
		t.Helper()
		start := time.Now()
		stopNow()
		abortNow()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run() = %v, want nil after stop and abort", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("Run() did not return 10s after stop and abort (a network wait ignores them)")
		}
		return time.Since(start)
	}
}

// stopWhileConnected runs the daemon until it connects to the silent
// server, stops and aborts it, and checks that the connection was closed.
func stopWhileConnected(t *testing.T, h *harness, silent *devmail.Silent) {
	t.Helper()
	stopAndAbort := runStoppable(t, h)
	select {
	case <-silent.Accepted:
	case <-time.After(20 * time.Second):
		t.Fatalf("the daemon never connected to the silent server")
	}
	t.Logf("Run returned %v after stop and abort", stopAndAbort())
	select {
	case <-silent.Closed:
	case <-time.After(10 * time.Second):
		t.Errorf("the connection to the silent server is still open after Run returned")
	}
}

// TestStopWithASilentServer: a mail server that accepts and never answers
// (not even its greeting) cannot hold the stop: an SMTP send in hand is cut
// when abort ends, long before smtp.timeout, and the intake's IMAP connect
// ends at stop, long before imap.command_timeout.
func TestStopWithASilentServer(t *testing.T) {
	for _, tc := range []struct {
		name  string
		point func(cfg *config.Config, port int)
		after func(t *testing.T, h *harness)
	}{
		{"smtp", func(cfg *config.Config, port int) {
			cfg.SMTP.Port, cfg.SMTP.Timeout.Duration = port, 10*time.Minute
		}, func(t *testing.T, h *harness) {
			if o := h.outbox(); len(o) != 1 || o[0].State != "queued" {
				t.Errorf("outbox after the cut send = %v, want the acknowledgement still queued", o)
			}
		}},
		{"imap", func(cfg *config.Config, port int) {
			cfg.IMAP.Port, cfg.IMAP.CommandTimeout.Duration = port, 10*time.Minute
		}, func(*testing.T, *harness) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			silent, port := startSilent(t)
			h := newHarness(t, "")
			tc.point(h.cfg, port)
			h.restart()
			h.ingest(report(ada, "XSS")) // an acknowledgement to send
			stopWhileConnected(t, h, silent)
			tc.after(t, h)
		})
	}
}

// TestStopWithAnIMAPServerThatStopsAnswering: a connected intake whose
// server stops answering mid-session (commands wait for replies that never
// come) ends at stop.
func TestStopWithAnIMAPServerThatStopsAnswering(t *testing.T) {
	h := newHarness(t, "")
	h.cfg.IMAP.CommandTimeout.Duration = 10 * time.Minute
	h.restart()
	stopAndAbort := runStoppable(t, h)
	h.deliver(report(ada, "XSS"))
	h.waitProcessed(1)
	h.srv.HangIMAP(true)
	defer h.srv.HangIMAP(false)
	stopAndAbort()
}

// TestAbortCutsTheMessageInHand: stopping waits for the message in hand
// (committed, then flagged \Seen), but when the server stops answering
// just then, abort closes the connection instead of waiting for
// imap.command_timeout. The flag is applied again at the next start.
func TestAbortCutsTheMessageInHand(t *testing.T) {
	h := newHarness(t, "")
	committed := make(chan struct{}, 1)
	h.cfg.IMAP.After = "seen"
	h.cfg.IMAP.CommandTimeout.Duration = 10 * time.Minute
	h.restart(withFaults(func(point string) error {
		if point == "after-commit" {
			h.srv.HangIMAP(true) // the STORE \Seen gets no answer
			select {
			case committed <- struct{}{}:
			default:
			}
		}
		return nil
	}))
	t.Cleanup(func() { h.srv.HangIMAP(false) })
	stopAndAbort := runStoppable(t, h)
	h.deliver(report(ada, "XSS"))
	select {
	case <-committed:
	case <-time.After(20 * time.Second):
		t.Fatalf("the report was never committed")
	}
	stopAndAbort()
	if n := len(h.cases()); n != 1 {
		t.Errorf("%d cases after the cut, want the report's", n)
	}
}

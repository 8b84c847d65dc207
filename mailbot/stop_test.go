package mailbot_test

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// silentServer accepts TCP connections on 127.0.0.1 and never answers, as
// a hung mail server does. Each accepted connection is sent on accepted;
// closed receives one value per connection the client closed.
type silentServer struct {
	addr     *net.TCPAddr
	accepted chan struct{}
	closed   chan struct{}
}

func startSilentServer(t *testing.T) *silentServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("Listen() = %v", err)
	}
	s := &silentServer{addr: ln.Addr().(*net.TCPAddr), accepted: make(chan struct{}, 16), closed: make(chan struct{}, 16)}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			s.accepted <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				io.Copy(io.Discard, c) // read until the client closes: never answer
				s.closed <- struct{}{}
			}()
		}
	}()
	return s
}

// runUntilStopped runs the daemon, waits for the silent server's first
// connection, then stops and aborts it as the first SIGTERM and its grace
// do, and returns how long Run took to return after that.
func runUntilStopped(t *testing.T, h *harness, hung *silentServer) time.Duration {
	t.Helper()
	stop, stopNow := context.WithCancel(context.Background())
	abort, abortNow := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.d.Run(stop, abort) }()
	select {
	case <-hung.accepted:
	case <-time.After(20 * time.Second):
		t.Fatalf("the daemon never connected to the silent server")
	}
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
	took := time.Since(start)
	select {
	case <-hung.closed:
	case <-time.After(10 * time.Second):
		t.Errorf("the connection to the silent server is still open after Run returned")
	}
	return took
}

// TestStopWithASilentSMTPServer: a send in hand to an SMTP server that
// never answers (not even its greeting) is cut when abort ends, long
// before smtp.timeout: the first SIGTERM ends within its grace.
func TestStopWithASilentSMTPServer(t *testing.T) {
	hung := startSilentServer(t)
	h := newHarness(t, "")
	h.cfg.SMTP.Port = hung.addr.Port
	h.cfg.SMTP.Timeout.Duration = 10 * time.Minute
	h.restart()
	h.ingest(report(ada, "XSS")) // an acknowledgement to send
	took := runUntilStopped(t, h, hung)
	t.Logf("Run returned %v after stop and abort", took)
	if o := h.outbox(); len(o) != 1 || o[0].State != "queued" {
		t.Errorf("outbox after the cut send = %v, want the acknowledgement still queued", o)
	}
}

// TestStopWithASilentIMAPServer: an IMAP server that accepts and never
// greets holds the intake in its connect; stopping ends that wait at once.
func TestStopWithASilentIMAPServer(t *testing.T) {
	hung := startSilentServer(t)
	h := newHarness(t, "")
	h.cfg.IMAP.Port = hung.addr.Port
	h.cfg.IMAP.CommandTimeout.Duration = 10 * time.Minute
	h.restart()
	took := runUntilStopped(t, h, hung)
	t.Logf("Run returned %v after stop and abort", took)
}

// TestStopWithAnIMAPServerThatStopsAnswering: a connected intake whose
// server stops answering mid-session (commands wait for replies that never
// come) ends at stop.
func TestStopWithAnIMAPServerThatStopsAnswering(t *testing.T) {
	h := newHarness(t, "")
	h.cfg.IMAP.CommandTimeout.Duration = 10 * time.Minute
	h.restart()
	stop, stopNow := context.WithCancel(context.Background())
	abort, abortNow := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.d.Run(stop, abort) }()
	h.deliver(report(ada, "XSS"))
	h.waitProcessed(1)
	h.srv.HangIMAP(true)
	defer h.srv.HangIMAP(false)
	stopNow()
	abortNow()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run() = %v, want nil after stop and abort", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("Run() did not return 10s after stop and abort")
	}
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
	stop, stopNow := context.WithCancel(context.Background())
	abort, abortNow := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.d.Run(stop, abort) }()
	h.deliver(report(ada, "XSS"))
	select {
	case <-committed:
	case <-time.After(20 * time.Second):
		t.Fatalf("the report was never committed")
	}
	stopNow()
	abortNow()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run() = %v, want nil after stop and abort", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("Run() did not return 10s after stop and abort")
	}
	if n := len(h.cases()); n != 1 {
		t.Errorf("%d cases after the cut, want the report's", n)
	}
}

package cli

import (
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mailbot/mailbot/metrics"
	"mailbot/store"
)

// TestHeartbeat: each turn of the main loop feeds systemd's watchdog while
// the intake is alive, with the health reason in STATUS=, also when the
// daemon is unhealthy (a restart does not fix a password); a hung intake
// gets no WATCHDOG=1, so systemd restarts it.
func TestHeartbeat(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "notify")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "300000000")
	st, err := store.Open(filepath.Join(dir, "bot.db"), store.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var mu sync.Mutex
	now := time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	m := metrics.New(metrics.Options{Now: clock})
	m.SetReady(true)
	m.Alive()
	m.SetProblem("imap", "not logged in: authentication failed")
	beat := heartbeat(st, m, slog.New(slog.DiscardHandler))
	read := func() string {
		t.Helper()
		buf := make([]byte, 4096)
		ln.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := ln.Read(buf)
		if err != nil {
			t.Fatalf("reading the notification: %v", err)
		}
		return string(buf[:n])
	}
	beat()
	if got, want := read(), "WATCHDOG=1\nSTATUS=imap: not logged in: authentication failed (since 2026-03-03T10:00:00Z)"; got != want {
		t.Fatalf("notification = %q, want %q", got, want)
	}
	mu.Lock()
	now = now.Add(16 * time.Minute) // the intake stopped turning
	mu.Unlock()
	beat()
	if got := read(); strings.Contains(got, "WATCHDOG=1") || !strings.Contains(got, "STATUS=intake not seen alive for 16m0s; imap: ") {
		t.Fatalf("notification with a hung intake = %q, want only STATUS= with both reasons", got)
	}
}

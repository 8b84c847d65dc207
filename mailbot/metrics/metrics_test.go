package metrics

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec.Code, rec.Body.String()
}

func TestHealth(t *testing.T) {
	clk := &clock{t: time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)}
	m := New(Options{AliveTimeout: time.Minute, Now: clk.now})
	h := m.Handler()
	for _, step := range []struct {
		name     string
		do       func()
		wantCode int
		wantBody string
	}{
		{"start", func() {}, 503, "not ready\nintake not seen alive yet"},
		{"alive but not ready", m.Alive, 503, "not ready"},
		{"ready", func() { m.SetReady(true) }, 200, "ok"},
		{"59s later", func() { clk.add(59 * time.Second) }, 200, "ok"},
		{"61s later", func() { clk.add(2 * time.Second) }, 503, "intake not seen alive for 1m1s"},
		{"alive again", m.Alive, 200, "ok"},
		{"disk low", func() { m.SetProblem("disk", "12 MB free") }, 503, "disk: 12 MB free (since 2026-03-14T09:01:01Z)"},
		{"disk lower, same outage", func() { clk.add(time.Second); m.Alive(); m.SetProblem("disk", "2 MB free") }, 503, "disk: 2 MB free (since 2026-03-14T09:01:01Z)"},
		{"imap down too", func() { m.SetProblem("imap", "login failed") }, 503, "disk: 2 MB free (since 2026-03-14T09:01:01Z)\nimap: login failed (since 2026-03-14T09:01:02Z)"},
		{"both fixed", func() { m.ClearProblem("disk"); m.ClearProblem("imap") }, 200, "ok"},
		{"stopping", func() { m.SetReady(false) }, 503, "not ready"},
	} {
		step.do()
		code, body := get(t, h, "/healthz")
		if code != step.wantCode || strings.TrimSpace(body) != step.wantBody {
			t.Errorf("%s: GET /healthz = %d %q, want %d %q", step.name, code, body, step.wantCode, step.wantBody)
		}
	}
	m2 := New(Options{})
	m2.SetReady(true)
	if ok, why := m2.Healthy(); ok || why != "intake not seen alive yet" {
		t.Errorf("Healthy() before any Alive = %v %q, want false \"intake not seen alive yet\"", ok, why)
	}
}

func TestMetricsExposed(t *testing.T) {
	m := New(Options{})
	m.Messages.WithLabelValues("report").Inc()
	m.Messages.WithLabelValues("report").Inc()
	m.Messages.WithLabelValues("automated").Inc()
	m.Acknowledgements.Inc()
	m.Relays.Add(3)
	m.OutboxFailures.Inc()
	m.IMAPReconnects.Inc()
	m.DeadlineBreaches.Inc()
	m.OutboxDepth.Set(7)
	m.Processing.Observe(0.02)
	code, body := get(t, m.Handler(), "/metrics")
	if code != 200 {
		t.Fatalf("GET /metrics = %d", code)
	}
	for _, want := range []string{
		`mailbot_messages_total{class="report"} 2`,
		`mailbot_messages_total{class="automated"} 1`,
		"mailbot_acknowledgements_total 1",
		"mailbot_relays_total 3",
		"mailbot_outbox_failures_total 1",
		"mailbot_imap_reconnects_total 1",
		"mailbot_deadline_breaches_total 1",
		"mailbot_outbox_depth 7",
		`mailbot_processing_seconds_bucket{le="0.025"} 1`,
		"mailbot_processing_seconds_count 1",
		"go_goroutines ",
		"process_open_fds ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("GET /metrics lacks %q", want)
		}
	}
	// Two instances do not share anything (no global registry).
	other := New(Options{})
	_, body2 := get(t, other.Handler(), "/metrics")
	if strings.Contains(body2, `class="report"`) {
		t.Errorf("a second Metrics sees the first one's counters")
	}
	if code, _ := get(t, m.Handler(), "/nope"); code != 404 {
		t.Errorf("GET /nope = %d, want 404", code)
	}
}

func TestServe(t *testing.T) {
	m := New(Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.ServeListener(ctx, ln) }()
	client := &http.Client{Timeout: 10 * time.Second}
	base := "http://" + ln.Addr().String()
	resp, err := client.Get(base + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz = %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("GET /healthz = %d, want 503 before SetReady", resp.StatusCode)
	}
	m.SetReady(true)
	m.Alive()
	resp, err = client.Get(base + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz = %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET /healthz = %d, want 200", resp.StatusCode)
	}
	resp, err = client.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics = %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "mailbot_outbox_depth 0") {
		t.Errorf("GET /metrics lacks mailbot_outbox_depth")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ServeListener() = %v, want nil after cancel", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("ServeListener() did not return after cancel")
	}
	if _, err := client.Get(base + "/healthz"); err == nil {
		t.Errorf("GET after stop succeeded, want the listener closed")
	}

	// Serve with an address that is taken fails at once.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if err := m.Serve(context.Background(), busy.Addr().String()); err == nil {
		t.Errorf("Serve(busy address) = nil error")
	}
}

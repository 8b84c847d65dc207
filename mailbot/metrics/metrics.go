// Package metrics owns mailbot's Prometheus metrics and its health check:
// one registry per Metrics (no globals), served with /metrics and /healthz
// on a local listener.
//
// All metric names start with "mailbot_". The daemon updates the fields
// directly: m.Messages.WithLabelValues("report").Inc(),
// m.Processing.Observe(d.Seconds()), m.OutboxDepth.Set(n).
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Options for New.
type Options struct {
	// AliveTimeout: /healthz fails when the intake has not called Alive for
	// this long. 0 means 15 minutes (above the default 5 minute IMAP
	// resync, with room for a reconnect).
	AliveTimeout time.Duration
	Now          func() time.Time // nil: time.Now
	Logger       *slog.Logger     // nil: discard
}

// Metrics is the daemon's set of metrics and its readiness.
type Metrics struct {
	Registry *prometheus.Registry

	Messages          *prometheus.CounterVec // mailbot_messages_total{class}
	Acknowledgements  prometheus.Counter     // mailbot_acknowledgements_total
	Relays            prometheus.Counter     // mailbot_relays_total
	OutboxFailures    prometheus.Counter     // mailbot_outbox_failures_total
	IMAPReconnects    prometheus.Counter     // mailbot_imap_reconnects_total
	DeadlineBreaches  prometheus.Counter     // mailbot_deadline_breaches_total
	OutboxDepth       prometheus.Gauge       // mailbot_outbox_depth
	Processing        prometheus.Histogram   // mailbot_processing_seconds
	IMAPUp            prometheus.Gauge       // mailbot_imap_up: 1 logged in and answering
	IMAPLastLogin     prometheus.Gauge       // mailbot_imap_last_login_timestamp_seconds
	SMTPLastSent      prometheus.Gauge       // mailbot_smtp_last_success_timestamp_seconds
	OutboxOldestDue   prometheus.Gauge       // mailbot_outbox_oldest_due_seconds
	SelftestRoundTrip prometheus.Histogram   // mailbot_selftest_roundtrip_seconds

	aliveTimeout time.Duration
	now          func() time.Time
	log          *slog.Logger
	ready        atomic.Bool
	lastAlive    atomic.Int64 // UnixNano; 0: never

	mu       sync.Mutex
	problems map[string]problem // by check name: what is wrong now
}

// problem is one failing check, as SetProblem recorded it.
type problem struct {
	reason string
	since  time.Time
}

// New creates the metrics in a registry of their own, with the Go runtime
// and process collectors (memory and file descriptors matter over years).
func New(opt Options) *Metrics {
	if opt.AliveTimeout <= 0 {
		opt.AliveTimeout = 15 * time.Minute
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "mailbot", Name: name, Help: help})
	}
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "mailbot", Name: name, Help: help})
	}
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Messages: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "mailbot", Name: "messages_total",
			Help: "Messages committed, by class (report, follow-up, automated, bounce, own, quarantine, ...)."}, []string{"class"}),
		Acknowledgements: counter("acknowledgements_total", "Acknowledgements queued to reporters."),
		Relays:           counter("relays_total", "Messages relayed to the team."),
		OutboxFailures:   counter("outbox_failures_total", "Outgoing mails that failed for good (5xx or retries exhausted)."),
		IMAPReconnects:   counter("imap_reconnects_total", "IMAP reconnections."),
		DeadlineBreaches: counter("deadline_breaches_total", "Disclosure-policy clocks that passed their due date."),
		OutboxDepth: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "mailbot", Name: "outbox_depth",
			Help: "Outgoing mails queued and not yet sent."}),
		Processing: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "mailbot", Name: "processing_seconds",
			Help:    "Time from spooled raw message to committed transaction.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}}),
		IMAPUp:          gauge("imap_up", "1 when the IMAP session is logged in and its last command succeeded, else 0."),
		IMAPLastLogin:   gauge("imap_last_login_timestamp_seconds", "Unix time of the last successful IMAP login."),
		SMTPLastSent:    gauge("smtp_last_success_timestamp_seconds", "Unix time of the last mail the SMTP server accepted."),
		OutboxOldestDue: gauge("outbox_oldest_due_seconds", "How long the outbox item due first has been due and unsent; 0 when none is."),
		SelftestRoundTrip: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "mailbot", Name: "selftest_roundtrip_seconds",
			Help:    "Time from queueing a probe mail to the bot's own address to seeing it in the inbox.",
			Buckets: []float64{1, 2, 5, 10, 30, 60, 120, 300, 600, 1800}}),
		aliveTimeout: opt.AliveTimeout,
		now:          opt.Now,
		log:          opt.Logger,
	}
	m.Registry.MustRegister(m.Messages, m.Acknowledgements, m.Relays, m.OutboxFailures, m.IMAPReconnects,
		m.DeadlineBreaches, m.OutboxDepth, m.Processing, m.IMAPUp, m.IMAPLastLogin, m.SMTPLastSent, m.OutboxOldestDue,
		m.SelftestRoundTrip,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// SetReady marks the daemon ready (after startup) or not (while stopping).
func (m *Metrics) SetReady(ok bool) { m.ready.Store(ok) }

// Alive records that the intake loop is running; it calls this on every
// pass (connected, idle wake-up, poll, processed message).
func (m *Metrics) Alive() { m.lastAlive.Store(m.now().UnixNano()) }

// SetProblem records that check (a short name: "imap", "smtp", "outbox",
// "disk", ...) fails now, and why. The first call of an outage keeps its
// time; later calls only update the reason.
func (m *Metrics) SetProblem(check, reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.problems == nil {
		m.problems = map[string]problem{}
	}
	p, ok := m.problems[check]
	if !ok {
		p.since = m.now()
	}
	p.reason = reason
	m.problems[check] = p
}

// ClearProblem records that check works again.
func (m *Metrics) ClearProblem(check string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.problems, check)
}

// Problem reports whether check fails now, why and since when.
func (m *Metrics) Problem(check string) (reason string, since time.Time, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.problems[check]
	return p.reason, p.since, ok
}

// Live reports whether the intake loop was seen turning within the alive
// timeout: a process that is live but unhealthy (a wrong password) is not
// helped by a restart, a hung one is.
func (m *Metrics) Live() (bool, string) {
	last := m.lastAlive.Load()
	if last == 0 {
		return true, "starting"
	}
	if age := m.now().Sub(time.Unix(0, last)); age > m.aliveTimeout {
		return false, fmt.Sprintf("intake not seen alive for %s", age.Truncate(time.Second))
	}
	return true, "ok"
}

// Healthy reports whether the daemon is ready, the intake was seen alive
// within the timeout and no check has a problem; if not, every reason, one
// per line, in a stable order.
func (m *Metrics) Healthy() (bool, string) {
	var why []string
	if !m.ready.Load() {
		why = append(why, "not ready")
	}
	if m.lastAlive.Load() == 0 {
		why = append(why, "intake not seen alive yet")
	} else if live, hung := m.Live(); !live {
		why = append(why, hung)
	}
	m.mu.Lock()
	checks := make([]string, 0, len(m.problems))
	for c := range m.problems {
		checks = append(checks, c)
	}
	slices.Sort(checks)
	for _, c := range checks {
		p := m.problems[c]
		why = append(why, fmt.Sprintf("%s: %s (since %s)", c, p.reason, p.since.UTC().Format(time.RFC3339)))
	}
	m.mu.Unlock()
	if len(why) == 0 {
		return true, "ok"
	}
	return false, strings.Join(why, "\n")
}

// Handler serves /metrics and /healthz (200 "ok", or 503 and the reason).
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(m.log.Handler(), slog.LevelError), Registry: m.Registry}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		ok, why := m.Healthy()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprintln(w, why)
	})
	return mux
}

// Serve listens on addr (for example "127.0.0.1:9120"; keep it local or
// behind a firewall: the metrics are not authenticated) and serves until
// ctx is done.
func (m *Metrics) Serve(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics: listen: %w", err)
	}
	return m.ServeListener(ctx, ln)
}

// ServeListener is Serve on a listener the caller opened (so a port conflict
// is found before the daemon reports ready). It closes ln.
func (m *Metrics) ServeListener(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           m.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(m.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				m.log.Error("metrics: panic", "err", p, "stack", string(debug.Stack()))
				errc <- fmt.Errorf("metrics: panic: %v", p)
			}
		}()
		errc <- srv.Serve(ln)
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("metrics: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: serve: %w", err)
	}
	return nil
}

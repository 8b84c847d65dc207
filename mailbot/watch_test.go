package mailbot_test

import (
	"context"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailbot/mailbot"
	"mailbot/mailbot/devmail"
	"mailbot/mailbot/metrics"
)

// noSelftest turns the periodic probe off.
const noSelftest = "[health]\nselftest_interval = \"0s\"\n"

// withMetrics gives the daemon m, on the harness clock.
func withMetrics(m *metrics.Metrics) option {
	return func(_ *harness, o *mailbot.Options) { o.Metrics = m }
}

// newMetrics is a ready daemon's metrics on h's clock, its intake seen alive.
func newMetrics(h *harness) *metrics.Metrics {
	m := metrics.New(metrics.Options{Now: h.clock.Now})
	m.SetReady(true)
	m.Alive()
	return m
}

// healthz asks m's /healthz and returns the status code and body.
func healthz(t *testing.T, m *metrics.Metrics) (int, string) {
	t.Helper()
	m.Alive() // as `mailbot run` does on every intake event
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	body, _ := io.ReadAll(rec.Body)
	return rec.Code, string(body)
}

// alarms are the queued alarm mails about check, by recipient.
func (h *harness) alarms(check string) map[string][]string {
	h.t.Helper()
	out := map[string][]string{}
	for _, o := range h.outbox() {
		if o.Kind == "alarm" && strings.Contains(header(h.t, o.Raw, "Subject"), " "+check+" ") {
			out[o.To[0]] = append(out[o.To[0]], header(h.t, o.Raw, "Subject"))
		}
	}
	return out
}

// wrongPassword points the IMAP login at a file with a wrong password
// (SMTP keeps the right one) and returns the function that fixes it.
func wrongPassword(t *testing.T, h *harness) (fix func()) {
	t.Helper()
	bad := filepath.Join(t.TempDir(), "imap-pw")
	if err := os.WriteFile(bad, []byte("wrong\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.cfg.IMAP.Password.File = bad // read at every login
	return func() {
		if err := os.WriteFile(bad, []byte(pw+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestHealthIMAPWrongPassword: with every IMAP login failing, /healthz is
// 503 and says why at once; after alarm_after both on-duty members get one
// alarm mail, never a second (not even after a restart); when the login
// works again they get one recovery mail and /healthz is 200.
func TestHealthIMAPWrongPassword(t *testing.T) {
	h := newHarness(t, noSelftest)
	m := newMetrics(h)
	fix := wrongPassword(t, h)
	h.restart(withTeam(t), withMetrics(m))
	broken := h.clock.Now()
	h.run()
	e := h.waitEvent("error")
	code, body := healthz(t, m)
	if code != 503 || !strings.Contains(body, "imap: not logged in: ") || !strings.Contains(body, e.Err.Error()) {
		t.Fatalf("healthz = %d %q, want 503 naming the failed login %q", code, body, e.Err)
	}
	t.Logf("broken IMAP password to 503: %s on the injected clock", h.clock.Now().Sub(broken))

	ctx := context.Background()
	h.clock.Advance(14 * time.Minute)
	h.d.CheckHealth(ctx)
	if got := h.alarms("imap"); len(got) != 0 {
		t.Fatalf("alarms after 14m = %v, want none before alarm_after (15m)", got)
	}
	h.clock.Advance(time.Minute)
	h.d.CheckHealth(ctx)
	got := h.alarms("imap")
	if len(got[ann]) != 1 || len(got[bob]) != 1 || !strings.Contains(got[ann][0], "alarm: imap failing since") {
		t.Fatalf("alarms after 15m = %v, want one to each on-duty member", got)
	}
	t.Logf("broken IMAP password to alarm mail: %s on the injected clock", h.clock.Now().Sub(broken))
	for range 3 {
		h.clock.Advance(10 * time.Minute)
		h.d.CheckHealth(ctx)
	}
	h.restart(withTeam(t), withMetrics(m))
	h.run()
	h.waitEvent("error")
	h.clock.Advance(20 * time.Minute)
	h.d.CheckHealth(ctx)
	if got := h.alarms("imap"); len(got[ann]) != 1 || len(got[bob]) != 1 {
		t.Fatalf("alarms after 50m and a restart = %v, want still one each", got)
	}

	fix()
	h.waitEvent("connected")
	h.d.CheckHealth(ctx)
	got = h.alarms("imap")
	if len(got[ann]) != 2 || !strings.Contains(got[ann][1], "recovered: imap") || len(got[bob]) != 2 {
		t.Fatalf("alarms after the fix = %v, want one recovery mail each", got)
	}
	h.send()
	h.d.CheckHealth(ctx)
	if code, body := healthz(t, m); code != 200 {
		t.Fatalf("healthz after the fix = %d %q, want 200", code, body)
	}
	h.d.CheckHealth(ctx)
	if got := h.alarms("imap"); len(got[ann]) != 2 {
		t.Fatalf("alarms after recovery = %v, want no more", got)
	}
}

// TestHealthSMTPFailing: an SMTP server refusing everything for longer than
// outbox_stale makes /healthz 503 with its error; a successful send makes it
// 200 again.
func TestHealthSMTPFailing(t *testing.T) {
	h := newHarness(t, noSelftest)
	m := newMetrics(h)
	h.restart(withMetrics(m))
	ctx := context.Background()
	h.srv.FailNext(2, devmail.Fault{Code: 451, Message: "try later"})
	h.ingest(report(ada, "XSS in login"))
	h.send() // fails at 10:00
	h.clock.Advance(5 * time.Minute)
	h.send() // fails at 10:05
	h.d.CheckHealth(ctx)
	if why, ok := problem(m, "smtp"); ok {
		t.Fatalf("smtp problem 5m into an outage = %q, want none (within outbox_stale)", why)
	}
	h.clock.Advance(11 * time.Minute)
	h.d.CheckHealth(ctx)
	code, body := healthz(t, m)
	if code != 503 || !strings.Contains(body, "smtp: every attempt failed for 16m0s: ") || !strings.Contains(body, "451") {
		t.Fatalf("healthz after 16m of SMTP failures = %d %q, want 503 naming smtp and its error", code, body)
	}
	h.run()
	h.waitEvent("connected")
	h.send()
	h.d.CheckHealth(ctx)
	if code, body := healthz(t, m); code != 200 {
		t.Fatalf("healthz after a successful send = %d %q, want 200", code, body)
	}
}

// TestHealthOldDueItem: a mail due longer than outbox_stale that no attempt
// has been made for (the sender is not running) makes /healthz 503.
func TestHealthOldDueItem(t *testing.T) {
	h := newHarness(t, noSelftest)
	m := newMetrics(h)
	h.restart(withMetrics(m))
	h.ingest(report(ada, "SQLi"))
	h.clock.Advance(10 * time.Minute)
	h.d.CheckHealth(context.Background())
	if _, ok := problem(m, "outbox"); ok {
		t.Fatalf("outbox problem at 10m, want none (bound 10m)")
	}
	h.clock.Advance(time.Second)
	h.d.CheckHealth(context.Background())
	if why, ok := problem(m, "outbox"); !ok || !strings.Contains(why, "a mail due for 10m1s is unsent") {
		t.Fatalf("outbox problem at 10m1s = %q, %v, want the age", why, ok)
	}
	h.send()
	h.d.CheckHealth(context.Background())
	if why, ok := problem(m, "outbox"); ok {
		t.Fatalf("outbox problem after sending = %q, want none", why)
	}
}

func problem(m *metrics.Metrics, check string) (string, bool) {
	why, _, ok := m.Problem(check)
	return why, ok
}

// TestSelftestProbe: the periodic probe goes out through SMTP, comes back
// through IMAP, opens no case, is removed from the mailbox, and its round
// trip is measured; a probe that does not come back within the bound turns
// health red and alarms both on-duty members once.
func TestSelftestProbe(t *testing.T) {
	h := newHarness(t, "")
	m := newMetrics(h)
	h.restart(withTeam(t), withMetrics(m))
	h.run()
	h.waitEvent("connected")
	ctx := context.Background()
	h.d.CheckHealth(ctx)
	// The scheduler may send the day's digest at start; only probes count.
	for _, o := range h.outbox() {
		if o.Kind == "probe" {
			t.Fatalf("outbox at start holds probe %s, want none: the first probe is due one interval after the start", o.MessageID)
		}
	}
	h.clock.Advance(6 * time.Hour)
	h.d.CheckHealth(ctx) // queues the first probe and wakes the sender
	h.waitProcessed(1)
	h.d.CheckHealth(ctx) // sees it arrived: measures and removes it
	if n := len(h.cases()); n != 0 {
		t.Fatalf("cases = %d, want none from the probe", n)
	}
	inboxMsgs, err := h.srv.Mailbox(botAddr, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if len(inboxMsgs) != 0 {
		t.Fatalf("INBOX holds %d messages after the probe was seen, want 0", len(inboxMsgs))
	}
	if _, ok := problem(m, "selftest"); ok {
		t.Fatal("selftest problem after a good probe")
	}

	// The next probe is lost: the daemon is stopped, so nothing sends it.
	h.stop()
	h.stop = nil
	h.clock.Advance(6 * time.Hour)
	h.d.CheckHealth(ctx) // queues probe 2, nobody sends it
	h.clock.Advance(31 * time.Minute)
	h.d.CheckHealth(ctx)
	if why, ok := problem(m, "selftest"); !ok || !strings.Contains(why, "did not arrive within 30m0s") {
		t.Fatalf("selftest problem after 31m = %q, %v, want the lost probe", why, ok)
	}
	got := h.alarms("selftest")
	if len(got[ann]) != 1 || len(got[bob]) != 1 || !strings.Contains(got[ann][0], "selftest failing") {
		t.Fatalf("alarms = %v, want one selftest alarm to each on-duty member", got)
	}
	h.d.CheckHealth(ctx)
	if got := h.alarms("selftest"); len(got[ann]) != 1 {
		t.Fatalf("alarms after another check = %v, want still one", got)
	}
}

// TestSelftestRoundTrip is `mailbot selftest` without a daemon: the probe
// is submitted, found in the mailbox by its token, removed, and each step
// reported; a message that only copies the header opens a case as usual.
func TestSelftestRoundTrip(t *testing.T) {
	h := newHarness(t, "")
	var steps []string
	rtt, err := h.d.Selftest(context.Background(), false, 20*time.Second, func(s mailbot.Step) { steps = append(steps, s.What) })
	if err != nil {
		t.Fatalf("Selftest() = %v, steps %q", err, steps)
	}
	if rtt <= 0 || len(steps) != 4 || !strings.HasPrefix(steps[1], "submitted to ") || !strings.HasPrefix(steps[2], "arrived in INBOX") {
		t.Fatalf("Selftest() = %s, steps %q", rtt, steps)
	}
	t.Logf("in-process self-test round trip %s", rtt)
	msgs, err := h.srv.Mailbox(botAddr, "INBOX")
	if err != nil || len(msgs) != 0 {
		t.Fatalf("INBOX after the self-test = %d messages (%v), want 0", len(msgs), err)
	}
	// A forged probe header (a token the bot did not record) is ordinary mail.
	res := h.ingest(report(ada, "not a probe", "X-Mailbot-Probe: 00112233445566778899aabbccddeeff"))
	if res.Case == "" {
		t.Fatalf("Ingest(forged probe) = %+v, want a case", res)
	}
}

package cli_test

import (
	"bytes"
	"context"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailbot/mailbot/cli"
)

// runClock runs the command line in process with MAILBOT_CLOCK set to value.
func runClock(t *testing.T, value string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr syncBuffer
	code := cli.Run(ctx, args, &cli.Env{Stdout: &stdout, Stderr: &stderr, Getenv: clockEnv(value)})
	return result{code, stdout.String(), stderr.String()}
}

func clockEnv(value string) func(string) string {
	return func(key string) string {
		if key == "MAILBOT_CLOCK" {
			return value
		}
		return ""
	}
}

// TestRunRefusesABadClock: a MAILBOT_CLOCK that is not a clock stops `mailbot
// run` before it opens the store or dials a server, with exit 2 (a
// configuration error systemd does not restart) and a reason.
func TestRunRefusesABadClock(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{server: true})
	for _, value := range []string{"garbage", "start=2027-03-24T00:00:00Z,epoch=2026-12-06T07:30:00Z,scale=0"} {
		r := runClock(t, value, "run", "--config", f.cfg)
		if r.code != cli.ExitUsage || !strings.Contains(r.stderr, "invalid MAILBOT_CLOCK") {
			t.Errorf("run with MAILBOT_CLOCK=%s = %d, stderr %q, want %d saying invalid MAILBOT_CLOCK", value, r.code, r.stderr, cli.ExitUsage)
		}
	}
	if imap, smtp := f.srv.Connections(); imap != 0 || smtp != 0 {
		t.Errorf("run with a bad clock made %d IMAP and %d SMTP connections, want none", imap, smtp)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "mailbot.db")); !os.IsNotExist(err) {
		t.Errorf("run with a bad clock: store stat = %v, want it never created", err)
	}
}

// TestRunScaledClock: with a valid MAILBOT_CLOCK the daemon says loudly that
// its clock is scaled, and keeps the simulated time: the acknowledgement it
// sends is dated in the simulated March 2027, not today.
func TestRunScaledClock(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{server: true})
	start := time.Date(2027, 3, 24, 9, 0, 0, 0, time.UTC)
	value := "start=" + start.Format(time.RFC3339) + ",epoch=" + time.Now().UTC().Format(time.RFC3339Nano) + ",scale=720"
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- cli.Run(ctx, []string{"run", "--config", f.cfg}, &cli.Env{Stdout: &syncBuffer{}, Stderr: stderr, Getenv: clockEnv(value)})
	}()
	defer func() {
		cancel()
		select {
		case code := <-done:
			if code != cli.ExitOK {
				t.Errorf("run = %d after stop, want %d; log:\n%s", code, cli.ExitOK, stderr)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("run did not return 20s after stop; log:\n%s", stderr)
		}
	}()
	if _, err := f.srv.Deliver("INBOX", botAddr, testdata(t, "report.eml")); err != nil {
		t.Fatalf("Deliver() = %v", err)
	}
	wait, stopWait := context.WithTimeout(context.Background(), 30*time.Second)
	defer stopWait()
	sent, err := f.srv.WaitSent(wait, 1)
	if err != nil {
		t.Fatalf("WaitSent() = %v; daemon log:\n%s", err, stderr)
	}
	m, err := mail.ReadMessage(bytes.NewReader(sent[0].Data))
	if err != nil {
		t.Fatalf("mail.ReadMessage() = %v", err)
	}
	date, err := m.Header.Date()
	// Simulated minutes pass in wall seconds: a month later than start
	// means the test took an hour.
	if err != nil || date.Before(start) || date.After(start.AddDate(0, 1, 0)) {
		t.Errorf("acknowledgement Date = %v, %v, want simulated time after %v", date, err, start)
	}
	if log := stderr.String(); !strings.Contains(log, "level=WARN msg=\"clock is scaled: MAILBOT_CLOCK is set") || !strings.Contains(log, "scale=720") {
		t.Errorf("log = %s, want a warning that the clock is scaled, with the clock", log)
	}
}

// TestCheckSaysTheClockIsScaled: `mailbot check` warns about a scaled clock,
// refuses a bad one (exit 2), and says nothing without one.
func TestCheckSaysTheClockIsScaled(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{team: true})
	const warning = "warning: clock is scaled: MAILBOT_CLOCK is set"
	value := "start=2027-03-24T00:00:00Z,epoch=2026-12-06T07:30:00.123456789Z,scale=720"
	if r := runClock(t, value, "check", "--config", f.cfg); r.code != cli.ExitOK || !strings.Contains(r.stderr, warning+", the bot keeps simulated time (for the soak only, never in production): "+value) {
		t.Errorf("check with a scaled clock = %d, stderr %q, want %d and a warning naming the clock", r.code, r.stderr, cli.ExitOK)
	}
	if r := runClock(t, "scale=720", "check", "--config", f.cfg); r.code != cli.ExitUsage || !strings.Contains(r.stderr, "invalid MAILBOT_CLOCK") {
		t.Errorf("check with a bad clock = %d, stderr %q, want %d saying invalid MAILBOT_CLOCK", r.code, r.stderr, cli.ExitUsage)
	}
	if r := runClock(t, "", "check", "--config", f.cfg); r.code != cli.ExitOK || strings.Contains(r.stderr, "clock") {
		t.Errorf("check without a clock = %d, stderr %q, want %d and no word of a clock", r.code, r.stderr, cli.ExitOK)
	}
}

package cli_test

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailbot/mailbot/cli"
	"mailbot/mailbot/remind"
	"mailbot/policy"
)

// remindAt is a working moment two weeks from now (10:00 local), when the
// clocks of a report ingested now are long breached.
func remindAt(t *testing.T, f *fixture) string {
	t.Helper()
	p, err := policy.Load(filepath.Join(f.dir, "policy.toml"))
	if err != nil {
		t.Fatalf("policy.Load() = %v", err)
	}
	loc := p.Calendar.Location()
	d := time.Now().In(loc).AddDate(0, 0, 14)
	at := p.Calendar.NextWorkingMoment(time.Date(d.Year(), d.Month(), d.Day(), 10, 0, 0, 0, loc))
	return at.Format("2006-01-02 15:04")
}

func outboxLen(t *testing.T, f *fixture) int {
	t.Helper()
	r := mustRun(t, 0, nil, "outbox", "--config", f.cfg, "--json")
	var items []json.RawMessage
	if err := json.Unmarshal([]byte(r.stdout), &items); err != nil {
		t.Fatalf("outbox --json: %v\n%s", err, r.stdout)
	}
	return len(items)
}

func TestRemindListsWithoutSending(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	mustRun(t, 0, nil, "ingest", "--config", f.cfg, filepath.Join("testdata", "report.eml"))
	before := outboxLen(t, f)
	at := remindAt(t, f)

	// The daemon never ran: a catch-up, folded into one summary per
	// recipient (the digest and the escalations of both clocks go to the
	// on-duty pair and the team).
	text := mustRun(t, 0, nil, "remind", "--config", f.cfg, "--at", at)
	for _, want := range []string{"(catch-up)", "escalate -> team", "digest -> on-duty", "confirm breached", "assess breached"} {
		if !strings.Contains(text.stdout, want) {
			t.Errorf("remind --at %s lacks %q:\n%s", at, want, text.stdout)
		}
	}
	js := mustRun(t, 0, nil, "remind", "--config", f.cfg, "--at", at, "--json")
	var acts []remind.Action
	if err := json.Unmarshal([]byte(js.stdout), &acts); err != nil {
		t.Fatalf("remind --json: %v\n%s", err, js.stdout)
	}
	kinds := map[string]int{}
	for _, a := range acts {
		for _, p := range append([]remind.Action{a}, a.Parts...) {
			kinds[p.Kind]++
		}
	}
	if kinds["digest"] != 1 || kinds["escalate"] != 2 {
		t.Errorf("remind --json kinds = %v, want one digest and two escalations\n%s", kinds, js.stdout)
	}
	// Listing is not sending: no mail queued, nothing marked (the same
	// listing again).
	if n := outboxLen(t, f); n != before {
		t.Errorf("outbox has %d items after remind, want %d", n, before)
	}
	if again := mustRun(t, 0, nil, "remind", "--config", f.cfg, "--at", at); again.stdout != text.stdout {
		t.Errorf("remind --at again =\n%s\nwant the same as before:\n%s", again.stdout, text.stdout)
	}
}

func TestRemindTimes(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	tests := []struct {
		at       string
		code     int
		contains string
	}{
		{"2026-03-08 03:00", 0, "nothing due at 2026-03-08T03:00:00+01:00 (outside working hours)"},
		{"2026-03-08T02:00:00Z", 0, "nothing due at 2026-03-08T03:00:00+01:00 (outside working hours)"},
		{"2026-07-05 12:00", 0, "nothing due at 2026-07-05T12:00:00+02:00 (outside working hours)"}, // a Sunday, summer time
		{"2026-03-09 10:00", 0, "digest -> on-duty"},
		{"next tuesday", 2, "bad --at time"},
	}
	for _, tc := range tests {
		r := run(t, nil, "remind", "--config", f.cfg, "--at", tc.at)
		if r.code != tc.code || !strings.Contains(r.stdout+r.stderr, tc.contains) {
			t.Errorf("remind --at %q = %d\n%s%s\nwant %d and %q", tc.at, r.code, r.stdout, r.stderr, tc.code, tc.contains)
		}
	}
}

// FuzzRemindAt feeds `mailbot remind --at` any time: it never panics, plans
// (exit 0) or refuses the time (exit 2), and never queues mail.
func FuzzRemindAt(f *testing.F) {
	for _, s := range []string{"", "2026-03-09 10:00", "2026-03-09T10:00", "2026-03-09 10:00:30",
		"2026-03-09T10:00:00+01:00", "2026-03-29 02:30", "2026-10-25 02:30", "9999-12-31 23:59",
		"0000-01-01 00:00", "2026-02-30 10:00", "2026-03-09 24:00", "next tuesday", "\x00", "2026-03-09T10:00:00Z"} {
		f.Add(s)
	}
	cfg := writeFuzzFixture(f, f.TempDir())
	var stdout, stderr bytes.Buffer
	if code := cli.Run(f.Context(), []string{"ingest", "--config", cfg}, &cli.Env{Stdin: bytes.NewReader(mustRead(f, "testdata/report.eml")), Stdout: &stdout, Stderr: &stderr}); code != cli.ExitOK {
		f.Fatalf("ingest = %d: %s", code, stderr.String())
	}
	f.Fuzz(func(t *testing.T, at string) {
		var stdout, stderr bytes.Buffer
		code := cli.Run(t.Context(), []string{"remind", "--config", cfg, "--at", at}, &cli.Env{Stdout: &stdout, Stderr: &stderr})
		switch {
		case code == cli.ExitOK && stdout.Len() > 0:
		case code == cli.ExitUsage && strings.Contains(stderr.String(), "bad --at time"):
		default:
			t.Errorf("remind --at %q = %d\nstdout: %s\nstderr: %s", at, code, stdout.String(), stderr.String())
		}
		stdout.Reset()
		if code := cli.Run(t.Context(), []string{"outbox", "--config", cfg, "--json"}, &cli.Env{Stdout: &stdout, Stderr: &stderr}); code != cli.ExitOK || strings.Count(stdout.String(), `"kind"`) > 1 {
			t.Errorf("outbox after remind --at %q = %d:\n%s\nwant the acknowledgement only", at, code, stdout.String())
		}
	})
}

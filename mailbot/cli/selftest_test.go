package cli_test

import (
	"regexp"
	"testing"

	"mailbot/mailbot/cli"
)

// TestSelftestCommand: `mailbot selftest` without a daemon sends the probe
// through the SMTP server, finds it in the INBOX, removes it and prints
// each step with its time; the INBOX is empty afterwards.
func TestSelftestCommand(t *testing.T) {
	f := newFixture(t, fixtureOpts{server: true})
	r := mustRun(t, cli.ExitOK, nil, "selftest", "--config", f.cfg, "--timeout", "20s")
	for _, want := range []string{
		`(?m)^ +\d+\.\d{3}s  recorded probe [0-9a-f]{32}$`,
		`(?m)^ +\d+\.\d{3}s  submitted to 127\.0\.0\.1:\d+ to security@example\.org$`,
		`(?m)^ +\d+\.\d{3}s  arrived in INBOX on 127\.0\.0\.1:\d+ \(round trip .+\)$`,
		`(?m)^ +\d+\.\d{3}s  removed from INBOX$`,
		`(?m)^ok: round trip `,
	} {
		if !regexp.MustCompile(want).MatchString(r.stdout) {
			t.Errorf("selftest printed\n%s\nwant a line matching %s", r.stdout, want)
		}
	}
	if msgs, err := f.srv.Mailbox(botAddr, "INBOX"); err != nil || len(msgs) != 0 {
		t.Errorf("INBOX after selftest = %d messages, %v; want none", len(msgs), err)
	}
}

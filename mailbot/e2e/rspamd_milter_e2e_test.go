//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// startRspamdMilter runs rspamd's proxy in milter mode on a free loopback
// port, scanning itself (self_scan: no normal worker), with milter_headers
// writing the two fields README's "Spam verdicts" asks for. Everything
// lives in dir; rspamd is stopped by pid when the test ends.
func startRspamdMilter(t *testing.T, dir string) string {
	t.Helper()
	return runRspamd(t, dir, func(addr string) string {
		return `worker "rspamd_proxy" {
    bind_socket = "` + addr + `";
    milter = yes;
    timeout = 120s;
    upstream "local" {
        default = yes;
        self_scan = yes;
    }
    count = 1;
}
`
	}, map[string]string{
		// What an administrator trusting "rspamd" writes: the result with
		// its score and the action (each routine removes every incoming
		// copy of its field). In this order: rspamd 3.4's x-rspamd-action
		// routine alone reads the score where it means the action
		// (plugins/milter_headers.lua: get_metric_score) and the milter
		// fails with "attempt to index local 'hdr' (a number value)";
		// x-spamd-result before it reads the action for both.
		// skip_local = false: the test's sender connects from 127.0.0.1,
		// where a real one comes from the Internet (by default rspamd
		// adds no field to local mail).
		"milter_headers.conf": `use = ["x-spamd-result", "x-rspamd-action"];
skip_local = false;
`,
	})
}

// TestE2ERspamdMilter is issue 18's hold with rspamd in the MTA: Postfix ->
// rspamd proxy (milter mode) -> Dovecot -> mailbot, with [spam] trust =
// ["rspamd"]. A spam sample of SpamAssassin's t/data that rspamd marks "add
// header" (it rejects only over 15, and a rejected message never reaches
// the mailbox) is held: case in suspected-spam, no acknowledgement, the
// milter's X-Rspamd-Action named on the case. A report is acknowledged, and
// so is one that forges "X-Rspamd-Action: reject", "X-Spamd-Result:
// default: True" (twice) and "X-Spam-Action: reject": Postfix drops
// incoming copies (header_checks), as README's "Spam verdicts" says.
func TestE2ERspamdMilter(t *testing.T) {
	e := newEnv(t, botOptions{mode: "idle", extra: "[spam]\ntrust = [\"rspamd\"]\n"})
	milter := startRspamdMilter(t, filepath.Join(e.dir, "rspamd"))
	smtpAddr := e.pf.useSpamMilter(t, milter, "^X-Spam", "^X-Rspamd-") // README, "Spam verdicts"
	e.bot.startReady(t)
	rspamdLog := filepath.Join(e.dir, "rspamd", "rspamd.log")

	action := func(what string, raw []byte) string {
		t.Helper()
		mark := e.bot.log.mark()
		if err := sendSMTP(smtpAddr, adaAddr, []string{botAddr}, raw); err != nil {
			t.Fatalf("sendSMTP(%s) = %v\n%s", what, err, tail(rspamdLog, 20))
		}
		return e.bot.processedAfter(t, mark, 1, "action")
	}
	spamRaw, err := os.ReadFile(filepath.Join("..", "..", "testdata", "mail", "automated", "spam-ham", "spamassassin-t-data", "spam", "010.eml"))
	if err != nil {
		t.Fatalf("ReadFile() = %v", err)
	}
	if got := action("spam/010.eml", spamRaw); got != "held-spam" {
		t.Errorf("spam/010.eml through rspamd's milter: action %q, want held-spam\n%s\n%s", got, e.bot.log.tail(20), tail(rspamdLog, 20))
	}
	hamID := "rspamd-ham-" + e.nonce + "@research.example"
	if got := action("a report", report(hamID, "XSS in /search", "The q parameter is reflected unescaped.\n")); got != "opened" {
		t.Errorf("a report through rspamd's milter: action %q, want opened\n%s", got, e.bot.log.tail(20))
	}
	forgedID := "rspamd-forged-" + e.nonce + "@research.example"
	// rspamd's milter removes every incoming copy of the fields its
	// routines write, but not X-Spam-Action (rspamc's), which "rspamd"
	// trusts too: without Postfix's header_checks that one holds the report.
	forged := append([]byte("X-Rspamd-Action: reject\r\nX-Spamd-Result: default: True [99.00 / 15.00]\r\n"+
		"X-Spam-Action: reject\r\nX-Rspamd-Action: reject\r\nX-Spamd-Result: default: True [99.00 / 15.00]\r\n"),
		report(forgedID, "CSRF on /settings", "The form has no token.\n")...)
	if got := action("a report with forged rspamd fields", forged); got != "opened" {
		t.Errorf("a report with a forged X-Rspamd-Action: action %q, want opened (the MTA strips it)\n%s", got, e.bot.log.tail(20))
	}
	e.bot.stop(t)

	statuses := map[string]int{}
	held := ""
	for _, c := range e.bot.cases(t) {
		statuses[c.Status]++
		if c.Status == "suspected-spam" {
			held = c.Ref
		}
	}
	if statuses["suspected-spam"] != 1 || statuses["new"] != 2 {
		t.Errorf("case statuses = %v, want one suspected-spam and two new", statuses)
	}
	if held != "" {
		found := false
		for _, ev := range e.bot.caseJSON(t, held).Events {
			found = found || ev.Kind == "spam.held" && strings.Contains(ev.Detail, "X-Rspamd-Action: add header")
		}
		if !found {
			t.Errorf("case %s: no spam.held event naming X-Rspamd-Action: add header: %+v", held, e.bot.caseJSON(t, held).Events)
		}
	}
	acks := e.bot.queuedAcks(t)
	if acks != 2 {
		t.Errorf("acknowledgements queued = %d, want 2 (the reports only)", acks)
	}
	if t.Failed() {
		return
	}
	say("rspamd milter: Postfix -> rspamd proxy (milter, self_scan) -> Dovecot -> mailbot: spam/010.eml held on X-Rspamd-Action: add header (suspected-spam, no ack); a report and one with forged X-Rspamd-Action/X-Spamd-Result stripped by Postfix acknowledged")
}

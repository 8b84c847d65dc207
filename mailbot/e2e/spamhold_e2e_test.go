//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// gtube is SpamAssassin's test string: any SpamAssassin calls it spam.
const gtube = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

// startSpamassMilter runs Debian's spamass-milter on a loopback port, asking
// spamd at spamdAddr. -m: it leaves body and Subject alone (only the
// X-Spam-* fields change), so the bot reads the report as sent.
func startSpamassMilter(t *testing.T, dir, spamdAddr string) string {
	t.Helper()
	if _, err := exec.LookPath("spamass-milter"); err != nil {
		t.Fatalf("missing spamass-milter: run make e2e (it installs it)")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("MkdirAll() = %v", err)
	}
	port := freePorts(t, 1)[0]
	host, sport, _ := strings.Cut(spamdAddr, ":")
	p, err := startProc("spamass-milter", exec.Command("spamass-milter", "-p", "inet:"+port+"@127.0.0.1", "-m",
		"-P", filepath.Join(dir, "spamass-milter.pid"), "--", "-d", host, "-p", sport))
	if err != nil {
		t.Fatalf("start spamass-milter: %v", err)
	}
	t.Cleanup(func() {
		if err := p.stop(syscall.SIGTERM, serverWait); err != nil {
			t.Errorf("stop spamass-milter: %v", err)
		}
	})
	addr := "127.0.0.1:" + port
	if err := waitPort(addr, true, filterWait); err != nil {
		t.Fatalf("spamass-milter: %v", err)
	}
	return addr
}

// useSpamMilter puts milter on a new smtpd port that delivers to the bot,
// and makes Postfix drop every incoming field whose name matches one of the
// regular expressions strip (header_checks, in cleanup: they do not apply
// to the fields a milter adds), so that the only verdict the bot sees is
// the milter's.
func (pf *postfix) useSpamMilter(t *testing.T, milter string, strip ...string) string {
	t.Helper()
	pf.stop(t)
	port := freePorts(t, 1)[0]
	checks := filepath.Join(pf.etc, "spam_header_checks")
	var rules strings.Builder
	for _, re := range strip {
		fmt.Fprintf(&rules, "/%s/ IGNORE\n", re)
	}
	write(t, checks, rules.String(), 0o644)
	pf.appendConf(t, "main.cf", "header_checks = regexp:"+checks+"\n")
	pf.appendConf(t, "master.cf", fmt.Sprintf(`%s inet n - n - - smtpd
  -o smtpd_milters=inet:%s
  -o milter_default_action=tempfail
`, port, milter))
	pf.start(t)
	addr := "127.0.0.1:" + port
	if err := waitGreeting(addr, greetWait); err != nil {
		t.Fatalf("postfix: %v\n%s", err, tail(filepath.Join(pf.dir, "postfix.log"), 30))
	}
	return addr
}

// queuedAcks counts the acknowledgements in the bot's outbox.
func (b *bot) queuedAcks(t *testing.T) int {
	t.Helper()
	n := 0
	for _, o := range b.outbox(t) {
		if o.Kind == "ack" {
			n++
		}
	}
	return n
}

// appendConf adds text to the end of Postfix's configuration file name.
func (pf *postfix) appendConf(t *testing.T, name, text string) {
	t.Helper()
	old, err := os.ReadFile(filepath.Join(pf.etc, name))
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	write(t, filepath.Join(pf.etc, name), string(old)+text, 0o644)
}

// TestE2ESpamHold is issue 18's hold with a real filter in the MTA: Postfix
// -> spamass-milter -> spamd -> Dovecot -> mailbot, with [spam] trust =
// ["spamassassin"]. A GTUBE report is held (case in suspected-spam, no
// acknowledgement); a report that forges "X-Spam-Flag: YES" is stripped by
// Postfix (header_checks; the milter alone rewrites only the first copy of
// a field) and acknowledged.
func TestE2ESpamHold(t *testing.T) {
	e := newEnv(t, botOptions{mode: "idle", extra: "[spam]\ntrust = [\"spamassassin\"]\n"})
	spamd := startSpamd(t, filepath.Join(e.dir, "spamd"))
	milter := startSpamassMilter(t, filepath.Join(e.dir, "spamass-milter"), spamd)
	smtpAddr := e.pf.useSpamMilter(t, milter, "^X-Spam-")
	e.bot.startReady(t)

	action := func(raw []byte) string {
		t.Helper()
		mark := e.bot.log.mark()
		if err := sendSMTP(smtpAddr, adaAddr, []string{botAddr}, raw); err != nil {
			t.Fatalf("sendSMTP() = %v", err)
		}
		return e.bot.processedAfter(t, mark, 1, "action")
	}
	spamID := "gtube-" + e.nonce + "@research.example"
	if got := action(report(spamID, "Great offer", "Buy now.\n"+gtube+"\n")); got != "held-spam" {
		t.Errorf("GTUBE through spamass-milter: action %q, want held-spam\n%s", got, e.bot.log.tail(20))
	}
	hamID := "forged-flag-" + e.nonce + "@research.example"
	// Two copies: spamass-milter rewrites only the first of each field it
	// writes, so without Postfix's header_checks the second would hold a
	// real report.
	forged := append([]byte("X-Spam-Flag: YES\r\nX-Spam-Status: Yes, score=99.0 required=5.0\r\nX-Spam-Flag: YES\r\n"),
		report(hamID, "XSS in /search", "The q parameter is reflected unescaped.\n")...)
	if got := action(forged); got != "opened" {
		t.Errorf("a report with a forged X-Spam-Flag: action %q, want opened (the MTA strips it)\n%s", got, e.bot.log.tail(20))
	}
	e.bot.stop(t)
	statuses := map[string]int{}
	for _, c := range e.bot.cases(t) {
		statuses[c.Status]++
	}
	if statuses["suspected-spam"] != 1 || statuses["new"] != 1 {
		t.Errorf("case statuses = %v, want one suspected-spam and one new", statuses)
	}
	acks := e.bot.queuedAcks(t)
	if acks != 1 {
		t.Errorf("acknowledgements queued = %d, want 1 (the ham only)", acks)
	}
	if t.Failed() {
		return
	}
	say("spam hold: Postfix -> spamass-milter -> spamd -> Dovecot -> mailbot: GTUBE held (suspected-spam, no ack); forged X-Spam-Flag stripped, report acknowledged")
}

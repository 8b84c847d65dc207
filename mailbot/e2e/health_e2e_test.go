//go:build e2e

package e2e

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestE2ESelftest: `mailbot selftest` sends a probe through the real
// Postfix into the real Dovecot and finds it, without a daemon and through
// a running one; the probe opens no case and is gone from the INBOX.
func TestE2ESelftest(t *testing.T) {
	e := newEnv(t, botOptions{mode: "idle"})
	rtt := regexp.MustCompile(`ok: round trip (\S+)`)
	out := e.bot.cli(t, "selftest", "--config", e.bot.config, "--timeout", "60s")
	m := rtt.FindSubmatch(out)
	if m == nil {
		t.Fatalf("mailbot selftest printed\n%s\nwant a round trip", out)
	}
	say("selftest without a daemon: round trip %s (Postfix -> LMTP -> Dovecot, found by UID SEARCH)", m[1])
	t.Logf("%s", out)

	e.bot.startReady(t)
	out = e.bot.cli(t, "selftest", "--config", e.bot.config, "--timeout", "60s")
	if m = rtt.FindSubmatch(out); m == nil || !bytes.Contains(out, []byte("the daemon runs")) {
		t.Fatalf("mailbot selftest with the daemon printed\n%s\nwant a round trip through the daemon", out)
	}
	say("selftest through the daemon (IDLE intake): round trip %s", m[1])
	t.Logf("%s", out)
	e.bot.stop(t)
	if cs := e.bot.cases(t); len(cs) != 0 {
		t.Fatalf("cases = %+v, want none from probes", cs)
	}
	bot := dialIMAP(t, e.dc.imapAddr, "security", botPass)
	waitUntil(t, "INBOX without probes", 30*time.Second, func() (bool, error) {
		msgs, err := bot.list("INBOX", false)
		for _, m := range msgs {
			if m.header("X-Mailbot-Probe") != "" {
				return false, err
			}
		}
		return err == nil, err
	})
}

// TestE2EWrongPasswordHealth: with a wrong IMAP password against the real
// Dovecot, /healthz answers 503 naming the failed login, and both on-duty
// members get the alarm mail through the real Postfix (SMTP still works).
func TestE2EWrongPasswordHealth(t *testing.T) {
	e := newEnv(t, botOptions{mode: "idle"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg, err := os.ReadFile(e.bot.config)
	if err != nil {
		t.Fatal(err)
	}
	// The IMAP password is wrong, the SMTP one right; ada is on duty.
	cfg = bytes.Replace(cfg, []byte("log_level = \"debug\"\n"), []byte("log_level = \"debug\"\nmetrics = \""+addr+"\"\n"), 1)
	cfg = bytes.Replace(cfg, []byte(`password = { file = "password" }`), []byte(`password = { file = "imap-password" }`), 1)
	cfg = append(cfg, []byte(`
[health]
alarm_after = "1s"

[[team]]
name = "Ada"
address = "ada@example.org"

[[team]]
name = "Bob"
address = "bob@example.org"
`)...)
	write(t, e.bot.config, string(cfg), 0o600)
	write(t, filepath.Join(e.bot.dir, "imap-password"), "wrong\n", 0o600)
	start := time.Now()
	e.bot.start(t)
	var body string
	waitUntil(t, "healthz 503 naming the login", 60*time.Second, func() (bool, error) {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false, nil // not listening yet
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == 503 && strings.Contains(body, "imap: not logged in: "), nil
	})
	say("wrong IMAP password: /healthz 503 %s after start: %q", time.Since(start).Round(time.Millisecond), strings.TrimSpace(body))

	ada := dialIMAP(t, e.dc.imapAddr, adaAddr, adaPass)
	var subject string
	waitUntil(t, "the alarm mail in ada's INBOX", 150*time.Second, func() (bool, error) {
		msgs, err := ada.list("INBOX", false)
		for _, m := range msgs {
			if s := m.header("Subject"); strings.HasPrefix(s, "mailbot alarm: imap failing since ") {
				subject = s
				return true, nil
			}
		}
		return false, err
	})
	say("wrong IMAP password: alarm mail %q in the on-duty member's INBOX %s after start (alarm_after 1s + the minute check)",
		subject, time.Since(start).Round(time.Millisecond))
}

// TestE2EInstalledLayout: the layout `make install` and `mailbot init
// --system` make (in a scratch root, not the machine's /etc) works for an unprivileged uid as
// the unit runs it: `mailbot check` and `mailbot run` as nobody:nogroup,
// the password from $CREDENTIALS_DIRECTORY, the store in the state
// directory; the bot logs in and acknowledges a report.
func TestE2EInstalledLayout(t *testing.T) {
	e := newEnv(t, botOptions{mode: "idle"})
	root := filepath.Join(e.dir, "root")
	etc, state := filepath.Join(root, "etc/mailbot"), filepath.Join(root, "var/lib/mailbot")
	creds := filepath.Join(root, "run/credentials/mailbot.service")
	bin := filepath.Join(root, "usr/bin/mailbot")
	// make install into the scratch root (DESTDIR: no user is made, nothing
	// outside it is touched).
	if out, err := exec.Command("make", "-C", "../..", "install", "DESTDIR="+root, "PREFIX=/usr").CombinedOutput(); err != nil {
		t.Fatalf("make install DESTDIR=%s = %v\n%s", root, err, out)
	}
	for _, f := range []string{bin, "usr/lib/systemd/system/mailbot.service", "usr/lib/systemd/system/mailbot@.service", "usr/lib/sysusers.d/mailbot.conf"} {
		if !filepath.IsAbs(f) {
			f = filepath.Join(root, f)
		}
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("make install: %v", err)
		}
	}
	if fi, err := os.Stat(etc); err != nil || fi.Mode().Perm() != 0o750 {
		t.Fatalf("make install made %s: %v, %v; want mode 0750", etc, fi, err)
	}
	for _, d := range []string{state, creds} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	imapHost, imapPort, _ := net.SplitHostPort(e.dc.imapAddr)
	smtpHost, smtpPort, _ := net.SplitHostPort(e.pf.smtpAddr)
	out, err := exec.Command(bin, "init", "--system", "--dir", etc, "--state-dir", state, "--group", "nogroup", "--user", "nobody",
		"--address", botAddr, "--imap-host", imapHost, "--imap-port", imapPort, "--imap-tls", "none", "--imap-user", "security",
		"--smtp-host", smtpHost, "--smtp-port", smtpPort, "--smtp-tls", "none").CombinedOutput()
	if err != nil {
		t.Fatalf("mailbot init --system = %v\n%s", err, out)
	}
	write(t, filepath.Join(etc, "password"), botPass+"\n", 0o600) // root's; systemd copies it
	// What systemd does for StateDirectory= and LoadCredential=.
	write(t, filepath.Join(creds, "imap-password"), botPass+"\n", 0o400)
	for _, p := range []string{state, creds, filepath.Join(creds, "imap-password")} {
		if out, err := exec.Command("chown", "nobody:nogroup", p).CombinedOutput(); err != nil {
			t.Fatalf("chown %s: %v %s", p, err, out)
		}
	}
	os.Chmod(state, 0o700)
	asService := func(args ...string) *exec.Cmd {
		cmd := exec.Command("setpriv", append([]string{"--reuid", "nobody", "--regid", "nogroup", "--clear-groups", "--", bin}, args...)...)
		cmd.Env = []string{"CREDENTIALS_DIRECTORY=" + creds, "PATH=/usr/bin:/bin"}
		return cmd
	}
	cfg := filepath.Join(etc, "mailbot.toml")
	if out, err := asService("check", "--config", cfg).CombinedOutput(); err != nil {
		t.Fatalf("mailbot check as nobody = %v\n%s", err, out)
	}
	log, err := newLogWatch(filepath.Join(e.dir, "installed.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := asService("run", "--config", cfg)
	cmd.Stdout, cmd.Stderr = log, log
	p, err := startProc("mailbot-installed", cmd)
	if err != nil {
		t.Fatalf("mailbot run as nobody: %v", err)
	}
	t.Cleanup(func() { p.stop(15, 30*time.Second) })
	log.wait(t, 0, 1, 30*time.Second, "msg=running")
	ada := dialIMAP(t, e.dc.imapAddr, adaAddr, adaPass)
	id := "installed-" + e.nonce + "@research.example"
	if err := sendSMTP(e.pf.smtpAddr, adaAddr, []string{botAddr}, report(id, "Open redirect", "The next parameter is not checked.\n")); err != nil {
		t.Fatalf("sendSMTP() = %v", err)
	}
	if got := waitAcks(t, ada, []string{id}, 60*time.Second, false); len(got) != 1 {
		t.Fatalf("acknowledgements = %d, want 1", len(got))
	}
	if _, err := os.Stat(filepath.Join(state, "mailbot.db")); err != nil {
		t.Fatalf("store in the state directory: %v", err)
	}
	say("installed layout: check and run as nobody:nogroup, report acknowledged")
}

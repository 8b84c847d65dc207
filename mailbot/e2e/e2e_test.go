//go:build e2e

package e2e

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var tagRE = regexp.MustCompile(`^\[SEC-\d{4}-\d{4}\] `)

// TestE2EPlainReport: a plain report through Postfix is acknowledged by the
// bot (IDLE) through Postfix into the researcher's mailbox.
func TestE2EPlainReport(t *testing.T) {
	e := newEnv(t, botOptions{mode: "idle"})
	e.bot.startReady(t)
	ada := dialIMAP(t, e.dc.imapAddr, adaAddr, adaPass)

	id := "plain-" + e.nonce + "@research.example"
	subject := "Stored XSS in the profile page"
	start := time.Now()
	if err := sendSMTP(e.pf.smtpAddr, adaAddr, []string{botAddr}, report(id, subject, "The display name is not escaped.\n")); err != nil {
		t.Fatalf("sendSMTP() = %v", err)
	}
	got := waitAcks(t, ada, []string{id}, 60*time.Second, false)
	say("plain report: acknowledged in %s", time.Since(start).Round(time.Millisecond))
	if len(got) != 1 {
		t.Fatalf("acknowledgements = %d, want 1", len(got))
	}
	a := got[0]
	// Nothing authenticates Ada's From here (no DKIM, no trusted
	// Authentication-Results): the acknowledgement does not repeat her subject.
	if !tagRE.MatchString(a.Subject) || a.Subject[len(tagRE.FindString(a.Subject)):] != "Received: your report" {
		t.Errorf("Subject = %q, want \"[SEC-YYYY-NNNN] Received: your report\"", a.Subject)
	}
	if a.AutoSubmitted != "auto-replied" {
		t.Errorf("Auto-Submitted = %q, want auto-replied", a.AutoSubmitted)
	}
	if a.InReplyTo != id {
		t.Errorf("In-Reply-To = %q, want %q", a.InReplyTo, id)
	}
	e.bot.stop(t)
	cs := e.bot.cases(t)
	if len(cs) != 1 || cs[0].Reporter != adaAddr || cs[0].Subject != subject {
		t.Fatalf("cases = %+v, want one case from %s about %q", cs, adaAddr, subject)
	}
	if want := "[" + cs[0].Ref + "] "; !strings.HasPrefix(a.Subject, want) {
		t.Errorf("Subject = %q, want the tag of %s", a.Subject, cs[0].Ref)
	}
	if items := e.bot.outbox(t); len(items) != 1 || items[0].State != "sent" || items[0].MessageID != a.MessageID {
		t.Errorf("outbox = %+v, want the one acknowledgement <%s>, sent", items, a.MessageID)
	}
}

// TestE2EGnuPGReport: GnuPG makes a PGP/MIME and an inline report,
// encrypted to the bot's key (from `mailbot keys generate`) and signed, with
// the researcher's key attached; both answers come back encrypted to her,
// and gpg says "Good signature" from the bot's key.
func TestE2EGnuPGReport(t *testing.T) {
	e := newEnv(t, botOptions{mode: "idle"})
	g := newGnuPG(t)
	adaFpr := g.genKey(t, "Ada Lovelace <"+adaAddr+">")
	adaPub, _ := g.run(t, nil, "--armor", "--export", adaFpr)
	botPub := e.bot.cli(t, "keys", "export", "--config", e.bot.config)
	_, imported := g.run(t, botPub, "--import")
	botFpr := statusField(imported, "IMPORT_OK", 1)
	if botFpr == "" {
		t.Fatalf("gpg --import of the bot key: no IMPORT_OK in\n%s", imported)
	}
	if list := string(e.bot.cli(t, "keys", "list", "--config", e.bot.config)); !strings.Contains(strings.ToUpper(list), botFpr) {
		t.Fatalf("mailbot keys list = %q, want fingerprint %s", list, botFpr)
	}
	e.bot.startReady(t)
	ada := dialIMAP(t, e.dc.imapAddr, adaAddr, adaPass)

	secret := "SQL injection in /login: the user parameter reaches the query unescaped."
	// RFC 3156 section 4: multipart/encrypted around an encrypted and
	// signed MIME entity; her key travels inside it.
	inner := mailBytes([][2]string{
		{"Content-Type", `multipart/mixed; boundary="inner"; protected-headers="v1"`},
		{"Subject", "SQL injection in the login form"},
	}, "--inner\nContent-Type: text/plain; charset=utf-8\n\n"+secret+"\n"+
		"--inner\nContent-Type: application/pgp-keys; name=\"ada.asc\"\nContent-Disposition: attachment; filename=\"ada.asc\"\n\n"+
		string(adaPub)+"\n--inner--\n")
	ct, _ := g.run(t, inner, "--encrypt", "--sign", "--armor", "-r", botFpr, "-u", adaFpr)
	mimeID := "pgpmime-" + e.nonce + "@research.example"
	pgpMIME := mailBytes([][2]string{
		{"From", "Ada Lovelace <" + adaAddr + ">"},
		{"To", botAddr},
		{"Subject", "..."},
		{"Date", time.Now().Format(time.RFC1123Z)},
		{"Message-ID", "<" + mimeID + ">"},
		{"MIME-Version", "1.0"},
		{"Content-Type", `multipart/encrypted; protocol="application/pgp-encrypted"; boundary="outer"`},
	}, "This is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)\n"+
		"--outer\nContent-Type: application/pgp-encrypted\nContent-Description: PGP/MIME version identification\n\nVersion: 1\n\n"+
		"--outer\nContent-Type: application/octet-stream; name=\"encrypted.asc\"\nContent-Disposition: inline; filename=\"encrypted.asc\"\n\n"+
		string(ct)+"\n--outer--\n")

	// Inline: an armored message in a text part, her key as an attachment.
	ct2, _ := g.run(t, []byte("Path traversal in /download?file=../../etc/passwd\n"), "--encrypt", "--sign", "--armor", "-r", botFpr, "-u", adaFpr)
	inlineID := "inline-" + e.nonce + "@research.example"
	inline := mailBytes([][2]string{
		{"From", "Ada Lovelace <" + adaAddr + ">"},
		{"To", botAddr},
		{"Subject", "Encrypted report"},
		{"Date", time.Now().Format(time.RFC1123Z)},
		{"Message-ID", "<" + inlineID + ">"},
		{"MIME-Version", "1.0"},
		{"Content-Type", `multipart/mixed; boundary="mixed"`},
	}, "--mixed\nContent-Type: text/plain; charset=us-ascii\n\n"+string(ct2)+"\n"+
		"--mixed\nContent-Type: application/pgp-keys; name=\"ada.asc\"\nContent-Disposition: attachment; filename=\"ada.asc\"\n\n"+
		string(adaPub)+"\n--mixed--\n")

	for _, tc := range []struct {
		name, id string
		raw      []byte
	}{{"PGP/MIME", mimeID, pgpMIME}, {"inline", inlineID, inline}} {
		start := time.Now()
		if err := sendSMTP(e.pf.smtpAddr, adaAddr, []string{botAddr}, tc.raw); err != nil {
			t.Fatalf("%s: sendSMTP() = %v", tc.name, err)
		}
		got := waitAcks(t, ada, []string{tc.id}, 60*time.Second, true)
		var a *ack
		for i := range got {
			if got[i].InReplyTo == tc.id {
				a = &got[i]
			}
		}
		if !strings.HasPrefix(a.Subject, "[...] [SEC-") {
			t.Errorf("%s: outer Subject = %q, want \"[...] [SEC-...]\" (nothing of the report in clear)", tc.name, a.Subject)
		}
		if a.AutoSubmitted != "auto-replied" {
			t.Errorf("%s: Auto-Submitted = %q, want auto-replied", tc.name, a.AutoSubmitted)
		}
		if ct := a.msg.header("Content-Type"); !strings.HasPrefix(ct, "multipart/encrypted") {
			t.Errorf("%s: Content-Type = %q, want multipart/encrypted", tc.name, ct)
		}
		block := armoredBlock(a.msg.Raw)
		if block == nil {
			t.Fatalf("%s: no PGP MESSAGE in the answer:\n%s", tc.name, a.msg.Raw)
		}
		plain, status := g.run(t, block, "--decrypt")
		if !bytes.Contains(status, []byte("Good signature")) {
			t.Errorf("%s: gpg --decrypt said\n%s\nwant Good signature", tc.name, status)
		}
		if fpr := statusField(status, "VALIDSIG", 0); fpr != botFpr {
			t.Errorf("%s: VALIDSIG %q, want the bot key %s", tc.name, fpr, botFpr)
		}
		if !bytes.Contains(plain, []byte("Received: ")) || !bytes.Contains(plain, []byte(strings.TrimPrefix(a.Subject, "[...] "))) {
			t.Errorf("%s: decrypted answer lacks the protected subject with the case tag:\n%s", tc.name, plain)
		}
		say("gnupg %s report: encrypted answer in %s, gpg: Good signature from %s", tc.name, time.Since(start).Round(time.Millisecond), botFpr)
	}

	e.bot.stop(t)
	cs := e.bot.cases(t)
	if len(cs) != 2 {
		t.Fatalf("cases = %+v, want 2", cs)
	}
	for i, c := range cs {
		v := e.bot.caseJSON(t, c.Ref)
		if len(v.Timeline) == 0 || v.Timeline[0].Direction != "in" {
			t.Fatalf("case %s: messages = %+v, want the report first", c.Ref, v.Timeline)
		}
		m := v.Timeline[0]
		if !m.Encrypted || !m.Signed {
			t.Errorf("case %s: report encrypted=%v signed=%v, want both", c.Ref, m.Encrypted, m.Signed)
		}
		// The second report is verified with the key the first one taught.
		if i == 1 && !m.SignatureValid {
			t.Errorf("case %s: signature_valid = false, want true (her key is known from the first report)", c.Ref)
		}
		if strings.Contains(m.Subject, "SQL") && i != 0 {
			t.Errorf("case order: %s has the first report", c.Ref)
		}
	}
}

// statusField returns field n (0-based, after the keyword) of the first
// "[GNUPG:] KEYWORD" status line.
func statusField(status []byte, keyword string, n int) string {
	for _, line := range strings.Split(string(status), "\n") {
		f := strings.Fields(line)
		if len(f) > 2+n && f[0] == "[GNUPG:]" && f[1] == keyword {
			return f[2+n]
		}
	}
	return ""
}

// TestE2ECrashBurst is issue 8's exactly-once under kill -9: 200 reports
// go into the mailbox while the bot runs in fast mode and is killed with
// SIGKILL at random moments and restarted. In the end every report has
// exactly one case and exactly one acknowledgement; the only duplicates
// allowed are resends with the same Message-ID (a kill between the SMTP 250
// and marking the item sent).
func TestE2ECrashBurst(t *testing.T) {
	const reports, minKills, minBusyKills, maxKills = 200, 24, 20, 100
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("E2E_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("E2E_SEED=%q: %v", s, err)
		}
		seed = n
	}
	say("crash burst: seed %d (E2E_SEED=%d repeats the random delays)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0x6d61696c626f74))

	e := newEnv(t, botOptions{mode: "fast"})
	sec := dialIMAP(t, e.dc.imapAddr, botAddr, botPass)
	ada := dialIMAP(t, e.dc.imapAddr, adaAddr, adaPass)
	ids := make([]string, reports)
	subjects := map[string]bool{}
	raws := make([][]byte, reports)
	for i := range ids {
		ids[i] = fmt.Sprintf("burst-%03d-%s@research.example", i, e.nonce)
		subj := fmt.Sprintf("Burst report %03d: IDOR on /api/items/%d", i, i)
		subjects[subj] = true
		raws[i] = report(ids[i], subj, fmt.Sprintf("Item %d of another tenant is readable.\n", i))
	}

	start := time.Now()
	e.bot.start(t)
	// The reports arrive a few at a time in every life of the bot, so
	// that the kills land while work is in hand however fast the machine:
	// each time the bot is up it is given perLife more, appended 50 ms
	// apart by this goroutine (about the span of the kill delays).
	var appendedN atomic.Int64
	quota := make(chan int, maxKills+1)
	appendDone := make(chan struct{})
	var appendErr error // set before appendDone is closed
	go func() {
		defer close(appendDone)
		defer func() {
			if p := recover(); p != nil {
				appendErr = fmt.Errorf("panic: %v", p)
			}
		}()
		pace := time.NewTicker(50 * time.Millisecond)
		defer pace.Stop()
		next := 0
		for n := range quota {
			for ; n > 0 && next < len(raws); n-- {
				if err := sec.appendMsg("INBOX", raws[next]); err != nil {
					appendErr = err
					return
				}
				next++
				appendedN.Store(int64(next))
				<-pace.C
			}
			if next == len(raws) {
				return
			}
		}
	}()
	// Kill at random moments until every report is in, at least
	// minBusyKills kills hit a bot that was up with work in hand (reports
	// appended but not yet acknowledged), and at least minKills in all.
	// Every fourth kill does not wait for the bot to be up: it often lands
	// in the start-up (store open, login, first scan).
	const perLife = 5
	kills, busyKills := 0, 0
	for kills < minKills || busyKills < minBusyKills || appendedN.Load() < reports {
		select {
		case <-appendDone:
			if appendErr != nil {
				t.Fatalf("APPEND: %v", appendErr)
			}
		default:
		}
		if kills == maxKills {
			t.Fatalf("after %d kills: %d hit a running bot with work in hand, %d of %d reports appended",
				kills, busyKills, appendedN.Load(), reports)
		}
		up := false
		if kills%4 != 3 {
			e.bot.log.wait(t, e.bot.started, 1, 30*time.Second, "msg=running")
			up = true
			quota <- perLife
		}
		timer := time.NewTimer(time.Duration(20+rng.IntN(250)) * time.Millisecond)
		<-timer.C
		e.bot.kill(t)
		// Resends repeat a Message-ID: count each acknowledgement once.
		if sent := e.bot.log.distinct("msgid", "msg=sent", "kind=ack"); up && int64(sent) < appendedN.Load() {
			busyKills++
		}
		kills++
		e.bot.start(t)
	}
	close(quota)
	select {
	case <-appendDone:
		if appendErr != nil {
			t.Fatalf("APPEND: %v", appendErr)
		}
	case <-time.After(time.Minute):
		t.Fatalf("APPEND of %d reports not done within a minute", reports)
	}
	killed := time.Since(start)
	waitAcks(t, ada, ids, 3*time.Minute, false)
	done := time.Since(start)
	// An acknowledgement may come from a life killed after its send and
	// before its mark: the last life sends it again (at least once) and
	// marks it. Wait for that before stopping it.
	e.bot.log.wait(t, e.bot.started, 1, 30*time.Second, "msg=running")
	waitUntil(t, "every acknowledgement marked sent", time.Minute, func() (bool, error) {
		for _, it := range e.bot.outbox(t) {
			if it.State != "sent" {
				return false, nil
			}
		}
		return true, nil
	})
	e.bot.stop(t)
	// Resends of a killed bot may still be in Postfix's queue.
	waitUntil(t, "postfix queue to drain", time.Minute, func() (bool, error) {
		out, err := exec.Command("postqueue", "-c", e.pf.etc, "-j").Output()
		return err == nil && len(bytes.TrimSpace(out)) == 0, err
	})
	got, err := acks(ada, false)
	if err != nil {
		t.Fatalf("acks() = %v", err)
	}

	// Exactly one case per report, holding just that report.
	perSubject := map[string]int{}
	for _, c := range e.bot.cases(t) {
		perSubject[c.Subject]++
		if _, ok := subjects[c.Subject]; !ok {
			t.Errorf("case %s %q is no report of this test", c.Ref, c.Subject)
		}
		if c.Messages != 1 {
			t.Errorf("case %s: messages = %d, want 1", c.Ref, c.Messages)
		}
	}
	for subj := range subjects {
		if n := perSubject[subj]; n != 1 {
			t.Errorf("cases for %q = %d, want 1", subj, n)
		}
	}
	// Exactly one acknowledgement per report, counted by In-Reply-To;
	// copies with the same Message-ID are resends and counted.
	byReport := map[string]map[string]int{} // In-Reply-To -> Message-ID -> copies
	for _, a := range got {
		if byReport[a.InReplyTo] == nil {
			byReport[a.InReplyTo] = map[string]int{}
		}
		byReport[a.InReplyTo][a.MessageID]++
	}
	dups := 0
	for _, id := range ids {
		msgIDs := byReport[id]
		if len(msgIDs) != 1 {
			t.Errorf("acknowledgements of %s = %d different Message-IDs %v, want 1", id, len(msgIDs), msgIDs)
		}
		for _, n := range msgIDs {
			dups += n - 1
		}
		delete(byReport, id)
	}
	for id, m := range byReport {
		t.Errorf("acknowledgement in reply to %q, which is no report of this test (%v)", id, m)
	}
	items := e.bot.outbox(t)
	sent := 0
	for _, it := range items {
		if it.State == "sent" {
			sent++
		}
	}
	if sent != reports || len(items) != reports {
		t.Errorf("outbox: %d items, %d sent, want %d sent", len(items), sent, reports)
	}
	// \Seen is set after the commit, best effort: a kill in between leaves
	// the report unflagged (the watermark has passed it). Counted, not
	// judged.
	inbox, err := sec.list("INBOX", false)
	if err != nil {
		t.Fatalf("list(INBOX) = %v", err)
	}
	unseen := 0
	for _, m := range inbox {
		if !m.Seen {
			unseen++
		}
	}
	restarts, _ := e.bot.log.count("msg=running")
	say("crash burst: %d reports, %d kills, %d duplicate sends (same Message-ID)", reports, kills, dups)
	say("crash burst: %d kills with work in hand, over %s; all acknowledged after %s; the bot came up %d times; reports left without \\Seen: %d",
		busyKills, killed.Round(time.Millisecond), done.Round(time.Millisecond), restarts, unseen)
}

// TestE2EIMAPRestart: Dovecot restarts while the bot idles; the bot
// reconnects and mail sent after the restart is acknowledged.
func TestE2EIMAPRestart(t *testing.T) {
	e := newEnv(t, botOptions{mode: "idle"})
	e.bot.startReady(t)
	ada := dialIMAP(t, e.dc.imapAddr, adaAddr, adaPass)
	before := "restart-before-" + e.nonce + "@research.example"
	if err := sendSMTP(e.pf.smtpAddr, adaAddr, []string{botAddr}, report(before, "Open redirect on /logout", "next= is not checked.\n")); err != nil {
		t.Fatalf("sendSMTP() = %v", err)
	}
	waitAcks(t, ada, []string{before}, time.Minute, false)

	// The bot is back in IDLE now. Restart Dovecot under it and send the
	// next report at once.
	mark := e.bot.log.mark()
	e.dc.stop(t)
	e.dc.start(t)
	up := time.Now()
	ada = dialIMAP(t, e.dc.imapAddr, adaAddr, adaPass)
	after := "restart-after-" + e.nonce + "@research.example"
	if err := sendSMTP(e.pf.smtpAddr, adaAddr, []string{botAddr}, report(after, "CSRF on /settings", "No token on the form.\n")); err != nil {
		t.Fatalf("sendSMTP() = %v", err)
	}
	got := waitAcks(t, ada, []string{after}, time.Minute, false)
	say("imap restart: dovecot restarted under IDLE; the report sent after it acknowledged in %s",
		time.Since(up).Round(time.Millisecond))
	// Dovecot's old IMAP processes linger a few seconds after the new
	// master is up; the bot must have noticed its connection end.
	e.bot.log.wait(t, mark, 1, 30*time.Second, "inbox: session ended, reconnecting")
	e.bot.stop(t)
	if cs := e.bot.cases(t); len(cs) != 2 {
		t.Errorf("cases = %+v, want 2", cs)
	}
	checkOneEach(t, got, []string{before, after})
}

// TestE2ESMTPOutage: Postfix is down while reports arrive; the bot defers
// the acknowledgements, and after Postfix is back its retry (one minute
// after the first failure) delivers every one.
func TestE2ESMTPOutage(t *testing.T) {
	const reports = 3
	e := newEnv(t, botOptions{mode: "idle"})
	e.bot.startReady(t)
	sec := dialIMAP(t, e.dc.imapAddr, botAddr, botPass)
	ada := dialIMAP(t, e.dc.imapAddr, adaAddr, adaPass)

	down := time.Now()
	// Deferred mail is retried after 1 min, then 2 min (doubling).
	deadline := down.Add(5 * time.Minute)
	e.pf.stop(t)
	mark := e.bot.log.mark()
	var ids []string
	for i := 0; i < reports; i++ {
		id := fmt.Sprintf("outage-%d-%s@research.example", i, e.nonce)
		ids = append(ids, id)
		if err := sec.appendMsg("INBOX", report(id, fmt.Sprintf("Outage report %d: weak TLS on host %d", i, i), "TLS 1.0 is accepted.\n")); err != nil {
			t.Fatalf("appendMsg() = %v", err)
		}
	}
	// Every acknowledgement was tried once and deferred.
	e.bot.log.wait(t, mark, reports, 30*time.Second, "msg=\"send deferred\"")
	// Keep Postfix down for a minute in all (issue 8).
	outage := time.NewTimer(time.Until(down.Add(time.Minute)))
	<-outage.C
	e.pf.start(t)
	back := time.Now()
	got := waitAcks(t, ada, ids, time.Until(deadline), false)
	say("smtp outage: postfix down %s, %d acknowledgements deferred, all delivered %s after postfix was back (%s after the outage began)",
		back.Sub(down).Round(time.Second), reports, time.Since(back).Round(time.Millisecond), time.Since(down).Round(time.Millisecond))
	e.bot.stop(t)
	checkOneEach(t, got, ids)
	items := e.bot.outbox(t)
	if len(items) != reports {
		t.Errorf("outbox: %d items, want %d", len(items), reports)
	}
	for _, it := range items {
		if it.State != "sent" || it.Attempts < 2 {
			t.Errorf("outbox item %d: state %s after %d attempts, want sent after at least 2", it.ID, it.State, it.Attempts)
		}
	}
}

// TestE2EUIDValidity: the bot's mailbox is deleted and re-created (a new
// UIDVALIDITY, UIDs from 1 again) and the same messages are put back with
// one new one: the old ones are recognised, the new one is answered, and
// nothing gets a second case or acknowledgement. Dovecot refuses to delete
// INBOX (RFC 3501 section 6.3.4), so INBOX is re-created on disk with
// Dovecot stopped; another mailbox with IMAP DELETE and CREATE while the bot
// has it selected. QUIRK: Dovecot then tells the bot's IDLE nothing (it
// logs "Corrupted transaction log ... indexid changed"): the bot finds the
// new mailbox at its periodic resync, here every 10 s.
func TestE2EUIDValidity(t *testing.T) {
	for _, tc := range []struct{ name, mailbox string }{
		{"imap-delete-create", "Reports"},
		{"inbox-recreated-on-disk", "INBOX"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, botOptions{mode: "idle", mailbox: tc.mailbox, resync: "10s"})
			sec := dialIMAP(t, e.dc.imapAddr, botAddr, botPass)
			if tc.mailbox != "INBOX" {
				if err := sec.c.Create(tc.mailbox, nil).Wait(); err != nil {
					t.Fatalf("CREATE %s: %v", tc.mailbox, err)
				}
			}
			ada := dialIMAP(t, e.dc.imapAddr, adaAddr, adaPass)
			e.bot.startReady(t)
			var ids []string
			var raws [][]byte
			for i := 0; i < 4; i++ {
				id := fmt.Sprintf("uidv-%d-%s@research.example", i, e.nonce)
				ids = append(ids, id)
				raws = append(raws, report(id, fmt.Sprintf("UIDVALIDITY report %d: SSRF via /fetch?url=", i), "Internal hosts are reachable.\n"))
			}
			for _, raw := range raws[:3] {
				if err := sec.appendMsg(tc.mailbox, raw); err != nil {
					t.Fatalf("appendMsg() = %v", err)
				}
			}
			waitAcks(t, ada, ids[:3], time.Minute, false)
			listed, err := sec.list(tc.mailbox, false)
			if err != nil || len(listed) != 3 {
				t.Fatalf("list(%s) = %d messages, %v; want 3", tc.mailbox, len(listed), err)
			}
			oldValidity := listed[0].UIDValidity

			mark := e.bot.log.mark()
			if tc.mailbox == "INBOX" {
				e.dc.stop(t)
				if err := os.RemoveAll(filepath.Join(e.dc.dir, "mail", "security")); err != nil {
					t.Fatalf("RemoveAll() = %v", err)
				}
				e.dc.start(t)
				sec = dialIMAP(t, e.dc.imapAddr, botAddr, botPass)
				ada = dialIMAP(t, e.dc.imapAddr, adaAddr, adaPass)
				// The bot's reconnecting session and this one both make the
				// new maildir: Dovecot may answer the loser "Mailbox was
				// deleted under us". Wait until INBOX selects cleanly.
				waitUntil(t, "the recreated INBOX", serverWait, func() (bool, error) {
					_, err := sec.c.Select("INBOX", nil).Wait()
					return err == nil, nil
				})
			} else {
				// Dovecot disconnects a session when it finds the mailbox
				// it has selected deleted: this one selects INBOX first.
				if _, err := sec.c.Select("INBOX", nil).Wait(); err != nil {
					t.Fatalf("SELECT INBOX: %v", err)
				}
				if err := sec.c.Delete(tc.mailbox).Wait(); err != nil {
					t.Fatalf("DELETE %s: %v", tc.mailbox, err)
				}
				if err := sec.c.Create(tc.mailbox, nil).Wait(); err != nil {
					t.Fatalf("CREATE %s: %v", tc.mailbox, err)
				}
			}
			for _, raw := range raws { // the same three, and a new one
				if err := sec.appendMsg(tc.mailbox, raw); err != nil {
					t.Fatalf("appendMsg() = %v", err)
				}
			}
			listed, err = sec.list(tc.mailbox, false)
			if err != nil || len(listed) != 4 {
				t.Fatalf("list(%s) = %d messages, %v; want 4", tc.mailbox, len(listed), err)
			}
			if listed[0].UIDValidity == oldValidity || listed[0].UID != 1 {
				t.Fatalf("setup: UIDVALIDITY %d -> %d, first UID %d: want a new UIDVALIDITY and UIDs from 1", oldValidity, listed[0].UIDValidity, listed[0].UID)
			}
			recreated := time.Now()
			got := waitAcks(t, ada, ids, time.Minute, false)
			took := time.Since(recreated)
			e.bot.log.wait(t, mark, 1, 30*time.Second, "inbox: UIDVALIDITY changed, rescanning")
			e.bot.log.wait(t, mark, 3, 30*time.Second, "msg=processed", "action=duplicate")
			say("uidvalidity (%s): %d -> %d; 3 messages put back recognised as duplicates, the new one answered in %s",
				tc.name, oldValidity, listed[0].UIDValidity, took.Round(time.Millisecond))
			e.bot.stop(t)
			perSubject := map[string]int{}
			for _, c := range e.bot.cases(t) {
				perSubject[c.Subject]++
			}
			if len(perSubject) != 4 {
				t.Errorf("cases by subject = %v, want 4 subjects", perSubject)
			}
			for subj, n := range perSubject {
				if n != 1 {
					t.Errorf("cases for %q = %d, want 1", subj, n)
				}
			}
			checkOneEach(t, got, ids)
		})
	}
}

// checkOneEach wants exactly one acknowledgement, one copy, per report id
// among got, and nothing else from the bot.
func checkOneEach(t *testing.T, got []ack, ids []string) {
	t.Helper()
	n := map[string]int{}
	for _, a := range got {
		n[a.InReplyTo]++
	}
	for _, id := range ids {
		if n[id] != 1 {
			t.Errorf("acknowledgements of %s = %d, want 1", id, n[id])
		}
		delete(n, id)
	}
	for id, k := range n {
		t.Errorf("%d acknowledgements in reply to %q, which is no report of this test", k, id)
	}
}

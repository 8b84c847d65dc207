package mailbot_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"mailbot/mailbot"
	"mailbot/mailbot/devmail"
	"mailbot/store"
)

func TestReportIsAcknowledgedOnceOverIMAP(t *testing.T) {
	h := newHarness(t, "")
	h.run()
	h.deliver(report("Ada Lovelace <"+ada+">", "SQL injection in login",
		"Reply-To", "attacker@evil.example", "Cc", "other@research.example"))
	h.waitProcessed(1)
	sent, err := h.srv.WaitSent(context.Background(), 1)
	if err != nil {
		t.Fatalf("WaitSent() = %v", err)
	}
	ack := sent[0]
	if got := strings.Join(ack.To, ","); got != ada {
		t.Errorf("ack envelope To = %q, want only the sender %q (never Reply-To or Cc)", got, ada)
	}
	if got := header(t, ack.Data, "To"); !strings.Contains(got, ada) || strings.Contains(got, "evil") || strings.Contains(got, "other@") {
		t.Errorf("ack To header = %q, want only %s", got, ada)
	}
	for key, want := range map[string]string{
		"Auto-Submitted":           "auto-replied",
		"X-Auto-Response-Suppress": "All",
		"From":                     botAddr,
		"X-Mailbot-Loop":           botAddr,
	} {
		if got := header(t, ack.Data, key); !strings.Contains(got, want) {
			t.Errorf("ack %s = %q, want %q", key, got, want)
		}
	}
	cs := h.cases()
	if len(cs) != 1 {
		t.Fatalf("cases = %d, want 1", len(cs))
	}
	c := cs[0]
	if c.Ref != "SEC-2026-0001" {
		t.Errorf("case ref = %q, want SEC-2026-0001", c.Ref)
	}
	if subj := header(t, ack.Data, "Subject"); !strings.HasPrefix(subj, "[SEC-2026-0001]") {
		t.Errorf("ack Subject = %q, want the case tag first", subj)
	}
	if got := header(t, ack.Data, "In-Reply-To"); !strings.Contains(got, "research.example") {
		t.Errorf("ack In-Reply-To = %q, want the report's Message-ID", got)
	}
	// The dates the policy promises (002: 1 business day to confirm, from
	// Tuesday 3 March 2026 11:00 Berlin time).
	body := string(ack.Data)
	if !strings.Contains(body, "Wednesday, 4 March 2026") {
		t.Errorf("ack body lacks the confirm-by date Wednesday, 4 March 2026:\n%s", body)
	}
	// The ack's Message-ID is on the case, for threading replies.
	ackID := strings.Trim(header(t, ack.Data, "Message-Id"), "<>")
	err = h.store.View(func(tx *store.Tx) error {
		if id, ok := tx.CaseByMessageID(ackID); !ok || id != c.ID {
			return fmt.Errorf("CaseByMessageID(ack) = %d, %v; want %d", id, ok, c.ID)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	// Sent state and \Seen after the commit.
	h.stop()
	h.stop = nil
	ob := h.outbox()
	if len(ob) != 1 || ob[0].State != "sent" {
		t.Errorf("outbox = %+v, want one sent item", ob)
	}
	stored, err := h.srv.Mailbox(botAddr, "INBOX")
	if err != nil || len(stored) != 1 || !strings.Contains(strings.Join(stored[0].Flags, " "), `\Seen`) {
		t.Errorf("INBOX after processing = %+v, %v; want the message flagged \\Seen", stored, err)
	}
}

func TestHeaderInjectionIsNeutralised(t *testing.T) {
	h := newHarness(t, "")
	// An encoded CR LF in the subject and display name must not create headers.
	h.ingest(report("=?utf-8?q?Ada=0D=0ABcc:_victim@x.example?= <"+ada+">", "=?utf-8?q?Hi=0D=0ABcc:_victim@x.example=0D=0A?="))
	ob := h.outbox()
	if len(ob) != 1 {
		t.Fatalf("outbox = %d items, want 1", len(ob))
	}
	raw := ob[0].Raw
	hdrEnd := bytes.Index(raw, []byte("\r\n\r\n"))
	for _, line := range strings.Split(string(raw[:hdrEnd]), "\r\n") {
		if strings.HasPrefix(strings.ToLower(line), "bcc:") {
			t.Errorf("ack has an injected header line %q", line)
		}
	}
	if got := ob[0].To; len(got) != 1 || got[0] != ada {
		t.Errorf("ack recipients = %v, want [%s]", got, ada)
	}
}

func TestThreading(t *testing.T) {
	h := newHarness(t, "")
	first := h.ingest(report("Ada <"+ada+">", "XSS"))
	ackID := h.outbox()[0].MessageID
	c := h.cases()[0]

	tests := []struct {
		name       string
		raw        []byte
		wantAction string
		wantCase   string
	}{
		{"reply by In-Reply-To", msg("more details", "From", ada, "To", botAddr, "Subject", "Re: XSS",
			"Message-ID", "<f1@research.example>", "In-Reply-To", "<"+ackID+">"), mailbot.ActionFollowUp, c.Ref},
		{"one malformed reference does not hide a good one", msg("again", "From", ada, "To", botAddr, "Subject", "more",
			"Message-ID", "<f2@research.example>", "References", "<broken@@ <"+ackID+"> not-an-id"), mailbot.ActionFollowUp, c.Ref},
		{"case tag from an address on the case", msg("by tag", "From", ada, "To", botAddr, "Subject", "Update ["+c.Ref+"]",
			"Message-ID", "<f3@research.example>"), mailbot.ActionFollowUp, c.Ref},
		{"case tag from a stranger opens a new case", msg("I want in", "From", eve, "To", botAddr, "Subject", "Re: ["+c.Ref+"] XSS",
			"Message-ID", "<s1@elsewhere.example>"), mailbot.ActionOpened, "SEC-2026-0002"},
	}
	for _, tc := range tests {
		res := h.ingest(tc.raw)
		if res.Action != tc.wantAction || res.Case != tc.wantCase {
			t.Errorf("%s: Ingest() = %s %s, want %s %s", tc.name, res.Action, res.Case, tc.wantAction, tc.wantCase)
		}
	}
	if first.Case != c.Ref {
		t.Errorf("first report went to %q, want %q", first.Case, c.Ref)
	}
	if !hasEvent(h.events_(c), "note", eve) {
		t.Errorf("the original case has no note about the stranger using its tag")
	}
	cs := h.cases()
	if len(cs) != 2 || !hasEvent(h.events_(cs[1]), "note", c.Ref) {
		t.Errorf("the stranger's case has no note naming %s", c.Ref)
	}
	if len(cs[0].Participants) != 1 {
		t.Errorf("participants = %v, want only the reporter (a stranger is never added)", cs[0].Participants)
	}
}

// automatedCorpus is every robot message in testdata/mail/automated, except
// spam-ham (spam without an MTA's X-Spam-Flag looks like a person's mail).
func automatedCorpus(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir("../testdata/mail/automated", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "spam-ham" {
			return filepath.SkipDir
		}
		if d.IsDir() || !isMail(d.Name()) {
			return nil
		}
		b, err := os.ReadFile(path)
		out[path] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 50 {
		t.Fatalf("found %d automated messages, want the whole corpus (50+)", len(out))
	}
	return out
}

func isMail(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".eml", ".raw", ".msg", ".txt", ".mbox":
		return !strings.EqualFold(name, "LICENSE.txt") && !strings.EqualFold(name, "README.txt")
	}
	return false
}

func TestRobotsAreNeverAnswered(t *testing.T) {
	h := newHarness(t, "")
	// A case first, so bounces of its ack can be matched.
	h.ingest(report("Ada <"+ada+">", "XSS"))
	before := len(h.outbox())
	counts := map[string]int{}
	for path, raw := range automatedCorpus(t) {
		res := h.ingest(raw)
		counts[res.Action]++
		switch res.Action {
		case mailbot.ActionRecorded, mailbot.ActionBounce, mailbot.ActionDuplicate:
		default:
			t.Errorf("%s: Ingest() = %s (%s: %s), want it recorded, never answered", path, res.Action, res.Class, res.Reason)
		}
	}
	if got := len(h.outbox()); got != before {
		t.Errorf("outbox grew from %d to %d: a robot was answered", before, got)
	}
	t.Logf("automated corpus: %v", counts)
}

func TestBounceOfOurAckIsOnItsCase(t *testing.T) {
	h := newHarness(t, "")
	h.ingest(report("Ada <"+ada+">", "XSS"))
	ack := h.outbox()[0]
	dsn := fmt.Sprintf("From: MAILER-DAEMON@mx.example\r\nTo: %s\r\nSubject: Undelivered\r\nMessage-ID: <dsn1@mx.example>\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"+
		"--b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\n"+
		"Reporting-MTA: dns; mx.example\r\n\r\nFinal-Recipient: rfc822; %s\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"+
		"--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <%s>\r\nFrom: %s\r\n\r\n--b--\r\n", botAddr, ada, ack.MessageID, botAddr)
	res := h.ingest([]byte(dsn))
	if res.Action != mailbot.ActionBounce || res.Case != "SEC-2026-0001" {
		t.Fatalf("Ingest(DSN) = %s %s, want bounce on SEC-2026-0001", res.Action, res.Case)
	}
	if !hasEvent(h.events_(h.cases()[0]), "delivery.failed", "5.1.1") {
		t.Errorf("case has no delivery.failed event with the DSN status")
	}
	if len(h.outbox()) != 1 {
		t.Errorf("the bounce was answered")
	}
}

func TestOwnMailIsNotAnswered(t *testing.T) {
	h := newHarness(t, "")
	h.ingest(report("Ada <"+ada+">", "XSS"))
	ack := h.outbox()[0]
	res := h.ingest(ack.Raw) // our ack looped back into the inbox
	if res.Action != mailbot.ActionRecorded || res.Class != "own" {
		t.Errorf("Ingest(own ack) = %s/%s, want recorded/own", res.Action, res.Class)
	}
	if len(h.outbox()) != 1 {
		t.Errorf("the bot answered its own mail")
	}
}

func TestMalformedMailIsKeptNotLost(t *testing.T) {
	h := newHarness(t, "")
	var files []string
	filepath.WalkDir("../testdata/mail/malformed", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && isMail(d.Name()) {
			files = append(files, path)
		}
		return nil
	})
	if len(files) < 40 {
		t.Fatalf("found %d malformed messages, want the mime-torture corpus", len(files))
	}
	actions := map[string]int{}
	hashes := map[string]bool{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		blob, err := h.store.SpoolRaw(bytes.NewReader(raw), 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		hashes[blob.Hash] = true
		res, err := h.d.Process(context.Background(), mailbot.Source{}, blob)
		if err != nil {
			t.Errorf("%s: Process() = %v, want it stored or quarantined", f, err)
		}
		actions[res.Action]++
	}
	// Every distinct message is either a stored message or a quarantine entry.
	err := h.store.View(func(tx *store.Tx) error {
		for hsh := range hashes {
			if _, ok := tx.SeenHash(hsh); !ok {
				t.Errorf("message %s is neither stored nor quarantined", hsh[:12])
			}
			rc, err := h.store.OpenRaw(hsh)
			if err != nil {
				t.Errorf("raw %s lost: %v", hsh[:12], err)
				continue
			}
			rc.Close()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("malformed corpus (%d files): %v", len(files), actions)
}

func TestAcknowledgementsAreRateLimited(t *testing.T) {
	h := newHarness(t, "[ack]\nrate_limit = 3\nrate_window = \"1h\"\n")
	var quiet int
	for i := 0; i < 5; i++ {
		if h.ingest(report(ada, fmt.Sprintf("report %d", i))).Action == mailbot.ActionOpenedQuiet {
			quiet++
		}
	}
	if got := len(h.outbox()); got != 3 || quiet != 2 {
		t.Errorf("after 5 reports in a minute: %d acks and %d quiet cases, want 3 and 2", got, quiet)
	}
	if got := len(h.cases()); got != 5 {
		t.Errorf("cases = %d, want 5: a rate limit never drops a report", got)
	}
	h.clock.Advance(61 * time.Minute)
	if res := h.ingest(report(ada, "later")); res.Action != mailbot.ActionOpened {
		t.Errorf("after the window: Ingest() = %s, want opened with an ack", res.Action)
	}
}

func TestDuplicateBytesAreProcessedOnce(t *testing.T) {
	h := newHarness(t, "")
	raw := report(ada, "same bytes twice")
	h.ingest(raw)
	if res := h.ingest(raw); res.Action != mailbot.ActionDuplicate {
		t.Errorf("second Ingest() = %s, want duplicate", res.Action)
	}
	if len(h.cases()) != 1 || len(h.outbox()) != 1 {
		t.Errorf("cases, acks = %d, %d; want 1, 1", len(h.cases()), len(h.outbox()))
	}
}

// errCrash stands for the process dying at a fault point.
var errCrash = errors.New("test: crash")

// crashAt returns a fault hook that fails once at point.
func crashAt(point string) func(string) error {
	var done atomic.Bool
	return func(p string) error {
		if p == point && done.CompareAndSwap(false, true) {
			return errCrash
		}
		return nil
	}
}

func TestCrashBeforeCommitLeavesNothing(t *testing.T) {
	for _, point := range []string{"after-case", "before-commit"} {
		t.Run(point, func(t *testing.T) {
			h := newHarness(t, "", withFaults(crashAt(point)))
			raw := report(ada, "crash test")
			_, err := h.d.Ingest(context.Background(), bytes.NewReader(raw))
			if err == nil {
				t.Fatalf("Ingest() with a crash at %s = nil, want an error", point)
			}
			if len(h.cases()) != 0 || len(h.outbox()) != 0 {
				t.Fatalf("after a crash at %s: %d cases, %d outbox items; want none", point, len(h.cases()), len(h.outbox()))
			}
			h.restart()
			h.ingest(raw)
			h.send()
			if len(h.cases()) != 1 || len(h.outbox()) != 1 || len(h.srv.Sent()) != 1 {
				t.Errorf("after restart: %d cases, %d outbox, %d sent; want exactly one of each", len(h.cases()), len(h.outbox()), len(h.srv.Sent()))
			}
		})
	}
}

func TestCrashAfterCommitBeforeSeen(t *testing.T) {
	h := newHarness(t, "", withFaults(crashAt("after-commit")))
	h.run()
	h.deliver(report(ada, "first"))
	// The crash comes after the commit: the intake reports an error.
	h.waitEvent("error")
	h.restart()
	h.run()
	h.deliver(report(ada, "second"))
	h.waitProcessed(1)
	if _, err := h.srv.WaitSent(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	h.stop()
	h.stop = nil
	if got := len(h.cases()); got != 2 {
		t.Errorf("cases = %d, want 2", got)
	}
	if got := len(h.srv.Sent()); got != 2 {
		t.Errorf("acks sent = %d, want 2 (one each, none repeated)", got)
	}
}

func TestCrashBetweenSendAndMarkingSent(t *testing.T) {
	h := newHarness(t, "", withFaults(crashAt("after-send")))
	h.ingest(report(ada, "crash after send"))
	if _, err := h.d.Sender().RunOnce(context.Background()); !errors.Is(err, errCrash) {
		t.Fatalf("RunOnce() = %v, want the crash", err)
	}
	h.restart()
	h.send()
	sent := h.srv.Sent()
	if len(sent) != 2 {
		t.Fatalf("sent %d times, want exactly 2 (at most one duplicate)", len(sent))
	}
	if a, b := header(t, sent[0].Data, "Message-Id"), header(t, sent[1].Data, "Message-Id"); a != b || !bytes.Equal(sent[0].Data, sent[1].Data) {
		t.Errorf("the duplicate differs: Message-IDs %s and %s; want the same bytes", a, b)
	}
	if ob := h.outbox(); ob[0].State != "sent" {
		t.Errorf("outbox state = %s, want sent", ob[0].State)
	}
}

func TestPanicsAreCountedThenQuarantined(t *testing.T) {
	var panics atomic.Int32
	h := newHarness(t, "[limits]\nmax_tries = 3\n", withFaults(func(p string) error {
		if p == "after-case" && panics.Load() < 3 {
			panics.Add(1)
			panic("boom")
		}
		return nil
	}))
	raw := report(ada, "poison")
	for i := 1; i <= 2; i++ {
		_, err := h.d.Ingest(context.Background(), bytes.NewReader(raw))
		if !isTemporary(err) {
			t.Fatalf("try %d: Ingest() = %v, want a temporary error", i, err)
		}
	}
	res, err := h.d.Ingest(context.Background(), bytes.NewReader(raw))
	if err != nil || res.Action != mailbot.ActionQuarantined {
		t.Fatalf("third try: Ingest() = %v, %v; want quarantined", res, err)
	}
	// The next message flows.
	if res := h.ingest(report(ada, "next")); res.Action != mailbot.ActionOpened {
		t.Errorf("next message: Ingest() = %s, want opened", res.Action)
	}
	var q int
	h.store.View(func(tx *store.Tx) error {
		return tx.QuarantineList(func(*store.Quarantined) bool { q++; return true })
	})
	if q != 1 {
		t.Errorf("quarantine has %d entries, want 1", q)
	}
}

func TestUIDValidityChangeDoesNotDuplicate(t *testing.T) {
	h := newHarness(t, "")
	h.run()
	a, b := report(ada, "a"), report(ada, "b")
	h.deliver(a)
	h.deliver(b)
	h.waitProcessed(2)
	if err := h.srv.RecreateMailbox(botAddr, "INBOX"); err != nil {
		t.Fatal(err)
	}
	h.deliver(a)
	h.deliver(b)
	h.deliver(report(ada, "c"))
	h.waitProcessed(3)
	if _, err := h.srv.WaitSent(context.Background(), 3); err != nil {
		t.Fatal(err)
	}
	h.stop()
	h.stop = nil
	if got, sent := len(h.cases()), len(h.srv.Sent()); got != 3 || sent != 3 {
		t.Errorf("after a UIDVALIDITY change: %d cases, %d acks; want 3 and 3", got, sent)
	}
}

func TestSMTPTemporaryThenPermanent(t *testing.T) {
	h := newHarness(t, "")
	h.ingest(report(ada, "retry me"))
	h.srv.FailNext(1, devmail.Fault{Code: 451, Message: "try later"})
	h.send()
	it := h.outbox()[0]
	if it.State != "queued" || it.Attempts != 1 || !it.NextAttempt.After(h.clock.Now()) {
		t.Fatalf("after a 451: %+v, want queued with a later next attempt", it)
	}
	h.send() // not due yet
	if len(h.srv.Sent()) != 0 {
		t.Fatalf("sent before the backoff ran out")
	}
	h.clock.Advance(time.Minute)
	h.send()
	if it := h.outbox()[0]; it.State != "sent" || len(h.srv.Sent()) != 1 {
		t.Fatalf("after the backoff: state %s, %d sent; want sent once", it.State, len(h.srv.Sent()))
	}

	h.ingest(report(eve, "refuse me"))
	h.srv.FailNext(1, devmail.Fault{Code: 550, Message: "no such user"})
	h.send()
	ob := h.outbox()
	if ob[1].State != "failed" || !strings.Contains(ob[1].LastError, "550") {
		t.Errorf("after a 550: %s %q, want failed with the reason", ob[1].State, ob[1].LastError)
	}
	if !hasEvent(h.events_(h.cases()[1]), "outbox.failed", "550") {
		t.Errorf("the case does not say the acknowledgement failed")
	}
}

func TestSpamFlagOnlyFromATrustedMTA(t *testing.T) {
	spam := func() []byte {
		return report(ada, "cheap pills", "X-Spam-Flag", "YES")
	}
	h := newHarness(t, "")
	if res := h.ingest(spam()); res.Action != mailbot.ActionOpened {
		t.Errorf("untrusted X-Spam-Flag: Ingest() = %s, want opened (anyone can write that header)", res.Action)
	}
	// Issue 18: flagged mail from the trusted MTA is held on a case of its
	// own (suspected-spam), never silently classed a robot nor answered.
	h = newHarness(t, "trust_spam_flag = true\n")
	if res := h.ingest(spam()); res.Action != mailbot.ActionHeldSpam || res.Acks != 0 {
		t.Errorf("trusted X-Spam-Flag: Ingest() = %s with %d mails, want held-spam, not answered", res.Action, res.Acks)
	}
}

package mailbot_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailbot/mailbot"
	"mailbot/mailbot/remind"
)

const spamTrust = "[spam]\ntrust = [\"spamassassin\"]\n"

// flagged is a report with SpamAssassin's verdict as the receiving MTA writes it.
func flagged(from, subject string) []byte {
	return report(from, subject, "X-Spam-Flag", "YES", "X-Spam-Status", "Yes, score=14.2 required=5.0 tests=GTUBE")
}

// promised is the lines of an acknowledgement that carry dates.
func promised(body string) []string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.Contains(l, ": by ") || strings.Contains(l, "received it on") {
			out = append(out, strings.TrimSpace(l))
		}
	}
	return out
}

// TestSpamFlaggedReportIsHeldAndReleased: a report the trusted MTA's
// SpamAssassin flagged opens a case in suspected-spam with no
// acknowledgement, the team is told it is held and the digest lists it;
// not-spam two days later sends the acknowledgement with the dates counted
// from its arrival (the same as a report acknowledged at once).
func TestSpamFlaggedReportIsHeldAndReleased(t *testing.T) {
	h := newTeamHarness(t, spamTrust)
	res := h.ingest(flagged("Ada <"+ada+">", "Cheap pills"))
	if res.Action != mailbot.ActionHeldSpam {
		t.Fatalf("Ingest(flagged) = %+v, want held-spam", res)
	}
	h.ingest(report("Eve <eve@elsewhere.example>", "XSS"))
	if got := outboxTo(h, ada); len(got) != 0 {
		t.Fatalf("mail to the flagged reporter: %d, want none (held)", len(got))
	}
	c := h.cases()[0]
	if c.Status != remind.StatusSuspectedSpam || !hasEvent(h.events_(c), "spam.held", "spamassassin: X-Spam-Flag") {
		t.Fatalf("case %s status %q, events %+v; want suspected-spam with a spam.held event naming the source", c.Ref, c.Status, h.events_(c))
	}
	toBob := outboxTo(h, bob)
	if len(toBob) == 0 || !strings.Contains(header(t, toBob[0].Raw, "Subject"), "Held as suspected spam") {
		t.Fatalf("Bob's mail: %d, want the held notice first", len(toBob))
	}

	acts, err := h.d.Plan(time.Date(2026, 3, 4, 9, 30, 0, 0, time.UTC))
	if err != nil {
		t.Fatalf("Plan() = %v", err)
	}
	var digest string
	for _, a := range acts {
		if a.Kind == remind.KindDigest {
			digest = a.Summary
		}
		if a.CaseID == c.ID {
			t.Errorf("Plan() = %s for the held case, want nothing but the digest line", a.Kind)
		}
	}
	if !strings.Contains(digest, "held as suspected spam") || !strings.Contains(digest, c.Ref) {
		t.Errorf("digest = %q, want the held case %s listed", digest, c.Ref)
	}

	// Any other way out of the hold would skip the acknowledgement.
	h.ingest(teamReply(h, "Bob <"+bob+">", toBob[0].MessageID, "Re: ["+c.Ref+"] Held as suspected spam", "status triaged\n", true))
	if c = h.cases()[0]; c.Status != remind.StatusSuspectedSpam {
		t.Fatalf("status triaged on a held case: status %q, want still suspected-spam (not-spam releases it)", c.Status)
	}
	// A forged not-spam is refused (TestForgedTeamMailIsRefused: the case
	// untouched, the message kept with its reason, the team warned).
	if res := h.ingest(teamReply(h, "Bob <"+bob+">", toBob[0].MessageID, "Re: ["+c.Ref+"] Held as suspected spam", "not-spam\n", false)); res.Class != "team-refused" {
		t.Fatalf("forged not-spam = %+v, want team-refused", res)
	}
	if c = h.cases()[0]; c.Status != remind.StatusSuspectedSpam || len(outboxTo(h, ada)) != 0 {
		t.Fatalf("forged not-spam: status %q, %d mails to the reporter; want still held, none", c.Status, len(outboxTo(h, ada)))
	}
	h.clock.Advance(48 * time.Hour)
	h.ingest(teamReply(h, "Bob <"+bob+">", toBob[0].MessageID, "Re: ["+c.Ref+"] Held as suspected spam", "not-spam\n", true))
	acks := outboxTo(h, ada)
	if len(acks) != 1 || acks[0].Kind != "ack" {
		t.Fatalf("mail to the reporter after not-spam: %d, want one acknowledgement", len(acks))
	}
	c = h.cases()[0]
	if c.Status != "new" || !hasEvent(h.events_(c), "spam.released", "not spam") {
		t.Errorf("after not-spam: status %q, events %+v; want new with spam.released", c.Status, h.events_(c))
	}
	var eveAck []byte
	for _, o := range outboxTo(h, "eve@elsewhere.example") {
		eveAck = o.Raw
	}
	got, want := promised(decodedBody(t, acks[0].Raw)), promised(decodedBody(t, eveAck))
	if len(want) == 0 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("released acknowledgement promises %q, want %q (the dates from arrival)", got, want)
	}
}

// TestUntrustedSpamFlagDoesNotHold: without [spam] trust an X-Spam-Flag is
// anyone's header: the report is acknowledged as any other.
func TestUntrustedSpamFlagDoesNotHold(t *testing.T) {
	h := newTeamHarness(t, "")
	if res := h.ingest(flagged("Ada <"+ada+">", "SQL injection")); res.Action != mailbot.ActionOpened || res.Acks == 0 {
		t.Fatalf("Ingest(flagged, trust not configured) = %+v, want opened and acknowledged", res)
	}
}

// TestSpamFilterTimeoutFailsOpen: a filter that accepts the connection and
// never answers is asked (one connection), costs its timeout, and the
// report is acknowledged all the same.
func TestSpamFilterTimeoutFailsOpen(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns := make(chan net.Conn, 8) // held open, never answered
	t.Cleanup(func() {
		ln.Close()
		for len(conns) > 0 {
			(<-conns).Close()
		}
	})
	go func() {
		for c, err := ln.Accept(); err == nil; c, err = ln.Accept() {
			conns <- c
		}
	}()
	h := newTeamHarness(t, fmt.Sprintf("[spam.filter]\nkind = \"spamd\"\naddress = %q\ntimeout = \"200ms\"\n", ln.Addr()))
	res := h.ingest(report("Ada <"+ada+">", "SQL injection"))
	if res.Action != mailbot.ActionOpened || res.Acks == 0 {
		t.Fatalf("Ingest() with a silent filter = %+v, want opened and acknowledged", res)
	}
	if len(conns) != 1 {
		t.Errorf("the filter got %d connections, want 1 (asked once, before acknowledging)", len(conns))
	}
	if c := h.cases()[0]; !hasEvent(h.events_(c), "spam.unchecked", "counted as not spam") {
		t.Errorf("events = %+v, want spam.unchecked: the doubt on the case", h.events_(c))
	}
	// A follow-up is never held: the filter is not asked about it.
	ack := outboxTo(h, ada)[0]
	if res := h.ingest(report("Ada <"+ada+">", "Re: SQL injection", "In-Reply-To", "<"+ack.MessageID+">")); res.Action != mailbot.ActionFollowUp || len(conns) != 1 {
		t.Errorf("follow-up = %+v with %d filter connections, want follow-up and still 1", res, len(conns))
	}
}

// TestScopeHintAndOutOfScope: a report about SPF carries the policy's hint
// in the team's notification and an event, is acknowledged all the same;
// "out-of-scope 3" answers the reporter with entry 3 in the case's language
// and closes the case; an entry out of range is an error to the member.
func TestScopeHintAndOutOfScope(t *testing.T) {
	pol, err := filepath.Abs("../testdata/policies/000_caspar_health.toml")
	if err != nil {
		t.Fatal(err)
	}
	h := newTeamHarness(t, fmt.Sprintf("policy = %q\n", pol))
	res := h.ingest(msg("Your domain has no SPF record and no DMARC policy.\n",
		"From", "Ada <"+ada+">", "To", botAddr, "Subject", "Missing SPF", "Date", "Tue, 03 Mar 2026 10:00:00 +0000", "Message-ID", "<spf1@research.example>"))
	if res.Action != mailbot.ActionOpened || res.Acks == 0 {
		t.Fatalf("Ingest(SPF report) = %+v, want opened and acknowledged", res)
	}
	c := h.cases()[0]
	if !hasEvent(h.events_(c), "scope.hint", "may be out of scope: 3 (SPF, DMARC)") {
		t.Errorf("events = %+v, want a scope.hint for entry 3", h.events_(c))
	}
	toAnn := outboxTo(h, ann)
	if len(toAnn) == 0 || !strings.Contains(decryptFor(t, toAnn[0].Raw, annKey), "May be out of scope") {
		t.Fatalf("Ann's notification lacks the scope hint")
	}
	h.ingest(teamReply(h, "Bob <"+bob+">", outboxTo(h, bob)[0].MessageID, "Re: ["+c.Ref+"] New report", "out-of-scope 42\n", true))
	if c = h.cases()[0]; c.Status == "rejected" {
		t.Fatalf("out-of-scope 42 closed the case; want an error")
	}
	confirm := outboxTo(h, bob)
	if body := decodedBody(t, confirm[len(confirm)-1].Raw); !strings.Contains(body, "out-of-scope 42") {
		t.Errorf("Bob's confirmation lacks the out-of-range error:\n%s", body)
	}
	h.ingest(teamReply(h, "Bob <"+bob+">", outboxTo(h, bob)[0].MessageID, "Re: ["+c.Ref+"] New report", "language de\nout-of-scope 3\n", true))
	c = h.cases()[0]
	if c.Status != "rejected" || !hasEvent(h.events_(c), "out-of-scope", "entry 3") {
		t.Errorf("after out-of-scope 3: status %q, events %+v; want rejected with an out-of-scope event", c.Status, h.events_(c))
	}
	var answer string
	for _, o := range outboxTo(h, ada) {
		if o.Kind == "out-of-scope" {
			answer = decodedBody(t, o.Raw)
		}
	}
	if !strings.Contains(answer, "SPF, DMARC") || strings.Contains(answer, "outside the scope of our policy") {
		t.Errorf("answer to the reporter, want entry 3's wording in German:\n%s", answer)
	}
}

// TestReleasedAcknowledgementSpeaksTheCaseLanguage: what the reporter of a
// held case gets after not-spam is the acknowledgement in the case's
// language (here the German of a German-first policy), as any other.
func TestReleasedAcknowledgementSpeaksTheCaseLanguage(t *testing.T) {
	de := filepath.Join(t.TempDir(), "002-de.toml")
	src, err := os.ReadFile("../testdata/policies/002_imis_innovation.toml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(de, []byte(strings.Replace(string(src), `languages = ["en", "de"]`, `languages = ["de", "en"]`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	h := newTeamHarness(t, fmt.Sprintf("policy = %q\n", de)+spamTrust)
	if res := h.ingest(flagged("Ada <"+ada+">", "Cheap pills")); res.Action != mailbot.ActionHeldSpam {
		t.Fatalf("Ingest(flagged) = %+v, want held-spam", res)
	}
	c := h.cases()[0]
	toBob := outboxTo(h, bob)
	if len(toBob) == 0 {
		t.Fatalf("no held notice to Bob")
	}
	h.ingest(teamReply(h, "Bob <"+bob+">", toBob[0].MessageID, "Re: ["+c.Ref+"] Held as suspected spam", "not-spam\n", true))
	acks := outboxTo(h, ada)
	if len(acks) != 1 || acks[0].Kind != "ack" {
		t.Fatalf("mail to the reporter after not-spam: %d, want one acknowledgement", len(acks))
	}
	if body := decodedBody(t, acks[0].Raw); !strings.Contains(body, "Eingegangen:") {
		t.Errorf("released acknowledgement of a German case:\n%s\nwant it in German (Eingegangen:)", body)
	}
}

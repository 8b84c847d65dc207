package mailbot_test

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"

	"mailbot/mailbot"
	"mailbot/mailbot/pgp"
	"mailbot/mailbot/team"
	"mailbot/store"
)

const (
	ann = "ann@example.org"
	bob = "bob@example.org"
)

var annKey *pgp.Keyring

// withTeam gives the bot a team of two, both always on duty: Ann with an
// OpenPGP key, Bob without. Team mail is trusted through the topmost
// Authentication-Results of mx.example.org (see newTeamHarness).
func withTeam(t *testing.T) option {
	return func(h *harness, o *mailbot.Options) {
		if annKey == nil {
			k, err := pgp.Generate("Ann", ann, pgp.Ed25519, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			if err != nil {
				t.Fatal(err)
			}
			annKey = k
		}
		members := []team.Member{{Name: "Ann", Address: ann, Keys: annKey.Entities()}, {Name: "Bob", Address: bob}}
		r, err := team.NewRoster(members, team.RotationConfig{}, h.pol.Calendar)
		if err != nil {
			t.Fatalf("NewRoster() = %v", err)
		}
		o.Roster = r
		o.LookupTXT = func(string) ([]string, error) { return nil, fmt.Errorf("no DNS in tests") }
	}
}

func newTeamHarness(t *testing.T, extra string, opts ...option) *harness {
	t.Helper()
	f := keysFixture(t)
	opts = append([]option{withKeys(f.bot), withTeam(t)}, opts...)
	return newHarness(t, "[team_mail]\ntrusted_authserv_id = \"mx.example.org\"\n"+extra, opts...)
}

// outboxTo lists the outgoing mail to addr.
func outboxTo(h *harness, addr string) []*store.OutboxItem {
	var out []*store.OutboxItem
	for _, o := range h.outbox() {
		if len(o.To) == 1 && o.To[0] == addr {
			out = append(out, o)
		}
	}
	return out
}

// teamReply is a mail from a member, passed by the trusted MTA when trusted.
func teamReply(h *harness, from, inReplyTo, subject, body string, trusted bool) []byte {
	nextID++
	hdr := []string{}
	if trusted {
		hdr = append(hdr, "Authentication-Results", "mx.example.org; dkim=pass header.d=example.org; dmarc=pass header.from=example.org")
	}
	hdr = append(hdr, "From", from, "To", botAddr, "Subject", subject,
		"Date", h.clock.Now().Format(time.RFC1123Z), "Message-ID", fmt.Sprintf("<team%d@example.org>", nextID))
	if inReplyTo != "" {
		hdr = append(hdr, "In-Reply-To", "<"+inReplyTo+">")
	}
	return msg(body, hdr...)
}

func decryptFor(t *testing.T, raw []byte, k *pgp.Keyring) string {
	t.Helper()
	res, err := k.Decrypt(pgpBlock(t, raw), keysFixture(t).bot.Entities(), pgp.Options{})
	if err != nil {
		t.Fatalf("Decrypt() = %v", err)
	}
	return string(res.Plaintext)
}

func TestNewReportNotifiesTheOnDutyPair(t *testing.T) {
	h := newTeamHarness(t, "")
	h.ingest(report("Ada <"+ada+">", "SQL injection"))
	toAnn, toBob := outboxTo(h, ann), outboxTo(h, bob)
	if len(toAnn) != 1 || len(toBob) != 1 {
		t.Fatalf("notifications: %d to Ann, %d to Bob; want one each", len(toAnn), len(toBob))
	}
	if strings.Contains(string(toAnn[0].Raw), "SQL injection") {
		t.Errorf("Ann's notification shows the report in clear")
	}
	if plain := decryptFor(t, toAnn[0].Raw, annKey); !strings.Contains(plain, "app.example.org/login has an SQL injection") {
		t.Errorf("Ann's decrypted notification lacks the report text:\n%s", plain)
	}
	if body := string(toBob[0].Raw); strings.Contains(body, "OR 1=1") || strings.Contains(body, "SQL injection") || !strings.Contains(body, "mailbot case SEC-2026-0001") {
		t.Errorf("Bob (no key) got report content or no pointer:\n%s", body)
	}
}

func TestTeamReplyIsRelayedAndCommandsApplied(t *testing.T) {
	h := newTeamHarness(t, "")
	h.ingest(report("Ada <"+ada+">", "SQL injection", "Autocrypt", ""))
	note := outboxTo(h, bob)[0]
	reply := teamReply(h, "Bob <"+bob+">", note.MessageID, "Re: [SEC-2026-0001] New report",
		"status confirmed\nexpected 2026-04-01\n\nThanks, we reproduced it and are working on a fix.\n\nOn Tue, Bob wrote:\n> the original notification\n", true)
	res := h.ingest(reply)
	if res.Case != "SEC-2026-0001" || res.Class != "team" {
		t.Fatalf("Ingest(team reply) = %+v, want team mail on SEC-2026-0001", res)
	}
	toAda := outboxTo(h, ada)
	if len(toAda) != 3 { // ack, status notice, relay
		t.Fatalf("mail to the reporter: %d, want ack + status notice + relay", len(toAda))
	}
	var relay, status []byte
	for _, o := range toAda {
		switch o.Kind {
		case "relay":
			relay = o.Raw
		case "status":
			status = o.Raw
		}
	}
	if relay == nil || status == nil {
		t.Fatalf("kinds to the reporter: want relay and status")
	}
	body := decodedBody(t, relay)
	if !strings.Contains(body, "we reproduced it") || strings.Contains(body, "original notification") || strings.Contains(body, "status confirmed") {
		t.Errorf("relayed text wrong (want the reply, no quotes, no commands):\n%s", body)
	}
	if bytes.Contains(relay, []byte(bob)) {
		t.Errorf("the member's address reached the reporter:\n%s", relay)
	}
	if got := header(t, relay, "From"); !strings.Contains(got, botAddr) {
		t.Errorf("relay From = %q, want the security address", got)
	}
	if got := header(t, relay, "In-Reply-To"); !strings.Contains(got, "research.example") {
		t.Errorf("relay In-Reply-To = %q, want the reporter's message", got)
	}
	if s := decodedBody(t, status); !strings.Contains(s, "confirmed") || !strings.Contains(s, "1 April 2026") {
		t.Errorf("status notice lacks the confirmation and expected date:\n%s", s)
	}
	c := h.cases()[0]
	if c.Status != "confirmed" || c.Fields["expected"] != "2026-04-01" {
		t.Errorf("case status %q, expected %q; want confirmed, 2026-04-01", c.Status, c.Fields["expected"])
	}
	conf := outboxTo(h, bob)
	if len(conf) != 2 || !strings.Contains(decodedBody(t, conf[1].Raw), "status: confirmed") {
		t.Errorf("Bob got no confirmation of his commands")
	}
	for _, cl := range c.Clocks {
		if cl.Name == "confirm" && cl.State != "met" {
			t.Errorf("clock confirm = %s after the team's reply, want met", cl.State)
		}
	}
}

func TestForgedTeamMailIsRefused(t *testing.T) {
	tests := []struct {
		name string
		raw  func(h *harness, ref string) []byte
	}{
		{"no authentication", func(h *harness, id string) []byte {
			return teamReply(h, bob, id, "Re: [SEC-2026-0001]", "status fixed\n\nAll done!", false)
		}},
		{"untrusted authserv-id", func(h *harness, id string) []byte {
			return append([]byte("Authentication-Results: evil.example; dkim=pass header.d=example.org\r\n"),
				teamReply(h, bob, id, "Re: [SEC-2026-0001]", "status fixed\n\nAll done!", false)...)
		}},
		{"forged pass below the trusted one", func(h *harness, id string) []byte {
			return append([]byte("Authentication-Results: mx.example.org; dkim=fail header.d=example.org\r\n"),
				teamReply(h, bob, id, "Re: [SEC-2026-0001]", "status fixed\n\nAll done!", true)...)
		}},
		{"two From fields", func(h *harness, id string) []byte {
			return append([]byte("From: "+ada+"\r\n"), teamReply(h, bob, id, "Re: [SEC-2026-0001]", "status fixed\n\nAll done!", true)...)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newTeamHarness(t, "")
			h.ingest(report(ada, "XSS"))
			before := h.events_(h.cases()[0])
			res := h.ingest(tc.raw(h, outboxTo(h, bob)[0].MessageID))
			if res.Class != "team-refused" {
				t.Fatalf("Ingest(forgery) = %+v, want team-refused", res)
			}
			if got := len(outboxTo(h, ada)); got != 1 {
				t.Errorf("mail to the reporter: %d, want only the ack (nothing relayed)", got)
			}
			c := h.cases()[0]
			if c.Status != "new" {
				t.Errorf("case touched: status %q", c.Status)
			}
			refusedEventOnly(t, h, c, before, res.Reason)
			warned := 0
			for _, o := range append(outboxTo(h, ann), outboxTo(h, bob)...) {
				if strings.Contains(header(t, o.Raw, "Subject"), "Refused") || o.Kind == "team" && bytes.Contains(o.Raw, []byte("-----BEGIN PGP MESSAGE")) {
					warned++
				}
			}
			if warned < 2 {
				t.Errorf("the team was not warned (%d warnings)", warned)
			}
		})
	}
}

// refusedEventOnly checks that a refused team mail left c's log as it was
// (before) but for one team.refused event: by the claimed From, with the
// refusal's reason (issue 18 item 6).
func refusedEventOnly(t *testing.T, h *harness, c *store.Case, before []store.Event, reason string) {
	t.Helper()
	after := h.events_(c)
	if len(after) != len(before)+1 {
		t.Fatalf("case events: %d (was %d), want one more: team.refused", len(after), len(before))
	}
	if e := after[len(after)-1]; e.Kind != "team.refused" || e.Detail != reason || e.MessageID == 0 {
		t.Errorf("case event %+v, want team.refused with the reason %q and the mail", e, reason)
	}
}

// TestRefusedTeamMailLeavesAnEvent: a forged team mail that names a case
// only by replying to the case's notification (no tag in its subject)
// leaves one team.refused event on that case, relays nothing and changes
// nothing else; one that names no case leaves no case event, and the team
// is warned either way (issue 18 item 6).
func TestRefusedTeamMailLeavesAnEvent(t *testing.T) {
	h := newTeamHarness(t, "")
	h.ingest(report(ada, "XSS"))
	c := h.cases()[0]
	before := h.events_(c)
	res := h.ingest(teamReply(h, bob, outboxTo(h, bob)[0].MessageID, "Re: the report", "status fixed\nassign bob\n\nAll done!", false))
	if res.Class != "team-refused" || res.Case != "" {
		t.Fatalf("Ingest(forged reply) = %+v, want team-refused on no case", res)
	}
	after := h.cases()[0]
	if after.Status != c.Status || after.Fields["assignee"] != "" || !slices.Equal(after.Participants, c.Participants) {
		t.Errorf("case touched: status %q, fields %v, participants %v", after.Status, after.Fields, after.Participants)
	}
	refusedEventOnly(t, h, after, before, res.Reason)
	if got := len(outboxTo(h, ada)); got != 1 {
		t.Errorf("mail to the reporter: %d, want only the ack (nothing relayed)", got)
	}
	if !teamWarned(t, h) {
		t.Errorf("the team was not warned")
	}

	h = newTeamHarness(t, "")
	h.ingest(report(ada, "XSS"))
	before = h.events_(h.cases()[0])
	if res := h.ingest(teamReply(h, bob, "nothing@example.org", "status", "status fixed\n", false)); res.Class != "team-refused" {
		t.Fatalf("Ingest(forged mail naming no case) = %+v, want team-refused", res)
	}
	if got := h.events_(h.cases()[0]); len(got) != len(before) {
		t.Errorf("case events: %d (was %d), want none added for a mail naming no case", len(got), len(before))
	}
	if !teamWarned(t, h) {
		t.Errorf("the team was not warned of the mail naming no case")
	}
}

func TestReplayedCommandIsRefused(t *testing.T) {
	h := newTeamHarness(t, "")
	h.ingest(report(ada, "XSS"))
	raw := teamReply(h, bob, outboxTo(h, bob)[0].MessageID, "Re: [SEC-2026-0001]", "status triaged\n", true)
	if res := h.ingest(raw); res.Class != "team" {
		t.Fatalf("first: %+v, want accepted", res)
	}
	// The same mail again, with a new Received line (so new bytes).
	again := append([]byte("Received: from relay.example by mx.example.org; Tue, 3 Mar 2026 11:00:00 +0000\r\n"), raw...)
	if res := h.ingest(again); res.Class != "team-refused" || !strings.Contains(res.Reason, "replay") {
		t.Errorf("replay: Ingest() = %+v, want refused as a replay", res)
	}
}

func TestInternalNoteStaysInTheTeam(t *testing.T) {
	h := newTeamHarness(t, "")
	h.ingest(report(ada, "XSS"))
	h.ingest(teamReply(h, ann, outboxTo(h, ann)[0].MessageID, "Re: [SEC-2026-0001]", "#internal\nLooks like a duplicate of last year's bug.\n", true))
	if got := len(outboxTo(h, ada)); got != 1 {
		t.Errorf("mail to the reporter: %d, want only the ack", got)
	}
	if !hasEvent(h.events_(h.cases()[0]), "note", "duplicate of last year") {
		t.Errorf("the internal note is not on the case")
	}
}

func TestCriticalSeverityAlertsTeamAndClaimTellsTheOther(t *testing.T) {
	h := newTeamHarness(t, "")
	h.ingest(report(ada, "RCE"))
	h.ingest(teamReply(h, bob, outboxTo(h, bob)[0].MessageID, "Re: [SEC-2026-0001]",
		"claim\nseverity CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H\n", true))
	c := h.cases()[0]
	if c.Fields["severity"] != "critical" || c.Fields["assignee"] != bob {
		t.Errorf("fields = %v, want severity critical and assignee bob", c.Fields)
	}
	var alerts, claimed int
	for _, o := range append(outboxTo(h, ann), outboxTo(h, bob)...) {
		subj := header(t, o.Raw, "Subject")
		if strings.Contains(subj, "act now") {
			alerts++
		}
		if strings.Contains(subj, "has it") {
			claimed++
		}
	}
	// Ann's mail is encrypted: count hers by decrypting.
	for _, o := range outboxTo(h, ann) {
		if plain := decryptFor(t, o.Raw, annKey); strings.Contains(plain, "act now") {
			alerts++
		} else if strings.Contains(plain, "has it") {
			claimed++
		}
	}
	if alerts != 2 || claimed != 1 {
		t.Errorf("alerts %d (want 2: the whole team), claim notices %d (want 1: the other member)", alerts, claimed)
	}
	// A reporter follow-up now goes to the assignee only.
	n := len(outboxTo(h, ann))
	h.ingest(msg("more info", "From", ada, "To", botAddr, "Subject", "Re: [SEC-2026-0001] RCE", "Message-ID", "<more@research.example>"))
	if len(outboxTo(h, ann)) != n {
		t.Errorf("Ann was notified of a follow-up on Bob's case")
	}
}

func TestWrongCommandIsAnswered(t *testing.T) {
	h := newTeamHarness(t, "")
	h.ingest(report(ada, "XSS"))
	h.ingest(teamReply(h, bob, outboxTo(h, bob)[0].MessageID, "Re: [SEC-2026-0001]", "stauts fixed\nmerge SEC-2099-0001\n", true))
	conf := outboxTo(h, bob)
	body := decodedBody(t, conf[len(conf)-1].Raw)
	if !strings.Contains(body, "stauts") || !strings.Contains(body, "SEC-2099-0001") {
		t.Errorf("confirmation does not explain both wrong commands:\n%s", body)
	}
	if h.cases()[0].Status != "new" {
		t.Errorf("a wrong command changed the case")
	}
}

// annReplies opens a case on the real clock (OpenPGP signatures are made
// now) and returns the header of Ann's reply to her notice about it.
func annReplies(t *testing.T, subject, msgID string) (*harness, mail.Header) {
	t.Helper()
	h := newTeamHarness(t, "")
	h.clock.mu.Lock()
	h.clock.t = time.Now()
	h.clock.mu.Unlock()
	h.ingest(report(ada, "XSS"))
	var hdr mail.Header
	hdr.SetAddressList("From", []*mail.Address{{Address: ann}})
	hdr.SetAddressList("To", []*mail.Address{{Address: botAddr}})
	hdr.SetSubject(subject)
	hdr.SetDate(time.Now())
	hdr.SetMessageID(msgID)
	hdr.SetMsgIDList("In-Reply-To", []string{outboxTo(h, ann)[0].MessageID})
	return h, hdr
}

func TestPGPSignedTeamMailIsAccepted(t *testing.T) {
	h, hdr := annReplies(t, "Re: [SEC-2026-0001]", "signed1@example.org")
	var b bytes.Buffer
	inner := "Content-Type: text/plain; charset=utf-8\r\n\r\nstatus triaged\r\n\r\nWe are on it.\r\n"
	if err := pgp.Sign(&b, hdr, strings.NewReader(inner), annKey); err != nil {
		t.Fatal(err)
	}
	res := h.ingest(b.Bytes())
	if res.Class != "team" || !strings.Contains(res.Reason, "pgp") {
		t.Fatalf("Ingest(signed team mail) = %+v, want accepted by pgp", res)
	}
	if h.cases()[0].Status != "triaged" {
		t.Errorf("status = %q, want triaged", h.cases()[0].Status)
	}
	// Signed by Ann's key but sent as Bob: refused.
	hdr.SetAddressList("From", []*mail.Address{{Address: bob}})
	hdr.SetMessageID("signed2@example.org")
	b.Reset()
	pgp.Sign(&b, hdr, strings.NewReader(inner), annKey)
	if res := h.ingest(b.Bytes()); res.Class != "team-refused" {
		t.Errorf("Ann's signature on Bob's From: %+v, want refused", res)
	}
}

func TestEveryCommandChangesTheCase(t *testing.T) {
	h := newTeamHarness(t, "")
	h.ingest(report(ada, "first"))
	h.ingest(report(eve, "second, the same bug"))
	id := outboxTo(h, bob)[0].MessageID
	h.ingest(teamReply(h, bob, id, "Re: [SEC-2026-0001]", strings.Join([]string{
		"assign ann",
		"cve CVE-2026-12345",
		"credit Ada L.",
		"reward yes",
		"language de",
		"disclose 2026-05-01",
		"extend 30",
	}, "\n")+"\n", true))
	c := h.cases()[0]
	want := map[string]string{"assignee": ann, "cve": "CVE-2026-12345", "credit": "Ada L.", "reward": "yes", "disclosure": "2026-05-01"}
	for k, v := range want {
		if c.Fields[k] != v {
			t.Errorf("field %s = %q, want %q (all: %v)", k, c.Fields[k], v, c.Fields)
		}
	}
	if c.Language != "de" {
		t.Errorf("language = %q, want de", c.Language)
	}
	conf := outboxTo(h, bob)
	if body := decodedBody(t, conf[len(conf)-1].Raw); !strings.Contains(body, "does not allow extending") {
		t.Errorf("extend under a policy without extensions was not refused:\n%s", body)
	}
	// Merge the second case into the first: a duplicate that keeps its credit.
	id2 := outboxTo(h, bob)[len(outboxTo(h, bob))-2].MessageID // Bob's notification of case 2 precedes the confirmation
	for _, o := range outboxTo(h, bob) {
		if o.CaseID == h.cases()[1].ID {
			id2 = o.MessageID
			break
		}
	}
	if res := h.ingest(teamReply(h, bob, id2, "Re: [SEC-2026-0002]", "merge SEC-2026-0001\n", true)); res.Case != "SEC-2026-0002" {
		t.Fatalf("merge mail: %+v", res)
	}
	cs := h.cases()
	if cs[1].Status != "duplicate" || cs[1].Fields["merged_into"] != "SEC-2026-0001" {
		t.Errorf("merged case: status %q, merged_into %q", cs[1].Status, cs[1].Fields["merged_into"])
	}
	if !strings.Contains(cs[0].Fields["credits"], "SEC-2026-0002") || len(cs[0].Participants) != 2 {
		t.Errorf("target case: credits %q, participants %v; want the duplicate's reporter kept", cs[0].Fields["credits"], cs[0].Participants)
	}
	// Now a relay to the German-speaking case goes out in German.
	// Ann answers her own notification: a member's reply counts only on a
	// mail the bot sent to her (issue 15).
	h.ingest(teamReply(h, ann, caseNotice(t, h, ann, 0), "Re: [SEC-2026-0001]", "Danke, wir sind dran.\n", true))
	var relay []byte
	for _, o := range outboxTo(h, ada) {
		if o.Kind == "relay" {
			relay = o.Raw
		}
	}
	if relay == nil || !strings.Contains(decodedBody(t, relay), "Vorgang SEC-2026-0001") {
		t.Errorf("relay after `language de` is not German:\n%s", relay)
	}
}

func TestRelayToAReporterWithAKeyIsEncrypted(t *testing.T) {
	f := keysFixture(t)
	h := newTeamHarness(t, "")
	h.ingest(encryptedReport(t, f, f.bot, "Encrypted one"))
	id := outboxTo(h, bob)[0].MessageID
	h.ingest(teamReply(h, bob, id, "Re: [SEC-2026-0001]", "We will fix it next week.\n", true))
	var relay []byte
	for _, o := range outboxTo(h, ada) {
		if o.Kind == "relay" {
			relay = o.Raw
		}
	}
	if relay == nil {
		t.Fatal("no relay to the reporter")
	}
	if bytes.Contains(relay, []byte("fix it next week")) {
		t.Errorf("the relay to a reporter with a key is in clear")
	}
	if _, body := openAck(t, relay, f.ada); !strings.Contains(body, "fix it next week") {
		t.Errorf("decrypted relay lacks the reply:\n%s", body)
	}
}

// A member's encrypted reply larger than what parse keeps in memory is read
// back from the spooled message and decrypted.
func TestLargeEncryptedTeamReplyIsAccepted(t *testing.T) {
	h, hdr := annReplies(t, "...", "big-encrypted@example.org")
	log := strings.Repeat("GET /login?user=%27%20OR%201=1 HTTP/1.1 200 OK (reproduced)\r\n", 3000)
	inner := "Content-Type: text/plain; charset=utf-8\r\n\r\nstatus triaged\r\n\r\nReproduced, log below.\r\n\r\n" + log
	var b bytes.Buffer
	if err := pgp.Seal(&b, hdr, "Re: [SEC-2026-0001]", strings.NewReader(inner), keysFixture(t).bot.Entities(), annKey); err != nil {
		t.Fatal(err)
	}
	if b.Len() < 128<<10 {
		t.Fatalf("test message is %d bytes, want over 128 KiB", b.Len())
	}
	res := h.ingest(b.Bytes())
	if res.Class != "team" || !strings.Contains(res.Reason, "pgp") {
		t.Fatalf("Ingest(large encrypted team mail) = %+v, want accepted by pgp", res)
	}
	if h.cases()[0].Status != "triaged" {
		t.Errorf("status = %q, want triaged", h.cases()[0].Status)
	}
}

//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// teamConfig makes Ann (with her GnuPG key) and Bob (no key) the team;
// with two members both are always on duty.
const teamConfig = `
[[team]]
name = "Ann Example"
address = "ann@example.org"
key = "ann.asc"

[[team]]
name = "Bob Example"
address = "bob@example.org"

[duty]
mode = "weekly"
start = "2026-01-05"
order = ["Ann Example", "Bob Example"]

[team_mail]
max_age = "168h"
`

var caseRefRE = regexp.MustCompile(`\[(SEC-\d{4}-\d+)\]`)

// teamMail is a mail from Ann to the bot whose text part is body (armored
// OpenPGP blocks), threaded to the bot's notification inReplyTo.
func teamMail(msgID, subject, inReplyTo, body string) []byte {
	return mailBytes([][2]string{
		{"From", "Ann Example <" + annAddr + ">"},
		{"To", botAddr},
		{"Subject", subject},
		{"Date", time.Now().Format(time.RFC1123Z)},
		{"Message-ID", "<" + msgID + ">"},
		{"In-Reply-To", "<" + inReplyTo + ">"},
		{"References", "<" + inReplyTo + ">"},
		{"MIME-Version", "1.0"},
		{"Content-Type", "text/plain; charset=us-ascii"},
	}, body)
}

// processedAfter waits until the bot logged n "processed" lines after mark
// (bounded by filterWait: a spam filter behind the MTA may first load its
// rules) and returns the field key ("class", "action") of the last one.
func (b *bot) processedAfter(t *testing.T, mark, n int, key string) string {
	t.Helper()
	b.log.wait(t, mark, n, filterWait, "msg=processed")
	b.log.mu.Lock()
	defer b.log.mu.Unlock()
	value := ""
	for _, line := range b.log.lines[mark:] {
		if strings.Contains(line, "msg=processed") {
			value = logField(line, key)
		}
	}
	return value
}

// TestE2ETeamAttacks is issue 15's attacks with mail GnuPG made, through
// Postfix and Dovecot to the real binary: Ann's genuine signed and encrypted
// command counts; the same block replayed onto another case with an armor
// Comment line, and an unsigned block spliced beside a block Ann signed, are
// refused (the case untouched, nothing relayed, the team warned); a spoofed
// mail carrying an attacker's key for the reporter's address does not
// divert the reporter's mail to that key.
func TestE2ETeamAttacks(t *testing.T) {
	g := newGnuPG(t)
	annFpr := g.genKey(t, "Ann Example <"+annAddr+">")
	adaFpr := g.genKey(t, "Ada Lovelace <"+adaAddr+">")
	annPub, _ := g.run(t, nil, "--armor", "--export", annFpr)
	adaPub, _ := g.run(t, nil, "--armor", "--export", adaFpr)
	evil := newGnuPG(t)
	evilFpr := evil.genKey(t, "Ada Lovelace <"+adaAddr+">")
	evilPub, _ := evil.run(t, nil, "--armor", "--export", evilFpr)

	e := newEnv(t, botOptions{mode: "idle", extra: teamConfig, files: map[string]string{"ann.asc": string(annPub)}})
	botPub := e.bot.cli(t, "keys", "export", "--config", e.bot.config)
	_, imported := g.run(t, botPub, "--import")
	botFpr := statusField(imported, "IMPORT_OK", 1)
	evil.run(t, botPub, "--import")
	e.bot.startReady(t)
	ada := dialIMAP(t, e.dc.imapAddr, adaAddr, adaPass)
	ann := dialIMAP(t, e.dc.imapAddr, annAddr, annPass)

	// Two reports from Ada; the first carries her key (learned on first use).
	withKey := mailBytes([][2]string{
		{"From", "Ada Lovelace <" + adaAddr + ">"},
		{"To", botAddr},
		{"Subject", "XSS in the search page"},
		{"Date", time.Now().Format(time.RFC1123Z)},
		{"Message-ID", "<a-" + e.nonce + "@research.example>"},
		{"MIME-Version", "1.0"},
		{"Content-Type", `multipart/mixed; boundary="mixed"`},
	}, "--mixed\nContent-Type: text/plain; charset=us-ascii\n\nThe q parameter is reflected unescaped.\n"+
		"--mixed\nContent-Type: application/pgp-keys; name=\"ada.asc\"\nContent-Disposition: attachment; filename=\"ada.asc\"\n\n"+
		string(adaPub)+"\n--mixed--\n")
	idA, idB := "a-"+e.nonce+"@research.example", "b-"+e.nonce+"@research.example"
	for _, raw := range [][]byte{withKey, report(idB, "Open redirect in /login", "The next parameter takes any URL.")} {
		if err := sendSMTP(e.pf.smtpAddr, adaAddr, []string{botAddr}, raw); err != nil {
			t.Fatalf("sendSMTP() = %v", err)
		}
	}
	refs := map[string]string{} // report Message-ID -> case ref
	ackIDs := map[string]string{}
	for _, a := range waitAcks(t, ada, []string{idA, idB}, 60*time.Second, false) {
		if m := caseRefRE.FindStringSubmatch(a.Subject); m != nil && (a.InReplyTo == idA || a.InReplyTo == idB) {
			refs[a.InReplyTo], ackIDs[a.InReplyTo] = m[1], a.MessageID
		}
	}
	refA, refB := refs[idA], refs[idB]
	if refA == "" || refB == "" || refA == refB {
		t.Fatalf("case refs = %v, want two different ones", refs)
	}

	// Ann's notifications, one per case.
	notes := map[string]string{} // case ref -> Message-ID of Ann's notification
	waitUntil(t, "Ann's notifications of both cases", 60*time.Second, func() (bool, error) {
		msgs, err := ann.list("INBOX", false)
		if err != nil {
			return false, err
		}
		for _, m := range msgs {
			if r := caseRefRE.FindStringSubmatch(m.header("Subject")); r != nil && notes[r[1]] == "" {
				notes[r[1]] = strings.Trim(m.header("Message-ID"), "<>")
			}
		}
		return notes[refA] != "" && notes[refB] != "", nil
	})
	annMailBefore := func() int {
		msgs, err := ann.list("INBOX", false)
		if err != nil {
			t.Fatalf("list Ann's mailbox: %v", err)
		}
		return len(msgs)
	}

	// Attack 3: a spoofed follow-up from Ada's address carrying the
	// attacker's key.
	mark := e.bot.log.mark()
	spoof := mailBytes([][2]string{
		{"From", "Ada Lovelace <" + adaAddr + ">"},
		{"To", botAddr},
		{"Subject", "Re: [" + refA + "] my new key"},
		{"Date", time.Now().Format(time.RFC1123Z)},
		{"Message-ID", "<spoof-" + e.nonce + "@evil.example>"},
		{"In-Reply-To", "<" + ackIDs[idA] + ">"},
		{"MIME-Version", "1.0"},
		{"Content-Type", `multipart/mixed; boundary="mixed"`},
	}, "--mixed\nContent-Type: text/plain; charset=us-ascii\n\nPlease use my new key from now on.\n"+
		"--mixed\nContent-Type: application/pgp-keys; name=\"new.asc\"\nContent-Disposition: attachment; filename=\"new.asc\"\n\n"+
		string(evilPub)+"\n--mixed--\n")
	if err := sendSMTP(e.pf.smtpAddr, adaAddr, []string{botAddr}, spoof); err != nil {
		t.Fatalf("sendSMTP(spoof) = %v", err)
	}
	e.bot.processedAfter(t, mark, 1, "class")

	// Ann's genuine command, signed and encrypted by GnuPG: it counts.
	genuine, _ := g.run(t, []byte("status triaged\n\nThank you, we can reproduce it.\n"),
		"--encrypt", "--sign", "--armor", "-r", botFpr, "-u", annFpr)
	mark = e.bot.log.mark()
	if err := sendSMTP(e.pf.smtpAddr, annAddr, []string{botAddr},
		teamMail("g-"+e.nonce+"@example.org", "Re: ["+refA+"]", notes[refA], string(genuine))); err != nil {
		t.Fatalf("sendSMTP(genuine) = %v", err)
	}
	if class := e.bot.processedAfter(t, mark, 1, "class"); class != "team" {
		t.Fatalf("Ann's genuine command: class = %q, want team\n%s", class, e.bot.log.tail(20))
	}

	// Her text reaches Ada encrypted to Ada's key, not the attacker's.
	var relayID string
	waitUntil(t, "the relay in the outbox, sent", 60*time.Second, func() (bool, error) {
		var items []outboxItem
		if err := json.Unmarshal(e.bot.cli(t, "outbox", "--config", e.bot.config, "--json"), &items); err != nil {
			return false, err
		}
		for _, it := range items {
			if it.Kind == "relay" && it.Case == refA && it.State == "sent" {
				relayID = it.MessageID
			}
		}
		return relayID != "", nil
	})
	var relay *stored
	waitUntil(t, "the relay in Ada's mailbox", 60*time.Second, func() (bool, error) {
		msgs, err := ada.list("INBOX", true)
		for _, m := range msgs {
			if strings.Trim(m.header("Message-ID"), "<>") == relayID {
				relay = m
			}
		}
		return relay != nil, err
	})
	block := armoredBlock(relay.Raw)
	if block == nil {
		t.Fatalf("relay to Ada is not encrypted:\n%s", relay.Raw)
	}
	if plain, ok := tryDecrypt(g, block); !ok || !strings.Contains(plain, "we can reproduce it") {
		t.Errorf("attack 3 (key substitution): Ada cannot read the relay with her own key (decrypted %v, %q)", ok, plain)
	}
	if _, ok := tryDecrypt(evil, block); ok {
		t.Errorf("attack 3 (key substitution): the attacker's key decrypts the relay to Ada")
	}

	// Attack 2: the same block, one armor Comment line added, on case B.
	replayed := strings.Replace(string(genuine), "-----BEGIN PGP MESSAGE-----\n", "-----BEGIN PGP MESSAGE-----\nComment: resent\n", 1)
	if replayed == string(genuine) {
		t.Fatalf("could not add a Comment line to\n%s", genuine)
	}
	warned := annMailBefore()
	mark = e.bot.log.mark()
	if err := sendSMTP(e.pf.smtpAddr, annAddr, []string{botAddr},
		teamMail("r-"+e.nonce+"@evil.example", "Re: ["+refB+"]", notes[refB], replayed)); err != nil {
		t.Fatalf("sendSMTP(replay) = %v", err)
	}
	if class := e.bot.processedAfter(t, mark, 1, "class"); class != "team-refused" {
		t.Errorf("attack 2 (replay with an armor Comment): class = %q, want team-refused", class)
	}

	// Attack 1: an unsigned block with commands beside a block Ann signed.
	forged, _ := evil.run(t, []byte("status rejected\nseverity none\ncredit anonymous\n\nPlease re-submit your PoC at https://evil.example/upload\n"),
		"--encrypt", "--armor", "-r", botFpr)
	signed, _ := g.run(t, []byte("Looks fine to me.\n"), "--encrypt", "--sign", "--armor", "-r", botFpr, "-u", annFpr)
	mark = e.bot.log.mark()
	if err := sendSMTP(e.pf.smtpAddr, annAddr, []string{botAddr},
		teamMail("s-"+e.nonce+"@evil.example", "Re: ["+refB+"]", notes[refB], string(forged)+"\n"+string(signed))); err != nil {
		t.Fatalf("sendSMTP(splice) = %v", err)
	}
	if class := e.bot.processedAfter(t, mark, 1, "class"); class != "team-refused" {
		t.Errorf("attack 1 (spliced blocks): class = %q, want team-refused", class)
	}

	// The team is warned of both refusals (the warnings are encrypted to Ann).
	waitUntil(t, "two warnings in Ann's mailbox", 60*time.Second, func() (bool, error) {
		msgs, err := ann.list("INBOX", true)
		if err != nil {
			return false, err
		}
		n := 0
		for _, m := range msgs[min(warned, len(msgs)):] {
			if b := armoredBlock(m.Raw); b != nil {
				if plain, ok := tryDecrypt(g, b); ok && strings.Contains(plain, "Refused a mail claiming to be from") {
					n++
				}
			}
		}
		return n >= 2, nil
	})

	e.bot.stop(t)
	status := map[string]string{}
	for _, c := range e.bot.cases(t) {
		status[c.Ref] = c.Status
	}
	if status[refA] != "triaged" {
		t.Errorf("case %s status = %q, want triaged (Ann's genuine command)", refA, status[refA])
	}
	if status[refB] != "new" {
		t.Errorf("case %s status = %q, want new (every command on it was forged)", refB, status[refB])
	}
	v := e.bot.caseJSON(t, refB)
	for _, ev := range v.Events {
		if ev.Kind == "command" || ev.Kind == "relay.queued" {
			t.Errorf("case %s: event %s %q after forged mail only", refB, ev.Kind, ev.Detail)
		}
	}
	keyEvent := false
	for _, ev := range e.bot.caseJSON(t, refA).Events {
		if strings.Contains(strings.ToUpper(strings.ReplaceAll(ev.Detail, " ", "")), evilFpr) {
			keyEvent = true
		}
	}
	if !keyEvent {
		t.Errorf("case %s: no event names the attacker's key %s", refA, evilFpr)
	}
	say("team attacks (GnuPG): genuine command applied on %s; replay and splice refused on %s; relay to Ada readable by her key only", refA, refB)
}

// tryDecrypt decrypts an armored message with g's keys; ok is false when
// gpg cannot.
func tryDecrypt(g *gnupg, block []byte) (string, bool) {
	cmd := exec.Command("gpg", "--batch", "--yes", "--pinentry-mode", "loopback", "--passphrase", "", "--decrypt")
	cmd.Env = append(cmd.Environ(), "GNUPGHOME="+g.home)
	cmd.Stdin = bytes.NewReader(block)
	out, err := cmd.Output()
	if err != nil {
		return "", false
	}
	return string(out), true
}

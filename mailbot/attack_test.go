package mailbot_test

// Regression tests for issue 15 (attacks 1, 2 and 4): an outsider must not
// make the bot act with a team member's authority. Every mail here is real:
// OpenPGP made with go-crypto, DKIM signed with go-msgauth and checked
// against an injected DNS.

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-msgauth/dkim"

	"mailbot/mailbot"
	"mailbot/mailbot/pgp"
)

// encryptPackets encrypts raw OpenPGP packets (not a literal data packet
// made for us: whatever the caller wrote) to the bot, unsigned, armored, as
// anyone holding the bot's public key can.
func encryptPackets(t *testing.T, packets []byte) []byte {
	t.Helper()
	bot := keysFixture(t).bot.Entities()[0]
	sub, ok := bot.EncryptionKey(time.Now())
	if !ok {
		t.Fatal("the bot's key cannot encrypt")
	}
	key := make([]byte, 32)
	rand.Read(key)
	var out bytes.Buffer
	aw, err := armor.Encode(&out, "PGP MESSAGE", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := packet.SerializeEncryptedKey(aw, sub.PublicKey, packet.CipherAES256, key, nil); err != nil {
		t.Fatalf("SerializeEncryptedKey() = %v", err)
	}
	w, err := packet.SerializeSymmetricallyEncrypted(aw, packet.CipherAES256, false, packet.CipherSuite{}, key, nil)
	if err != nil {
		t.Fatalf("SerializeSymmetricallyEncrypted() = %v", err)
	}
	w.Write(packets)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	aw.Close()
	return out.Bytes()
}

// literal is a literal data packet holding text.
func literal(t *testing.T, text []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := packet.SerializeLiteral(nopCloser{&b}, false, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(text)
	w.Close()
	return b.Bytes()
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// rewrap turns a clearsigned text someone published into a signed OpenPGP
// message (one-pass signature, literal data, her signature packet),
// encrypted to the bot: no secret key needed, the signature still verifies.
func rewrap(t *testing.T, clearsigned []byte) []byte {
	t.Helper()
	b, _ := clearsign.Decode(clearsigned)
	if b == nil {
		t.Fatal("not a clearsigned text")
	}
	sigBytes, err := io.ReadAll(b.ArmoredSignature.Body)
	if err != nil {
		t.Fatal(err)
	}
	p, err := packet.Read(bytes.NewReader(sigBytes))
	if err != nil {
		t.Fatal(err)
	}
	sig := p.(*packet.Signature)
	ops := &packet.OnePassSignature{Version: 3, SigType: sig.SigType, Hash: sig.Hash, PubKeyAlgo: sig.PubKeyAlgo, KeyId: *sig.IssuerKeyId, IsLast: true}
	var pk bytes.Buffer
	if err := ops.Serialize(&pk); err != nil {
		t.Fatal(err)
	}
	pk.Write(literal(t, b.Plaintext))
	pk.Write(sigBytes)
	return encryptPackets(t, pk.Bytes())
}

// Attack 1: an unsigned block spliced beside a member's re-wrapped public
// note. Before the fix every block was decrypted, the texts joined, and the
// mail accepted because one block carried Ann's valid signature.
func TestAttackSplicedEncryptedBlocks(t *testing.T) {
	h := newTeamHarness(t, "")
	h.ingest(report(ada, "XSS"))
	before := h.events_(h.cases()[0])

	// A note Ann once clearsigned and published.
	var note bytes.Buffer
	w, err := clearsign.Encode(&note, annKey.Entities()[0].PrivateKey, &packet.Config{Time: func() time.Time { return h.clock.Now().Add(-time.Minute) }})
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "I am on leave until Monday; Bob covers for me.\n")
	w.Close()
	signedNote := rewrap(t, note.Bytes())
	if res, err := keysFixture(t).bot.Decrypt(signedNote, annKey.Entities(), pgp.Options{}); err != nil || !res.SignatureValid {
		t.Fatalf("the re-wrapped note does not verify as Ann's (%v, %+v): the test proves nothing", err, res)
	}
	attack := encryptPackets(t, literal(t, []byte("status rejected\nseverity none\ncredit anonymous\n\n"+
		"Please re-submit your PoC at https://upload.evil.example/poc\n")))
	raw := msg(string(attack)+"\n"+string(signedNote), "From", "Ann <"+ann+">", "To", botAddr,
		"Subject", "Re: [SEC-2026-0001] New report", "Date", h.clock.Now().Format(time.RFC1123Z), "Message-ID", "<splice@attacker.example>")

	res := h.ingest(raw)
	if res.Class != "team-refused" {
		t.Fatalf("Ingest(spliced blocks) = %+v, want team-refused", res)
	}
	c := h.cases()[0]
	if c.Status != "new" || c.Fields["severity"] != "" || c.Fields["credit"] != "" {
		t.Errorf("case touched: status %q, fields %v", c.Status, c.Fields)
	}
	refusedEventOnly(t, h, c, before, res.Reason)
	for _, o := range outboxTo(h, ada) {
		if o.Kind != "ack" {
			t.Errorf("mail of kind %q went to the reporter; want only the ack", o.Kind)
		}
	}
	if !teamWarned(t, h) {
		t.Errorf("the team was not warned")
	}
}

// teamWarned reports whether both on-duty members got a "refused" warning.
func teamWarned(t *testing.T, h *harness) bool {
	t.Helper()
	warned := 0
	for _, o := range outboxTo(h, bob) {
		if strings.Contains(header(t, o.Raw, "Subject"), "Refused") {
			warned++
		}
	}
	for _, o := range outboxTo(h, ann) {
		if strings.Contains(decryptFor(t, o.Raw, annKey), "Refused") {
			warned++
		}
	}
	return warned >= 2
}

// sealedReply is Ann's genuine signed and encrypted reply to her
// notification of case ref (outer Subject obscured, the real one protected).
func sealedReply(t *testing.T, h *harness, inReplyTo, ref, msgID, body string) []byte {
	t.Helper()
	var hdr mail.Header
	hdr.SetAddressList("From", []*mail.Address{{Name: "Ann", Address: ann}})
	hdr.SetAddressList("To", []*mail.Address{{Address: botAddr}})
	hdr.SetSubject("...")
	hdr.SetDate(h.clock.Now())
	hdr.SetMessageID(msgID)
	if inReplyTo != "" {
		hdr.SetMsgIDList("In-Reply-To", []string{inReplyTo})
	}
	var b bytes.Buffer
	inner := "Content-Type: text/plain; charset=utf-8\r\n\r\n" + strings.ReplaceAll(body, "\n", "\r\n")
	if err := pgp.Seal(&b, hdr, "Re: ["+ref+"] New report", strings.NewReader(inner), keysFixture(t).bot.Entities(), annKey); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// caseNotice is the first mail the bot sent addr about case i (0-based).
func caseNotice(t *testing.T, h *harness, addr string, i int) string {
	t.Helper()
	for _, o := range outboxTo(h, addr) {
		if o.CaseID == h.cases()[i].ID {
			return o.MessageID
		}
	}
	t.Fatalf("no mail to %s about case %d", addr, i+1)
	return ""
}

// Attack 2: a genuine command on case A re-sent with an armor Comment line
// (new bytes, same plaintext and signature) and case B's outer Subject.
func TestAttackReplayWithArmorComment(t *testing.T) {
	h := newTeamHarness(t, "")
	h.ingest(report(ada, "XSS"))
	h.ingest(report(eve, "CSRF"))
	genuine := sealedReply(t, h, caseNotice(t, h, ann, 0), "SEC-2026-0001", "fixed-a@example.org", "status fixed\n\nFixed in 2.3.1, thanks!\n")
	if res := h.ingest(genuine); res.Class != "team" || res.Case != "SEC-2026-0001" {
		t.Fatalf("Ingest(Ann's genuine reply) = %+v, want accepted on SEC-2026-0001", res)
	}
	relaysBefore := len(outboxTo(h, eve))

	replay := bytes.Replace(genuine, []byte("-----BEGIN PGP MESSAGE-----\r\n"), []byte("-----BEGIN PGP MESSAGE-----\r\nComment: re-sent\r\n"), 1)
	replay = bytes.Replace(replay, []byte("Subject: ..."), []byte("Subject: Re: [SEC-2026-0002] CSRF"), 1)
	replay = bytes.Replace(replay, []byte("fixed-a@example.org"), []byte("fixed-b@attacker.example"), 1)
	if i := bytes.Index(replay, []byte("In-Reply-To:")); i >= 0 {
		j := bytes.Index(replay[i:], []byte("\r\n"))
		replay = append(replay[:i:i], replay[i+j+2:]...)
	}
	if bytes.Equal(replay, genuine) || !bytes.Contains(replay, []byte("Comment: re-sent")) {
		t.Fatal("the test did not change the mail")
	}
	res := h.ingest(replay)
	if res.Class != "team-refused" || !strings.Contains(res.Reason, "replay") {
		t.Errorf("Ingest(replay with a Comment line onto case B) = %+v, want refused as a replay", res)
	}
	if c := h.cases()[1]; c.Status != "new" {
		t.Errorf("case B status = %q, want new (untouched)", c.Status)
	}
	if got := len(outboxTo(h, eve)); got != relaysBefore {
		t.Errorf("mail to case B's reporter: %d, want %d (nothing relayed)", got, relaysBefore)
	}
	if !teamWarned(t, h) {
		t.Errorf("the team was not warned")
	}
}

// dkimFixture is a DKIM key for example.org served by an injected DNS.
type dkimFixture struct{ key ed25519.PrivateKey }

func newDKIM(t *testing.T) *dkimFixture {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &dkimFixture{key: priv}
}

func (f *dkimFixture) option() option {
	return func(_ *harness, o *mailbot.Options) {
		o.LookupTXT = func(name string) ([]string, error) {
			if name != "sel._domainkey.example.org" {
				return nil, fmt.Errorf("no such host %s", name)
			}
			return []string{"v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(f.key.Public().(ed25519.PublicKey))}, nil
		}
	}
}

func (f *dkimFixture) sign(t *testing.T, raw []byte, headerKeys ...string) []byte {
	t.Helper()
	var out bytes.Buffer
	err := dkim.Sign(&out, bytes.NewReader(raw), &dkim.SignOptions{Domain: "example.org", Selector: "sel", Signer: f.key, HeaderKeys: headerKeys,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed})
	if err != nil {
		t.Fatalf("dkim.Sign() = %v", err)
	}
	return out.Bytes()
}

// Attack 4: a member's ordinary DKIM-signed mail to someone else, re-sent
// with a case Subject prepended. DKIM reads the bottom Subject, the bot the
// top one.
func TestAttackDKIMPrependedSubject(t *testing.T) {
	dk := newDKIM(t)
	h := newTeamHarness(t, "", dk.option())
	h.ingest(report(ada, "XSS"))
	private := msg("Hi Carl,\n\nthe board meets on Friday; the numbers are not public yet.\n", "From", "Ann <"+ann+">", "To", "carl@partner.example",
		"Subject", "Friday", "Date", h.clock.Now().Format(time.RFC1123Z), "Message-ID", "<private1@example.org>")
	signed := dk.sign(t, private, "From", "To", "Subject", "Date", "Message-ID") // as big providers sign: no oversigning
	forged := append([]byte("Subject: Re: [SEC-2026-0001] New report\r\n"), signed...)

	res := h.ingest(forged)
	if res.Class != "team-refused" {
		t.Fatalf("Ingest(DKIM mail with a prepended Subject) = %+v, want team-refused", res)
	}
	for _, o := range outboxTo(h, ada) {
		if o.Kind != "ack" {
			t.Errorf("mail of kind %q went to the reporter; want only the ack", o.Kind)
		}
	}
	if !teamWarned(t, h) {
		t.Errorf("the team was not warned")
	}
}

// The genuine paths still work: Ann's signed and encrypted reply to her
// notification, a DKIM-signed reply that oversigns, an authres reply.
func TestGenuineTeamRepliesAreAccepted(t *testing.T) {
	dk := newDKIM(t)
	h := newTeamHarness(t, "", dk.option())
	h.ingest(report(ada, "XSS"))
	h.ingest(report(eve, "CSRF"))

	res := h.ingest(sealedReply(t, h, caseNotice(t, h, ann, 0), "SEC-2026-0001", "enc1@example.org", "status triaged\n\nWe are on it.\n"))
	if res.Class != "team" || res.Case != "SEC-2026-0001" || h.cases()[0].Status != "triaged" {
		t.Errorf("Ingest(signed+encrypted reply) = %+v, status %q; want accepted on SEC-2026-0001, triaged", res, h.cases()[0].Status)
	}

	reply := msg("status confirmed\n\nReproduced.\n", "From", "Ann <"+ann+">", "To", botAddr, "Subject", "Re: [SEC-2026-0002] New report",
		"Date", h.clock.Now().Format(time.RFC1123Z), "Message-ID", "<dkim1@example.org>", "In-Reply-To", "<"+caseNotice(t, h, ann, 1)+">")
	res = h.ingest(dk.sign(t, reply, "From", "From", "To", "Subject", "Subject", "Date", "Date", "Message-ID", "Message-ID", "In-Reply-To", "In-Reply-To"))
	if res.Class != "team" || res.Case != "SEC-2026-0002" || h.cases()[1].Status != "confirmed" {
		t.Errorf("Ingest(DKIM reply) = %+v, status %q; want accepted on SEC-2026-0002, confirmed", res, h.cases()[1].Status)
	}

	res = h.ingest(teamReply(h, bob, caseNotice(t, h, bob, 1), "Re: [SEC-2026-0002]", "claim\n", true))
	if res.Class != "team" || res.Case != "SEC-2026-0002" || h.cases()[1].Fields["assignee"] != bob {
		t.Errorf("Ingest(authres reply) = %+v, fields %v; want accepted on SEC-2026-0002, assignee bob", res, h.cases()[1].Fields)
	}
}

// The case comes from signed data; an outer Subject naming another case
// refuses the mail, and the outer Subject alone, or a reply to mail the bot
// sent someone else, picks no case at all.
func TestTeamMailCaseComesFromSignedData(t *testing.T) {
	h := newTeamHarness(t, "")
	h.ingest(report(ada, "XSS"))
	h.ingest(report(eve, "CSRF"))

	relabelled := sealedReply(t, h, caseNotice(t, h, ann, 0), "SEC-2026-0001", "relabel@example.org", "status fixed\n")
	relabelled = bytes.Replace(relabelled, []byte("Subject: ..."), []byte("Subject: Re: [SEC-2026-0002] CSRF"), 1)
	if res := h.ingest(relabelled); res.Class != "team-refused" || !strings.Contains(res.Reason, "unsigned Subject names") {
		t.Errorf("Ingest(outer Subject of another case) = %+v, want refused", res)
	}

	// Authentication-Results: the Subject tag alone is not enough, nor is
	// a reply to Bob's notification.
	for _, inReplyTo := range []string{"", caseNotice(t, h, bob, 1)} {
		res := h.ingest(teamReply(h, ann, inReplyTo, "Re: [SEC-2026-0002]", "status fixed\n", true))
		if res.Case != "" {
			t.Errorf("Ingest(authres, In-Reply-To %q) = %+v, want no case", inReplyTo, res)
		}
	}
	for i, c := range h.cases() {
		if c.Status != "new" {
			t.Errorf("case %d status = %q, want new", i+1, c.Status)
		}
	}
}

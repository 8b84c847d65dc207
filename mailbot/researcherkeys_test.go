package mailbot_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/emersion/go-message/mail"

	"mailbot/mailbot/pgp"
	"mailbot/store"
)

// Issue 15 attack 3: a researcher's key is trusted on first use; a
// different key replaces it only when signed by the known key or accepted
// by a member.

// researcherKey makes an OpenPGP key for addr, as an attacker or the
// researcher's new mail client would.
func researcherKey(t *testing.T, addr string) *pgp.Keyring {
	t.Helper()
	k, err := pgp.Generate("Ada", addr, pgp.Ed25519, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatalf("Generate() = %v", err)
	}
	return k
}

// keyHeader is an Autocrypt header carrying k (Autocrypt 1.1 section 2.1).
func keyHeader(t *testing.T, addr string, k *pgp.Keyring) string {
	t.Helper()
	blk, err := armor.Decode(strings.NewReader(publicArmor(t, k)))
	if err != nil {
		t.Fatal(err)
	}
	bin, err := io.ReadAll(blk.Body)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString(bin)
	var folded strings.Builder
	for len(b64) > 72 {
		folded.WriteString(b64[:72] + "\r\n ")
		b64 = b64[72:]
	}
	folded.WriteString(b64)
	return "addr=" + addr + "; keydata=\r\n " + folded.String()
}

// keyPart is a MIME part with k attached (RFC 3156 section 7).
func keyPart(t *testing.T, k *pgp.Keyring) string {
	return "Content-Type: application/pgp-keys\r\nContent-Disposition: attachment; filename=key.asc\r\n\r\n" +
		strings.ReplaceAll(publicArmor(t, k), "\n", "\r\n") + "\r\n"
}

// mailWithKey is a plain mail From addr with k attached.
func mailWithKey(t *testing.T, from, subject, text string, k *pgp.Keyring) []byte {
	t.Helper()
	nextID++
	return []byte(fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <key%d@research.example>\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n--b\r\n%s--b--\r\n",
		from, botAddr, subject, time.Now().Format(time.RFC1123Z), nextID, text, keyPart(t, k)))
}

// adaHeader is the outer header of a mail from ada.
func adaHeader(msgID string) mail.Header {
	var h mail.Header
	h.SetAddressList("From", []*mail.Address{{Name: "Ada", Address: ada}})
	h.SetAddressList("To", []*mail.Address{{Address: botAddr}})
	h.SetMessageID(msgID)
	h.SetDate(time.Now())
	return h
}

// sealedWithKey is a PGP/MIME mail from ada, signed by signer and
// encrypted to the bot, with attached inside the signed part.
func sealedWithKey(t *testing.T, signer, attached *pgp.Keyring, subject, msgID string) []byte {
	t.Helper()
	inner := "Content-Type: multipart/mixed; boundary=in\r\n\r\n--in\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nMy new key is attached.\r\n--in\r\n" +
		keyPart(t, attached) + "--in--\r\n"
	h := adaHeader(msgID)
	h.SetSubject("...")
	var out bytes.Buffer
	if err := pgp.Seal(&out, h, subject, strings.NewReader(inner), keysFixture(t).bot.Entities(), signer); err != nil {
		t.Fatalf("Seal() = %v", err)
	}
	return out.Bytes()
}

// pgpBlock is the first armored OpenPGP message in raw.
func pgpBlock(t *testing.T, raw []byte) []byte {
	t.Helper()
	i := bytes.Index(raw, []byte("-----BEGIN PGP MESSAGE-----"))
	j := bytes.Index(raw, []byte("-----END PGP MESSAGE-----"))
	if i < 0 || j < 0 {
		t.Fatalf("not encrypted:\n%s", raw)
	}
	return raw[i : j+len("-----END PGP MESSAGE-----")]
}

// lastTo is the newest outgoing mail of kind to addr.
func lastTo(t *testing.T, h *harness, addr, kind string) *store.OutboxItem {
	t.Helper()
	var last *store.OutboxItem
	for _, o := range outboxTo(h, addr) {
		if o.Kind == kind {
			last = o
		}
	}
	if last == nil {
		t.Fatalf("no %s mail to %s", kind, addr)
	}
	return last
}

// readableBy reports whether the encrypted mail raw opens with k.
func readableBy(t *testing.T, raw []byte, k *pgp.Keyring) bool {
	t.Helper()
	_, err := k.Decrypt(pgpBlock(t, raw), nil, pgp.Options{})
	return err == nil
}

// teamMailsAbout are the mail to member whose text (decrypted with k when
// given) holds s.
func teamMailsAbout(t *testing.T, h *harness, member string, k *pgp.Keyring, s string) int {
	t.Helper()
	n := 0
	for _, o := range outboxTo(h, member) {
		text := string(o.Raw)
		if k != nil {
			text = decryptFor(t, o.Raw, k)
		}
		if strings.Contains(text, s) {
			n++
		}
	}
	return n
}

func caseEvents(t *testing.T, h *harness, ref string) []store.Event {
	t.Helper()
	return h.events_(h.caseByRef(ref))
}

// hasKeyEvent: an event of kind on the case naming both fingerprints.
func hasKeyEvent(evs []store.Event, kind, fp1, fp2 string) bool {
	for _, e := range evs {
		if e.Kind == kind && strings.Contains(e.Detail, fp1) && strings.Contains(e.Detail, fp2) {
			return true
		}
	}
	return false
}

// A spoofed mail with the researcher's address and the attacker's key
// must not redirect the team's answers on the researcher's real case.
func TestAttackResearcherKeySubstitution(t *testing.T) {
	f := keysFixture(t)
	h := newTeamHarness(t, "")
	h.ingest(encryptedReport(t, f, f.bot, "Admin panel open"))
	h.ingest(encryptedReport(t, f, f.bot, "Second issue"))
	h.ingest(encryptedReport(t, f, f.bot, "Third issue"))
	h.ingest(teamReply(h, bob, outboxTo(h, bob)[2].MessageID, "Re: [SEC-2026-0003]", "status rejected\n", true))
	if !hasEvent(caseEvents(t, h, "SEC-2026-0001"), "key.learned", f.ada.Fingerprint()) {
		t.Errorf("the first key of %s was not recorded as learned", ada)
	}
	mallory := researcherKey(t, ada)
	spoof := mailWithKey(t, "Ada <"+ada+">", "Re: [SEC-2026-0001] new key", "Please use my new key from now on.", mallory)
	if res := h.ingest(spoof); res.Case != "SEC-2026-0001" {
		t.Fatalf("Ingest(spoof) = %+v, want a follow-up on SEC-2026-0001", res)
	}
	h.ingest(mailWithKey(t, ada, "Re: [SEC-2026-0001] new key", "Again.", mallory))

	// The team's answers still go to the known key only.
	h.ingest(teamReply(h, bob, outboxTo(h, bob)[0].MessageID, "Re: [SEC-2026-0001]", "status triaged\n\nWe reproduced it.\n", true))
	for _, kind := range []string{"relay", "status"} {
		o := lastTo(t, h, ada, kind)
		if readableBy(t, o.Raw, mallory) {
			t.Errorf("the %s to the reporter is readable with the attacker's key", kind)
		}
		if _, body := openAck(t, o.Raw, f.ada); kind == "relay" && !strings.Contains(body, "We reproduced it") {
			t.Errorf("the relay, decrypted with the researcher's key, lacks the reply:\n%s", body)
		}
	}
	// The on-duty pair was told once (Ann encrypted, Bob without a key in
	// plain, which holds fingerprints only).
	if n := teamMailsAbout(t, h, ann, annKey, mallory.Fingerprint()); n != 1 {
		t.Errorf("Ann got %d mails about the new key, want 1", n)
	}
	if n := teamMailsAbout(t, h, bob, nil, "key accept "+mallory.Fingerprint()); n != 1 {
		t.Errorf("Bob got %d mails about the new key, want 1", n)
	}
	for _, o := range outboxTo(h, bob) {
		if strings.Contains(string(o.Raw), "no authentication") {
			t.Errorf("a mail to Bob (no key) holds the report in clear:\n%s", o.Raw)
		}
	}
	// Every open case of the address says so, with both fingerprints.
	for _, ref := range []string{"SEC-2026-0001", "SEC-2026-0002"} {
		if !hasKeyEvent(caseEvents(t, h, ref), "key.pending", mallory.Fingerprint(), f.ada.Fingerprint()) {
			t.Errorf("%s has no key.pending event naming both keys: %+v", ref, caseEvents(t, h, ref))
		}
	}
	if hasEvent(caseEvents(t, h, "SEC-2026-0003"), "key.pending", "") {
		t.Errorf("the closed case SEC-2026-0003 got a key event")
	}
}

// The researcher changes keys with a mail signed by the known one: the
// new key is used at once; a key outside the signed data is not.
func TestKeyRotationSignedByTheOldKey(t *testing.T) {
	f := keysFixture(t)
	h := newTeamHarness(t, "")
	h.ingest(encryptedReport(t, f, f.bot, "Admin panel open"))
	next := researcherKey(t, ada)
	h.ingest(sealedWithKey(t, f.ada, next, "Re: [SEC-2026-0001] new key", "rotate1@research.example"))
	known := func() string {
		var fp string
		h.store.View(func(tx *store.Tx) error {
			k, _ := tx.Key(ada)
			el, _ := pgp.ParseKeys(k)
			if len(el) > 0 {
				fp = fmt.Sprintf("%X", el[0].PrimaryKey.Fingerprint)
			}
			return nil
		})
		return fp
	}
	if got := known(); got != next.Fingerprint() {
		t.Fatalf("key after a rotation signed by the old key = %s, want %s", got, next.Fingerprint())
	}
	if !hasKeyEvent(caseEvents(t, h, "SEC-2026-0001"), "key.replaced", f.ada.Fingerprint(), next.Fingerprint()) {
		t.Errorf("no key.replaced event naming both keys")
	}
	if n := teamMailsAbout(t, h, bob, nil, "key accept"); n != 0 {
		t.Errorf("the team was asked to accept a key the old one signed")
	}
	h.ingest(teamReply(h, bob, outboxTo(h, bob)[0].MessageID, "Re: [SEC-2026-0001]", "Thanks, noted.\n", true))
	if !readableBy(t, lastTo(t, h, ada, "relay").Raw, next) {
		t.Errorf("the relay after the rotation is not encrypted to the new key")
	}

	// PGP/MIME signed (not encrypted), the new key inside the signed part.
	third := researcherKey(t, ada)
	var signed bytes.Buffer
	hdr := adaHeader("rotate2@research.example")
	hdr.SetSubject("Re: [SEC-2026-0001] again")
	body := "Content-Type: multipart/mixed; boundary=in\r\n\r\n--in\r\nContent-Type: text/plain\r\n\r\nNew key.\r\n--in\r\n" + keyPart(t, third) + "--in--\r\n"
	if err := pgp.Sign(&signed, hdr, strings.NewReader(body), next); err != nil {
		t.Fatal(err)
	}
	h.ingest(signed.Bytes())
	if got := known(); got != third.Fingerprint() {
		t.Fatalf("key after a multipart/signed rotation = %s, want %s", got, third.Fingerprint())
	}

	// Signed by the known key, but the key in the Autocrypt header, which
	// the signature does not cover: it waits.
	fourth := researcherKey(t, ada)
	raw := sealedWithKey(t, third, f.other, "Re: [SEC-2026-0001] header", "rotate3@research.example")
	raw = append([]byte("Autocrypt: "+keyHeader(t, ada, fourth)+"\r\n"), raw...)
	h.ingest(raw)
	if got := known(); got != third.Fingerprint() {
		t.Errorf("a key outside the signed data replaced the known one: %s", got)
	}
	if !hasKeyEvent(caseEvents(t, h, "SEC-2026-0001"), "key.pending", fourth.Fingerprint(), third.Fingerprint()) {
		t.Errorf("the unsigned key does not wait")
	}
}

// A member accepts the waiting key; a wrong fingerprint changes nothing
// and is answered as an error.
func TestKeyAcceptByMember(t *testing.T) {
	h := newTeamHarness(t, "")
	first := researcherKey(t, ada)
	h.ingest(mailWithKey(t, ada, "SQL injection in the login form", "The login form at https://app.example.org/login has an SQL injection.", first))
	if !readableBy(t, lastTo(t, h, ada, "ack").Raw, first) {
		t.Fatalf("the ack is not encrypted to the first key learned")
	}
	next := researcherKey(t, ada)
	follow := report(ada, "Re: [SEC-2026-0001] key", "Autocrypt", keyHeader(t, ada, next))
	if res := h.ingest(follow); res.Case != "SEC-2026-0001" {
		t.Fatalf("Ingest(new key) = %+v, want SEC-2026-0001", res)
	}
	notice := ""
	for _, o := range outboxTo(h, bob) {
		if strings.Contains(string(o.Raw), "key accept "+next.Fingerprint()) {
			notice = o.MessageID
		}
	}
	if notice == "" {
		t.Fatalf("Bob was not told about the waiting key")
	}
	confirm := func() string { return decodedBody(t, lastTo(t, h, bob, "team").Raw) }

	wrong := strings.Replace(next.Fingerprint(), next.Fingerprint()[:4], "0000", 1)
	h.ingest(teamReply(h, bob, notice, "Re: [SEC-2026-0001]", "key accept "+wrong+"\n", true))
	if c := confirm(); !strings.Contains(c, "no key with that fingerprint waits") {
		t.Errorf("confirmation of a wrong fingerprint:\n%s\nwant the error", c)
	}
	if !hasKeyEvent(caseEvents(t, h, "SEC-2026-0001"), "key.refused", wrong, first.Fingerprint()) {
		t.Errorf("no key.refused event for the wrong fingerprint")
	}
	h.ingest(teamReply(h, bob, notice, "Re: [SEC-2026-0001]", "Still on it.\n", true))
	if !readableBy(t, lastTo(t, h, ada, "relay").Raw, first) {
		t.Errorf("after a wrong key accept, the relay is not encrypted to the known key")
	}

	// As gpg prints it: groups of four, any case.
	var spaced []string
	for fp := strings.ToLower(next.Fingerprint()); fp != ""; fp = fp[4:] {
		spaced = append(spaced, fp[:4])
	}
	h.ingest(teamReply(h, bob, notice, "Re: [SEC-2026-0001]", "key accept "+strings.Join(spaced, " ")+"\n", true))
	if c := confirm(); !strings.Contains(c, "now "+next.Fingerprint()) {
		t.Errorf("confirmation of key accept:\n%s\nwant the new key", c)
	}
	if !hasKeyEvent(caseEvents(t, h, "SEC-2026-0001"), "key.accepted", next.Fingerprint(), first.Fingerprint()) {
		t.Errorf("no key.accepted event naming both keys")
	}
	h.ingest(teamReply(h, bob, notice, "Re: [SEC-2026-0001]", "Thanks for the new key.\n", true))
	relay := lastTo(t, h, ada, "relay").Raw
	if !readableBy(t, relay, next) || readableBy(t, relay, first) {
		t.Errorf("after key accept, the relay is not encrypted to the accepted key only")
	}
	if err := h.store.View(func(tx *store.Tx) error {
		ps, err := tx.PendingKeys(ada)
		if len(ps) != 0 {
			t.Errorf("PendingKeys() after accept = %d, want 0", len(ps))
		}
		return err
	}); err != nil {
		t.Fatalf("PendingKeys() = %v", err)
	}
}

// A forger sending key after key fills the waiting list once: later keys
// are refused and the team is not told again.
func TestPendingKeysAreBounded(t *testing.T) {
	h := newTeamHarness(t, "")
	first := researcherKey(t, ada)
	h.ingest(mailWithKey(t, ada, "SQL injection in the login form", "The login form has an SQL injection.", first))
	var last *pgp.Keyring
	for i := 0; i < 6; i++ {
		last = researcherKey(t, ada)
		h.ingest(mailWithKey(t, ada, "Re: [SEC-2026-0001] key", "Another key.", last))
	}
	if n := teamMailsAbout(t, h, bob, nil, "A new OpenPGP key for the reporter is waiting"); n != 5 {
		t.Errorf("Bob was told %d times, want 5 (one per kept key)", n)
	}
	if !hasKeyEvent(caseEvents(t, h, "SEC-2026-0001"), "key.refused", last.Fingerprint(), first.Fingerprint()) {
		t.Errorf("the sixth key was not refused")
	}
}

// encryptTo is an armored OpenPGP message of text to the bot, signed by
// signer when not nil.
func encryptTo(t *testing.T, text string, signer *pgp.Keyring) string {
	t.Helper()
	var b bytes.Buffer
	w, err := armor.Encode(&b, "PGP MESSAGE", nil)
	if err != nil {
		t.Fatal(err)
	}
	var by *openpgp.Entity
	if signer != nil {
		by = signer.Entities()[0]
	}
	pw, err := openpgp.Encrypt(w, keysFixture(t).bot.Entities(), by, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(pw, text)
	pw.Close()
	w.Close()
	return strings.ReplaceAll(b.String(), "\n", "\r\n")
}

// A key in an unsigned encrypted part beside a part signed by the known key
// (which anyone can re-wrap from a note the researcher once signed) is not
// vouched for by that signature: it waits.
func TestKeyBesideASignedPartWaits(t *testing.T) {
	f := keysFixture(t)
	h := newTeamHarness(t, "")
	h.ingest(encryptedReport(t, f, f.bot, "Admin panel open"))
	mallory := researcherKey(t, ada)
	unsigned := encryptTo(t, "Content-Type: multipart/mixed; boundary=in\r\n\r\n--in\r\nContent-Type: text/plain\r\n\r\nNew key.\r\n--in\r\n"+
		keyPart(t, mallory)+"--in--\r\n", nil)
	signed := encryptTo(t, "I confirm.\r\n", f.ada)
	raw := fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: Re: [SEC-2026-0001] key\r\nDate: %s\r\nMessage-ID: <splice@research.example>\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: multipart/mixed; boundary=out\r\n\r\n--out\r\n"+
		"Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=enc\r\n\r\n"+
		"--enc\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n--enc\r\nContent-Type: application/octet-stream\r\n\r\n%s\r\n--enc--\r\n"+
		"--out\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=note.asc\r\n\r\n%s\r\n--out--\r\n",
		ada, botAddr, time.Now().Format(time.RFC1123Z), unsigned, signed)
	h.ingest([]byte(raw))
	var m *store.Message
	h.store.View(func(tx *store.Tx) error {
		ms, _ := tx.Messages(h.cases()[0].ID)
		m = ms[len(ms)-1]
		return nil
	})
	if !m.SignatureValid || m.SignerFingerprint != f.ada.Fingerprint() {
		t.Fatalf("spliced mail: valid %v by %q, want a valid signature by the known key (else the test proves nothing)", m.SignatureValid, m.SignerFingerprint)
	}
	if !hasKeyEvent(caseEvents(t, h, "SEC-2026-0001"), "key.pending", mallory.Fingerprint(), f.ada.Fingerprint()) {
		t.Errorf("a key beside the signed part was not kept waiting: %+v", caseEvents(t, h, "SEC-2026-0001"))
	}
}

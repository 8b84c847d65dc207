package mailbot_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"mime/quotedprintable"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-pgpmail"

	"mailbot/mailbot"
	"mailbot/mailbot/pgp"
	"mailbot/store"
)

// withKeys gives the bot a key. The clock is set to the real time: the
// test's signatures are made now, and a signature from the future of the
// bot's clock is rightly refused.
func withKeys(k *pgp.Keyring) option {
	return func(h *harness, o *mailbot.Options) {
		o.Keys = k
		h.clock.mu.Lock()
		h.clock.t = time.Now()
		h.clock.mu.Unlock()
	}
}

type pgpFixture struct {
	bot, ada, other *pgp.Keyring
}

var fixture *pgpFixture

func keysFixture(t *testing.T) *pgpFixture {
	t.Helper()
	if fixture != nil {
		return fixture
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	gen := func(name, addr string) *pgp.Keyring {
		k, err := pgp.Generate(name, addr, pgp.Ed25519, now)
		if err != nil {
			t.Fatalf("Generate() = %v", err)
		}
		return k
	}
	fixture = &pgpFixture{bot: gen("Security", botAddr), ada: gen("Ada", ada), other: gen("Old key", botAddr)}
	return fixture
}

func publicArmor(t *testing.T, k *pgp.Keyring) string {
	t.Helper()
	var b bytes.Buffer
	if err := k.WritePublic(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// encryptedReport is a PGP/MIME report from ada to `to`, signed by ada,
// with ada's public key attached inside the encrypted part.
func encryptedReport(t *testing.T, f *pgpFixture, to *pgp.Keyring, subject string) []byte {
	t.Helper()
	var inner bytes.Buffer
	inner.WriteString("Content-Type: multipart/mixed; boundary=in\r\n\r\n--in\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
		"The admin panel at https://app.example.org/admin has no authentication.\r\nSteps to reproduce: open it.\r\nImpact: full takeover.\r\n" +
		"--in\r\nContent-Type: application/pgp-keys\r\nContent-Disposition: attachment; filename=ada.asc\r\n\r\n" +
		strings.ReplaceAll(publicArmor(t, f.ada), "\n", "\r\n") + "\r\n--in--\r\n")
	var h mail.Header
	h.SetAddressList("From", []*mail.Address{{Name: "Ada", Address: ada}})
	h.SetAddressList("To", []*mail.Address{{Address: botAddr}})
	h.SetMessageID(strings.ReplaceAll(subject, " ", "-") + "@research.example")
	h.SetDate(time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC))
	h.SetSubject("...")
	var out bytes.Buffer
	if err := pgp.Seal(&out, h, subject, &inner, to.Entities(), f.ada); err != nil {
		t.Fatalf("Seal() = %v", err)
	}
	return out.Bytes()
}

// openAck decrypts an encrypted acknowledgement as ada's mail client would.
func openAck(t *testing.T, raw []byte, ada *pgp.Keyring) (subject, body string) {
	t.Helper()
	ring := append(append(openpgp.EntityList{}, ada.Entities()...), fixture.bot.Entities()...)
	r, err := pgpmail.Read(bytes.NewReader(raw), ring, nil, nil)
	if err != nil {
		t.Fatalf("pgpmail.Read(ack) = %v", err)
	}
	inner, err := io.ReadAll(r.MessageDetails.UnverifiedBody)
	if err != nil {
		t.Fatalf("reading the decrypted ack = %v", err)
	}
	if r.MessageDetails.SignatureError != nil || r.MessageDetails.SignedBy == nil {
		t.Errorf("ack signature: signed by %v, error %v; want a good signature", r.MessageDetails.SignedBy, r.MessageDetails.SignatureError)
	}
	mr, err := mail.CreateReader(bytes.NewReader(inner))
	if mr == nil {
		t.Fatalf("inner ack: %v", err)
	}
	subject, _ = mr.Header.Subject()
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		b, _ := io.ReadAll(p.Body)
		body += string(b)
	}
	return subject, body
}

func TestEncryptedReportGetsEncryptedAnswer(t *testing.T) {
	f := keysFixture(t)
	// The receiving MTA vouches for ada's domain: the ack may echo her subject.
	h := newHarness(t, "[team_mail]\ntrusted_authserv_id = \"mx.example.org\"\n", withKeys(f.bot))
	raw := append([]byte("Authentication-Results: mx.example.org; dkim=pass header.d=research.example\r\n"),
		encryptedReport(t, f, f.bot, "Admin panel open")...)
	res := h.ingest(raw)
	if res.Action != mailbot.ActionOpened {
		t.Fatalf("Ingest() = %+v, want opened", res)
	}
	c := h.cases()[0]
	if c.Subject != "Admin panel open" {
		t.Errorf("case subject = %q, want the protected subject (RFC 9788)", c.Subject)
	}
	var m *store.Message
	h.store.View(func(tx *store.Tx) error {
		ms, _ := tx.Messages(c.ID)
		m = ms[0]
		_, ok := tx.Key(ada)
		if !ok {
			t.Errorf("ada's key from inside the encrypted part was not remembered")
		}
		return nil
	})
	if !m.Encrypted || !m.Signed {
		t.Errorf("stored message: encrypted %v signed %v, want both", m.Encrypted, m.Signed)
	}
	if m.SignatureValid {
		t.Errorf("a first message signed by a key it carries itself is not a valid signature (unknown signer)")
	}
	ack := h.outbox()[0]
	if strings.Contains(string(ack.Raw), "Admin panel") {
		t.Errorf("the ack shows the protected subject in clear")
	}
	if got := header(t, ack.Raw, "Subject"); got != "[...] [SEC-2026-0001]" {
		t.Errorf("ack outer Subject = %q, want \"[...] [SEC-2026-0001]\"", got)
	}
	subject, body := openAck(t, ack.Raw, f.ada)
	if !strings.Contains(subject, "Admin panel open") || !strings.Contains(subject, "SEC-2026-0001") {
		t.Errorf("decrypted ack Subject = %q, want the real subject and the tag", subject)
	}
	if !strings.Contains(body, "encrypted to yours") {
		t.Errorf("decrypted ack body does not say it is encrypted:\n%s", body)
	}

	// A second report, signed by the key we now know, is a valid signature.
	res = h.ingest(encryptedReport(t, f, f.bot, "Second issue"))
	h.store.View(func(tx *store.Tx) error {
		ms, _ := tx.Messages(h.cases()[1].ID)
		m = ms[0]
		return nil
	})
	if !m.SignatureValid || m.SignerFingerprint != f.ada.Fingerprint() {
		t.Errorf("second report: valid %v signer %q, want valid by %s", m.SignatureValid, m.SignerFingerprint, f.ada.Fingerprint())
	}
}

func TestWrongKeyGetsTheRightFingerprint(t *testing.T) {
	f := keysFixture(t)
	h := newHarness(t, "", withKeys(f.bot))
	res := h.ingest(encryptedReport(t, f, f.other, "To an old key"))
	if res.Action != mailbot.ActionOpened {
		t.Fatalf("Ingest() = %+v, want a case opened", res)
	}
	ack := h.outbox()[0]
	body := string(ack.Raw)
	fpr := f.bot.Fingerprint()
	if !strings.Contains(strings.ReplaceAll(strings.ReplaceAll(body, " ", ""), "=\r\n", ""), fpr) {
		t.Errorf("wrong-key answer does not name our fingerprint %s:\n%s", fpr, body)
	}
	if !hasEvent(h.events_(h.cases()[0]), "decrypt.failed", "key we do not hold") {
		t.Errorf("the team is not told why the report is unreadable")
	}
}

func TestDamagedCiphertextAsksToResend(t *testing.T) {
	f := keysFixture(t)
	h := newHarness(t, "", withKeys(f.bot))
	raw := encryptedReport(t, f, f.bot, "Damaged")
	// Flip a character inside the armored ciphertext.
	i := bytes.Index(raw, []byte("-----BEGIN PGP MESSAGE-----"))
	j := i + 200
	for raw[j] == '\r' || raw[j] == '\n' || raw[j] == 'A' {
		j++
	}
	raw[j] = 'A'
	h.ingest(raw)
	c := h.cases()[0]
	if !hasEvent(h.events_(c), "decrypt.failed", "") {
		t.Errorf("no decrypt.failed event for damaged ciphertext")
	}
	if subj := header(t, h.outbox()[0].Raw, "Subject"); !strings.Contains(subj, "send your report again") {
		t.Errorf("answer to damaged data: Subject %q, want the resend request", subj)
	}
}

func TestReplayedCiphertextIsNeverAnswered(t *testing.T) {
	f := keysFixture(t)
	h := newHarness(t, "", withKeys(f.bot))
	raw := encryptedReport(t, f, f.bot, "Secret")
	h.ingest(raw)
	// Eve re-sends ada's ciphertext under her own headers (EFAIL-style oracle).
	i := bytes.Index(raw, []byte("\r\n\r\n"))
	body := raw[i:]
	ct := header(t, raw, "Content-Type")
	replay := append([]byte("From: "+eve+"\r\nTo: "+botAddr+"\r\nSubject: hello\r\nMessage-ID: <replay@elsewhere.example>\r\nMIME-Version: 1.0\r\nContent-Type: "+ct), body...)
	res := h.ingest(replay)
	if res.Action != mailbot.ActionRecorded || res.Case != "SEC-2026-0001" {
		t.Errorf("Ingest(replay) = %s %s, want recorded on SEC-2026-0001", res.Action, res.Case)
	}
	if n := len(h.outbox()); n != 1 {
		t.Errorf("outbox has %d items, want only ada's ack: the replay must not be answered", n)
	}
	if len(h.cases()) != 1 {
		t.Errorf("the replay opened a case")
	}
}

func TestInlinePGPReport(t *testing.T) {
	f := keysFixture(t)
	h := newHarness(t, "", withKeys(f.bot))
	var ct bytes.Buffer
	aw, _ := armor.Encode(&ct, "PGP MESSAGE", nil)
	w, err := openpgp.Encrypt(aw, f.bot.Entities(), nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "Steps to reproduce: inline secret.\n")
	w.Close()
	aw.Close()
	raw := msg("Hello, see below.\n\n"+ct.String()+"\n\nThanks", "From", ada, "To", botAddr, "Subject", "inline", "Message-ID", "<inline@research.example>")
	res := h.ingest(raw)
	if res.Action != mailbot.ActionOpened {
		t.Fatalf("Ingest(inline) = %+v", res)
	}
	var m *store.Message
	h.store.View(func(tx *store.Tx) error { ms, _ := tx.Messages(1); m = ms[0]; return nil })
	if !m.Encrypted {
		t.Errorf("inline PGP message not recorded as encrypted")
	}
	if strings.Contains(string(h.outbox()[0].Raw), "inline secret") {
		t.Errorf("decrypted text leaked into the answer")
	}
}

func TestEncryptedPartOverTheLimitIsNeverSilent(t *testing.T) {
	f := keysFixture(t)
	h := newHarness(t, "[limits]\nmax_decrypt_bytes = 1048576\n", withKeys(f.bot))
	// A ciphertext bigger than the decryption limit: build the message so
	// its armored block exceeds it by construction.
	big := strings.Repeat("wcBMA0xQ1A3ScyHqAQf/"+strings.Repeat("A", 43)+"\r\n", (2<<20)/66)
	raw := msg("see attached\n", "From", ada, "To", botAddr, "Subject", "huge", "Message-ID", "<huge@research.example>",
		"MIME-Version", "1.0")
	raw = bytes.Replace(raw, []byte("Content-Type: text/plain; charset=utf-8\r\n\r\nsee attached\r\n"),
		[]byte("Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=b\r\n\r\n--b\r\n"+
			"Content-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n--b\r\nContent-Type: application/octet-stream\r\n\r\n"+
			"-----BEGIN PGP MESSAGE-----\r\n\r\n"+big+"-----END PGP MESSAGE-----\r\n--b--\r\n"), 1)
	res := h.ingest(raw)
	if res.Action != mailbot.ActionOpened {
		t.Fatalf("Ingest(huge encrypted) = %+v, want a case", res)
	}
	if !hasEvent(h.events_(h.cases()[0]), "decrypt.failed", "decryption limit") {
		t.Errorf("the team is not told that the encrypted part was too large to decrypt")
	}
}

// TestExchangeMixedUpPGPMIMEIsDecrypted: Exchange rewrites
// multipart/encrypted into multipart/mixed with an empty text part, the
// "Version: 1" part and the ciphertext as an attachment ("mixed-up").
func TestExchangeMixedUpPGPMIMEIsDecrypted(t *testing.T) {
	f := keysFixture(t)
	h := newHarness(t, "", withKeys(f.bot))
	sealed := encryptedReport(t, f, f.bot, "Mangled by Exchange")
	i := bytes.Index(sealed, []byte("-----BEGIN PGP MESSAGE-----"))
	j := bytes.Index(sealed, []byte("-----END PGP MESSAGE-----")) + len("-----END PGP MESSAGE-----")
	ct := sealed[i:j]
	raw := []byte("From: Ada <" + ada + ">\r\nTo: " + botAddr + "\r\nSubject: ...\r\nMessage-ID: <mixed@research.example>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n" +
		"--x\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n\r\n" +
		"--x\r\nContent-Type: application/pgp-encrypted\r\nContent-Disposition: attachment\r\n\r\nVersion: 1\r\n" +
		"--x\r\nContent-Type: application/octet-stream; name=\"encrypted.asc\"\r\nContent-Disposition: attachment; filename=\"encrypted.asc\"\r\n\r\n" +
		string(ct) + "\r\n--x--\r\n")
	res := h.ingest(raw)
	if res.Action != mailbot.ActionOpened {
		t.Fatalf("Ingest(mixed-up) = %+v", res)
	}
	c := h.cases()[0]
	if c.Subject != "Mangled by Exchange" {
		t.Errorf("case subject = %q, want the protected subject from the decrypted part", c.Subject)
	}
	if hasEvent(h.events_(c), "decrypt.failed", "") {
		t.Errorf("the mixed-up message was not decrypted")
	}
}

// bigEncryptedReport is a PGP/MIME report (RFC 3156 section 4) from ada to
// the bot, signed by ada, whose encrypted entity carries a protected
// Subject, a text part starting with marker and an attachment of attSize
// random bytes: far more ciphertext than parse keeps in memory. With tamper,
// one byte in the middle of the binary ciphertext is flipped before it is
// armored (so the armor checksum is right and only the MDC can tell).
func bigEncryptedReport(t *testing.T, f *pgpFixture, marker string, attSize int, tamper bool) (raw, att []byte) {
	t.Helper()
	att = make([]byte, attSize)
	rand.Read(att)
	var inner bytes.Buffer
	inner.WriteString("Subject: " + marker + " protected subject\r\nContent-Type: multipart/mixed; boundary=in\r\n\r\n" +
		"--in\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + marker + "\r\nSteps to reproduce: open it.\r\nImpact: full takeover.\r\n" +
		"--in\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=capture.pcap\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	enc := base64.StdEncoding.EncodeToString(att)
	for len(enc) > 76 {
		inner.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	inner.WriteString(enc + "\r\n--in--\r\n")
	var bin bytes.Buffer
	w, err := openpgp.Encrypt(&bin, f.bot.Entities(), f.ada.Entities()[0], nil, nil)
	if err != nil {
		t.Fatalf("openpgp.Encrypt() = %v", err)
	}
	w.Write(inner.Bytes())
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ct := bin.Bytes()
	if tamper {
		ct[len(ct)/2] ^= 0x01
	}
	var arm bytes.Buffer
	aw, _ := armor.Encode(&arm, "PGP MESSAGE", nil)
	aw.Write(ct)
	aw.Close()
	nextID++
	raw = []byte("From: Ada <" + ada + ">\r\nTo: " + botAddr + "\r\nSubject: ...\r\n" +
		fmt.Sprintf("Message-ID: <big%d@research.example>\r\n", nextID) +
		"MIME-Version: 1.0\r\nContent-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n" +
		"--b\r\nContent-Type: application/octet-stream; name=\"encrypted.asc\"\r\n\r\n" +
		strings.ReplaceAll(arm.String(), "\n", "\r\n") + "\r\n--b--\r\n")
	return raw, att
}

// TestLargeEncryptedReportIsDecrypted: a report whose ciphertext parse does
// not keep is read again from the spool file and decrypted as it streams:
// the protected subject is the case's, the attachment inside is hashed and
// sized, the decrypted text reaches the team.
func TestLargeEncryptedReportIsDecrypted(t *testing.T) {
	f := keysFixture(t)
	h := newTeamHarness(t, "")
	const marker = "MARKER-7f3a"
	raw, att := bigEncryptedReport(t, f, marker, 2<<20, false)
	if res := h.ingest(raw); res.Action != mailbot.ActionOpened {
		t.Fatalf("Ingest() = %+v, want opened", res)
	}
	c := h.cases()[0]
	if hasEvent(h.events_(c), "decrypt.failed", "") {
		t.Fatalf("decrypt.failed for an intact large report: %+v", h.events_(c))
	}
	if want := marker + " protected subject"; c.Subject != want {
		t.Errorf("case subject = %q, want the protected %q", c.Subject, want)
	}
	var m *store.Message
	h.store.View(func(tx *store.Tx) error { ms, _ := tx.Messages(c.ID); m = ms[0]; return nil })
	sum := sha256.Sum256(att)
	found := false
	for _, a := range m.Attachments {
		found = found || a.Size == int64(len(att)) && a.Hash == hex.EncodeToString(sum[:])
	}
	if !m.Encrypted || !found {
		t.Errorf("stored message: encrypted %v, attachments %+v; want the %d-byte attachment with sha256 %x", m.Encrypted, m.Attachments, len(att), sum)
	}
	toAnn := outboxTo(h, ann)
	if len(toAnn) != 1 || !strings.Contains(decryptFor(t, toAnn[0].Raw, annKey), marker) {
		t.Errorf("Ann's notification does not carry the decrypted text %q", marker)
	}
}

// TestLargeTamperedReportGivesNoText: the same report with one ciphertext
// byte flipped is decrypted and parsed as it streams, but go-crypto finds
// the MDC mismatch only at the end: nothing of it may be used (EFAIL). The
// reporter is asked to send again, the team sees no text, the case keeps the
// outer subject and no attachment from inside.
func TestLargeTamperedReportGivesNoText(t *testing.T) {
	f := keysFixture(t)
	h := newTeamHarness(t, "")
	const marker = "MARKER-91c2"
	raw, _ := bigEncryptedReport(t, f, marker, 2<<20, true)
	if res := h.ingest(raw); res.Action != mailbot.ActionOpened {
		t.Fatalf("Ingest() = %+v, want opened", res)
	}
	c := h.cases()[0]
	if !hasEvent(h.events_(c), "decrypt.failed", "") {
		t.Errorf("no decrypt.failed event for a tampered ciphertext")
	}
	if strings.Contains(c.Subject, marker) {
		t.Errorf("case subject = %q: the protected subject of a tampered message was used", c.Subject)
	}
	var m *store.Message
	h.store.View(func(tx *store.Tx) error { ms, _ := tx.Messages(c.ID); m = ms[0]; return nil })
	if len(m.Attachments) != 0 {
		t.Errorf("stored attachments = %+v, want none from a tampered encrypted part", m.Attachments)
	}
	for _, o := range h.outbox() {
		body := string(o.Raw)
		if bytes.Contains(o.Raw, []byte("-----BEGIN PGP MESSAGE-----")) && len(o.To) == 1 && o.To[0] == ann {
			body = decryptFor(t, o.Raw, annKey)
		}
		if strings.Contains(body, marker) {
			t.Errorf("mail to %v carries text of the tampered message:\n%s", o.To, body)
		}
	}
	var toAda []*store.OutboxItem
	for _, o := range h.outbox() {
		if len(o.To) == 1 && o.To[0] == ada {
			toAda = append(toAda, o)
		}
	}
	if len(toAda) != 1 || !strings.Contains(header(t, toAda[0].Raw, "Subject"), "send your report again") {
		t.Errorf("answers to ada: %d, want one resend request", len(toAda))
	}
}

// TestLargeInlinePGPReport: an inline block too large to keep (parse keeps
// 64 KiB) is found again in the quoted-printable text part and decrypted.
func TestLargeInlinePGPReport(t *testing.T) {
	f := keysFixture(t)
	h := newTeamHarness(t, "")
	const marker = "MARKER-inline-55d1"
	var ct bytes.Buffer
	aw, _ := armor.Encode(&ct, "PGP MESSAGE", nil)
	w, err := openpgp.Encrypt(aw, f.bot.Entities(), nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, marker+"\nSteps to reproduce: below.\n"+strings.Repeat("Impact: the whole database can be read. ", 8000))
	w.Close()
	aw.Close()
	var qp bytes.Buffer
	qw := quotedprintable.NewWriter(&qp)
	qw.Write([]byte("Gr\xfc\xdfe,\r\n\r\n" + strings.ReplaceAll(ct.String(), "\n", "\r\n") + "\r\nThanks\r\n"))
	qw.Close()
	raw := []byte("From: Ada <" + ada + ">\r\nTo: " + botAddr + "\r\nSubject: inline\r\nMessage-ID: <biginline@research.example>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" + qp.String())
	if res := h.ingest(raw); res.Action != mailbot.ActionOpened {
		t.Fatalf("Ingest(inline) = %+v", res)
	}
	c := h.cases()[0]
	if hasEvent(h.events_(c), "decrypt.failed", "") {
		t.Fatalf("decrypt.failed for an intact inline block: %+v", h.events_(c))
	}
	toAnn := outboxTo(h, ann)
	if len(toAnn) != 1 || !strings.Contains(decryptFor(t, toAnn[0].Raw, annKey), marker) {
		t.Errorf("Ann's notification does not carry the decrypted inline text %q", marker)
	}
}

package team

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	"mailbot/mailbot/pgp"
)

// botKey is the bot's keyring for the encrypted-mail tests.
func (f *authFixture) botKey(t testing.TB) *pgp.Keyring {
	t.Helper()
	if f.bot == nil {
		k, err := pgp.Generate("Security", "security@example.org", pgp.Ed25519, f.now.Add(-30*24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		f.bot = k
	}
	return f.bot
}

// decryptOpts injects the bot's Decrypt, as the daemon does.
func (f *authFixture) decryptOpts(t testing.TB) Options {
	bot := f.botKey(t)
	return Options{Decrypt: func(b []byte, verify openpgp.EntityList) (*pgp.Result, error) {
		return bot.Decrypt(b, verify, pgp.Options{Now: func() time.Time { return f.now }})
	}}
}

// encrypted is text encrypted to the bot as one armored OpenPGP message,
// signed by signer at sigTime (unsigned when signer is nil).
func (f *authFixture) encrypted(t testing.TB, text string, signer *pgp.Keyring, sigTime time.Time) string {
	t.Helper()
	var out bytes.Buffer
	aw, err := armor.Encode(&out, "PGP MESSAGE", nil)
	if err != nil {
		t.Fatal(err)
	}
	var by *openpgp.Entity
	if signer != nil {
		by = signer.Entities()[0]
	}
	w, err := openpgp.Encrypt(aw, f.botKey(t).Entities(), by, nil, &packet.Config{Time: func() time.Time { return sigTime }})
	if err != nil {
		t.Fatalf("openpgp.Encrypt() = %v", err)
	}
	io.WriteString(w, text)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	aw.Close()
	return out.String()
}

// sealed is a PGP/MIME signed and encrypted mail (pgp.Seal) with the real
// Subject protected and an obscured outer one.
func (f *authFixture) sealed(t testing.TB, from, protected, body string, signer *pgp.Keyring, inReplyTo string) []byte {
	t.Helper()
	h := f.mimeHeader(from, "...")
	if inReplyTo != "" {
		h.SetMsgIDList("In-Reply-To", []string{inReplyTo})
	}
	var out bytes.Buffer
	if err := pgp.Seal(&out, h, protected, strings.NewReader("Content-Type: text/plain; charset=utf-8\r\n\r\n"+body), f.botKey(t).Entities(), signer); err != nil {
		t.Fatalf("pgp.Seal() = %v", err)
	}
	return out.Bytes()
}

// mixedUp is a PGP/MIME mail as Exchange rewrites it: multipart/mixed with
// an empty text part, the "Version: 1" part and the ciphertext as a file.
func (f *authFixture) mixedUp(t testing.TB, sealed []byte) []byte {
	t.Helper()
	i := bytes.Index(sealed, []byte("-----BEGIN PGP MESSAGE-----"))
	j := bytes.Index(sealed, []byte("-----END PGP MESSAGE-----")) + len("-----END PGP MESSAGE-----")
	return []byte(f.header("alice@example.org") + "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n" +
		"--x\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n\r\n" +
		"--x\r\nContent-Type: application/pgp-encrypted\r\nContent-Disposition: attachment\r\n\r\nVersion: 1\r\n" +
		"--x\r\nContent-Type: application/octet-stream; name=\"encrypted.asc\"\r\nContent-Disposition: attachment; filename=\"encrypted.asc\"\r\n\r\n" +
		string(sealed[i:j]) + "\r\n--x--\r\n")
}

func TestAuthenticateEncrypted(t *testing.T) {
	f := newAuthFixture(t)
	now := f.now.Add(-time.Minute)
	good := f.encrypted(t, "status fixed\n", f.alice, now)
	tests := []struct {
		name   string
		raw    []byte
		noDec  bool   // no Decrypt injected
		reason string // "" means accepted
		text   string
	}{
		{name: "inline, signed and encrypted", raw: f.plain("alice@example.org", good), text: "status fixed"},
		{name: "pgp/mime sealed", raw: f.sealed(t, "alice@example.org", "Re: [SEC-1] bug", "claim\r\n", f.alice, ""), text: "claim"},
		{name: "pgp/mime mangled by Exchange", raw: f.mixedUp(t, f.sealed(t, "alice@example.org", "Re: [SEC-1] bug", "claim\r\n", f.alice, "")), text: "claim"},
		{name: "two blocks: an unsigned one beside the member's",
			raw:    f.plain("alice@example.org", f.encrypted(t, "status rejected\n", nil, now)+"\r\n"+good),
			reason: "2 encrypted blocks"},
		{name: "unsigned text beside the block", raw: f.plain("alice@example.org", "status rejected\r\n\r\n"+good), reason: "unsigned text beside"},
		{name: "encrypted, not signed", raw: f.plain("alice@example.org", f.encrypted(t, "status fixed\n", nil, now)), reason: "encrypted but not signed"},
		{name: "signed by a non-member", raw: f.plain("alice@example.org", f.encrypted(t, "status fixed\n", f.eve, now)), reason: "unknown signer"},
		{name: "signed by the member's key for another address",
			raw: f.plain("alice@example.org", f.encrypted(t, "status fixed\n", f.aliceOther, now)), reason: "does not carry the address"},
		{name: "signature older than max_age", raw: f.plain("alice@example.org", f.encrypted(t, "status fixed\n", f.alice, f.now.Add(-8*24*time.Hour))),
			reason: "older than"},
		{name: "signature far from Date", raw: f.plain("alice@example.org", f.encrypted(t, "status fixed\n", f.alice, f.now.Add(-3*time.Hour))),
			reason: "away from Date"},
		{name: "no decrypt function", raw: f.plain("alice@example.org", good), noDec: true, reason: "cannot be read here"},
		{name: "member without a key", raw: f.plain("carol@mail.example.org", good), reason: "without an OpenPGP key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := f.decryptOpts(t)
			if tt.noDec {
				opts.Decrypt = nil
			}
			v := f.auth(t, tt.raw, opts)
			if tt.reason != "" {
				if v.OK || !strings.Contains(v.Reason, tt.reason) {
					t.Fatalf("Authenticate() = %+v, want refused with %q", v, tt.reason)
				}
				return
			}
			if !v.OK || v.Method != MethodPGP || !strings.Contains(v.Text, tt.text) || strings.Contains(v.Text, "rejected") {
				t.Fatalf("Authenticate() = %+v, want OK by pgp with text %q", v, tt.text)
			}
		})
	}
}

// The protected Subject and thread of the signed part are the verdict's;
// the outer ones are not.
func TestAuthenticateProtectedHeaders(t *testing.T) {
	f := newAuthFixture(t)
	raw := f.sealed(t, "alice@example.org", "Re: [SEC-2026-0007] bug", "status triaged\r\n", f.alice, "n1@bot.example")
	v := f.auth(t, raw, f.decryptOpts(t))
	if !v.OK || v.Subject != "Re: [SEC-2026-0007] bug" || len(v.Thread) != 1 || v.Thread[0] != "n1@bot.example" {
		t.Fatalf("Authenticate() = %+v, want OK with the protected Subject and In-Reply-To", v)
	}
	if got := v.SignedRef("SEC"); got != "SEC-2026-0007" {
		t.Errorf("SignedRef() = %q, want SEC-2026-0007", got)
	}
	// Authentication-Results: nothing counts as signed.
	a := f.auth(t, f.plain("alice@example.org", "claim [SEC-2026-0001]\r\n", "Authentication-Results: mx.example.org; dkim=pass header.d=example.org"),
		Options{TrustedAuthServID: "mx.example.org"})
	if !a.OK || a.SignedRef("SEC") != "" {
		t.Errorf("authres SignedRef() = %q (verdict %+v), want nothing", a.SignedRef("SEC"), a)
	}
	// A tag on a quoted line of the signed text does not count.
	q := Verdict{OK: true, Method: MethodDKIM, Text: "claim\n> On Monday you wrote about [SEC-2026-0003]\n"}
	if got := q.SignedRef("SEC"); got != "" {
		t.Errorf("SignedRef(quoted tag) = %q, want none", got)
	}
}

// The replay key is the signer, the signature time and the signed content:
// an armor Comment line or a second encryption of the same signed message
// is the same command.
func TestAuthenticateEncryptedReplayKey(t *testing.T) {
	f := newAuthFixture(t)
	block := f.encrypted(t, "status fixed\n", f.alice, f.now.Add(-time.Minute))
	v1 := f.auth(t, f.plain("alice@example.org", block), f.decryptOpts(t))
	commented := strings.Replace(block, "-----BEGIN PGP MESSAGE-----\n", "-----BEGIN PGP MESSAGE-----\nComment: again\n", 1)
	if commented == block {
		t.Fatal("the test did not add a Comment line")
	}
	v2 := f.auth(t, f.plain("alice@example.org", commented), f.decryptOpts(t))
	if !v1.OK || !v2.OK || v1.ReplayKey != v2.ReplayKey {
		t.Fatalf("Authenticate(block, block with Comment) = %+v, %+v; want both OK with one replay key", v1, v2)
	}
	opts := f.decryptOpts(t)
	opts.Seen = func(k string) bool { return k == v1.ReplayKey }
	if v := f.auth(t, f.plain("alice@example.org", commented), opts); v.OK || !strings.Contains(v.Reason, "replayed") {
		t.Errorf("Authenticate(seen) = %+v, want refused as replayed", v)
	}
}

func TestAuthenticateRepeatedFields(t *testing.T) {
	f := newAuthFixture(t)
	keys := []string{"From", "From", "Subject", "Subject", "Date", "Date", "Message-ID", "Message-ID", "In-Reply-To", "In-Reply-To", "References", "References"}
	for _, field := range []string{"Subject: Re: [SEC-2] other", "Date: " + f.now.Format(time.RFC1123Z), "Message-ID: <x@example.org>",
		"In-Reply-To: <n2@bot.example>", "References: <n2@bot.example>"} {
		raw := f.plain("alice@example.org", "claim\r\n", field)
		if strings.HasPrefix(field, "In-Reply-To") || strings.HasPrefix(field, "References") {
			raw = f.plain("alice@example.org", "claim\r\n", field, field)
		}
		if v := f.auth(t, f.dkimSign(t, raw, "example.org", keys), Options{}); v.OK || !strings.Contains(v.Reason, "repeated header fields") {
			t.Errorf("Authenticate(two %s) = %+v, want refused for repeated fields", field[:strings.IndexByte(field, ':')], v)
		}
	}
}

func TestAuthenticateDKIMOversigned(t *testing.T) {
	f := newAuthFixture(t)
	reply := f.plain("alice@example.org", "claim\r\n", "In-Reply-To: <n1@bot.example>")
	tests := []struct {
		name   string
		keys   []string
		reason string
	}{
		{"all oversigned", []string{"From", "Subject", "Subject", "Date", "Date", "Message-ID", "Message-ID", "In-Reply-To", "In-Reply-To"}, ""},
		{"subject signed once", []string{"From", "Subject", "Date", "Date", "Message-ID", "Message-ID", "In-Reply-To", "In-Reply-To"}, "does not oversign subject"},
		{"in-reply-to not oversigned", []string{"From", "Subject", "Subject", "Date", "Date", "Message-ID", "Message-ID", "In-Reply-To"}, "does not oversign in-reply-to"},
		{"in-reply-to not signed", []string{"From", "Subject", "Subject", "Date", "Date", "Message-ID", "Message-ID"}, "does not oversign in-reply-to"},
	}
	for _, tt := range tests {
		v := f.auth(t, f.dkimSign(t, reply, "example.org", tt.keys), Options{})
		if tt.reason == "" {
			if !v.OK || v.Method != MethodDKIM || len(v.Thread) != 1 || v.Subject != "Re: [SEC-1] bug" {
				t.Errorf("%s: Authenticate() = %+v, want OK by dkim with its Subject and thread", tt.name, v)
			}
			continue
		}
		if v.OK || !strings.Contains(v.Reason, tt.reason) {
			t.Errorf("%s: Authenticate() = %+v, want refused with %q", tt.name, v, tt.reason)
		}
	}
	// l=: only part of the body signed (RFC 6376 section 8.2). go-msgauth
	// refuses it too; the bot does not rely on that.
	signed := f.dkimSign(t, reply, "example.org", tests[0].keys)
	withL := bytes.Replace(signed, []byte("DKIM-Signature: "), []byte("DKIM-Signature: l=7; "), 1)
	if v := f.auth(t, withL, Options{}); v.OK {
		t.Errorf("Authenticate(l=) = %+v, want refused", v)
	}
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(withL)))
	if err != nil {
		t.Fatal(err)
	}
	if fs := dkimSignatures(h); len(fs) != 1 || !fs[0].bodyLength {
		t.Errorf("dkimSignatures(l=) = %+v, want one with bodyLength", fs)
	}
}

func TestChooseCase(t *testing.T) {
	tests := []struct {
		signed, thread, outer string
		want                  string
		conflict              bool
	}{
		{"SEC-1", "", "", "SEC-1", false},
		{"", "SEC-1", "", "SEC-1", false},
		{"", "SEC-1", "SEC-1", "SEC-1", false},
		{"sec-1", "SEC-1", "Sec-1", "sec-1", false},
		{"", "", "SEC-1", "", false}, // the outer Subject alone picks nothing
		{"SEC-1", "", "SEC-2", "", true},
		{"", "SEC-1", "SEC-2", "", true},
		{"SEC-1", "SEC-2", "", "", true},
	}
	for _, tt := range tests {
		got, conflict := ChooseCase(tt.signed, tt.thread, tt.outer)
		if got != tt.want || (conflict != "") != tt.conflict {
			t.Errorf("ChooseCase(%q, %q, %q) = %q, %q; want %q, conflict %v", tt.signed, tt.thread, tt.outer, got, conflict, tt.want, tt.conflict)
		}
	}
}

// A signature covers the mail only when it is the whole mail: a signed
// part with an unsigned one beside it, or a signature by someone else
// around a member's encrypted block, is refused.
func TestAuthenticatePartlySigned(t *testing.T) {
	f := newAuthFixture(t)
	var part bytes.Buffer // a multipart/signed entity, header and body
	if err := pgp.Sign(&part, mail.Header{}, strings.NewReader("Content-Type: text/plain\r\n\r\nclaim\r\n"), f.alice); err != nil {
		t.Fatal(err)
	}
	mixed := f.header("alice@example.org") + "Content-Type: multipart/mixed; boundary=outer\r\n\r\n--outer\r\n" + part.String() +
		"\r\n--outer\r\nContent-Type: text/plain\r\n\r\nstatus rejected\r\n--outer--\r\n"
	if v := f.auth(t, []byte(mixed), Options{}); v.OK || !strings.Contains(v.Reason, "does not cover the whole message") {
		t.Errorf("Authenticate(signed part + unsigned part) = %+v, want refused", v)
	}

	// A third part after the signature (RFC 3156 section 5 allows two).
	raw := f.pgpMIME(t, "alice@example.org", "claim\r\n", f.alice)
	end := bytes.LastIndex(raw, []byte("--\r\n"))
	start := bytes.LastIndex(raw[:end], []byte("\r\n--")) + 2
	boundary := string(raw[start:end])
	extra := string(raw[:start]) + boundary + "\r\nContent-Type: text/plain\r\n\r\nstatus rejected\r\n" + string(raw[start:])
	if v := f.auth(t, []byte(extra), Options{}); v.OK || !strings.Contains(v.Reason, "does not cover the whole message") {
		t.Errorf("Authenticate(multipart/signed with a third part) = %+v, want refused", v)
	}

	// Eve signs (PGP/MIME) a text that is only Alice's encrypted block.
	block := f.encrypted(t, "status fixed\n", f.alice, f.now.Add(-time.Minute))
	wrapped := f.pgpMIME(t, "alice@example.org", block, f.eve)
	if v := f.auth(t, wrapped, f.decryptOpts(t)); v.OK || !strings.Contains(v.Reason, "signed part beside") {
		t.Errorf("Authenticate(encrypted block inside another's signature) = %+v, want refused", v)
	}
}

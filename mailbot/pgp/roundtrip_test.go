package pgp

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-pgpmail"
)

func outerHeader() mail.Header {
	var h mail.Header
	h.SetDate(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
	h.SetAddressList("From", []*mail.Address{{Name: "Security Team", Address: "security@example.com"}})
	h.SetAddressList("To", []*mail.Address{{Name: "Researcher", Address: "researcher@example.org"}})
	h.SetSubject("[...] [CASE-2025-0007]")
	h.SetMessageID("ack-7@bot.example.com")
	h.SetMsgIDList("In-Reply-To", []string{"report-1@example.org"})
	return h
}

const innerBody = "Content-Type: text/plain; charset=utf-8\r\n\r\nThank you for your report. Grüße,\r\nthe security team\r\n"

func TestSealRoundTrip(t *testing.T) {
	for _, algo := range []Algo{Ed25519, RSA4096} {
		t.Run(algo.String(), func(t *testing.T) {
			bot := testKey(t, "Bot", algo)
			researcher := testKey(t, "Researcher", algo)
			outer := outerHeader()
			const innerSubject = "Re: XSS in the login form [CASE-2025-0007]"

			var out bytes.Buffer
			if err := Seal(&out, outer, innerSubject, strings.NewReader(innerBody), publicOnly(t, researcher), bot); err != nil {
				t.Fatalf("Seal() = %v", err)
			}
			if got := outer.Get("Content-Type"); got != "" {
				t.Errorf("Seal() modified the caller's header: Content-Type = %q", got)
			}
			sealed := out.Bytes()
			// Whole phrases: a 3-letter word such as "XSS" turns up in about 1
			// armored RSA-4096 ciphertext in 100 by chance (base64 text).
			if bytes.Contains(sealed, []byte("XSS in the login form")) || bytes.Contains(sealed, []byte("Thank you for your report")) {
				t.Fatalf("Seal() output shows the protected subject or body in clear")
			}

			// The researcher's side: go-pgpmail with their secret key and our public key.
			keyring := append(append(openpgp.EntityList{}, researcher.Entities()...), publicOnly(t, bot)...)
			r, err := pgpmail.Read(bytes.NewReader(sealed), keyring, nil, nil)
			if err != nil {
				t.Fatalf("pgpmail.Read() = %v", err)
			}
			outerSubj, _ := (&mail.Header{Header: messageHeader(r.Header)}).Subject()
			if outerSubj != "[...] [CASE-2025-0007]" {
				t.Errorf("outer Subject = %q, want %q", outerSubj, "[...] [CASE-2025-0007]")
			}
			md := r.MessageDetails
			inner, err := io.ReadAll(md.UnverifiedBody)
			if err != nil {
				t.Fatalf("ReadAll(UnverifiedBody) = %v", err)
			}
			if !md.IsEncrypted || !md.IsSigned || md.SignedBy == nil || md.SignatureError != nil {
				t.Fatalf("encrypted=%v signed=%v signedBy=%v sigErr=%v, want encrypted and validly signed",
					md.IsEncrypted, md.IsSigned, md.SignedBy != nil, md.SignatureError)
			}
			if got := fingerprint(md.SignedBy.Entity.PrimaryKey.Fingerprint); got != bot.Fingerprint() {
				t.Errorf("signer = %s, want %s", got, bot.Fingerprint())
			}
			ih, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(inner)))
			if err != nil {
				t.Fatalf("ReadHeader(inner) = %v", err)
			}
			mh := mail.Header{Header: messageHeader(ih)}
			if got, _ := mh.Subject(); got != innerSubject {
				t.Errorf("protected Subject = %q, want %q", got, innerSubject)
			}
			_, params, err := mime.ParseMediaType(ih.Get("Content-Type"))
			if err != nil || params["protected-headers"] != "v1" || params["hp"] != "cipher" || params["charset"] != "utf-8" {
				t.Errorf("inner Content-Type = %q, want charset=utf-8, protected-headers=v1, hp=cipher", ih.Get("Content-Type"))
			}
			for _, f := range []string{"From", "To", "Date", "Message-Id", "In-Reply-To"} {
				if got, want := ih.Get(f), outer.Get(f); got != want {
					t.Errorf("protected %s = %q, want %q", f, got, want)
				}
			}
			if !strings.Contains(strings.Join(ih.Values("HP-Outer"), "\n"), "Subject: [...] [CASE-2025-0007]") {
				t.Errorf("HP-Outer = %q, want the outer Subject", ih.Values("HP-Outer"))
			}
			if !bytes.Contains(inner, []byte("Grüße")) {
				t.Errorf("inner body = %q, want the body", inner)
			}

			// And our own Decrypt reads it as the researcher would.
			blocks := extractBlocks(t, sealed)
			if len(blocks) != 1 {
				t.Fatalf("extractBlocks() = %d blocks, want 1", len(blocks))
			}
			res, err := researcher.Decrypt(blocks[0].data, publicOnly(t, bot), Options{})
			if err != nil {
				t.Fatalf("Decrypt() = %v", err)
			}
			if !res.SignatureValid || res.SignerFingerprint != bot.Fingerprint() {
				t.Errorf("Decrypt() valid=%v signer=%q (%s), want valid by %s", res.SignatureValid, res.SignerFingerprint, res.SignatureError, bot.Fingerprint())
			}
		})
	}
}

// messageHeader wraps a textproto header for the mail helpers.
func messageHeader(h textproto.Header) message.Header { return message.Header{Header: h} }

func clearsignText(t testing.TB, k *Keyring, text string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := clearsign.Encode(&buf, k.Entities()[0].PrivateKey, nil)
	if err != nil {
		t.Fatalf("clearsign.Encode() = %v", err)
	}
	io.WriteString(w, text)
	if err := w.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	return buf.Bytes()
}

func b64Lines(b []byte) string {
	s := base64.StdEncoding.EncodeToString(b)
	var out strings.Builder
	for len(s) > 76 {
		out.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	return out.String() + s + "\r\n"
}

func mustArmor(t testing.TB, el openpgp.EntityList) []byte {
	t.Helper()
	b, err := Armor(el)
	if err != nil {
		t.Fatalf("Armor() = %v", err)
	}
	return b
}

func TestSealRefuses(t *testing.T) {
	bot := testKey(t, "Bot", Ed25519)
	researcher := testKey(t, "Researcher", Ed25519)
	if err := Seal(io.Discard, outerHeader(), "s", strings.NewReader(innerBody), nil, bot); err == nil {
		t.Errorf("Seal(no recipients) = nil, want error")
	}
	if err := Seal(io.Discard, outerHeader(), "s", strings.NewReader(innerBody), publicOnly(t, researcher), nil); !errors.Is(err, ErrNoSecretKey) {
		t.Errorf("Seal(no signer) = %v, want %v", err, ErrNoSecretKey)
	}
	// A key that expired cannot be encrypted to.
	cfg := &packet.Config{Time: func() time.Time { return time.Now().Add(-72 * time.Hour) }, KeyLifetimeSecs: 3600}
	old, err := openpgp.NewEntity("Old", "", "old@example.org", cfg)
	if err != nil {
		t.Fatalf("NewEntity() = %v", err)
	}
	err = Seal(io.Discard, outerHeader(), "s", strings.NewReader(innerBody), openpgp.EntityList{old}, bot)
	if !errors.Is(err, ErrNoEncryptionKey) {
		t.Errorf("Seal(expired key) = %v, want %v", err, ErrNoEncryptionKey)
	}
}

func TestSignVerifyMessage(t *testing.T) {
	bot := testKey(t, "Bot", Ed25519)
	botPub := publicOnly(t, bot)
	tests := []struct {
		name string
		body string
	}{
		{"ascii", "Content-Type: text/plain; charset=us-ascii\r\n\r\nWe received your report.\r\n"},
		{"8bit and trailing space", "Content-Type: text/plain; charset=utf-8\r\n\r\nGrüße \nFrom here on\nbye\n"},
		{"multipart", "Content-Type: multipart/mixed; boundary=xx\r\n\r\n--xx\r\nContent-Type: text/plain\r\n\r\nhi\r\n--xx--\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := Sign(&out, outerHeader(), strings.NewReader(tt.body), bot); err != nil {
				t.Fatalf("Sign() = %v", err)
			}
			signed := out.Bytes()
			for i, line := range bytes.Split(signed, []byte("\r\n")) {
				for _, c := range line {
					if c >= 0x80 || c == '\n' || c == '\r' {
						t.Fatalf("Sign() line %d = %q, want 7-bit CRLF lines", i, line)
					}
				}
			}
			res, err := VerifyMessage(bytes.NewReader(signed), botPub, 0)
			if err != nil {
				t.Fatalf("VerifyMessage() = %v", err)
			}
			if !res.SignatureValid || res.SignerFingerprint != bot.Fingerprint() || res.Encrypted {
				t.Fatalf("VerifyMessage() = valid %v signer %q err %q encrypted %v, want valid by %s",
					res.SignatureValid, res.SignerFingerprint, res.SignatureError, res.Encrypted, bot.Fingerprint())
			}
			// The same message stored with LF line endings still verifies.
			lf := bytes.ReplaceAll(signed, []byte("\r\n"), []byte("\n"))
			if res, err := VerifyMessage(bytes.NewReader(lf), botPub, 0); err != nil || !res.SignatureValid {
				t.Errorf("VerifyMessage(LF) = %+v, %v, want valid", res, err)
			}
			// gpgpmail reads it too.
			r, err := pgpmail.Read(bytes.NewReader(signed), botPub, nil, nil)
			if err != nil {
				t.Fatalf("pgpmail.Read() = %v", err)
			}
			if _, err := io.ReadAll(r.MessageDetails.UnverifiedBody); err != nil {
				t.Fatalf("ReadAll() = %v", err)
			}
			if r.MessageDetails.SignatureError != nil || r.MessageDetails.SignedBy == nil {
				t.Errorf("pgpmail: SignatureError = %v, signedBy=%v, want valid", r.MessageDetails.SignatureError, r.MessageDetails.SignedBy != nil)
			}
			// Unknown key: not valid, but the issuer is named.
			res, err = VerifyMessage(bytes.NewReader(signed), nil, 0)
			if err != nil || res.SignatureValid || res.SignatureError != SigUnknownSigner || res.SignerKeyID == "" {
				t.Errorf("VerifyMessage(no keys) = %+v, %v, want unknown signer with key id", res, err)
			}
		})
	}

	t.Run("tampered", func(t *testing.T) {
		var out bytes.Buffer
		if err := Sign(&out, outerHeader(), strings.NewReader(tests[0].body), bot); err != nil {
			t.Fatalf("Sign() = %v", err)
		}
		bad := bytes.Replace(out.Bytes(), []byte("received"), []byte("rejected"), 1)
		res, err := VerifyMessage(bytes.NewReader(bad), botPub, 0)
		if err != nil || res.SignatureValid || !strings.HasPrefix(res.SignatureError, SigBad) {
			t.Errorf("VerifyMessage(tampered) = %+v, %v, want bad signature", res, err)
		}
	})
	t.Run("unsigned", func(t *testing.T) {
		_, err := VerifyMessage(strings.NewReader("Subject: hi\r\n\r\nhello\r\n"), botPub, 0)
		wantErr(t, "VerifyMessage(unsigned)", err, ErrNotSigned)
	})
	t.Run("too large", func(t *testing.T) {
		_, err := VerifyMessage(strings.NewReader("Subject: hi\r\n\r\n"+strings.Repeat("x", 2000)), botPub, 1000)
		wantErr(t, "VerifyMessage(large)", err, ErrTooLarge)
	})
}

func TestVerifyDetachedAndClearsigned(t *testing.T) {
	bot := testKey(t, "Bot", Ed25519)
	botPub := publicOnly(t, bot)
	data := []byte("Content-Type: text/plain\r\n\r\nsigned text\r\n")
	var sig bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&sig, bot.Entities()[0], bytes.NewReader(data), nil); err != nil {
		t.Fatalf("ArmoredDetachSign() = %v", err)
	}
	res, err := VerifyDetached(bytes.NewReader(data), sig.Bytes(), botPub)
	if err != nil || !res.SignatureValid {
		t.Fatalf("VerifyDetached() = %+v, %v, want valid", res, err)
	}
	res, err = VerifyDetached(bytes.NewReader(append(data, 'x')), sig.Bytes(), botPub)
	if err != nil || res.SignatureValid || !strings.HasPrefix(res.SignatureError, SigBad) {
		t.Errorf("VerifyDetached(changed) = %+v, %v, want bad signature", res, err)
	}
	_, err = VerifyDetached(bytes.NewReader(data), []byte("garbage"), botPub)
	wantErr(t, "VerifyDetached(garbage)", err, ErrDamaged)

	cs := clearsignText(t, bot, "I found a bug.\n")
	res, err = VerifyClearsigned(cs, botPub)
	if err != nil || !res.SignatureValid || string(res.Plaintext) != "I found a bug.\n" {
		t.Errorf("VerifyClearsigned() = %+v, %v, want valid with the text", res, err)
	}
	res, err = VerifyClearsigned(cs, nil)
	if err != nil || res.SignatureValid || res.SignatureError != SigUnknownSigner {
		t.Errorf("VerifyClearsigned(no keys) = %+v, %v, want unknown signer", res, err)
	}
	_, err = VerifyClearsigned([]byte("plain text"), botPub)
	wantErr(t, "VerifyClearsigned(plain)", err, ErrNotSigned)

	// Clearsigned in a quoted-printable text part of a whole message.
	msg := "Subject: report\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		b64Lines(cs)
	res, err = VerifyMessage(strings.NewReader(msg), botPub, 0)
	if err != nil || !res.SignatureValid {
		t.Errorf("VerifyMessage(clearsigned base64) = %+v, %v, want valid", res, err)
	}
}

func TestKeyringPrivateRoundTrip(t *testing.T) {
	bot := testKey(t, "Bot", Ed25519)
	var locked, open bytes.Buffer
	if err := bot.WritePrivate(&locked, []byte("correct horse")); err != nil {
		t.Fatalf("WritePrivate(passphrase) = %v", err)
	}
	if err := bot.WritePrivate(&open, nil); err != nil {
		t.Fatalf("WritePrivate(nil) = %v", err)
	}
	if !bytes.HasPrefix(locked.Bytes(), []byte("-----BEGIN PGP PRIVATE KEY BLOCK-----")) {
		t.Fatalf("WritePrivate() = %.40q, want armor", locked.Bytes())
	}
	tests := []struct {
		name string
		data []byte
		pass []byte
		want error
	}{
		{"locked right passphrase", locked.Bytes(), []byte("correct horse"), nil},
		{"locked wrong passphrase", locked.Bytes(), []byte("battery staple"), ErrWrongPassphrase},
		{"locked no passphrase", locked.Bytes(), nil, ErrWrongPassphrase},
		{"open", open.Bytes(), nil, nil},
		{"public only", mustArmor(t, publicOnly(t, bot)), nil, ErrNoSecretKey},
		{"garbage", []byte("hello"), nil, ErrDamaged},
	}
	msg := encryptTo(t, []byte("secret report"), publicOnly(t, bot), nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kr, err := ReadKeyring(bytes.NewReader(tt.data), tt.pass)
			wantErr(t, "ReadKeyring()", err, tt.want)
			if err != nil {
				return
			}
			if kr.Fingerprint() != bot.Fingerprint() {
				t.Errorf("Fingerprint() = %s, want %s", kr.Fingerprint(), bot.Fingerprint())
			}
			res, err := kr.Decrypt(msg, nil, Options{})
			if err != nil || string(res.Plaintext) != "secret report" {
				t.Errorf("Decrypt() = %v, want the plaintext", err)
			}
		})
	}
	// WritePrivate with a passphrase must not lock the keyring in memory.
	if _, err := bot.Decrypt(msg, nil, Options{}); err != nil {
		t.Errorf("Decrypt() after WritePrivate(passphrase) = %v", err)
	}
}

func TestGenerateList(t *testing.T) {
	for _, algo := range []Algo{Ed25519, RSA4096} {
		k := testKey(t, "Bot", algo)
		if fp := k.Fingerprint(); len(fp) != 40 || strings.ToUpper(fp) != fp {
			t.Errorf("Fingerprint() = %q, want 40 uppercase hex digits (v4)", fp)
		}
		if v := k.Entities()[0].PrimaryKey.Version; v != 4 {
			t.Errorf("key version = %d, want 4 (GnuPG 2.2 cannot read v6)", v)
		}
		l := k.List()
		if len(l) != 1 {
			t.Fatalf("List() = %d keys, want 1", len(l))
		}
		wantAlgo, wantBits := "EdDSA", 255
		if algo == RSA4096 {
			wantAlgo, wantBits = "RSA", 4096
		}
		got := l[0]
		if got.Algorithm != wantAlgo || got.Bits < wantBits || !got.HasPrivate || !got.Expires.IsZero() ||
			len(got.UserIDs) != 1 || got.UserIDs[0] != "Bot <bot@example.org>" || got.Fingerprint != k.Fingerprint() {
			t.Errorf("List() = %+v, want %s %d bits, private, no expiry, one user id", got, wantAlgo, wantBits)
		}
		sig, _ := k.Entities()[0].PrimarySelfSignature()
		if len(sig.PreferredSymmetric) == 0 || sig.PreferredSymmetric[0] != uint8(packet.CipherAES256) {
			t.Errorf("preferred ciphers = %v, want AES-256 first", sig.PreferredSymmetric)
		}
		if len(sig.PreferredHash) == 0 || sig.PreferredHash[0] != 8 { // 8 = SHA-256
			t.Errorf("preferred hashes = %v, want SHA-256 first", sig.PreferredHash)
		}
	}
	if _, err := Generate("x", "x@example.org", Algo(9), time.Now()); err == nil {
		t.Errorf("Generate(unknown algo) = nil, want error")
	}
}

func TestKeyForAddress(t *testing.T) {
	now := time.Now()
	a := publicOnly(t, testKey(t, "Alice", Ed25519))
	b := publicOnly(t, testKey(t, "Bob", Ed25519))
	expiredCfg := &packet.Config{Time: func() time.Time { return now.Add(-72 * time.Hour) }, KeyLifetimeSecs: 3600}
	expired, err := openpgp.NewEntity("Carol", "", "carol@example.org", expiredCfg)
	if err != nil {
		t.Fatalf("NewEntity() = %v", err)
	}
	revoked, err := openpgp.NewEntity("Dave", "", "dave@example.org", nil)
	if err != nil {
		t.Fatalf("NewEntity() = %v", err)
	}
	if err := revoked.RevokeKey(packet.KeyCompromised, "lost", nil); err != nil {
		t.Fatalf("RevokeKey() = %v", err)
	}
	keys := openpgp.EntityList{a[0], b[0], expired, revoked}
	tests := []struct {
		addr string
		want *openpgp.Entity
	}{
		{"alice@example.org", a[0]},
		{"ALICE@Example.ORG", a[0]},
		{"bob@example.org", b[0]},
		{"carol@example.org", nil},
		{"dave@example.org", nil},
		{"eve@example.org", nil},
	}
	for _, tt := range tests {
		if got := KeyForAddress(keys, tt.addr); got != tt.want {
			t.Errorf("KeyForAddress(%q) = %v, want %v", tt.addr, got, tt.want)
		}
	}
}

func TestParseKeysDropsSecrets(t *testing.T) {
	bot := testKey(t, "Bot", Ed25519)
	var buf bytes.Buffer
	if err := bot.WritePrivate(&buf, nil); err != nil {
		t.Fatalf("WritePrivate() = %v", err)
	}
	el, err := ParseKeys(buf.Bytes())
	if err != nil {
		t.Fatalf("ParseKeys() = %v", err)
	}
	if el[0].PrivateKey != nil || el[0].Subkeys[0].PrivateKey != nil {
		t.Errorf("ParseKeys() kept secret key material")
	}
	for _, in := range []string{"", "not a key", "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----\n"} {
		if _, err := ParseKeys([]byte(in)); !errors.Is(err, ErrDamaged) {
			t.Errorf("ParseKeys(%q) = %v, want %v", in, err, ErrDamaged)
		}
	}
}

package team

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-msgauth/dkim"

	"mailbot/mailbot/parse"
	"mailbot/mailbot/pgp"
)

// authFixture is a team of two with OpenPGP keys, a DKIM key for
// example.org and one for attacker.net, served by an injected lookup.
type authFixture struct {
	now          time.Time
	alice, bob   *pgp.Keyring
	eve          *pgp.Keyring // not a member
	aliceOther   *pgp.Keyring // Alice's key for another address
	bot          *pgp.Keyring // the bot, for encrypted mail (botKey)
	roster       *Roster
	dkimKeys     map[string]ed25519.PrivateKey // domain -> key, selector "sel"
	dnsTemporary bool
}

func newAuthFixture(t testing.TB) *authFixture {
	t.Helper()
	f := &authFixture{now: time.Now(), dkimKeys: map[string]ed25519.PrivateKey{}}
	gen := func(name, addr string, at time.Time) *pgp.Keyring {
		k, err := pgp.Generate(name, addr, pgp.Ed25519, at)
		if err != nil {
			t.Fatalf("pgp.Generate() = %v", err)
		}
		return k
	}
	f.alice = gen("Alice", "alice@example.org", f.now.Add(-30*24*time.Hour))
	f.bob = gen("Bob", "bob@example.org", f.now.Add(-time.Hour))
	f.eve = gen("Alice", "alice@example.org", f.now.Add(-time.Hour))
	f.aliceOther = gen("Alice", "alice@private.example", f.now.Add(-time.Hour))
	members := []Member{
		{Name: "Alice", Address: "alice@example.org", Keys: append(public(t, f.alice), public(t, f.aliceOther)...)},
		{Name: "Bob", Address: "bob@example.org", Keys: public(t, f.bob)},
		{Name: "Sub", Address: "carol@mail.example.org"},
	}
	r, err := NewRoster(members, RotationConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.roster = r
	for _, d := range []string{"example.org", "attacker.net"} {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		f.dkimKeys[d] = priv
	}
	return f
}

func public(t testing.TB, k *pgp.Keyring) openpgp.EntityList {
	t.Helper()
	var buf bytes.Buffer
	if err := k.WritePublic(&buf); err != nil {
		t.Fatal(err)
	}
	el, err := pgp.ParseKeys(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return el
}

func (f *authFixture) lookupTXT(name string) ([]string, error) {
	if f.dnsTemporary {
		return nil, &temporaryDNSError{}
	}
	d, ok := strings.CutPrefix(name, "sel._domainkey.")
	if !ok || f.dkimKeys[d] == nil {
		return nil, fmt.Errorf("no such host %s", name)
	}
	pub := f.dkimKeys[d].Public().(ed25519.PublicKey)
	return []string{"v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)}, nil
}

type temporaryDNSError struct{}

func (*temporaryDNSError) Error() string   { return "dns: server misbehaving" }
func (*temporaryDNSError) Temporary() bool { return true }
func (*temporaryDNSError) Timeout() bool   { return true }

// header is a plain team mail header; extra fields go on top.
func (f *authFixture) header(from string, extra ...string) string {
	var b strings.Builder
	for _, e := range extra {
		b.WriteString(e + "\r\n")
	}
	fmt.Fprintf(&b, "From: %s\r\nTo: security@example.org\r\nSubject: Re: [SEC-1] bug\r\nDate: %s\r\nMessage-ID: <%d@example.org>\r\n",
		from, f.now.Format(time.RFC1123Z), f.now.UnixNano())
	return b.String()
}

func (f *authFixture) plain(from, body string, extra ...string) []byte {
	return []byte(f.header(from, extra...) + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body)
}

// mimeHeader is the outer header of a team mail made with go-message.
func (f *authFixture) mimeHeader(from, subject string) mail.Header {
	var h mail.Header
	h.SetAddressList("From", []*mail.Address{{Address: from}})
	h.SetAddressList("To", []*mail.Address{{Address: "security@example.org"}})
	h.SetSubject(subject)
	h.SetDate(f.now)
	h.SetMessageID(fmt.Sprintf("%d@example.org", f.now.UnixNano()))
	return h
}

// pgpMIME signs body with k as PGP/MIME (pgp.Sign).
func (f *authFixture) pgpMIME(t testing.TB, from, body string, k *pgp.Keyring) []byte {
	t.Helper()
	h := f.mimeHeader(from, "Re: [SEC-1] bug")
	var out bytes.Buffer
	if err := pgp.Sign(&out, h, strings.NewReader("Content-Type: text/plain; charset=utf-8\r\n\r\n"+body), k); err != nil {
		t.Fatalf("pgp.Sign() = %v", err)
	}
	return out.Bytes()
}

// clearBlock is a cleartext-signed block of body by k, signed at sigTime.
func clearBlock(t testing.TB, k *pgp.Keyring, body string, sigTime time.Time) string {
	t.Helper()
	var sig bytes.Buffer
	w, err := clearsign.Encode(&sig, k.Entities()[0].PrivateKey, &packet.Config{Time: func() time.Time { return sigTime }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(body)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return sig.String()
}

// clearsigned writes a cleartext-signed body, signed at sigTime.
func (f *authFixture) clearsigned(t testing.TB, from, before, body string, k *pgp.Keyring, sigTime time.Time) []byte {
	t.Helper()
	return f.plain(from, before+clearBlock(t, k, body, sigTime))
}

func (f *authFixture) dkimSign(t *testing.T, raw []byte, domain string, headerKeys []string) []byte {
	t.Helper()
	var out bytes.Buffer
	err := dkim.Sign(&out, bytes.NewReader(raw), &dkim.SignOptions{Domain: domain, Selector: "sel", Signer: f.dkimKeys[domain],
		HeaderKeys: headerKeys, HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed})
	if err != nil {
		t.Fatalf("dkim.Sign() = %v", err)
	}
	return out.Bytes()
}

func (f *authFixture) auth(t *testing.T, raw []byte, opts Options) Verdict {
	t.Helper()
	m, err := parse.Parse(bytes.NewReader(raw), parse.Limits{})
	if err != nil {
		t.Fatalf("parse.Parse() = %v", err)
	}
	if opts.LookupTXT == nil {
		opts.LookupTXT = f.lookupTXT
	}
	if opts.Now == nil {
		opts.Now = func() time.Time { return f.now }
	}
	return Authenticate(m, func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil }, f.roster, opts)
}

func TestAuthenticate(t *testing.T) {
	f := newAuthFixture(t)
	// Subject, Date and Message-ID oversigned (RFC 6376 section 5.4.2).
	stdKeys := []string{"From", "To", "Subject", "Subject", "Date", "Date", "Message-ID", "Message-ID", "Content-Type"}
	trusted := Options{TrustedAuthServID: "mx.example.org"}
	// A member's signed mail with a second From added on top.
	twoFrom := append([]byte("From: bob@example.org\r\n"), f.pgpMIME(t, "alice@example.org", "claim\r\n", f.alice)...)
	tests := []struct {
		name   string
		raw    []byte
		opts   Options
		method string // "" means refused
		reason string // substring of Reason when refused
		text   string // substring of Text when accepted
	}{
		{name: "pgp/mime", raw: f.pgpMIME(t, "alice@example.org", "status fixed\r\n", f.alice), method: MethodPGP, text: "status fixed"},
		{name: "pgp/mime bob", raw: f.pgpMIME(t, "bob@example.org", "claim\r\n", f.bob), method: MethodPGP, text: "claim"},
		{name: "clearsigned", raw: f.clearsigned(t, "alice@example.org", "", "claim\n", f.alice, f.now.Add(-time.Minute)), method: MethodPGP, text: "claim"},
		{name: "clearsigned, unsigned text around it refuses the mail",
			raw:    f.clearsigned(t, "alice@example.org", "status rejected\r\n\r\n", "claim\n", f.alice, f.now.Add(-time.Minute)),
			reason: "pgp: the signature does not cover the whole message"},
		{name: "pgp by a non-member key", raw: f.pgpMIME(t, "alice@example.org", "status fixed\r\n", f.eve), reason: "pgp: unknown signer"},
		{name: "pgp by another member's key", raw: f.pgpMIME(t, "alice@example.org", "status fixed\r\n", f.bob), reason: "pgp: unknown signer"},
		{name: "pgp by the member's key for another address", raw: f.pgpMIME(t, "alice@example.org", "status fixed\r\n", f.aliceOther),
			reason: "does not carry the address alice@example.org"},
		{name: "pgp signature too old", raw: f.clearsigned(t, "alice@example.org", "", "claim\n", f.alice, f.now.Add(-10*24*time.Hour)),
			reason: "signature time"},
		{name: "unsigned", raw: f.plain("alice@example.org", "status fixed\r\n"), reason: "pgp: not signed; dkim: no signature"},

		{name: "dkim", raw: f.dkimSign(t, f.plain("alice@example.org", "status fixed\r\n"), "example.org", stdKeys), method: MethodDKIM, text: "status fixed"},
		{name: "dkim parent domain", raw: f.dkimSign(t, f.plain("carol@mail.example.org", "claim\r\n"), "example.org", stdKeys), method: MethodDKIM},
		{name: "dkim not aligned", raw: f.dkimSign(t, f.plain("alice@example.org", "claim\r\n"), "attacker.net", stdKeys), reason: "d=attacker.net is not aligned"},
		{name: "dkim subject not signed", raw: f.dkimSign(t, f.plain("alice@example.org", "claim\r\n"), "example.org", []string{"From", "Date", "Message-ID"}),
			reason: "does not sign subject"},
		{name: "dkim body changed", raw: bytes.Replace(f.dkimSign(t, f.plain("alice@example.org", "claim\r\n"), "example.org", stdKeys), []byte("claim"), []byte("spam!"), 1),
			reason: "body hash did not verify"},
		{name: "dkim with a second From", raw: f.dkimSign(t, f.plain("alice@example.org", "claim\r\n", "From: eve@attacker.net"), "example.org", stdKeys),
			reason: "2 From fields"},

		{name: "authres dkim", raw: f.plain("alice@example.org", "claim\r\n", "Authentication-Results: mx.example.org; dkim=pass header.d=example.org"),
			opts: trusted, method: MethodAuthres, text: "claim"},
		{name: "authres dmarc", raw: f.plain("alice@example.org", "claim\r\n", "Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=example.org; dmarc=pass header.from=example.org"),
			opts: trusted, method: MethodAuthres},
		{name: "authres ignored when not configured", raw: f.plain("alice@example.org", "claim\r\n", "Authentication-Results: mx.example.org; dkim=pass header.d=example.org"),
			reason: "dkim: no signature)"},
		{name: "authres untrusted authserv-id", raw: f.plain("alice@example.org", "claim\r\n", "Authentication-Results: mx.attacker.net; dkim=pass header.d=example.org"),
			opts: trusted, reason: "no Authentication-Results field of mx.example.org"},
		{name: "authres forged below the trusted one", raw: f.plain("alice@example.org", "claim\r\n",
			"Authentication-Results: mx.example.org; dkim=fail header.d=example.org; dmarc=fail header.from=example.org",
			"Authentication-Results: mx.example.org; dkim=pass header.d=example.org"),
			opts: trusted, reason: "mx.example.org reports dkim=fail"},
		{name: "authres unparsable trusted field on top", raw: f.plain("alice@example.org", "claim\r\n",
			"Authentication-Results: mx.example.org; dkim",
			"Authentication-Results: mx.example.org; dkim=pass header.d=example.org"),
			opts: trusted, reason: "unparsable field of mx.example.org"},
		{name: "authres dkim not aligned", raw: f.plain("alice@example.org", "claim\r\n", "Authentication-Results: mx.example.org; dkim=pass header.d=attacker.net"),
			opts: trusted, reason: "dkim=pass header.d=attacker.net"},
		{name: "authres dmarc for another domain", raw: f.plain("alice@example.org", "claim\r\n", "Authentication-Results: mx.example.org; dmarc=pass header.from=attacker.net"),
			opts: trusted, reason: "dmarc=pass header.from=attacker.net"},

		{name: "two From fields", raw: twoFrom, reason: "2 From fields"},
		{name: "not a member", raw: f.dkimSign(t, f.plain("eve@example.org", "claim\r\n"), "example.org", stdKeys), reason: "eve@example.org is not a team member"},
		{name: "old Date", raw: bytes.Replace(f.plain("alice@example.org", "claim\r\n"), []byte(f.now.Format(time.RFC1123Z)), []byte(f.now.Add(-8*24*time.Hour).Format(time.RFC1123Z)), 1),
			reason: "older than"},
		{name: "Date in the future", raw: bytes.Replace(f.plain("alice@example.org", "claim\r\n"), []byte(f.now.Format(time.RFC1123Z)), []byte(f.now.Add(3*time.Hour).Format(time.RFC1123Z)), 1),
			reason: "in the future"},
		{name: "no Message-ID", raw: []byte(strings.Replace(string(f.plain("alice@example.org", "claim\r\n")), "Message-ID:", "X-Message-ID:", 1)), reason: "no Message-ID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := f.auth(t, tt.raw, tt.opts)
			if tt.method == "" {
				if v.OK || !strings.Contains(v.Reason, tt.reason) {
					t.Fatalf("Authenticate() = %+v, want refused with %q", v, tt.reason)
				}
				return
			}
			if !v.OK || v.Method != tt.method || !strings.Contains(v.Text, tt.text) || v.ReplayKey == "" {
				t.Fatalf("Authenticate() = %+v, want OK by %s with text %q", v, tt.method, tt.text)
			}
			if !strings.HasPrefix(v.ReplayKey, tt.method+":") {
				t.Errorf("Authenticate().ReplayKey = %q, want prefix %s:", v.ReplayKey, tt.method)
			}
			if strings.Contains(v.Text, "status rejected") {
				t.Errorf("Authenticate().Text = %q includes unsigned text", v.Text)
			}
		})
	}
}

func TestAuthenticateReplay(t *testing.T) {
	f := newAuthFixture(t)
	raw := f.pgpMIME(t, "alice@example.org", "status fixed\r\n", f.alice)
	seen := map[string]bool{}
	opts := Options{Seen: func(k string) bool { return seen[k] }}
	v := f.auth(t, raw, opts)
	if !v.OK {
		t.Fatalf("Authenticate() = %+v, want OK", v)
	}
	seen[v.ReplayKey] = true
	if v2 := f.auth(t, raw, opts); v2.OK || !strings.Contains(v2.Reason, "replayed") {
		t.Errorf("Authenticate(same mail again) = %+v, want refused as replayed", v2)
	}
	// The same signed part with a fresh Message-ID and Date is still a replay:
	// OpenPGP does not sign them.
	later := *f
	later.now = f.now.Add(time.Hour)
	s := string(raw)
	i := strings.Index(s, "\r\n\r\n")
	head := strings.NewReplacer(f.now.Format(time.RFC1123Z), later.now.Format(time.RFC1123Z),
		fmt.Sprint(f.now.UnixNano()), fmt.Sprint(later.now.UnixNano())).Replace(s[:i])
	if head == s[:i] {
		t.Fatalf("test did not change the header")
	}
	if v3 := later.auth(t, []byte(head+s[i:]), opts); v3.OK || !strings.Contains(v3.Reason, "replayed") {
		t.Errorf("Authenticate(signed part with a new Message-ID) = %+v, want refused as replayed", v3)
	}
	// A new signature over the same text is a new command.
	c1 := f.auth(t, f.clearsigned(t, "alice@example.org", "", "claim\n", f.alice, f.now.Add(-2*time.Second)), opts)
	c2 := f.auth(t, f.clearsigned(t, "alice@example.org", "", "claim\n", f.alice, f.now.Add(-time.Second)), opts)
	if !c1.OK || !c2.OK || c1.ReplayKey == c2.ReplayKey {
		t.Errorf("Authenticate(two signatures of one text) = %+v, %+v, want both OK with different replay keys", c1, c2)
	}

	// DKIM: a second mail differs by its Message-ID.
	stdKeys := []string{"From", "Subject", "Subject", "Date", "Date", "Message-ID", "Message-ID"}
	d1 := f.auth(t, f.dkimSign(t, f.plain("alice@example.org", "claim\r\n"), "example.org", stdKeys), Options{})
	f.now = f.now.Add(time.Second)
	d2 := f.auth(t, f.dkimSign(t, f.plain("alice@example.org", "claim\r\n"), "example.org", stdKeys), Options{})
	if !d1.OK || !d2.OK || d1.ReplayKey == d2.ReplayKey {
		t.Errorf("Authenticate(two DKIM mails) = %+v, %+v, want both OK with different replay keys", d1, d2)
	}
}

func TestAuthenticateTemporary(t *testing.T) {
	f := newAuthFixture(t)
	raw := f.dkimSign(t, f.plain("alice@example.org", "claim\r\n"), "example.org", []string{"From", "Subject", "Date", "Message-ID"})
	f.dnsTemporary = true
	if v := f.auth(t, raw, Options{}); v.OK || !v.Temporary {
		t.Errorf("Authenticate(DNS down) = %+v, want a temporary refusal", v)
	}
	m, err := parse.Parse(bytes.NewReader(raw), parse.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	v := Authenticate(m, func() (io.ReadCloser, error) { return nil, errors.New("spool gone") }, f.roster, Options{Now: func() time.Time { return f.now }})
	if v.OK || !v.Temporary || !strings.Contains(v.Reason, "spool gone") {
		t.Errorf("Authenticate(raw fails) = %+v, want a temporary refusal", v)
	}
	v = Authenticate(m, func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil }, f.roster,
		Options{Now: func() time.Time { return f.now }, MaxSize: 100})
	if v.OK || v.Temporary || !strings.Contains(v.Reason, "too large") && !strings.Contains(v.Reason, "exceeds") {
		t.Errorf("Authenticate(too large) = %+v, want a permanent refusal", v)
	}
}

func TestAligned(t *testing.T) {
	tests := []struct {
		d, from string
		want    bool
	}{
		{"example.org", "example.org", true},
		{"Example.ORG.", "example.org", true},
		{"example.org", "mail.example.org", true},
		{"mail.example.org", "example.org", false},
		{"ample.org", "example.org", false},
		{"org", "example.org", false},
		{"", "example.org", false},
	}
	for _, tt := range tests {
		if got := aligned(tt.d, tt.from); got != tt.want {
			t.Errorf("aligned(%q, %q) = %v, want %v", tt.d, tt.from, got, tt.want)
		}
	}
}

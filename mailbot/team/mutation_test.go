package team

// Tests that make `make mutate` (gremlins) notice when a check of this
// package is switched off or moved by one. They pin behaviour through the
// public functions, so that they survive rewrites of the code behind them.
// Survivors that no test can kill (equivalent mutants) are listed in
// tools/mutate/EQUIVALENT.md with the reason.

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"mailbot/mailbot/parse"
	"mailbot/mailbot/pgp"
)

func wantRefused(t *testing.T, name string, v Verdict, reason string) {
	t.Helper()
	if v.OK || !strings.Contains(v.Reason, reason) {
		t.Errorf("Authenticate(%s) = %+v, want refused with %q", name, v, reason)
	}
}

func wantOK(t *testing.T, name string, v Verdict, method string) {
	t.Helper()
	if !v.OK || v.Method != method {
		t.Errorf("Authenticate(%s) = %+v, want OK by %s", name, v, method)
	}
}

// A fresh signature packet of another key in front of an old signature of
// the member must not lend its creation time to the old one: the age (and
// the replay key) come from the member's own packet.
func TestAuthenticateForeignSignaturePacketInFront(t *testing.T) {
	f := newAuthFixture(t)
	old := clearBlock(t, f.alice, "status fixed\n", f.now.Add(-10*24*time.Hour))
	b, _ := clearsign.Decode([]byte(old))
	if b == nil {
		t.Fatal("clearsign.Decode() = nil")
	}
	aliceSig, err := io.ReadAll(b.ArmoredSignature.Body)
	if err != nil {
		t.Fatal(err)
	}
	var eveSig bytes.Buffer
	if err := openpgp.DetachSign(&eveSig, f.eve.Entities()[0], strings.NewReader("anything"), &packet.Config{Time: func() time.Time { return f.now }}); err != nil {
		t.Fatal(err)
	}
	var armored bytes.Buffer
	aw, err := armor.Encode(&armored, "PGP SIGNATURE", nil)
	if err != nil {
		t.Fatal(err)
	}
	aw.Write(eveSig.Bytes())
	aw.Write(aliceSig)
	if err := aw.Close(); err != nil {
		t.Fatal(err)
	}
	i := strings.Index(old, "-----BEGIN PGP SIGNATURE-----")
	spliced := old[:i] + armored.String() + "\n"

	// The spliced block still verifies as Alice's: the test is about the age.
	if r, err := pgp.VerifyClearsigned([]byte(spliced), f.roster.members[0].Keys); err != nil || !r.SignatureValid {
		t.Fatalf("pgp.VerifyClearsigned(spliced) = %+v, %v, want a valid signature", r, err)
	}
	v := f.auth(t, f.plain("alice@example.org", spliced), Options{})
	wantRefused(t, "old signature behind a fresh foreign packet", v, "signature time")
}

// A member with two keys for one address may sign with either; the
// signature is checked against the key that made it.
func TestAuthenticateMemberWithTwoKeys(t *testing.T) {
	f := newAuthFixture(t)
	k1, err := pgp.Generate("Dave", "dave@example.org", pgp.Ed25519, f.now.Add(-48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	k2, err := pgp.Generate("Dave", "dave@example.org", pgp.Ed25519, f.now.Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRoster([]Member{
		{Name: "Dave", Address: "dave@example.org", Keys: append(public(t, k1), public(t, k2)...)},
		{Name: "Bob", Address: "bob@example.org", Keys: public(t, f.bob)},
	}, RotationConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.roster = r
	for i, k := range []*pgp.Keyring{k1, k2} {
		v := f.auth(t, f.pgpMIME(t, "dave@example.org", "claim\r\n", k), Options{})
		wantOK(t, fmt.Sprintf("signed with key %d of 2", i+1), v, MethodPGP)
		if !strings.Contains(v.Reason, k.Fingerprint()) {
			t.Errorf("Authenticate(key %d).Reason = %q, want the signer %s", i+1, v.Reason, k.Fingerprint())
		}
	}
}

// nested puts inner (a header and body) inside levels of multipart/mixed,
// the top one in the mail header.
func nested(levels int, inner string) string {
	var b strings.Builder
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i)
	}
	b.WriteString(inner)
	for i := levels; i >= 1; i-- {
		fmt.Fprintf(&b, "\r\n--b%d--\r\n", i)
	}
	return b.String()
}

// Issue 15: a signature counts only when it covers the whole mail. Signed
// text nested in a multipart, alone or beside unsigned parts, at any depth
// or part count, is refused, never searched for.
func TestAuthenticateSignatureDeepInMIME(t *testing.T) {
	f := newAuthFixture(t)
	block := "Content-Type: text/plain\r\n\r\n" + clearBlock(t, f.alice, "claim\n", f.now.Add(-time.Minute))
	raw := func(body string) []byte { return []byte(f.header("alice@example.org") + body) }

	wantOK(t, "signed text as the whole mail", f.auth(t, raw(block), Options{}), MethodPGP)
	wantRefused(t, "signed text at depth 1", f.auth(t, raw(nested(1, block)), Options{}), "pgp:")
	wantRefused(t, "signed text at depth 10", f.auth(t, raw(nested(10, block)), Options{}), "pgp:")
	wantRefused(t, "signed text at depth 11", f.auth(t, raw(nested(11, block)), Options{}), "pgp:")

	parts := func(fillers int) string {
		var b strings.Builder
		b.WriteString("Content-Type: multipart/mixed; boundary=p\r\n\r\n")
		for range fillers {
			b.WriteString("--p\r\nContent-Type: text/plain\r\n\r\nfiller\r\n")
		}
		b.WriteString("--p\r\n" + block + "\r\n--p--\r\n")
		return b.String()
	}
	wantRefused(t, "signed text after one unsigned part", f.auth(t, raw(parts(1)), Options{}), "pgp:")
	wantRefused(t, "signed text as part 200", f.auth(t, raw(parts(198)), Options{}), "pgp:")
}

func TestAuthenticateClockAndMaxAge(t *testing.T) {
	f := newAuthFixture(t)
	trusted := "Authentication-Results: mx.example.org; dkim=pass header.d=example.org"
	opts := func(maxAge time.Duration) Options {
		return Options{TrustedAuthServID: "mx.example.org", MaxAge: maxAge}
	}
	dated := func(age time.Duration) []byte {
		return bytes.Replace(f.plain("alice@example.org", "claim\r\n", trusted),
			[]byte(f.now.Format(time.RFC1123Z)), []byte(f.now.Add(-age).Format(time.RFC1123Z)), 1)
	}
	wantOK(t, "6 days old, default MaxAge", f.auth(t, dated(6*24*time.Hour), opts(0)), MethodAuthres)
	wantRefused(t, "8 days old, default MaxAge", f.auth(t, dated(8*24*time.Hour), opts(0)), "older than")
	wantRefused(t, "2 days old, MaxAge 1 day", f.auth(t, dated(48*time.Hour), opts(24*time.Hour)), "older than")
	wantOK(t, "12 hours old, MaxAge 1 day", f.auth(t, dated(12*time.Hour), opts(24*time.Hour)), MethodAuthres)

	// Options.Now is the clock, not the machine's: a mail of a month ago is
	// fresh on a clock of a month ago.
	past := *f
	past.now = f.now.Add(-30 * 24 * time.Hour)
	wantOK(t, "mail dated by the injected clock", past.auth(t, past.plain("alice@example.org", "claim\r\n", trusted), opts(0)), MethodAuthres)
}

func TestAuthenticateMaxSizeIsInclusive(t *testing.T) {
	f := newAuthFixture(t)
	raw := f.pgpMIME(t, "alice@example.org", "claim\r\n", f.alice)
	wantOK(t, "mail of exactly MaxSize", f.auth(t, raw, Options{MaxSize: int64(len(raw))}), MethodPGP)
	v := f.auth(t, raw, Options{MaxSize: int64(len(raw)) - 1})
	wantRefused(t, "mail one byte over MaxSize", v, "read message")
	if v.Temporary {
		t.Errorf("Authenticate(too large).Temporary = true, want a permanent refusal")
	}
}

func TestAuthenticateKeylessMemberSkipsPGP(t *testing.T) {
	f := newAuthFixture(t)
	v := f.auth(t, f.plain("carol@mail.example.org", "claim\r\n"), Options{})
	wantRefused(t, "unsigned mail of a member without keys", v, "dkim: no signature")
	if strings.Contains(v.Reason, "pgp") {
		t.Errorf("Authenticate(member without keys).Reason = %q, want no pgp step", v.Reason)
	}
}

func TestAuthenticateFromWithTwoAddresses(t *testing.T) {
	f := newAuthFixture(t)
	stdKeys := []string{"From", "To", "Subject", "Date", "Message-ID", "Content-Type"}
	for _, from := range []string{"alice@example.org, bob@example.org", "bob@example.org, alice@example.org"} {
		raw := f.dkimSign(t, f.plain(from, "claim\r\n"), "example.org", stdKeys)
		wantRefused(t, "From: "+from, f.auth(t, raw, Options{}), "names 2")
	}
}

// Only a failure that may pass on retry (DNS) makes a refusal temporary.
func TestAuthenticatePermanentRefusals(t *testing.T) {
	f := newAuthFixture(t)
	stdKeys := []string{"From", "To", "Subject", "Date", "Message-ID", "Content-Type"}
	signed := f.dkimSign(t, f.plain("alice@example.org", "claim\r\n"), "example.org", stdKeys)
	tests := []struct {
		name string
		raw  []byte
	}{
		{"unsigned", f.plain("alice@example.org", "claim\r\n")},
		{"not a member", f.dkimSign(t, f.plain("eve@example.org", "claim\r\n"), "example.org", stdKeys)},
		{"body changed", bytes.Replace(signed, []byte("claim"), []byte("spam!"), 1)},
		{"not aligned", f.dkimSign(t, f.plain("alice@example.org", "claim\r\n"), "attacker.net", stdKeys)},
		{"unknown selector", bytes.Replace(signed, []byte("s=sel;"), []byte("s=nosuch;"), 1)},
	}
	for _, tt := range tests {
		if v := f.auth(t, tt.raw, Options{TrustedAuthServID: "mx.example.org"}); v.OK || v.Temporary {
			t.Errorf("Authenticate(%s) = %+v, want a permanent refusal", tt.name, v)
		}
	}
	f.dnsTemporary = true
	if v := f.auth(t, signed, Options{}); v.OK || !v.Temporary {
		t.Errorf("Authenticate(DNS down) = %+v, want a temporary refusal", v)
	}
}

// The DKIM replay key covers what was signed: two mails with one Message-ID
// but different signed bodies are two commands.
func TestAuthenticateDKIMReplayKeyCoversSignature(t *testing.T) {
	f := newAuthFixture(t)
	stdKeys := []string{"From", "To", "Subject", "Subject", "Date", "Date", "Message-ID", "Message-ID", "Content-Type"}
	a := f.auth(t, f.dkimSign(t, f.plain("alice@example.org", "status fixed\r\n"), "example.org", stdKeys), Options{})
	b := f.auth(t, f.dkimSign(t, f.plain("alice@example.org", "status rejected\r\n"), "example.org", stdKeys), Options{})
	wantOK(t, "first", a, MethodDKIM)
	wantOK(t, "second", b, MethodDKIM)
	if a.ReplayKey == b.ReplayKey {
		t.Errorf("Authenticate() replay keys of two different signed mails with one Message-ID are equal: %q", a.ReplayKey)
	}
	// The same body under another signed Subject (another case) is another
	// mail too.
	other := bytes.Replace(f.plain("alice@example.org", "status fixed\r\n"), []byte("[SEC-1]"), []byte("[SEC-2]"), 1)
	c := f.auth(t, f.dkimSign(t, other, "example.org", stdKeys), Options{})
	wantOK(t, "other subject", c, MethodDKIM)
	if a.ReplayKey == c.ReplayKey {
		t.Errorf("Authenticate() replay keys of one body under two signed subjects are equal: %q", a.ReplayKey)
	}
}

func TestAuthenticateAuthresFieldOrder(t *testing.T) {
	f := newAuthFixture(t)
	opts := Options{TrustedAuthServID: "mx.example.org"}
	mail := func(fields ...string) []byte { return f.plain("alice@example.org", "claim\r\n", fields...) }
	forgedPass := "Authentication-Results: mx.example.org; dkim=pass header.d=example.org"
	tests := []struct {
		name   string
		raw    []byte
		reason string // "" means accepted
	}{
		{"foreign pass above the trusted fail",
			mail("Authentication-Results: mx.attacker.net; dkim=pass header.d=example.org",
				"Authentication-Results: mx.example.org; dkim=fail header.d=example.org"),
			"mx.example.org reports dkim=fail"},
		{"foreign fail above the trusted pass",
			mail("Authentication-Results: mx.attacker.net; dkim=fail header.d=example.org", forgedPass), ""},
		{"trusted id in another case", mail("Authentication-Results: MX.Example.ORG; dkim=pass header.d=example.org"), ""},
		// Without the ";" the parser cannot even read the authserv-id.
		{"unparsable trusted field without a semicolon above a pass",
			mail("Authentication-Results: mx.example.org dkim=fail", forgedPass), "unparsable field of mx.example.org"},
		{"unparsable field without any id above the trusted pass",
			mail("Authentication-Results: ; dkim", forgedPass), ""},
		{"trusted field with no dkim or dmarc result",
			mail("Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=example.org", forgedPass), "reports neither dkim nor dmarc"},
	}
	for _, tt := range tests {
		v := f.auth(t, tt.raw, opts)
		if tt.reason == "" {
			wantOK(t, tt.name, v, MethodAuthres)
		} else {
			wantRefused(t, tt.name, v, tt.reason)
		}
	}
}

func TestParseBounds(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name    string
		text    string
		cmds    int    // commands parsed
		errText string // substring of the first error; "" means no error
	}{
		{"credit of 200 characters", "credit " + long(200), 1, ""},
		{"credit of 201 characters", "credit " + long(201), 0, "longer than 200 characters"},
		{"line of 1000 bytes is read", "credit " + long(993), 0, "longer than 200 characters"},
		{"line of 1001 bytes is not", "credit " + long(994), 0, "line longer than 1000 bytes"},
		{"expected 2000-01-01", "expected 2000-01-01", 1, ""},
		{"expected 2199-12-31", "expected 2199-12-31", 1, ""},
		{"expected 1999-12-31", "expected 1999-12-31", 0, "invalid date"},
		{"disclose 2200-01-01", "disclose 2200-01-01", 0, "invalid date"},
		{"extend 1", "extend 1", 1, ""},
		{"extend 3650 days", "extend 3650 days", 1, ""},
		{"extend 0", "extend 0", 0, "extend by 1 to 3650 days"},
		{"extend 3651", "extend 3651", 0, "extend by 1 to 3650 days"},
		{"cve of 1999", "cve CVE-1999-0001", 1, ""},
		{"cve of 1998", "cve CVE-1998-0001", 0, "CVE years start in 1999"},
		{"mistyped four-letter command", "hepl", 0, "did you mean help"},
		{"mistyped command, three words", "stauts fixed now", 0, "did you mean status"},
		{"four words are message text", "stauts fixed right now", 0, ""},
		{"three letters are message text", "hep", 0, ""},
		{"a line starting with a colon is message text", ":status fixed", 0, ""},
	}
	for _, tt := range tests {
		cmds, errs := Parse(tt.text)
		if len(cmds) != tt.cmds {
			t.Errorf("Parse(%s) = %d commands %+v, want %d", tt.name, len(cmds), cmds, tt.cmds)
		}
		switch {
		case tt.errText == "" && len(errs) > 0:
			t.Errorf("Parse(%s) errors = %v, want none", tt.name, errs)
		case tt.errText != "" && (len(errs) == 0 || !strings.Contains(errs[0].Msg, tt.errText)):
			t.Errorf("Parse(%s) errors = %v, want %q", tt.name, errs, tt.errText)
		}
	}
	if cmds, _ := Parse("credit " + long(994) + "\nclaim"); len(cmds) != 1 || cmds[0].Name != CmdClaim {
		t.Errorf("Parse(over-long line, claim) = %+v, want the claim after the refused line", cmds)
	}
	if got := Body(":status fixed"); got != ":status fixed" {
		t.Errorf("Body(:status fixed) = %q, want the line", got)
	}
}

// An error quotes the line shortened to 80 bytes, never inside a character.
func TestParseErrorQuotesShortenedLine(t *testing.T) {
	line80 := "stauts " + strings.Repeat("x", 73)
	if _, errs := Parse(line80); len(errs) != 1 || errs[0].Text != line80 {
		t.Errorf("Parse(80-byte line) errors = %+v, want the whole line quoted", errs)
	}
	line81 := "stauts " + strings.Repeat("x", 74)
	if _, errs := Parse(line81); len(errs) != 1 || errs[0].Text != line81[:77]+"..." {
		t.Errorf("Parse(81-byte line) errors = %+v, want 77 bytes and ...", errs)
	}
	// "ü" is two bytes; byte 77 is the second byte of one.
	wide := "stauts x" + strings.Repeat("ü", 40)
	_, errs := Parse(wide)
	if len(errs) != 1 || errs[0].Text != "stauts x"+strings.Repeat("ü", 34)+"..." {
		t.Errorf("Parse(line of wide characters) errors = %+v, want cut before a character", errs)
	}
}

func TestTrimQuotedEdges(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"text after a dated attribution stays",
			"Thanks.\nOn Mon, 2 Mar 2026 at 10:00, Alice <a@example.org> wrote:\nkeep this", "Thanks.\nkeep this"},
		{"attribution wrapped over three lines",
			"Thanks.\nOn Mon, 2 Mar 2026 at 10:00,\nAlice Example\n<a@example.org> wrote:\n> old", "Thanks."},
		{"dated attribution on the last line", "Thanks.\nOn Mon, 2 Mar 2026, Alice wrote:", "Thanks."},
		{"attribution, blank line, quote", "Thanks.\nAlice wrote:\n\n> old", "Thanks."},
		{"attribution with nothing after it stays", "Thanks.\nAlice wrote:\n\n", "Thanks.\nAlice wrote:"},
		{"Outlook header block with tabs", "Thanks.\nFrom:\tAlice\nSent:\tMonday\nold", "Thanks."},
		{"Outlook header block, Sent four lines down",
			"Thanks.\nFrom: Alice\nx\ny\nz\nSent: Monday\nold", "Thanks."},
		{"field names in double stars", "Thanks.\n**Von**: Alice\n**Gesendet**: Montag\nold", "Thanks."},
		{"attribution of 400 bytes", "Thanks.\nOn Mon, 2 Mar 2026 " + strings.Repeat("x", 374) + " wrote:\n> old", "Thanks."},
		{"attribution of 401 bytes is text", "Thanks.\nOn Mon, 2 Mar 2026 " + strings.Repeat("x", 375) + " wrote:",
			"Thanks.\nOn Mon, 2 Mar 2026 " + strings.Repeat("x", 375) + " wrote:"},
		{"From line with Sent five lines down is text",
			"Thanks.\nFrom: Alice\nx\ny\nz\nw\nSent: Monday", "Thanks.\nFrom: Alice\nx\ny\nz\nw\nSent: Monday"},
	}
	for _, tt := range tests {
		if got := TrimQuoted(tt.in); got != tt.want {
			t.Errorf("TrimQuoted(%s) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestRotationBounds(t *testing.T) {
	two := testMembers()[:2]
	tests := []struct {
		name string
		rot  RotationConfig
		errs int
	}{
		{"start 2000-01-01", RotationConfig{Start: "2000-01-01"}, 0},
		{"start 2199-12-31", RotationConfig{Start: "2199-12-31"}, 0},
		{"start 1999-12-31", RotationConfig{Start: "1999-12-31"}, 1},
		{"start 2200-01-01", RotationConfig{Start: "2200-01-01"}, 1},
		{"order of exactly two", RotationConfig{Order: []string{"alice", "bob"}}, 0},
		// Absence of the first member of a team of two leaves one.
		{"first of two absent", RotationConfig{Overrides: []Override{{From: "2026-03-02", Absent: "alice"}}}, 1},
		{"unknown absent member: one error", RotationConfig{Overrides: []Override{{From: "2026-03-02", Absent: "zed"}}}, 1},
		{"two unknown swap members: two errors", RotationConfig{Overrides: []Override{{From: "2026-03-02", Swap: []string{"x", "y"}}}}, 2},
		{"to before from", RotationConfig{Overrides: []Override{{From: "2026-03-02", To: "2026-03-01", Absent: "alice"}}}, 1},
		{"to not a date", RotationConfig{Overrides: []Override{{From: "2026-03-02", To: "soon", Absent: "alice"}}}, 1},
		{"override of 367 days", RotationConfig{Overrides: []Override{{From: "2026-01-01", To: "2027-01-02", Swap: []string{"alice", "bob"}}}}, 1},
		{"override of 366 days", RotationConfig{Overrides: []Override{{From: "2026-01-01", To: "2027-01-01", Swap: []string{"alice", "bob"}}}}, 0},
		{"absent and swap", RotationConfig{Overrides: []Override{{From: "2026-03-02", Absent: "alice", Swap: []string{"alice", "bob"}}}}, 1},
		{"swap of one", RotationConfig{Overrides: []Override{{From: "2026-03-02", Swap: []string{"alice"}}}}, 1},
		{"swap with oneself", RotationConfig{Overrides: []Override{{From: "2026-03-02", Swap: []string{"alice", "Alice"}}}}, 1},
	}
	for _, tt := range tests {
		if errs := tt.rot.Validate(two); len(errs) != tt.errs {
			t.Errorf("Validate(%s) = %v, want %d error(s)", tt.name, errs, tt.errs)
		}
	}
}

// Before the start date the rotation is in shift 0, however far before.
func TestRotationBeforeStart(t *testing.T) {
	r := newRoster(t, RotationConfig{Start: "2026-01-05"}, nil)
	first := names(r.OnDuty(time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)))
	for _, d := range []time.Time{
		time.Date(2026, 1, 4, 10, 0, 0, 0, time.UTC),
		time.Date(2025, 12, 29, 10, 0, 0, 0, time.UTC),
		time.Date(2025, 12, 20, 10, 0, 0, 0, time.UTC),
	} {
		if got := names(r.OnDuty(d)); got != first {
			t.Errorf("OnDuty(%s) = %s, want shift 0: %s", d.Format("2006-01-02"), got, first)
		}
	}
	// A schedule that begins before the start counts the shifts from it.
	s := r.Schedule(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 20, 0, 0, 0, 0, time.UTC))
	var idx []int
	for _, sh := range s {
		idx = append(idx, sh.Index)
	}
	if fmt.Sprint(idx) != "[0 1 2]" {
		t.Errorf("Schedule(from before the start) indexes = %v, want [0 1 2]", idx)
	}
}

func TestScheduleIsCappedAtTenYears(t *testing.T) {
	r := newRoster(t, RotationConfig{Start: "2026-01-05"}, nil)
	from := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	s := r.Schedule(from, from.AddDate(20, 0, 0))
	if len(s) == 0 {
		t.Fatal("Schedule() = nothing")
	}
	if got, want := s[len(s)-1].To, from.AddDate(0, 0, maxScheduleDays); !got.Equal(want) {
		t.Errorf("Schedule(20 years) ends %s, want %s (ten years)", got, want)
	}
}

// Two entries of the team with one address are never on duty together.
func TestOnDutyNeverTwiceTheSameAddress(t *testing.T) {
	r, err := NewRoster([]Member{
		{Name: "Alice", Address: "alice@example.org"},
		{Name: "Alice (old entry)", Address: "alice@example.org"},
		{Name: "Bob", Address: "bob@example.org"},
	}, RotationConfig{Start: "2026-01-05"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for d := range 21 {
		p := r.OnDuty(time.Date(2026, 1, 5+d, 10, 0, 0, 0, time.UTC))
		if p[0].Address == p[1].Address || p[0].Address == "" || p[1].Address == "" {
			t.Errorf("OnDuty(day %d) = %q and %q, want two different members", d, p[0].Address, p[1].Address)
		}
	}
}

func TestAuthenticateNothingToCheck(t *testing.T) {
	f := newAuthFixture(t)
	raw := f.pgpMIME(t, "alice@example.org", "claim\r\n", f.alice)
	open := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil }
	m, err := parse.Parse(bytes.NewReader(raw), parse.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if v := Authenticate(nil, open, f.roster, Options{}); v.OK {
		t.Errorf("Authenticate(no message) = %+v, want refused", v)
	}
	if v := Authenticate(m, open, nil, Options{}); v.OK {
		t.Errorf("Authenticate(no roster) = %+v, want refused", v)
	}
	if v := Authenticate(m, nil, f.roster, Options{Now: func() time.Time { return f.now }}); v.OK || !v.Temporary {
		t.Errorf("Authenticate(no raw message) = %+v, want a temporary refusal", v)
	}
}

// A signature that does not cover the required fields is passed over, not
// the end of the search: a later one that does counts.
func TestAuthenticateSecondDKIMSignatureCounts(t *testing.T) {
	f := newAuthFixture(t)
	full := f.dkimSign(t, f.plain("alice@example.org", "claim\r\n"), "example.org", []string{"From", "To", "Subject", "Subject", "Date", "Date", "Message-ID", "Message-ID", "Content-Type"})
	both := f.dkimSign(t, full, "example.org", []string{"From", "Date"}) // on top
	wantOK(t, "partial signature above a full one", f.auth(t, both, Options{}), MethodDKIM)
	partialOnly := f.dkimSign(t, f.plain("alice@example.org", "claim\r\n"), "example.org", []string{"From", "Date"})
	wantRefused(t, "partial signature only", f.auth(t, partialOnly, Options{}), "does not sign")
}

// Validate reports every bad override, not only the first, and each
// problem once.
func TestRotationEveryProblemOnce(t *testing.T) {
	two := testMembers()[:2]
	unknown := Override{From: "2026-04-01", Absent: "zed"}
	bad := []struct {
		name string
		o    Override
	}{
		{"no from", Override{Absent: "alice"}},
		{"to not a date", Override{From: "2026-03-02", To: "soon", Absent: "alice"}},
		{"to before from", Override{From: "2026-03-02", To: "2026-03-01", Absent: "alice"}},
		{"too long", Override{From: "2026-01-01", To: "2027-06-01", Absent: "alice"}},
		{"absent and swap", Override{From: "2026-03-02", Absent: "alice", Swap: []string{"alice", "bob"}}},
		{"unknown absent", Override{From: "2026-03-02", Absent: "nobody"}},
		{"unknown in swap", Override{From: "2026-03-02", Swap: []string{"nobody", "alice"}}},
		{"swap with oneself", Override{From: "2026-03-02", Swap: []string{"bob", "Bob"}}},
		{"swap of three", Override{From: "2026-03-02", Swap: []string{"alice", "bob", "alice"}}},
		{"neither absent nor swap", Override{From: "2026-03-02"}},
	}
	for _, b := range bad {
		if errs := (RotationConfig{Overrides: []Override{b.o, unknown}}).Validate(two); len(errs) != 2 {
			t.Errorf("Validate(%s, then an unknown member) = %v, want 2 errors", b.name, errs)
		}
	}
	// A member outside the order cannot be absent from it: one error, and
	// no absence of anyone else in its place.
	four := RotationConfig{Order: []string{"alice", "bob"}, Overrides: []Override{{From: "2026-03-02", Absent: "carol"}}}
	if errs := four.Validate(testMembers()); len(errs) != 1 {
		t.Errorf("Validate(absent member outside the order) = %v, want 1 error", errs)
	}
	// An absence of three days that leaves one member: one error, and a
	// swap on the same day adds none.
	rot := RotationConfig{Overrides: []Override{
		{From: "2026-03-02", To: "2026-03-04", Absent: "alice"},
		{From: "2026-03-02", Swap: []string{"alice", "bob"}},
	}}
	if errs := rot.Validate(two); len(errs) != 1 {
		t.Errorf("Validate(three days leaving one member, a swap) = %v, want 1 error", errs)
	}
}

package policy

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSecurityTxtSeeds(t *testing.T) {
	now := ts(t, "2026-05-01T12:00:00Z")
	for _, name := range seedFiles {
		p := seedPolicy(t, name)
		out, err := p.SecurityTxt(SecurityTxtOptions{Now: now})
		if err != nil {
			t.Errorf("%s: SecurityTxt() = %v", name, err)
			continue
		}
		if err := ValidateSecurityTxt(out, now); err != nil {
			t.Errorf("%s: ValidateSecurityTxt() = %v\n%s", name, err, out)
		}
		s := string(out)
		for _, w := range []string{
			"Contact: mailto:" + p.Address + "\n",
			"Expires: 2027-04-30T12:00:00Z\n", // a year minus a day
			"Preferred-Languages: " + strings.Join(p.Languages, ", ") + "\n",
			"Canonical: " + p.CanonicalURLs[0] + "\n",
		} {
			if !strings.Contains(s, w) {
				t.Errorf("%s: SecurityTxt() = %q, want it to contain %q", name, s, w)
			}
		}
		if strings.Count(s, "Expires:") != 1 {
			t.Errorf("%s: SecurityTxt() has %d Expires, want 1", name, strings.Count(s, "Expires:"))
		}
	}
}

func TestSecurityTxtOptions(t *testing.T) {
	p := seedPolicy(t, "000_caspar_health.toml")
	now := ts(t, "2026-05-01T12:00:00Z")
	out, err := p.SecurityTxt(SecurityTxtOptions{
		Now:            now,
		Expires:        ts(t, "2026-11-01T00:00:00+01:00"),
		EncryptionURL:  "https://caspar-health.com/.well-known/openpgpkey/security.asc",
		KeyFingerprint: "0123 4567 89ab cdef 0123 4567 89AB CDEF 0123 4567",
	})
	if err != nil {
		t.Fatalf("SecurityTxt() = %v", err)
	}
	for _, w := range []string{
		"Expires: 2026-10-31T23:00:00Z\n",
		"Encryption: https://caspar-health.com/.well-known/openpgpkey/security.asc\n",
		"Encryption: openpgp4fpr:0123456789ABCDEF0123456789ABCDEF01234567\n",
		"Policy: https://caspar.atlassian.net/l/c/ZFDB8Tjs\n",
	} {
		if !strings.Contains(string(out), w) {
			t.Errorf("SecurityTxt() = %q, want it to contain %q", out, w)
		}
	}
	for _, opt := range []SecurityTxtOptions{
		{},                       // no Now
		{Now: now, Expires: now}, // not in the future
		{Now: now, Expires: ts(t, "2027-05-01T12:00:01Z")}, // over a year
		{Now: now, KeyFingerprint: "abc"},
	} {
		if _, err := p.SecurityTxt(opt); !errors.Is(err, ErrSecurityTxt) {
			t.Errorf("SecurityTxt(%+v) = %v, want ErrSecurityTxt", opt, err)
		}
	}
}

func TestValidateSecurityTxt(t *testing.T) {
	now := ts(t, "2026-05-01T12:00:00Z")
	const ok = "Contact: mailto:security@example.org\nExpires: 2027-01-01T00:00:00Z\n"
	tests := []struct {
		name, in, want string // want "" for valid
	}{
		{"minimal", ok, ""},
		{"CRLF and comments", "# hi\r\nContact: mailto:security@example.org\r\nContact: https://example.org/report\r\nExpires: 2027-01-01T00:00:00Z\r\nPreferred-Languages: en, de-CH\r\n", ""},
		{"field names are case insensitive", "contact: mailto:security@example.org\nEXPIRES: 2027-01-01T00:00:00Z\n", ""},
		{"extension field", ok + "CSAF: https://example.org/provider-metadata.json\nX-Custom: whatever\n", ""},
		{"signed", "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n" + ok + "-----BEGIN PGP SIGNATURE-----\n\nabc\n-----END PGP SIGNATURE-----\n", ""},
		{"no Contact", "Expires: 2027-01-01T00:00:00Z\n", "Contact: missing"},
		{"no Expires", "Contact: mailto:security@example.org\n", "Expires: missing"},
		{"two Expires", ok + "Expires: 2027-01-02T00:00:00Z\n", "line 3: Expires: must appear exactly once"},
		{"Expires passed", "Contact: mailto:a@example.org\nExpires: 2026-04-30T00:00:00Z\n", "line 2: Expires: 2026-04-30T00:00:00Z has passed"},
		{"Expires over a year", "Contact: mailto:a@example.org\nExpires: 2027-05-02T00:00:00Z\n", "more than a year ahead"},
		{"Expires not RFC 3339", "Contact: mailto:a@example.org\nExpires: Fri, 1 Jan 2027 00:00:00 +0000\n", "not an RFC 3339 date-time"},
		{"two Preferred-Languages", ok + "Preferred-Languages: en\nPreferred-Languages: de\n", "line 4: Preferred-Languages: must appear at most once"},
		{"bad language", ok + "Preferred-Languages: en; de\n", "invalid language tag"},
		{"http Canonical", ok + "Canonical: http://example.org/.well-known/security.txt\n", `line 3: Canonical: "http://example.org/.well-known/security.txt" is not an https URI`},
		{"http Policy", ok + "Policy: http://example.org/policy\n", "is not an https URI"},
		{"bare address", "Contact: security@example.org\nExpires: 2027-01-01T00:00:00Z\n", "is not an https URI"},
		{"bad mailto", "Contact: mailto:not an address\nExpires: 2027-01-01T00:00:00Z\n", "invalid mailto URI"},
		{"bad field name", ok + "Bad Name: x\n", `invalid field name "Bad Name"`},
		{"not a field", ok + "just text\n", "not a field"},
		{"empty value", ok + "Policy:\n", "empty value"},
	}
	for _, tt := range tests {
		err := ValidateSecurityTxt([]byte(tt.in), now)
		if tt.want == "" {
			if err != nil {
				t.Errorf("%s: ValidateSecurityTxt() = %v, want nil", tt.name, err)
			}
			continue
		}
		if !errors.Is(err, ErrSecurityTxt) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: ValidateSecurityTxt() = %v, want %q", tt.name, err, tt.want)
		}
	}

	soon := "Contact: mailto:a@example.org\nExpires: 2026-05-20T00:00:00Z\n"
	if err := ValidateSecurityTxt([]byte(soon), now); !errors.Is(err, ErrExpiresSoon) || errors.Is(err, ErrSecurityTxt) {
		t.Errorf("ValidateSecurityTxt(expires in 19 days) = %v, want ErrExpiresSoon alone", err)
	}

}

func FuzzValidateSecurityTxt(f *testing.F) {
	f.Add([]byte("Contact: mailto:security@example.org\nExpires: 2027-01-01T00:00:00Z\n"))
	f.Add([]byte("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n- Contact: x\n-----BEGIN PGP SIGNATURE-----\n"))
	f.Add([]byte("-----BEGIN PGP SIGNED MESSAGE-----"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ValidateSecurityTxt(data, time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC))
	})
}

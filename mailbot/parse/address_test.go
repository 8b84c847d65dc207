package parse

import (
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// TestAddressWithForbiddenBytesRefused is issue 15 attack 6: a From that
// fails strict parsing was copied leniently with ESC and BEL inside, and
// went to a terminal and to SMTP as RCPT TO.
func TestAddressWithForbiddenBytesRefused(t *testing.T) {
	tests := []struct {
		name, from string
	}{
		{"ESC and BEL in angle brackets", "Eve <eve\x1b]0;pwned\x07@example.org>"},
		{"CSI colour in a bare address", "eve\x1b[31m@example.org"},
		{"space in the domain", "<eve@exa mple.org>"},
		{"quoted local part with a space", `"eve smith"@example.org`},
		{"quoted local part with an at sign", `"ann@example.org"@evil.example`},
		{"right-to-left override", "<eve\u202e@example.org>"},
		{"zero-width space", "eve\u200b@example.org"},
		{"DEL", "<eve\x7f@example.org>"},
		{"C1 control", "<eve\u009b31m@example.org>"},
		{"no local part", "<@example.org>"},
		{"empty domain label", "<eve@example..org>"},
		{"one bad address of two", "ann@example.org, <eve\x1b@example.org>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := parseString(t, "From: "+tt.from+"\r\nTo: security@example.org\r\nSubject: hi\r\n\r\nbody\r\n", DefaultLimits())
			if err != nil {
				t.Fatalf("Parse() = %v, want a message kept", err)
			}
			if len(m.From) != 0 {
				t.Errorf("Parse() From = %q, want none", m.From)
			}
			if m.FromCount != 1 || strings.TrimSpace(m.Text) != "body" {
				t.Errorf("Parse() FromCount, Text = %d, %q, want 1, body: the message is kept", m.FromCount, m.Text)
			}
			if !slices.Contains(m.Warnings, "from: not a valid address") {
				t.Errorf("Parse() Warnings = %q, want from: not a valid address", m.Warnings)
			}
		})
	}
}

// TestAddressToleranceKept: the tolerances that are real survive the check.
func TestAddressToleranceKept(t *testing.T) {
	tests := []struct {
		name, from, want string
	}{
		{"odd quoting in the display name", `"Ann "the hacker" Example" <ann@example.org>`, "ann@example.org"},
		{"bare robot word", "MAILER-DAEMON (Mail Delivery System)", "MAILER-DAEMON"},
		{"UTF-8 address", "Jürgen <jürgen@bücher.example>", "jürgen@bücher.example"},
		{"doubled dot", "taro..yamada@docomo.ne.jp", "taro..yamada@docomo.ne.jp"},
		{"address literal", "<root@[192.0.2.1]>", "root@[192.0.2.1]"},
		{"plus and hyphen", "a+tag@sub-domain.example", "a+tag@sub-domain.example"},
		{"control in the display name only", "Eve\x1b[31m <eve@example.org>", "eve@example.org"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := parseString(t, "From: "+tt.from+"\r\n\r\nx\r\n", DefaultLimits())
			if err != nil {
				t.Fatal(err)
			}
			if len(m.From) != 1 || m.From[0].Address != tt.want {
				t.Errorf("Parse() From = %q, want %s", m.From, tt.want)
			}
		})
	}
}

// TestAddressListDropsOnlyTheBadOne: in To and Cc an invalid address is
// dropped alone; the others stay.
func TestAddressListDropsOnlyTheBadOne(t *testing.T) {
	m, err := parseString(t, "From: a@example.org\r\nTo: security@example.org, <x\x07y@example.org>\r\n\r\nx\r\n", DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if len(m.To) != 1 || m.To[0].Address != "security@example.org" {
		t.Errorf("Parse() To = %q, want [security@example.org]", m.To)
	}
}

func TestValidAddress(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"ann@example.org", true},
		{"marilù@esempio-università.it", true},
		{"user@[IPv6:2001:db8::1]", true},
		{"MAILER-DAEMON", false}, // kept by parse, never a recipient
		{"ann@example.org\r\nRCPT TO:<x@y>", false},
		{"ann\x1b@example.org", false},
		{"ann @example.org", false},
		{"<ann@example.org>", false},
		{"ann@example.org.", false},
		{"ann@", false},
		{"\xffann@example.org", false},
		{strings.Repeat("a", 250) + "@example.org", false},
	}
	for _, tt := range tests {
		if got := ValidAddress(tt.in); got != tt.want {
			t.Errorf("ValidAddress(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// checkAddresses fails when an address in m has a byte no address has.
func checkAddresses(t *testing.T, m *Message) {
	t.Helper()
	all := slices.Concat(m.From, m.ReplyTo, m.To, m.Cc)
	if m.Sender != nil {
		all = append(all, *m.Sender)
	}
	for _, a := range all {
		if !utf8.ValidString(a.Address) || a.Address == "" {
			t.Fatalf("Parse() address %q: empty or invalid UTF-8", a.Address)
		}
		for _, r := range a.Address {
			if r <= ' ' || unicode.IsControl(r) || unicode.IsSpace(r) || unicode.Is(unicode.Cf, r) || strings.ContainsRune("<>()[]\\,;:\"", r) && !strings.HasSuffix(a.Address, "]") {
				t.Fatalf("Parse() address %q: has %U", a.Address, r)
			}
		}
	}
}

// FuzzAddresses: whatever the header fields hold, no control, space,
// format character or special reaches an Address.
func FuzzAddresses(f *testing.F) {
	for _, s := range []string{"Eve <eve\x1b]0;t\x07@example.org>", `"a b"@example.org`, "a@b, c\x00@d", "MAILER-DAEMON",
		"=?utf-8?q?A=1B?= <a@b.example>", "(c) <a@b>", "x@[1.2.3.4]", "a\u202e@b.c", "<a@b> <c d@e>", "\"\\\x1b\"@x.y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		in := "From: " + v + "\r\nSender: " + v + "\r\nReply-To: " + v + "\r\nTo: " + v + "\r\nCc: " + v + "\r\n\r\nx\r\n"
		m, err := parseString(t, in, DefaultLimits())
		if err != nil {
			return
		}
		checkAddresses(t, m)
	})
}

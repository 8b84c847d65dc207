package config

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"mailbot/mailbot/spam"
)

const good = `address = "security@example.org"
store = "state/mailbot.db"
policy = "policy.toml"

[imap]
host = "imap.example.org"
username = "security@example.org"
password = { file = "imap.pass" }
mode = "fast"
fast_interval = "20ms"

[smtp]
host = "smtp.example.org"
username = "security@example.org"
auth = "xoauth2"
password = { command = ["oauth2-token", "--account", "security"] }

[[team]]
name = "Ann"
address = "ann@example.org"
key = "keys/ann.asc"

[[team]]
name = "Bob"
address = "bob@example.org"
`

func TestParseGood(t *testing.T) {
	c, err := Parse("/etc/mailbot/mailbot.toml", []byte(good))
	if err != nil {
		t.Fatalf("Parse() = %v, want nil", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"store", c.Store, "/etc/mailbot/state/mailbot.db"},
		{"policy", c.Policy, "/etc/mailbot/policy.toml"},
		{"imap password file", c.IMAP.Password.File, "/etc/mailbot/imap.pass"},
		{"team key", c.Team[0].Key, "/etc/mailbot/keys/ann.asc"},
		{"imap port default", c.IMAP.Port, 993},
		{"smtp port default", c.SMTP.Port, 587},
		{"smtp tls default", c.SMTP.TLS, "starttls"},
		{"fast interval", c.IMAP.FastInterval.Duration, 20 * time.Millisecond},
		{"msgid domain", c.MsgIDDomain, "example.org"},
		{"helo", c.SMTP.Helo, "example.org"},
		{"control", c.Control, "/etc/mailbot/state/mailbot.db.sock"},
		{"token command", strings.Join(c.SMTP.Password.Command, " "), "oauth2-token --account security"},
		{"rate limit", c.Ack.RateLimit, 5},
	}
	for _, tc := range checks {
		if tc.got != tc.want {
			t.Errorf("Parse(): %s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"unknown keys", "colour = \"blue\"\n" + good + "[imap.extra]\nx = 1\n", []string{
			"c.toml:1: colour: unknown key",
			"c.toml:27: imap.extra: unknown key",
		}},
		{"every bad value at once", `address = "not an address"
case_prefix = "SEC-"
[imap]
host = "imap.example.org"
port = 0
tls = "none"
username = "u"
password = { file = "p", credential = "c" }
mode = "push"
after = "move:"
[smtp]
host = "127.0.0.1"
tls = "none"
username = "u"
auth = "cram-md5"
password = { credential = "../etc/shadow" }
[ack]
rate_limit = 0
[[team]]
name = "Ann"
address = "ann"
`, []string{
			`c.toml:1: address: not an email address: "not an address"`,
			`c.toml:2: case_prefix: must be 1 to 10 letters or digits, got "SEC-"`,
			`c.toml:5: imap.port: must be 1 to 65535, got 0`,
			`c.toml:6: imap.tls: "none" is allowed only for a loopback IP address, use implicit or starttls: "imap.example.org" is not a loopback IP address (127.0.0.1 or ::1)`,
			`c.toml:8: imap.password: set only one of file, credential or command`,
			`c.toml:9: imap.mode: must be idle, poll or fast, got "push"`,
			`c.toml:10: imap.after: must be`,
			`c.toml:15: smtp.auth: must be plain, login or xoauth2, got "cram-md5"`,
			`c.toml:16: smtp.password.credential: must be a plain credential name`,
			`c.toml:18: ack.rate_limit: must be at least 1, got 0`,
			`c.toml:21: team[0].address: not an email address: "ann"`,
		}},
		{"one team member", "address = \"s@example.org\"\n[[team]]\nname = \"A\"\naddress = \"a@example.org\"\n", []string{
			"c.toml:2: team: two members are on duty at any time",
		}},
		{"bad duty and team_mail", good + "[duty]\nmode = \"hourly\"\n[team_mail]\nlead = \"nobody\"\n", []string{
			"c.toml:27: duty.mode: ",
			"c.toml:29: team_mail.lead: not an email address",
		}},
		{"missing required", "", []string{
			"c.toml: address: required",
			"c.toml: imap.host: required",
			"c.toml: smtp.password: required: set one of file, credential or command",
		}},
		{"bad duration", good + "[ack]\nrate_window = \"an hour\"\n", []string{
			`c.toml:27: ack.rate_window: not a duration`,
		}},
		// Issue 15: loopback means an IP literal; "localhost" may resolve elsewhere.
		{"localhost is not a loopback address", "metrics = \"localhost:9120\"\n" +
			strings.Replace(good, "[smtp]\nhost = \"smtp.example.org\"", "[smtp]\nhost = \"localhost\"\ntls = \"none\"", 1), []string{
			`c.toml:1: metrics: must be a loopback IP and port such as 127.0.0.1:9120: use 127.0.0.1 or ::1 rather than "localhost"`,
			`c.toml:15: smtp.tls: "none" is allowed only for a loopback IP address, use implicit or starttls: use 127.0.0.1 or ::1 rather than "localhost"`,
		}},
		{"bad health", good + "[health]\noutbox_stale = \"0s\"\nselftest_interval = \"10m\"\n", []string{
			`c.toml:27: health.outbox_stale: must be positive, got 0s`,
			`c.toml:28: health.selftest_interval: must be longer than health.selftest_timeout (30m0s), got 10m0s`,
		}},
		{"bad limits", good + "[limits]\nmax_tries = 0\nmax_decrypt_bytes = -1\n", []string{
			`c.toml:27: limits.max_tries: must be at least 1, got 0`,
			`c.toml:28: limits.max_decrypt_bytes: must not be negative, got -1`,
		}},
		{"bad flood and disk limits", good + "[limits]\nmin_free_bytes = -1\nmax_store_bytes = 10\n[ack]\nglobal_per_hour = 0\n" +
			"[flood]\nwindow = \"0s\"\ncases_per_sender = 0\ncases_per_domain = 3\nnotify_per_sender = 4\nnotify_per_domain = 2\n", []string{
			`c.toml:27: limits.min_free_bytes: must be 0 (no check) or more, got -1`,
			`c.toml:28: limits.max_store_bytes: must be 0 (no limit) or at least 1048576, got 10`,
			`c.toml:30: ack.global_per_hour: must be at least 1, got 0`,
			`c.toml:32: flood.window: must be positive, got 0s`,
			`c.toml:33: flood.cases_per_sender: must be at least 1, got 0`,
			`c.toml:36: flood.notify_per_domain: must be at least flood.notify_per_sender (4), got 2`,
		}},
		{"bad spam", good + "[spam]\ntrust = [\"spamassassin\", \"barracuda\", \"spamassassin\", \"dmarc\"]\n" +
			"[spam.filter]\nkind = \"clamav\"\naddress = \"127.0.0.1\"\ntimeout = \"0s\"\nmax_bytes = 10\nmin_score = -1.5\n", []string{
			`c.toml:27: spam.trust: unknown verdict "barracuda": want some of spamassassin, rspamd, m365, dmarc`,
			`c.toml:27: spam.trust: "spamassassin" is listed twice`,
			`c.toml:27: spam.trust: "dmarc" needs team_mail.trusted_authserv_id`,
			`c.toml:29: spam.filter.kind: must be "", "rspamd" or "spamd", got "clamav"`,
			`c.toml:30: spam.filter.address: must be host:port such as 127.0.0.1:11333, got "127.0.0.1"`,
			`c.toml:31: spam.filter.timeout: must be positive, got 0s`,
			`c.toml:32: spam.filter.max_bytes: must be at least 1024, got 10`,
			`c.toml:33: spam.filter.min_score: must be 0 (rspamd's reject action, spamd's 8) or a positive score, got -1.5`,
		}},
		{"flood window over a day", good + "[flood]\nwindow = \"25h\"\n", []string{
			`c.toml:27: flood.window: must be at most 24h (the store keeps counts for a day), got 25h0m0s`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("c.toml", []byte(tc.in))
			if err == nil {
				t.Fatalf("Parse() = nil, want errors %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Parse() = %v\nwant it to contain %q", err, w)
				}
			}
		})
	}
}

func TestParseSpam(t *testing.T) {
	tests := []struct {
		name   string
		top    string // lines before good
		extra  string // lines after good
		trust  []string
		filter *spam.Filter
	}{
		{"defaults: nothing trusted, no filter", "", "", nil, nil},
		{"trust and rspamd at its default address", "", "[team_mail]\ntrusted_authserv_id = \"mx.example.org\"\n[spam]\ntrust = [\"rspamd\", \"dmarc\"]\n[spam.filter]\nkind = \"rspamd\"\n",
			[]string{"rspamd", "dmarc"}, &spam.Filter{Kind: "rspamd", Address: "127.0.0.1:11333", Timeout: 10 * time.Second, MaxBytes: 2 << 20}},
		{"spamd with its own settings", "", "[spam.filter]\nkind = \"spamd\"\naddress = \"[::1]:1783\"\ntimeout = \"3s\"\nmax_bytes = 500000\nmin_score = 8\n",
			nil, &spam.Filter{Kind: "spamd", Address: "[::1]:1783", Timeout: 3 * time.Second, MaxBytes: 500000, MinScore: 8}},
		// The deprecated key keeps working: it trusts SpamAssassin's fields.
		{"trust_spam_flag", "trust_spam_flag = true\n", "", []string{"spamassassin"}, nil},
		{"trust_spam_flag with spamassassin listed", "trust_spam_flag = true\n", "[spam]\ntrust = [\"m365\", \"spamassassin\"]\n", []string{"m365", "spamassassin"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("c.toml", []byte(tc.top+good+tc.extra))
			if err != nil {
				t.Fatalf("Parse() = %v, want nil", err)
			}
			if got := c.SpamTrust(); !slices.Equal(got.Sources, tc.trust) || (slices.Contains(tc.trust, "dmarc") && got.AuthServID != "mx.example.org") {
				t.Errorf("SpamTrust() = %+v, want sources %q", got, tc.trust)
			}
			got := c.SpamFilter()
			if (got == nil) != (tc.filter == nil) || got != nil && *got != *tc.filter {
				t.Errorf("SpamFilter() = %+v, want %+v", got, tc.filter)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.toml"))
	if err == nil || !strings.Contains(err.Error(), "nope.toml") {
		t.Errorf("Load() = %v, want an error naming the file", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte("[[team]]\n[[team]]\naddress=1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("f.toml", data)
		if err == nil && c.Address == "" {
			t.Fatalf("Parse() accepted a config without address")
		}
	})
}

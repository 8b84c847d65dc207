package triage

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"mailbot/mailbot/parse"
)

const mailDir = "../../testdata/mail"

var self = Self{
	Addresses:   []string{"security@example.org", "Security@Mail.Example.org"},
	MsgIDDomain: "mailbot.example.org",
	LoopHeader:  "X-Mailbot-Loop",
}

func corpusFiles(tb testing.TB, sub string) []string {
	tb.Helper()
	var files []string
	err := filepath.WalkDir(filepath.Join(mailDir, sub), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch d.Name() {
		case "LICENSE.txt", "README.md", "COPYING":
			return nil
		}
		if !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("walk %s: %v", sub, err)
	}
	if len(files) == 0 {
		tb.Fatalf("no messages under %s", sub)
	}
	return files
}

// parseCorpusFile parses the file name: a file that cannot be read fails
// the test, a message parse refuses is the error.
func parseCorpusFile(tb testing.TB, name string) (*parse.Message, error) {
	tb.Helper()
	f, err := os.Open(name)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	return parse.Parse(f, parse.Limits{})
}

func parseFile(tb testing.TB, name string) *parse.Message {
	tb.Helper()
	m, err := parseCorpusFile(tb, name)
	if err != nil {
		tb.Fatalf("Parse(%s) = %v, want nil error", name, err)
	}
	return m
}

func parseString(tb testing.TB, s string) *parse.Message {
	tb.Helper()
	m, err := parse.Parse(strings.NewReader(s), parse.Limits{})
	if err != nil {
		tb.Fatalf("Parse(%q) = %v, want nil error", s, err)
	}
	return m
}

func rel(name string) string {
	r, _ := filepath.Rel(mailDir, name)
	return filepath.ToSlash(r)
}

// humanInSpamHam lists the spam-ham files that carry no automation marker.
// nice/: ham written by people. spam/: SpamAssassin's spam *input*: no MTA
// has flagged it (no X-Spam-Flag), so nothing in the header tells it from
// a report; Classify must not guess. TestSpamFlag adds the flag and checks
// it counts only when the MTA is trusted.
var humanInSpamHam = []string{
	"automated/spam-ham/spamassassin-t-data/nice/crlf-endings.eml",
	"automated/spam-ham/spamassassin-t-data/nice/mime3.eml",
	"automated/spam-ham/spamassassin-t-data/nice/unicode1.eml",
	"automated/spam-ham/spamassassin-t-data/spam/001.eml",
	"automated/spam-ham/spamassassin-t-data/spam/002.eml",
	"automated/spam-ham/spamassassin-t-data/spam/010.eml",
	"automated/spam-ham/spamassassin-t-data/spam/018.eml",
	"automated/spam-ham/spamassassin-t-data/spam/badctype1.eml",
	"automated/spam-ham/spamassassin-t-data/spam/gtube.eml",
}

// TestCorpusClassify: everything under automated/ is automated or a bounce
// (spam-ham exceptions above); everything under valid/ is a report.
func TestCorpusClassify(t *testing.T) {
	counts := map[Class]int{}
	for _, name := range corpusFiles(t, "automated") {
		v := Classify(parseFile(t, name), self)
		counts[v.Class]++
		want := []Class{ClassAutomated, ClassBounce}
		if slices.Contains(humanInSpamHam, rel(name)) {
			want = []Class{ClassReport}
		}
		if !slices.Contains(want, v.Class) {
			t.Errorf("Classify(%s) = %+v, want class in %v", rel(name), v, want)
		}
		if strings.Contains(name, "/bounces/") && strings.Contains(name, "/sisimai/") && strings.Contains(name, "rfc3464") && v.Class != ClassBounce {
			t.Errorf("Classify(%s) = %+v, want %s (RFC 3464 DSN)", rel(name), v, ClassBounce)
		}
	}
	t.Logf("automated/: %v", counts)
	for _, name := range corpusFiles(t, "valid") {
		if v := Classify(parseFile(t, name), self); v.Class != ClassReport {
			t.Errorf("Classify(%s) = %+v, want %s", rel(name), v, ClassReport)
		}
	}
}

// TestCorpusReasons pins the rule that fires for a sample of real mail.
func TestCorpusReasons(t *testing.T) {
	tests := []struct {
		file string
		want Verdict
	}{
		{"automated/bounces/flanker/mailbox-full.eml", Verdict{ClassBounce, "delivery status report (RFC 3464)"}},
		{"automated/bounces/flanker/delayed-broken.eml", Verdict{ClassBounce, "delivery status report (RFC 3464)"}},
		{"automated/bounces/sisimai/lhost-qmail-01.eml", Verdict{ClassBounce, "From: MAILER-DAEMON"}},
		{"automated/bounces/flanker/gmail-no-dns.eml", Verdict{ClassBounce, "From: MAILER-DAEMON"}},
		{"automated/bounces/sisimai/lhost-exchange2003-01.eml", Verdict{ClassAutomated, "Return-Path: <>"}},
		{"automated/bounces/sisimai/lhost-domino-01.eml", Verdict{ClassAutomated, "From: postmaster"}},
		{"automated/autoreplies/sisimai/rfc3834-01.eml", Verdict{ClassAutomated, "Auto-Submitted: auto-replied (RFC 3834)"}},
		{"automated/autoreplies/sisimai/rfc3834-02.eml", Verdict{ClassAutomated, "X-Auto-Response-Suppress"}},
		{"automated/autoreplies/sisimai/rfc3834-03.eml", Verdict{ClassAutomated, `subject "auto reply" (heuristic)`}},
		{"automated/bots-and-reports/flanker/disposition-notification.eml", Verdict{ClassAutomated, "disposition notification (RFC 8098)"}},
		{"automated/bots-and-reports/sisimai-arf/arf-14.eml", Verdict{ClassAutomated, "feedback report (RFC 5965)"}},
		{"automated/bots-and-reports/mimekit/feedback-report.txt", Verdict{ClassAutomated, "feedback report (RFC 5965)"}},
		{"automated/mailing-lists/spamassassin-t-data/mailman_message.txt", Verdict{ClassAutomated, "Precedence: bulk"}},
		{"automated/spam-ham/spamassassin-t-data/nice/005.eml", Verdict{ClassAutomated, "List-Id (RFC 2919)"}},
		{"malformed/mime-torture/ruby-mail-error-emails/bad_date_header.eml", Verdict{ClassAutomated, "Precedence: junk"}},
		{"valid/report-plain.eml", Verdict{ClassReport, "no automation markers"}},
	}
	for _, tt := range tests {
		if got := Classify(parseFile(t, filepath.Join(mailDir, tt.file)), self); got != tt.want {
			t.Errorf("Classify(%s) = %+v, want %+v", tt.file, got, tt.want)
		}
	}
}

// TestSpamFlagIsNotARobot: a spam verdict is not a class. X-Spam-Flag: YES
// leaves a report a report; whether it is held is mailbot/spam's decision
// (only from a trusted MTA), which keeps the case for the team to release,
// where a robot class would silence it for good.
func TestSpamFlagIsNotARobot(t *testing.T) {
	for _, name := range corpusFiles(t, "automated/spam-ham/spamassassin-t-data/spam") {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		flagged := parseString(t, "X-Spam-Flag: YES\r\n"+strings.TrimPrefix(string(data), "From "))
		if v, plain := Classify(flagged, self), Classify(parseFile(t, name), self); v != plain || v.Class != ClassReport {
			t.Errorf("Classify(%s + X-Spam-Flag) = %+v, want %+v as without the flag, a report", rel(name), v, plain)
		}
	}
}

const human = "From: Alice <alice@researcher.example>\r\nTo: security@example.org\r\nSubject: XSS\r\nMessage-ID: <1@researcher.example>\r\n"

func TestClassify(t *testing.T) {
	tests := []struct {
		name   string
		header string // added to human
		want   Verdict
	}{
		{"plain report", "", Verdict{ClassReport, "no automation markers"}},
		{"Auto-Submitted: no", "Auto-Submitted: no\r\n", Verdict{ClassReport, "no automation markers"}},
		{"Auto-Submitted: auto-generated", "Auto-Submitted: auto-generated (failure)\r\n", Verdict{ClassAutomated, "Auto-Submitted: auto-generated (RFC 3834)"}},
		{"Auto-Submitted: auto-notified", "Auto-Submitted: Auto-Notified; owner-email=\"x@y\"\r\n", Verdict{ClassAutomated, "Auto-Submitted: auto-notified (RFC 3834)"}},
		{"Precedence: bulk", "Precedence: Bulk\r\n", Verdict{ClassAutomated, "Precedence: bulk"}},
		{"Precedence: first-class", "Precedence: first-class\r\n", Verdict{ClassReport, "no automation markers"}},
		{"List-Unsubscribe", "List-Unsubscribe: <mailto:u@example.com>\r\n", Verdict{ClassAutomated, "List-Unsubscribe (RFC 2369)"}},
		{"Feedback-ID", "Feedback-ID: 1:2:3:gmail\r\n", Verdict{ClassAutomated, "Feedback-ID"}},
		{"X-Autoreply", "X-Autoreply: yes\r\n", Verdict{ClassAutomated, "X-Autoreply"}},
		{"X-Autorespond", "X-Autorespond: vacation\r\n", Verdict{ClassAutomated, "X-Autorespond"}},
		{"null Return-Path", "Return-Path: < >\r\n", Verdict{ClassAutomated, "Return-Path: <>"}},
		{"Sender postmaster", "Sender: Postmaster@example.net\r\n", Verdict{ClassAutomated, "From: postmaster"}},
		{"Sender MAILER-DAEMON", "Sender: mailer-daemon@example.net\r\n", Verdict{ClassBounce, "From: MAILER-DAEMON"}},
		{"own Message-ID first", "Message-ID: <x@MailBot.example.org>\r\n", Verdict{ClassOwn, "Message-ID in our domain"}}, // the first Message-ID field counts
		{"loop header", "X-Mailbot-Loop: security@example.org\r\n", Verdict{ClassOwn, "loop header X-Mailbot-Loop"}},
		{"loop header, another bot", "X-Mailbot-Loop: security@other.example\r\n", Verdict{ClassReport, "no automation markers"}},
		{"spam flag, untrusted", "X-Spam-Flag: YES\r\n", Verdict{ClassReport, "no automation markers"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := parseString(t, tt.header+human+"\r\nbody\r\n")
			if got := Classify(m, self); got != tt.want {
				t.Errorf("Classify() = %+v, want %+v", got, tt.want)
			}
		})
	}
	subjects := []struct {
		subject string
		want    Class
	}{
		{"Automatic reply: XSS", ClassAutomated},
		{"Out of Office: back Monday", ClassAutomated},
		{"Abwesenheitsnotiz: XSS", ClassAutomated},
		{"AUTO: away", ClassAutomated},
		{"Undeliverable: XSS", ClassBounce},
		{"Delivery Status Notification (Failure)", ClassBounce},
		{"Re: auto: not at the start? no, at the start", ClassReport},
		{"XSS in the auto-reply handler", ClassReport},
	}
	for _, tt := range subjects {
		m := parseString(t, "From: a@example.net\r\nSubject: "+tt.subject+"\r\n\r\nx\r\n")
		if got := Classify(m, self); got.Class != tt.want {
			t.Errorf("Classify(Subject: %s) = %+v, want %s", tt.subject, got, tt.want)
		}
	}
}

func TestClassifyOwn(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"message-id domain", "From: x@example.net\r\nMessage-ID: <abc@MAILBOT.example.org>\r\n\r\nx\r\n", "Message-ID in our domain"},
		{"loop header", "From: x@example.net\r\nX-Mailbot-Loop: <Security@example.org>\r\nAuto-Submitted: auto-replied\r\n\r\nx\r\n", "loop header X-Mailbot-Loop"},
		{"from us", "From: Security Team <SECURITY@mail.example.org>\r\n\r\nx\r\n", "From: our address"},
		// Own wins over bounce: a DSN from our own MTA, sent as us, is still a loop.
		{"own before bounce", "From: security@example.org\r\nContent-Type: message/delivery-status\r\n\r\nAction: failed\r\n", "From: our address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(parseString(t, tt.in), self); got != (Verdict{ClassOwn, tt.want}) {
				t.Errorf("Classify() = %+v, want %+v", got, Verdict{ClassOwn, tt.want})
			}
		})
	}
	if got := Classify(parseString(t, "From: x@example.net\r\nMessage-ID: <a@mailbot.example.org>\r\n\r\nx\r\n"), Self{}); got.Class == ClassOwn {
		t.Errorf("Classify() with empty Self = %+v, want not own", got)
	}
	if got := Classify(nil, self); got.Class != ClassAutomated {
		t.Errorf("Classify(nil) = %+v, want %s", got, ClassAutomated)
	}
	if got := Classify(parseString(t, "Subject: no from\r\n\r\nx\r\n"), self); got != (Verdict{ClassAutomated, "no usable From"}) {
		t.Errorf("Classify(no From) = %+v, want automated, no usable From", got)
	}
}

// TestClassifyInvalidFrom is issue 15 attack 6: a From with ESC and BEL in
// the address is kept with a reason and never answered.
func TestClassifyInvalidFrom(t *testing.T) {
	m := parseString(t, "From: Eve <eve\x1b]0;pwned\x07@example.org>\r\nSubject: report\r\n\r\nx\r\n")
	if got := Classify(m, Self{Addresses: []string{"security@example.org"}}); got != (Verdict{ClassAutomated, "From: not a valid address"}) {
		t.Errorf("Classify(From with ESC) = %+v, want automated, From: not a valid address", got)
	}
}

func TestThreadIDs(t *testing.T) {
	m := parseString(t, "From: a@example.net\r\nIn-Reply-To: <c@x>\r\nReferences: <a@x> <b@x> <c@x> <bad <d@x>\r\n\r\nx\r\n")
	want := []string{"c@x", "d@x", "b@x", "a@x"}
	if got := ThreadIDs(m); !slices.Equal(got, want) {
		t.Errorf("ThreadIDs() = %q, want %q", got, want)
	}
	if got := ThreadIDs(parseString(t, "From: a@example.net\r\n\r\nx\r\n")); len(got) != 0 {
		t.Errorf("ThreadIDs(no ids) = %q, want none", got)
	}
	if got := ThreadIDs(nil); got != nil {
		t.Errorf("ThreadIDs(nil) = %q, want nil", got)
	}
}

func TestSubjectTag(t *testing.T) {
	tests := []struct {
		subject, prefix string
		ref             string
		ok              bool
	}{
		{"Re: [SEC-2026-0001] XSS", "SEC", "SEC-2026-0001", true},
		{"AW: WG: [sec-2026-0042] x", "SEC", "SEC-2026-0042", true},
		{"[SEC-2026-0001][SEC-2026-0002]", "SEC", "SEC-2026-0001", true},
		{"[VULN-7] x", "VULN", "VULN-7", true},
		{"SEC-2026-0001 without brackets", "SEC", "", false},
		{"[SEC-] empty", "SEC", "", false},
		{"[SEC-2026 0001] space", "SEC", "", false},
		{"[SECRET-1] other prefix", "SEC", "", false},
		{"[SEC-2026-0001]", "", "", false},
		{"[S.C-1] x", "S.C", "S.C-1", true},
		{"[SXC-1] regexp metacharacters are literal", "S.C", "", false},
		{"[SEC-" + strings.Repeat("1", 100) + "]", "SEC", "", false},
	}
	for _, tt := range tests {
		ref, ok := SubjectTag(tt.subject, tt.prefix)
		if ref != tt.ref || ok != tt.ok {
			t.Errorf("SubjectTag(%q, %q) = %q, %v, want %q, %v", tt.subject, tt.prefix, ref, ok, tt.ref, tt.ok)
		}
	}
}

func TestTagSubject(t *testing.T) {
	long := strings.Repeat("ü", 500)
	tests := []struct {
		subject, ref, want string
	}{
		{"XSS in search", "SEC-2026-0001", "[SEC-2026-0001] XSS in search"},
		{"Re: [SEC-2026-0001] XSS", "SEC-2026-0001", "Re: [SEC-2026-0001] XSS"},
		{"Re: [sec-2026-0001] XSS", "SEC-2026-0001", "Re: [sec-2026-0001] XSS"},
		{"", "SEC-2026-0001", "[SEC-2026-0001]"},
		{"line\r\nBcc: victim@example.com", "SEC-1", "[SEC-1] line Bcc: victim@example.com"},
		{"x", "SEC-1\r\nBcc: a@b", "[SEC-1 Bcc: a@b] x"},
		{long, "SEC-1", "[SEC-1] " + strings.Repeat("ü", maxSubject-8)},
	}
	for _, tt := range tests {
		got := TagSubject(tt.subject, tt.ref)
		if got != tt.want {
			t.Errorf("TagSubject(%q, %q) = %q, want %q", tt.subject, tt.ref, got, tt.want)
		}
		if utf8.RuneCountInString(got) > maxSubject || strings.ContainsAny(got, "\r\n") {
			t.Errorf("TagSubject(%q, %q) = %q: too long or has a line break", tt.subject, tt.ref, got)
		}
	}
}

func TestSanitize(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"plain", 100, "plain"},
		{"evil\r\nBcc: victim@example.com", 100, "evil Bcc: victim@example.com"},
		{"a\rb\nc", 100, "a b c"},
		{"nul\x00byte\x07bell\x1b[31m", 100, "nulbytebell[31m"},
		{"  lots   of \t spaces  ", 100, "lots of spaces"},
		{"line\u2028sep\u2029par\u0085nel", 100, "line sep par nel"},
		{"bidi \u202eevil\u202c \u2066x\u2069", 100, "bidi evil x"},
		{"invalid \xff\xfe utf8", 100, "invalid utf8"},
		{"héllo wörld", 5, "héllo"},
		{"日本語のテキスト", 3, "日本語"},
		{"ab cd", 3, "ab"},
		// Every format character (Cf) goes, ZWJ in emoji sequences too (issue 15).
		{"emoji 👩\u200d💻 ok", 100, "emoji 👩💻 ok"},
		{"arabic\u061cmark zero\u200bwidth word\u2060joiner \ufeffbom", 100, "arabicmark zerowidth wordjoiner bom"},
		{"lrm\u200e rlm\u200f soft\u00adhyphen tag\U000e0041s", 100, "lrm rlm softhyphen tags"},
		{"x", 0, ""},
		{"x", -1, ""},
	}
	for _, tt := range tests {
		if got := Sanitize(tt.in, tt.max); got != tt.want {
			t.Errorf("Sanitize(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
	}
}

func FuzzClassify(f *testing.F) {
	for _, sub := range []string{"valid", "automated", "malformed"} {
		for _, name := range corpusFiles(f, sub) {
			data, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			if len(data) <= 64<<10 {
				f.Add(data)
			}
		}
	}
	valid := []Class{ClassReport, ClassAutomated, ClassBounce, ClassOwn}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parse.Parse(strings.NewReader(string(data)), parse.Limits{MaxSize: 1 << 20, MaxParts: 50, MaxDepth: 8})
		if err != nil {
			return
		}
		v := Classify(m, self)
		if !slices.Contains(valid, v.Class) || v.Reason == "" || strings.ContainsAny(v.Reason, "\r\n") {
			t.Fatalf("Classify() = %+v: unknown class, empty reason or a line break", v)
		}
		for _, id := range ThreadIDs(m) {
			if id == "" {
				t.Fatalf("ThreadIDs() = %q: empty id", ThreadIDs(m))
			}
		}
		if ref, ok := SubjectTag(m.Subject, "SEC"); ok {
			if tagged := TagSubject(m.Subject, ref); strings.ContainsAny(tagged, "\r\n") {
				t.Fatalf("TagSubject() = %q: line break", tagged)
			}
		}
	})
}

func FuzzSanitize(f *testing.F) {
	for _, s := range []string{"a\r\nb", "日本語", "\xff", "\u202e", "\u200bx\ufeff", "  x  ", strings.Repeat("é", 300)} {
		f.Add(s, 10)
	}
	f.Fuzz(func(t *testing.T, s string, max int) {
		got := Sanitize(s, max)
		if !utf8.ValidString(got) || strings.ContainsAny(got, "\r\n\x00") || utf8.RuneCountInString(got) > max && got != "" {
			t.Fatalf("Sanitize(%q, %d) = %q", s, max, got)
		}
		for _, r := range got {
			if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
				t.Fatalf("Sanitize(%q, %d) = %q: control or format character %U", s, max, got, r)
			}
		}
	})
}

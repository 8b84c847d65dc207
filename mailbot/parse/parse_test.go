package parse

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

const mailDir = "../../testdata/mail"

// corpusFiles lists the messages under testdata/mail/<sub>, skipping
// licence and readme files.
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

func parseFile(tb testing.TB, name string) (*Message, error) {
	tb.Helper()
	f, err := os.Open(name)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	return Parse(f, Limits{})
}

func mustParse(tb testing.TB, name string) *Message {
	tb.Helper()
	m, err := parseFile(tb, name)
	if err != nil {
		tb.Fatalf("Parse(%s) = %v, want nil error", name, err)
	}
	return m
}

func parseString(tb testing.TB, s string, lim Limits) (*Message, error) {
	tb.Helper()
	return Parse(strings.NewReader(s), lim)
}

// TestCorpus parses every message: each one parses or fails with one of the
// sentinel errors, never panics, and stays within the limits.
func TestCorpus(t *testing.T) {
	// The only messages that may fail, and how.
	wantErr := map[string]error{
		"malformed/mime-torture/enmime-mail/erroneous.raw":           ErrMalformed,
		"malformed/mime-torture/mime4j/malformedHeader-noheader.msg": ErrMalformed,
	}
	lim := DefaultLimits()
	for _, sub := range []string{"valid", "malformed", "automated"} {
		var ok, failed, warned int
		for _, name := range corpusFiles(t, sub) {
			rel, _ := filepath.Rel(mailDir, name)
			rel = filepath.ToSlash(rel)
			m, err := parseFile(t, name)
			if want := wantErr[rel]; want != nil || err != nil {
				if !errors.Is(err, want) || want == nil {
					t.Errorf("Parse(%s) = %v, want %v", rel, err, want)
				}
				if err != nil && strings.Contains(err.Error(), "panic") {
					t.Errorf("Parse(%s) panicked: %v", rel, err)
				}
				failed++
				continue
			}
			ok++
			if len(m.Warnings) > 0 {
				warned++
			}
			if !utf8.ValidString(m.Text) || !utf8.ValidString(m.Subject) {
				t.Errorf("Parse(%s): Text or Subject is not valid UTF-8", rel)
			}
			if len(m.Text) > lim.MaxTextBytes || m.Parts > lim.MaxParts || m.Depth > lim.MaxDepth || m.Parts < 1 {
				t.Errorf("Parse(%s): text %d bytes, %d parts, depth %d: outside the limits", rel, len(m.Text), m.Parts, m.Depth)
			}
			if m.Header.Len() == 0 {
				t.Errorf("Parse(%s): empty Header copy", rel)
			}
		}
		t.Logf("%s: %d parsed (%d with warnings), %d refused", sub, ok, warned, failed)
	}
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func TestValidMessages(t *testing.T) {
	pgpKinds := func(m *Message) []string {
		var k []string
		for _, b := range m.PGP {
			k = append(k, b.Kind)
		}
		return k
	}
	tests := []struct {
		file      string
		from      string
		subject   string
		msgID     string
		text      []string // substrings of Text
		notText   []string
		fromHTML  bool
		pgp       []string
		signed    bool
		keys      int
		nAttach   int
		ct        string
		inReplyTo []string
		refs      []string
	}{
		{file: "report-plain.eml", from: "alice@researcher.example", subject: "XSS in the search page of www.example.org",
			msgID: "20260105091500.4242@researcher.example", text: []string{"Alice Müller", "reflected without\nescaping"}, ct: "text/plain"},
		{file: "followup-in-reply-to.eml", from: "alice@researcher.example", subject: "Re: [SEC-2026-0001] XSS in the search page of www.example.org",
			msgID: "20260106070000.4243@researcher.example", text: []string{"/search/advanced"}, ct: "text/plain",
			inReplyTo: []string{"case-1.ack@mailbot.example.org"},
			refs:      []string{"20260105091500.4242@researcher.example", "case-1.ack@mailbot.example.org"}},
		{file: "html-only.eml", from: "bob@finder.example", subject: "Open redirect on login", fromHTML: true, ct: "text/html",
			text:    []string{"Hi team,\n", "the next parameter of /login accepts any host:\nhttps://example.org/login?next=https://evil.example", "Steps & impact below.", "log in\nget redirected"},
			notText: []string{"tracking", "color", "report", "<"}},
		{file: "windows-1252.eml", from: "rene@chercheur.example", subject: "Faille d’injection SQL – formulaire contact",
			text: []string{"champ “email” du", "requête", "Coût estimé", "René"}, ct: "text/plain"},
		{file: "attachments.eml", from: "carol@example.net", text: []string{"PoC script and a screenshot"}, notText: []string{"<b>"},
			nAttach: 2, ct: "multipart/mixed"},
		{file: "inline-pgp.eml", from: "dave@crypto.example", pgp: []string{"inline"}, text: []string{"encrypted to your security.txt key"}, ct: "text/plain"},
		{file: "pgp-mime.eml", from: "erin@crypto.example", pgp: []string{"pgp-mime"}, ct: "multipart/encrypted"},
		{file: "exchange-mixed-up.eml", from: "frank@corp.example", pgp: []string{"mixed-up"}, ct: "multipart/mixed"},
		{file: "pgp-attachment.eml", from: "grace@example.com", pgp: []string{"attachment"}, text: []string{"attached file"}, ct: "multipart/mixed"},
		{file: "signed-with-key.eml", from: "heidi@example.com", signed: true, keys: 1, text: []string{"CSRF token"}, ct: "multipart/signed"},
		{file: "lf-only-clearsigned.eml", from: "ivan@example.org", signed: true, text: []string{"reset token does not expire"}, ct: "text/plain"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			m := mustParse(t, filepath.Join(mailDir, "valid", tt.file))
			if len(m.From) != 1 || m.From[0].Address != tt.from || m.FromCount != 1 {
				t.Errorf("Parse() From = %v (count %d), want %s", m.From, m.FromCount, tt.from)
			}
			if tt.subject != "" && m.Subject != tt.subject {
				t.Errorf("Parse() Subject = %q, want %q", m.Subject, tt.subject)
			}
			if tt.msgID != "" && m.MessageID != tt.msgID {
				t.Errorf("Parse() MessageID = %q, want %q", m.MessageID, tt.msgID)
			}
			if m.ContentType != tt.ct {
				t.Errorf("Parse() ContentType = %q, want %q", m.ContentType, tt.ct)
			}
			for _, s := range tt.text {
				if !strings.Contains(m.Text, s) {
					t.Errorf("Parse() Text = %q, want it to contain %q", m.Text, s)
				}
			}
			for _, s := range tt.notText {
				if strings.Contains(m.Text, s) {
					t.Errorf("Parse() Text = %q, want no %q", m.Text, s)
				}
			}
			if m.TextFromHTML != tt.fromHTML {
				t.Errorf("Parse() TextFromHTML = %v, want %v", m.TextFromHTML, tt.fromHTML)
			}
			if got := pgpKinds(m); !slices.Equal(got, tt.pgp) {
				t.Errorf("Parse() PGP kinds = %v, want %v", got, tt.pgp)
			}
			for _, b := range m.PGP {
				if !bytes.HasPrefix(b.Data, []byte("-----BEGIN PGP MESSAGE-----")) ||
					!bytes.Contains(b.Data, []byte("-----END PGP MESSAGE-----")) || b.Part < 0 || b.Part >= m.Parts {
					t.Errorf("Parse() PGP block %s (part %d) = %q, want the whole armored block", b.Kind, b.Part, b.Data)
				}
			}
			if m.Signed != tt.signed || len(m.Keys) != tt.keys {
				t.Errorf("Parse() Signed, Keys = %v, %d, want %v, %d", m.Signed, len(m.Keys), tt.signed, tt.keys)
			}
			if len(m.Attachments) != tt.nAttach {
				t.Errorf("Parse() Attachments = %v, want %d", m.Attachments, tt.nAttach)
			}
			if !slices.Equal(m.InReplyTo, tt.inReplyTo) || !slices.Equal(m.References, tt.refs) {
				t.Errorf("Parse() InReplyTo, References = %v, %v, want %v, %v", m.InReplyTo, m.References, tt.inReplyTo, tt.refs)
			}
			if len(m.Warnings) != 0 {
				t.Errorf("Parse() Warnings = %q, want none for project-written mail", m.Warnings)
			}
			if m.Date.IsZero() {
				t.Errorf("Parse() Date is zero")
			}
		})
	}
}

func TestAttachments(t *testing.T) {
	m := mustParse(t, filepath.Join(mailDir, "valid", "attachments.eml"))
	poc := "import requests\nrequests.get('https://www.example.org/search', params={'q': '<script>alert(1)</script>'})\n"
	want := []Attachment{
		{Name: "poc.py", ContentType: "text/x-python", Size: int64(len(poc)), Hash: sha(poc)},
		{Name: "screené.png", ContentType: "image/png", Size: 29},
	}
	if len(m.Attachments) != 2 {
		t.Fatalf("Parse() Attachments = %v, want 2", m.Attachments)
	}
	want[1].Hash = m.Attachments[1].Hash
	if !reflect.DeepEqual(m.Attachments, want) {
		t.Errorf("Parse() Attachments = %+v, want %+v", m.Attachments, want)
	}
	if m.Parts != 6 || m.Depth != 2 {
		t.Errorf("Parse() Parts, Depth = %d, %d, want 6, 2", m.Parts, m.Depth)
	}
}

// TestReports checks Report extraction from real DSNs, MDNs and ARF reports.
func TestReports(t *testing.T) {
	tests := []struct {
		file string
		want Report
	}{
		{"automated/bounces/flanker/mailbox-full.eml", Report{Type: "delivery-status", Action: "failed", Status: "5.2.2", FinalRecipient: "user@aol.com", OriginalMessageID: "4E326A95.3010907@example.com"}},
		{"automated/bounces/sisimai/lhost-amazonses-01.eml", Report{Type: "delivery-status", Action: "failed", Status: "5.0.0", FinalRecipient: "shironeko@example.co.jp", OriginalMessageID: "000001321defbd2a-788e31c8-2be1-422f-a8d4-cf7765cc9ed7-000000@email.amazonses.com"}},
		{"automated/bounces/ruby-mail/report_422.eml", Report{Type: "delivery-status", Action: "delayed", Status: "4.2.2", FinalRecipient: "fraser@oooooooo.com.au", OriginalMessageID: "15655788.13.1200472642578.JavaMail.Administrator@mail.ttttt.com.au"}},
		{"automated/bounces/flanker/office365.eml", Report{Type: "delivery-status", Action: "failed", Status: "5.1.10", FinalRecipient: "noname@example.com", OriginalMessageID: "20171013111011.20866.254C2F3A4D7AA526@ninomail.com"}},
		{"automated/bounces/sisimai/lhost-sendmail-01.eml", Report{Type: "delivery-status", Action: "failed", Status: "5.1.1", FinalRecipient: "userunknown@bouncehammer.jp", OriginalMessageID: "E1C50F1B-1C83-4820-BC36-AC6FBFBE8568@example.org"}},
		// Bare CR line endings: the same report as lhost-postfix-01.eml.
		{"automated/bounces/sisimai/lhost-postfix-01.CR-only.eml", Report{Type: "delivery-status", Action: "failed", Status: "5.1.1", FinalRecipient: "r@p351355.pool.example.ne.jp"}},
		{"automated/bounces/enmime/delayed_dsn.raw", Report{Type: "delivery-status", Action: "delayed", Status: "4.0.0", FinalRecipient: "thomas@de-montfort.ac.uk"}},
		// Top-level message/delivery-status, no multipart/report around it.
		{"automated/bounces/flanker/delayed-broken.eml", Report{Type: "delivery-status", Action: "failed", Status: "4.2.2", FinalRecipient: "demo@example.com"}},
		{"automated/bots-and-reports/flanker/disposition-notification.eml", Report{Type: "disposition-notification", FinalRecipient: "Joe_Recipient@example.com", OriginalMessageID: "199509192301.23456@example.org"}},
		{"automated/bots-and-reports/flanker/complaint-aol.eml", Report{Type: "feedback-report", OriginalMessageID: "20101117174130.28884.55421@luna"}},
		// multipart/report without report-type: the type comes from the part.
		{"automated/bots-and-reports/flanker/complaint-yahoo.eml", Report{Type: "feedback-report", OriginalMessageID: "20120711015015.4A8BE2E088E@www.example.com"}},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			m := mustParse(t, filepath.Join(mailDir, tt.file))
			if m.Report == nil {
				t.Fatalf("Parse() Report = nil, want %+v", tt.want)
			}
			if *m.Report != tt.want {
				t.Errorf("Parse() Report = %+v, want %+v", *m.Report, tt.want)
			}
		})
	}
}

// nested builds n multiparts, each inside the last.
func nested(n int) []byte {
	var b bytes.Buffer
	b.WriteString("From: a@example.com\r\nSubject: deep\r\nContent-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "--b%d\r\nContent-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n", i-1, i)
	}
	fmt.Fprintf(&b, "--b%d\r\nContent-Type: text/plain\r\n\r\nbottom\r\n", n)
	for i := n; i >= 0; i-- {
		fmt.Fprintf(&b, "--b%d--\r\n", i)
	}
	return b.Bytes()
}

// flat builds one multipart with n text parts.
func flat(n int) []byte {
	var b bytes.Buffer
	b.WriteString("From: a@example.com\r\nContent-Type: multipart/mixed; boundary=\"x\"\r\n\r\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "--x\r\nContent-Type: application/octet-stream\r\n\r\n%d\r\n", i)
	}
	b.WriteString("--x--\r\n")
	return b.Bytes()
}

// TestNestingRefused: go-message caps neither nesting nor part count; 10,000
// nested multiparts took it 16 s and 469 MiB. Parse must refuse them early
// (BenchmarkNested measures how fast).
func TestNestingRefused(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		lim  Limits
		want error
	}{
		{"10000 nested", nested(10000), Limits{}, ErrTooDeep},
		{"21 nested", nested(21), Limits{}, ErrTooDeep},
		{"3 nested, MaxDepth 2", nested(3), Limits{MaxDepth: 2}, ErrTooDeep},
		{"600 parts", flat(600), Limits{}, ErrTooManyParts},
		{"10000 nested, MaxParts 5", nested(10000), Limits{MaxParts: 5}, ErrTooManyParts},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse(bytes.NewReader(tt.in), tt.lim)
			if !errors.Is(err, tt.want) || m != nil {
				t.Errorf("Parse() = %v, %v, want nil, %v", m, err, tt.want)
			}
		})
	}
	// At the limits themselves the message is fine.
	m, err := Parse(bytes.NewReader(nested(19)), Limits{})
	if err != nil || m.Depth != 20 || !strings.Contains(m.Text, "bottom") {
		t.Errorf("Parse(19 nested) = depth %v, %v, want depth 20, nil", m, err)
	}
	m, err = Parse(bytes.NewReader(flat(499)), Limits{})
	if err != nil || m.Parts != 500 || len(m.Attachments) != 499 {
		t.Errorf("Parse(499 parts) = %v, want 500 parts and nil error", err)
	}
}

func BenchmarkNested10000(b *testing.B) {
	in := nested(10000)
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := Parse(bytes.NewReader(in), Limits{}); !errors.Is(err, ErrTooDeep) {
			b.Fatalf("Parse() = %v, want %v", err, ErrTooDeep)
		}
	}
}

// BenchmarkCorpus parses every corpus message once per iteration: the time
// per message is ns/op divided by the file count (logged).
func BenchmarkCorpus(b *testing.B) {
	var msgs [][]byte
	for _, sub := range []string{"valid", "malformed", "automated"} {
		for _, f := range corpusFiles(b, sub) {
			data, err := os.ReadFile(f)
			if err != nil {
				b.Fatal(err)
			}
			msgs = append(msgs, data)
		}
	}
	b.Logf("%d messages", len(msgs))
	for b.Loop() {
		for _, m := range msgs {
			Parse(bytes.NewReader(m), Limits{})
		}
	}
}

func BenchmarkLargestCorpusMessage(b *testing.B) {
	data, err := os.ReadFile(filepath.Join(mailDir, "malformed/mime-torture/mailparser-js/outofmemory.eml"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(bytes.NewReader(data), Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestLimits(t *testing.T) {
	big := "From: a@example.com\r\nSubject: big\r\n\r\n" + strings.Repeat("é", 3000) + "\r\n"
	t.Run("MaxSize", func(t *testing.T) {
		m, err := parseString(t, big, Limits{MaxSize: 1000})
		if !errors.Is(err, ErrTooLarge) || m != nil {
			t.Errorf("Parse() = %v, want %v", err, ErrTooLarge)
		}
		if _, err := parseString(t, big, Limits{MaxSize: int64(len(big))}); err != nil {
			t.Errorf("Parse() at exactly MaxSize = %v, want nil", err)
		}
	})
	t.Run("MaxTextBytes", func(t *testing.T) {
		m, err := parseString(t, big, Limits{MaxTextBytes: 1001})
		if err != nil {
			t.Fatalf("Parse() = %v, want nil", err)
		}
		if !m.Truncated || len(m.Text) != 1000 || !utf8.ValidString(m.Text) {
			t.Errorf("Parse() Truncated, len(Text) = %v, %d, want true, 1000 (cut at a rune boundary)", m.Truncated, len(m.Text))
		}
	})
	t.Run("top header", func(t *testing.T) {
		in := "From: a@example.com\r\nX-Junk: " + strings.Repeat("x", 5000) + "\r\n\r\nbody\r\n"
		if _, err := parseString(t, in, Limits{MaxHeaderBytes: 4096}); !errors.Is(err, ErrHeaderTooLarge) {
			t.Errorf("Parse() = %v, want %v", err, ErrHeaderTooLarge)
		}
		// Many folded lines count too.
		in = "From: a@example.com\r\nX-Junk: a\r\n" + strings.Repeat(" b\r\n", 2000) + "\r\nbody\r\n"
		if _, err := parseString(t, in, Limits{MaxHeaderBytes: 4096}); !errors.Is(err, ErrHeaderTooLarge) {
			t.Errorf("Parse() folded = %v, want %v", err, ErrHeaderTooLarge)
		}
	})
	t.Run("part header", func(t *testing.T) {
		in := "From: a@example.com\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n" +
			strings.Repeat("X-Junk: yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\r\n", 20000) + "\r\nbody\r\n--x--\r\n"
		if _, err := parseString(t, in, Limits{MaxHeaderBytes: 64 << 10}); !errors.Is(err, ErrHeaderTooLarge) {
			t.Errorf("Parse() = %v, want %v", err, ErrHeaderTooLarge)
		}
		if _, err := parseString(t, in, Limits{MaxHeaderBytes: 2 << 20}); err != nil {
			t.Errorf("Parse() with a large MaxHeaderBytes = %v, want nil", err)
		}
	})
	t.Run("MaxPGPBytes", func(t *testing.T) {
		data, err := os.ReadFile(filepath.Join(mailDir, "valid", "inline-pgp.eml"))
		if err != nil {
			t.Fatal(err)
		}
		m, err := Parse(bytes.NewReader(data), Limits{MaxPGPBytes: 100})
		if err != nil || len(m.PGP) != 0 || !slices.ContainsFunc(m.Warnings, func(w string) bool { return strings.Contains(w, "OpenPGP limit") }) {
			t.Errorf("Parse() = %v, PGP %d, warnings %q, want the block dropped with a warning", err, len(m.PGP), m.Warnings)
		}
		if !strings.Contains(m.Text, "BEGIN PGP MESSAGE") {
			t.Errorf("Parse() Text = %q, want the armored text kept as text", m.Text)
		}
	})
	t.Run("reads no further than MaxSize+1", func(t *testing.T) {
		r := &countReader{r: strings.NewReader(big + strings.Repeat("z", 1<<20))}
		Parse(r, Limits{MaxSize: 4096})
		if r.n > 4096+1 {
			t.Errorf("Parse() read %d bytes, want at most %d", r.n, 4096+1)
		}
	})
}

type panicReader struct{ n int }

func (p *panicReader) Read(b []byte) (int, error) {
	if p.n > 0 {
		panic("boom")
	}
	p.n++
	return copy(b, "From: a@example.com\r\n"), nil
}

func TestPanicRecovered(t *testing.T) {
	m, err := Parse(&panicReader{}, Limits{})
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "boom") || m != nil {
		t.Errorf("Parse() = %v, %v, want nil, ErrMalformed wrapping the panic", m, err)
	}
}

// TestQuirks covers broken mail that must still parse, with a warning.
func TestQuirks(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		text    string // substring of Text
		subject string
		warning string // substring of one warning; "" means none expected
		check   func(t *testing.T, m *Message)
	}{
		{name: "bare LF", in: "From: a@example.com\nSubject: lf\n\nline one\nline two\n", text: "line one\nline two", subject: "lf"},
		{name: "CR CR LF", in: "From: a@example.com\r\r\nSubject: crcrlf\r\r\n\r\r\nbody text\r\r\n", text: "body text", subject: "crcrlf"},
		{name: "bare CR", in: "From: a@example.com\rSubject: cr\r\rbody text\r", text: "body text", subject: "cr", warning: "bare CR"},
		{name: "8-bit header", in: "From: J\xfcrgen <j@example.com>\r\nSubject: Gr\xfc\xdfe\r\n\r\nhallo\r\n", text: "hallo", subject: "Grüße",
			check: func(t *testing.T, m *Message) {
				if len(m.From) != 1 || m.From[0].Address != "j@example.com" || m.From[0].Name != "Jürgen" {
					t.Errorf("Parse() From = %v, want Jürgen <j@example.com>", m.From)
				}
			}},
		{name: "raw UTF-8 header", in: "From: Jürgen <j@example.com>\r\nSubject: Grüße\r\n\r\nhallo\r\n", subject: "Grüße"},
		{name: "undecodable encoded word", in: "From: a@example.com\r\nSubject: =?x-unknown?Q?abc?=\r\n\r\nx\r\n", subject: "=?x-unknown?Q?abc?=", warning: "subject"},
		{name: "missing final boundary",
			in:   "From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nfirst part\r\n--b\r\nContent-Type: text/plain\r\n\r\nsecond part\r\n",
			text: "first part\nsecond part", warning: "missing final boundary"},
		{name: "unknown charset", in: "From: a@example.com\r\nContent-Type: text/plain; charset=x-klingon\r\n\r\nplain ascii\r\n", text: "plain ascii", warning: "unknown charset"},
		{name: "unknown top-level transfer encoding",
			in:   "From: a@example.com\r\nContent-Transfer-Encoding: x-rot13\r\n\r\nopaque body\r\n",
			text: "opaque body", warning: "unknown transfer encoding"},
		{name: "mbox From line", in: "From someone@example.com Mon Jan  5 10:00:00 2026\r\nFrom: a@example.com\r\nSubject: mbox\r\n\r\nx\r\n", subject: "mbox", warning: "mbox"},
		{name: "byte order mark", in: "\xef\xbb\xbfFrom: a@example.com\r\nSubject: bom\r\n\r\nx\r\n", subject: "bom", warning: "byte order mark"},
		{name: "garbage line in header", in: "From: a@example.com\r\nthis is no field\r\nSubject: after\r\n\r\nx\r\n", subject: "after", warning: "not a field"},
		{name: "no body", in: "From: a@example.com\r\nSubject: only a header", subject: "only a header"},
		{name: "two From fields", in: "From: a@example.com\r\nFrom: b@example.com\r\n\r\nx\r\n",
			check: func(t *testing.T, m *Message) {
				if m.FromCount != 2 || len(m.From) != 1 || m.From[0].Address != "a@example.com" {
					t.Errorf("Parse() FromCount, From = %d, %v, want 2, [a@example.com]", m.FromCount, m.From)
				}
			}},
		{name: "repeated fields", in: "Subject: on top\r\nFrom: a@example.com\r\nSubject: signed\r\nmessage-id: <1@x>\r\nMessage-ID: <2@x>\r\nReferences: <r@x>\r\n\r\nx\r\n",
			subject: "on top",
			check: func(t *testing.T, m *Message) {
				if strings.Join(m.Repeated, ",") != "Subject,Message-ID" {
					t.Errorf("Parse() Repeated = %v, want [Subject Message-ID]", m.Repeated)
				}
			}},
		{name: "lenient From", in: "From: MAILER-DAEMON (Mail Delivery System)\r\n\r\nx\r\n", warning: "lenient",
			check: func(t *testing.T, m *Message) {
				if len(m.From) != 1 || m.From[0].Address != "MAILER-DAEMON" {
					t.Errorf("Parse() From = %v, want MAILER-DAEMON", m.From)
				}
			}},
		{name: "multipart without boundary", in: "From: a@example.com\r\nContent-Type: multipart/mixed\r\n\r\nsome text\r\n", text: "some text", warning: "without boundary"},
		{name: "unparseable date", in: "From: a@example.com\r\nDate: yesterday\r\n\r\nx\r\n", warning: "date",
			check: func(t *testing.T, m *Message) {
				if !m.Date.IsZero() {
					t.Errorf("Parse() Date = %v, want zero", m.Date)
				}
			}},
		{name: "html in alternative loses to plain",
			in: "From: a@example.com\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>html version</p>\r\n" +
				"--b\r\nContent-Type: text/plain\r\n\r\nplain version\r\n--b--\r\n",
			text: "plain version",
			check: func(t *testing.T, m *Message) {
				if m.TextFromHTML || strings.Contains(m.Text, "html version") {
					t.Errorf("Parse() Text = %q (from HTML %v), want the plain part only", m.Text, m.TextFromHTML)
				}
			}},
		{name: "armor in HTML pre", in: "From: a@example.com\r\nContent-Type: text/html\r\n\r\n<p>see below</p><pre>-----BEGIN PGP MESSAGE-----\n\nhF4D\n=abcd\n-----END PGP MESSAGE-----\n</pre>\r\n",
			text: "see below", check: htmlPGP},
		{name: "armor in HTML with br", in: "From: a@example.com\r\nContent-Type: text/html\r\n\r\n<div>-----BEGIN PGP MESSAGE-----<br><br>\r\nhF4D<br>\r\n=abcd<br>-----END PGP MESSAGE-----</div>\r\n",
			check: htmlPGP},
		{name: "quoted-printable soft breaks", in: "From: a@example.com\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nlong =\r\nline =C3=A9\r\n", text: "long line é"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := parseString(t, tt.in, Limits{})
			if err != nil {
				t.Fatalf("Parse() = %v, want nil", err)
			}
			if !strings.Contains(m.Text, tt.text) {
				t.Errorf("Parse() Text = %q, want it to contain %q", m.Text, tt.text)
			}
			if tt.subject != "" && m.Subject != tt.subject {
				t.Errorf("Parse() Subject = %q, want %q", m.Subject, tt.subject)
			}
			if tt.warning == "" && len(m.Warnings) > 0 && tt.check == nil {
				t.Errorf("Parse() Warnings = %q, want none", m.Warnings)
			}
			if tt.warning != "" && !slices.ContainsFunc(m.Warnings, func(w string) bool { return strings.Contains(w, tt.warning) }) {
				t.Errorf("Parse() Warnings = %q, want one containing %q", m.Warnings, tt.warning)
			}
			if tt.check != nil {
				tt.check(t, m)
			}
		})
	}
}

func htmlPGP(t *testing.T, m *Message) {
	t.Helper()
	want := "-----BEGIN PGP MESSAGE-----\n\nhF4D\n=abcd\n-----END PGP MESSAGE-----"
	if len(m.PGP) != 1 || m.PGP[0].Kind != "inline" || strings.TrimSpace(string(m.PGP[0].Data)) != want || !m.TextFromHTML {
		t.Errorf("Parse() PGP = %+v (from HTML %v), want one inline block %q", m.PGP, m.TextFromHTML, want)
	}
}

func TestRefused(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", ErrMalformed},
		{"no header", "just some text\r\nand more\r\n", ErrMalformed},
		{"blank line first", "\r\nbody\r\n", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if m, err := parseString(t, tt.in, Limits{}); !errors.Is(err, tt.want) || m != nil {
				t.Errorf("Parse() = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestMsgIDs(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"<a@b>", []string{"a@b"}},
		{"<a@b> <c@d>", []string{"a@b", "c@d"}},
		// One malformed id does not hide the others.
		{"<a@b> <bad id <c@d>", []string{"a@b", "c@d"}},
		{"<a@b> garbage <c@d> <e@f", []string{"a@b", "c@d", "e@f"}},
		{"<a@b>,<c@d>", []string{"a@b", "c@d"}},
		{"<a@b>\r\n <c@d>", []string{"a@b", "c@d"}},
		// Duplicates once.
		{"<a@b> <a@b> <c@d>", []string{"a@b", "c@d"}},
		// Comments and quoted strings are skipped.
		{`<a@b> (Joe's message of "Mon <x@y>")`, []string{"a@b"}},
		{`Your message of "Mon, 5 Jan" <a@b>`, []string{"a@b"}},
		// No brackets at all: the words with an @.
		{"a@b c@d", []string{"a@b", "c@d"}},
		{"someone@yahoo.com", []string{"someone@yahoo.com"}},
		// Folding white space inside brackets is removed.
		{"<abc\r\n def@example.com>", []string{"abcdef@example.com"}},
		{"<>", nil},
		{"no ids here", nil},
	}
	for _, tt := range tests {
		if got := MsgIDs(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("MsgIDs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// A huge References keeps its root and its newest ids.
	var b strings.Builder
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&b, "<id%d@example.com> ", i)
	}
	got := MsgIDs(b.String())
	if len(got) != maxIDs || got[0] != "id0@example.com" || got[len(got)-1] != "id999@example.com" || got[1] != "id901@example.com" {
		t.Errorf("MsgIDs(1000 ids) = %d ids [%s %s ... %s], want %d: root, then the newest", len(got), got[0], got[1], got[len(got)-1], maxIDs)
	}
}

func FuzzParse(f *testing.F) {
	for _, sub := range []string{"valid", "malformed", "automated"} {
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
	f.Add(nested(30))
	f.Add([]byte(arfUnindentedBoundary))
	lim := Limits{MaxSize: 1 << 20, MaxTextBytes: 4096, MaxPGPBytes: 4096, MaxParts: 50, MaxDepth: 8, MaxHeaderBytes: 8192}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(bytes.NewReader(data), lim)
		if err != nil {
			if m != nil {
				t.Fatalf("Parse() = %v with a message, want nil message", err)
			}
			if strings.Contains(err.Error(), "panic") {
				t.Fatalf("Parse() = %v", err)
			}
			return
		}
		if len(m.Text) > lim.MaxTextBytes || m.Parts > lim.MaxParts || m.Depth > lim.MaxDepth || !utf8.ValidString(m.Text) {
			t.Fatalf("Parse(): text %d, parts %d, depth %d: outside the limits", len(m.Text), m.Parts, m.Depth)
		}
		checkAddresses(t, m)
		var pgp int64
		for i, b := range m.PGP {
			pgp += int64(len(b.Data))
			checkPlace(t, "input", &m.PGP[i], data)
		}
		for _, k := range m.Keys {
			pgp += int64(len(k))
		}
		if pgp > lim.MaxPGPBytes {
			t.Fatalf("Parse(): %d bytes of OpenPGP data kept, limit %d", pgp, lim.MaxPGPBytes)
		}
	})
}

func FuzzMsgIDs(f *testing.F) {
	for _, s := range []string{"<a@b> <c@d>", "<a@b> <bad <c@d>", `(x <y@z>) "q <r@s>" <t@u>`, "a@b, c@d", "<", "<<>>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids := MsgIDs(s)
		if len(ids) > maxIDs {
			t.Fatalf("MsgIDs() = %d ids, want at most %d", len(ids), maxIDs)
		}
		seen := map[string]bool{}
		for _, id := range ids {
			if id == "" || seen[id] || strings.ContainsAny(id, "<> \t\r\n") && !strings.Contains(s, id) || !utf8.ValidString(id) {
				t.Fatalf("MsgIDs(%q) = %q: empty, duplicate or invalid id %q", s, ids, id)
			}
			seen[id] = true
		}
	})
}

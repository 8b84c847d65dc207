package team

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func testdataMails(t testing.TB) map[string]string {
	t.Helper()
	files, err := filepath.Glob("testdata/mail/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata mails: %v", err)
	}
	out := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[f] = string(b)
	}
	return out
}

// TestTestdataMails checks each mail against its .want file.
func TestTestdataMails(t *testing.T) {
	for name, text := range testdataMails(t) {
		want, err := os.ReadFile(strings.TrimSuffix(name, ".txt") + ".want")
		if err != nil {
			t.Fatal(err)
		}
		cmds, errs := Parse(text)
		byLine := map[int]string{}
		for _, c := range cmds {
			byLine[c.Line] = strings.TrimSpace(fmt.Sprintf("%d %s %s", c.Line, c.Name, strings.ReplaceAll(c.Arg, "\n", `\n`)))
		}
		for _, e := range errs {
			byLine[e.Line] = fmt.Sprintf("%d ! %s", e.Line, e.Msg)
		}
		var got []string
		for _, l := range slices.Sorted(maps.Keys(byLine)) {
			got = append(got, byLine[l])
		}
		if g, w := strings.Join(got, "\n"), strings.TrimSpace(string(want)); g != w {
			t.Errorf("Parse(%s) =\n%s\nwant\n%s", name, g, w)
		}
		body := Body(text)
		if strings.Contains(body, "\n>") || strings.HasPrefix(body, ">") || strings.Contains(body, "Original Message") ||
			strings.Contains(body, " wrote:") || strings.Contains(body, "schrieb") || strings.Contains(body, "schreef") {
			t.Errorf("Body(%s) = %q, still holds quoted history", name, body)
		}
	}
}

func FuzzParseCommands(f *testing.F) {
	for _, text := range testdataMails(f) {
		f.Add(text)
	}
	f.Add("severity CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N\nextend 3d\n")
	f.Add("note\n")
	f.Add("status:\n--\nclaim")
	f.Add("key accept 0123 4567 89ab cdef 0123  4567 89AB CDEF 0123 4567\nKey points\n")
	f.Add("Out of scope: 3\nnot spam\nout-of-scope 0012\nNot spam, sorry\n")
	f.Fuzz(func(t *testing.T, text string) {
		cmds, errs := Parse(text)
		n := len(lines(text))
		if len(cmds) > maxCommands {
			t.Fatalf("Parse() = %d commands, want at most %d", len(cmds), maxCommands)
		}
		last := 0
		for _, c := range cmds {
			if c.Line <= last || c.Line > n {
				t.Fatalf("Parse() command line %d after %d, want increasing within 1..%d", c.Line, last, n)
			}
			last = c.Line
			if !contains(verbs, c.Name) && c.Name != CmdInternal {
				t.Fatalf("Parse() command %q, want a known name", c.Name)
			}
			if c.Name == CmdSeverity && (c.Severity == nil || !contains(Levels, c.Severity.Level)) {
				t.Fatalf("Parse() severity %+v without a level", c.Severity)
			}
			if c.Name == CmdKey && (len(c.Arg) != 40 && len(c.Arg) != 64 || strings.Trim(c.Arg, "0123456789ABCDEF") != "") {
				t.Fatalf("Parse() key accept fingerprint %q, want 40 or 64 uppercase hex digits", c.Arg)
			}
			if c.Name == CmdExtend && (c.Days < 1 || c.Days > maxExtend) {
				t.Fatalf("Parse() extend %d out of range", c.Days)
			}
			if c.Name == CmdOutOfScope && (c.Entry < 1 || c.Entry > maxEntry || c.Arg != strconv.Itoa(c.Entry)) {
				t.Fatalf("Parse() out-of-scope entry %d, arg %q, want 1..%d written as a number", c.Entry, c.Arg, maxEntry)
			}
			if c.Name != CmdOutOfScope && c.Entry != 0 {
				t.Fatalf("Parse() %s with entry %d, want 0", c.Name, c.Entry)
			}
			if c.Name == CmdNotSpam && c.Arg != "" {
				t.Fatalf("Parse() not-spam with argument %q", c.Arg)
			}
		}
		for _, e := range errs {
			if e.Line < 1 || e.Line > n || len(e.Text) > 80 || e.Msg == "" {
				t.Fatalf("Parse() error %+v: line out of range, text too long or no message", e)
			}
		}
		_ = Body(text)
	})
}

func FuzzTrimQuoted(f *testing.F) {
	for _, text := range testdataMails(f) {
		f.Add(text)
	}
	f.Add("a\n\n\n> b\nOn 1 Jan, X wrote:\n")
	f.Add("From: a\nTo: b\n")
	f.Fuzz(func(t *testing.T, text string) {
		out := TrimQuoted(text)
		if len(out) > len(text) {
			t.Fatalf("TrimQuoted() = %d bytes from %d, want no growth", len(out), len(text))
		}
		if utf8.ValidString(text) && !utf8.ValidString(out) {
			t.Fatalf("TrimQuoted() made invalid UTF-8")
		}
		if strings.Contains(out, "\r") && !strings.Contains(text, "\r") {
			t.Fatalf("TrimQuoted() added a CR")
		}
		ls := strings.Split(out, "\n")
		for i, l := range ls {
			if isQuoted(l) {
				t.Fatalf("TrimQuoted() kept quoted line %q", l)
			}
			if out != "" && l == "" && (i == 0 || i == len(ls)-1 || ls[i-1] == "") {
				t.Fatalf("TrimQuoted() = %q: leading, trailing or doubled blank line", out)
			}
		}
	})
}

package cli

import (
	"bytes"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestPrintableWriter(t *testing.T) {
	tests := []struct {
		name   string
		writes []string
		want   string
	}{
		{"plain text, newline and tab kept", []string{"a\tb\nc é 日本"}, "a\tb\nc é 日本"},
		{"OSC title and BEL", []string{"\x1b]0;pwned\x07"}, `\u001b]0;pwned\u0007`},
		{"CSI colour, CR, DEL", []string{"\x1b[31mred\r\x7f"}, `\u001b[31mred\u000d\u007f`},
		{"C1 CSI", []string{"\u009b2J"}, `\u009b2J`},
		{"format characters", []string{"\u202eevil\u200b\ufeff\u2060\u061c"}, `\u202eevil\u200b\ufeff\u2060\u061c`},
		{"line separator", []string{"a\u2028b"}, `a\u2028b`},
		{"format character above U+FFFF", []string{"tag\U000E0041"}, `tag\udb40\udc41`},
		{"invalid byte", []string{"a\xffb"}, `a\xffb`},
		{"rune cut between writes", []string{"x\xe2\x80", "\xaey"}, `x\u202ey`},
		{"printable rune cut between writes", []string{"caf\xc3", "\xa9"}, "café"},
		{"rune cut at the end", []string{"z\xe2\x80"}, `z\xe2\x80`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			w := newPrintableWriter(&b)
			for _, s := range tt.writes {
				if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
					t.Fatalf("Write(%q) = %d, %v, want %d, nil", s, n, err, len(s))
				}
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("printableWriter wrote %q, want %q", b.String(), tt.want)
			}
		})
	}
}

// FuzzPrintableWriter: whatever comes in, and however the writes are cut,
// the output is valid UTF-8 without a control or format character other
// than newline and tab, and the same as written in one piece.
func FuzzPrintableWriter(f *testing.F) {
	f.Add([]byte("\x1b]0;t\x07 \u202e\u200b\U000E0041 é\xff"), 3)
	f.Fuzz(func(t *testing.T, in []byte, cut int) {
		var whole, split bytes.Buffer
		w := newPrintableWriter(&whole)
		w.Write(in)
		w.Flush()
		if cut < 0 || cut > len(in) {
			cut = len(in) / 2
		}
		w = newPrintableWriter(&split)
		w.Write(in[:cut])
		w.Write(in[cut:])
		w.Flush()
		if whole.String() != split.String() {
			t.Fatalf("one write gave %q, two writes %q", whole.String(), split.String())
		}
		if !utf8.Valid(whole.Bytes()) {
			t.Fatalf("output %q is not UTF-8", whole.String())
		}
		for _, r := range whole.String() {
			if r != '\n' && r != '\t' && (unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp)) {
				t.Fatalf("output %q has %U", whole.String(), r)
			}
		}
	})
}

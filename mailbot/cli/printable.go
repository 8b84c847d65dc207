package cli

import (
	"fmt"
	"io"
	"sync"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// printableWriter is the one filter between every command and a terminal:
// what the store holds came from mail, and a subject, an address or a key's
// user ID must not set a window title (ESC ] 0 ; ... BEL), colour or move
// the cursor (CSI), or reverse what follows (U+202E). It writes C0 and C1
// controls other than newline and tab, DEL, line and paragraph separators
// and format characters (Unicode Cf) as \uXXXX (two escapes, a UTF-16
// surrogate pair, above U+FFFF), and a byte that is not UTF-8 as \xNN.
//
// JSON stays JSON: those characters only ever appear inside JSON strings,
// where \uXXXX is the same character. Output that is a file's content
// (publish) is written unfiltered.
type printableWriter struct {
	mu   sync.Mutex // the daemon's goroutines log through it
	w    io.Writer
	tail []byte // the start of a rune cut by the end of the last Write
}

func newPrintableWriter(w io.Writer) *printableWriter { return &printableWriter{w: w} }

func (p *printableWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	in := b
	if len(p.tail) > 0 {
		in = append(p.tail, b...)
		p.tail = nil
	}
	// Keep a rune cut at the end for the next Write.
	if cut := incompleteTail(in); cut > 0 {
		p.tail = append([]byte(nil), in[len(in)-cut:]...)
		in = in[:len(in)-cut]
	}
	if _, err := p.w.Write(escapeNonPrintable(nil, in, false)); err != nil {
		return 0, err
	}
	return len(b), nil
}

// Flush writes a rune still cut at the end, escaped byte by byte.
func (p *printableWriter) Flush() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.tail) == 0 {
		return nil
	}
	out := escapeNonPrintable(nil, p.tail, false)
	p.tail = nil
	_, err := p.w.Write(out)
	return err
}

// incompleteTail returns how many bytes at the end of b start a UTF-8
// sequence that the next bytes may complete.
func incompleteTail(b []byte) int {
	for n := 1; n <= utf8.UTFMax-1 && n <= len(b); n++ {
		c := b[len(b)-n]
		if c < utf8.RuneSelf {
			return 0
		}
		if utf8.RuneStart(c) {
			if !utf8.FullRune(b[len(b)-n:]) {
				return n
			}
			return 0
		}
	}
	return 0
}

// oneLine escapes a stored value printed inside a line or a table cell:
// what printableWriter escapes, and newline and tab as well, so a value
// cannot start a line of its own or shift the columns.
func oneLine(s string) string {
	return string(escapeNonPrintable(nil, []byte(s), true))
}

// escapeNonPrintable appends s to dst with every non-printable character
// escaped (see printableWriter); newline and tab too when inLine.
func escapeNonPrintable(dst, s []byte, inLine bool) []byte {
	for len(s) > 0 {
		r, size := utf8.DecodeRune(s)
		switch {
		case r == utf8.RuneError && size == 1:
			dst = fmt.Appendf(dst, `\x%02x`, s[0])
		case (r == '\n' || r == '\t') && !inLine:
			dst = append(dst, s[0])
		case unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp):
			if r > 0xffff {
				r1, r2 := utf16.EncodeRune(r)
				dst = fmt.Appendf(dst, `\u%04x\u%04x`, r1, r2)
			} else {
				dst = fmt.Appendf(dst, `\u%04x`, r)
			}
		default:
			dst = append(dst, s[:size]...)
		}
		s = s[size:]
	}
	return dst
}

package intake

import (
	"strings"
	"testing"
)

// TestPlainSink: decrypted text is kept up to the limit, cut at a rune
// boundary, and binary plaintext is no text, however the writes split it.
func TestPlainSink(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		max   int
		want  string
		valid bool
	}{
		{"ascii", "hello", 100, "hello", true},
		{"utf-8", "Grüße aus Köln ✓", 100, "Grüße aus Köln ✓", true},
		{"cut at the limit", "aaaé", 4, "aaa", true},
		{"cut after the rune", "aaéb", 4, "aaé", true},
		{"cut, then more that would fit", "aaaéb", 4, "aaa", true},
		{"invalid byte", "ab\xffcd", 100, "", false},
		{"invalid past the limit", "abcd\xff", 2, "", false},
		{"truncated rune at the end", "ab\xe2\x9c", 100, "", false},
		{"bad continuation", "a\xe2(b", 100, "", false},
	}
	for _, tt := range tests {
		for _, step := range []int{1, 2, 3, 1 << 20} {
			s := &plainSink{max: tt.max}
			for in := tt.in; len(in) > 0; {
				n := min(step, len(in))
				s.Write([]byte(in[:n]))
				in = in[n:]
			}
			got, ok := s.text()
			if !ok {
				got = "" // not to be used: whatever was kept
			}
			if got != tt.want || ok != tt.valid {
				t.Errorf("%s, writes of %d: text() = %q, %v, want %q, %v", tt.name, step, got, ok, tt.want, tt.valid)
			}
		}
	}
	// A large text grows its buffer by doubling, never past the limit.
	s := &plainSink{max: 1 << 20}
	chunk := []byte(strings.Repeat("x", 32<<10))
	for range 64 {
		s.Write(chunk)
	}
	if got, ok := s.text(); len(got) != 1<<20 || !ok || s.b.Cap() > 2<<20 {
		t.Errorf("2 MiB written: text() = %d bytes, %v, capacity %d; want %d bytes, true, at most %d", len(got), ok, s.b.Cap(), 1<<20, 2<<20)
	}
}

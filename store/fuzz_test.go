package store

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }

// FuzzTimeKey checks that the 12-byte time keys of the due and sends indexes
// round-trip and sort like the times they encode.
func FuzzTimeKey(f *testing.F) {
	f.Add(int64(0), int64(0), int64(1), int64(0))
	f.Add(t0.Unix(), int64(999_999_999), t0.Unix(), int64(0))
	f.Add(time.Time{}.Unix(), int64(0), int64(-1), int64(5))
	f.Add(int64(-1), int64(999_999_999), int64(0), int64(0))
	f.Add(int64(1)<<62, int64(1), -(int64(1) << 62), int64(2))
	f.Fuzz(func(t *testing.T, s1, n1, s2, n2 int64) {
		a := time.Unix(s1, n1%1e9)
		b := time.Unix(s2, n2%1e9)
		ka, kb := make([]byte, timeKeyLen), make([]byte, timeKeyLen)
		putTime(ka, a)
		putTime(kb, b)
		if got := getTime(ka); !got.Equal(a) {
			t.Fatalf("getTime(putTime(%v)) = %v", a, got)
		}
		if got, want := bytes.Compare(ka, kb), a.Compare(b); got != want {
			t.Fatalf("compare keys of %v and %v = %d, want %d", a, b, got, want)
		}
	})
}

// FuzzNormalizeMessageID checks that normalizing is idempotent and that
// every id that can be indexed round-trips through the index unchanged.
func FuzzNormalizeMessageID(f *testing.F) {
	for _, s := range []string{"<a@b>", " <a@b> ", "a@b", "<>", "", "<<a@b>>", "< a@b >", "\t<x@y>\r\n", strings.Repeat("x", 1000)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		n := NormalizeMessageID(id)
		if NormalizeMessageID(n) != n && !strings.HasPrefix(n, "<") && !strings.HasSuffix(n, ">") {
			t.Fatalf("NormalizeMessageID(%q) = %q, not idempotent", id, n)
		}
		k, ok := msgIDKey(id)
		if ok && (string(k) != n || len(k) == 0 || len(k) > maxIndexKey) {
			t.Fatalf("msgIDKey(%q) = %q, want %q", id, k, n)
		}
	})
}

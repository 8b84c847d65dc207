package store

import (
	"bytes"
	"encoding/json"
	"slices"
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
// an id's index key is the hash of its normalized form.
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
		if ok != (n != "" && len(n) <= maxIndexKey) {
			t.Fatalf("msgIDKey(%q) ok = %v, want %v", id, ok, !ok)
		}
		if ok && !bytes.Equal(k, msgIDHash(n)) {
			t.Fatalf("msgIDKey(%q) = %x, want the hash of %q", id, k, n)
		}

	})
}

// FuzzRecord checks that a record survives the record encoding unchanged
// and that no stored value, however damaged, makes decoding panic.
func FuzzRecord(f *testing.F) {
	f.Add("note", "ann@example.com", "see <x@y>", []byte(`{"Kind":"note"}`))
	f.Add("", "", strings.Repeat("ä", 300), append(slices.Clone(zstdMagic), 0x20, 0x00))
	f.Fuzz(func(t *testing.T, kind, actor, detail string, stored []byte) {
		var e Event
		_ = decodeRecord(stored, &e) // must not panic
		in := Event{Time: t0, Kind: kind, Actor: actor, Detail: detail, MessageID: 7}
		data, err := encodeRecord(in)
		if err != nil {
			t.Fatalf("encodeRecord() = %v", err)
		}
		var out Event
		if err := decodeRecord(data, &out); err != nil {
			t.Fatalf("decodeRecord(encodeRecord(%+v)) = %v", in, err)
		}
		// The same as plain JSON (which replaces invalid UTF-8).
		var want Event
		plain, _ := json.Marshal(in)
		if err := json.Unmarshal(plain, &want); err != nil {
			t.Fatal(err)
		}
		if !out.Time.Equal(want.Time) || out.Kind != want.Kind || out.Actor != want.Actor || out.Detail != want.Detail || out.MessageID != 7 {
			t.Fatalf("decodeRecord(encodeRecord(%+v)) = %+v", in, out)
		}
	})
}

package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rawEntries lists everything in the raw dir (relative paths), to find
// leftover temp files.
func rawEntries(t *testing.T, s *Store) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(s.rawDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(s.rawDir, p)
			names = append(names, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func TestSpoolRaw(t *testing.T) {
	s := openTest(t)
	data := bytes.Repeat([]byte("From: a@example.org\r\nSubject: x\r\n\r\nbody\r\n"), 5000) // ~200 KB, several copy buffers
	want := sha256.Sum256(data)
	wantHash := hex.EncodeToString(want[:])

	b, err := s.SpoolRaw(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("SpoolRaw() = %v", err)
	}
	if b.Hash != wantHash || b.Size != int64(len(data)) {
		t.Errorf("SpoolRaw() = %+v, want hash %s size %d", b, wantHash, len(data))
	}
	p := filepath.Join(s.rawDir, wantHash[:2], wantHash)
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatalf("raw file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("raw file mode = %v, want 0600", fi.Mode().Perm())
	}
	if di, _ := os.Stat(filepath.Dir(p)); di.Mode().Perm() != 0o700 {
		t.Errorf("raw subdir mode = %v, want 0700", di.Mode().Perm())
	}

	rc, err := s.OpenRaw(b.Hash)
	if err != nil {
		t.Fatalf("OpenRaw() = %v", err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("OpenRaw() read %d bytes, %v, want the %d spooled", len(got), err, len(data))
	}

	// Spooling the same bytes again is a no-op with the same result.
	b2, err := s.SpoolRaw(bytes.NewReader(data), 0)
	if err != nil || b2 != b {
		t.Errorf("SpoolRaw() again = %+v, %v, want %+v", b2, err, b)
	}
	if names := rawEntries(t, s); len(names) != 1 {
		t.Errorf("raw dir holds %v, want only the one file", names)
	}

	if err := s.RemoveRaw(b.Hash); err != nil {
		t.Errorf("RemoveRaw() = %v", err)
	}
	if _, err := s.OpenRaw(b.Hash); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("OpenRaw() after RemoveRaw = %v, want fs.ErrNotExist", err)
	}
	if err := s.RemoveRaw(b.Hash); err != nil {
		t.Errorf("RemoveRaw() of a missing file = %v, want nil", err)
	}
}

func TestSpoolRawEmpty(t *testing.T) {
	s := openTest(t)
	b, err := s.SpoolRaw(strings.NewReader(""), 10)
	if err != nil || b.Hash != sum("") || b.Size != 0 {
		t.Errorf("SpoolRaw(\"\") = %+v, %v, want hash %s size 0", b, err, sum(""))
	}
}

func TestSpoolRawLimit(t *testing.T) {
	tests := []struct {
		size   int
		max    int64
		tooBig bool
	}{
		{100, 100, false},
		{101, 100, true},
		{100_000, 99_999, true},
		{100_000, 0, false}, // no limit
		{1, 1, false},
	}
	for _, tc := range tests {
		s := openTest(t)
		data := bytes.Repeat([]byte{'x'}, tc.size)
		b, err := s.SpoolRaw(bytes.NewReader(data), tc.max)
		if tc.tooBig {
			if !errors.Is(err, ErrTooLarge) {
				t.Errorf("SpoolRaw(%d bytes, max %d) = %v, want ErrTooLarge", tc.size, tc.max, err)
			}
			if names := rawEntries(t, s); len(names) != 0 {
				t.Errorf("SpoolRaw(%d bytes, max %d) left %v behind", tc.size, tc.max, names)
			}
			continue
		}
		if err != nil || b.Size != int64(tc.size) || b.Hash != sum(string(data)) {
			t.Errorf("SpoolRaw(%d bytes, max %d) = %+v, %v", tc.size, tc.max, b, err)
		}
	}
}

type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, errors.New("connection reset")
	}
	n := min(len(p), r.n)
	r.n -= n
	return n, nil
}

func TestSpoolRawReadError(t *testing.T) {
	s := openTest(t)
	if _, err := s.SpoolRaw(&failingReader{n: 50_000}, 0); err == nil {
		t.Fatalf("SpoolRaw(failing reader) = nil error")
	}
	if names := rawEntries(t, s); len(names) != 0 {
		t.Errorf("SpoolRaw(failing reader) left %v behind", names)
	}
}

func TestOpenRawRefusesBadHashes(t *testing.T) {
	s := openTest(t)
	// A file that a path trick could reach.
	if err := os.WriteFile(filepath.Join(filepath.Dir(s.rawDir), "x"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{
		"../x", "", "..", "/etc/passwd",
		strings.ToUpper(sum("a")),
		sum("a")[:63],
		sum("a") + "0",
		"../" + sum("a")[3:],
		sum("a")[:62] + "/x",
	} {
		if rc, err := s.OpenRaw(h); err == nil {
			rc.Close()
			t.Errorf("OpenRaw(%q) = nil error", h)
		}
		if err := s.RemoveRaw(h); err == nil {
			t.Errorf("RemoveRaw(%q) = nil error", h)
		}
	}
}

func TestOpenCleansSpoolTemps(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mailbot.db")
	s, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.SpoolRaw(strings.NewReader("kept"), 0)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	// A crash mid-spool leaves a temp file.
	stale := filepath.Join(path+".raw", spoolPrefix+"123")
	if err := os.WriteFile(stale, []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale spool file after Open: %v, want removed", err)
	}
	rc, err := s.OpenRaw(b.Hash)
	if err != nil {
		t.Fatalf("OpenRaw() after reopen = %v", err)
	}
	rc.Close()
}

func TestSpoolBatchCommit(t *testing.T) {
	s := openTest(t)
	sp := s.NewSpool()
	defer sp.Discard()
	var blobs []Blob
	for _, body := range []string{"one", "two", "one"} {
		b, err := sp.Add(strings.NewReader(body), 0)
		if err != nil {
			t.Fatalf("Add(%q) = %v", body, err)
		}
		blobs = append(blobs, b)
	}
	if _, err := s.OpenRaw(blobs[0].Hash); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("OpenRaw() before Commit = %v, want not exist", err)
	}
	if err := sp.Commit(); err != nil {
		t.Fatalf("Commit() = %v", err)
	}
	if sp.Len() != 0 {
		t.Errorf("Len() after Commit = %d, want 0", sp.Len())
	}
	for i, want := range []string{"one", "two", "one"} {
		rc, err := s.OpenRaw(blobs[i].Hash)
		if err != nil {
			t.Fatalf("OpenRaw(%d) = %v", i, err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if string(got) != want {
			t.Errorf("raw %d = %q, want %q", i, got, want)
		}
	}
	// Nothing left behind under a temp name.
	ents, _ := os.ReadDir(s.rawDir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), spoolPrefix) {
			t.Errorf("temp file %s left after Commit", e.Name())
		}
	}
}

func TestSpoolDiscardLeavesNothing(t *testing.T) {
	s := openTest(t)
	sp := s.NewSpool()
	b, err := sp.Add(strings.NewReader("discarded"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sp.Add(strings.NewReader("far too long"), 3); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Add() over max = %v, want ErrTooLarge", err)
	}
	if sp.Len() != 1 {
		t.Fatalf("Len() = %d, want 1 (the refused one is not pending)", sp.Len())
	}
	sp.Discard()
	if _, err := s.OpenRaw(b.Hash); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("OpenRaw() after Discard = %v, want not exist", err)
	}
	ents, _ := os.ReadDir(s.rawDir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), spoolPrefix) {
			t.Errorf("temp file %s left after Discard", e.Name())
		}
	}
}

package store

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// Blob names a raw message file.
type Blob struct {
	Hash string // lowercase hex SHA-256 of the bytes
	Size int64
}

const spoolPrefix = ".spool-"

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// hashWriter writes to a file and a hash at once.
type hashWriter struct {
	f *os.File
	h hash.Hash
}

func (w hashWriter) Write(p []byte) (int, error) {
	w.h.Write(p)
	return w.f.Write(p)
}

// SpoolRaw streams r into the raw directory while hashing it and returns its
// hash and size. More than max bytes gives ErrTooLarge and leaves no file
// behind; max <= 0 means no limit. The file is fsynced, renamed to
// raw/<first 2 hex>/<hash> and the directory fsynced, so once SpoolRaw
// returns the bytes survive a crash. Spooling the same bytes again is a no-op.
// Errors other than ErrTooLarge (disk full, I/O) are temporary.
func (s *Store) SpoolRaw(r io.Reader, max int64) (Blob, error) {
	if s.ro {
		return Blob{}, errors.New("store: spool raw: store is read-only")
	}
	f, err := os.CreateTemp(s.rawDir, spoolPrefix+"*")
	if err != nil {
		return Blob{}, fmt.Errorf("store: spool raw: %w", err)
	}
	tmp := f.Name()
	done := false
	defer func() {
		if !done {
			f.Close()
			os.Remove(tmp)
		}
	}()

	src := r
	if max > 0 {
		src = io.LimitReader(r, max+1)
	}
	bufp := copyBufs.Get().(*[]byte)
	h := sha256.New()
	n, err := io.CopyBuffer(hashWriter{f, h}, readerOnly{src}, *bufp)
	copyBufs.Put(bufp)
	if err != nil {
		return Blob{}, fmt.Errorf("store: spool raw: %w", err)
	}
	if max > 0 && n > max {
		return Blob{}, fmt.Errorf("%w (more than %d bytes)", ErrTooLarge, max)
	}
	b := Blob{Hash: hex.EncodeToString(h.Sum(nil)), Size: n}
	dir := filepath.Join(s.rawDir, b.Hash[:2])
	final := filepath.Join(dir, b.Hash)

	if fi, err := os.Stat(final); err == nil && fi.Size() == n {
		return b, nil // already spooled; the deferred cleanup removes tmp
	}
	if err := f.Sync(); err != nil {
		return Blob{}, fmt.Errorf("store: spool raw: sync: %w", err)
	}
	if err := f.Close(); err != nil {
		return Blob{}, fmt.Errorf("store: spool raw: %w", err)
	}
	newDir := false
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return Blob{}, fmt.Errorf("store: spool raw: %w", err)
		}
		newDir = true
	}
	if err := os.Rename(tmp, final); err != nil {
		return Blob{}, fmt.Errorf("store: spool raw: %w", err)
	}
	done = true
	if err := syncDir(dir); err != nil {
		return Blob{}, fmt.Errorf("store: spool raw: %w", err)
	}
	if newDir {
		if err := syncDir(s.rawDir); err != nil {
			return Blob{}, fmt.Errorf("store: spool raw: %w", err)
		}
	}
	return b, nil
}

// readerOnly hides WriterTo/ReaderFrom so io.CopyBuffer uses our buffer.
type readerOnly struct{ io.Reader }

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// rawPath returns the file of a hash, refusing anything that is not exactly
// 64 lowercase hex digits (no path tricks).
func (s *Store) rawPath(hash string) (string, error) {
	if !validHash(hash) {
		return "", fmt.Errorf("store: invalid raw hash %q", hash)
	}
	return filepath.Join(s.rawDir, hash[:2], hash), nil
}

// OpenRaw opens a spooled raw message for streaming. A missing file gives an
// error matching fs.ErrNotExist.
func (s *Store) OpenRaw(hash string) (io.ReadCloser, error) {
	p, err := s.rawPath(hash)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("store: open raw: %w", err)
	}
	return f, nil
}

// RemoveRaw deletes a spooled raw message. Removing a missing file is not an
// error. Remove the file only after the transaction that stops referring to
// it has committed.
func (s *Store) RemoveRaw(hash string) error {
	p, err := s.rawPath(hash)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("store: remove raw: %w", err)
	}
	return nil
}

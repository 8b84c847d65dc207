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
	sp := s.NewSpool()
	defer sp.Discard()
	b, err := sp.Add(r, max)
	if err != nil {
		return Blob{}, err
	}
	if err := sp.Commit(); err != nil {
		return Blob{}, err
	}
	return b, nil
}

// Spool writes several raw messages and makes them durable together: Add
// writes each to a temp file without waiting for the disk, and Commit fsyncs
// them all at once (concurrently: the filesystem folds them into a few
// journal commits), renames them into place and fsyncs their directories.
// This is what lets the daemon commit a whole FETCH batch with a handful of
// disk flushes instead of four per message. A file gets its final name only
// once its bytes are on disk, so a name in raw/ always holds complete bytes.
// Not safe for concurrent use.
type Spool struct {
	s       *Store
	pending []pendingRaw
}

type pendingRaw struct {
	tmp  string
	blob Blob
}

// NewSpool starts an empty batch.
func (s *Store) NewSpool() *Spool { return &Spool{s: s} }

// Len is the number of messages added and not yet committed.
func (sp *Spool) Len() int { return len(sp.pending) }

// Add streams r into a temp file while hashing it. More than max bytes gives
// ErrTooLarge and leaves no file behind; max <= 0 means no limit. The blob is
// usable (OpenRaw) only after Commit.
func (sp *Spool) Add(r io.Reader, max int64) (Blob, error) {
	s := sp.s
	if s.ro {
		return Blob{}, errors.New("store: spool raw: store is read-only")
	}
	f, err := os.CreateTemp(s.rawDir, spoolPrefix+"*")
	if err != nil {
		return Blob{}, fmt.Errorf("store: spool raw: %w", err)
	}
	tmp := f.Name()
	fail := func(err error) (Blob, error) {
		f.Close()
		os.Remove(tmp)
		return Blob{}, err
	}
	src := r
	if max > 0 {
		src = io.LimitReader(r, max+1)
	}
	bufp := copyBufs.Get().(*[]byte)
	h := sha256.New()
	n, err := io.CopyBuffer(hashWriter{f, h}, readerOnly{src}, *bufp)
	copyBufs.Put(bufp)
	if err != nil {
		return fail(fmt.Errorf("store: spool raw: %w", err))
	}
	if max > 0 && n > max {
		return fail(fmt.Errorf("%w (more than %d bytes)", ErrTooLarge, max))
	}
	if err := f.Close(); err != nil {
		return fail(fmt.Errorf("store: spool raw: %w", err))
	}
	b := Blob{Hash: hex.EncodeToString(h.Sum(nil)), Size: n}
	sp.pending = append(sp.pending, pendingRaw{tmp: tmp, blob: b})
	return b, nil
}

// Commit makes every added message durable under its final name. On error
// nothing is promised about any of them; the caller may Add them again.
// Errors are temporary (disk full, I/O).
func (sp *Spool) Commit() error {
	pending := sp.pending
	if len(pending) == 0 {
		return nil
	}
	s := sp.s
	// Already spooled (the same bytes twice, or a rescan): keep the old file.
	var todo []pendingRaw
	for _, p := range pending {
		final := filepath.Join(s.rawDir, p.blob.Hash[:2], p.blob.Hash)
		if fi, err := os.Stat(final); err == nil && fi.Size() == p.blob.Size {
			os.Remove(p.tmp)
			continue
		}
		todo = append(todo, p)
	}
	// Data first: concurrent fsyncs share journal commits.
	errs := make([]error, len(todo))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i, p := range todo {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = syncFile(p.tmp)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("store: spool raw: sync: %w", err)
	}
	// Then the names: rename into place, fsync each directory once.
	dirs := map[string]bool{}
	newDirs := false
	for _, p := range todo {
		dir := filepath.Join(s.rawDir, p.blob.Hash[:2])
		if _, ok := dirs[dir]; !ok {
			if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
				if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
					return fmt.Errorf("store: spool raw: %w", err)
				}
				newDirs = true
			}
			dirs[dir] = true
		}
		if err := os.Rename(p.tmp, filepath.Join(dir, p.blob.Hash)); err != nil {
			return fmt.Errorf("store: spool raw: %w", err)
		}
	}
	sp.pending = nil
	if newDirs {
		dirs[s.rawDir] = true
	}
	for dir := range dirs {
		if err := syncDir(dir); err != nil {
			return fmt.Errorf("store: spool raw: %w", err)
		}
	}
	return nil
}

// Discard removes the temp files of messages not committed.
func (sp *Spool) Discard() {
	for _, p := range sp.pending {
		os.Remove(p.tmp)
	}
	sp.pending = nil
}

func syncFile(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
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

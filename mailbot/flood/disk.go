package flood

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// ErrDiskLow is the sentinel of mail kept out because the disk is low (or
// the store over its size limit): temporary, the mail is taken later.
var ErrDiskLow = errors.New("flood: disk low: new mail is left on the server")

// Disk is what the disk check compares.
type Disk struct {
	Free  int64 // bytes available to the bot on the store's file system
	Store int64 // bytes of the database and the raw mail
}

// DiskLimits are limits.min_free_bytes and limits.max_store_bytes (0: off).
type DiskLimits struct {
	MinFree  int64
	MaxStore int64
}

// Problem is "" when u is within l, else why not, for health and logs.
func (l DiskLimits) Problem(u Disk) string {
	switch {
	case l.MinFree > 0 && u.Free < l.MinFree:
		return fmt.Sprintf("%s free on the store's file system, below limits.min_free_bytes (%s): new reports are left on the server",
			Bytes(u.Free), Bytes(l.MinFree))
	case l.MaxStore > 0 && u.Store > l.MaxStore:
		return fmt.Sprintf("the store holds %s, over limits.max_store_bytes (%s): new reports are left on the server",
			Bytes(u.Store), Bytes(l.MaxStore))
	}
	return ""
}

// FreeBytes is the space available to an unprivileged writer on the file
// system holding path (statfs(2): f_bavail blocks of f_bsize).
func FreeBytes(path string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, fmt.Errorf("flood: statfs %s: %w", path, err)
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// StoreBytes is the size of the database file db and of its raw mail
// directory (db + ".raw"), walked file by file.
func StoreBytes(db string) (int64, error) {
	var total int64
	fi, err := os.Stat(db)
	if err != nil {
		return 0, fmt.Errorf("flood: store size: %w", err)
	}
	total += fi.Size()
	err = filepath.WalkDir(db+".raw", func(_ string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed meanwhile (spool temp files, retention)
			}
			return err
		}
		if e.Type().IsRegular() {
			if info, err := e.Info(); err == nil {
				total += info.Size()
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("flood: store size: %w", err)
	}
	return total, nil
}

// Bytes formats n for people: "512 MiB".
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

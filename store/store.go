package store

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Sentinel errors. "Not found" errors are permanent for the given key.
var (
	ErrCaseNotFound    = errors.New("store: case not found")
	ErrMessageNotFound = errors.New("store: message not found")
	ErrOutboxNotFound  = errors.New("store: outbox item not found")
	// ErrLocked: Open timed out waiting for the flock; another process
	// (normally the running daemon) holds the database. Temporary.
	ErrLocked = errors.New("store: database is in use by another process")
	// ErrNewerSchema: the file was written by a newer mailbot; the error
	// message names both versions. Permanent for this binary.
	ErrNewerSchema = errors.New("store: database was written by a newer mailbot")
	// ErrTooLarge: SpoolRaw read more than the allowed bytes. Permanent.
	ErrTooLarge = errors.New("store: message exceeds the size limit")
	// ErrDuplicate: AddMessage was given a raw hash that is already stored.
	// Check SeenHash first. Permanent.
	ErrDuplicate = errors.New("store: message already stored")
	// ErrClosed: a Tx was used after its Update or View returned.
	ErrClosed = errors.New("store: transaction closed")
)

// SchemaVersion is the schema this package writes; it equals len(migrations).
const SchemaVersion = 5

// migrations is append-only: migrations[i] upgrades schema version i to i+1.
// Never edit or reorder an entry once released; add a new one instead.
var migrations = []func(*bbolt.Tx) error{
	migrateV0toV1,
	migrateV1toV2,
	migrateV2toV3,
	migrateV3toV4,
	migrateV4toV5,
}

// Options for Open.
type Options struct {
	Timeout    time.Duration // flock wait; 0 means 1s (never wait forever)
	CasePrefix string        // "SEC" -> "SEC-2026-0001"; default "SEC"
	ReadOnly   bool
	NoSync     bool // tests/benchmarks only: commits are not fsynced

	// Now is the clock used for defaults (Case.Created, Message.Received,
	// OutboxItem.Created, ...). Nil means time.Now.
	Now func() time.Time
}

// Store is an open database plus its raw mail directory. It is safe for
// concurrent use; write transactions are serialized.
type Store struct {
	db     *bbolt.DB
	path   string
	rawDir string
	prefix string
	ro     bool
	now    func() time.Time

	watchMu  sync.Mutex
	watchers []watcher // in the order OnCommit added them
	watchSeq int
}

// Commit says what a committed Update changed that a running daemon waits
// for: the outbox sender for queued mail, the scheduler for moved clocks.
// It is derived from the transaction itself, so no caller can forget it.
type Commit struct {
	Enqueued int  // outgoing mails queued (Tx.Enqueue)
	Schedule bool // an existing case's clocks, status or fields changed (PutCase): what reminders are planned from
}

// OnCommit calls fn after every Update that committed something a Commit
// reports (nothing is reported for a rolled-back or empty one), in the
// goroutine that called Update, after the write lock is released. fn must
// not block: wake a goroutine. remove stops the calls.
func (s *Store) OnCommit(fn func(Commit)) (remove func()) {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	s.watchSeq++
	id := s.watchSeq
	s.watchers = append(s.watchers, watcher{id, fn})
	return func() {
		s.watchMu.Lock()
		defer s.watchMu.Unlock()
		s.watchers = slices.DeleteFunc(s.watchers, func(w watcher) bool { return w.id == id })
	}
}

type watcher struct {
	id int
	fn func(Commit)
}

func (s *Store) committed(c Commit) {
	if c == (Commit{}) {
		return
	}
	s.watchMu.Lock()
	ws := slices.Clone(s.watchers)
	s.watchMu.Unlock()
	for _, w := range ws {
		w.fn(c)
	}
}

// Open opens (creating if needed) the database at path and its raw directory
// path+".raw/", and runs pending migrations. File and directory are created
// 0600 and 0700. If another process holds the file, Open fails after
// opt.Timeout with an error matching ErrLocked.
func Open(path string, opt Options) (*Store, error) {
	if opt.Timeout <= 0 {
		opt.Timeout = time.Second
	}
	if opt.CasePrefix == "" {
		opt.CasePrefix = "SEC"
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	s := &Store{
		path:   path,
		rawDir: path + ".raw",
		prefix: opt.CasePrefix,
		ro:     opt.ReadOnly,
		now:    opt.Now,
	}
	if !opt.ReadOnly {
		if err := os.MkdirAll(s.rawDir, 0o700); err != nil {
			return nil, fmt.Errorf("store: create raw dir: %w", err)
		}
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout:      opt.Timeout,
		ReadOnly:     opt.ReadOnly,
		NoSync:       opt.NoSync,
		FreelistType: bbolt.FreelistMapType,
		// The freelist is not written by every commit (it grows with the
		// file: 11 of 61 pages per commit at 20,000 cases); a read-write
		// Open rebuilds it by walking the file (about 0.4 s at 20,000
		// cases). Old files switch on their next commit.
		NoFreelistSync: true,
	})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s is locked after %v; another mailbot (probably the running daemon) has it open: stop it or use its admin socket", ErrLocked, path, opt.Timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	s.db = db
	if opt.ReadOnly {
		err = db.View(checkSchema)
	} else {
		err = db.Update(migrate)
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	if !opt.ReadOnly {
		s.cleanSpool()
	}
	return s, nil
}

// Close closes the database and releases the flock.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// Path returns the database file path given to Open.
func (s *Store) Path() string { return s.path }

// Update runs fn in one serialized read-write transaction. If fn returns an
// error (or panics) nothing it wrote is kept; otherwise everything is
// committed and fsynced together. The error of fn is returned unchanged.
//
// Errors from the commit itself (I/O, disk full) are wrapped as
// "store: commit: ..." and are temporary: nothing was written, retry later.
// After a commit, the OnCommit watchers are told what it changed.
func (s *Store) Update(fn func(tx *Tx) error) error {
	var fnErr error
	ran := false
	var changed Commit
	err := s.db.Update(func(btx *bbolt.Tx) error {
		ran = true
		tx := &Tx{s: s, tx: btx}
		defer func() { tx.tx = nil }()
		fnErr = fn(tx)
		changed = tx.changed
		return fnErr
	})
	switch {
	case err == nil:
		s.committed(changed)
		return nil
	case fnErr != nil:
		return err
	case !ran:
		return fmt.Errorf("store: begin: %w", err)
	default:
		return fmt.Errorf("store: commit: %w", err)
	}
}

// View runs fn in a read-only transaction. Views run concurrently with each
// other and with Update; keep them short. Never call Update from inside View
// (bbolt deadlocks on remap).
func (s *Store) View(fn func(tx *Tx) error) error {
	return s.db.View(func(btx *bbolt.Tx) error {
		tx := &Tx{s: s, tx: btx}
		defer func() { tx.tx = nil }()
		return fn(tx)
	})
}

// Backup writes a consistent copy of the database to w while the store stays
// in use (a read transaction; writers are not blocked). The raw directory is
// not included: copy it separately (its files never change once written).
func (s *Store) Backup(w io.Writer) (int64, error) {
	var n int64
	err := s.db.View(func(tx *bbolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("store: backup: %w", err)
	}
	return n, nil
}

// Bucket names; see the package comment for key and value formats.
var (
	bMeta       = []byte("meta")
	bSettings   = []byte("settings")
	bCases      = []byte("cases")
	bCaseRef    = []byte("caseref")
	bRefSeq     = []byte("refseq")
	bReporter   = []byte("reporter")
	bMsgs       = []byte("msgs")
	bMsgHash    = []byte("msghash")
	bMsgID      = []byte("msgid")
	bCaseMsgs   = []byte("casemsgs")
	bEvents     = []byte("events")
	bOutbox     = []byte("outbox")
	bOutRaw     = []byte("outraw")
	bOutDue     = []byte("outdue")
	bMailbox    = []byte("mailbox")
	bQuarantine = []byte("quarantine")
	bQHash      = []byte("qhash")
	bFailures   = []byte("failures")
	bSends      = []byte("sends")
	bPGPKeys    = []byte("pgpkeys")
	bReminders  = []byte("reminders")
	bReplays    = []byte("replays")
	bOpen       = []byte("open")
	bCaseOut    = []byte("caseout")
	bRawDone    = []byte("rawdone")

	keySchema = []byte("schema")
)

func schemaVersion(tx *bbolt.Tx) (int, error) {
	b := tx.Bucket(bMeta)
	if b == nil {
		return 0, nil
	}
	v := b.Get(keySchema)
	if v == nil {
		return 0, nil
	}
	n, err := strconv.Atoi(string(v))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("store: corrupt schema version %q", v)
	}
	return n, nil
}

func checkSchema(tx *bbolt.Tx) error {
	v, err := schemaVersion(tx)
	if err != nil {
		return err
	}
	switch {
	case v > SchemaVersion:
		return fmt.Errorf("%w: file has schema version %d, this mailbot supports up to %d; upgrade mailbot", ErrNewerSchema, v, SchemaVersion)
	case v < SchemaVersion:
		return fmt.Errorf("store: database has schema version %d, this mailbot needs %d: open it read-write once to migrate", v, SchemaVersion)
	}
	return nil
}

// migrate runs all pending migrations in the caller's transaction, so an
// upgrade is all or nothing.
func migrate(tx *bbolt.Tx) error {
	v, err := schemaVersion(tx)
	if err != nil {
		return err
	}
	if v > SchemaVersion {
		return fmt.Errorf("%w: file has schema version %d, this mailbot supports up to %d; upgrade mailbot", ErrNewerSchema, v, SchemaVersion)
	}
	for i := v; i < len(migrations); i++ {
		if err := migrations[i](tx); err != nil {
			return fmt.Errorf("store: migrate schema %d to %d: %w", i, i+1, err)
		}
		meta, err := tx.CreateBucketIfNotExists(bMeta)
		if err != nil {
			return fmt.Errorf("store: migrate: %w", err)
		}
		if err := meta.Put(keySchema, []byte(strconv.Itoa(i+1))); err != nil {
			return fmt.Errorf("store: migrate: %w", err)
		}
	}
	return nil
}

// migrateV0toV1 creates the buckets of schema 1.
func migrateV0toV1(tx *bbolt.Tx) error {
	for _, name := range [][]byte{
		bMeta, bSettings, bCases, bCaseRef, bRefSeq, bReporter, bMsgs, bMsgHash,
		bMsgID, bCaseMsgs, bEvents, bOutbox, bOutRaw, bOutDue, bMailbox,
		bQuarantine, bQHash, bFailures, bSends, bPGPKeys,
	} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}

// migrateV1toV2 adds the buckets of sent reminders and team-mail replay keys.
func migrateV1toV2(tx *bbolt.Tx) error {
	for _, name := range [][]byte{bReminders, bReplays} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}

// migrateV2toV3 adds the index of open cases (see Closed).
func migrateV2toV3(tx *bbolt.Tx) error {
	open, err := tx.CreateBucketIfNotExists(bOpen)
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", bOpen, err)
	}
	open.FillPercent = packedFill // filled in id order
	cases := tx.Bucket(bCases)
	if cases == nil {
		return fmt.Errorf("bucket %s missing", bCases)
	}
	return cases.ForEach(func(k, v []byte) error {
		var c struct{ Status string }
		if err := decodeRecord(v, &c); err != nil {
			return fmt.Errorf("case %d: %w", btoi(k), err)
		}
		if Closed(c.Status) {
			return nil
		}
		return open.Put(itob(btoi(k)), nil)
	})
}

// migrateV3toV4 re-keys the Message-ID index by hash (msgIDKey). Records
// are not rewritten: schema 4 writes them compressed (codec.go) and reads
// the plain JSON of older ones as it is. The version bump keeps a mailbot
// that only knows JSON records from opening the file.
func migrateV3toV4(tx *bbolt.Tx) error {
	old := tx.Bucket(bMsgID)
	if old == nil {
		return fmt.Errorf("bucket %s missing", bMsgID)
	}
	type link struct{ k, v []byte }
	var links []link
	err := old.ForEach(func(k, v []byte) error {
		links = append(links, link{msgIDHash(string(k)), bytes.Clone(v)})
		return nil
	})
	if err != nil {
		return err
	}
	if err := tx.DeleteBucket(bMsgID); err != nil {
		return fmt.Errorf("delete bucket %s: %w", bMsgID, err)
	}
	b, err := tx.CreateBucket(bMsgID)
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", bMsgID, err)
	}
	for _, l := range links {
		if err := b.Put(l.k, l.v); err != nil {
			return fmt.Errorf("msgid: %w", err)
		}
	}
	return nil
}

// migrateV4toV5 adds the index of outgoing mail by case (CaseOutbox), from
// the outbox: before it, every reminder run and case view read the whole
// outbox. It also adds the (empty) set of cases whose raw mail retention is
// done (PurgeRaw): the first daily run after it fills it.
func migrateV4toV5(tx *bbolt.Tx) error {
	if _, err := tx.CreateBucketIfNotExists(bRawDone); err != nil {
		return fmt.Errorf("create bucket %s: %w", bRawDone, err)
	}
	idx, err := tx.CreateBucketIfNotExists(bCaseOut)
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", bCaseOut, err)
	}
	idx.FillPercent = packedFill
	ob := tx.Bucket(bOutbox)
	if ob == nil {
		return fmt.Errorf("bucket %s missing", bOutbox)
	}
	return ob.ForEach(func(k, v []byte) error {
		var o struct{ CaseID uint64 }
		if err := decodeRecord(v, &o); err != nil {
			return fmt.Errorf("outbox item %d: %w", btoi(k), err)
		}
		if o.CaseID == 0 {
			return nil
		}
		return idx.Put(pair(o.CaseID, btoi(k)), nil)
	})
}

// Tx is a transaction handle, valid only inside the Update or View callback
// that received it. Values returned by its methods are copies and outlive it.
type Tx struct {
	s       *Store
	tx      *bbolt.Tx
	changed Commit // what OnCommit's watchers are told after the commit
}

// bucket returns a bucket of the current transaction. All buckets exist after
// Open (migrations), so a missing one means a corrupt file.
func (tx *Tx) bucket(name []byte) (*bbolt.Bucket, error) {
	if tx.tx == nil {
		return nil, ErrClosed
	}
	b := tx.tx.Bucket(name)
	if b == nil {
		return nil, fmt.Errorf("store: bucket %s missing", name)
	}
	if packed[string(name)] {
		b.FillPercent = packedFill
	}
	return b, nil
}

// packed buckets get keys in (nearly) increasing order: ids from a sequence,
// or a case id followed by such an id, where a new key lands at the end of
// its case's run. bbolt splits a full page at FillPercent, default 0.5, and
// a page that only ever grows at its end then stays half empty for good.
// Packing it full halves their size; a page that does receive a key in the
// middle later just splits again.
var packed = map[string]bool{
	string(bCases): true, string(bMsgs): true, string(bOutbox): true, string(bQuarantine): true,
	string(bEvents): true, string(bCaseMsgs): true, string(bOpen): true, string(bCaseRef): true,
	string(bCaseOut): true, string(bRawDone): true,
}

const packedFill = 0.95

// mustBucket is bucket for methods whose signature has no error result.
// It returns nil when the bucket is unavailable; callers treat that as empty.
func (tx *Tx) mustBucket(name []byte) *bbolt.Bucket {
	b, _ := tx.bucket(name)
	return b
}

// cleanSpool removes temp files left by a crash during SpoolRaw. Only a
// read-write Open does this: it holds the exclusive flock, so no other
// process is spooling.
func (s *Store) cleanSpool() {
	ents, err := os.ReadDir(s.rawDir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), spoolPrefix) {
			os.Remove(filepath.Join(s.rawDir, e.Name()))
		}
	}
}

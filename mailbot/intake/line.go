package intake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"mailbot/mailbot/config"
	"mailbot/mailbot/flood"
	"mailbot/mailbot/inbox"
	"mailbot/mailbot/internal/workers"
	"mailbot/mailbot/metrics"
	"mailbot/mailbot/outmail"
	"mailbot/mailbot/pgp"
	"mailbot/mailbot/team"
	"mailbot/policy"
	"mailbot/store"
)

// Actions a processed message can lead to, as reported by `mailbot ingest --json`.
const (
	ActionOpened      = "opened"       // a new case, acknowledged
	ActionOpenedQuiet = "opened-quiet" // a new case, acknowledgement suppressed (rate limit)
	ActionHeldSpam    = "held-spam"    // a new case in status suspected-spam, acknowledgement held
	ActionFollowUp    = "follow-up"    // added to an existing case
	ActionRecorded    = "recorded"     // automated or own mail, kept, never answered
	ActionBounce      = "bounce"       // a delivery failure of our mail, on its case
	ActionDuplicate   = "duplicate"    // the same bytes were processed before
	ActionQuarantined = "quarantined"  // kept aside with a reason
)

// Source says where a message came from. The zero UID means `mailbot ingest`.
type Source struct {
	Mailbox     string
	UIDValidity uint32
	UID         uint32
}

func (s Source) imap() bool { return s.UID != 0 }

func (s Source) key(hash string) string {
	if s.imap() {
		return fmt.Sprintf("imap:%s:%d:%d", s.Mailbox, s.UIDValidity, s.UID)
	}
	return "ingest:" + hash
}

// Result is what happened to one message.
type Result struct {
	Case    string `json:"case,omitempty"` // the case reference, "" when on no case
	Action  string `json:"action"`
	Class   string `json:"class,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Message uint64 `json:"message,omitempty"` // the stored message id
	Acks    int    `json:"acks"`              // outgoing mails queued
}

// TemporaryError marks a failure worth retrying later (store I/O, disk full):
// nothing was committed and the message stays unprocessed.
type TemporaryError = inbox.TemporaryError

// Options are what the line works with. Config, Store and Out are
// required; Policy, Keys, Roster, Metrics and Faults may be nil.
type Options struct {
	Config    *config.Config
	Store     *store.Store
	Policy    *policy.Policy
	Keys      *pgp.Keyring
	Roster    *team.Roster
	Out       *outmail.Composer
	LookupTXT func(name string) ([]string, error)
	Now       func() time.Time
	Logger    *slog.Logger
	Faults    func(point string) error
	Metrics   *metrics.Metrics
	// Disk measures the free space and the store's size; nil: statfs of
	// the store's directory and a walk of its files.
	Disk func() (flood.Disk, error)
}

// Line is the message line: examine, read, decide and apply, for one
// message or a batch of them.
type Line struct {
	cfg     *config.Config
	store   *store.Store
	policy  *policy.Policy
	keys    *pgp.Keyring
	roster  *team.Roster
	out     *outmail.Composer
	lookup  func(string) ([]string, error)
	now     func() time.Time
	log     *slog.Logger
	faults  func(string) error
	metrics *metrics.Metrics

	disk        func() (flood.Disk, error)
	diskMu      sync.Mutex // guards the measured store size
	storeSize   int64
	storeSizeAt time.Time
}

// New makes the line of opt.
func New(opt Options) *Line {
	l := &Line{cfg: opt.Config, store: opt.Store, policy: opt.Policy, keys: opt.Keys, roster: opt.Roster, out: opt.Out,
		lookup: opt.LookupTXT, now: opt.Now, log: opt.Logger, faults: opt.Faults, metrics: opt.Metrics, disk: opt.Disk}
	if l.disk == nil {
		l.disk = l.measureDisk
	}
	return l
}

// Handler is the line as the IMAP intake's handler (inbox.Handler).
func (l *Line) Handler() inbox.Handler { return &handler{l: l} }

// Fault runs the test hook for a named point (Options.Faults). Its error
// stands for the process dying there.
func (l *Line) Fault(point string) error {
	if l.faults == nil {
		return nil
	}
	if err := l.faults(point); err != nil {
		return &faultError{point: point, err: err}
	}
	return nil
}

type faultError struct {
	point string
	err   error
}

func (e *faultError) Error() string { return "fault at " + e.point + ": " + e.err.Error() }
func (e *faultError) Unwrap() error { return e.err }

// panicError is a panic while handling one message, turned into an error
// that counts against that message (Limits.MaxTries).
type panicError struct{ p any }

func (e *panicError) Error() string { return fmt.Sprintf("mailbot: panic: %v", e.p) }

// recovered turns a panic into a panicError in *err, logged with its stack.
func (l *Line) recovered(hash string, err *error) {
	if p := recover(); p != nil {
		l.log.Error("panic while processing", "hash", hash[:min(12, len(hash))], "err", p, "stack", string(debug.Stack()))
		*err = &panicError{p}
	}
}

// item is one message of a batch: spooled (blob), or left on the server
// because it is over the size limit (tooLarge, with size).
type item struct {
	src      Source
	blob     store.Blob
	tooLarge bool
}

// Ingest spools r and processes it, as `mailbot ingest` does for mail handed
// over by an MTA.
func (l *Line) Ingest(ctx context.Context, r io.Reader) (Result, error) {
	blob, err := l.store.SpoolRaw(r, l.cfg.Limits.MaxMessageBytes)
	if errors.Is(err, store.ErrTooLarge) {
		// QUIRK: an MTA that hands us more than the limit gets a permanent
		// refusal; the sender's MTA bounces it to the sender.
		return Result{Action: ActionQuarantined, Reason: "message exceeds the size limit"}, err
	}
	if err != nil {
		return Result{}, &TemporaryError{Err: fmt.Errorf("spool: %w", err)}
	}
	return l.Process(ctx, Source{}, blob)
}

// Process handles one spooled message, as a batch of one: everything it
// changes is committed in one transaction together with the mailbox
// watermark of src.
func (l *Line) Process(ctx context.Context, src Source, blob store.Blob) (Result, error) {
	_, results, err := l.run(ctx, []item{{src: src, blob: blob}})
	if err != nil || len(results) == 0 {
		return Result{}, err
	}
	return results[0], nil
}

// IngestBatch spools rs and processes them as one intake batch, the way the
// IMAP intake handles a FETCH batch: one flush for the spooled bytes, then
// the group commit. It returns how many were committed, from the first.
func (l *Line) IngestBatch(ctx context.Context, rs []io.Reader) (int, error) {
	sp := l.store.NewSpool()
	defer sp.Discard()
	items := make([]item, 0, len(rs))
	for _, r := range rs {
		blob, err := sp.Add(r, l.cfg.Limits.MaxMessageBytes)
		if errors.Is(err, store.ErrTooLarge) {
			return 0, err
		}
		if err != nil {
			return 0, &TemporaryError{Err: fmt.Errorf("spool: %w", err)}
		}
		items = append(items, item{blob: blob})
	}
	if err := sp.Commit(); err != nil {
		return 0, &TemporaryError{Err: fmt.Errorf("spool: %w", err)}
	}
	done := 0
	for done < len(items) {
		n, _, err := l.run(ctx, items[done:])
		done += n
		if err != nil {
			if inbox.IsTemporary(err) {
				return done, err
			}
			done++ // recorded (quarantined) by the failure count
		}
	}
	return done, nil
}

// bigMessage is the size above which a message is examined alone, so that
// two large messages never sit in memory side by side.
const bigMessage = 1 << 20

// run is the line: it handles items (one intake batch in UID order, or a
// single message as a batch of one) with a group commit. The messages are
// examined in parallel (examine: no store writes), then each read, decided
// and written in ONE transaction together with the watermark (apply:
// readState, decide, write), their outgoing mail sealed in parallel at its end; that costs two disk flushes for the
// batch instead of two per message. It returns how many items from the
// first are committed and their results; fewer than all with a nil error
// means "call again with the rest" (the batch was cut). A non-nil error is
// about items[n], as inbox.Handler.Process says.
//
// The exactly-once argument is the single-message one: every item's case,
// acknowledgement, events and the watermark past it commit together or not
// at all, and a crash before the commit leaves every item unprocessed. A
// message that fails goes alone (a batch of one), where failing counts
// against it (failed).
func (l *Line) run(ctx context.Context, items []item) (int, []Result, error) {
	if len(items) == 0 {
		return 0, nil, nil
	}
	if err := ctx.Err(); err != nil {
		return 0, nil, &TemporaryError{Err: err}
	}
	start := time.Now() // how long it took is wall time, whatever l.now says

	// Which messages are new: a duplicate needs no parsing.
	seen := make([]bool, len(items))
	if err := l.store.View(func(tx *store.Tx) error {
		for i, it := range items {
			if !it.tooLarge {
				_, seen[i] = tx.SeenHash(it.blob.Hash)
			}
		}
		return nil
	}); err != nil {
		return 0, nil, &TemporaryError{Err: err}
	}

	// Examine in parallel: parse, classify, decrypt, authenticate team mail.
	ins := make([]*incoming, len(items))
	errs := make([]error, len(items))
	examine := func(i int) {
		defer l.recovered(items[i].blob.Hash, &errs[i])
		ins[i], errs[i] = l.examine(ctx, items[i].blob)
	}
	var small, big []int
	for i, it := range items {
		switch {
		case it.tooLarge || seen[i]:
		case it.blob.Size > bigMessage:
			big = append(big, i)
		default:
			small = append(small, i)
		}
	}
	workers.Each(len(small), func(k int) { examine(small[k]) })
	for _, i := range big {
		examine(i)
	}

	// The batch ends before the first message that could not be examined
	// (it goes alone, through the failure counting), and before a signed
	// message whose sender offered a key earlier in the batch: its
	// signature is checked against keys known before the batch, so it must
	// wait until that key is committed.
	cut := len(items)
	offered := map[string]bool{}
	for i := range items {
		if errs[i] != nil {
			cut = i
			break
		}
		in := ins[i]
		if in == nil {
			continue
		}
		if in.from != "" && offered[in.from] && in.crypto.signed {
			cut = i
			break
		}
		if len(in.crypto.keys) > 0 && in.from != "" {
			offered[in.from] = true
		}
	}
	if cut == 0 {
		if len(items) > 1 {
			return l.run(ctx, items[:1])
		}
		return l.failed(items[0], errs[0])
	}
	items, ins = items[:cut], ins[:cut]

	results := make([]Result, len(items))
	failedAt := -1
	diskLow := l.diskProblem()
	err := l.store.Update(func(stx *store.Tx) error {
		tx := &txn{Tx: stx, q: l.out.NewQueue(), diskLow: diskLow}
		for i, it := range items {
			results[i] = Result{}
			tx.q.SetOwner(i)
			if err := l.applySafely(tx, it, ins[i], &results[i]); err != nil {
				var fe *faultError
				if !errors.As(err, &fe) {
					failedAt = i
				}
				return err
			}
		}
		if err := l.logFolded(tx); err != nil {
			return err
		}
		if i, err := tx.q.Flush(stx); err != nil {
			failedAt = i
			return err
		}
		return nil
	})
	var pe *panicError
	switch {
	case err == nil:
		l.committed(items, results, time.Since(start))
		return len(items), results, nil
	case failedAt < 0:
		// A simulated crash (tests), or the commit itself failed (disk
		// full): nothing of the batch was written.
		return 0, nil, &TemporaryError{Err: fmt.Errorf("commit: %w", err)}
	case failedAt > 0:
		// Everything before the failing message is fine: commit it and let
		// the failing one go alone.
		return l.run(ctx, items[:failedAt])
	case len(items) > 1:
		return l.run(ctx, items[:1])
	case errors.As(err, &pe) || errors.Is(err, outmail.ErrPanic):
		return l.failed(items[0], err)
	}
	if held, ok := isHeld(err); ok {
		return 0, nil, l.holdOnServer(items[0].src, items[0].blob, held)
	}
	return 0, nil, &TemporaryError{Err: fmt.Errorf("commit: %w", err)}
}

// committed is what a commit of the line causes afterwards, in one place:
// each message logged and counted in the metrics. (The commit itself wakes
// the sender and the scheduler through store.Store.OnCommit; the intake
// marks the committed messages \Seen.)
func (l *Line) committed(items []item, results []Result, took time.Duration) {
	for i, res := range results {
		it := items[i]
		if it.tooLarge {
			continue
		}
		l.log.Info("processed", "hash", it.blob.Hash[:12], "mailbox", it.src.Mailbox, "uid", it.src.UID,
			"action", res.Action, "case", res.Case, "class", res.Class, "took", took, "batch", len(items))
		l.count(res, took)
	}
}

// failed handles a message that could not be processed alone. A temporary
// failure (the store's, the disk's) or a deferred one is returned as is. Any
// other failure (a panic, a bug tickled by this message) is counted, and
// after Limits.MaxTries the message is kept aside so the next one flows.
func (l *Line) failed(it item, err error) (int, []Result, error) {
	if inbox.IsDeferred(err) || inbox.IsTemporary(err) {
		return 0, nil, err
	}
	src, blob := it.src, it.blob
	l.log.Error("processing failed", "err", err, "hash", blob.Hash[:12], "mailbox", src.Mailbox, "uid", src.UID)
	key := src.key(blob.Hash)
	var quarantined bool
	uerr := l.store.Update(func(tx *store.Tx) error {
		n, rerr := tx.RecordFailure(key, err.Error())
		if rerr != nil {
			return rerr
		}
		if n < l.cfg.Limits.MaxTries {
			return nil
		}
		quarantined = true
		if err := tx.Quarantine(&store.Quarantined{Hash: blob.Hash, Size: blob.Size, Source: key,
			Reason: fmt.Sprintf("failed %d times: %v", n, err), Time: l.now()}); err != nil {
			return err
		}
		return l.advance(tx, src)
	})
	if uerr != nil {
		return 0, nil, &TemporaryError{Err: uerr}
	}
	if quarantined {
		return 1, []Result{{Action: ActionQuarantined, Reason: err.Error()}}, nil
	}
	return 0, nil, &TemporaryError{Err: err}
}

// count feeds the metrics with one processed message.
func (l *Line) count(res Result, took time.Duration) {
	m := l.metrics
	if m == nil {
		return
	}
	class := res.Class
	if class == "" {
		class = res.Action
	}
	m.Messages.WithLabelValues(class).Inc()
	m.Processing.Observe(took.Seconds())
	switch res.Action {
	case ActionOpened:
		m.Acknowledgements.Inc()
	}
	if res.Class == "team" && res.Acks > 0 {
		m.Relays.Inc()
	}
}

package inbox

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// bodyRate is the slowest transfer rate a body fetch is granted on top of
// CommandTimeout.
const bodyRate = 64 << 10 // bytes per second

// softError ends a round but leaves the connection usable: a handler error, a
// message missing from a FETCH, or a NO/BAD to a command of the round.
type softError struct {
	err error
	uid uint32 // the message the round stopped at, when there is one
}

func (e *softError) Error() string { return e.err.Error() }
func (e *softError) Unwrap() error { return e.err }

// conn is one authenticated connection with the mailbox selected.
type conn struct {
	s           *Session
	c           *imapclient.Client
	wake        chan struct{} // EXISTS seen (buffered 1; filled by the reader goroutine)
	uidValidity uint32
	lastFull    time.Time
	// retryAt, when set, is when a round that stopped on a temporary error
	// is tried again (sooner than the resync); retryWait is the next delay.
	retryAt   time.Time
	retryWait time.Duration
	// reapplied: the after-commit action was re-applied on this connection.
	reapplied bool
	// busy is held while a delivery is committed and flagged: stopping
	// waits for the message in hand instead of cutting its \Seen.
	busy sync.Mutex
	// idle is an IDLE whose DONE waitIdle has sent and whose tagged OK is
	// still to come: the round's first command goes out right behind the
	// DONE and settleIdle collects the OK (one round trip fewer).
	idle *imapclient.IdleCommand
}

// session runs one connection: connect, then rounds and waits until an error.
// healthy reports whether the first round completed.
func (s *Session) session(ctx, abort context.Context) (healthy bool, err error) {
	cn := &conn{s: s, wake: make(chan struct{}, 1)}
	if err := cn.connect(ctx); err != nil {
		return false, err
	}
	defer cn.c.Close()
	// Any blocked command returns as soon as ctx is done, except the
	// message in hand, which is finished first (busy) unless abort ends.
	stop := context.AfterFunc(ctx, func() {
		if !cn.busy.TryLock() {
			s.log.Info("inbox: stopping: waiting for the messages in hand to be committed and flagged", "mailbox", s.opt.Mailbox, "addr", s.opt.Addr)
			cn.busy.Lock()
		}
		defer cn.busy.Unlock()
		closeQuietly(cn.c)
	})
	defer stop()
	cut := context.AfterFunc(abort, func() { closeQuietly(cn.c) })
	defer cut()

	mode := s.opt.Mode
	if mode == "idle" && !cn.c.Caps().Has(imap.CapIdle) {
		// go-imap's Idle does not check the capability (emersion/go-imap#543).
		s.log.Info("inbox: server lacks IDLE, polling", "mailbox", s.opt.Mailbox)
		mode = "poll"
	}
	s.event(Event{Kind: "connected"})

	full := false // the mailbox was just selected by connect
	newMail := false
	for {
		err := cn.round(ctx, full, newMail)
		if ctx.Err() != nil {
			return healthy, ctx.Err()
		}
		var soft *softError
		switch {
		case errors.As(err, &soft):
			// The connection works: only this round stopped. Try again
			// with backoff (a full disk, a busy store), not only at the
			// next resync or new mail.
			healthy = true
			cn.retryWait = min(max(2*cn.retryWait, s.opt.BackoffMin), s.opt.BackoffMax, s.opt.ResyncInterval)
			cn.retryAt = time.Now().Add(cn.retryWait)
			s.log.Warn("inbox: round stopped", "mailbox", s.opt.Mailbox, "uid", soft.uid, "err", err, "retry", cn.retryWait)
			s.event(Event{Kind: "error", UID: soft.uid, Err: err})
		case err != nil:
			return healthy, err
		default:
			healthy = true
			if cn.retryWait != 0 {
				s.event(Event{Kind: "resumed"})
			}
			cn.retryAt, cn.retryWait = time.Time{}, 0
		}
		switch mode {
		case "idle":
			full, err = cn.waitIdle(ctx)
		case "fast":
			full, err = cn.waitFast(ctx)
		default:
			full, err = cn.waitPoll(ctx)
		}
		if err != nil {
			return healthy, err
		}
		// A wait that does not ask for a resync ended on an EXISTS.
		newMail = !full
	}
}

// guard runs fn and closes the connection (through closeFn) if fn has not
// returned within d: go-imap waits for a response without any deadline, so a
// silent server would hang it forever.
func guard(closeFn func(), d time.Duration, what string, fn func() error) error {
	var fired atomic.Bool
	t := time.AfterFunc(d, func() {
		defer func() { _ = recover() }()
		fired.Store(true)
		closeFn()
	})
	err := fn()
	if !t.Stop() && fired.Load() {
		if err == nil {
			return fmt.Errorf("%s: %w", what, ErrTimeout)
		}
		return fmt.Errorf("%s: %w: %w", what, ErrTimeout, err)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

func closeQuietly(c io.Closer) {
	defer func() { _ = recover() }()
	_ = c.Close()
}

func (cn *conn) guard(d time.Duration, what string, fn func() error) error {
	return guard(func() { closeQuietly(cn.c) }, d, what, fn)
}

// connect dials, authenticates and selects the mailbox.
func (cn *conn) connect(ctx context.Context) error {
	s := cn.s
	timeout := s.opt.CommandTimeout
	host, _, err := net.SplitHostPort(s.opt.Addr)
	if err != nil {
		return fmt.Errorf("inbox: address: %w", err)
	}
	d := &net.Dialer{
		Timeout:         timeout,
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 30 * time.Second, Interval: 15 * time.Second, Count: 4},
	}
	nc, err := d.DialContext(ctx, "tcp", s.opt.Addr)
	if err != nil {
		return fmt.Errorf("inbox: dial: %w", err)
	}
	var tlsCfg *tls.Config
	if s.opt.TLSConfig != nil {
		tlsCfg = s.opt.TLSConfig.Clone()
	} else {
		tlsCfg = &tls.Config{}
	}
	if tlsCfg.ServerName == "" {
		tlsCfg.ServerName = host
	}
	opts := &imapclient.Options{
		TLSConfig: tlsCfg,
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			// Runs on the client's reader goroutine: never issue a command
			// here, never block.
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					select {
					case cn.wake <- struct{}{}:
					default:
					}
				}
			},
			// A FETCH response no command claimed: most likely a server that
			// sends UID after the literal, which go-imap cannot match. The
			// round notices the missing UID. Runs in its own goroutine and
			// must drain the message or the reader blocks.
			Fetch: func(m *imapclient.FetchMessageData) {
				defer func() { _ = recover() }()
				for m.Next() != nil {
				}
			},
		},
	}

	// Everything until the mailbox is selected is time-boxed by one watchdog
	// that closes the socket, and ends when ctx does (nothing is in hand).
	var c *imapclient.Client
	stop := context.AfterFunc(ctx, func() { closeQuietly(nc) })
	defer stop()
	err = guard(func() { closeQuietly(nc) }, timeout, "inbox: connect", func() error {
		switch s.opt.TLS {
		case "implicit":
			if len(tlsCfg.NextProtos) == 0 {
				tlsCfg.NextProtos = []string{"imap"}
			}
			tc := tls.Client(nc, tlsCfg)
			if err := tc.HandshakeContext(ctx); err != nil {
				return fmt.Errorf("tls: %w", err)
			}
			c = imapclient.New(tc, opts)
		case "starttls":
			var err error
			if c, err = imapclient.NewStartTLS(nc, opts); err != nil {
				return fmt.Errorf("starttls: %w", err)
			}
		default:
			c = imapclient.New(nc, opts)
		}
		if err := c.WaitGreeting(); err != nil {
			return fmt.Errorf("greeting: %w", err)
		}
		if c.State() != imap.ConnStateNotAuthenticated {
			return nil // PREAUTH (refused by NewStartTLS before TLS)
		}
		sc, err := s.opt.SASL()
		if err != nil {
			return fmt.Errorf("sasl: %w", err)
		}
		if err := c.Authenticate(sc); err != nil {
			// A failed exchange can leave the connection hung
			// (OAUTHBEARER): the caller redials.
			return fmt.Errorf("authenticate: %w", err)
		}
		return nil
	})
	if err != nil {
		if c != nil {
			closeQuietly(c)
		} else {
			closeQuietly(nc)
		}
		return err
	}
	cn.c = c
	if err := cn.selectMailbox(); err != nil {
		closeQuietly(c)
		return err
	}
	return nil
}

// selectMailbox (re)selects the mailbox and records its UIDVALIDITY.
func (cn *conn) selectMailbox() error {
	var sel *imap.SelectData
	err := cn.guard(cn.s.opt.CommandTimeout, "inbox: select", func() (err error) {
		sel, err = cn.c.Select(cn.s.opt.Mailbox, &imap.SelectOptions{ReadOnly: false}).Wait()
		return err
	})
	if err != nil {
		return err
	}
	cn.uidValidity = sel.UIDValidity
	cn.lastFull = time.Now()
	return nil
}

// round catches up: every UID above the committed watermark is fetched,
// spooled and processed in UID order. full re-selects the mailbox first
// (resync), which is how a changed UIDVALIDITY is noticed. newMail (the
// server announced an EXISTS) asks for the new UIDs with their sizes in one
// UID FETCH instead of a UID SEARCH followed by a FETCH of the sizes.
func (cn *conn) round(ctx context.Context, full, newMail bool) (err error) {
	s := cn.s
	// An IDLE that waitIdle ended is settled by the first command at the
	// latest here; a failed DONE ends the connection, as any dead command.
	defer func() {
		if ierr := cn.settleIdle(); ierr != nil {
			err = ierr
		}
	}()
	if full {
		if err := cn.settleIdle(); err != nil {
			return err
		}
		if err := cn.selectMailbox(); err != nil {
			return err
		}
	}
	storedValidity, last, err := s.h.Watermark(s.opt.Mailbox)
	if err != nil {
		return &softError{err: fmt.Errorf("inbox: watermark: %w", err)}
	}
	if storedValidity != cn.uidValidity {
		// RFC 9051 section 2.3.1.1: a new UIDVALIDITY invalidates every UID
		// we know. Rescan from 1; the handler de-duplicates by content hash.
		if storedValidity != 0 && s.validityEvent != cn.uidValidity {
			s.validityEvent = cn.uidValidity
			s.log.Warn("inbox: UIDVALIDITY changed, rescanning", "mailbox", s.opt.Mailbox,
				"err", fmt.Errorf("uidvalidity %d -> %d", storedValidity, cn.uidValidity))
			s.event(Event{Kind: "uidvalidity"})
		}
		last = 0
	}
	if last == ^uint32(0) {
		return nil
	}

	var uids []uint32
	var sizes map[uint32]int64 // known sizes of the first batch, or nil
	if newMail && !full {
		uids, sizes, err = cn.fetchNew(last)
	} else {
		uids, err = cn.searchNew(last)
	}
	if err != nil {
		return softIfIMAP(err)
	}
	held, retry, err := s.deferred(cn.uidValidity)
	if err != nil {
		return &softError{err: fmt.Errorf("inbox: deferred: %w", err)}
	}
	if retry && len(held) > 0 {
		// Held messages first, in UID order; their sizes are asked for
		// with the batch.
		uids = append(slices.Clone(held), uids...)
		sizes = nil
	}
	for len(uids) > 0 {
		n := min(len(uids), s.opt.BatchSize)
		if err := cn.batch(ctx, uids[:n], sizes); err != nil {
			return err
		}
		uids = uids[n:]
		// Later batches ask for their sizes again, just before their
		// bodies: whatever was expunged meanwhile is skipped there.
		sizes = nil
	}
	if last > 0 && (full || !cn.reapplied) {
		cn.reapplied = true
		if err := cn.reapply(last, held); err != nil {
			s.log.Warn("inbox: re-applying the after-commit action failed", "mailbox", s.opt.Mailbox, "err", err)
		}
	}
	return nil
}

// deferred asks a Deferrer handler which UIDs it holds on the server and
// whether to fetch them again now; nothing for other handlers.
func (s *Session) deferred(uidValidity uint32) (held []uint32, retry bool, err error) {
	d, ok := s.h.(Deferrer)
	if !ok {
		return nil, false, nil
	}
	held, retry, err = d.Deferred(s.opt.Mailbox, uidValidity)
	if err != nil {
		return nil, false, err
	}
	held = slices.Clone(held)
	slices.Sort(held)
	return slices.Compact(held), retry, nil
}

// searchNew returns the UIDs above last, in order (UID SEARCH UID last+1:*).
func (cn *conn) searchNew(last uint32) ([]uint32, error) {
	var set imap.UIDSet
	set.AddRange(imap.UID(last+1), 0) // 0 is "*"
	var sd *imap.SearchData
	err := cn.guard(cn.s.opt.CommandTimeout, "inbox: uid search", func() (err error) {
		sd, err = cn.c.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{set}}, nil).Wait()
		return err
	})
	if err != nil {
		return nil, err
	}
	var uids []uint32
	for _, uid := range sd.AllUIDs() {
		// RFC 3501 section 6.4.8: "N:*" always includes the highest UID,
		// even when it is below N.
		if uint32(uid) > last {
			uids = append(uids, uint32(uid))
		}
	}
	slices.Sort(uids)
	return slices.Compact(uids), nil
}

// fetchNew returns the UIDs above last, in order, and their sizes, in one
// command: UID FETCH last+1:* (UID RFC822.SIZE) (RFC 3501 section 6.4.8;
// RFC 9051 section 6.4.9). It is sent right behind the DONE of an IDLE, so
// after an EXISTS the new mail's sizes come one round trip after the
// notification instead of three. sizes is nil when a response carried a
// UID without its size (an unsolicited FETCH matched to this command): the
// batch then asks for the sizes again.
func (cn *conn) fetchNew(last uint32) (uids []uint32, sizes map[uint32]int64, err error) {
	var set imap.UIDSet
	set.AddRange(imap.UID(last+1), 0) // 0 is "*"
	sizes = make(map[uint32]int64)
	complete := true
	err = cn.guard(cn.s.opt.CommandTimeout, "inbox: fetch new", func() error {
		fetch := cn.c.Fetch(set, &imap.FetchOptions{UID: true, RFC822Size: true})
		// Drain the FETCH before waiting for the IDLE's OK: the reader
		// goroutine hands FETCH responses over one at a time.
		for m := fetch.Next(); m != nil; m = fetch.Next() {
			var uid uint32
			size, sized := int64(0), false
			for it := m.Next(); it != nil; it = m.Next() {
				switch it := it.(type) {
				case imapclient.FetchItemDataUID:
					uid = uint32(it.UID)
				case imapclient.FetchItemDataRFC822Size:
					size, sized = it.Size, true
				}
			}
			// RFC 3501 section 6.4.8: "N:*" always includes the highest
			// UID, even when it is below N (go-imap passes that one to
			// the unilateral handler; this is the belt to its braces).
			if uid <= last {
				continue
			}
			uids = append(uids, uid)
			if sized {
				sizes[uid] = size
			} else {
				complete = false
			}
		}
		return errors.Join(fetch.Close(), cn.idleOK())
	})
	if err != nil {
		return nil, nil, err
	}
	slices.Sort(uids)
	uids = slices.Compact(uids)
	if !complete {
		sizes = nil
	}
	return uids, sizes, nil
}

// idleOK waits, without a watchdog of its own (the caller's guard covers
// it), for the tagged OK of an IDLE ended by waitIdle.
func (cn *conn) idleOK() error {
	idle := cn.idle
	if idle == nil {
		return nil
	}
	cn.idle = nil
	if err := idle.Wait(); err != nil {
		return fmt.Errorf("idle done: %w", err)
	}
	return nil
}

// settleIdle waits for the tagged OK of an IDLE ended by waitIdle, if it
// has not come yet.
func (cn *conn) settleIdle() error {
	if cn.idle == nil {
		return nil
	}
	idle := cn.idle
	cn.idle = nil
	return cn.guard(cn.s.opt.CommandTimeout, "inbox: idle done", idle.Wait)
}

// reapply applies the after-commit action again to committed messages (UID
// 1 to last) that still lack it: a crash or a dropped connection between a
// commit and its STORE/MOVE leaves them so. Done on every new connection and
// every resync; the bot owns \Seen in the watched mailbox.
func (cn *conn) reapply(last uint32, held []uint32) error {
	s := cn.s
	if s.opt.AfterCommit == "" {
		return nil
	}
	var set imap.UIDSet
	set.AddRange(1, imap.UID(last))
	crit := &imap.SearchCriteria{UID: []imap.UIDSet{set}}
	if s.opt.AfterCommit == "seen" {
		crit.NotFlag = []imap.Flag{imap.FlagSeen}
	}
	var sd *imap.SearchData
	err := cn.guard(s.opt.CommandTimeout, "inbox: uid search", func() (err error) {
		sd, err = cn.c.UIDSearch(crit, nil).Wait()
		return err
	})
	if err != nil {
		return err
	}
	var uids []uint32
	for _, uid := range sd.AllUIDs() {
		// Held messages were never committed: they stay as they are.
		if _, isHeld := slices.BinarySearch(held, uint32(uid)); uint32(uid) <= last && !isHeld {
			uids = append(uids, uint32(uid))
		}
	}
	if len(uids) == 0 {
		return nil
	}
	if err := cn.afterCommit(uids); err != nil {
		return err
	}
	s.log.Info("inbox: after-commit action re-applied", "mailbox", s.opt.Mailbox, "uid", uids[0], "count", len(uids))
	s.event(Event{Kind: "reapplied", UID: uids[0]})
	return nil
}

// softIfIMAP marks a NO/BAD command response as soft: the connection itself
// is fine.
func softIfIMAP(err error) error {
	var ie *imap.Error
	if errors.As(err, &ie) {
		return &softError{err: err}
	}
	return err
}

// batch handles up to BatchSize UIDs: sizes first (to refuse oversized mail
// before downloading it), then the bodies streamed into the spool, then
// Process in UID order once the FETCH is closed (no command may run while a
// FETCH's literals are pending). known holds the sizes of every UID when
// fetchNew just got them; nil asks the server.
func (cn *conn) batch(ctx context.Context, uids []uint32, known map[uint32]int64) error {
	s := cn.s
	timeout := s.opt.CommandTimeout

	// Phase 1: RFC822.SIZE. A UID the server does not return was expunged
	// since the search (RFC 3501 section 6.4.8: non-existent UIDs are
	// ignored); UIDs are never reused, so skipping it is safe.
	sizes := known
	if sizes == nil {
		sizes = make(map[uint32]int64, len(uids))
		err := cn.guard(timeout, "inbox: fetch sizes", func() error {
			msgs, err := cn.c.Fetch(uidSet(uids), &imap.FetchOptions{UID: true, RFC822Size: true}).Collect()
			for _, m := range msgs {
				if m.UID != 0 {
					sizes[uint32(m.UID)] = m.RFC822Size
				}
			}
			return err
		})
		if err != nil {
			return softIfIMAP(err)
		}
	}

	var want []uint32
	var total int64
	tooLarge := make(map[uint32]int64)
	for _, uid := range uids {
		size, ok := sizes[uid]
		switch {
		case !ok:
			s.log.Info("inbox: message expunged before fetch", "mailbox", s.opt.Mailbox, "uid", uid)
		case size > s.opt.MaxSize:
			tooLarge[uid] = size
		default:
			want = append(want, uid)
			total += size
		}
	}

	// Phase 2: stream BODY.PEEK[] (\Seen untouched) into the spool.
	tokens := make(map[uint32]string, len(want))
	spooled := make(map[uint32]int64, len(want))
	failed := make(map[uint32]error)
	var fetchErr error
	if len(want) > 0 {
		d := timeout + time.Duration(total)*time.Second/bodyRate
		fetchErr = cn.guard(d, "inbox: fetch bodies", func() error {
			fetch := cn.c.Fetch(uidSet(want), &imap.FetchOptions{
				UID:         true,
				RFC822Size:  true,
				BodySection: []*imap.FetchItemBodySection{{Peek: true}},
			})
			stopped := false // Spool failed: drain the rest without spooling
			for m := fetch.Next(); m != nil; m = fetch.Next() {
				var uid uint32
				for it := m.Next(); it != nil; it = m.Next() {
					switch it := it.(type) {
					case imapclient.FetchItemDataUID:
						uid = uint32(it.UID)
					case imapclient.FetchItemDataBodySection:
						if uid == 0 || stopped || it.Literal == nil {
							continue // left unread: m.Next discards it
						}
						size := it.Literal.Size()
						if size > s.opt.MaxSize {
							// QUIRK: RFC822.SIZE understated the literal.
							tooLarge[uid] = size
							continue
						}
						tok, err := cn.spool(it.Literal, size)
						if err != nil {
							failed[uid] = fmt.Errorf("inbox: spool: %w", err)
							stopped = true
							continue
						}
						tokens[uid] = tok
						spooled[uid] = size
						s.event(Event{Kind: "fetched", UID: uid})
					}
				}
			}
			return fetch.Close()
		})
	}

	// Phase 3: Process in UID order; stop at the first message that is not
	// ready. Spooled messages are kept, so they are processed even when the
	// FETCH failed later on.
	var ready []Delivery
	var stopErr error
collect:
	for _, uid := range uids {
		d := Delivery{Mailbox: s.opt.Mailbox, UIDValidity: cn.uidValidity, UID: uid}
		if _, ok := sizes[uid]; !ok {
			continue // expunged
		}
		if size, ok := tooLarge[uid]; ok {
			d.Size, d.TooLarge = size, true
		} else if tok, ok := tokens[uid]; ok {
			d.Size, d.Token = spooled[uid], tok
		} else {
			switch {
			case failed[uid] != nil:
				stopErr = &softError{failed[uid], uid}
			case fetchErr != nil:
				stopErr = softIfIMAP(fetchErr)
			default:
				// go-imap drops a FETCH response whose UID comes after
				// the literal: never advance the watermark past it.
				stopErr = &softError{fmt.Errorf("%w (uid %d)", ErrMissingUID, uid), uid}
			}
			break collect
		}
		ready = append(ready, d)
	}
	if ctx.Err() != nil {
		return ctx.Err() // stopping: take no new message
	}
	cn.busy.Lock()
	err := cn.process(ctx, ready)
	cn.busy.Unlock()
	if err != nil {
		return err
	}
	if stopErr != nil {
		return stopErr
	}
	if fetchErr != nil {
		return softIfIMAP(fetchErr)
	}
	return nil
}

// spool hands one literal to the handler and checks it consumed all of it.
func (cn *conn) spool(lit imap.LiteralReader, size int64) (string, error) {
	cr := &countingReader{r: lit}
	tok, err := cn.s.h.Spool(cr, size)
	if err != nil {
		return "", err
	}
	if cr.n != size {
		return "", fmt.Errorf("handler read %d of %d bytes", cr.n, size)
	}
	return tok, nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// process commits ds (the handler may take them in several calls), then
// applies the after-commit action to every committed message at once. A
// temporary error stops the round (softError) after flagging what was
// committed before it; a permanent one was recorded by the handler and the
// rest goes on.
func (cn *conn) process(ctx context.Context, ds []Delivery) error {
	s := cn.s
	var done []uint32
	var stop error
	for len(ds) > 0 {
		n, err := s.h.Process(ctx, ds)
		if n < 0 || n > len(ds) || (n == 0 && err == nil) {
			stop = &softError{fmt.Errorf("inbox: handler committed %d of %d", n, len(ds)), ds[0].UID}
			break
		}
		for _, d := range ds[:n] {
			done = append(done, d.UID)
		}
		ds = ds[n:]
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			stop = ctx.Err()
			break
		}
		if IsDeferred(err) {
			// Left on the server, untouched; the handler asks for it
			// again (Deferrer).
			s.log.Info("inbox: message deferred", "mailbox", s.opt.Mailbox, "uid", ds[0].UID, "err", err)
			s.event(Event{Kind: "deferred", UID: ds[0].UID, Err: err})
			ds = ds[1:]
			continue
		}
		if IsTemporary(err) {
			stop = &softError{fmt.Errorf("inbox: process: %w", err), ds[0].UID}
			break
		}
		s.log.Warn("inbox: message quarantined", "mailbox", s.opt.Mailbox, "uid", ds[0].UID, "err", err)
		s.event(Event{Kind: "error", UID: ds[0].UID, Err: err})
		ds = ds[1:]
	}
	if len(done) > 0 {
		if err := cn.afterCommit(done); err != nil {
			// The messages are committed; a dead connection shows up at
			// the next command, and the next resync applies it again.
			s.log.Warn("inbox: after-commit action failed", "mailbox", s.opt.Mailbox, "uid", done[0], "err", err)
			s.event(Event{Kind: "error", UID: done[0], Err: err})
		}
		for _, uid := range done {
			s.event(Event{Kind: "processed", UID: uid})
		}
	}
	return stop
}

func (cn *conn) afterCommit(uids []uint32) error {
	s := cn.s
	set := uidSet(uids)
	switch ac := s.opt.AfterCommit; {
	case ac == "":
		return nil
	case ac == "seen":
		return cn.guard(s.opt.CommandTimeout, "inbox: store seen", func() error {
			return cn.c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true,
				Flags: []imap.Flag{imap.FlagSeen}}, nil).Close()
		})
	default:
		folder := strings.TrimPrefix(ac, "move:")
		caps := cn.c.Caps()
		if !caps.Has(imap.CapMove) && !caps.Has(imap.CapUIDPlus) {
			// go-imap's fallback would send a plain EXPUNGE (RFC 3501
			// section 6.4.3), removing every \Deleted message.
			return ErrUnsafeMove
		}
		return cn.guard(s.opt.CommandTimeout, "inbox: move", func() error {
			_, err := cn.c.Move(set, folder).Wait()
			return err
		})
	}
}

// waitIdle waits in IDLE (RFC 2177) for an EXISTS, a poke or the resync
// timer. It reports whether the next round must resync (re-select). It only
// sends the DONE: the round's first command follows it at once (RFC 3501
// section 5.5 lets a client send a command before the previous one
// completes; RFC 2177 forbids commands only before the DONE) and the IDLE's
// tagged OK is awaited with it (cn.idle).
func (cn *conn) waitIdle(ctx context.Context) (full bool, err error) {
	s := cn.s
	var idle *imapclient.IdleCommand
	err = cn.guard(s.opt.CommandTimeout, "inbox: idle", func() (err error) {
		idle, err = cn.c.Idle()
		return err
	})
	if err != nil {
		return false, err
	}
	s.event(Event{Kind: "idle"})
	t := time.NewTimer(cn.untilResync())
	defer t.Stop()
	select {
	case <-cn.wake:
	case <-s.poke:
		full = true
	case <-t.C:
		full = true
	case <-cn.c.Closed():
	case <-ctx.Done():
		return false, ctx.Err()
	}
	// Close writes DONE and does not wait for the server.
	if err := cn.guard(s.opt.CommandTimeout, "inbox: idle done", idle.Close); err != nil {
		return full, err
	}
	cn.idle = idle
	return full, nil
}

// waitPoll waits PollInterval (at most ResyncInterval) or for a poke; every
// poll is a full resync.
func (cn *conn) waitPoll(ctx context.Context) (bool, error) {
	s := cn.s
	t := time.NewTimer(min(s.opt.PollInterval, s.opt.ResyncInterval, cn.untilResync()))
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.poke:
	case <-cn.c.Closed():
		return false, fmt.Errorf("inbox: poll: %w", net.ErrClosed)
	case <-ctx.Done():
		return false, ctx.Err()
	}
	s.event(Event{Kind: "poll"})
	return true, nil
}

// waitFast sends NOOP every FastInterval until the server reports an EXISTS,
// a poke arrives or a resync is due.
func (cn *conn) waitFast(ctx context.Context) (bool, error) {
	s := cn.s
	tk := time.NewTicker(s.opt.FastInterval)
	defer tk.Stop()
	for {
		select {
		case <-tk.C:
		case <-s.poke:
			return true, nil
		case <-ctx.Done():
			return false, ctx.Err()
		}
		err := cn.guard(s.opt.CommandTimeout, "inbox: noop", func() error {
			return cn.c.Noop().Wait()
		})
		if err != nil {
			return false, err
		}
		s.event(Event{Kind: "poll"})
		select {
		case <-cn.wake:
			return false, nil
		default:
		}
		if cn.untilResync() <= 0 {
			return true, nil
		}
	}
}

// untilResync is how long until the next full round: the resync interval,
// or sooner the retry of a round that stopped on a temporary error.
func (cn *conn) untilResync() time.Duration {
	d := cn.s.opt.ResyncInterval - time.Since(cn.lastFull)
	if !cn.retryAt.IsZero() {
		d = min(d, time.Until(cn.retryAt))
	}
	return max(0, d)
}

func uidSet(uids []uint32) imap.UIDSet {
	var set imap.UIDSet
	for _, u := range uids {
		set.AddNum(imap.UID(u))
	}
	return set
}

package inbox

import (
	"context"
	"errors"
	"fmt"

	"github.com/emersion/go-imap/v2"
)

// ErrNoUIDExpunge means the server has neither UIDPLUS nor IMAP4rev2, so
// Remove cannot expunge only its own messages (a plain EXPUNGE would remove
// every \Deleted message in the mailbox): nothing was removed.
var ErrNoUIDExpunge = errors.New("inbox: server has neither UIDPLUS nor IMAP4rev2")

// Remove deletes every message in opt.Mailbox whose header field name
// contains value, over a connection of its own (the delivery self-test
// clears its probe with it). It reports how many it removed. RFC 3501
// section 6.4.4 (SEARCH HEADER), RFC 4315 section 2.1 (UID EXPUNGE).
func Remove(ctx context.Context, opt Options, name, value string) (int, error) {
	s := New(opt, nil)
	cn := &conn{s: s, wake: make(chan struct{}, 1)}
	if err := cn.connect(ctx); err != nil {
		return 0, err
	}
	defer closeQuietly(cn.c)
	stop := context.AfterFunc(ctx, func() { closeQuietly(cn.c) })
	defer stop()
	timeout := s.opt.CommandTimeout
	var uids []imap.UID
	err := cn.guard(timeout, "inbox: search", func() error {
		data, err := cn.c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: name, Value: value}}}, nil).Wait()
		if err != nil {
			return err
		}
		uids = data.AllUIDs()
		return nil
	})
	if err != nil || len(uids) == 0 {
		return 0, err
	}
	caps := cn.c.Caps()
	if !caps.Has(imap.CapUIDPlus) && !caps.Has(imap.CapIMAP4rev2) {
		return 0, ErrNoUIDExpunge
	}
	set := imap.UIDSetNum(uids...)
	err = cn.guard(timeout, "inbox: store deleted", func() error {
		return cn.c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close()
	})
	if err == nil {
		err = cn.guard(timeout, "inbox: uid expunge", func() error { return cn.c.UIDExpunge(set).Close() })
	}
	if err != nil {
		return 0, fmt.Errorf("inbox: remove: %w", err)
	}
	_ = cn.guard(timeout, "inbox: logout", func() error { return cn.c.Logout().Wait() })
	return len(uids), nil
}

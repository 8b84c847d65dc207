package intake

import (
	"context"
	"fmt"
	"io"
	"strings"

	"mailbot/mailbot/outmail"
	"mailbot/mailbot/parse"
	"mailbot/mailbot/spam"
	"mailbot/mailbot/triage"
	"mailbot/policy"
	"mailbot/store"
)

// incoming is what examine learned from a message, before any decision.
type incoming struct {
	msg      *parse.Message // nil when the message could not be parsed
	parseErr error
	verdict  triage.Verdict
	from     string // lowercase sender address, "" if none
	crypto   cryptoFacts
	team     *teamFacts   // set when From is a team member
	spam     spam.Verdict // a reporter's mail: the trusted verdict, or the filter's
	spamErr  error        // the filter failed: counted as not spam (a doubt for the case)
	hints    policy.Hints // a reporter's readable mail: the policy's scope hints (examineScope); only a new case uses them
}

// examine reads the raw message from the store and parses it. It never
// touches the database. ctx bounds the spam filter's call.
func (l *Line) examine(ctx context.Context, blob store.Blob) (*incoming, error) {
	rc, err := l.store.OpenRaw(blob.Hash)
	if err != nil {
		return nil, &TemporaryError{Err: fmt.Errorf("open raw: %w", err)}
	}
	defer rc.Close()
	msg, err := parse.Parse(rc, l.parseLimits())
	if err != nil {
		return &incoming{parseErr: err}, nil
	}
	in := &incoming{msg: msg}
	if len(msg.From) > 0 {
		in.from = strings.ToLower(msg.From[0].Address)
	}
	in.verdict = triage.Classify(msg, l.self())
	if in.verdict.Class != triage.ClassReport {
		// Robots and our own mail are never decrypted: nothing answers them.
		return in, nil
	}
	raw := func() (io.ReadCloser, error) { return l.store.OpenRaw(blob.Hash) }
	if err := l.examineTeam(in, raw); err != nil {
		return nil, err
	}
	if in.team == nil {
		l.openCrypto(in, raw)
		l.examineSpam(ctx, in, raw)
		l.examineScope(in)
	}
	return in, nil
}

// examineScope matches the report's text against the policy's scope hints
// here, where the messages of a batch are examined in parallel: the match
// reads the whole text, and inside the transaction it would hold up every
// other message of the batch. Only a new case uses it (scopeHints).
func (l *Line) examineScope(in *incoming) {
	if l.policy == nil || in.crypto.unreadable() {
		return
	}
	in.hints = l.policy.ScopeHints(in.msg.Subject, in.body())
}

// examineSpam decides whether a reporter's mail is suspected spam (issue
// 18): the trusted MTA's verdict headers first (only the sources of
// [spam] trust, which the MTA strips from incoming mail); then, when a
// filter is configured and the headers did not say spam, the filter itself,
// bounded by its timeout and ctx. A filter that fails counts as "not spam"
// (logged): a filter that is down must never silence real reporters.
// Follow-ups get a verdict too; only a new case acts on it (route).
func (l *Line) examineSpam(ctx context.Context, in *incoming, raw func() (io.ReadCloser, error)) {
	in.spam = spam.FromHeaders(in.msg.Header, l.cfg.SpamTrust())
	f := l.cfg.SpamFilter()
	if in.spam.Spam || f == nil || l.onKnownThread(in) {
		return
	}
	rc, err := raw()
	if err != nil {
		l.log.Warn("spam filter not asked: raw message unreadable", "msgid", in.msg.MessageID, "err", err)
		return
	}
	defer rc.Close()
	v, err := f.Check(ctx, rc)
	if err != nil {
		// Fail open: the reason ("not checked: ...") is kept with the verdict.
		l.log.Warn("spam filter failed: counted as not spam", "msgid", in.msg.MessageID, "err", err)
	}
	in.spam, in.spamErr = v, err
}

// onKnownThread reports whether a message answers mail of a case: a
// follow-up, which no spam verdict holds, so the filter is not asked.
func (l *Line) onKnownThread(in *incoming) (known bool) {
	l.store.View(func(tx *store.Tx) error {
		_, known = threadCase(tx, triage.ThreadIDs(in.msg))
		return nil
	})
	return known
}

// threadCase is the case of the first of the Message-IDs ids that is on one.
func threadCase(tx *store.Tx, ids []string) (uint64, bool) {
	for _, id := range ids {
		if cid, ok := tx.CaseByMessageID(id); ok {
			return cid, true
		}
	}
	return 0, false
}

func (l *Line) parseLimits() parse.Limits {
	lim := parse.DefaultLimits()
	lim.MaxSize = l.cfg.Limits.MaxMessageBytes
	// Decryption streams from the spool file: by default any encrypted
	// part that fits in a message is decrypted (a 25 MB attachment is
	// 44 MB armored).
	lim.MaxPGPBytes = l.cfg.Limits.MaxMessageBytes
	if l.cfg.Limits.MaxDecryptBytes > 0 {
		lim.MaxPGPBytes = l.cfg.Limits.MaxDecryptBytes
	}
	lim.MaxParts = l.cfg.Limits.MaxParts
	lim.MaxDepth = l.cfg.Limits.MaxDepth
	return lim
}

func (l *Line) self() triage.Self {
	return triage.Self{
		Addresses:    []string{l.cfg.Address},
		MsgIDDomain:  l.cfg.MsgIDDomain,
		LoopHeader:   outmail.LoopHeader,
		OwnMessageID: outmail.OwnMessageID,
	}
}

package intake

import (
	"fmt"
	"io"
	"strings"

	"mailbot/mailbot/outmail"
	"mailbot/mailbot/parse"
	"mailbot/mailbot/triage"
	"mailbot/store"
)

// incoming is what examine learned from a message, before any decision.
type incoming struct {
	msg      *parse.Message // nil when the message could not be parsed
	parseErr error
	verdict  triage.Verdict
	from     string // lowercase sender address, "" if none
	crypto   cryptoFacts
	team     *teamFacts // set when From is a team member
}

// examine reads the raw message from the store and parses it. It never
// touches the database.
func (l *Line) examine(blob store.Blob) (*incoming, error) {
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
	}
	return in, nil
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

		TrustedSpamHeader: l.cfg.TrustSpamFlag,
	}
}

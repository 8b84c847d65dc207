package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"mailbot/policy"
	"mailbot/store"
)

func init() {
	register(command{"cases", "--config F [--json]", "list cases", cmdCases})
	register(command{"case", "--config F [--json] ID", "show one case: its timeline of messages and events", cmdCase})
	register(command{"outbox", "--config F [--json]", "list outgoing mail and its state", cmdOutbox})
}

// The JSON shapes below are documented in README.md ("JSON reference") and
// kept stable: fields may be added, never renamed or removed.

// CaseSummary is one row of `mailbot cases --json`.
type CaseSummary struct {
	ID       uint64    `json:"id"`
	Ref      string    `json:"ref"`
	Status   string    `json:"status"`
	Subject  string    `json:"subject"`
	Reporter string    `json:"reporter"`
	Language string    `json:"language"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
	Messages int       `json:"messages"`
}

// ClockView is a policy clock on a case.
type ClockView struct {
	Name    string     `json:"name"`
	State   string     `json:"state"` // running, met, breached, paused
	Started time.Time  `json:"started"`
	Due     time.Time  `json:"due"`
	Stopped *time.Time `json:"stopped,omitempty"`
}

// MessageView is one stored message of a case.
type MessageView struct {
	ID             uint64    `json:"id"`
	Direction      string    `json:"direction"` // in, out
	Class          string    `json:"class"`
	Reason         string    `json:"reason,omitempty"`
	From           string    `json:"from"`
	To             []string  `json:"to,omitempty"`
	Subject        string    `json:"subject"`
	MessageID      string    `json:"message_id,omitempty"`
	Received       time.Time `json:"received"`
	Size           int64     `json:"size"`
	Hash           string    `json:"sha256,omitempty"`
	Encrypted      bool      `json:"encrypted"`
	Signed         bool      `json:"signed"`
	SignatureValid bool      `json:"signature_valid"`
	Signer         string    `json:"signer,omitempty"`
	Attachments    []AttView `json:"attachments,omitempty"`
}

// AttView is an attachment of a message.
type AttView struct {
	Name        string `json:"name"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	Hash        string `json:"sha256"`
}

// EventView is one entry of a case's log.
type EventView struct {
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`
	Actor   string    `json:"actor"`
	Detail  string    `json:"detail,omitempty"`
	Message uint64    `json:"message,omitempty"`
}

// OutboxView is one outgoing mail.
type OutboxView struct {
	ID          uint64     `json:"id"`
	Case        string     `json:"case,omitempty"`
	Kind        string     `json:"kind"`
	MessageID   string     `json:"message_id"`
	To          []string   `json:"to"`
	State       string     `json:"state"` // queued, sent, failed
	Attempts    int        `json:"attempts"`
	NextAttempt *time.Time `json:"next_attempt,omitempty"`
	LastError   string     `json:"last_error,omitempty"`
	Created     time.Time  `json:"created"`
	SentAt      *time.Time `json:"sent_at,omitempty"`
}

// CaseView is `mailbot case --json`.
type CaseView struct {
	CaseSummary
	Participants []string          `json:"participants"`
	Fields       map[string]string `json:"fields"`
	Clocks       []ClockView       `json:"clocks"`
	Timeline     []MessageView     `json:"messages"`
	Events       []EventView       `json:"events"`
	Outbox       []OutboxView      `json:"outbox"`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func summary(tx *store.Tx, c *store.Case) (CaseSummary, error) {
	msgs, err := tx.Messages(c.ID)
	return CaseSummary{ID: c.ID, Ref: c.Ref, Status: c.Status, Subject: c.Subject, Reporter: c.Reporter,
		Language: c.Language, Created: c.Created, Updated: c.Updated, Messages: len(msgs)}, err
}

func cmdCases(ctx context.Context, env *Env, args []string) int {
	fs := flags(env, "cases")
	cfgPath := fs.String("config", "", "configuration `file`")
	asJSON := fs.Bool("json", false, "print JSON")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	var out []CaseSummary
	if code := query(ctx, env, "cases", *cfgPath, nil, &out); code != ExitOK {
		return code
	}
	if *asJSON {
		return writeJSON(env.Stdout, orEmpty(out))
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CASE\tSTATUS\tCREATED\tMSGS\tREPORTER\tSUBJECT")
	for _, c := range out {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", oneLine(c.Ref), oneLine(c.Status), c.Created.Format("2006-01-02 15:04"), c.Messages, oneLine(c.Reporter), oneLine(c.Subject))
	}
	tw.Flush()
	return ExitOK
}

// queryCases lists every case.
func queryCases(_ *setup, tx *store.Tx, _ []string) (any, error) {
	var out []CaseSummary
	var err error
	tx.Cases(func(c *store.Case) bool {
		var s CaseSummary
		s, err = summary(tx, c)
		out = append(out, s)
		return err == nil
	})
	return orEmpty(out), err
}

func cmdCase(ctx context.Context, env *Env, args []string) int {
	fs := flags(env, "case")
	cfgPath := fs.String("config", "", "configuration `file`")
	asJSON := fs.Bool("json", false, "print JSON")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		return fail(env, "case", ExitUsage, fmt.Errorf("want one case id (SEC-2026-0001 or a number)"))
	}
	var v CaseView
	if code := query(ctx, env, "case", *cfgPath, fs.Args(), &v); code != ExitOK {
		return code
	}
	if *asJSON {
		return writeJSON(env.Stdout, v)
	}
	printCase(env.Stdout, v)
	return ExitOK
}

// queryCase is one case with its timeline. Stored clocks change on events;
// a deadline that passed since is shown as breached now.
func queryCase(s *setup, tx *store.Tx, args []string) (any, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("want one case id")
	}
	c, err := findCase(tx, args[0])
	if err != nil {
		return nil, err
	}
	c.Clocks = refreshClocks(s.policy, c.Clocks, time.Now())
	return caseView(tx, c)
}

func findCase(tx *store.Tx, id string) (*store.Case, error) {
	if n, err := strconv.ParseUint(id, 10, 64); err == nil {
		return tx.Case(n)
	}
	return tx.CaseByRef(id)
}

func caseView(tx *store.Tx, c *store.Case) (CaseView, error) {
	s, err := summary(tx, c)
	if err != nil {
		return CaseView{}, err
	}
	fields := c.Fields
	if fields == nil {
		fields = map[string]string{}
	}
	v := CaseView{CaseSummary: s, Participants: c.Participants, Fields: fields,
		Clocks: []ClockView{}, Timeline: []MessageView{}, Events: []EventView{}, Outbox: []OutboxView{}}
	for _, cl := range c.Clocks {
		v.Clocks = append(v.Clocks, ClockView{Name: cl.Name, State: cl.State, Started: cl.Started, Due: cl.Due, Stopped: optTime(cl.Stopped)})
	}
	msgs, err := tx.Messages(c.ID)
	if err != nil {
		return v, err
	}
	for _, m := range msgs {
		mv := MessageView{ID: m.ID, Direction: m.Direction, Class: m.Class, Reason: m.Reason, From: m.From, To: m.To,
			Subject: m.Subject, MessageID: m.MessageID, Received: m.Received, Size: m.Size, Hash: m.Hash,
			Encrypted: m.Encrypted, Signed: m.Signed, SignatureValid: m.SignatureValid, Signer: m.SignerFingerprint}
		for _, a := range m.Attachments {
			mv.Attachments = append(mv.Attachments, AttView{a.Name, a.ContentType, a.Size, a.Hash})
		}
		v.Timeline = append(v.Timeline, mv)
	}
	evs, err := tx.Events(c.ID)
	if err != nil {
		return v, err
	}
	for _, e := range evs {
		v.Events = append(v.Events, EventView{e.Time, e.Kind, e.Actor, e.Detail, e.MessageID})
	}
	err = tx.CaseOutbox(c.ID, func(o *store.OutboxItem) bool {
		v.Outbox = append(v.Outbox, outboxView(o, c.Ref))
		return true
	})
	return v, err
}

func outboxView(o *store.OutboxItem, ref string) OutboxView {
	v := OutboxView{ID: o.ID, Case: ref, Kind: o.Kind, MessageID: o.MessageID, To: o.To, State: o.State,
		Attempts: o.Attempts, LastError: o.LastError, Created: o.Created, SentAt: optTime(o.SentAt)}
	if o.State == "queued" {
		v.NextAttempt = optTime(o.NextAttempt)
	}
	return v
}

func printCase(w io.Writer, v CaseView) {
	fmt.Fprintf(w, "%s  %s  %s\n", oneLine(v.Ref), oneLine(v.Status), oneLine(v.Subject))
	fmt.Fprintf(w, "reporter: %s  language: %s  opened: %s\n", oneLine(v.Reporter), oneLine(v.Language), v.Created.Format(time.RFC3339))
	for _, c := range v.Clocks {
		fmt.Fprintf(w, "clock %-16s %-9s due %s\n", oneLine(c.Name), oneLine(c.State), c.Due.Format(time.RFC3339))
	}
	type row struct {
		t    time.Time
		line string
	}
	var rows []row
	for _, m := range v.Timeline {
		crypto := ""
		if m.Encrypted {
			crypto += " encrypted"
		}
		if m.Signed {
			if m.SignatureValid {
				crypto += " signed(valid " + oneLine(m.Signer) + ")"
			} else {
				crypto += " signed(unverified)"
			}
		}
		rows = append(rows, row{m.Received, fmt.Sprintf("message %d %s %s from %s: \"%s\"%s", m.ID, oneLine(m.Direction), oneLine(m.Class), oneLine(m.From), oneLine(m.Subject), crypto)})
	}
	for _, e := range v.Events {
		rows = append(rows, row{e.Time, fmt.Sprintf("event   %s by %s: %s", oneLine(e.Kind), oneLine(e.Actor), oneLine(e.Detail))})
	}
	for _, o := range v.Outbox {
		rows = append(rows, row{o.Created, fmt.Sprintf("outbox  %d %s to %s: %s (%d attempts) %s", o.ID, oneLine(o.Kind), oneLine(strings.Join(o.To, ",")), oneLine(o.State), o.Attempts, oneLine(o.LastError))})
	}
	// stable by time, keeping messages before their events
	for i := 1; i < len(rows); i++ {
		for j := i; j > 0 && rows[j].t.Before(rows[j-1].t); j-- {
			rows[j], rows[j-1] = rows[j-1], rows[j]
		}
	}
	for _, r := range rows {
		fmt.Fprintf(w, "%s  %s\n", r.t.Format("2006-01-02 15:04:05"), r.line)
	}
}

func cmdOutbox(ctx context.Context, env *Env, args []string) int {
	fs := flags(env, "outbox")
	cfgPath := fs.String("config", "", "configuration `file`")
	asJSON := fs.Bool("json", false, "print JSON")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	var out []OutboxView
	if code := query(ctx, env, "outbox", *cfgPath, nil, &out); code != ExitOK {
		return code
	}
	if *asJSON {
		return writeJSON(env.Stdout, orEmpty(out))
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCASE\tKIND\tSTATE\tTRIES\tTO\tERROR")
	for _, o := range out {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\n", o.ID, oneLine(o.Case), oneLine(o.Kind), oneLine(o.State), o.Attempts, oneLine(strings.Join(o.To, ",")), oneLine(o.LastError))
	}
	tw.Flush()
	return ExitOK
}

// queryOutbox lists outgoing mail.
func queryOutbox(_ *setup, tx *store.Tx, _ []string) (any, error) {
	var out []OutboxView
	refs := map[uint64]string{}
	err := tx.OutboxMeta(func(o *store.OutboxItem) bool {
		ref, ok := refs[o.CaseID]
		if !ok && o.CaseID != 0 {
			if c, err := tx.Case(o.CaseID); err == nil {
				ref = c.Ref
			}
			refs[o.CaseID] = ref
		}
		out = append(out, outboxView(o, ref))
		return true
	})
	return orEmpty(out), err
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func writeJSON(w io.Writer, v any) int {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return ExitFailure
	}
	return ExitOK
}

// refreshClocks marks running clocks past their due time as breached.
func refreshClocks(p *policy.Policy, clocks []store.Clock, now time.Time) []store.Clock {
	if p == nil {
		return clocks
	}
	pc := make([]policy.Clock, len(clocks))
	for i, c := range clocks {
		pc[i] = policy.Clock(c)
	}
	out := make([]store.Clock, len(clocks))
	for i, c := range p.Refresh(pc, now) {
		out[i] = store.Clock(c)
	}
	return out
}

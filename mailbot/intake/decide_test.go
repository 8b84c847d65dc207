package intake

import (
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"mailbot/mailbot/config"
	"mailbot/mailbot/outmail"
	"mailbot/mailbot/parse"
	"mailbot/mailbot/probe"
	"mailbot/mailbot/spam"
	"mailbot/mailbot/team"
	"mailbot/mailbot/triage"
	"mailbot/store"
)

// decideLine is a line with a team of two on duty (Bob and Ann on the
// test's day, in that order) and no store: decide needs none.
func decideLine(t *testing.T) *Line {
	t.Helper()
	cfg := config.Defaults()
	cfg.Address, cfg.MsgIDDomain = "security@example.com", "example.com"
	members := []team.Member{{Name: "Ann", Address: "ann@example.com"}, {Name: "Bob", Address: "bob@example.com"}}
	r, err := team.NewRoster(members, team.RotationConfig{}, nil)
	if err != nil {
		t.Fatalf("team.NewRoster() = %v", err)
	}
	now := func() time.Time { return time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC) }
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	out := &outmail.Composer{Config: &cfg, Roster: r, Now: now, Log: log}
	return New(Options{Config: &cfg, Out: out, Roster: r, Now: now, Logger: log})
}

// TestDecide: the line's rules as a plain function, without a store: for
// each rule, the facts examine found and the state read in the
// transaction give the message record's class and case, the events (on
// which case), the outgoing mail (to whom) and the Result apply writes.
func TestDecide(t *testing.T) {
	l := decideLine(t)
	now := l.now()
	const alice, mallory = "alice@example.org", "mallory@example.net"
	caseOf := func() *store.Case {
		return &store.Case{ID: 7, Ref: "SEC-2026-0007", Reporter: alice, Participants: []string{alice}, Status: "new",
			Fields: map[string]string{"assignee": "ann@example.com"}}
	}
	next := nextCase{ID: 8, Ref: "SEC-2026-0008"}
	msg := func(from string) *parse.Message {
		return &parse.Message{MessageID: "m1@example.org", Subject: "Report", From: []parse.Address{{Address: from}}, FromCount: 1}
	}
	fact := func(from string, c triage.Class) *incoming {
		return &incoming{msg: msg(from), from: from, verdict: triage.Verdict{Class: c, Reason: "why"}}
	}
	report := func(from string) *incoming { return fact(from, triage.ClassReport) }
	spammy := func(from string) *incoming {
		in := report(from)
		in.spam = spam.Verdict{Spam: true, Source: spam.SpamAssassin, Reason: "X-Spam-Flag: YES"}
		return in
	}
	ownProbe := func() *incoming {
		in := fact("security@example.com", triage.ClassOwn)
		in.msg.Header.Set(probe.Header, "t0ken")
		return in
	}
	fromMember := func(ok bool) *incoming {
		in := report("ann@example.com")
		in.team = &teamFacts{member: team.Member{Name: "Ann", Address: "ann@example.com"},
			verdict: team.Verdict{OK: ok, Member: team.Member{Name: "Ann", Address: "ann@example.com"}, Method: "pgp", Reason: "no valid signature or DKIM"}}
		return in
	}
	commands := func(text string) *incoming {
		in := fromMember(true)
		in.team.verdict.Text = text
		return in
	}
	onCase := func(k caseState) func(*state) { return func(st *state) { st.caseState = k } }

	tests := []struct {
		name   string
		in     *incoming
		state  func(st *state) // the state read; nil: nothing of note
		action string
		class  string   // the message record's class; "" when nothing is kept
		onCase string   // the case the message goes on ("" none)
		open   bool     // that case is opened
		events []string // "case kind", in order
		mails  []string // "template>recipient", in order
	}{
		{name: "unparseable", in: &incoming{parseErr: errors.New("bad MIME")}, action: ActionQuarantined},
		{name: "our own mail", in: fact("security@example.com", triage.ClassOwn), action: ActionRecorded, class: "own"},
		{name: "the self-test probe", in: ownProbe(), action: ActionRecorded,
			state: func(st *state) { st.probe, st.probeOK = probe.Record{Token: "t0ken"}, true }},
		{name: "a robot without a case", in: fact(mallory, triage.ClassAutomated), action: ActionRecorded, class: "automated"},
		{name: "a robot on a case", in: fact("noreply@example.org", triage.ClassAutomated),
			state:  func(st *state) { st.robotCase = caseOf() },
			action: ActionRecorded, class: "automated", onCase: "SEC-2026-0007", events: []string{"SEC-2026-0007 automated.received"}},
		{name: "a bounce on a case", in: fact("mailer-daemon@example.org", triage.ClassBounce),
			state:  func(st *state) { st.robotCase = caseOf() },
			action: ActionBounce, class: "bounce", onCase: "SEC-2026-0007", events: []string{"SEC-2026-0007 delivery.failed"}},
		{name: "follow-up by references from a stranger", in: report(mallory), state: onCase(caseState{byRefs: caseOf()}),
			action: ActionFollowUp, class: "follow-up", onCase: "SEC-2026-0007", events: []string{"SEC-2026-0007 message.received"}},
		{name: "follow-up by the tag from its reporter", in: report(alice), state: onCase(caseState{byTag: caseOf()}),
			action: ActionFollowUp, class: "follow-up", onCase: "SEC-2026-0007",
			events: []string{"SEC-2026-0007 message.received", "SEC-2026-0007 team.notified"},
			mails:  []string{"notice>ann@example.com"}},
		{name: "a stranger with a tag", in: report(mallory), state: onCase(caseState{byTag: caseOf()}),
			action: ActionOpened, class: "report", onCase: next.Ref, open: true,
			events: []string{"SEC-2026-0007 note", next.Ref + " case.opened", next.Ref + " note", next.Ref + " ack.queued", next.Ref + " team.notified"},
			mails:  []string{"ack>" + mallory, "notice>bob@example.com", "notice>ann@example.com"}},
		{name: "a ciphertext replayed by a stranger", in: report(mallory), state: onCase(caseState{replayOf: caseOf()}),
			action: ActionRecorded, class: "replay", onCase: "SEC-2026-0007", events: []string{"SEC-2026-0007 note"}},
		{name: "suspected spam", in: spammy(alice), action: ActionHeldSpam, class: "report", onCase: next.Ref, open: true,
			events: []string{next.Ref + " case.opened", next.Ref + " spam.held", next.Ref + " team.notified"},
			mails:  []string{"notice>bob@example.com", "notice>ann@example.com"}},
		{name: "a new report", in: report(alice), action: ActionOpened, class: "report", onCase: next.Ref, open: true,
			events: []string{next.Ref + " case.opened", next.Ref + " ack.queued", next.Ref + " team.notified"},
			mails:  []string{"ack>" + alice, "notice>bob@example.com", "notice>ann@example.com"}},
		{name: "ack rate-limited", in: report(alice), state: func(st *state) { st.ack.recent = l.cfg.Ack.RateLimit },
			action: ActionOpenedQuiet, class: "report", onCase: next.Ref, open: true,
			events: []string{next.Ref + " case.opened", next.Ref + " ack.suppressed", next.Ref + " team.notified"},
			mails:  []string{"notice>bob@example.com", "notice>ann@example.com"}},
		{name: "ack delayed by the global rate", in: report(alice), state: func(st *state) { st.ack.slot = now.Add(time.Hour) },
			action: ActionOpened, class: "report", onCase: next.Ref, open: true,
			events: []string{next.Ref + " case.opened", next.Ref + " ack.queued", next.Ref + " team.notified"},
			mails:  []string{"ack>" + alice, "notice>bob@example.com", "notice>ann@example.com"}},
		{name: "over a case cap, folded", in: report(alice),
			state: func(st *state) {
				st.caseCap = capState{reason: "over", burst: alice, first: true}
				st.newestOpen = caseOf()
			},
			action: ActionFolded, class: ActionFolded, onCase: "SEC-2026-0007",
			events: []string{"SEC-2026-0007 flood.folded", "SEC-2026-0007 team.notified"},
			mails:  []string{"flood>bob@example.com", "flood>ann@example.com"}},
		{name: "the disk is low", in: report(alice), state: func(st *state) { st.diskLow = "disk low" }, class: "report"},
		{name: "refused team mail naming a case", in: fromMember(false),
			state:  func(st *state) { st.team.named = caseOf() },
			action: ActionRecorded, class: "team-refused", events: []string{"SEC-2026-0007 team.refused"},
			mails: []string{"refused>bob@example.com", "refused>ann@example.com"}},
		{name: "refused team mail naming no case", in: fromMember(false), action: ActionRecorded, class: "team-refused",
			mails: []string{"refused>bob@example.com", "refused>ann@example.com"}},
		{name: "refused team mail, warnings used up", in: fromMember(false), state: func(st *state) { st.team.warnings = 10 },
			action: ActionRecorded, class: "team-refused"},
		{name: "accepted team mail", in: fromMember(true), state: func(st *state) { st.team.c = caseOf() },
			action: ActionRecorded, class: "team", onCase: "SEC-2026-0007", events: []string{"SEC-2026-0007 team.mail"}},
		{name: "team commands", in: commands("claim\nstatus triaged\n\nThanks, we are on it."), state: func(st *state) { st.team.c = caseOf() },
			action: ActionRecorded, class: "team", onCase: "SEC-2026-0007",
			events: []string{"SEC-2026-0007 team.mail", "SEC-2026-0007 command", "SEC-2026-0007 command", "SEC-2026-0007 relay.queued"},
			mails:  []string{"claimed>bob@example.com", "status>" + alice, "relay>" + alice, "confirm>ann@example.com"}},
		{name: "team commands naming no case", in: commands("status triaged\n"),
			action: ActionRecorded, class: "team", mails: []string{"confirm>ann@example.com"}},
		{name: "a replayed team mail", in: fromMember(true),
			state:  func(st *state) { st.team.c, st.team.replayed, st.team.named = caseOf(), true, caseOf() },
			action: ActionRecorded, class: "team-refused", events: []string{"SEC-2026-0007 team.refused"},
			mails: []string{"refused>bob@example.com", "refused>ann@example.com"}},
	}
	for _, tt := range tests {
		st := &state{now: now, next: next}
		if tt.state != nil {
			tt.state(st)
		}
		d := l.decide(Source{}, store.Blob{Hash: "h", Size: 1}, tt.in, st)
		var class, onCase string
		if d.message != nil {
			class = d.message.Class
			if d.onCase != nil && d.message.CaseID != d.onCase.ID {
				t.Errorf("%s: decide() message on case %d, want %d", tt.name, d.message.CaseID, d.onCase.ID)
			}
		}
		if d.onCase != nil {
			onCase = d.onCase.Ref
		}
		var events, mails []string
		for _, e := range d.events {
			events = append(events, e.c.Ref+" "+e.ev.Kind)
		}
		for _, m := range d.mails {
			var to string
			if m.to != nil {
				to = m.to.Address
			} else {
				to = m.c.Reporter
			}
			mails = append(mails, m.name+">"+to)
		}
		if d.res.Action != tt.action || class != tt.class || onCase != tt.onCase || d.open != tt.open ||
			!slices.Equal(events, tt.events) || !slices.Equal(mails, tt.mails) {
			t.Errorf("%s: decide() = action %q, class %q, case %q (open %v), events %q, mails %q;\n want action %q, class %q, case %q (open %v), events %q, mails %q",
				tt.name, d.res.Action, class, onCase, d.open, events, mails, tt.action, tt.class, tt.onCase, tt.open, tt.events, tt.mails)
		}
	}
}

// TestDecideDetails: what the decision says beyond its shape: the
// acknowledgement's slot and its rate-limit marks, the self-test probe's
// record, the refusal's reason on the case and nothing else of the mail
// acting on it, the disk's hold writing nothing.
func TestDecideDetails(t *testing.T) {
	l := decideLine(t)
	now := l.now()
	const alice = "alice@example.org"
	in := func(from string) *incoming {
		return &incoming{msg: &parse.Message{Subject: "Report", From: []parse.Address{{Address: from}}}, from: from,
			verdict: triage.Verdict{Class: triage.ClassReport}}
	}
	decide := func(in *incoming, set func(*state)) *decision {
		st := &state{now: now, next: nextCase{ID: 1, Ref: "SEC-2026-0001"}}
		set(st)
		return l.decide(Source{}, store.Blob{Hash: "h"}, in, st)
	}
	marks := func(d *decision) (keys []string) {
		for _, s := range d.sends {
			keys = append(keys, s.key)
		}
		return keys
	}

	t.Run("ack waits for the global slot", func(t *testing.T) {
		slot := now.Add(90 * time.Minute)
		d := decide(in(alice), func(st *state) {
			st.ack = ackState{slot: slot, marks: []sendMark{{key: "flood:ack", at: slot}}}
		})
		if len(d.mails) == 0 || !d.mails[0].notBefore.Equal(slot) || d.res.Acks != 1 {
			t.Fatalf("decide() mails %+v, acks %d; want the ack first, not before %v", d.mails, d.res.Acks, slot)
		}
		if got := marks(d); !slices.Contains(got, "flood:ack") || !slices.Contains(got, ackRateKey(alice)) {
			t.Errorf("decide() marks %q, want the global slot and the sender's ack mark", got)
		}
		i := slices.IndexFunc(d.events, func(e caseEvent) bool { return e.ev.Kind == "ack.queued" })
		if i < 0 || d.events[i].mail != 1 || !strings.Contains(d.events[i].ev.Detail, "waits until") {
			t.Errorf("decide() events %+v, want ack.queued naming the ack and its wait", d.events)
		}
	})
	t.Run("rate-limited ack books nothing", func(t *testing.T) {
		d := decide(in(alice), func(st *state) { st.ack.recent = l.cfg.Ack.RateLimit })
		if got := marks(d); slices.Contains(got, ackRateKey(alice)) || slices.Contains(got, "flood:ack") {
			t.Errorf("decide() marks %q, want no acknowledgement marks", got)
		}
	})
	t.Run("the probe's arrival", func(t *testing.T) {
		own := in("security@example.com")
		own.verdict.Class = triage.ClassOwn
		own.msg.Header.Set(probe.Header, "t0ken")
		d := decide(own, func(st *state) { st.probe, st.probeOK = probe.Record{Token: "t0ken"}, true })
		if d.message != nil || d.probe == nil || !d.probe.Arrived.Equal(now) || d.res.Class != "probe" {
			t.Errorf("decide(probe) = message %v, probe %+v, class %q; want nothing kept, arrival at %v", d.message, d.probe, d.res.Class, now)
		}
		d = decide(own, func(st *state) { st.probe, st.probeOK = probe.Record{Token: "t0ken", Arrived: now}, true })
		if d.message != nil || d.probe != nil {
			t.Errorf("decide(probe again) = message %v, probe %+v; want nothing written", d.message, d.probe)
		}
	})
	t.Run("a refusal on its case", func(t *testing.T) {
		forged := in("ann@example.com")
		reason := "no valid signature\r\nBcc: x"
		forged.team = &teamFacts{member: team.Member{Address: "ann@example.com"}, verdict: team.Verdict{Reason: reason}}
		c := &store.Case{ID: 7, Ref: "SEC-2026-0007", Reporter: alice, Status: "triaged"}
		d := decide(forged, func(st *state) { st.team.named = c })
		if len(d.events) != 1 {
			t.Fatalf("decide(refused) events %+v, want one", d.events)
		}
		e := d.events[0]
		if e.ev.Kind != "team.refused" || e.ev.Actor != "ann@example.com" || !e.ofMessage || strings.ContainsAny(e.ev.Detail, "\r\n") ||
			!strings.Contains(e.ev.Detail, "no valid signature") {
			t.Errorf("decide(refused) event %+v, want team.refused by the claimed From with the sanitized reason", e)
		}
		if d.onCase != nil || d.put || len(d.changed)+len(d.keys) != 0 || d.message.CaseID != 0 || c.Status != "triaged" {
			t.Errorf("decide(refused) acts on the case: onCase %v, put %v, changed %v, keys %v, message case %d, status %s", d.onCase, d.put, d.changed, d.keys, d.message.CaseID, c.Status)
		}
		for _, m := range d.mails {
			if m.name != "refused" {
				t.Errorf("decide(refused) mail %q, want only the team's warnings", m.name)
			}
		}
		if got := marks(d); !slices.Equal(got, []string{teamWarningKey}) {
			t.Errorf("decide(refused) marks %q, want the warning's", got)
		}
	})
	t.Run("a released ack shows the case as released", func(t *testing.T) {
		// Later commands of the same mail do not reach back into the
		// acknowledgement not-spam decided: it is rendered from the case
		// as it was released, as every other mail of a command is.
		member := team.Member{Name: "Ann", Address: "ann@example.com"}
		release := in("ann@example.com")
		release.team = &teamFacts{member: member, verdict: team.Verdict{OK: true, Member: member, Method: "pgp", Text: "not-spam\nlanguage de\n"}}
		held := &store.Case{ID: 7, Ref: "SEC-2026-0007", Reporter: alice, Status: "suspected-spam", Language: "en"}
		d := decide(release, func(st *state) { st.team.c, st.team.held = held, in(alice) })
		i := slices.IndexFunc(d.mails, func(m mailOut) bool { return m.name == "ack" })
		if i < 0 || held.Language != "de" {
			t.Fatalf("decide(not-spam, language de) mails %+v, case language %q; want an ack and the case in de", d.mails, held.Language)
		}
		if ack := d.mails[i].c; ack.Language != "en" || ack.Status != "new" || ack.ID != held.ID {
			t.Errorf("decide(not-spam, language de) ack of case %d in %q, status %q; want case %d as released: en, new", ack.ID, ack.Language, ack.Status, held.ID)
		}
	})
	t.Run("low disk writes nothing", func(t *testing.T) {
		d := decide(in(alice), func(st *state) { st.diskLow = "low" })
		if d.held != "low" || d.open || len(d.events)+len(d.mails)+len(d.sends) != 0 {
			t.Errorf("decide(disk low) = %+v, want held with nothing else", d)
		}
	})
}

package intake

import (
	"errors"
	"testing"

	"mailbot/mailbot/spam"
	"mailbot/mailbot/team"
	"mailbot/mailbot/triage"
	"mailbot/store"
)

// TestRoute: the line's rules, decided without a store from the facts
// examine found and the case state read in the transaction.
func TestRoute(t *testing.T) {
	const alice, mallory = "alice@example.org", "mallory@example.net"
	onCase := &store.Case{ID: 7, Ref: "SEC-7", Participants: []string{alice}}
	other := &store.Case{ID: 9, Ref: "SEC-9", Participants: []string{alice}}
	forgotten := &store.Case{ID: 8, Ref: "SEC-8", Participants: []string{""}}
	report := func(from string) *incoming {
		return &incoming{from: from, verdict: triage.Verdict{Class: triage.ClassReport}}
	}
	spammy := func(from string) *incoming {
		in := report(from)
		in.spam = spam.Verdict{Spam: true, Source: spam.SpamAssassin, Reason: "X-Spam-Flag: YES"}
		return in
	}
	class := func(c triage.Class) *incoming { return &incoming{from: alice, verdict: triage.Verdict{Class: c}} }
	fromMember := func(ok bool) *incoming {
		in := report("member@example.com")
		in.team = &teamFacts{verdict: team.Verdict{OK: ok}}
		return in
	}
	tests := []struct {
		name     string
		in       *incoming
		k        caseState
		want     rule
		wantCase *store.Case
		wantHow  threadHow
	}{
		{"unparseable", &incoming{parseErr: errors.New("bad MIME")}, caseState{}, ruleQuarantine, nil, threadHow{}},
		{"our own mail", class(triage.ClassOwn), caseState{byRefs: onCase}, ruleOwn, nil, threadHow{}},
		{"a robot on a case", class(triage.ClassAutomated), caseState{byRefs: onCase}, ruleAutomated, nil, threadHow{}},
		{"a bounce", class(triage.ClassBounce), caseState{}, ruleAutomated, nil, threadHow{}},
		{"team mail", fromMember(true), caseState{byRefs: onCase}, ruleTeam, nil, threadHow{}},
		{"refused team mail", fromMember(false), caseState{byRefs: onCase}, ruleTeamRefused, nil, threadHow{}},
		{"a ciphertext replayed by a stranger", report(mallory), caseState{replayOf: onCase, byRefs: other}, ruleReplay, onCase, threadHow{}},
		{"a ciphertext sent again by its reporter", report(alice), caseState{replayOf: onCase, byRefs: onCase}, ruleFollowUp, onCase, threadHow{by: "references"}},
		{"follow-up by references", report(mallory), caseState{byRefs: onCase}, ruleFollowUp, onCase, threadHow{by: "references"}},
		{"follow-up by the subject tag", report(alice), caseState{byTag: onCase}, ruleFollowUp, onCase, threadHow{by: "subject-tag"}},
		{"a stranger with a tag", report(mallory), caseState{byTag: onCase}, ruleNewCase, nil, threadHow{stranger: "SEC-7"}},
		// No From address never matches a case, even one that lists "".
		{"a tag without a sender", report(""), caseState{byTag: forgotten}, ruleNewCase, nil, threadHow{stranger: "SEC-8"}},
		{"a new report", report(alice), caseState{}, ruleNewCase, nil, threadHow{}},
		{"a new report a trusted verdict calls spam", spammy(alice), caseState{}, ruleSuspectedSpam, nil, threadHow{}},
		{"spam with a stranger's tag", spammy(mallory), caseState{byTag: onCase}, ruleSuspectedSpam, nil, threadHow{stranger: "SEC-7"}},
		// A verdict never holds a follow-up: the reporter is known already.
		{"a follow-up a verdict calls spam", spammy(alice), caseState{byRefs: onCase}, ruleFollowUp, onCase, threadHow{by: "references"}},
	}
	for _, tt := range tests {
		got, c, how := route(tt.in, tt.k)
		if got != tt.want || c != tt.wantCase || how != tt.wantHow {
			t.Errorf("%s: route() = %s, %v, %+v, want %s, %v, %+v", tt.name, got, c, how, tt.want, tt.wantCase, tt.wantHow)
		}
	}
}

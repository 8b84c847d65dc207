package soak

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var berlin = func() *time.Location {
	l, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		panic(err)
	}
	return l
}()

// cet is a Berlin wall-clock time in the Easter week of 2027.
func cet(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, berlin)
	if err != nil {
		panic(err)
	}
	return t
}

// smallPlan is one Caspar Health instance over Easter 2027: a report the
// team answers at once (rep-1), one it forgets (rep-2), spam and a robot,
// a swap of duty on Thursday and a Dovecot outage.
func smallPlan() Plan {
	in := Instance{
		Name: "caspar", Policy: "000_caspar_health.toml", Address: "security@caspar.soak.test",
		Team: []Member{
			{"ann", "ann@team.soak.test"}, {"bob", "bob@team.soak.test"}, {"cem", "cem@team.soak.test"},
		},
		Lead: "lead@team.soak.test", Zone: "Europe/Berlin", DutyMode: "weekly", DutyStart: "2027-03-22",
		DutySwaps: []DutySwap{{From: "2027-03-25", To: "2027-03-25", Pair: [2]string{"ann", "cem"}}},
	}
	act := func(at, kind, id, from, report, command string) Action {
		return Action{At: cet(at), Instance: "caspar", Kind: ActionKind(kind), ID: id, From: from, Report: report, Command: command}
	}
	return Plan{
		Seed: 1, Start: time.Date(2027, 3, 24, 0, 0, 0, 0, time.UTC), Span: 10 * 24 * time.Hour,
		Instances: []Instance{in},
		Actions: []Action{
			act("2027-03-24 10:00", "report", "rep-1", "r1@research.soak.test", "", ""),
			act("2027-03-24 10:30", "team-reply", "reply-1", "ann@team.soak.test", "rep-1", ""),
			act("2027-03-24 11:00", "report", "rep-2", "r2@research.soak.test", "", ""),
			act("2027-03-25 08:00", "spam", "spam-1", "promo@spam.soak.test", "", ""),
			act("2027-03-25 09:00", "robot", "robot-1", "", "", ""),
			act("2027-03-25 11:00", "team-command", "cmd-1", "cem@team.soak.test", "rep-1", "status confirmed\nexpected 2027-05-01"),
		},
		Faults: []Fault{{At: cet("2027-03-25 13:00"), Kind: FaultDovecot, For: time.Hour}},
	}
}

// perfectRun is what a product that keeps every promise of smallPlan
// shows: deadlines of rep-2 (acknowledge 3bd from Wed 11:00 over Good
// Friday and Easter Monday) on Wed 2027-03-31 11:00 CEST.
func perfectRun(p Plan) Observed {
	var o Observed
	o.Clock = Clock{Start: p.Start, Epoch: time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC), Scale: 720}
	for _, a := range p.Actions {
		o.Sent = append(o.Sent, Sent{Action: a.ID, At: a.At.Add(time.Minute)})
		o.Stored = append(o.Stored, Stored{Instance: a.Instance, MessageID: "<" + a.ID + "@soak.test>", Case: map[string]string{
			"rep-1": "SEC-2027-0001", "reply-1": "SEC-2027-0001", "cmd-1": "SEC-2027-0001", "rep-2": "SEC-2027-0002",
			"spam-1": "SEC-2027-0003", "robot-1": ""}[a.ID]})
	}
	mail := func(at, to, id, inReplyTo, subject, body string) {
		o.Mail = append(o.Mail, Mail{Instance: "caspar", To: to, MessageID: "<" + id + "@caspar.soak.test>",
			InReplyTo: inReplyTo, Subject: subject, Body: body, At: cet(at)})
	}
	mail("2027-03-24 10:03", "r1@research.soak.test", "ack1", "<rep-1@soak.test>", "[SEC-2027-0001] Received: your report", "")
	mail("2027-03-24 11:03", "r2@research.soak.test", "ack2", "<rep-2@soak.test>", "[SEC-2027-0002] Received: your report", "")
	// The team's mail answered: ann's reply relayed, cem's command
	// confirmed to him, its text relayed and the status told to r1.
	mail("2027-03-24 10:33", "r1@research.soak.test", "relay-reply1", "<rep-1@soak.test>", "Re: [SEC-2027-0001] XSS",
		"Thank you, we can reproduce it and are working on a fix.\r\n\r\n-- \r\nCaspar Health Security Team\r\n")
	mail("2027-03-25 11:03", "cem@team.soak.test", "confirm-cmd1", "<cmd-1@soak.test>", "[SEC-2027-0001] Done", "")
	mail("2027-03-25 11:03", "r1@research.soak.test", "relay-cmd1", "<rep-1@soak.test>", "Re: [SEC-2027-0001] XSS", "Thanks, noted.\r\n")
	mail("2027-03-25 11:03", "r1@research.soak.test", "notice-cmd1", "<rep-1@soak.test>", "[SEC-2027-0001] We confirmed the vulnerability", "")
	for _, m := range []string{"ann", "bob"} {
		mail("2027-03-24 10:02", m+"@team.soak.test", "new1-"+m, "", "[SEC-2027-0001] New report: XSS", "")
		mail("2027-03-24 11:02", m+"@team.soak.test", "new2-"+m, "", "[SEC-2027-0002] New report", "")
	}
	for _, m := range []string{"cem", "bob"} {
		mail("2027-03-25 08:02", m+"@team.soak.test", "held3-"+m, "", "[SEC-2027-0003] Held as suspected spam: win", "")
	}
	// Digests on the working days at 09:00, to the pair on duty: ann and
	// bob in the week of 03-22 (cem for ann on Thursday, the swap), bob and
	// cem in the week of 03-29; none on Good Friday or Easter Monday.
	for _, d := range []struct{ day, a, b string }{
		{"2027-03-24", "ann", "bob"}, {"2027-03-25", "cem", "bob"},
		{"2027-03-30", "bob", "cem"}, {"2027-03-31", "bob", "cem"}, {"2027-04-01", "bob", "cem"}, {"2027-04-02", "bob", "cem"},
	} {
		for _, m := range []string{d.a, d.b} {
			mail(d.day+" 09:01", m+"@team.soak.test", "digest-"+d.day+"-"+m, "", "Security cases today", "")
		}
	}
	due := "acknowledge due Wed 2027-03-31 11:00 CEST"
	mail("2027-03-30 11:01", "bob@team.soak.test", "remind24-bob", "", "[SEC-2027-0002] Reminder: "+due, "")
	mail("2027-03-30 11:01", "cem@team.soak.test", "remind24-cem", "", "[SEC-2027-0002] Reminder: "+due, "")
	mail("2027-03-31 09:01", "bob@team.soak.test", "remind2-bob", "", "[SEC-2027-0002] Reminder: "+due, "")
	mail("2027-03-31 09:01", "cem@team.soak.test", "remind2-cem", "", "[SEC-2027-0002] Reminder: "+due, "")
	for _, at := range []string{"2027-03-31 11:02", "2027-03-31 15:02"} {
		for _, m := range []string{"ann", "bob", "cem"} {
			mail(at, m+"@team.soak.test", "esc-"+at[11:13]+"-"+m, "", "[SEC-2027-0002] Overdue: acknowledge was due Wed 2027-03-31 11:00 CEST", "")
		}
	}
	f := p.Faults[0]
	o.Faults = []FaultRecord{{Fault: f, Began: f.At, Ended: f.At.Add(f.For), WallBegan: o.Clock.Wall(f.At), WallEnded: o.Clock.Wall(f.At.Add(f.For))}}
	for t := p.Start; t.Before(p.Start.Add(p.Span)); t = t.Add(5 * time.Minute) {
		ok := t.Before(f.At.Add(5*time.Minute)) || !t.Before(f.At.Add(f.For+5*time.Minute))
		o.Health = append(o.Health, Health{Instance: "caspar", At: t, OK: ok})
	}
	return o
}

func TestCheck(t *testing.T) {
	dropMail := func(id string) func(*Observed) {
		return func(o *Observed) {
			o.Mail = slices.DeleteFunc(o.Mail, func(m Mail) bool { return strings.Contains(m.MessageID, id) })
		}
	}
	moveMail := func(id, at string) func(*Observed) {
		return func(o *Observed) {
			for i := range o.Mail {
				if strings.Contains(o.Mail[i].MessageID, id) {
					o.Mail[i].At = cet(at)
				}
			}
		}
	}
	setMail := func(id string, set func(*Mail)) func(*Observed) {
		return func(o *Observed) {
			for i := range o.Mail {
				if strings.Contains(o.Mail[i].MessageID, id) {
					set(&o.Mail[i])
				}
			}
		}
	}
	copyMail := func(id, newID, at string) func(*Observed) {
		return func(o *Observed) {
			for _, m := range o.Mail {
				if strings.Contains(m.MessageID, id) {
					m.At = cet(at)
					if newID != "" {
						m.MessageID = "<" + newID + "@caspar.soak.test>"
					}
					o.Mail = append(o.Mail, m)
					return
				}
			}
		}
	}
	for _, tc := range []struct {
		name   string
		change func(*Observed)
		want   []string
	}{
		{"perfect run", func(*Observed) {}, nil},
		{"missing ack", dropMail("ack1"), []string{CheckAckMissing}},
		{"ack twice with two Message-IDs", copyMail("ack1", "ack1b", "2027-03-24 10:20"), []string{CheckAckTwice}},
		{"ack twice with one Message-ID (kill -9 window)", copyMail("ack1", "", "2027-03-24 10:20"), nil},
		{"late ack", moveMail("ack1", "2027-03-24 11:00"), []string{CheckAckLate}},
		{"late ack after a fault is not late", func(o *Observed) {
			o.Faults[0].Began, o.Faults[0].Ended = cet("2027-03-24 09:50"), cet("2027-03-24 10:40")
			moveMail("ack1", "2027-03-24 11:00")(o)
			o.Health = nil
			for t := o.Clock.Start; t.Before(o.Clock.Start.Add(10 * 24 * time.Hour)); t = t.Add(5 * time.Minute) {
				o.Health = append(o.Health, Health{Instance: "caspar", At: t, OK: t.Before(cet("2027-03-24 09:55")) || !t.Before(cet("2027-03-24 10:45"))})
			}
		}, nil},
		{"ack to spam", func(o *Observed) {
			o.Mail = append(o.Mail, Mail{Instance: "caspar", To: "promo@spam.soak.test", MessageID: "<x@caspar.soak.test>",
				InReplyTo: "<spam-1@soak.test>", Subject: "[SEC-2027-0003] Received: win", At: cet("2027-03-25 08:05")})
		}, []string{CheckAnsweredSpam}},
		{"a follow-up acknowledged as a new report", func(o *Observed) {
			o.Mail = append(o.Mail, Mail{Instance: "caspar", To: "ann@team.soak.test", MessageID: "<f@caspar.soak.test>",
				InReplyTo: "<reply-1@soak.test>", Subject: "[SEC-2027-0009] Received: Re: your report", At: cet("2027-03-24 10:35")})
		}, []string{CheckAckNotReport}},
		{"answer to a robot", func(o *Observed) {
			o.Mail = append(o.Mail, Mail{Instance: "caspar", To: "mailer-daemon@example.net", MessageID: "<y@caspar.soak.test>",
				InReplyTo: "<robot-1@soak.test>", Subject: "[SEC-2027-0004] Received: Undeliverable", At: cet("2027-03-25 09:05")})
		}, []string{CheckAnsweredBot}},
		{"reminder on Easter Monday", moveMail("remind24-bob", "2027-03-29 11:01"), []string{CheckRemindHours}},
		{"reminder at night", moveMail("remind24-bob", "2027-03-30 22:01"), []string{CheckRemindHours}},
		{"reminder held by an SMTP outage past closing time", func(o *Observed) {
			o.Faults[0].Kind = FaultSMTP
			o.Faults[0].Began, o.Faults[0].Ended = cet("2027-03-30 10:55"), cet("2027-03-30 18:00")
			moveMail("remind24-bob", "2027-03-30 18:10")(o)
		}, nil},
		{"no reminder before a breach", dropMail("remind"), []string{CheckRemindMiss}},
		{"reminder after its deadline", moveMail("remind2-bob", "2027-03-31 12:01"), []string{CheckRemindLate}},
		{"reminder of a kept commitment", func(o *Observed) {
			o.Mail = append(o.Mail, Mail{Instance: "caspar", To: "bob@team.soak.test", MessageID: "<r@caspar.soak.test>",
				Subject: "[SEC-2027-0001] Reminder: acknowledge due Wed 2027-03-31 10:00 CEST", At: cet("2027-03-25 10:00")})
		}, []string{CheckRemindMet}},
		{"breach with no escalation", dropMail("esc-"), []string{CheckUnescalated}},
		{"escalation a day late", func(o *Observed) {
			dropMail("esc-15")(o)
			for _, m := range []string{"ann", "bob", "cem"} {
				moveMail("esc-11-"+m, "2027-04-01 11:02")(o)
			}
		}, []string{CheckUnescalated}},
		{"escalation of a kept commitment", func(o *Observed) {
			o.Mail = append(o.Mail, Mail{Instance: "caspar", To: "ann@team.soak.test", MessageID: "<z@caspar.soak.test>",
				Subject: "[SEC-2027-0001] Overdue: acknowledge was due Mon 2027-03-30 10:00 CEST", At: cet("2027-03-30 10:01")})
		}, []string{CheckEscalateKept}},
		{"escalation to a stranger", func(o *Observed) {
			for i := range o.Mail {
				if strings.Contains(o.Mail[i].MessageID, "esc-11-ann") {
					o.Mail[i].To = "someone@example.org"
				}
			}
		}, []string{CheckEscalateTo}},
		{"reminders of two lead times close together", moveMail("remind24-bob", "2027-03-31 09:00"), nil},
		{"more reminders than lead times", copyMail("remind2-bob", "remind2-again", "2027-03-31 10:01"), []string{CheckDuplicate}},
		{"escalation twice at once", copyMail("esc-11-ann", "esc-again", "2027-03-31 11:10"), []string{CheckDuplicate}},
		{"missing digest on a working day", dropMail("digest-2027-03-30-bob"), []string{CheckDigestMiss}},
		{"digest on Good Friday", copyMail("digest-2027-03-24-ann", "digest-gf", "2027-03-26 09:01"), []string{CheckDigestDay}},
		{"digest to a member not on duty (the swap ignored)", func(o *Observed) {
			for i := range o.Mail {
				if strings.Contains(o.Mail[i].MessageID, "digest-2027-03-25-cem") {
					o.Mail[i].To = "ann@team.soak.test"
				}
			}
		}, []string{CheckDigestMiss, CheckDigestTo}},
		{"digest twice", copyMail("digest-2027-03-24-ann", "digest-again", "2027-03-24 10:01"), []string{CheckDuplicate}},
		{"health green during a Dovecot outage", func(o *Observed) {
			for i := range o.Health {
				o.Health[i].OK = true
			}
		}, []string{CheckHealthRed}},
		{"health green during an SMTP outage with nothing waiting", func(o *Observed) {
			o.Faults[0].Kind = FaultSMTP
			for i := range o.Health {
				o.Health[i].OK = true
			}
		}, nil},
		{"health green during an SMTP outage with mail waiting", func(o *Observed) {
			// spam-1 comes at 08:01: its held notice waits for the server.
			o.Faults[0].Kind = FaultSMTP
			o.Faults[0].Began, o.Faults[0].Ended = cet("2027-03-25 07:50"), cet("2027-03-25 10:00")
			for i := range o.Health {
				o.Health[i].OK = true
			}
		}, []string{CheckHealthRed}},
		{"health red after the outage", func(o *Observed) {
			for i := range o.Health {
				if o.Health[i].At.After(cet("2027-03-25 13:00")) && o.Health[i].At.Before(cet("2027-03-25 16:00")) {
					o.Health[i].OK = false
				}
			}
		}, []string{CheckHealthGreen}},
		{"new report not told to the team", dropMail("new2-"), []string{CheckNotify}},
		{"new report told to a member off duty", func(o *Observed) {
			for i := range o.Mail {
				if strings.Contains(o.Mail[i].MessageID, "new2-") {
					o.Mail[i].To = "cem@team.soak.test"
				}
			}
		}, []string{CheckNotify}},
		{"held spam not told to the team", dropMail("held3-"), []string{CheckNotify}},
		{"lost message", func(o *Observed) {
			o.Stored = slices.DeleteFunc(o.Stored, func(s Stored) bool { return s.MessageID == "<reply-1@soak.test>" })
		}, []string{CheckLost}},
		{"team reply not relayed", dropMail("relay-reply1"), []string{CheckRelay}},
		{"team reply relayed an hour late", moveMail("relay-reply1", "2027-03-24 11:31"), []string{CheckRelay}},
		{"team reply relayed to someone else", setMail("relay-reply1", func(m *Mail) { m.To = "r2@research.soak.test" }), []string{CheckRelay}},
		{"only another text relayed", setMail("relay-reply1", func(m *Mail) { m.Body = "Thanks, noted.\r\n" }), []string{CheckRelay}},
		{"a command's text not relayed", dropMail("relay-cmd1"), []string{CheckRelay}},
		{"command not confirmed", dropMail("confirm-cmd1"), []string{CheckConfirm}},
		{"command confirmed an hour late", moveMail("confirm-cmd1", "2027-03-25 12:01"), []string{CheckConfirm}},
		{"command confirmed to another member", setMail("confirm-cmd1", func(m *Mail) { m.To = "bob@team.soak.test" }), []string{CheckConfirm}},
		{"confirmation in reply to another mail", setMail("confirm-cmd1", func(m *Mail) { m.InReplyTo = "<reply-1@soak.test>" }), []string{CheckConfirm}},
		{"status change not told to the reporter", dropMail("notice-cmd1"), []string{CheckNotice}},
		{"status change told as another status", setMail("notice-cmd1", func(m *Mail) { m.Subject = "[SEC-2027-0001] We are looking into your report" }),
			[]string{CheckNotice}},
		{"status change told in Dutch", setMail("notice-cmd1", func(m *Mail) { m.Subject = "[SEC-2027-0001] We hebben de kwetsbaarheid bevestigd" }), nil},
		{"undelivered action", func(o *Observed) {
			o.Sent = slices.DeleteFunc(o.Sent, func(s Sent) bool { return s.Action == "robot-1" })
		}, []string{CheckUndelivered}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := smallPlan()
			o := perfectRun(p)
			tc.change(&o)
			r := Check(p, o, CheckOptions{})
			wantChecks(t, r, tc.want)
		})
	}
}

// wantChecks fails t unless r's violations are of exactly the checks want.
func wantChecks(t *testing.T, r Report, want []string) {
	t.Helper()
	var got []string
	for _, v := range r.Violations() {
		if !slices.Contains(got, v.Check) {
			got = append(got, v.Check)
		}
	}
	slices.Sort(got)
	want = slices.Clone(want)
	slices.Sort(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Check() violations = %v, want %v\n%s", got, want, r.Table())
	}
}

// TestCheckRules: the oracle's rules that need a changed plan or options
// besides the changed run: each row fails without its rule.
func TestCheckRules(t *testing.T) {
	copyAck := func(o *Observed) {
		for _, m := range o.Mail {
			if strings.Contains(m.MessageID, "ack1") {
				m.At = m.At.Add(10 * time.Minute)
				o.Mail = append(o.Mail, m)
				return
			}
		}
	}
	moveMail := func(o *Observed, id, at string) {
		for i := range o.Mail {
			if strings.Contains(o.Mail[i].MessageID, id) {
				o.Mail[i].At = cet(at)
			}
		}
	}
	// outage is a Dovecot outage from 09:50 to 10:00 on Wednesday, seen
	// red from 09:55 to 10:05, and the first acknowledgement at 11:00.
	outage := func(o *Observed) {
		o.Faults[0].Began, o.Faults[0].Ended = cet("2027-03-24 09:50"), cet("2027-03-24 10:00")
		moveMail(o, "ack1", "2027-03-24 11:00")
		for i, h := range o.Health {
			o.Health[i].OK = h.At.Before(cet("2027-03-24 09:55")) || !h.At.Before(cet("2027-03-24 10:05"))
		}
	}
	// uidReset replaces the outage by a UIDVALIDITY reset of the bot's
	// mailbox at 10:05, just after rep-1 came in: the server drops the
	// bot's session only later, and the first acknowledgement is at 11:00.
	uidReset := func(_ *testing.T, p *Plan, _ *CheckOptions) {
		p.Faults[0] = Fault{At: cet("2027-03-24 10:05"), Kind: FaultUIDValidity, Instance: "caspar"}
	}
	uidResetRun := func(o *Observed) {
		o.Faults[0] = FaultRecord{Fault: Fault{At: cet("2027-03-24 10:05"), Kind: FaultUIDValidity, Instance: "caspar"},
			Began: cet("2027-03-24 10:05"), Ended: cet("2027-03-24 10:06")}
		moveMail(o, "ack1", "2027-03-24 11:00")
		moveMail(o, "new1-", "2027-03-24 11:00")
	}
	// editPolicy runs the check with Caspar Health's policy changed: old
	// replaced by new.
	editPolicy := func(t *testing.T, p *Plan, opt *CheckOptions, old, new string) {
		text, err := os.ReadFile(filepath.Join(policyDir, p.Instances[0].Policy))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(text), old) {
			t.Fatalf("policy %s lacks %q", p.Instances[0].Policy, old)
		}
		opt.PolicyDir = t.TempDir()
		text = []byte(strings.Replace(string(text), old, new, 1))
		if err := os.WriteFile(filepath.Join(opt.PolicyDir, p.Instances[0].Policy), text, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// keepInformed gives Caspar Health a 2-day keep-informed clock, and
	// rep-1 a second team reply on Tuesday 03-30 09:00 that starts it again.
	keepInformed := func(t *testing.T, p *Plan, opt *CheckOptions) {
		editPolicy(t, p, opt, "\n[safe_harbour]", "keep_informed = \"2d\"\n\n[safe_harbour]")
		p.Actions = append(p.Actions, Action{At: cet("2027-03-30 09:00"), Instance: "caspar", Kind: ActTeamReply, ID: "reply-2",
			From: "bob@team.soak.test", Report: "rep-1"})
	}
	remindKeepInformed := func(o *Observed) {
		o.Mail = append(o.Mail, Mail{Instance: "caspar", To: "bob@team.soak.test", MessageID: "<ki@caspar.soak.test>",
			Subject: "[SEC-2027-0001] Reminder: keep-informed due Thursday, 1 April 2027, 09:01 CEST", At: cet("2027-03-31 09:05")},
			Mail{Instance: "caspar", To: "r1@research.soak.test", MessageID: "<relay-reply2@caspar.soak.test>", InReplyTo: "<rep-1@soak.test>",
				Subject: "Re: [SEC-2027-0001] XSS", Body: "Thank you, we can reproduce it and are working on a fix.\r\n", At: cet("2027-03-30 09:03")})
	}
	// command adds a member's command mail on a report to the plan, each
	// of the form "id at from report command".
	command := func(cmds ...string) func(*testing.T, *Plan, *CheckOptions) {
		return func(_ *testing.T, p *Plan, _ *CheckOptions) {
			for _, c := range cmds {
				f := strings.SplitN(c, " ", 6)
				p.Actions = append(p.Actions, Action{At: cet(f[1] + " " + f[2]), Instance: "caspar", Kind: ActTeamCommand, ID: f[0],
					From: f[3], Report: f[4], Command: f[5]})
			}
			slices.SortStableFunc(p.Actions, func(a, b Action) int { return a.At.Compare(b.At) })
		}
	}
	// teamMail adds mail of the bot on case SEC-2027-0001 4 minutes after
	// at: subject to to, in reply to inReplyTo.
	teamMail := func(o *Observed, at, to, inReplyTo, subject, body string) {
		o.Mail = append(o.Mail, Mail{Instance: "caspar", To: to, MessageID: "<" + strconv.Itoa(len(o.Mail)) + "@caspar.soak.test>",
			InReplyTo: inReplyTo, Subject: subject, Body: body, At: cet(at).Add(4 * time.Minute)})
	}
	// answered adds the confirmation of command id of member from, sent at
	// at, and its text relayed to rep-1's reporter.
	answered := func(o *Observed, id, from, at string) {
		teamMail(o, at, from, "<"+id+"@soak.test>", "[SEC-2027-0001] Done", "")
		teamMail(o, at, "r1@research.soak.test", "<rep-1@soak.test>", "Re: [SEC-2027-0001] XSS", "Thanks, noted.\r\n")
	}
	// twoMoves: bob moves rep-1's disclosure date at first and again at
	// second; twoMovesTold is the run where both are answered, and one
	// notice comes 4 minutes after told.
	twoMoves := func(first, second string) func(*testing.T, *Plan, *CheckOptions) {
		return command("cmd-d "+first+" bob@team.soak.test rep-1 disclose 2027-06-01", "cmd-e "+second+" bob@team.soak.test rep-1 disclose 2027-06-15")
	}
	twoMovesTold := func(first, second, told string) func(*Observed) {
		return func(o *Observed) {
			answered(o, "cmd-d", "bob@team.soak.test", first)
			answered(o, "cmd-e", "bob@team.soak.test", second)
			teamMail(o, told, "r1@research.soak.test", "<rep-1@soak.test>", "[SEC-2027-0001] New planned disclosure date: Tuesday, 15 June 2027", "")
		}
	}
	claim := command("cmd-c 2027-03-24 10:20 ann@team.soak.test rep-1 claim")
	disclose := command("cmd-d 2027-03-30 10:00 bob@team.soak.test rep-1 disclose 2027-06-01")
	discloseSat := command("cmd-d 2027-03-27 10:00 bob@team.soak.test rep-1 disclose 2027-06-01")
	for _, tc := range []struct {
		name   string
		setup  func(*testing.T, *Plan, *CheckOptions)
		change func(*Observed)
		want   []string
	}{
		{"a claim told to the other member on duty", claim, func(o *Observed) {
			answered(o, "cmd-c", "ann@team.soak.test", "2027-03-24 10:20")
			teamMail(o, "2027-03-24 10:20", "bob@team.soak.test", "", "[SEC-2027-0001] ann has it", "")
		}, nil},
		{"a claim not told", claim, func(o *Observed) { answered(o, "cmd-c", "ann@team.soak.test", "2027-03-24 10:20") }, []string{CheckClaimed}},
		{"a claim told to a member off duty", claim, func(o *Observed) {
			answered(o, "cmd-c", "ann@team.soak.test", "2027-03-24 10:20")
			teamMail(o, "2027-03-24 10:20", "cem@team.soak.test", "", "[SEC-2027-0001] ann has it", "")
		}, []string{CheckClaimed}},
		{"status rejected: no notice owed", command("cmd-r 2027-03-30 10:00 bob@team.soak.test rep-1 status rejected"), func(o *Observed) {
			answered(o, "cmd-r", "bob@team.soak.test", "2027-03-30 10:00")
		}, nil},
		{"a status on held spam: only its confirmation", command("cmd-s 2027-03-25 10:00 cem@team.soak.test spam-1 status confirmed"), func(o *Observed) {
			teamMail(o, "2027-03-25 10:00", "cem@team.soak.test", "<cmd-s@soak.test>", "[SEC-2027-0003] Not all commands applied", "")
		}, nil},
		{"a moved disclosure date told", disclose, func(o *Observed) {
			answered(o, "cmd-d", "bob@team.soak.test", "2027-03-30 10:00")
			teamMail(o, "2027-03-30 10:00", "r1@research.soak.test", "<rep-1@soak.test>", "[SEC-2027-0001] New planned disclosure date: Tuesday, 1 June 2027", "")
		}, nil},
		{"a moved disclosure date not told", disclose, func(o *Observed) { answered(o, "cmd-d", "bob@team.soak.test", "2027-03-30 10:00") },
			[]string{CheckMoved}},
		{"a date moved on Saturday told on the Tuesday after Easter", discloseSat, func(o *Observed) {
			answered(o, "cmd-d", "bob@team.soak.test", "2027-03-27 10:00")
			teamMail(o, "2027-03-30 09:01", "r1@research.soak.test", "<rep-1@soak.test>", "[SEC-2027-0001] New planned disclosure date: Tuesday, 1 June 2027", "")
		}, nil},
		{"a date moved twice before the notice: one notice",
			twoMoves("2027-03-27 10:00", "2027-03-27 12:00"), twoMovesTold("2027-03-27 10:00", "2027-03-27 12:00", "2027-03-30 09:01"), nil},
		{"a date moved again after its notice, the new one not told",
			twoMoves("2027-03-30 10:00", "2027-03-30 10:10"), twoMovesTold("2027-03-30 10:00", "2027-03-30 10:10", "2027-03-30 10:00"), []string{CheckMoved}},
		{"a date set where the policy has no disclosure window, not told", func(t *testing.T, p *Plan, opt *CheckOptions) {
			editPolicy(t, p, opt, "days = 90", "days = 0")
			disclose(t, p, opt)
		}, func(o *Observed) { answered(o, "cmd-d", "bob@team.soak.test", "2027-03-30 10:00") }, []string{CheckMoved}},
		// The product reads a report's mail in the order it was delivered
		// (UIDs), not the plan's: a status planned before the reply that
		// starts the clock, but delivered after it, stops that clock.
		{"a status delivered after the reply that starts its clock stops it", func(t *testing.T, p *Plan, opt *CheckOptions) {
			triage := "start = \"report.received\"\nstop = [\"status.confirmed\", \"status.rejected\", \"status.duplicate\", \"status.spam\"]\nduration = \"10bd\""
			editPolicy(t, p, opt, triage, strings.NewReplacer("report.received", "team.replied", "10bd", "2bd").Replace(triage))
			for i, a := range p.Actions {
				if a.ID == "cmd-1" {
					p.Actions[i].At = cet("2027-03-24 10:20")
				}
			}
			slices.SortStableFunc(p.Actions, func(a, b Action) int { return a.At.Compare(b.At) }) // the plan's order
		}, func(o *Observed) {
			for i, s := range o.Sent {
				if s.Action == "cmd-1" {
					o.Sent[i].At = cet("2027-03-25 11:01")
				}
			}
		}, nil},
		// Only a robot's mail came during an SMTP outage: it is never
		// answered, so no mail waited and health may stay green (seed 3).
		{"an SMTP outage with only a robot's mail: health may stay green", func(_ *testing.T, p *Plan, _ *CheckOptions) {
			p.Faults[0] = Fault{At: cet("2027-03-25 08:30"), Kind: FaultSMTP, For: 90 * time.Minute}
		}, func(o *Observed) {
			for i := range o.Health {
				o.Health[i].OK = true
			}
		}, nil},
		{"a Message-ID sent three times (a resend storm)", nil, func(o *Observed) { copyAck(o); copyAck(o) }, []string{CheckResent}},
		{"a reminder after a deadline the run did not reach", func(_ *testing.T, p *Plan, _ *CheckOptions) {
			p.Span = cet("2027-03-31 10:00").Sub(p.Start)
		}, func(o *Observed) { moveMail(o, "remind2-bob", "2027-03-31 12:01") }, nil},
		{"a reminder after a deadline reached at the end", func(_ *testing.T, p *Plan, _ *CheckOptions) {
			p.Span = cet("2027-03-31 12:00").Sub(p.Start)
		}, func(o *Observed) { moveMail(o, "remind2-bob", "2027-03-31 12:01") }, []string{CheckRemindLate}},
		{"ack an hour after an outage: late without a reconnect allowance", nil, outage, []string{CheckAckLate}},
		{"ack an hour after an outage: within a wall reconnect of 1h", func(_ *testing.T, _ *Plan, opt *CheckOptions) {
			opt.Reconnect = time.Hour
		}, outage, nil},
		{"ack an hour after a UIDVALIDITY reset: late without a reconnect allowance", uidReset, uidResetRun, []string{CheckAckLate, CheckNotify}},
		{"ack an hour after a UIDVALIDITY reset: within a wall reconnect of 1h", func(t *testing.T, p *Plan, opt *CheckOptions) {
			uidReset(t, p, opt)
			opt.Reconnect = time.Hour
		}, uidResetRun, nil},
		{"report read late: the escalation follows the product's deadline", nil, func(o *Observed) {
			// rep-2 arrived Wed 11:01 but was read at 11:25 (its
			// acknowledgement and notification): acknowledge due Wed
			// 03-31 11:25, escalated at 11:50 (late from 11:01).
			for _, id := range []string{"ack2", "new2-", "remind2-"} {
				moveMail(o, id, map[string]string{"ack2": "2027-03-24 11:25", "new2-": "2027-03-24 11:25", "remind2-": "2027-03-31 09:25"}[id])
			}
			moveMail(o, "esc-11-", "2027-03-31 11:50")
		}, nil},
		{"breach listed only in a digest summary", nil, func(o *Observed) {
			o.Mail = slices.DeleteFunc(o.Mail, func(m Mail) bool { return strings.Contains(m.MessageID, "esc-") })
			o.Mail = append(o.Mail, Mail{Instance: "caspar", To: "lead@team.soak.test", MessageID: "<sum@caspar.soak.test>",
				Subject: "Security cases: 1 reminders and escalations", Body: "  - digest: 2 open (SEC-2027-0001, SEC-2027-0002)",
				At: cet("2027-03-31 11:05")})
		}, []string{CheckUnescalated}},
		{"breach escalated in a summary", nil, func(o *Observed) {
			o.Mail = slices.DeleteFunc(o.Mail, func(m Mail) bool { return strings.Contains(m.MessageID, "esc-") })
			o.Mail = append(o.Mail, Mail{Instance: "caspar", To: "lead@team.soak.test", MessageID: "<sum@caspar.soak.test>",
				Subject: "Security cases: 1 reminders and escalations",
				Body:    "  - SEC-2027-0002: acknowledge breached, was due Wed 2027-03-31 11:00 CEST (escalation 1)", At: cet("2027-03-31 11:05")})
		}, nil},
		{"keep-informed reminded from the team's last reply", keepInformed, remindKeepInformed, nil},
		{"keep-informed reminded after its deadline", keepInformed, func(o *Observed) {
			remindKeepInformed(o)
			moveMail(o, "ki@", "2027-04-01 10:05")
		}, []string{CheckRemindLate}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := smallPlan()
			var opt CheckOptions
			if tc.setup != nil {
				tc.setup(t, &p, &opt)
			}
			o := perfectRun(p)
			tc.change(&o)
			r := Check(p, o, opt)
			wantChecks(t, r, tc.want)
		})
	}
}

// TestCheckCounts: the perfect run's report counts one kept and one
// escalated acknowledgement, a kept triage and an open one, and sees the
// outage detected and recovered.
func TestCheckCounts(t *testing.T) {
	p := smallPlan()
	r := Check(p, perfectRun(p), CheckOptions{})
	want := []CommitmentRow{
		{Instance: "caspar", Commitment: "acknowledge", Kept: 1, Escalated: 1},
		{Instance: "caspar", Commitment: "triage", Kept: 1, Open: 1},
	}
	if !reflect.DeepEqual(r.Commitments, want) {
		t.Errorf("Check() commitments = %+v, want %+v", r.Commitments, want)
	}
	if len(r.Faults) != 1 || !r.Faults[0].Visible || r.Faults[0].Detected != 5*time.Minute || r.Faults[0].Recovered != 5*time.Minute {
		t.Errorf("Check() faults = %+v, want the outage seen after 5m and green 5m after", r.Faults)
	}
	if r.Reports != 2 || r.Acked != 2 || r.Reminders != 4 || r.Digests != 12 {
		t.Errorf("Check() = %d reports, %d acked, %d reminders, %d digests, want 2, 2, 4, 12", r.Reports, r.Acked, r.Reminders, r.Digests)
	}
	table := r.Table()
	for _, s := range []string{"| caspar | acknowledge | 1 | 1 | 0 | 0 | 0 |", "| dovecot-restart | all |", "0 violations"} {
		if !strings.Contains(table, s) {
			t.Errorf("Table() lacks %q:\n%s", s, table)
		}
	}
}

// TestCheckGeneratedPlan runs the oracle on a generated month whose run
// acknowledged every report and sent nothing else: the only violations
// are the missing digests and notifications, the missing answers to the
// team's mail and the missing reminders and escalations of the forgotten
// reports, so
// the team's planned work keeps every deadline of every seed policy.
func TestCheckGeneratedPlan(t *testing.T) {
	p := Generate(MonthOptions(1))
	var o Observed
	refs := map[string]string{}
	for i, a := range p.Actions {
		if a.Kind == ActReport || a.Kind == ActSpam {
			refs[a.ID] = "SEC-2027-" + strings.Repeat("0", 4-len(itoa(i))) + itoa(i)
		}
	}
	byID := map[string]Action{}
	for _, a := range p.Actions {
		byID[a.ID] = a
		at := a.At.Add(time.Minute)
		o.Sent = append(o.Sent, Sent{Action: a.ID, At: at})
		ref := refs[a.ID]
		if ref == "" {
			ref = refs[a.Report]
		}
		o.Stored = append(o.Stored, Stored{Instance: a.Instance, MessageID: "<" + a.ID + "@soak.test>", Case: ref})
		report := a
		switch {
		case a.Kind == ActReport:
		case a.Kind == ActTeamCommand && a.Command == "not-spam":
			report = byID[a.Report]
		default:
			continue
		}
		o.Mail = append(o.Mail, Mail{Instance: a.Instance, To: report.From, MessageID: "<ack-" + report.ID + "@x>",
			InReplyTo: "<" + report.ID + "@soak.test>", Subject: "[" + refs[report.ID] + "] Received: your report", At: at.Add(2 * time.Minute)})
	}
	start := time.Now()
	r := Check(p, o, CheckOptions{})
	t.Logf("Check() on %d actions, %d mails took %v", len(p.Actions), len(o.Mail), time.Since(start))
	t.Log(r.Table()[:strings.Index(r.Table(), "| fault")])
	forgotten := 0
	for _, v := range r.Violations() {
		switch v.Check {
		case CheckDigestMiss, CheckNotify, CheckRelay, CheckConfirm, CheckClaimed, CheckNotice, CheckMoved:
		case CheckUnescalated, CheckRemindMiss:
			if !byID[v.Report].Forget {
				t.Errorf("Check() violation %+v on a report the team answers", v)
			}
			if v.Check == CheckUnescalated {
				forgotten++
			}
		default:
			t.Errorf("Check() violation %+v, want only missing mail", v)
		}
	}
	if forgotten == 0 || r.Acked != r.Reports {
		t.Errorf("Check() = %d breaches, %d of %d acknowledged; want breaches and all acknowledged", forgotten, r.Acked, r.Reports)
	}
	kept := 0
	for _, c := range r.Commitments {
		kept += c.Kept
	}
	if kept < 400 {
		t.Errorf("Check() kept = %d, want most of the 520 reports' commitments kept", kept)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// Package soak is the accelerated soak of issue 19: a seeded plan of a
// simulated month (reports, follow-ups, robots, spam, team commands, duty
// swaps) with faults at random moments, run by the driver in mailbot/e2e
// (TestSoak, `make soak`) against the real binary on real Dovecot and
// Postfix with a scaled clock, and an oracle that checks what the mailboxes
// and the SMTP side saw against what the policies promised.
//
// It owns the plan (Generate), the record of a run (Observed) and the oracle
// (Check) with its report. It must not import the product's store, remind,
// jobs or intake packages: the oracle is independent of the product's
// bookkeeping. It reads the seed policies' data (policy.Load, and the
// holiday data through policy.Calendar.Holiday) but computes deadlines,
// reminder moments and duty shifts with its own arithmetic. It tells the
// bot's mail apart by the subjects of templates/ (ack, reminder, overdue,
// digest, summary, new report).
package soak

import "time"

// Clock maps wall time to simulated time: Sim = Start + (wall - Epoch) * Scale.
// The daemon gets the same mapping from MAILBOT_CLOCK (see mailbot/clock),
// so that a restart continues where the simulated time is, and a stopped
// process (SIGSTOP, a suspend) finds the simulated time moved on.
type Clock struct {
	Start time.Time // simulated time at Epoch
	Epoch time.Time // wall time
	Scale float64   // simulated seconds per wall second
}

// Sim is the simulated time at wall time w.
func (c Clock) Sim(w time.Time) time.Time {
	return c.Start.Add(time.Duration(float64(w.Sub(c.Epoch)) * c.Scale))
}

// Wall is the wall time at simulated time s.
func (c Clock) Wall(s time.Time) time.Time {
	return c.Epoch.Add(time.Duration(float64(s.Sub(c.Start)) / c.Scale))
}

// Plan is what a run does, the same for a given seed and span.
type Plan struct {
	Seed      int64
	Start     time.Time // simulated start
	Span      time.Duration
	Instances []Instance // one per seed policy
	Actions   []Action   // sorted by At
	Faults    []Fault    // sorted by At
}

// Instance is one bot with its policy and its team. The driver writes its
// configuration from it: [[team]] from Team, [team_mail] lead = Lead,
// [duty] mode = DutyMode, start = DutyStart, order = the Team names, and
// one overrides entry { from, to, swap = Pair } per DutySwap; the oracle
// computes who is on duty from the same fields (Instance.OnDuty).
type Instance struct {
	Name    string   // short name, e.g. "caspar"
	Policy  string   // file name in testdata/policies
	Address string   // the bot's security@ address
	Team    []Member // the on-duty order: shift k is Team[k] and Team[k+1]
	Lead    string   // escalations go here
	// DutySwaps are [duty] overrides: on these dates these members are on duty.
	DutySwaps []DutySwap
	Zone      string // the policy's [calendar] time_zone
	DutyMode  string // [duty] mode: "weekly"
	DutyStart string // [duty] start, YYYY-MM-DD: the first day of shift 0
}

// Member is a team member with the address mail reaches them at.
type Member struct{ Name, Address string }

// DutySwap is a [duty] override { from, to, swap = Pair }: from From to To
// (inclusive dates, policy zone) the two members named in Pair trade places
// in the duty order, so the off-duty one of them is on duty instead.
type DutySwap struct {
	From, To string // YYYY-MM-DD
	Pair     [2]string
}

// ActionKind is what one action of the workload does.
type ActionKind string

// The workload's actions.
const (
	ActReport      ActionKind = "report"       // a new report from a researcher
	ActFollowUp    ActionKind = "follow-up"    // the reporter writes again on their case
	ActRobot       ActionKind = "robot"        // a bounce, an auto-reply, list mail (a testdata sample)
	ActSpam        ActionKind = "spam"         // spam with a trusted verdict header from the MTA
	ActTeamReply   ActionKind = "team-reply"   // a member answers the reporter (relayed)
	ActTeamCommand ActionKind = "team-command" // a member's command mail (claim, status, disclose, not-spam...)
	ActWithdraw    ActionKind = "withdraw"     // the reporter withdraws; a member's "status rejected" is its own team-command
)

// Action is one mail the workload sends, at a simulated time.
type Action struct {
	At       time.Time // simulated
	Instance string
	Kind     ActionKind
	ID       string // unique; the mail's Message-ID is <ID@soak.test>
	From     string // the sender's address (spam: the driver sets the sample's From to it)
	Report   string // the ID of the report this concerns ("" for a report, a robot, spam)
	Format   string // reports and follow-ups: plain, pgp-mime, inline, attachment
	Command  string // team-command: the command lines, e.g. "status fixed", "disclose 2027-05-01"
	Sample   string // robot and spam: the testdata file the mail is made from
	Forget   bool   // report: nobody on the team will ever act, so reminders and escalations must fire
}

// ReporterText is what a member's mail of action a says to the reporter:
// a team reply's text, or the text after the commands of a team command
// (README "Commands": "the text from there on goes to the reporter").
// The driver writes it; the oracle checks that the product relays it.
func (a Action) ReporterText() string {
	switch a.Kind {
	case ActTeamReply:
		return "Thank you, we can reproduce it and are working on a fix.\n"
	case ActTeamCommand:
		return "Thanks, noted.\n"
	}
	return ""
}

// FaultKind is one kind of fault the driver injects.
type FaultKind string

// The faults.
const (
	FaultKill        FaultKind = "kill-9"            // SIGKILL the daemon, start it again
	FaultDovecot     FaultKind = "dovecot-restart"   // stop Dovecot for For, start it again
	FaultSMTP        FaultKind = "smtp-outage"       // Postfix's submission refuses for For
	FaultPassword    FaultKind = "imap-password"     // the bot's IMAP password is changed for For, then fixed
	FaultDiskFull    FaultKind = "disk-full"         // the bot's store filesystem is full for For
	FaultUIDValidity FaultKind = "uidvalidity-reset" // the bot's mailbox gets a new UIDVALIDITY
	FaultSuspend     FaultKind = "suspend"           // SIGSTOP for For, then SIGCONT: a clock jump
)

// Fault is one fault of the plan.
type Fault struct {
	At       time.Time // simulated
	Kind     FaultKind
	Instance string        // "" for the shared servers (Dovecot, Postfix)
	For      time.Duration // simulated; 0 for an instant fault (kill, UIDVALIDITY)
}

// Observed is what the driver saw during a run, all times simulated
// (converted with the run's Clock from wall times the driver measured).
type Observed struct {
	Clock  Clock
	Faults []FaultRecord
	Sent   []Sent   // every action as it was delivered to the bot's mailbox
	Mail   []Mail   // every mail the bots sent, as it arrived in a mailbox
	Health []Health // /healthz samples
	Stored []Stored // at the end: every message each bot's store holds
	Wall   time.Duration
}

// FaultRecord is a fault as the driver carried it out.
type FaultRecord struct {
	Fault
	Began, Ended         time.Time // simulated
	WallBegan, WallEnded time.Time
}

// Sent is one action delivered: the time its mail was in the bot's mailbox.
type Sent struct {
	Action string // Action.ID
	At     time.Time
}

// Mail is one mail a bot sent, as seen by its recipient.
type Mail struct {
	Instance   string
	To         string
	MessageID  string
	InReplyTo  string
	References []string
	Subject    string            // decrypted when it was encrypted
	Body       string            // decrypted text, for the oracle's classification only
	At         time.Time         // when it arrived in the mailbox (simulated)
	Headers    map[string]string // Auto-Submitted, X-Mailbot-Loop and the like
}

// Health is one sample of an instance's /healthz.
type Health struct {
	Instance string
	At       time.Time
	OK       bool
	Problems string
}

// Stored is one message held in an instance's store at the end of the run.
type Stored struct {
	Instance  string
	MessageID string
	Case      string
}

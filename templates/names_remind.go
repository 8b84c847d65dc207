package templates

// The mails of the scheduler (issue 6, mailbot/remind).
//
// Team mails, English required: "remind" (a deadline comes up), "escalate"
// (a deadline passed), "disclosure-soon" (the planned disclosure date comes
// up), "digest" (the daily overview) and "summary" (several of these folded
// into one, e.g. after downtime). They use Data as follows: CaseRef,
// Received and ReporterName of the case (none for digest and summary);
// Subject only when the member may see report content; Deadlines holds the
// clock in question (remind, escalate), or one line per entry in Title with
// its due time (digest, summary; Name is the kind of the entry); Disclosure
// the planned date (disclosure-soon).
//
// Reporter mails, in every language: "keep-informed" (the progress note the
// policy promises) and "disclosure-moved" (the planned disclosure date
// changed; Disclosure is the new date). They get the same Data as the
// acknowledgement.
func init() {
	TeamNames = append(TeamNames, "remind", "escalate", "disclosure-soon", "digest", "summary")
	Names = append(Names, "keep-informed", "disclosure-moved")
}

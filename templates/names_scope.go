package templates

// Scope hints (issue 18).
//
// Reporter mail, in every language: "out-of-scope", the answer to the
// team's "out-of-scope N". It thanks the reporter, quotes OutOfScope.Text
// (entry N of the policy's out-of-scope list, in the case's language), says
// the case is closed, and carries Text, the member's own words after the
// command, when there are any. PolicyURL links the policy.
//
// The team's "notify" lists ScopeHints ("may be out of scope") and
// RewardWords (the report asks for a reward the policy does not offer).
func init() {
	Names = append(Names, "out-of-scope")
}

// ScopeHint is one entry of the policy's out-of-scope list.
type ScopeHint struct {
	N     int      // the entry's 1-based number, as in "out-of-scope N"
	Text  string   // its wording, in the language of the mail
	Terms []string // notify: the entry's terms found in the report
}

package templates

// The team workflow's mail (issue 5): to the team in English, to reporters
// in every language.
func init() {
	TeamNames = append(TeamNames, "notify", "notice", "confirm", "alert", "refused", "claimed")
	Names = append(Names, "relay", "status")
}

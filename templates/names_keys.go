package templates

// A researcher's new OpenPGP key waits for the team (issue 15).
func init() {
	TeamNames = append(TeamNames, "keychange")
}

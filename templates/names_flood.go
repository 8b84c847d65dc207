package templates

// The flood notice (issue 15): one mail to the on-duty pair per burst of
// reports or notifications over the per-sender and per-domain caps.
func init() {
	TeamNames = append(TeamNames, "flood")
}

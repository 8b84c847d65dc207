package mailbot

// SetMaxHeld lowers the bound on UIDs held on the server for a test and
// returns the function that restores it.
func SetMaxHeld(n int) (restore func()) {
	old := maxHeld
	maxHeld = n
	return func() { maxHeld = old }
}

package mailbot

import "mailbot/mailbot/intake"

// SetMaxHeld lowers the bound on UIDs held on the server for a test and
// returns the function that restores it.
func SetMaxHeld(n int) (restore func()) {
	old := intake.MaxHeld
	intake.MaxHeld = n
	return func() { intake.MaxHeld = old }
}

package team

import (
	"testing"
	"time"
)

// TestAuthenticateOnTheInjectedClock: OpenPGP signatures are verified at
// Options.Now, not the wall clock: on the soak's simulated clock, months
// ahead, a member's signature made in simulated time is valid (on the wall
// clock it would be from the future, "expired"). The key itself was made
// before the wall clock's now, as `mailbot run` requires of team keys.
func TestAuthenticateOnTheInjectedClock(t *testing.T) {
	f := newAuthFixture(t)
	f.now = f.now.AddDate(0, 4, 0)
	raw := f.clearsigned(t, "alice@example.org", "", "claim\n", f.alice, f.now.Add(-time.Minute))
	if v := f.auth(t, raw, Options{}); !v.OK || v.Method != MethodPGP {
		t.Errorf("Authenticate() at a simulated time = %v %s %q, want accepted by pgp", v.OK, v.Method, v.Reason)
	}
}

package probe

import (
	"path/filepath"
	"testing"
	"time"

	"mailbot/store"
)

// TestArrive: only the newest recorded token is a probe; its first arrival
// is recorded, a redelivery is still a probe, a guessed or older token is
// not.
func TestArrive(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "bot.db"), store.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	t0 := time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC)
	var old, r Record
	update := func(fn func(tx *store.Tx) error) {
		t.Helper()
		if err := st.Update(fn); err != nil {
			t.Fatal(err)
		}
	}
	arrive := func(value string, at time.Time) bool {
		t.Helper()
		var ok bool
		update(func(tx *store.Tx) (err error) { ok, err = Arrive(tx, value, at); return err })
		return ok
	}
	update(func(tx *store.Tx) (err error) { old, err = Start(tx, t0); return err })
	update(func(tx *store.Tx) (err error) { r, err = Start(tx, t0.Add(time.Hour)); return err })
	if len(r.Token) != 32 || r.Token == old.Token {
		t.Fatalf("Start() tokens %q, %q: want two different 128-bit hex tokens", old.Token, r.Token)
	}
	for _, v := range []string{"", old.Token, "00112233445566778899aabbccddeeff", r.Token[:31]} {
		if arrive(v, t0) {
			t.Errorf("Arrive(%q) = true, want false: not the recorded probe", v)
		}
	}
	at := t0.Add(time.Hour + 2*time.Second)
	if !arrive(" "+r.Token+" ", at) || !arrive(r.Token, at.Add(time.Minute)) {
		t.Fatal("Arrive(recorded token) = false, want true (also for a redelivery)")
	}
	var got Record
	if err := st.View(func(tx *store.Tx) (err error) { got, _, err = Latest(tx); return err }); err != nil {
		t.Fatal(err)
	}
	if got.Token != r.Token || !got.Arrived.Equal(at) || got.RoundTrip() != 2*time.Second || got.Pending() {
		t.Fatalf("Latest() = %+v, want arrived at %s, round trip 2s", got, at)
	}
}

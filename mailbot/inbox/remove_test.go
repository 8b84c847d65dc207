package inbox_test

import (
	"context"
	"testing"
	"time"

	"github.com/emersion/go-sasl"

	"mailbot/mailbot/devmail"
	"mailbot/mailbot/inbox"
)

// TestRemove deletes exactly the messages whose header carries the value.
func TestRemove(t *testing.T) {
	const user, pass = "bot@example.org", "pw"
	srv, err := devmail.Start(devmail.Options{Domain: "example.org", Users: map[string]string{user: pass}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, raw := range []string{
		"From: a@example.org\r\nX-Probe: 0123abcd\r\nSubject: probe\r\n\r\nhi\r\n",
		"From: a@example.org\r\nX-Probe: ffff\r\nSubject: other\r\n\r\nhi\r\n",
		"From: a@example.org\r\nSubject: report 0123abcd\r\n\r\nhi\r\n",
	} {
		if _, err := srv.Deliver("INBOX", user, []byte(raw)); err != nil {
			t.Fatal(err)
		}
	}
	opt := inbox.Options{Addr: srv.IMAPAddr, TLS: "none", CommandTimeout: 5 * time.Second,
		SASL: func() (sasl.Client, error) { return sasl.NewPlainClient("", user, pass), nil }}
	n, err := inbox.Remove(context.Background(), opt, "X-Probe", "0123abcd")
	if err != nil || n != 1 {
		t.Fatalf("Remove() = %d, %v, want 1, nil", n, err)
	}
	left, err := srv.Mailbox(user, "INBOX")
	if err != nil || len(left) != 2 {
		t.Fatalf("Mailbox() = %d messages, %v, want the 2 others", len(left), err)
	}
}

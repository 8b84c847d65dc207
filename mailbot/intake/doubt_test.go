package intake

import (
	"context"
	"strings"
	"testing"

	"mailbot/store"
)

// TestClearsignedEncryptedPartIsADoubt: a PGP/MIME "encrypted" part that is
// in fact a cleartext-signed text (RFC 4880 section 7) is not marked
// encrypted: the message keeps a reason, its text is read (unverified), and
// the case has an event saying so (issue 18 item 6).
func TestClearsignedEncryptedPartIsADoubt(t *testing.T) {
	l, st := testLine(t, nil)
	raw := "From: Alice <alice@research.example>\r\nTo: security@example.com\r\nSubject: Report\r\n" +
		"Date: Tue, 03 Mar 2026 10:00:00 +0000\r\nMessage-ID: <cs1@research.example>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"b\"\r\n\r\n" +
		"--b\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n" +
		"--b\r\nContent-Type: application/octet-stream; name=\"encrypted.asc\"\r\n\r\n" +
		"-----BEGIN PGP SIGNED MESSAGE-----\r\nHash: SHA256\r\n\r\nThe admin panel at /admin has no authentication.\r\n" +
		"-----BEGIN PGP SIGNATURE-----\r\n\r\niQEzBAEBCAAdFiEE\r\n=abcd\r\n-----END PGP SIGNATURE-----\r\n" +
		"--b--\r\n"
	blob := spool(t, st, raw)
	res, err := l.Process(context.Background(), Source{}, blob)
	if err != nil || res.Action != ActionOpened {
		t.Fatalf("Process() = %+v, %v; want a case opened", res, err)
	}
	var m *store.Message
	var evs []store.Event
	err = st.View(func(tx *store.Tx) error {
		c, err := tx.CaseByRef(res.Case)
		if err != nil {
			return err
		}
		msgs, err := tx.Messages(c.ID)
		if err != nil {
			return err
		}
		m = msgs[0]
		evs, err = tx.Events(c.ID)
		return err
	})
	if err != nil {
		t.Fatalf("View() = %v", err)
	}
	if m.Encrypted || !strings.Contains(m.Reason, "not encrypted") {
		t.Errorf("stored message: Encrypted %v, Reason %q; want not encrypted, with the reason", m.Encrypted, m.Reason)
	}
	found := false
	for _, e := range evs {
		found = found || e.Kind == "crypto.doubt" && strings.Contains(e.Detail, "cleartext-signed")
	}
	if !found {
		t.Errorf("events = %+v, want a crypto.doubt naming the cleartext-signed part", evs)
	}
}

package pgp

import (
	"bytes"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// TestVerifyAtTheInjectedClock: the Verify methods of Options judge
// signatures at Options.Now. A signature made months after the wall
// clock's now (the soak's simulated time) is valid at that time, and
// refused ("expired") by the wall clock's functions.
func TestVerifyAtTheInjectedClock(t *testing.T) {
	bot := testKey(t, "Bot", Ed25519)
	botPub := publicOnly(t, bot)
	sim := time.Now().AddDate(0, 4, 0)
	at := Options{Now: func() time.Time { return sim }}
	signAt := &packet.Config{Time: func() time.Time { return sim.Add(-time.Minute) }}

	data := []byte("Content-Type: text/plain\r\n\r\nsigned text\r\n")
	var sig bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&sig, bot.Entities()[0], bytes.NewReader(data), signAt); err != nil {
		t.Fatalf("ArmoredDetachSign() = %v", err)
	}
	msg := []byte("Content-Type: multipart/signed; boundary=b; micalg=pgp-sha256; protocol=\"application/pgp-signature\"\r\n\r\n--b\r\n" +
		string(data) + "\r\n--b\r\nContent-Type: application/pgp-signature\r\n\r\n" + sig.String() + "\r\n--b--\r\n")
	var cs bytes.Buffer
	w, err := clearsign.Encode(&cs, bot.Entities()[0].PrivateKey, signAt)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("I found a bug.\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name      string
		wall, sim func() (*Result, error)
	}{
		{"VerifyDetached",
			func() (*Result, error) { return VerifyDetached(bytes.NewReader(data), sig.Bytes(), botPub) },
			func() (*Result, error) { return at.VerifyDetached(bytes.NewReader(data), sig.Bytes(), botPub) }},
		{"VerifyMessage",
			func() (*Result, error) { return VerifyMessage(bytes.NewReader(msg), botPub, 0) },
			func() (*Result, error) { return at.VerifyMessage(bytes.NewReader(msg), botPub) }},
		{"VerifyClearsigned",
			func() (*Result, error) { return VerifyClearsigned(cs.Bytes(), botPub) },
			func() (*Result, error) { return at.VerifyClearsigned(cs.Bytes(), botPub) }},
	}
	for _, tt := range tests {
		if res, err := tt.sim(); err != nil || !res.SignatureValid {
			t.Errorf("Options{Now: +4 months}.%s() = %+v, %v, want valid", tt.name, res, err)
		}
		if res, err := tt.wall(); err != nil || res.SignatureValid {
			t.Errorf("%s() of a signature 4 months ahead = %+v, %v, want not valid on the wall clock", tt.name, res, err)
		}
	}
}

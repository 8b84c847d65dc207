package auth

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/emersion/go-sasl"
)

// exchange runs a SASL exchange between c and s as IMAP or SMTP would carry
// it, and returns the server's verdict and every response the client sent.
func exchange(t *testing.T, c sasl.Client, s sasl.Server) (responses [][]byte, err error) {
	t.Helper()
	_, resp, err := c.Start()
	if err != nil {
		return nil, err
	}
	for i := 0; i < 10; i++ {
		responses = append(responses, resp)
		challenge, done, err := s.Next(resp)
		if err != nil || done {
			return responses, err
		}
		if resp, err = c.Next(challenge); err != nil {
			return responses, err
		}
	}
	t.Fatal("exchange did not finish in 10 steps")
	return nil, nil
}

// loginServer is a LOGIN server whose challenges have any text.
type loginServer struct {
	challenges [2]string
	step       int
	user, pass string
}

func (s *loginServer) Next(resp []byte) ([]byte, bool, error) {
	s.step++
	switch s.step {
	case 1:
		if resp != nil {
			return nil, false, errors.New("unexpected initial response")
		}
		return []byte(s.challenges[0]), false, nil
	case 2:
		s.user = string(resp)
		return []byte(s.challenges[1]), false, nil
	case 3:
		s.pass = string(resp)
		return nil, true, nil
	}
	return nil, false, sasl.ErrUnexpectedClientResponse
}

func TestLoginClient(t *testing.T) {
	tests := []struct {
		name       string
		challenges [2]string
	}{
		{"draft wording", [2]string{"Username:", "Password:"}},
		{"microsoft 365", [2]string{"VXNlcm5hbWU6", "UGFzc3dvcmQ6"}}, // base64 text inside the challenge
		{"lower case", [2]string{"username:", "password:"}},
		{"empty", [2]string{"", ""}},
		{"other words", [2]string{"User Name\x00", "Pass phrase"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &loginServer{challenges: tt.challenges}
			if _, err := exchange(t, NewLoginClient("bot@example.org", testSecret), s); err != nil {
				t.Fatalf("exchange() = %v, want nil", err)
			}
			if s.user != "bot@example.org" || s.pass != testSecret {
				t.Errorf("server got user %q pass %q, want %q %q", s.user, s.pass, "bot@example.org", testSecret)
			}
		})
	}
	t.Run("third challenge", func(t *testing.T) {
		c := NewLoginClient("u", "p")
		c.Start()
		c.Next(nil)
		c.Next(nil)
		if _, err := c.Next([]byte("More:")); !errors.Is(err, sasl.ErrUnexpectedServerChallenge) {
			t.Errorf("Next() third time = %v, want ErrUnexpectedServerChallenge", err)
		}
	})
	t.Run("restart", func(t *testing.T) {
		c := NewLoginClient("u", "p")
		c.Start()
		c.Next(nil)
		_, ir, _ := c.Start()
		if ir != nil {
			t.Errorf("Start() initial response = %q, want nil", ir)
		}
		if got, _ := c.Next(nil); string(got) != "u" {
			t.Errorf("Next() after a new Start = %q, want the user name", got)
		}
	})
}

func TestPlainClient(t *testing.T) {
	for _, pass := range []string{testSecret, "wrong"} {
		t.Run(pass, func(t *testing.T) {
			c, err := Client(Plain, "bot@example.org", pass)
			if err != nil {
				t.Fatal(err)
			}
			s := sasl.NewPlainServer(func(identity, user, p string) error {
				if identity != "" || user != "bot@example.org" || p != testSecret {
					return errors.New("bad credentials")
				}
				return nil
			})
			_, err = exchange(t, c, s)
			if want := pass == testSecret; (err == nil) != want {
				t.Fatalf("exchange() = %v, want success %v", err, want)
			}
		})
	}
}

// xoauth2Server plays Gmail's side of XOAUTH2: accept one token, or send the
// JSON failure challenge, wait for the empty response, then fail.
type xoauth2Server struct {
	wantIR   string
	status   string
	step     int
	response []byte // the client's answer to the failure challenge
}

var errXOAUTH2Failed = errors.New("535 5.7.8 authentication failed")

func (s *xoauth2Server) Next(resp []byte) ([]byte, bool, error) {
	s.step++
	switch s.step {
	case 1:
		if string(resp) == s.wantIR {
			return nil, true, nil
		}
		return []byte(s.status), false, nil
	case 2:
		s.response = resp
		return nil, true, errXOAUTH2Failed
	}
	return nil, false, sasl.ErrUnexpectedClientResponse
}

func TestXOAUTH2Client(t *testing.T) {
	const ir = "user=bot@example.org\x01auth=Bearer ya29.good\x01\x01"
	const status = `{"status":"401","schemes":"Bearer","scope":"https://mail.google.com/"}`

	t.Run("accepted", func(t *testing.T) {
		c, err := Client(XOAUTH2, "bot@example.org", "ya29.good")
		if err != nil {
			t.Fatal(err)
		}
		s := &xoauth2Server{wantIR: ir, status: status}
		sent, err := exchange(t, c, s)
		if err != nil {
			t.Fatalf("exchange() = %v, want nil", err)
		}
		if len(sent) != 1 || string(sent[0]) != ir {
			t.Errorf("client sent %q, want only the initial response %q", sent, ir)
		}
		if err := ServerStatus(c); err != nil {
			t.Errorf("ServerStatus() = %v, want nil", err)
		}
	})
	t.Run("refused", func(t *testing.T) {
		c := NewXOAUTH2Client("bot@example.org", "ya29.expired")
		s := &xoauth2Server{wantIR: ir, status: status}
		_, err := exchange(t, c, s)
		if !errors.Is(err, errXOAUTH2Failed) {
			t.Fatalf("exchange() = %v, want the server's failure", err)
		}
		if s.response == nil || len(s.response) != 0 {
			t.Errorf("answer to the failure challenge = %q, want an empty (non-nil) response", s.response)
		}
		st := ServerStatus(c)
		var xe *XOAUTH2Error
		if !errors.As(st, &xe) || xe.Status != "401" || xe.Scope != "https://mail.google.com/" {
			t.Fatalf("ServerStatus() = %v, want status 401 with the scope", st)
		}
		if !strings.Contains(st.Error(), "status 401") || strings.Contains(st.Error(), "ya29") {
			t.Errorf("ServerStatus().Error() = %q, want the status and no token", st)
		}
		// A second challenge is answered with the status as an error.
		if _, err := c.Next([]byte("again")); !errors.As(err, &xe) {
			t.Errorf("Next() after the failure = %v, want *XOAUTH2Error", err)
		}
		// A new exchange forgets the old status.
		c.Start()
		if err := ServerStatus(c); err != nil {
			t.Errorf("ServerStatus() after Start = %v, want nil", err)
		}
	})
	t.Run("bad token", func(t *testing.T) {
		c := NewXOAUTH2Client("bot@example.org", "a\x01b")
		if _, _, err := c.Start(); err == nil {
			t.Error("Start() with \\x01 in the token = nil, want an error")
		}
	})
	t.Run("not xoauth2", func(t *testing.T) {
		if err := ServerStatus(NewLoginClient("u", "p")); err != nil {
			t.Errorf("ServerStatus(login) = %v, want nil", err)
		}
	})
}

func TestClientMethods(t *testing.T) {
	tests := []struct {
		m        Method
		wantMech string
		wantErr  bool
	}{
		{Plain, "PLAIN", false},
		{Login, "LOGIN", false},
		{XOAUTH2, "XOAUTH2", false},
		{"XOAUTH2", "XOAUTH2", false},
		{"cram-md5", "", true},
		{"", "", true},
	}
	for _, tt := range tests {
		c, err := Client(tt.m, "u", "p")
		if tt.wantErr {
			if err == nil {
				t.Errorf("Client(%q) = nil error, want one", tt.m)
			}
			continue
		}
		if err != nil {
			t.Fatalf("Client(%q) = %v", tt.m, err)
		}
		if mech, _, _ := c.Start(); mech != tt.wantMech {
			t.Errorf("Client(%q).Start() mech = %q, want %q", tt.m, mech, tt.wantMech)
		}
	}
}

func TestParseXOAUTH2Challenge(t *testing.T) {
	tests := []struct {
		in   string
		want XOAUTH2Error
	}{
		{`{"status":"401","schemes":"Bearer","scope":"https://mail.google.com/"}`, XOAUTH2Error{Status: "401", Schemes: "Bearer", Scope: "https://mail.google.com/"}},
		{`{"status":"400"}`, XOAUTH2Error{Status: "400"}},
		{`Token expired`, XOAUTH2Error{Raw: "Token expired"}},
		{`{}`, XOAUTH2Error{Raw: "{}"}},
		{"\xff" + strings.Repeat("x", 300), XOAUTH2Error{Raw: "?" + strings.Repeat("x", 199)}},
	}
	for _, tt := range tests {
		if got := ParseXOAUTH2Challenge([]byte(tt.in)); *got != tt.want {
			t.Errorf("ParseXOAUTH2Challenge(%q) = %+v, want %+v", tt.in, *got, tt.want)
		}
	}
}

func FuzzParseXOAUTH2Challenge(f *testing.F) {
	seeds, err := filepath.Glob("testdata/xoauth2/*")
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range seeds {
		if filepath.Base(p) == "README" {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e := ParseXOAUTH2Challenge(b)
		if len(e.Raw) > 200 {
			t.Fatalf("Raw has %d bytes, want at most 200", len(e.Raw))
		}
		if !utf8.ValidString(e.Raw) {
			t.Fatalf("Raw = %q, want valid UTF-8", e.Raw)
		}
		if e.Raw != "" && (e.Status != "" || e.Schemes != "" || e.Scope != "") {
			t.Fatalf("ParseXOAUTH2Challenge() = %+v, want either JSON fields or Raw", *e)
		}
		if e.Error() == "" {
			t.Fatal("Error() is empty")
		}
	})
}

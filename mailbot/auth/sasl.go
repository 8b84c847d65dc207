package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-sasl"
)

// Method is a SASL mechanism the bot can use, as written in the config file.
type Method string

const (
	Plain   Method = "plain"   // RFC 4616
	Login   Method = "login"   // draft-murchison-sasl-login
	XOAUTH2 Method = "xoauth2" // secret is an OAuth 2.0 access token
)

// Client returns a SASL client for method m. secret is the password, or the
// access token for XOAUTH2.
func Client(m Method, user, secret string) (sasl.Client, error) {
	switch Method(strings.ToLower(string(m))) {
	case Plain:
		return sasl.NewPlainClient("", user, secret), nil
	case Login:
		return NewLoginClient(user, secret), nil
	case XOAUTH2:
		return NewXOAUTH2Client(user, secret), nil
	}
	return nil, fmt.Errorf("auth: unknown method %q (want plain, login or xoauth2)", m)
}

// NewLoginClient returns a LOGIN client that sends no initial response and
// answers the first challenge with the user name and the second with the
// password, whatever their text.
//
// QUIRK: go-sasl's LOGIN client sends the user name as an initial response and
// insists on the exact challenge "Password:"; Microsoft 365 and others word
// their challenges differently (draft-murchison-sasl-login section 2 says
// clients should ignore the text).
func NewLoginClient(user, pass string) sasl.Client {
	return &loginClient{user: user, pass: pass}
}

type loginClient struct {
	user, pass string
	step       int
}

func (c *loginClient) Start() (string, []byte, error) {
	c.step = 0
	return sasl.Login, nil, nil
}

func (c *loginClient) Next(challenge []byte) ([]byte, error) {
	c.step++
	switch c.step {
	case 1:
		return []byte(c.user), nil
	case 2:
		return []byte(c.pass), nil
	}
	return nil, sasl.ErrUnexpectedServerChallenge
}

// XOAUTH2Error is the status a server sends in its XOAUTH2 failure challenge,
// for example {"status":"401","schemes":"Bearer","scope":"https://mail.google.com/"}.
// A 401 usually means an expired or revoked token: fetch a new one and retry.
type XOAUTH2Error struct {
	Status  string `json:"status"`
	Schemes string `json:"schemes"`
	Scope   string `json:"scope"`
	Raw     string `json:"-"` // the challenge when it is not JSON (truncated)
}

func (e *XOAUTH2Error) Error() string {
	if e.Status == "" && e.Schemes == "" && e.Scope == "" {
		return fmt.Sprintf("auth: xoauth2 rejected: %q", e.Raw)
	}
	return fmt.Sprintf("auth: xoauth2 rejected: status %s, schemes %s, scope %s", e.Status, e.Schemes, e.Scope)
}

// ParseXOAUTH2Challenge reads a server's XOAUTH2 failure challenge (already
// base64-decoded). It never fails: a challenge that is not JSON is kept, cut
// to 200 bytes, in Raw.
func ParseXOAUTH2Challenge(challenge []byte) *XOAUTH2Error {
	var e XOAUTH2Error
	if err := json.Unmarshal(challenge, &e); err != nil || (e.Status == "" && e.Schemes == "" && e.Scope == "") {
		e = XOAUTH2Error{}
		raw := challenge
		if len(raw) > 200 {
			raw = raw[:200]
		}
		e.Raw = strings.ToValidUTF8(string(raw), "?")
	}
	return &e
}

// NewXOAUTH2Client returns an XOAUTH2 client. Its initial response is
// "user=U\x01auth=Bearer T\x01\x01". A server that refuses the token sends
// one challenge holding a JSON status; the client answers it with an empty
// response, as the protocol requires, and the server then ends the exchange
// with a bare failure (IMAP NO, SMTP 535). ServerStatus returns the status.
// Any further challenge gets the status as an error.
func NewXOAUTH2Client(user, token string) sasl.Client {
	return &xoauth2Client{user: user, token: token}
}

type xoauth2Client struct {
	user, token string
	status      *XOAUTH2Error
}

func (c *xoauth2Client) Start() (string, []byte, error) {
	c.status = nil
	if strings.ContainsAny(c.user, "\x01") || strings.ContainsAny(c.token, "\x01") {
		return "", nil, errors.New("auth: xoauth2: user or token contains \\x01")
	}
	return "XOAUTH2", []byte("user=" + c.user + "\x01auth=Bearer " + c.token + "\x01\x01"), nil
}

func (c *xoauth2Client) Next(challenge []byte) ([]byte, error) {
	if c.status != nil {
		return nil, c.status
	}
	c.status = ParseXOAUTH2Challenge(challenge)
	// Non-nil and empty: go-smtp and go-imap stop on a nil response instead
	// of sending the empty line the server waits for.
	return []byte{}, nil
}

// ServerStatus returns the *XOAUTH2Error a server sent to c during its last
// exchange, or nil: the IMAP or SMTP failure that follows carries no detail,
// so callers join the two:
//
//	if err := c.Auth(cl); err != nil { err = errors.Join(err, auth.ServerStatus(cl)) }
func ServerStatus(c sasl.Client) error {
	if x, ok := c.(*xoauth2Client); ok && x.status != nil {
		return x.status
	}
	return nil
}

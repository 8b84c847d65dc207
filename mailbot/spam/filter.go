package spam

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Filter kinds, as in [spam.filter] kind.
const (
	KindRspamd = "rspamd" // rspamd's normal worker, HTTP POST /checkv2
	KindSpamd  = "spamd"  // SpamAssassin's spamd, SPAMC/1.5 SYMBOLS over TCP
)

// Defaults for a Filter.
const (
	DefaultTimeout  = 10 * time.Second
	DefaultMaxBytes = 2 << 20 // spamc's own default cap is 500 KB; rspamd's 50 MB
	// DefaultRspamdAddress and DefaultSpamdAddress are the daemons' own
	// default listening addresses.
	DefaultRspamdAddress = "127.0.0.1:11333"
	DefaultSpamdAddress  = "127.0.0.1:783"
	// DefaultSpamdMinScore is where spamd's score holds an acknowledgement
	// when MinScore is 0. spamd's own line, required_score 5.0, is a junk
	// folder's: SpamAssassin's documentation calls it "quite aggressive"
	// and advises a site "more conservative, like 8.0 or 10.0"
	// (Mail::SpamAssassin::Conf, required_score). A hold is such a site
	// decision: a person wrongly held waits for the team.
	DefaultSpamdMinScore = 8.0
)

// maxAnswer bounds what is read of a filter's answer.
const maxAnswer = 1 << 20

// Errors of Filter.Check. Each one means the message was not checked and
// the Verdict says "not spam" (fail open): log it and acknowledge. None is
// worth a retry of the message; ErrUnavailable may clear by itself.
var (
	ErrTooLarge    = errors.New("spam: message over the filter's size cap: not checked")
	ErrUnavailable = errors.New("spam: filter unavailable")
	ErrProtocol    = errors.New("spam: filter answered something unexpected")
)

// Filter asks a real spam filter about one message.
type Filter struct {
	Kind     string        // KindRspamd or KindSpamd
	Address  string        // host:port
	Timeout  time.Duration // per message; 0 means DefaultTimeout
	MaxBytes int64         // larger messages are not sent; 0 means DefaultMaxBytes
	// MinScore, when positive, is the score from which a message is spam.
	// 0 means each filter's line for refusing mail, not for a junk folder
	// (which calls some people's mail spam, see README, "Spam verdicts"):
	// rspamd's reject action (holdActions), spamd's DefaultSpamdMinScore.
	MinScore float64
}

// Check sends raw (the message as received) to the filter and returns its
// verdict. On any error the Verdict is "not spam" with the reason, and the
// error (ErrTooLarge, ErrUnavailable or ErrProtocol, wrapped) is returned
// for the caller to log: a filter that is down must never stop
// acknowledgements to real reporters. The call never outlives ctx nor
// Timeout.
func (f *Filter) Check(ctx context.Context, raw io.Reader) (Verdict, error) {
	v, score, err := f.check(ctx, raw)
	if err != nil {
		return Verdict{Source: f.Kind, Reason: "not checked: " + err.Error()}, err
	}
	v.Source = f.Kind
	min := f.MinScore
	if min <= 0 && f.Kind == KindSpamd {
		min = DefaultSpamdMinScore
	}
	if min > 0 {
		v.Spam = score >= min
		v.Reason += fmt.Sprintf("; spam at min_score %g or more", min)
	}
	return v, nil
}

func (f *Filter) check(ctx context.Context, raw io.Reader) (Verdict, float64, error) {
	max := f.MaxBytes
	if max <= 0 {
		max = DefaultMaxBytes
	}
	msg, err := io.ReadAll(io.LimitReader(raw, max+1))
	if err != nil {
		return Verdict{}, 0, fmt.Errorf("%w: read message: %v", ErrUnavailable, err)
	}
	if int64(len(msg)) > max {
		return Verdict{}, 0, fmt.Errorf("%w (%d bytes)", ErrTooLarge, max)
	}
	timeout := f.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch f.Kind {
	case KindRspamd:
		return checkRspamd(ctx, f.Address, msg)
	case KindSpamd:
		return checkSpamd(ctx, f.Address, msg)
	}
	return Verdict{}, 0, fmt.Errorf("%w: unknown kind %q", ErrProtocol, f.Kind)
}

// rspamdAnswer is the part of rspamd's /checkv2 JSON answer read here
// (https://rspamd.com/doc/architecture/protocol.html; recorded answers of
// rspamd 3.4 in testdata/rspamd-*.json).
type rspamdAnswer struct {
	Action        string   `json:"action"`
	Score         *float64 `json:"score"`
	RequiredScore float64  `json:"required_score"`
	Error         string   `json:"error"`
}

// rspamdClient does not use HTTP_PROXY: the filter is the organisation's
// own, and the message must not travel further.
var rspamdClient = &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}

func checkRspamd(ctx context.Context, addr string, msg []byte) (Verdict, float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/checkv2", bytes.NewReader(msg))
	if err != nil {
		return Verdict{}, 0, fmt.Errorf("%w: %v", ErrProtocol, err)
	}
	resp, err := rspamdClient.Do(req)
	if err != nil {
		return Verdict{}, 0, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return Verdict{}, 0, fmt.Errorf("%w: read answer: %v", ErrUnavailable, err)
	}
	var a rspamdAnswer
	jerr := json.Unmarshal(body, &a)
	if resp.StatusCode != http.StatusOK {
		why := resp.Status
		if jerr == nil && a.Error != "" {
			why += ": " + quoteValue(a.Error)
		}
		return Verdict{}, 0, fmt.Errorf("%w: rspamd: %s", ErrUnavailable, why)
	}
	if jerr != nil {
		return Verdict{}, 0, fmt.Errorf("%w: rspamd: %v", ErrProtocol, jerr)
	}
	action := strings.ToLower(a.Action)
	if !spamActions[action] && !hamActions[action] || a.Score == nil {
		return Verdict{}, 0, fmt.Errorf("%w: rspamd: action %q", ErrProtocol, quoteValue(a.Action))
	}
	return Verdict{Spam: holdActions[action],
		Reason: fmt.Sprintf("rspamd: %s (score %.2f, reject at %.2f)", action, *a.Score, a.RequiredScore)}, *a.Score, nil
}

// holdActions are the rspamd actions on which a Filter holds: those that
// keep a message out of the mailbox (rspamd.com/doc/faq.html, "What are
// rspamd actions"). Asked by mailbot, rspamd scores a message without the
// SMTP session (no client address, HELO or host name:
// HFILTER_HOSTNAME_UNKNOWN, 2.5), so its "add header" and "rewrite
// subject", a junk folder's mark, held 7 of the 30 people's mails of
// testdata (README, "Spam verdicts"). In the MTA's header (rspamd()) those two do hold:
// there rspamd saw the session, and a rejected message never arrives.
var holdActions = map[string]bool{"reject": true, "discard": true, "quarantine": true}

// checkSpamd speaks SPAMC/1.5 (SpamAssassin's spamd/PROTOCOL; recorded
// answers of spamd 4.0.1 in testdata/spamd-*.txt):
//
//	SYMBOLS SPAMC/1.5\r\n
//	Content-length: <bytes>\r\n
//	\r\n
//	<message>
//
// answered by
//
//	SPAMD/1.1 0 EX_OK\r\n
//	Content-length: 27\r\n
//	Spam: True ; 1000.0 / 5.0\r\n
//	\r\n
//	GTUBE,NO_RECEIVED,NO_RELAYS
func checkSpamd(ctx context.Context, addr string, msg []byte) (Verdict, float64, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return Verdict{}, 0, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer conn.Close()
	// ctx bounds every read and write: when it ends the connection is
	// closed under them.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	w := bufio.NewWriter(conn)
	fmt.Fprintf(w, "SYMBOLS SPAMC/1.5\r\nContent-length: %d\r\n\r\n", len(msg))
	w.Write(msg)
	if err := w.Flush(); err != nil {
		return Verdict{}, 0, fmt.Errorf("%w: %v", ErrUnavailable, errors.Join(ctx.Err(), err))
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.CloseWrite() // as spamc does: the whole request is sent
	}
	v, score, err := readSpamd(bufio.NewReader(io.LimitReader(conn, maxAnswer)))
	if err != nil && ctx.Err() != nil {
		return Verdict{}, 0, fmt.Errorf("%w: %v", ErrUnavailable, ctx.Err())
	}
	return v, score, err
}

// readSpamd parses spamd's answer to SYMBOLS or CHECK.
func readSpamd(r *bufio.Reader) (Verdict, float64, error) {
	status, err := r.ReadString('\n')
	if err != nil {
		return Verdict{}, 0, fmt.Errorf("%w: spamd: no status line: %v", ErrUnavailable, err)
	}
	f := strings.Fields(status)
	if len(f) < 2 || !strings.HasPrefix(f[0], "SPAMD/") {
		return Verdict{}, 0, fmt.Errorf("%w: spamd: status line %q", ErrProtocol, quoteValue(strings.TrimSpace(status)))
	}
	if f[1] != "0" { // EX_OK; others are sysexits.h codes, e.g. 76 EX_PROTOCOL
		return Verdict{}, 0, fmt.Errorf("%w: spamd: %s", ErrUnavailable, quoteValue(strings.Join(f[1:], " ")))
	}
	var (
		spamLine string
		length   = -1
	)
	for range 32 {
		line, err := r.ReadString('\n')
		if err != nil {
			return Verdict{}, 0, fmt.Errorf("%w: spamd: header: %v", ErrProtocol, err)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		k, v, _ := strings.Cut(line, ":")
		switch {
		case strings.EqualFold(k, "Spam"):
			spamLine = strings.TrimSpace(v)
		case strings.EqualFold(k, "Content-length"):
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
				length = n
			}
		}
	}
	// Spam: True ; 1000.0 / 5.0
	word, nums, ok1 := strings.Cut(spamLine, ";")
	s, req, ok2 := strings.Cut(nums, "/")
	score, err1 := strconv.ParseFloat(strings.TrimSpace(s), 64)
	required, err2 := strconv.ParseFloat(strings.TrimSpace(req), 64)
	if !ok1 || !ok2 || err1 != nil || err2 != nil {
		return Verdict{}, 0, fmt.Errorf("%w: spamd: Spam line %q", ErrProtocol, quoteValue(spamLine))
	}
	var spam bool
	switch strings.ToLower(strings.TrimSpace(word)) {
	case "true", "yes":
		spam = true
	case "false", "no":
	default:
		return Verdict{}, 0, fmt.Errorf("%w: spamd: Spam line %q", ErrProtocol, quoteValue(spamLine))
	}
	reason := fmt.Sprintf("spamd: %s (score %.1f, required %.1f)", map[bool]string{true: "spam", false: "not spam"}[spam], score, required)
	if length > 0 {
		syms := make([]byte, min(length, 1000))
		n, _ := io.ReadFull(r, syms)
		if s := strings.TrimSpace(string(syms[:n])); s != "" {
			reason += " " + quoteValue(s)
		}
	}
	return Verdict{Spam: spam, Reason: reason}, score, nil
}

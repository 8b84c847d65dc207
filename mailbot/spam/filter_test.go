package spam

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The answers in testdata were recorded from the real daemons of Debian
// bookworm (rspamd 3.4, spamd 4.0.1) for the messages of
// testdata/mail/automated/spam-ham/spamassassin-t-data (gtube.eml, nice/001.eml).
const corpus = "../../testdata/mail/automated/spam-ham/spamassassin-t-data"

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatalf("ReadFile(%s) = %v", name, err)
	}
	return b
}

// fakeRspamd serves a recorded /checkv2 answer and checks the request.
func fakeRspamd(t *testing.T, status int, answer []byte, msg []byte, block <-chan struct{}) (addr string, requests *atomic.Int32) {
	t.Helper()
	requests = new(atomic.Int32)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.URL.Path != "/checkv2" || string(body) != string(msg) {
			t.Errorf("rspamd request %s %s with %d bytes, want POST /checkv2 with the %d bytes of the message", r.Method, r.URL.Path, len(body), len(msg))
		}
		if block != nil {
			select {
			case <-block:
			case <-r.Context().Done():
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(answer)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), requests
}

// fakeSpamd accepts connections on 127.0.0.1:0, reads one SPAMC/1.5
// request each, checks it and answers with answer (unless block is set).
func fakeSpamd(t *testing.T, answer []byte, msg []byte, block <-chan struct{}) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				line, _ := r.ReadString('\n')
				if line != "SYMBOLS SPAMC/1.5\r\n" {
					t.Errorf("spamd request line %q, want SYMBOLS SPAMC/1.5", line)
				}
				n := -1
				for {
					h, err := r.ReadString('\n')
					if err != nil || h == "\r\n" {
						break
					}
					if v, ok := strings.CutPrefix(h, "Content-length: "); ok {
						n, _ = strconv.Atoi(strings.TrimSpace(v))
					}
				}
				body, _ := io.ReadAll(r)
				if n != len(msg) || string(body) != string(msg) {
					t.Errorf("spamd request Content-length %d with %d bytes, want the %d bytes of the message", n, len(body), len(msg))
				}
				if block != nil {
					<-block
					return
				}
				c.Write(answer)
			}()
		}
	}()
	return ln.Addr().String()
}

func TestFilterRspamd(t *testing.T) {
	gtube := readFile(t, filepath.Join(corpus, "spam/gtube.eml"))
	ham := readFile(t, filepath.Join(corpus, "nice/001.eml"))
	nice005 := readFile(t, filepath.Join(corpus, "nice/005.eml"))
	tests := []struct {
		name   string
		status int
		answer []byte
		msg    []byte
		spam   bool
		err    error
		reason string
	}{
		{"gtube", 200, readFile(t, "testdata/rspamd-checkv2-spam-gtube.json"), gtube, true, nil, "rspamd: reject (score 15.00, reject at 15.00)"},
		{"ham", 200, readFile(t, "testdata/rspamd-checkv2-nice-001.json"), ham, false, nil, "rspamd: no action (score 3.89"},
		// A junk folder's mark is not a hold (holdActions).
		{"add header", 200, readFile(t, "testdata/rspamd-checkv2-nice-005.json"), nice005, false, nil, "rspamd: add header (score 7.38, reject at 15.00)"},
		{"error answer", 500, readFile(t, "testdata/rspamd-error-500.json"), ham, false, ErrUnavailable, `500 Internal Server Error: invalid command`},
		{"not json", 200, []byte("<html>proxy</html>"), ham, false, ErrProtocol, "not checked"},
		{"unknown action", 200, []byte(`{"score":1,"action":"frobnicate"}`), ham, false, ErrProtocol, "frobnicate"},
		{"no score", 200, []byte(`{"action":"reject"}`), ham, false, ErrProtocol, "reject"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr, _ := fakeRspamd(t, tc.status, tc.answer, tc.msg, nil)
			f := &Filter{Kind: KindRspamd, Address: addr}
			v, err := f.Check(context.Background(), strings.NewReader(string(tc.msg)))
			if v.Spam != tc.spam || v.Source != KindRspamd || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) || !strings.Contains(v.Reason, tc.reason) {
				t.Errorf("Check() = %+v, %v, want Spam %v, err %v, Reason containing %q", v, err, tc.spam, tc.err, tc.reason)
			}
		})
	}
}

func TestFilterSpamd(t *testing.T) {
	gtube := readFile(t, filepath.Join(corpus, "spam/gtube.eml"))
	ham := readFile(t, filepath.Join(corpus, "nice/001.eml"))
	crlf := readFile(t, filepath.Join(corpus, "nice/crlf-endings.eml"))
	tests := []struct {
		name   string
		answer []byte
		msg    []byte
		spam   bool
		err    error
		reason string
	}{
		{"gtube", readFile(t, "testdata/spamd-symbols-gtube.txt"), gtube, true, nil, "spamd: spam (score 1000.0, required 5.0) GTUBE,NO_RECEIVED,NO_RELAYS"},
		{"ham", readFile(t, "testdata/spamd-symbols-ham.txt"), ham, false, nil, "spamd: not spam (score 0.0, required 5.0) HEADER_FROM_DIFFERENT_DOMAINS"},
		// Over spamd's junk line (5.0), under DefaultSpamdMinScore.
		{"junk, not held", readFile(t, "testdata/spamd-symbols-crlf-endings.txt"), crlf, false, nil, "spamd: spam (score 7.3, required 5.0) DATE_IN_PAST_03_06,INVALID_DATE,KHOP_HELO_FCRDNS,MSGID_RANDY; spam at min_score 8 or more"},
		{"check answer without symbols", readFile(t, "testdata/spamd-check-gtube.txt"), gtube, true, nil, "spamd: spam (score 1000.0, required 5.0)"},
		{"spamd refuses", readFile(t, "testdata/spamd-bad-command.txt"), ham, false, ErrUnavailable, "76 Bad header line"},
		{"not spamd", []byte("220 smtp.example.org ESMTP\r\n"), ham, false, ErrProtocol, "status line"},
		{"no spam line", []byte("SPAMD/1.1 0 EX_OK\r\n\r\n"), ham, false, ErrProtocol, "Spam line"},
		{"bad spam word", []byte("SPAMD/1.1 0 EX_OK\r\nSpam: Maybe ; 1.0 / 5.0\r\n\r\n"), ham, false, ErrProtocol, "Maybe"},
		{"closed early", []byte("SPAMD/1.1 0 EX_OK\r\nSpam: True"), ham, false, ErrProtocol, "header"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &Filter{Kind: KindSpamd, Address: fakeSpamd(t, tc.answer, tc.msg, nil)}
			v, err := f.Check(context.Background(), strings.NewReader(string(tc.msg)))
			if v.Spam != tc.spam || v.Source != KindSpamd || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) || !strings.Contains(v.Reason, tc.reason) {
				t.Errorf("Check() = %+v, %v, want Spam %v, err %v, Reason containing %q", v, err, tc.spam, tc.err, tc.reason)
			}
		})
	}
}

// A filter that never answers costs at most Timeout, and the message is
// then "not spam" with ErrUnavailable (fail open).
func TestFilterTimeoutFailsOpen(t *testing.T) {
	msg := readFile(t, filepath.Join(corpus, "spam/gtube.eml"))
	block := make(chan struct{})
	defer close(block)
	rs, _ := fakeRspamd(t, 200, nil, msg, block)
	for _, f := range []*Filter{
		{Kind: KindRspamd, Address: rs, Timeout: 50 * time.Millisecond},
		{Kind: KindSpamd, Address: fakeSpamd(t, nil, msg, block), Timeout: 50 * time.Millisecond},
	} {
		v, err := f.Check(context.Background(), strings.NewReader(string(msg)))
		if v.Spam || !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "deadline") {
			t.Errorf("%s: Check() = %+v, %v, want not spam and ErrUnavailable (deadline exceeded)", f.Kind, v, err)
		}
	}
}

// The caller's context bounds the call too (shutdown).
func TestFilterCancelled(t *testing.T) {
	msg := readFile(t, filepath.Join(corpus, "spam/gtube.eml"))
	block := make(chan struct{})
	defer close(block)
	f := &Filter{Kind: KindSpamd, Address: fakeSpamd(t, nil, msg, block), Timeout: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := f.Check(ctx, strings.NewReader(string(msg)))
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, ErrUnavailable) {
		t.Errorf("Check() after cancel = %v, want ErrUnavailable", err)
	}
}

func TestFilterUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	for _, kind := range []string{KindRspamd, KindSpamd} {
		f := &Filter{Kind: kind, Address: addr}
		v, err := f.Check(context.Background(), strings.NewReader("Subject: x\r\n\r\nbody\r\n"))
		if v.Spam || !errors.Is(err, ErrUnavailable) || !strings.HasPrefix(v.Reason, "not checked: ") {
			t.Errorf("%s: Check() = %+v, %v, want not spam, ErrUnavailable", kind, v, err)
		}
	}
}

// A message over MaxBytes is never sent.
func TestFilterTooLarge(t *testing.T) {
	msg := readFile(t, filepath.Join(corpus, "spam/gtube.eml"))
	addr, requests := fakeRspamd(t, 200, readFile(t, "testdata/rspamd-checkv2-spam-gtube.json"), msg, nil)
	f := &Filter{Kind: KindRspamd, Address: addr, MaxBytes: int64(len(msg) - 1)}
	v, err := f.Check(context.Background(), strings.NewReader(string(msg)))
	if v.Spam || !errors.Is(err, ErrTooLarge) || requests.Load() != 0 {
		t.Errorf("Check() = %+v, %v with %d requests, want not spam, ErrTooLarge, no request", v, err, requests.Load())
	}
	f.MaxBytes = int64(len(msg))
	if v, err := f.Check(context.Background(), strings.NewReader(string(msg))); !v.Spam || err != nil {
		t.Errorf("Check() at exactly MaxBytes = %+v, %v, want spam", v, err)
	}
}

// MinScore replaces the filter's verdict by a score threshold, both ways.
func TestFilterMinScore(t *testing.T) {
	gtube := readFile(t, filepath.Join(corpus, "spam/gtube.eml"))
	ham := readFile(t, filepath.Join(corpus, "nice/001.eml"))
	rsGTUBE, _ := fakeRspamd(t, 200, readFile(t, "testdata/rspamd-checkv2-spam-gtube.json"), gtube, nil) // score 15, reject
	rsHam, _ := fakeRspamd(t, 200, readFile(t, "testdata/rspamd-checkv2-nice-001.json"), ham, nil)       // score 3.89, no action
	sdHam := fakeSpamd(t, readFile(t, "testdata/spamd-symbols-ham.txt"), ham, nil)                       // score 0.0
	nice005 := readFile(t, filepath.Join(corpus, "nice/005.eml"))
	rsAddHeader, _ := fakeRspamd(t, 200, readFile(t, "testdata/rspamd-checkv2-nice-005.json"), nice005, nil) // score 7.38, add header
	crlf := readFile(t, filepath.Join(corpus, "nice/crlf-endings.eml"))
	sdCRLF := fakeSpamd(t, readFile(t, "testdata/spamd-symbols-crlf-endings.txt"), crlf, nil) // score 7.3
	tests := []struct {
		f    Filter
		msg  []byte
		spam bool
	}{
		{Filter{Kind: KindRspamd, Address: rsGTUBE, MinScore: 16}, gtube, false},
		{Filter{Kind: KindRspamd, Address: rsGTUBE, MinScore: 15}, gtube, true},
		{Filter{Kind: KindRspamd, Address: rsHam, MinScore: 3.5}, ham, true},
		{Filter{Kind: KindSpamd, Address: sdHam, MinScore: 0.5}, ham, false},
		{Filter{Kind: KindRspamd, Address: rsAddHeader, MinScore: 6}, nice005, true},
		{Filter{Kind: KindSpamd, Address: sdCRLF, MinScore: 5}, crlf, true},
		{Filter{Kind: KindSpamd, Address: sdCRLF}, crlf, false}, // DefaultSpamdMinScore
	}
	for _, tc := range tests {
		v, err := tc.f.Check(context.Background(), strings.NewReader(string(tc.msg)))
		if err != nil || v.Spam != tc.spam || !strings.Contains(v.Reason, "min_score") {
			t.Errorf("%s with MinScore %g: Check() = %+v, %v, want Spam %v", tc.f.Kind, tc.f.MinScore, v, err, tc.spam)
		}
	}
}

func FuzzReadSpamd(f *testing.F) {
	for _, name := range []string{"spamd-symbols-gtube.txt", "spamd-symbols-ham.txt", "spamd-check-gtube.txt", "spamd-bad-command.txt"} {
		f.Add(readFile(f, filepath.Join("testdata", name)))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, _, err := readSpamd(bufio.NewReader(strings.NewReader(string(b))))
		if err != nil && v.Spam {
			t.Fatalf("readSpamd() = %+v, %v: spam with an error", v, err)
		}
		if len(v.Reason) > 200 {
			t.Fatalf("readSpamd() reason of %d bytes", len(v.Reason))
		}
	})
}

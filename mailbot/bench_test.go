package mailbot_test

// Issue 9: the target benchmarks of the whole bot. They measure once per
// call and are meant to be run with -benchtime=1x (see .ci/bench, which
// compares the reported metrics with the targets):
//
//	BenchmarkTargetAckLatency  APPEND -> acknowledgement accepted by SMTP, p50/p99
//	BenchmarkTargetIngest      sustained ingest of a backlog through Daemon.Ingest
//	BenchmarkTargetPeakRSS     VmHWM of a child process ingesting one message
//
// -short scales every count down.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-pgpmail"

	"mailbot/mailbot"
	"mailbot/mailbot/config"
	"mailbot/mailbot/devmail"
	"mailbot/mailbot/inbox"
	"mailbot/mailbot/pgp"
	"mailbot/policy"
	"mailbot/store"
	"mailbot/templates"
)

var (
	benchReports    = flag.Int("bench.reports", 200, "reports per mode in BenchmarkTargetAckLatency (-short: 40)")
	benchBacklog    = flag.Int("bench.backlog", 10000, "messages in the plain and X25519 backlogs of BenchmarkTargetIngest (-short: 1000)")
	benchBacklogRSA = flag.Int("bench.backlog-rsa", 2000, "messages in the RSA-4096 backlog of BenchmarkTargetIngest (-short: 200)")
	benchPlanCases  = flag.Int("bench.plan", 100000, "cases in BenchmarkTargetReminderPlan (-short: 5000)")
	benchBig        = flag.Int("bench.big", 20, "10 MB messages in BenchmarkTargetIngest/10MB (-short: 4)")
)

func scaled(n, short int) int {
	if testing.Short() {
		return min(n, short)
	}
	return n
}

// benchTOML is the configuration of a benchmarked bot. The policy is the one
// the pipeline tests use; every limit is the default.
func benchConfig(tb testing.TB, dir, imapAddr, smtpAddr, mode string) *config.Config {
	tb.Helper()
	if err := os.WriteFile(filepath.Join(dir, "pw"), []byte(pw+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	pol, err := filepath.Abs("../testdata/policies/002_imis_innovation.toml")
	if err != nil {
		tb.Fatal(err)
	}
	ihost, iport, _ := strings.Cut(imapAddr, ":")
	shost, sport, _ := strings.Cut(smtpAddr, ":")
	toml := fmt.Sprintf(`address = %q
store = "bot.db"
policy = %q
[imap]
host = %q
port = %s
tls = "none"
username = %q
password = { file = "pw" }
mode = %q
command_timeout = "10s"
[smtp]
host = %q
port = %s
tls = "none"
username = %q
password = { file = "pw" }
timeout = "10s"
# The benchmarks measure the line, not the flood caps (they have tests of
# their own): one sender and one domain send every report here.
[ack]
global_per_hour = 100000000
[flood]
cases_per_sender = 100000000
cases_per_domain = 100000000
notify_per_sender = 100000000
notify_per_domain = 100000000
[limits]
min_free_bytes = 0
`, botAddr, pol, ihost, iport, botAddr, mode, shost, sport, botAddr)
	cfg, err := config.Parse(filepath.Join(dir, "mailbot.toml"), []byte(toml))
	if err != nil {
		tb.Fatalf("config.Parse() = %v", err)
	}
	return cfg
}

// benchDaemon opens a store in cfg's folder and makes a daemon with the real
// clock on it.
func benchDaemon(tb testing.TB, cfg *config.Config, keys *pgp.Keyring, events chan inbox.Event) (*mailbot.Daemon, *store.Store) {
	tb.Helper()
	st, err := store.Open(cfg.Store, store.Options{Timeout: time.Second, CasePrefix: cfg.CasePrefix})
	if err != nil {
		tb.Fatalf("store.Open() = %v", err)
	}
	tb.Cleanup(func() { st.Close() })
	pol, err := policy.Load(cfg.Policy)
	if err != nil {
		tb.Fatalf("policy.Load() = %v", err)
	}
	tmpl, err := templates.Load("")
	if err != nil {
		tb.Fatal(err)
	}
	// Warnings and errors go to stderr: a benchmark that stalls says why.
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	o := mailbot.Options{Config: cfg, Store: st, Policy: pol, Templates: tmpl, Keys: keys, Logger: logger}
	if events != nil {
		o.InboxEvents = events
	}
	d, err := mailbot.New(o)
	if err != nil {
		tb.Fatalf("mailbot.New() = %v", err)
	}
	return d, st
}

// reportBody is about size bytes of a plausible report text (CRLF lines).
func reportBody(size int) string {
	lines := []string{
		"The login form at https://app.example.org/login has an SQL injection.",
		"Steps to reproduce: send ' OR 1=1 -- as the user name and any password.",
		"Impact: every account can be taken over; the users table can be read.",
		"Affected versions: all releases since 2024-01; tested on 2026-03-02.",
		"Suggested fix: use prepared statements for the login query.",
	}
	var b strings.Builder
	for i := 0; b.Len() < size; i++ {
		b.WriteString(lines[i%len(lines)])
		b.WriteString("\r\n")
	}
	return b.String()
}

func benchSender(i int) string { return fmt.Sprintf("researcher%d@research.example", i) }

// plainReport is report i of about 20 KB from its own sender (so that no
// per-sender rate limit applies).
func plainReport(i int, body string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: Researcher %d <%s>\r\nTo: %s\r\nSubject: SQL injection in login, report %d\r\n"+
		"Date: Tue, 03 Mar 2026 10:00:00 +0000\r\nMessage-ID: <bench%d.%d@research.example>\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n",
		i, benchSender(i), botAddr, i, i, time.Now().UnixNano())
	b.WriteString(body)
	return b.Bytes()
}

// sealedReport is report i as PGP/MIME (RFC 3156), signed by signer and
// encrypted to `to`, with the subject protected (RFC 9788).
func sealedReport(tb testing.TB, i int, body string, to openpgp.EntityList, signer *pgp.Keyring) []byte {
	tb.Helper()
	var h mail.Header
	h.SetAddressList("From", []*mail.Address{{Name: fmt.Sprintf("Researcher %d", i), Address: benchSender(i)}})
	h.SetAddressList("To", []*mail.Address{{Address: botAddr}})
	h.SetMessageID(fmt.Sprintf("bench%d.%d@research.example", i, time.Now().UnixNano()))
	h.SetDate(time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC))
	h.SetSubject("[...]")
	var out bytes.Buffer
	inner := "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body
	if err := pgp.Seal(&out, h, fmt.Sprintf("Protected report %d", i), strings.NewReader(inner), to, signer); err != nil {
		tb.Fatalf("Seal() = %v", err)
	}
	return out.Bytes()
}

// attachmentPart is a base64 MIME part holding size random bytes.
func attachmentPart(size int) []byte {
	raw := make([]byte, size)
	rand.Read(raw)
	enc := base64.StdEncoding.EncodeToString(raw)
	var b bytes.Buffer
	b.Grow(len(enc) + len(enc)/76*2 + 200)
	b.WriteString("Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"capture.pcap\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	for len(enc) > 76 {
		b.WriteString(enc[:76])
		b.WriteString("\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc)
	b.WriteString("\r\n")
	return b.Bytes()
}

// withAttachment is a multipart/mixed entity body: a text part and att.
func withAttachment(text string, att []byte) []byte {
	var b bytes.Buffer
	b.WriteString("Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	b.WriteString(text)
	b.WriteString("--b1\r\n")
	b.Write(att)
	b.WriteString("--b1--\r\n")
	return b.Bytes()
}

// bigReportHeader is the top-level header of a report whose body (an entity
// from withAttachment, header included) follows.
func bigReportHeader(i int) []byte {
	return fmt.Appendf(nil, "From: Researcher %d <%s>\r\nTo: %s\r\nSubject: Packet capture, report %d\r\n"+
		"Date: Tue, 03 Mar 2026 10:00:00 +0000\r\nMessage-ID: <big%d.%d@research.example>\r\nMIME-Version: 1.0\r\n",
		i, benchSender(i), botAddr, i, i, time.Now().UnixNano())
}

func percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// benchKeys caches generated keys: RSA-4096 takes seconds.
var (
	benchKeyMu sync.Mutex
	benchKeyOf = map[string]*pgp.Keyring{}
)

func benchKey(tb testing.TB, name, addr string, algo pgp.Algo) *pgp.Keyring {
	tb.Helper()
	benchKeyMu.Lock()
	defer benchKeyMu.Unlock()
	id := addr + "/" + algo.String()
	if k := benchKeyOf[id]; k != nil {
		return k
	}
	k, err := pgp.Generate(name, addr, algo, time.Now().Add(-time.Hour))
	if err != nil {
		tb.Fatalf("Generate(%s) = %v", id, err)
	}
	benchKeyOf[id] = k
	return k
}

func publicEntities(tb testing.TB, k *pgp.Keyring) openpgp.EntityList {
	tb.Helper()
	var b bytes.Buffer
	if err := k.WritePublic(&b); err != nil {
		tb.Fatal(err)
	}
	el, err := pgp.ParseKeys(b.Bytes())
	if err != nil {
		tb.Fatal(err)
	}
	return el
}

// BenchmarkTargetIngest is target 2: a backlog processed the way the IMAP
// intake processes it, a FETCH batch (50, the default batch size) at a time
// through Daemon.IngestBatch: spool, one flush for the batch, parse,
// classify and decrypt in parallel, one fsynced commit for the batch with
// every case and its queued acknowledgement (sealed in parallel) on a real
// store. p50/p99 are per batch. Targets: >= 800 msg/s plain, >= 600 X25519,
// >= 150 RSA-4096, >= 4 with 10 MB attachments.
const ingestBatch = 50 // inbox.Options.BatchSize's default

func BenchmarkTargetIngest(b *testing.B) {
	body := reportBody(20 << 10)
	researcher := benchKey(b, "Researcher", "researcher@research.example", pgp.Ed25519)
	run := func(b *testing.B, keys *pgp.Keyring, n int, gen func(i int) io.Reader) {
		b.Helper()
		cfg := benchConfig(b, b.TempDir(), "127.0.0.1:1", "127.0.0.1:1", "idle")
		d, st := benchDaemon(b, cfg, keys, nil)
		msgs := make([]io.Reader, n)
		for i := range msgs {
			msgs[i] = gen(i)
		}
		lat := make([]time.Duration, 0, n)
		ctx := context.Background()
		b.ResetTimer()
		start := time.Now()
		for i := 0; i < n; i += ingestBatch {
			batch := msgs[i:min(n, i+ingestBatch)]
			t := time.Now()
			k, err := d.IngestBatch(ctx, batch)
			lat = append(lat, time.Since(t))
			if err != nil || k != len(batch) {
				b.Fatalf("IngestBatch(%d..) = %d, %v; want %d committed", i, k, err, len(batch))
			}
		}
		elapsed := time.Since(start)
		b.StopTimer()
		// The first and the last case must carry what only decryption (when
		// encrypted) could give: the protected subject.
		err := st.View(func(tx *store.Tx) error {
			var cs []*store.Case
			if err := tx.Cases(func(c *store.Case) bool { cs = append(cs, c); return true }); err != nil {
				return err
			}
			if len(cs) != n {
				return fmt.Errorf("cases = %d, want %d", len(cs), n)
			}
			for _, c := range []*store.Case{cs[0], cs[n-1]} {
				if !strings.Contains(c.Subject, "report") {
					return fmt.Errorf("case %s subject = %q, want the report's subject", c.Ref, c.Subject)
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(n)/elapsed.Seconds(), "msg/s")
		b.ReportMetric(ms(percentile(lat, 50)), "batch-p50-ms")
		b.ReportMetric(ms(percentile(lat, 99)), "batch-p99-ms")
		b.ReportMetric(float64(n), "msgs")
		b.ReportMetric(0, "ns/op")
	}
	b.Run("plain", func(b *testing.B) {
		run(b, nil, scaled(*benchBacklog, 1000), func(i int) io.Reader { return bytes.NewReader(plainReport(i, body)) })
	})
	b.Run("x25519", func(b *testing.B) {
		bot := benchKey(b, "Security", botAddr, pgp.Ed25519)
		to := publicEntities(b, bot)
		run(b, bot, scaled(*benchBacklog, 1000), func(i int) io.Reader {
			return bytes.NewReader(sealedReport(b, i, body, to, researcher))
		})
	})
	b.Run("rsa4096", func(b *testing.B) {
		bot := benchKey(b, "Security", botAddr, pgp.RSA4096)
		to := publicEntities(b, bot)
		run(b, bot, scaled(*benchBacklogRSA, 200), func(i int) io.Reader {
			return bytes.NewReader(sealedReport(b, i, body, to, researcher))
		})
	})
	b.Run("10MB", func(b *testing.B) {
		big := withAttachment(reportBody(2<<10), attachmentPart(10<<20))
		b.SetBytes(int64(len(big)))
		run(b, nil, scaled(*benchBig, 4), func(i int) io.Reader {
			return io.MultiReader(bytes.NewReader(bigReportHeader(i)), bytes.NewReader(big))
		})
	})
}

// rssChildEnv names the folder a TestBenchRSSChild process works in.
const rssChildEnv = "MAILBOT_BENCH_RSS_DIR"

// TestBenchRSSChild is the child process of BenchmarkTargetPeakRSS, not a
// test: started with MAILBOT_BENCH_RSS_DIR set, it ingests the message in
// that folder (with the key there, if any) and prints its peak RSS.
func TestBenchRSSChild(t *testing.T) {
	dir := os.Getenv(rssChildEnv)
	if dir == "" {
		t.Skip("child process of BenchmarkTargetPeakRSS; runs only with " + rssChildEnv + " set")
	}
	var keys *pgp.Keyring
	if f, err := os.Open(filepath.Join(dir, "bot.asc")); err == nil {
		keys, err = pgp.ReadKeyring(f, nil)
		f.Close()
		if err != nil {
			t.Fatalf("ReadKeyring() = %v", err)
		}
	}
	cfg := benchConfig(t, dir, "127.0.0.1:1", "127.0.0.1:1", "idle")
	d, st := benchDaemon(t, cfg, keys, nil)
	before := vmHWM(t)
	f, err := os.Open(filepath.Join(dir, "msg.eml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := d.Ingest(context.Background(), f)
	if err != nil || res.Action != mailbot.ActionOpened {
		t.Fatalf("Ingest() = %+v, %v; want a case opened", res, err)
	}
	after := vmHWM(t)
	var encrypted bool
	err = st.View(func(tx *store.Tx) error {
		m, err := tx.Message(res.Message)
		if err != nil {
			return err
		}
		c, err := tx.CaseByRef(res.Case)
		if err != nil {
			return err
		}
		evs, err := tx.Events(c.ID)
		encrypted = m.Encrypted && !hasEvent(evs, "decrypt.failed", "")
		if m.Encrypted && !encrypted {
			for _, e := range evs {
				fmt.Printf("event %s: %s\n", e.Kind, e.Detail)
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("BENCH-RSS before-kB=%d hwm-kB=%d decrypted=%v\n", before, after, encrypted)
}

// vmHWM is the peak resident set size of this process, in kB.
func vmHWM(tb testing.TB) int {
	tb.Helper()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Fatalf("peak RSS: %v", err)
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				tb.Fatalf("VmHWM %q: %v", v, err)
			}
			return n
		}
	}
	tb.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// BenchmarkTargetPeakRSS is target 3: the peak RSS of a whole process (this
// test binary re-executed, so that the benchmark's own memory does not
// count) that ingests one message with a 25 MB attachment, plain and
// encrypted, compared with one 20 KB report. Targets: <= 64 MB, and within
// 5 MB of the 20 KB case.
func BenchmarkTargetPeakRSS(b *testing.B) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		b.Fatalf("peak RSS needs /proc/self/status: %v", err)
	}
	bot := benchKey(b, "Security", botAddr, pgp.Ed25519)
	researcher := benchKey(b, "Researcher", "researcher@research.example", pgp.Ed25519)
	to := publicEntities(b, bot)
	small := reportBody(20 << 10)
	bigAtt := attachmentPart(25 << 20)
	child := func(b *testing.B, raw []byte, key *pgp.Keyring) (hwmKB int, decrypted bool) {
		b.Helper()
		dir := b.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "msg.eml"), raw, 0o600); err != nil {
			b.Fatal(err)
		}
		if key != nil {
			var kb bytes.Buffer
			if err := key.WritePrivate(&kb, nil); err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "bot.asc"), kb.Bytes(), 0o600); err != nil {
				b.Fatal(err)
			}
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestBenchRSSChild$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), rssChildEnv+"="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("child: %v\n%s", err, out)
		}
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			line, ok := strings.CutPrefix(sc.Text(), "BENCH-RSS ")
			if !ok {
				continue
			}
			var before, hwm int
			if _, err := fmt.Sscanf(line, "before-kB=%d hwm-kB=%d decrypted=%t", &before, &hwm, &decrypted); err != nil {
				b.Fatalf("child said %q: %v", line, err)
			}
			return hwm, decrypted
		}
		b.Fatalf("child printed no BENCH-RSS line:\n%s", out)
		return 0, false
	}
	measure := func(b *testing.B, big, smallRaw []byte, key *pgp.Keyring) {
		base, ok := child(b, smallRaw, key)
		if key != nil && !ok {
			b.Fatal("the child did not decrypt the 20 KB report")
		}
		hwm, ok := child(b, big, key)
		if key != nil {
			// Reported, not fatal: an over-limit ciphertext is not
			// decrypted (parse.Limits.MaxPGPBytes) and that is the finding.
			b.ReportMetric(map[bool]float64{false: 0, true: 1}[ok], "decrypted")
		}
		b.ReportMetric(float64(hwm)/1024, "hwm-MB")
		b.ReportMetric(float64(base)/1024, "base-MB")
		b.ReportMetric(float64(hwm-base)/1024, "delta-MB")
		b.ReportMetric(0, "ns/op")
	}
	b.Run("plain", func(b *testing.B) {
		big := append(bigReportHeader(1), withAttachment(reportBody(2<<10), bigAtt)...)
		measure(b, big, plainReport(2, small), nil)
	})
	// bigEncrypted is a PGP/MIME report (RFC 3156 section 4, signed and
	// encrypted) with an attachment of attSize bytes, made by go-pgpmail:
	// pgp.Seal caps what it encrypts.
	bigEncrypted := func(b *testing.B, att []byte) []byte {
		var big bytes.Buffer
		var h mail.Header
		h.SetAddressList("From", []*mail.Address{{Address: benchSender(1)}})
		h.SetAddressList("To", []*mail.Address{{Address: botAddr}})
		h.SetMessageID(fmt.Sprintf("bigenc.%d@research.example", time.Now().UnixNano()))
		h.SetSubject("Packet capture, report 1")
		h.Set("MIME-Version", "1.0")
		w, err := pgpmail.Encrypt(&big, h.Header.Header, to, researcher.Entities()[0], nil)
		if err != nil {
			b.Fatalf("pgpmail.Encrypt() = %v", err)
		}
		if _, err := w.Write(withAttachment(reportBody(2<<10), att)); err != nil {
			b.Fatal(err)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		return big.Bytes()
	}
	b.Run("encrypted", func(b *testing.B) {
		measure(b, bigEncrypted(b, bigAtt), sealedReport(b, 2, small, to, researcher), bot)
	})
	// 25 MB of attachment armored is over the default 32 MiB OpenPGP
	// limit of parse (the attachment is base64 inside the ciphertext, which is
	// armored again: x1.8); 15 MB fits, so decryption's own memory shows here.
	b.Run("encrypted-15MB", func(b *testing.B) {
		measure(b, bigEncrypted(b, attachmentPart(15<<20)), sealedReport(b, 2, small, to, researcher), bot)
	})
	// inline is a text/plain report whose body is one armored, signed
	// and encrypted block of text (RFC 4880 section 6): what clients
	// without PGP/MIME send.
	inline := func(b *testing.B, i int, text string) []byte {
		var ct bytes.Buffer
		aw, err := armor.Encode(&ct, openpgp.MessageType, nil)
		if err != nil {
			b.Fatal(err)
		}
		w, err := openpgp.Encrypt(aw, to, researcher.Entities()[0], nil, nil)
		if err != nil {
			b.Fatalf("openpgp.Encrypt() = %v", err)
		}
		io.WriteString(w, text)
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		aw.Close()
		return append(plainReport(i, ""), ct.Bytes()...)
	}
	// The same text sent in clear: what a text body costs at the text
	// limit (parse.Limits.MaxTextBytes), whether encrypted or not.
	b.Run("plain-text-15MB", func(b *testing.B) {
		measure(b, plainReport(1, reportBody(15<<20)), plainReport(2, small), nil)
	})
	b.Run("encrypted-inline-15MB", func(b *testing.B) {
		measure(b, inline(b, 1, reportBody(15<<20)), inline(b, 2, small), bot)
	})
}

// latencyRig is a running bot on some IMAP server and devmail's SMTP sink,
// plus a watcher connection in IDLE that times the server's own APPEND ->
// EXISTS delay.
type latencyRig struct {
	sink    *devmail.Server
	appendF func(raw []byte) error // puts raw into the bot's INBOX
	watch   *existsWatcher
	idle    chan struct{} // the intake entered IDLE after a processed message
	proc    chan struct{} // a message was processed
	ready   chan struct{} // closed at the first IDLE or poll

	mu      sync.Mutex
	fetched []time.Time // when each report's body was fetched, in order
}

// runLatency delivers n reports one at a time, each after a random pause of
// up to 50 ms once the previous one is answered and the intake waits again,
// and reports the delay to the acknowledgement's acceptance by the sink.
func runLatency(b *testing.B, rig *latencyRig, mode string, n int) {
	body := reportBody(2 << 10)
	lat := make([]time.Duration, 0, n)
	starts := make([]time.Time, 0, n)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The first round of the session is over when the intake first waits.
	first := rig.ready
	if mode == "idle" {
		first = rig.idle
	}
	select {
	case <-first:
	case <-ctx.Done():
		b.Fatal("the intake never started waiting for mail")
	}
	for i := range n {
		// The watcher starts a fresh IDLE, as the bot did after the
		// previous report (see existsWatcher).
		rig.watch.rearm(b)
		time.Sleep(time.Duration(mrand.Int64N(int64(50 * time.Millisecond)))) // pacing, not synchronisation
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		raw := plainReport(i, body)
		start := time.Now()
		starts = append(starts, start)
		if err := rig.appendF(raw); err != nil {
			b.Fatalf("APPEND %d: %v", i, err)
		}
		sent, err := rig.sink.WaitSent(ctx, i+1)
		if err != nil {
			b.Fatalf("report %d: %v", i, err)
		}
		lat = append(lat, sent[i].At.Sub(start))
		// Wait until the intake is ready for the next one.
		select {
		case <-rig.proc:
		case <-ctx.Done():
			b.Fatalf("report %d was never marked processed", i)
		}
		if mode == "idle" {
			select {
			case <-rig.idle:
			case <-ctx.Done():
				b.Fatalf("the intake did not go back to IDLE after report %d", i)
			}
		}
	}
	// The server's own delay, from the watcher; and each report's excess
	// over it, the bot's share.
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	server := make([]time.Duration, n)
	excess := make([]time.Duration, n)
	for i := range n {
		at, ok := rig.watch.announced(ctx, i+1)
		if !ok {
			b.Fatalf("the watcher saw no EXISTS for report %d", i)
		}
		server[i] = at.Sub(starts[i])
		excess[i] = lat[i] - server[i]
	}
	// And the intake's share: APPEND -> body fetched.
	rig.mu.Lock()
	fetch := make([]time.Duration, 0, n)
	for i, at := range rig.fetched[:min(n, len(rig.fetched))] {
		fetch = append(fetch, at.Sub(starts[i]))
	}
	rig.mu.Unlock()
	b.ReportMetric(ms(percentile(fetch, 50)), "fetched-p50-ms")
	b.ReportMetric(ms(percentile(fetch, 99)), "fetched-p99-ms")
	p99, s99 := percentile(lat, 99), percentile(server, 99)
	b.ReportMetric(ms(percentile(lat, 50)), "p50-ms")
	b.ReportMetric(ms(p99), "p99-ms")
	b.ReportMetric(ms(percentile(server, 50)), "server-p50-ms")
	b.ReportMetric(ms(s99), "server-p99-ms")
	b.ReportMetric(ms(p99-s99), "p99-over-server-ms")
	b.ReportMetric(ms(percentile(excess, 99)), "excess-p99-ms")
	b.ReportMetric(float64(n), "reports")
	b.ReportMetric(0, "ns/op")
}

// startBot runs a daemon on cfg and feeds rig.idle and rig.proc from its
// intake events; it stops with the benchmark.
func startBot(b *testing.B, rig *latencyRig, cfg *config.Config) {
	events := make(chan inbox.Event, 4096)
	d, _ := benchDaemon(b, cfg, nil, events)
	rig.idle = make(chan struct{}, 1)
	rig.proc = make(chan struct{}, 1)
	rig.ready = make(chan struct{})
	var readyOnce sync.Once
	stopEvents := make(chan struct{})
	go func() {
		defer func() { _ = recover() }()
		afterProcessed := true // the first IDLE counts
		for {
			select {
			case e := <-events:
				if e.Kind == "idle" || e.Kind == "poll" {
					readyOnce.Do(func() { close(rig.ready) })
				}
				switch e.Kind {
				case "fetched":
					rig.mu.Lock()
					rig.fetched = append(rig.fetched, time.Now())
					rig.mu.Unlock()
				case "processed":
					afterProcessed = true
					select {
					case rig.proc <- struct{}{}:
					case <-stopEvents:
						return
					}
				case "idle":
					if afterProcessed {
						afterProcessed = false
						select {
						case rig.idle <- struct{}{}:
						default:
						}
					}
				}
			case <-stopEvents:
				return
			}
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("panic: %v", p)
			}
		}()
		done <- d.Run(ctx, context.Background())
	}()
	b.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				b.Errorf("Run() = %v", err)
			}
		case <-time.After(15 * time.Second):
			b.Errorf("Run() did not return 15s after stop")
		}
		close(stopEvents)
	})
}

// BenchmarkTargetAckLatency is target 1: the time from the APPEND of a
// report into the IMAP server to the acceptance of its acknowledgement by
// the SMTP sink, in IDLE and in fast-poll mode (NOOP every 50 ms, the
// default fast_interval), on devmail and, when installed, on a loopback
// Dovecot. Targets: IDLE p99 <= the server's own APPEND -> EXISTS delay
// + 50 ms; fast p50 <= 100 ms and p99 <= 200 ms.
func BenchmarkTargetAckLatency(b *testing.B) {
	n := scaled(*benchReports, 40)
	for _, mode := range []string{"idle", "fast"} {
		b.Run("devmail-"+mode, func(b *testing.B) {
			srv, err := devmail.Start(devmail.Options{Domain: "example.org", Users: map[string]string{botAddr: pw}})
			if err != nil {
				b.Fatalf("devmail.Start() = %v", err)
			}
			b.Cleanup(func() { srv.Close() })
			rig := &latencyRig{sink: srv, appendF: func(raw []byte) error {
				_, err := srv.Deliver("INBOX", botAddr, raw)
				return err
			}}
			rig.watch = watchExists(b, srv.IMAPAddr, botAddr, pw)
			startBot(b, rig, benchConfig(b, b.TempDir(), srv.IMAPAddr, srv.SMTPAddr, mode))
			runLatency(b, rig, mode, n)
		})
	}
	for _, mode := range []string{"idle", "fast"} {
		b.Run("dovecot-"+mode, func(b *testing.B) {
			imapAddr := startDovecot(b, botAddr, pw)
			srv, err := devmail.Start(devmail.Options{Domain: "example.org", Users: map[string]string{botAddr: pw}})
			if err != nil {
				b.Fatalf("devmail.Start() = %v", err)
			}
			b.Cleanup(func() { srv.Close() })
			rig := &latencyRig{sink: srv, appendF: appender(b, imapAddr, botAddr, pw)}
			rig.watch = watchExists(b, imapAddr, botAddr, pw)
			startBot(b, rig, benchConfig(b, b.TempDir(), imapAddr, srv.SMTPAddr, mode))
			runLatency(b, rig, mode, n)
		})
	}
}

// BenchmarkTargetReminderPlan: the scheduler plans every minute over the
// open cases, and must not slow down as years of closed cases pile up. The
// store holds benchPlanCases cases (50 open), each with its sent
// acknowledgement; ms is one Plan. Not an issue target: the table shows it.
func BenchmarkTargetReminderPlan(b *testing.B) {
	total := scaled(*benchPlanCases, 5000)
	const open = 50
	cfg := benchConfig(b, b.TempDir(), "127.0.0.1:1", "127.0.0.1:1", "idle")
	d, st := benchDaemon(b, cfg, nil, nil)
	created := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	for i := 0; i < total; i += 1000 {
		err := st.Update(func(tx *store.Tx) error {
			for j := i; j < min(total, i+1000); j++ {
				c := &store.Case{Subject: "report", Reporter: benchSender(j), Created: created}
				if j < total-open {
					c.Status = "disclosed"
				}
				if err := tx.NewCase(c); err != nil {
					return err
				}
				o := &store.OutboxItem{CaseID: c.ID, Kind: "ack", To: []string{c.Reporter}, Raw: []byte("x"), Created: created}
				if err := tx.Enqueue(o); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatalf("populate: %v", err)
		}
	}
	now := time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC) // a Tuesday, working hours
	acts, err := d.Plan(now)
	if err != nil || len(acts) == 0 {
		b.Fatalf("Plan() = %d actions, %v; want reminders for the %d open cases", len(acts), err, open)
	}
	var took []time.Duration
	b.ResetTimer()
	for b.Loop() {
		t := time.Now()
		if _, err := d.Plan(now); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(t))
	}
	b.ReportMetric(ms(percentile(took, 50)), "plan-ms")
	b.ReportMetric(float64(total), "cases")
	b.ReportMetric(0, "ns/op")
}
